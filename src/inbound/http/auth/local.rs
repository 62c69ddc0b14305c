//! Local mode: HS256 tokens signed with a shared secret (`OM_JWT_SECRET`), for running the
//! service without Cognito and for tests. `order-manager token` mints them.
//!
//! Only HS256 is accepted, so no Cognito (RS256) token passes here, whatever it claims.

use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{
    Identity, LEEWAY_SECS, TokenError, TokenVerifier, check_issued_at, now_secs, rejection,
};

/// The claims of a local token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(
        rename = "cognito:groups",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<String>,
}

/// Verifies HS256 tokens signed with the shared secret.
pub struct Hs256Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl Hs256Verifier {
    pub fn new(secret: &SecretString) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
        }
    }
}

#[async_trait]
impl TokenVerifier for Hs256Verifier {
    async fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| rejection(&e))?
            .claims;
        check_issued_at(claims.iat)?;
        Ok(Identity {
            subject: claims.sub,
            groups: claims.groups,
        })
    }
}

/// Mints an HS256 token for local use (`order-manager token`).
pub fn issue_local_token(
    secret: &SecretString,
    sub: &str,
    groups: &[String],
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = now_secs();
    let claims = Claims {
        sub: sub.to_string(),
        exp: now + ttl.as_secs(),
        iat: Some(now),
        groups: groups.to_vec(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
}
