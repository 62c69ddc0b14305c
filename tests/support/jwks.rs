//! A stand-in for a Cognito user pool's signing side: RSA keys made at test time, tokens
//! signed with them (any header, any claims, so that tests can forge what an attacker would),
//! and a JWKS endpoint on 127.0.0.1 that publishes the keys and counts its requests.
#![allow(dead_code)] // shared by the API suite and `tests/secrets.rs`

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const REGION: &str = "us-east-1";
pub const POOL: &str = "us-east-1_TestPool1";
pub const CLIENT_ID: &str = "4jk2c0fapptestclient0000000";

/// The issuer of the test pool.
pub fn issuer() -> String {
    format!("https://cognito-idp.{REGION}.amazonaws.com/{POOL}")
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims of an access token of the test pool, valid for 10 minutes.
pub fn access_claims(sub: &str, groups: &[&str]) -> Value {
    let now = now();
    let mut c = json!({
        "sub": sub,
        "iss": issuer(),
        "client_id": CLIENT_ID,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now,
        "iat": now,
        "exp": now + 600,
        "jti": format!("jti-{now}-{sub}"),
        "username": sub,
    });
    if !groups.is_empty() {
        c["cognito:groups"] = json!(groups);
    }
    c
}

/// The claims of an id token of the test pool (app client in `aud`).
pub fn id_claims(sub: &str, groups: &[&str]) -> Value {
    let mut c = access_claims(sub, groups);
    let o = c.as_object_mut().unwrap();
    o.remove("client_id");
    o.remove("scope");
    o.remove("username");
    o.insert("aud".into(), json!(CLIENT_ID));
    o.insert("token_use".into(), json!("id"));
    o.insert("cognito:username".into(), json!(sub));
    c
}

/// An RSA key pair with a kid.
pub struct TestKey {
    pub kid: String,
    pair: KeyPair,
    n: Vec<u8>,
    e: Vec<u8>,
    spki: Vec<u8>,
}

impl TestKey {
    /// A fresh 2048-bit key.
    pub fn generate(kid: &str) -> TestKey {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
        let (n, e) = rsa_components(&spki);
        TestKey {
            kid: kid.to_string(),
            pair,
            n,
            e,
            spki,
        }
    }

    /// The public key as a JWK, as Cognito publishes it.
    pub fn jwk(&self) -> Value {
        json!({
            "alg": "RS256",
            "e": b64(&self.e),
            "kid": self.kid,
            "kty": "RSA",
            "n": b64(&self.n),
            "use": "sig",
        })
    }

    /// The public key's DER (what the "HS256 with the public key" attack uses as a secret).
    pub fn public_der(&self) -> &[u8] {
        &self.spki
    }

    /// An RS256 token with this key's kid.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(
            &json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }

    /// Signs whatever header and claims it is given with RS256.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{signing_input}.{}", b64(&sig))
    }
}

/// An HS256 token signed with `secret`.
pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64(tag.as_ref()))
}

/// A token with `alg: none` and no signature.
pub fn unsigned(kid: &str, claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(json!({"alg": "none", "kid": kid, "typ": "JWT"})
            .to_string()
            .as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// The claims of a token, unverified (to read what a real issuer put in it).
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// One DER element: (tag, content, rest).
fn der(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        l if l < 0x80 => (l as usize, 2),
        l => {
            let n = (l & 0x7f) as usize;
            let len = input[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (len, 2 + n)
        }
    };
    (tag, &input[header..header + len], &input[header + len..])
}

/// `n` and `e` of a SubjectPublicKeyInfo: SEQ { SEQ alg, BIT STRING { SEQ { INT n, INT e } } }.
fn rsa_components(spki: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (_, spki, _) = der(spki);
    let (_, _, rest) = der(spki);
    let (tag, bits, _) = der(rest);
    assert_eq!(tag, 0x03, "a BIT STRING");
    let (_, key, _) = der(&bits[1..]);
    let (_, n, rest) = der(key);
    let (_, e, _) = der(rest);
    let strip = |b: &[u8]| {
        b.iter()
            .skip_while(|x| **x == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    (strip(n), strip(e))
}

#[derive(Clone, Default)]
struct Published {
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

/// A JWKS endpoint on 127.0.0.1.
pub struct JwksServer {
    /// The key set's URL (`OM_JWKS_URL`).
    pub url: String,
    published: Published,
    _stop: oneshot::Sender<()>,
}

async fn serve_keys(State(p): State<Published>) -> Response {
    p.hits.fetch_add(1, Ordering::SeqCst);
    if p.failing.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    let keys = p.keys.lock().unwrap().clone();
    axum::Json(json!({ "keys": keys })).into_response()
}

impl JwksServer {
    /// Publishes `keys`.
    pub async fn start(keys: &[&TestKey]) -> JwksServer {
        let published = Published::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route(&format!("/{POOL}/.well-known/jwks.json"), get(serve_keys))
            .with_state(published.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        let server = JwksServer {
            url: format!("http://{addr}/{POOL}/.well-known/jwks.json"),
            published,
            _stop: tx,
        };
        server.publish(keys);
        server
    }

    /// Replaces the published keys.
    pub fn publish(&self, keys: &[&TestKey]) {
        *self.published.keys.lock().unwrap() = keys.iter().map(|k| k.jwk()).collect();
    }

    /// Makes the endpoint answer 500 (or work again).
    pub fn set_failing(&self, failing: bool) {
        self.published.failing.store(failing, Ordering::SeqCst);
    }

    /// How many times the key set was requested.
    pub fn hits(&self) -> usize {
        self.published.hits.load(Ordering::SeqCst)
    }
}
