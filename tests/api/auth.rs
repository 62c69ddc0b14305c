//! Local mode (HS256) attacks, roles enforced by the extractors, and ingest credentials.

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::support::jwks::{TestKey, access_claims, b64, hs256, now, unsigned};
use crate::support::{self, INGEST_KEY, JWT_SECRET, TestApp, latte, sfn, unique};
use order_manager::inbound::http::auth::BasicCredential;

const ALICE: &str = "alice-0001";
const MALLORY: &str = "mallory-0666";

async fn app() -> TestApp {
    TestApp::spawn(sfn::accepting().0).await
}

/// `GET /v1/me/orders` with `token` must be `401 invalid_token` (problem+json, with a Bearer
/// challenge), and the answer must not contain the token or any part of it.
pub async fn assert_token_refused(app: &TestApp, token: &str, what: &str) -> Value {
    let res = app
        .http
        .get(app.url("/v1/me/orders"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {text}");
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{what}"
    );
    assert_eq!(headers["www-authenticate"], "Bearer", "{what}");
    for part in token.split('.').filter(|p| p.len() >= 8) {
        assert!(
            !text.contains(part),
            "{what}: the answer echoes the token: {text}"
        );
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["code"], "invalid_token", "{what}: {body}");
    body
}

fn hs_header() -> Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

fn local_claims(sub: &str, extra: Value) -> Value {
    let now = now();
    let mut c = json!({"sub": sub, "iat": now, "exp": now + 600});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[tokio::test]
async fn local_genuine_token_is_accepted() {
    let app = app().await;
    let token = hs256(
        &hs_header(),
        &local_claims(ALICE, json!({})),
        JWT_SECRET.as_bytes(),
    );
    let (status, body) = app.get("/v1/me/orders", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn local_alg_none_is_refused() {
    let app = app().await;
    let token = unsigned(
        "",
        &local_claims(ALICE, json!({"cognito:groups": ["admin"]})),
    );
    assert_token_refused(&app, &token, "alg none").await;
}

#[tokio::test]
async fn local_expired_token_is_refused_beyond_the_leeway() {
    let app = app().await;
    let expired = local_claims(ALICE, json!({"iat": now() - 3600, "exp": now() - 120}));
    let body = assert_token_refused(
        &app,
        &hs256(&hs_header(), &expired, JWT_SECRET.as_bytes()),
        "expired",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    // A few seconds of clock skew are tolerated.
    let just = local_claims(ALICE, json!({"exp": now() - 5}));
    let (status, body) = app
        .get(
            "/v1/me/orders",
            &hs256(&hs_header(), &just, JWT_SECRET.as_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn local_token_not_yet_valid_is_refused() {
    let app = app().await;
    for (what, extra) in [
        ("nbf in the future", json!({"nbf": now() + 600})),
        ("issued in the future", json!({"iat": now() + 600})),
    ] {
        let token = hs256(
            &hs_header(),
            &local_claims(ALICE, extra),
            JWT_SECRET.as_bytes(),
        );
        let body = assert_token_refused(&app, &token, what).await;
        assert!(
            body["detail"].as_str().unwrap().contains("not valid yet"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn local_tampered_payload_is_refused() {
    let app = app().await;
    let genuine = app.customer(ALICE);
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged_payload = b64(local_claims(ALICE, json!({"cognito:groups": ["admin"]}))
        .to_string()
        .as_bytes());
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_token_refused(&app, &tampered, "tampered payload").await;
    let (status, _) = app.get("/v1/orders", &tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no barista by tampering");
}

#[tokio::test]
async fn local_token_signed_with_another_secret_is_refused() {
    let app = app().await;
    let token = hs256(
        &hs_header(),
        &local_claims(ALICE, json!({})),
        b"another-secret-another-secret-0123456789",
    );
    assert_token_refused(&app, &token, "wrong secret").await;
}

#[tokio::test]
async fn local_mode_refuses_cognito_rs256_tokens() {
    let app = app().await;
    let key = TestKey::generate("pool-key");
    let mut claims = access_claims(ALICE, &["admin"]);
    claims["exp"] = json!(now() + 600);
    let body = assert_token_refused(&app, &key.token(&claims), "an RS256 token").await;
    assert!(
        body["detail"].as_str().unwrap().contains("algorithm"),
        "{body}"
    );
}

#[tokio::test]
async fn customer_calling_barista_routes_is_forbidden() {
    let app = app().await;
    let id = app.start_order(ALICE, "t-roles").await;
    let mallory = app.customer(MALLORY);
    for (method, path, body) in [
        (Method::GET, "/v1/orders".to_string(), None),
        (Method::POST, format!("/v1/orders/{id}/claim"), None),
        (Method::POST, format!("/v1/orders/{id}/unclaim"), None),
        (Method::POST, format!("/v1/orders/{id}/complete"), None),
        (
            Method::PUT,
            "/v1/menu".to_string(),
            Some(json!({"drinks": []})),
        ),
    ] {
        let (status, answer) = app
            .call(method.clone(), &path, Some(&mallory), body.as_ref())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
        assert_eq!(answer["code"], "forbidden", "{method} {path}");
    }
    assert_eq!(app.order(&id, ALICE).await["state"], "created");
}

/// What a customer is told about an order that is not theirs: exactly what they are told
/// about an order that does not exist.
async fn assert_looks_absent(app: &TestApp, method: Method, path_of: impl Fn(&str) -> String) {
    let mallory = app.customer(MALLORY);
    let id = app.start_order(ALICE, &unique("t")).await;
    let body = (method == Method::PUT).then(latte);
    let (status, theirs) = app
        .call(method.clone(), &path_of(&id), Some(&mallory), body.as_ref())
        .await;
    let (absent_status, absent) = app
        .call(
            method.clone(),
            &path_of(&unique("order")),
            Some(&mallory),
            body.as_ref(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {theirs}");
    assert_eq!(
        (status, &theirs),
        (absent_status, &absent),
        "{method}: no existence leak"
    );
    assert_eq!(theirs["code"], "order_not_found");
    let order = app.order(&id, ALICE).await;
    assert_eq!(order["state"], "created", "{method}: nothing changed");
}

#[tokio::test]
async fn customer_cannot_read_another_customers_order() {
    let app = app().await;
    assert_looks_absent(&app, Method::GET, |id| format!("/v1/orders/{id}")).await;
    let (status, mine) = app.get("/v1/me/orders", &app.customer(MALLORY)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["orders"], json!([]), "{mine}");
}

#[tokio::test]
async fn customer_cannot_submit_another_customers_order() {
    let (workflow, calls) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    assert_looks_absent(&app, Method::PUT, |id| format!("/v1/orders/{id}/drink")).await;
    assert!(calls.successes().is_empty(), "no callback for mallory");
}

#[tokio::test]
async fn customer_cannot_cancel_another_customers_order() {
    let (workflow, calls) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    assert_looks_absent(&app, Method::POST, |id| format!("/v1/orders/{id}/cancel")).await;
    assert!(calls.failures().is_empty(), "no callback for mallory");
}

async fn ingest_with(
    app: &TestApp,
    headers: &[(&str, String)],
    envelope: &Value,
) -> (StatusCode, Value) {
    let mut req = app
        .http
        .post(app.url("/v1/events"))
        .header("content-type", "application/json")
        .body(envelope.to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    support::read(req.send().await.unwrap()).await
}

/// Ingest with `headers` is refused with `code` and creates nothing.
async fn assert_ingest_refused(app: &TestApp, headers: &[(&str, String)], code: &str) {
    let id = unique("order");
    let (status, body) = ingest_with(app, headers, &support::started(&id, ALICE, "t-x")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}: {body}");
    assert_eq!(body["code"], code, "{headers:?}: {body}");
    for (_, v) in headers.iter().filter(|(_, v)| v.len() >= 8) {
        assert!(
            !body.to_string().contains(v.as_str()),
            "a credential echoed: {body}"
        );
    }
    let (status, _) = app
        .get(&format!("/v1/orders/{id}"), &app.customer(ALICE))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused event created an order"
    );
}

fn one_byte_off(key: &str, at: usize) -> String {
    let mut bytes = key.as_bytes().to_vec();
    bytes[at] ^= 0x01;
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn ingest_with_no_key_is_refused() {
    let app = app().await;
    assert_ingest_refused(&app, &[], "missing_api_key").await;
    let bearer = format!("Bearer {}", app.barista("b"));
    assert_ingest_refused(&app, &[("authorization", bearer)], "missing_api_key").await;
}

#[tokio::test]
async fn ingest_with_a_wrong_key_is_refused() {
    let app = app().await;
    for wrong in ["wrong", "", &format!("{INGEST_KEY}{INGEST_KEY}")] {
        assert_ingest_refused(&app, &[("x-api-key", wrong.to_string())], "invalid_api_key").await;
    }
}

#[tokio::test]
async fn ingest_with_a_key_differing_in_one_byte_is_refused() {
    let app = app().await;
    for at in [0, INGEST_KEY.len() / 2, INGEST_KEY.len() - 1] {
        let key = one_byte_off(INGEST_KEY, at);
        assert_ingest_refused(&app, &[("x-api-key", key)], "invalid_api_key").await;
    }
    let shorter = INGEST_KEY[..INGEST_KEY.len() - 1].to_string();
    assert_ingest_refused(&app, &[("x-api-key", shorter)], "invalid_api_key").await;
}

#[tokio::test]
async fn ingest_accepts_every_configured_key_so_keys_rotate_without_downtime() {
    const OLD: &str = "old-ingest-key-0123456789";
    const NEW: &str = "new-ingest-key-9876543210";
    let (workflow, _) = sfn::accepting();
    let both = TestApp::spawn_with(workflow.clone(), |s| {
        s.ingest_keys = vec![SecretString::from(OLD), SecretString::from(NEW)];
    })
    .await;
    for key in [OLD, NEW] {
        let id = unique("order");
        let (status, body) = ingest_with(
            &both,
            &[("x-api-key", key.to_string())],
            &support::started(&id, ALICE, "t-rot"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["outcome"], "applied");
    }
    assert_ingest_refused(
        &both,
        &[("x-api-key", INGEST_KEY.to_string())],
        "invalid_api_key",
    )
    .await;
    // Once the old key is removed, it no longer works.
    let rotated = TestApp::spawn_with(workflow, |s| {
        s.ingest_keys = vec![SecretString::from(NEW)];
    })
    .await;
    assert_ingest_refused(
        &rotated,
        &[("x-api-key", OLD.to_string())],
        "invalid_api_key",
    )
    .await;
}

#[tokio::test]
async fn ingest_accepts_http_basic_credentials() {
    use base64::Engine;
    let basic = |creds: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    };
    let app = TestApp::spawn_with(sfn::accepting().0, |s| {
        s.ingest_basic = vec![
            BasicCredential {
                user: "eventbridge".into(),
                password: SecretString::from("basic-password-0123456789"),
            },
            BasicCredential {
                user: "eventbridge-next".into(),
                password: SecretString::from("next-password-0123456789"),
            },
        ];
    })
    .await;
    for creds in [
        "eventbridge:basic-password-0123456789",
        "eventbridge-next:next-password-0123456789",
    ] {
        let (status, body) = ingest_with(
            &app,
            &[("authorization", basic(creds))],
            &support::started(&unique("order"), ALICE, "t-basic"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{creds}: {body}");
    }
    for creds in [
        "eventbridge:basic-password-0123456788",
        "eventbridge:next-password-0123456789",
        "eventbridgf:basic-password-0123456789",
    ] {
        assert_ingest_refused(
            &app,
            &[("authorization", basic(creds))],
            "invalid_credentials",
        )
        .await;
    }
    // The API key still works beside Basic.
    let (status, _) = app
        .ingest(&support::started(&unique("order"), ALICE, "t"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn ingest_key_header_name_is_configurable() {
    let app = TestApp::spawn_with(sfn::accepting().0, |s| {
        s.ingest_header = "x-eventbridge-key".parse().unwrap();
    })
    .await;
    assert_ingest_refused(
        &app,
        &[("x-api-key", INGEST_KEY.to_string())],
        "missing_api_key",
    )
    .await;
    let (status, body) = ingest_with(
        &app,
        &[("x-eventbridge-key", INGEST_KEY.to_string())],
        &support::started(&unique("order"), ALICE, "t-hdr"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn ingest_without_any_credential_configured_is_disabled() {
    let app = TestApp::spawn_with(sfn::accepting().0, |s| s.ingest_keys.clear()).await;
    assert_ingest_refused(
        &app,
        &[("x-api-key", INGEST_KEY.to_string())],
        "ingest_not_configured",
    )
    .await;
}
