//! Every failure answers `application/problem+json` with a stable code, and writes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{self, TestApp, latte, sfn, unique};

const USER: &str = "alice";

async fn app_with_order() -> (TestApp, String) {
    let (workflow, _) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let id = unique("order");
    app.ingest_ok(&support::started(&id, USER, "t-err"), "applied")
        .await;
    (app, id)
}

/// Sends a raw request and checks status, problem content type and code.
async fn expect_problem(res: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status);
    let ct = res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = res.json().await.unwrap();
    assert_eq!(ct, "application/problem+json", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"].as_str().unwrap().ends_with(code));
    body
}

#[tokio::test]
async fn bad_bodies_are_refused_without_touching_the_order() {
    let (app, id) = app_with_order().await;
    let before = app.order(&id, USER).await;
    let url = app.url(&format!("/v1/orders/{id}/drink"));
    let token = app.customer(USER);

    let res = app
        .http
        .put(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"drink\": ")
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::BAD_REQUEST, "malformed_json").await;

    let res = app
        .http
        .put(&url)
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(latte().to_string())
        .send()
        .await
        .unwrap();
    expect_problem(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let res = app
        .http
        .put(&url)
        .bearer_auth(&token)
        .body(latte().to_string())
        .send()
        .await
        .unwrap();
    expect_problem(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let res = app
        .http
        .put(&url)
        .bearer_auth(&token)
        .json(&json!({"drink": 42}))
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;

    let huge = json!({"drink": "Latte", "modifiers": ["x".repeat(70 * 1024)]});
    let res = app
        .http
        .put(&url)
        .bearer_auth(&token)
        .json(&huge)
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let res = app
        .http
        .put(&url)
        .bearer_auth(&token)
        .json(&json!({"drink": "Latte", "modifiers": ["Oat", "Soy"]}))
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_drink").await;

    let res = app
        .http
        .put(&url)
        .bearer_auth(&token)
        .json(&json!({"drink": "Unicorn Frappe"}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_drink").await;
    assert!(body["detail"].as_str().unwrap().contains("not on the menu"));

    assert_eq!(app.order(&id, USER).await, before, "no partial write");
}

#[tokio::test]
async fn unknown_and_malformed_order_ids() {
    let (app, _) = app_with_order().await;
    let token = app.barista("b");
    let res = app
        .http
        .get(app.url("/v1/orders/no-such-order"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::NOT_FOUND, "order_not_found").await;
    for bad in ["bad%20id", "%2E%2E%2Fetc", &"x".repeat(81)] {
        let res = app
            .http
            .get(app.url(&format!("/v1/orders/{bad}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        expect_problem(res, StatusCode::BAD_REQUEST, "invalid_order_id").await;
    }
    let res = app
        .http
        .post(app.url("/v1/orders/no-such-order/complete"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::NOT_FOUND, "order_not_found").await;
    // An update of an unknown id never creates it.
    let res = app
        .http
        .put(app.url("/v1/orders/ghost/drink"))
        .bearer_auth(app.customer(USER))
        .json(&latte())
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::NOT_FOUND, "order_not_found").await;
    let res = app
        .http
        .get(app.url("/v1/orders/ghost"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::NOT_FOUND, "order_not_found").await;
}

#[tokio::test]
async fn missing_invalid_and_expired_tokens_are_401() {
    let (app, _) = app_with_order().await;
    let res = app.http.get(app.url("/v1/me/orders")).send().await.unwrap();
    assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");
    expect_problem(res, StatusCode::UNAUTHORIZED, "missing_token").await;

    let forged = order_manager::inbound::http::auth::issue_local_token(
        &secrecy::SecretString::from("another-secret-another-secret-0123456789"),
        USER,
        &["admin".to_string()],
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let expired = {
        use jsonwebtoken::{EncodingKey, Header};
        let claims = json!({"sub": USER, "exp": 1_000_000_000u64});
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(support::JWT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    for (header, what) in [
        ("Bearer not.a.jwt".to_string(), "garbage"),
        (format!("Bearer {forged}"), "wrong secret"),
        (format!("Bearer {expired}"), "expired"),
        (format!("Basic {}", app.customer(USER)), "wrong scheme"),
        ("Bearer".to_string(), "empty"),
    ] {
        let res = app
            .http
            .get(app.url("/v1/me/orders"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        let body = expect_problem(res, StatusCode::UNAUTHORIZED, "invalid_token").await;
        assert!(!body.to_string().contains("eyJ"), "{what}: no token echoed");
    }
}

#[tokio::test]
async fn customers_cannot_use_barista_routes_or_see_others_orders() {
    let (app, id) = app_with_order().await;
    let mallory = app.customer("mallory");
    for (method, path) in [
        (Method::GET, "/v1/orders".to_string()),
        (Method::POST, format!("/v1/orders/{id}/claim")),
        (Method::POST, format!("/v1/orders/{id}/unclaim")),
        (Method::POST, format!("/v1/orders/{id}/complete")),
    ] {
        let res = app
            .http
            .request(method, app.url(&path))
            .bearer_auth(&mallory)
            .send()
            .await
            .unwrap();
        expect_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Another customer's order does not exist for mallory.
    let res = app
        .http
        .get(app.url(&format!("/v1/orders/{id}")))
        .bearer_auth(&mallory)
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::NOT_FOUND, "order_not_found").await;
    let res = app
        .http
        .put(app.url(&format!("/v1/orders/{id}/drink")))
        .bearer_auth(&mallory)
        .json(&latte())
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::NOT_FOUND, "order_not_found").await;
    let res = app
        .http
        .post(app.url(&format!("/v1/orders/{id}/cancel")))
        .bearer_auth(&mallory)
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::NOT_FOUND, "order_not_found").await;
    assert_eq!(app.order(&id, USER).await["state"], "created");
}

#[tokio::test]
async fn state_conflicts_are_409() {
    let (app, id) = app_with_order().await;
    let barista = app.barista("b");
    let res = app
        .http
        .post(app.url(&format!("/v1/orders/{id}/complete")))
        .bearer_auth(&barista)
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::CONFLICT, "order_state_conflict").await;
    let res = app
        .http
        .post(app.url(&format!("/v1/orders/{id}/claim")))
        .bearer_auth(&barista)
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::CONFLICT, "order_state_conflict").await;

    let (status, _) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::OK);
    // The same drink again is the same `PUT`; another drink is a conflict.
    let (status, _) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::OK);
    let res = app
        .submit_raw(
            &id,
            USER,
            &serde_json::json!({"drink": "Latte", "modifiers": ["Soy"]}),
        )
        .await;
    expect_problem(res, StatusCode::CONFLICT, "order_state_conflict").await;
    // Terminal states stay terminal.
    let (status, _) = app.post(&format!("/v1/orders/{id}/cancel"), &barista).await;
    assert_eq!(status, StatusCode::OK);
    let res = app
        .http
        .post(app.url(&format!("/v1/orders/{id}/cancel")))
        .bearer_auth(&barista)
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::CONFLICT, "order_state_conflict").await;
}

#[tokio::test]
async fn bad_queries_routes_and_methods() {
    let (app, _) = app_with_order().await;
    let barista = app.barista("b");
    for (query, code) in [
        ("limit=0", "invalid_query"),
        ("limit=101", "invalid_query"),
        ("limit=ten", "invalid_query"),
        ("state=open", "invalid_query"),
        ("bogus=1", "invalid_query"),
        ("cursor=not-a-cursor", "invalid_cursor"),
        ("event_id=no%20spaces", "invalid_event_id"),
    ] {
        let res = app
            .http
            .get(app.url(&format!("/v1/orders?{query}")))
            .bearer_auth(&barista)
            .send()
            .await
            .unwrap();
        expect_problem(res, StatusCode::BAD_REQUEST, code).await;
    }
    let res = app.http.get(app.url("/v2/nothing")).send().await.unwrap();
    expect_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .http
        .delete(app.url("/v1/menu"))
        .bearer_auth(&barista)
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}
