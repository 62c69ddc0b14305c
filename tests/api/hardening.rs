//! The edge facing the internet: CORS for the browser apps, security headers on every answer,
//! body limits.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::{INGEST_KEY, TestApp, sfn, unique};
use order_manager::inbound::http::INGEST_BODY_LIMIT;
use order_manager::inbound::http::hardening::CorsOrigins;

const APP_ORIGIN: &str = "https://order.example.com";

async fn app_with_origins(origins: &str) -> TestApp {
    let origins: CorsOrigins = origins.parse().unwrap();
    TestApp::spawn_with(sfn::accepting().0, move |s| s.cors_origins = origins).await
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    app.http
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-amz-date,x-amz-security-token,x-api-key,x-request-id",
        )
        .send()
        .await
        .unwrap()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn preflight_from_an_allowed_origin_is_answered_on_every_route() {
    let app = app_with_origins(&format!("{APP_ORIGIN}, http://localhost:3000")).await;
    for (path, method) in [
        ("/v1/me/orders", "GET"),
        ("/v1/orders/some-order/drink", "PUT"),
        ("/v1/orders/some-order/cancel", "POST"),
        ("/myOrders", "GET"),
        ("/orders/some-order", "PUT"),
        ("/no/such/route", "DELETE"),
    ] {
        let res = preflight(&app, path, APP_ORIGIN, method).await;
        assert!(res.status().is_success(), "{path}: {}", res.status());
        let h = res.headers();
        assert_eq!(
            header(h, "access-control-allow-origin"),
            APP_ORIGIN,
            "{path}"
        );
        let methods = header(h, "access-control-allow-methods").to_ascii_uppercase();
        for m in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
            assert!(methods.contains(m), "{path}: {methods}");
        }
        let allowed = header(h, "access-control-allow-headers").to_ascii_lowercase();
        for name in [
            "authorization",
            "content-type",
            "x-api-key",
            "x-amz-date",
            "x-amz-security-token",
            "x-request-id",
        ] {
            assert!(allowed.contains(name), "{path}: {allowed}");
        }
        assert!(!header(h, "access-control-max-age").is_empty(), "{path}");
        assert!(
            header(h, "access-control-allow-credentials").is_empty(),
            "no cookies involved"
        );
    }
    let res = preflight(&app, "/v1/me/orders", "http://localhost:3000", "GET").await;
    assert_eq!(
        header(res.headers(), "access-control-allow-origin"),
        "http://localhost:3000"
    );
}

#[tokio::test]
async fn other_origins_get_no_cors_grant() {
    let app = app_with_origins(APP_ORIGIN).await;
    for origin in [
        "https://evil.example.com",
        "https://order.example.com.evil.example",
        "http://order.example.com",
        "null",
    ] {
        let res = preflight(&app, "/v1/me/orders", origin, "GET").await;
        assert!(
            res.headers().get("access-control-allow-origin").is_none(),
            "{origin}"
        );
        let res = app
            .http
            .get(app.url("/v1/me/orders"))
            .header("origin", origin)
            .bearer_auth(app.customer("alice"))
            .send()
            .await
            .unwrap();
        assert!(
            res.headers().get("access-control-allow-origin").is_none(),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn an_allowed_origin_can_read_answers_and_the_request_id() {
    let app = app_with_origins(APP_ORIGIN).await;
    let res = app
        .http
        .get(app.url("/v1/me/orders"))
        .header("origin", APP_ORIGIN)
        .bearer_auth(app.customer("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert_eq!(header(h, "access-control-allow-origin"), APP_ORIGIN);
    assert!(
        header(h, "access-control-expose-headers")
            .to_ascii_lowercase()
            .contains("x-request-id"),
        "{h:?}"
    );
    assert!(!header(h, "x-request-id").is_empty());
}

#[tokio::test]
async fn a_wildcard_allows_any_origin() {
    let app = app_with_origins("*").await;
    let res = preflight(&app, "/v1/me/orders", "https://anywhere.example", "GET").await;
    assert!(res.status().is_success());
    assert_eq!(header(res.headers(), "access-control-allow-origin"), "*");
}

#[tokio::test]
async fn without_configured_origins_there_is_no_cors() {
    let app = app_with_origins("").await;
    let res = preflight(&app, "/v1/me/orders", APP_ORIGIN, "GET").await;
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

fn assert_security_headers(h: &HeaderMap, what: &str) {
    assert_eq!(header(h, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(h, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(h, "referrer-policy"), "no-referrer", "{what}");
    assert!(h.get("server").is_none(), "{what}: a server header");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = app_with_origins(APP_ORIGIN).await;
    let customer = app.customer("alice");
    let requests = [
        app.http
            .get(app.url("/v1/me/orders"))
            .bearer_auth(&customer),
        app.http.get(app.url("/v1/me/orders")),
        app.http.get(app.url("/v1/orders")).bearer_auth(&customer),
        app.http.get(app.url("/no/such/route")),
        app.http.get(app.url("/healthz")),
        app.http.post(app.url("/v1/events")).json(&json!({})),
    ];
    for req in requests {
        let res = req.send().await.unwrap();
        let what = format!("{} {}", res.status(), res.url().path());
        let h = res.headers();
        assert_security_headers(h, &what);
        assert_eq!(
            header(h, "content-security-policy"),
            "default-src 'none'; frame-ancestors 'none'",
            "{what}"
        );
        assert_eq!(header(h, "cache-control"), "no-store", "{what}");
    }
    let res = preflight(&app, "/v1/me/orders", APP_ORIGIN, "GET").await;
    assert_security_headers(res.headers(), "preflight");
}

#[tokio::test]
async fn an_oversized_event_is_413_problem_json_and_stores_nothing() {
    let app = TestApp::spawn(sfn::accepting().0).await;
    let id = unique("order");
    let mut envelope = crate::support::started(&id, "alice", "t-big");
    envelope["detail"]["padding"] = json!("x".repeat(INGEST_BODY_LIMIT));
    let res = app
        .http
        .post(app.url("/v1/events"))
        .header("x-api-key", INGEST_KEY)
        .json(&envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        header(res.headers(), "content-type"),
        "application/problem+json"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large", "{body}");
    let (status, _) = app
        .get(&format!("/v1/orders/{id}"), &app.customer("alice"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
