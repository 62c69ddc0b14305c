//! The binary itself: start-up errors name their variable; `token` mints usable tokens.

use std::process::Command;

fn order_manager() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_order-manager"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OM_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn a_bad_value_stops_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("OM_STORE", "postgres://nowhere"),
        ("OM_STORE", "sqlite:/proc/no-such-dir/orders.db"),
        ("OM_LISTEN", "not-an-address"),
        ("OM_DEFAULT_EVENT_ID", "has spaces"),
        ("OM_INGEST_API_KEY_HEADER", "bad header"),
        ("OM_JWT_SECRET", "too-short"),
        ("OM_INGEST_API_KEY", "short"),
    ] {
        let out = order_manager()
            .current_dir(dir.path())
            .env(var, value)
            .env(
                "OM_LISTEN",
                if var == "OM_LISTEN" {
                    value
                } else {
                    "127.0.0.1:0"
                },
            )
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value} must stop start-up");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{var}: {stderr}");
        if matches!(var, "OM_JWT_SECRET" | "OM_INGEST_API_KEY") {
            assert!(!stderr.contains(value), "a secret was echoed: {stderr}");
        }
    }
}

#[test]
fn token_mints_a_jwt_with_the_shared_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = order_manager()
        .current_dir(dir.path())
        .args(["token", "--sub", "alice", "--group", "admin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(token.trim().split('.').count(), 3);
    let secret = dir.path().join("data/jwt-secret");
    assert!(secret.exists(), "the generated secret is kept for `serve`");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the secret file is private");
    }
    // The same secret verifies it.
    let key = std::fs::read_to_string(&secret).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_required_spec_claims(&["exp", "sub"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        token.trim(),
        &jsonwebtoken::DecodingKey::from_secret(key.trim().as_bytes()),
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["cognito:groups"], serde_json::json!(["admin"]));
}
