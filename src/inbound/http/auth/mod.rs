//! Authentication and roles, as extractors: a handler's signature says who may call it.
//!
//! - [`Customer`]: any signed-in user (identity = the token's `sub`).
//! - [`Barista`]: a signed-in user in one of the barista groups (`cognito:groups`).
//! - [`Caller`]: either; the handler decides by [`Actor`].
//! - [`IngestKey`]: the API destination's credentials on `POST /v1/events` ([`ingest`]).
//!
//! Bearer tokens are checked by one [`TokenVerifier`], chosen once at start-up from
//! [`TokenSettings`]: [`local`] HS256 tokens signed with a shared secret (local use, tests), or
//! [`cognito`] RS256 tokens of an Amazon Cognito user pool. Each verifier accepts exactly one
//! algorithm, so a token of one mode is never accepted by the other.
//!
//! What a caller is told about a refused token is a fixed text ([`TokenError::Rejected`]):
//! never the token, never a claim value.

pub mod cognito;
pub mod ingest;
pub mod local;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use jsonwebtoken::errors::ErrorKind;
use secrecy::SecretString;

use super::AppState;
use super::error::ApiError;
use crate::domain::ids::UserId;
use crate::domain::lifecycle::Actor;

pub use cognito::{CognitoConfig, CognitoVerifier, TokenUse};
pub use ingest::{BasicCredential, IngestAuth, IngestKey};
pub use local::{Claims, Hs256Verifier, issue_local_token};

/// How far clocks may disagree: a token is accepted this long after `exp`, and `nbf` / `iat`
/// may be this far in the future.
pub const LEEWAY_SECS: u64 = 30;

/// Longer bearer tokens are refused unread (a Cognito access token is 1-2 KB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id (`sub`).
    pub subject: String,
    /// `cognito:groups`.
    pub groups: Vec<String>,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is not acceptable. The text is fixed and safe to show.
    #[error("{0}")]
    Rejected(&'static str),
    /// The keys needed to check the token cannot be fetched right now: the token may be good.
    #[error("the sign-in keys cannot be fetched")]
    KeysUnavailable,
}

/// Verifies a bearer token. Async because a verifier may have to fetch keys.
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    async fn verify(&self, token: &str) -> Result<Identity, TokenError>;
}

/// How bearer tokens are verified; chosen once, at start-up (`OM_COGNITO_ISSUER` set or not).
#[derive(Debug, Clone)]
pub enum TokenSettings {
    /// HS256 tokens signed with `OM_JWT_SECRET` (`order-manager token` mints them).
    Local { secret: SecretString },
    /// RS256 tokens of an Amazon Cognito user pool.
    Cognito(CognitoConfig),
}

impl TokenSettings {
    /// The verifier these settings describe. In Cognito mode the pool's keys are fetched once
    /// now; if that fails the service still starts (event ingest does not need them, and the
    /// key endpoint may be briefly down): the failure is logged, and the keys are fetched
    /// again when a token needs them, meanwhile such requests answer `503` with `Retry-After`.
    pub async fn verifier(&self) -> anyhow::Result<Arc<dyn TokenVerifier>> {
        match self {
            TokenSettings::Local { secret } => {
                tracing::info!(
                    auth = "local",
                    "sign-in: local HS256 tokens (OM_JWT_SECRET); Cognito tokens are refused"
                );
                Ok(Arc::new(Hs256Verifier::new(secret)))
            }
            TokenSettings::Cognito(config) => {
                tracing::info!(
                    auth = "cognito",
                    issuer = %config.issuer,
                    jwks_url = %config.jwks_url,
                    client_ids = ?config.client_ids,
                    token_use = ?config.token_uses,
                    "sign-in: Amazon Cognito RS256 tokens; local HS256 tokens are refused"
                );
                let verifier = CognitoVerifier::new(config.clone())?;
                if let Err(e) = verifier.prefetch().await {
                    tracing::warn!(
                        error = %e,
                        "cannot fetch the user pool's keys at start-up; they are fetched again when a token needs them"
                    );
                }
                Ok(Arc::new(verifier))
            }
        }
    }
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// A token issued in the future was not issued by a sane clock: refuse it like `nbf`.
pub(crate) fn check_issued_at(iat: Option<u64>) -> Result<(), TokenError> {
    match iat {
        Some(iat) if iat > now_secs() + LEEWAY_SECS => {
            Err(TokenError::Rejected("the token is not valid yet"))
        }
        _ => Ok(()),
    }
}

/// The safe text for a `jsonwebtoken` failure.
pub(crate) fn rejection(e: &jsonwebtoken::errors::Error) -> TokenError {
    TokenError::Rejected(match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted here",
        ErrorKind::InvalidIssuer => "the token was issued by another issuer",
        ErrorKind::InvalidAudience => "the token was issued to another app client",
        ErrorKind::InvalidSignature => "the token's signature is invalid",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        _ => "the token is invalid",
    })
}

/// Checks bearer tokens and knows which groups make a barista.
pub struct Authenticator {
    verifier: Arc<dyn TokenVerifier>,
    barista_groups: Vec<String>,
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserId,
    pub is_barista: bool,
}

impl Authenticator {
    pub fn new(verifier: Arc<dyn TokenVerifier>, barista_groups: Vec<String>) -> Self {
        Self {
            verifier,
            barista_groups,
        }
    }

    async fn authenticate(&self, parts: &Parts) -> Result<Principal, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing_token", "a bearer token is required"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("invalid_token", "expected `Authorization: Bearer <token>`")
            })?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(ApiError::unauthorized(
                "invalid_token",
                "the token is too long",
            ));
        }
        let identity = self.verifier.verify(token).await.map_err(|e| match e {
            TokenError::Rejected(detail) => ApiError::unauthorized("invalid_token", detail),
            TokenError::KeysUnavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "auth_unavailable",
                "the sign-in keys cannot be fetched right now; try again",
            )
            .retry_after(5),
        })?;
        let user = UserId::parse(identity.subject).map_err(|_| {
            ApiError::unauthorized("invalid_token", "the token's subject is invalid")
        })?;
        let is_barista = identity
            .groups
            .iter()
            .any(|g| self.barista_groups.iter().any(|b| b == g));
        Ok(Principal { user, is_barista })
    }
}

/// Any signed-in user, acting on their own orders.
#[derive(Debug, Clone)]
pub struct Customer(pub UserId);

/// A signed-in user in a barista group.
#[derive(Debug, Clone)]
pub struct Barista(pub UserId);

/// Any signed-in user, as the [`Actor`] their groups make them.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Customer(state.auth.authenticate(parts).await?.user))
    }
}

impl FromRequestParts<AppState> for Barista {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = state.auth.authenticate(parts).await?;
        if !p.is_barista {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this action is for baristas",
            ));
        }
        Ok(Barista(p.user))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = state.auth.authenticate(parts).await?;
        Ok(Caller(if p.is_barista {
            Actor::Barista(p.user)
        } else {
            Actor::Customer(p.user)
        }))
    }
}
