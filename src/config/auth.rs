//! How bearer tokens are verified: local HS256 tokens signed with `OM_JWT_SECRET` (or the
//! secret file), or Amazon Cognito's RS256 tokens; and which groups make a barista.

use std::path::PathBuf;

use clap::Args;
use secrecy::SecretString;

use super::secret::{MIN_SECRET, read_or_create_secret};
use super::values::named;
use crate::inbound::http::auth::{CognitoConfig, TokenSettings, TokenUse};

/// The local HS256 signing secret: `OM_JWT_SECRET`, or a file generated on first use.
#[derive(Debug, Clone, Args)]
pub struct JwtArgs {
    /// HS256 secret for bearer tokens (at least 32 bytes). Prefer the environment variable.
    #[arg(long, env = "OM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Where the secret is kept when OM_JWT_SECRET is not set (created on first use).
    #[arg(long, env = "OM_JWT_SECRET_FILE", default_value = "data/jwt-secret")]
    pub jwt_secret_file: PathBuf,
}

impl JwtArgs {
    /// The secret; generates and stores one (mode 0600) when neither source has it.
    pub fn resolve(&self) -> Result<SecretString, String> {
        if let Some(s) = &self.jwt_secret {
            if s.len() < MIN_SECRET {
                return Err(format!("OM_JWT_SECRET must be at least {MIN_SECRET} bytes"));
            }
            return Ok(SecretString::from(s.clone()));
        }
        read_or_create_secret(&self.jwt_secret_file)
    }
}

/// `OM_COGNITO_ISSUER`: `https://<host>/<pool id>`, no query, no trailing slash needed.
fn cognito_issuer(s: &str) -> Result<String, String> {
    let issuer = s.trim().trim_end_matches('/');
    let ok = issuer.strip_prefix("https://").is_some_and(|rest| {
        rest.split_once('/').is_some_and(|(host, pool)| {
            !host.is_empty()
                && !pool.is_empty()
                && !pool.contains('/')
                && issuer
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#'))
        })
    });
    if ok {
        Ok(issuer.to_string())
    } else {
        Err(format!(
            "OM_COGNITO_ISSUER: expected `https://cognito-idp.<region>.amazonaws.com/<pool id>`, got `{s}`"
        ))
    }
}

/// An app client id of `OM_COGNITO_CLIENT_IDS`: 1 to 128 of `[A-Za-z0-9_+-]`.
fn cognito_client_id(s: &str) -> Result<String, String> {
    let id = s.trim();
    if (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-'))
    {
        Ok(id.to_string())
    } else {
        Err(format!(
            "OM_COGNITO_CLIENT_IDS: expected app client ids of [A-Za-z0-9_+-], got `{s}`"
        ))
    }
}

/// `OM_JWKS_URL`: HTTPS, or plain HTTP to this machine only (a local test double): keys
/// fetched in clear over a network could be swapped on the way.
fn jwks_url(s: &str) -> Result<String, String> {
    let url = s.trim();
    let host = |rest: &str| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        authority
            .rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(authority, |(h, _)| h)
            .to_string()
    };
    let ok = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => !host(rest).is_empty(),
        (None, Some(rest)) => matches!(host(rest).as_str(), "127.0.0.1" | "localhost" | "[::1]"),
        _ => false,
    };
    if ok && !url.chars().any(char::is_whitespace) {
        Ok(url.to_string())
    } else {
        Err(format!(
            "OM_JWKS_URL: expected an https:// URL (http:// only to 127.0.0.1 or localhost), got `{s}`"
        ))
    }
}

#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// Amazon Cognito user pool whose tokens are accepted
    /// (`https://cognito-idp.<region>.amazonaws.com/<pool id>`). When set, only its RS256
    /// tokens are accepted, never local HS256 ones.
    #[arg(long, env = "OM_COGNITO_ISSUER", value_parser = cognito_issuer)]
    pub cognito_issuer: Option<String>,
    /// App client ids whose tokens are accepted (comma-separated; with OM_COGNITO_ISSUER).
    #[arg(long, env = "OM_COGNITO_CLIENT_IDS", value_delimiter = ',', value_parser = cognito_client_id)]
    pub cognito_client_ids: Vec<String>,
    /// Which Cognito tokens are accepted: `access`, `id`, or `access,id`.
    #[arg(long, env = "OM_COGNITO_TOKEN_USE", value_delimiter = ',', default_value = "access", value_parser = named::<TokenUse>("OM_COGNITO_TOKEN_USE"))]
    pub cognito_token_use: Vec<TokenUse>,
    /// Where the user pool's keys are published (default `<issuer>/.well-known/jwks.json`).
    #[arg(long, env = "OM_JWKS_URL", value_parser = jwks_url)]
    pub jwks_url: Option<String>,
    /// `cognito:groups` that make a user a barista (comma-separated).
    #[arg(
        long,
        env = "OM_BARISTA_GROUPS",
        default_value = "admin",
        value_delimiter = ','
    )]
    pub barista_groups: Vec<String>,
}

impl AuthArgs {
    /// Cognito mode when `OM_COGNITO_ISSUER` is set, else local mode (the HS256 secret is
    /// only read, or generated, in local mode).
    pub fn tokens(&self) -> Result<TokenSettings, String> {
        let Some(issuer) = &self.cognito_issuer else {
            if !self.cognito_client_ids.is_empty() || self.jwks_url.is_some() {
                return Err(
                    "OM_COGNITO_CLIENT_IDS and OM_JWKS_URL need OM_COGNITO_ISSUER".to_string(),
                );
            }
            return Ok(TokenSettings::Local {
                secret: self.jwt.resolve()?,
            });
        };
        let client_ids: Vec<String> = self
            .cognito_client_ids
            .iter()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect();
        if client_ids.is_empty() {
            return Err(
                "OM_COGNITO_CLIENT_IDS: name at least one app client with OM_COGNITO_ISSUER"
                    .to_string(),
            );
        }
        let mut config = CognitoConfig::new(issuer, client_ids);
        if let Some(url) = &self.jwks_url {
            config.jwks_url.clone_from(url);
        }
        config.token_uses = self.cognito_token_use.clone();
        config.token_uses.dedup();
        Ok(TokenSettings::Cognito(config))
    }

    pub fn barista_groups(&self) -> Result<Vec<String>, String> {
        let groups: Vec<String> = self
            .barista_groups
            .iter()
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect();
        if groups.is_empty() {
            return Err("OM_BARISTA_GROUPS must name at least one group".into());
        }
        Ok(groups)
    }
}
