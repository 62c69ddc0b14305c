//! Authentication and roles, as extractors: a handler's signature says who may call it.
//!
//! - [`Customer`]: any signed-in user (identity = JWT `sub`).
//! - [`Barista`]: a signed-in user in one of the barista groups (`cognito:groups`).
//! - [`Caller`]: either; the handler decides by [`Actor`].
//! - [`IngestKey`]: the API destination's key on `POST /v1/events`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::domain::ids::UserId;
use crate::domain::lifecycle::Actor;

/// The claims the service reads from a token.
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

/// Verifies a bearer token and returns its claims. The error text is safe to show.
pub trait TokenVerifier: Send + Sync + 'static {
    fn verify(&self, token: &str) -> Result<Claims, String>;
}

/// HS256 tokens signed with a shared secret: for local use and tests.
pub struct Hs256Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl Hs256Verifier {
    pub fn new(secret: &SecretString) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
        }
    }
}

impl TokenVerifier for Hs256Verifier {
    fn verify(&self, token: &str) -> Result<Claims, String> {
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired".into(),
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                    "the token is not valid yet".into()
                }
                _ => "the token is invalid".into(),
            })
    }
}

/// Mints an HS256 token for local use (`order-manager token`).
pub fn issue_local_token(
    secret: &SecretString,
    sub: &str,
    groups: &[String],
    ttl: std::time::Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
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

    fn authenticate(&self, parts: &Parts) -> Result<Principal, ApiError> {
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
        let claims = self
            .verifier
            .verify(token)
            .map_err(|detail| ApiError::unauthorized("invalid_token", detail))?;
        let user = UserId::parse(claims.sub).map_err(|_| {
            ApiError::unauthorized("invalid_token", "the token's subject is invalid")
        })?;
        let is_barista = claims
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
        Ok(Customer(state.auth.authenticate(parts)?.user))
    }
}

impl FromRequestParts<AppState> for Barista {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = state.auth.authenticate(parts)?;
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
        let p = state.auth.authenticate(parts)?;
        Ok(Caller(if p.is_barista {
            Actor::Barista(p.user)
        } else {
            Actor::Customer(p.user)
        }))
    }
}

/// The API destination's credentials for `POST /v1/events`.
pub struct IngestAuth {
    header: HeaderName,
    key: Option<SecretString>,
}

impl IngestAuth {
    /// With no key configured, every ingest request is refused.
    pub fn new(header: HeaderName, key: Option<SecretString>) -> Self {
        Self { header, key }
    }

    fn check(&self, parts: &Parts) -> Result<(), ApiError> {
        let Some(key) = &self.key else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "ingest_not_configured",
                "event ingest is disabled: no OM_INGEST_API_KEY is configured",
            ));
        };
        let given = parts.headers.get(&self.header).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_api_key",
                "an API key is required",
            )
        })?;
        // Constant time: the comparison does not tell how much of the key was right.
        let ok: bool = given
            .as_bytes()
            .ct_eq(key.expose_secret().as_bytes())
            .into();
        if !ok {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "the API key is not valid",
            ));
        }
        Ok(())
    }
}

/// Proof that the request carried a valid ingest key.
pub struct IngestKey;

impl FromRequestParts<AppState> for IngestKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.ingest.check(parts).map(|()| IngestKey)
    }
}
