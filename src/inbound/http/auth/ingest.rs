//! The API destination's credentials on `POST /v1/events`: an API key in a header (name
//! configurable, default `x-api-key`) or HTTP Basic, the two kinds of EventBridge connection
//! that fit a service. No JWT on this route.
//!
//! Several keys and several Basic credentials may be valid at once, so that a key can be
//! rotated without downtime: add the new one, switch the connection, remove the old one.
//!
//! Comparison is in constant time, against every configured credential, without early exit:
//! both sides are hashed (SHA-256) first, so that even the length of a key is not given away
//! by timing, and the results are combined with `subtle`'s branch-free operations.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::inbound::http::AppState;
use crate::inbound::http::error::ApiError;

/// One HTTP Basic credential accepted on ingest.
#[derive(Debug, Clone)]
pub struct BasicCredential {
    pub user: String,
    pub password: SecretString,
}

/// The SHA-256 of a secret: what requests are compared against.
struct Digest([u8; 32]);

impl Digest {
    fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    fn matches(&self, other: &Digest) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

/// The credentials `POST /v1/events` accepts.
pub struct IngestAuth {
    header: HeaderName,
    keys: Vec<Digest>,
    basic: Vec<(Digest, Digest)>,
}

impl IngestAuth {
    /// With no credential at all, every ingest request is refused.
    pub fn new(header: HeaderName, keys: &[SecretString], basic: &[BasicCredential]) -> Self {
        Self {
            header,
            keys: keys
                .iter()
                .map(|k| Digest::of(k.expose_secret().as_bytes()))
                .collect(),
            basic: basic
                .iter()
                .map(|c| {
                    (
                        Digest::of(c.user.as_bytes()),
                        Digest::of(c.password.expose_secret().as_bytes()),
                    )
                })
                .collect(),
        }
    }

    /// Whether any credential is configured.
    pub fn is_enabled(&self) -> bool {
        !self.keys.is_empty() || !self.basic.is_empty()
    }

    fn check(&self, parts: &Parts) -> Result<(), ApiError> {
        let refused = |code, detail| ApiError::new(StatusCode::UNAUTHORIZED, code, detail);
        if !self.is_enabled() {
            return Err(refused(
                "ingest_not_configured",
                "event ingest is disabled: no ingest credentials are configured",
            ));
        }
        if let Some(given) = parts.headers.get(&self.header) {
            let given = Digest::of(given.as_bytes());
            let ok = self
                .keys
                .iter()
                .fold(Choice::from(0), |ok, key| ok | key.matches(&given));
            return if bool::from(ok) {
                Ok(())
            } else {
                Err(refused("invalid_api_key", "the API key is not valid"))
            };
        }
        if let Some((user, password)) = basic_credentials(parts) {
            let (user, password) = (Digest::of(&user), Digest::of(&password));
            let ok = self.basic.iter().fold(Choice::from(0), |ok, (u, p)| {
                ok | (u.matches(&user) & p.matches(&password))
            });
            return if bool::from(ok) {
                Ok(())
            } else {
                Err(refused(
                    "invalid_credentials",
                    "the Basic credentials are not valid",
                ))
            };
        }
        Err(refused(
            "missing_api_key",
            "an API key or Basic credentials are required",
        ))
    }
}

/// `Authorization: Basic <base64(user:password)>`, decoded; `None` when absent or malformed
/// (a malformed one is then refused as missing).
fn basic_credentials(parts: &Parts) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// Proof that the request carried valid ingest credentials.
pub struct IngestKey;

impl FromRequestParts<AppState> for IngestKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.ingest.check(parts).map(|()| IngestKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut req = Request::builder().uri("/v1/events");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    fn auth() -> IngestAuth {
        IngestAuth::new(
            HeaderName::from_static("x-api-key"),
            &[
                SecretString::from("old-key-0123456789"),
                SecretString::from("new-key-0123456789"),
            ],
            &[BasicCredential {
                user: "eventbridge".into(),
                password: SecretString::from("basic-password-0123456789"),
            }],
        )
    }

    fn code(r: Result<(), ApiError>) -> &'static str {
        r.err().map_or("ok", |e| e.code)
    }

    #[test]
    fn every_configured_key_and_credential_is_accepted() {
        let a = auth();
        assert_eq!(
            code(a.check(&parts(&[("x-api-key", "old-key-0123456789")]))),
            "ok"
        );
        assert_eq!(
            code(a.check(&parts(&[("x-api-key", "new-key-0123456789")]))),
            "ok"
        );
        let basic = format!(
            "Basic {}",
            STANDARD.encode("eventbridge:basic-password-0123456789")
        );
        assert_eq!(code(a.check(&parts(&[("authorization", &basic)]))), "ok");
    }

    #[test]
    fn near_misses_are_refused() {
        let a = auth();
        for key in [
            "old-key-012345678",
            "old-key-01234567890",
            "new-key-0123456788",
            "",
        ] {
            assert_eq!(
                code(a.check(&parts(&[("x-api-key", key)]))),
                "invalid_api_key",
                "{key}"
            );
        }
        for creds in [
            "eventbridge:basic-password-012345678",
            "eventbridg:basic-password-0123456789",
            "eventbridge:new-key-0123456789",
            "basic-password-0123456789",
        ] {
            let basic = format!("Basic {}", STANDARD.encode(creds));
            let expected = if creds.contains(':') {
                "invalid_credentials"
            } else {
                "missing_api_key"
            };
            assert_eq!(
                code(a.check(&parts(&[("authorization", &basic)]))),
                expected,
                "{creds}"
            );
        }
        assert_eq!(
            code(a.check(&parts(&[("authorization", "Bearer x.y.z")]))),
            "missing_api_key"
        );
        assert_eq!(code(a.check(&parts(&[]))), "missing_api_key");
    }

    #[test]
    fn without_credentials_ingest_is_disabled() {
        let a = IngestAuth::new(HeaderName::from_static("x-api-key"), &[], &[]);
        assert!(!a.is_enabled());
        assert_eq!(
            code(a.check(&parts(&[("x-api-key", "anything-at-all-123")]))),
            "ingest_not_configured"
        );
    }
}
