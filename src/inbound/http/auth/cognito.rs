//! Cognito mode: RS256 tokens of an Amazon Cognito user pool, checked with the pool's
//! published keys (its JWKS, `<issuer>/.well-known/jwks.json` unless `OM_JWKS_URL` says
//! otherwise).
//!
//! What is checked, in this order:
//! 1. the header: `alg` is RS256 and a `kid` is named. Both before any key lookup, so that a
//!    token of another kind (HS256, `none`) can never cause a key fetch;
//! 2. the `kid` is one of the pool's keys; the signature;
//! 3. `iss` is the pool; `exp` (with [`LEEWAY_SECS`](super::LEEWAY_SECS)); `nbf` and `iat`
//!    not in the future;
//! 4. `token_use` is one the service accepts (access by default), and the token was issued
//!    to one of the configured app clients: `client_id` for access tokens, `aud` for id tokens.
//!
//! `sub` is the identity and `cognito:groups` the roles.
//!
//! The keys are cached. An unknown `kid` triggers a refresh (a pool publishes a new key before
//! signing with it), at most once per [`CognitoConfig::min_refresh`] and one fetch at a time:
//! concurrent misses wait for the same fetch, so a flood of made-up kids costs the key
//! endpoint one request per interval. After a failed fetch the next may come after
//! [`RETRY_AFTER_FAILURE`]; meanwhile tokens whose key is unknown answer `503` rather than
//! `401` (they may be good). Keys older than [`KEYS_MAX_AGE`] are refreshed in the background,
//! so that a key the pool withdrew is not trusted for ever; a failed refresh keeps the old keys.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{Identity, LEEWAY_SECS, TokenError, TokenVerifier, check_issued_at, rejection};

/// The least time between two key fetches caused by unknown kids.
pub const DEFAULT_MIN_REFRESH: Duration = Duration::from_secs(30);
/// The least time between a failed fetch and the next.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);
/// Keys fetched longer ago are refreshed in the background.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(6 * 3600);
/// The key endpoint gets this long to answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A key set is a few hundred bytes per key: anything larger is not one.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// At most this many keys are read from a key set.
const MAX_KEYS: usize = 32;
/// RSA keys shorter than 2048 bits are ignored.
const MIN_MODULUS_BYTES: usize = 256;
/// Longer `kid`s are refused unread.
const MAX_KID_LEN: usize = 256;

const UNKNOWN_KEY: &str = "the token is signed with a key the user pool does not have";

/// Which Cognito tokens the service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// Access tokens (`token_use: access`, app client in `client_id`).
    Access,
    /// Id tokens (`token_use: id`, app client in `aud`).
    Id,
}

impl FromStr for TokenUse {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "access" => Ok(TokenUse::Access),
            "id" => Ok(TokenUse::Id),
            other => Err(format!("expected `access` or `id`, got `{other}`")),
        }
    }
}

