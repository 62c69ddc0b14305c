//! The credentials the EventBridge connection presents on `POST /v1/events`: API keys and
//! HTTP Basic. They are checked after parsing, so that no error ever shows one.

use axum::http::HeaderName;
use clap::Args;
use secrecy::SecretString;

use super::values::named;
use crate::inbound::http::auth::BasicCredential;

/// Ingest keys and Basic passwords are at least this long.
const MIN_INGEST_SECRET: usize = 16;

#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// API key the EventBridge connection sends on `POST /v1/events`. Without any ingest
    /// credential, ingest is refused. Prefer the environment variable.
    #[arg(long, env = "OM_INGEST_API_KEY", hide_env_values = true)]
    pub ingest_api_key: Option<String>,
    /// More ingest API keys, comma-separated, all valid at once (rotation: old and new).
    #[arg(long, env = "OM_INGEST_API_KEYS", hide_env_values = true)]
    pub ingest_api_keys: Option<String>,
    /// HTTP Basic credentials accepted on `POST /v1/events`: `user:password[,user2:password2]`.
    #[arg(long, env = "OM_INGEST_BASIC", hide_env_values = true)]
    pub ingest_basic: Option<String>,
    /// Header that carries the ingest API key.
    #[arg(long, env = "OM_INGEST_API_KEY_HEADER", default_value = "x-api-key", value_parser = named::<HeaderName>("OM_INGEST_API_KEY_HEADER"))]
    pub ingest_api_key_header: HeaderName,
}

impl IngestArgs {
    /// Every ingest API key (`OM_INGEST_API_KEY` and `OM_INGEST_API_KEYS`). Errors never
    /// show a key.
    pub fn keys(&self) -> Result<Vec<SecretString>, String> {
        let single = self
            .ingest_api_key
            .as_deref()
            .map(|k| ("OM_INGEST_API_KEY", k));
        let listed = self
            .ingest_api_keys
            .as_deref()
            .into_iter()
            .flat_map(|ks| ks.split(','))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| ("OM_INGEST_API_KEYS", k));
        single
            .into_iter()
            .chain(listed)
            .map(|(var, k)| {
                if k.len() < MIN_INGEST_SECRET {
                    Err(format!(
                        "{var}: every key must be at least {MIN_INGEST_SECRET} characters"
                    ))
                } else {
                    Ok(SecretString::from(k.to_string()))
                }
            })
            .collect()
    }

    /// `OM_INGEST_BASIC`: `user:password[,user2:password2]`. Errors never show a password.
    pub fn basic(&self) -> Result<Vec<BasicCredential>, String> {
        let Some(all) = self.ingest_basic.as_deref() else {
            return Ok(Vec::new());
        };
        all.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
            .map(|(i, entry)| match entry.split_once(':') {
                Some((user, password))
                    if !user.is_empty() && password.len() >= MIN_INGEST_SECRET =>
                {
                    Ok(BasicCredential {
                        user: user.to_string(),
                        password: SecretString::from(password.to_string()),
                    })
                }
                _ => Err(format!(
                    "OM_INGEST_BASIC: entry {} must be `user:password`, with a password of at least {MIN_INGEST_SECRET} characters",
                    i + 1
                )),
            })
            .collect()
    }
}
