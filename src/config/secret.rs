//! The local HS256 signing secret kept in a file: read, or generated on first use and written
//! readable by its owner only.

use std::path::Path;

use secrecy::SecretString;

/// The shortest HS256 secret accepted, in bytes.
pub(super) const MIN_SECRET: usize = 32;

/// The secret in `path` (`OM_JWT_SECRET_FILE`); generates and stores one (mode 0600) when
/// there is no such file.
pub(super) fn read_or_create_secret(path: &Path) -> Result<SecretString, String> {
    let name = path.display();
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= MIN_SECRET => Ok(SecretString::from(s.trim().to_string())),
        Ok(_) => Err(format!(
            "OM_JWT_SECRET_FILE: {name} holds fewer than {MIN_SECRET} bytes"
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::Rng;
            let bytes: [u8; 32] = rand::rng().random();
            let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!("OM_JWT_SECRET_FILE: cannot create {}: {e}", dir.display())
                })?;
            }
            write_private(path, &secret)
                .map_err(|e| format!("OM_JWT_SECRET_FILE: cannot write {name}: {e}"))?;
            tracing::info!(path = %name, "generated a local JWT secret");
            Ok(SecretString::from(secret))
        }
        Err(e) => Err(format!("OM_JWT_SECRET_FILE: cannot read {name}: {e}")),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}