/// A Cognito user pool and the app clients whose tokens the service accepts.
#[derive(Debug, Clone)]
pub struct CognitoConfig {
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>`: the tokens' `iss`.
    pub issuer: String,
    /// App client ids (`OM_COGNITO_CLIENT_IDS`).
    pub client_ids: Vec<String>,
    /// Where the pool's keys are published.
    pub jwks_url: String,
    /// Accepted token kinds (`OM_COGNITO_TOKEN_USE`, default access only).
    pub token_uses: Vec<TokenUse>,
    /// The least time between two key fetches caused by unknown kids.
    pub min_refresh: Duration,
}

impl CognitoConfig {
    /// Access tokens of `client_ids`, keys at `<issuer>/.well-known/jwks.json`.
    pub fn new(issuer: &str, client_ids: Vec<String>) -> Self {
        let issuer = issuer.trim_end_matches('/').to_string();
        Self {
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            client_ids,
            token_uses: vec![TokenUse::Access],
            min_refresh: DEFAULT_MIN_REFRESH,
        }
    }
}

/// The claims read from a Cognito token (the registered ones are checked by `jsonwebtoken`).
#[derive(Debug, Deserialize)]
struct CognitoClaims {
    sub: String,
    #[serde(default)]
    token_use: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    aud: Option<String>,
    #[serde(default, rename = "cognito:groups")]
    groups: Vec<String>,
    #[serde(default)]
    iat: Option<u64>,
}

/// Verifies the tokens of one user pool.
pub struct CognitoVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: CognitoConfig,
    validation: Validation,
    http: reqwest::Client,
    keys: RwLock<Keys>,
    /// Held while fetching: one fetch at a time.
    refresh: Arc<Mutex<RefreshState>>,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

#[derive(Default)]
struct RefreshState {
    /// No fetch before this.
    not_before: Option<Instant>,
    /// Whether the last fetch failed.
    last_failed: bool,
}

impl CognitoVerifier {
    pub fn new(config: CognitoConfig) -> anyhow::Result<Self> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        // The app client is checked by token kind below (`client_id` or `aud`).
        validation.validate_aud = false;
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            // The key set is where it is said to be; a redirect is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client for OM_JWKS_URL: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                validation,
                http,
                keys: RwLock::default(),
                refresh: Arc::default(),
            }),
        })
    }

    /// Fetches the keys now (at start-up).
    pub async fn prefetch(&self) -> Result<(), String> {
        let mut state = self.inner.refresh.lock().await;
        self.inner.refresh_locked(&mut state).await
    }
}

#[async_trait]
impl TokenVerifier for CognitoVerifier {
    async fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::Rejected("the token is malformed"))?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Rejected(
                "the token's algorithm is not accepted here",
            ));
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty() && k.len() <= MAX_KID_LEN)
            .ok_or(TokenError::Rejected("the token names no signing key (kid)"))?;
        let key = self.inner.key(&kid).await?;
        let claims = jsonwebtoken::decode::<CognitoClaims>(token, &key, &self.inner.validation)
            .map_err(|e| rejection(&e))?
            .claims;
        check_issued_at(claims.iat)?;
        self.inner.check_client(&claims)?;
        Ok(Identity {
            subject: claims.sub,
            groups: claims.groups,
        })
    }
}

impl Inner {
    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.by_kid.get(kid).cloned()
    }

    /// The key `kid`, fetching the key set if it is unknown and a fetch is allowed.
    async fn key(self: &Arc<Self>, kid: &str) -> Result<Arc<DecodingKey>, TokenError> {
        if let Some(key) = self.cached(kid) {
            self.refresh_if_old();
            return Ok(key);
        }
        // Concurrent misses queue here; the first fetches, the others find its result.
        let mut state = self.refresh.lock().await;
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let allowed = state.not_before.is_none_or(|t| Instant::now() >= t);
        if allowed {
            // Logged inside; the outcome shows in `state`.
            let _ = self.refresh_locked(&mut state).await;
            if let Some(key) = self.cached(kid) {
                return Ok(key);
            }
        }
        Err(if state.last_failed {
            TokenError::KeysUnavailable
        } else {
            TokenError::Rejected(UNKNOWN_KEY)
        })
    }

    /// Starts a background refresh when the keys are old and nobody is fetching.
    fn refresh_if_old(self: &Arc<Self>) {
        let old = {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            keys.fetched_at.is_some_and(|t| t.elapsed() > KEYS_MAX_AGE)
        };
        if !old {
            return;
        }
        let Ok(mut state): Result<OwnedMutexGuard<RefreshState>, _> =
            self.refresh.clone().try_lock_owned()
        else {
            return;
        };
        if state.not_before.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.refresh_locked(&mut state).await;
        });
    }

    /// Fetches the key set (the caller holds the refresh lock) and records the outcome.
    async fn refresh_locked(&self, state: &mut RefreshState) -> Result<(), String> {
        let fetched = self.fetch().await;
        let now = Instant::now();
        match fetched {
            Ok(by_kid) => {
                let mut kids: Vec<&str> = by_kid.keys().map(String::as_str).collect();
                kids.sort_unstable();
                tracing::info!(url = %self.config.jwks_url, kids = ?kids, "fetched the user pool's keys");
                drop(kids);
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Keys {
                    by_kid,
                    fetched_at: Some(now),
                };
                state.not_before = Some(now + self.config.min_refresh);
                state.last_failed = false;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(url = %self.config.jwks_url, error = %e, "cannot fetch the user pool's keys");
                state.not_before = Some(now + RETRY_AFTER_FAILURE.min(self.config.min_refresh));
                state.last_failed = true;
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
        let mut res = self
            .http
            .get(&self.config.jwks_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        if !res.status().is_success() {
            return Err(format!("the key endpoint answered {}", res.status()));
        }
        let too_large = || format!("the key set is larger than {MAX_JWKS_BYTES} bytes");
        if res
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| error_chain(&e))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }

    /// `token_use` is accepted, and the token was issued to one of the app clients.
    fn check_client(&self, claims: &CognitoClaims) -> Result<(), TokenError> {
        let token_use = match claims.token_use.as_deref() {
            Some("access") => TokenUse::Access,
            Some("id") => TokenUse::Id,
            _ => {
                return Err(TokenError::Rejected(
                    "the token is neither an access nor an id token (token_use)",
                ));
            }
        };
        if !self.config.token_uses.contains(&token_use) {
            return Err(TokenError::Rejected(match token_use {
                TokenUse::Access => "access tokens are not accepted here; send an id token",
                TokenUse::Id => "id tokens are not accepted here; send an access token",
            }));
        }
        let client = match token_use {
            TokenUse::Access => claims.client_id.as_deref(),
            TokenUse::Id => claims.aud.as_deref(),
        };
        if !client.is_some_and(|c| self.config.client_ids.iter().any(|id| id == c)) {
            return Err(TokenError::Rejected(
                "the token was issued to another app client",
            ));
        }
        Ok(())
    }
}

/// An error and its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[derive(Debug, Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Debug, Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The RS256 signing keys of a key set, by kid. Other keys are skipped (and logged).
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
    let set: JwkSet =
        serde_json::from_slice(body).map_err(|e| format!("the key set is not a JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for jwk in set.keys.iter().take(MAX_KEYS) {
        match rsa_key(jwk) {
            Ok((kid, key)) => {
                keys.insert(kid, Arc::new(key));
            }
            Err(why) => {
                tracing::warn!(kid = ?jwk.kid, why, "skipped a key of the user pool's key set");
            }
        }
    }
    if keys.is_empty() {
        return Err("the key set holds no RS256 signing key".into());
    }
    Ok(keys)
}

fn rsa_key(jwk: &Jwk) -> Result<(String, DecodingKey), &'static str> {
    if jwk.kty.as_deref() != Some("RSA") {
        return Err("not an RSA key");
    }
    if jwk.alg.as_deref().is_some_and(|a| a != "RS256") {
        return Err("not an RS256 key");
    }
    if jwk.usage.as_deref().is_some_and(|u| u != "sig") {
        return Err("not a signing key");
    }
    let kid = jwk
        .kid
        .clone()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KID_LEN)
        .ok_or("no usable kid")?;
    let (Some(n), Some(e)) = (jwk.n.as_deref(), jwk.e.as_deref()) else {
        return Err("no modulus or exponent");
    };
    let modulus = URL_SAFE_NO_PAD
        .decode(n)
        .map_err(|_| "the modulus is not base64url")?;
    if modulus.iter().skip_while(|b| **b == 0).count() < MIN_MODULUS_BYTES {
        return Err("the key is shorter than 2048 bits");
    }
    let key = DecodingKey::from_rsa_components(n, e).map_err(|_| "unreadable RSA components")?;
    Ok((kid, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_uses_parse() {
        assert_eq!("access".parse::<TokenUse>().unwrap(), TokenUse::Access);
        assert_eq!(" id".parse::<TokenUse>().unwrap(), TokenUse::Id);
        assert!("refresh".parse::<TokenUse>().is_err());
    }

    #[test]
    fn the_key_url_defaults_to_the_issuers_well_known_path() {
        let c = CognitoConfig::new(
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/",
            vec!["client".into()],
        );
        assert_eq!(
            c.issuer,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
        );
        assert_eq!(
            c.jwks_url,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json"
        );
        assert_eq!(c.token_uses, vec![TokenUse::Access]);
    }

    #[test]
    fn key_sets_keep_only_rs256_signing_keys_of_2048_bits_or_more() {
        let n = URL_SAFE_NO_PAD.encode([0xC5u8; 256]);
        let short = URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        let body = serde_json::json!({"keys": [
            {"kid": "good", "kty": "RSA", "alg": "RS256", "use": "sig", "n": n, "e": "AQAB"},
            {"kid": "no-alg", "kty": "RSA", "n": n, "e": "AQAB"},
            {"kid": "enc", "kty": "RSA", "use": "enc", "n": n, "e": "AQAB"},
            {"kid": "short", "kty": "RSA", "n": short, "e": "AQAB"},
            {"kid": "ec", "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "n": n, "e": "AQAB"},
            {"kid": "hs", "kty": "oct", "k": "c2VjcmV0"},
        ]});
        let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["good", "no-alg"]);
        assert!(parse_jwks(b"{\"keys\": []}").is_err());
        assert!(parse_jwks(b"<html>").is_err());
    }
}
