//! The shop's settings per coffee event, and the embedded processor's checks of them before
//! it starts an order: closed, at capacity, over the customer's limit; never past a limit,
//! however starts race.

use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use order_manager::domain::shop::ShopSettings;

use crate::support::{TestApp, eventually};

async fn put_shop(app: &TestApp, event: &str, shop: Value) -> Value {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/v1/shop?event_id={event}"),
            Some(&app.barista("bob")),
            Some(&shop),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `POST /v1/orders` as `user` at `NYC`: the status and the answer's body.
async fn start(app: &TestApp, user: &str) -> (StatusCode, Value) {
    let body = json!({"event_id": "NYC"});
    app.call(
        Method::POST,
        "/v1/orders",
        Some(&app.customer(user)),
        Some(&body),
    )
    .await
}

fn refused(answer: &(StatusCode, Value), code: &str) {
    let (status, body) = answer;
    assert_eq!(*status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], code, "{body}");
}

fn started(answer: &(StatusCode, Value)) -> bool {
    matches!(answer.0, StatusCode::CREATED | StatusCode::ACCEPTED)
}

async fn my_orders(app: &TestApp, user: &str) -> usize {
    let (status, body) = app.get("/v1/me/orders", &app.customer(user)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["orders"].as_array().unwrap().len()
}

#[tokio::test]
async fn the_shop_is_open_by_default_and_baristas_change_it() {
    let app = TestApp::spawn_embedded(|_| {}).await;
    let (status, shop) = app
        .get("/v1/shop?event_id=NYC", &app.customer("alice"))
        .await;
    assert_eq!(status, StatusCode::OK, "{shop}");
    assert_eq!(
        shop,
        json!({"event_id": "NYC", "open": true, "max_orders_in_queue": 20, "max_orders_per_user": 1})
    );

    let closed = json!({"open": false, "max_orders_in_queue": 5, "max_orders_per_user": 2});
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/shop?event_id=NYC",
            Some(&app.customer("alice")),
            Some(&closed),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let stored = put_shop(&app, "NYC", closed.clone()).await;
    assert_eq!(stored["event_id"], "NYC");
    assert_eq!(stored["open"], false);
    let (_, read) = app
        .get("/v1/shop?event_id=NYC", &app.customer("alice"))
        .await;
    assert_eq!(read, stored);
    // Another event keeps the defaults.
    let (_, other) = app
        .get("/v1/shop?event_id=LDN", &app.customer("alice"))
        .await;
    assert_eq!(other["open"], true);

    for (bad, code) in [
        (
            json!({"open": true, "max_orders_in_queue": 0, "max_orders_per_user": 1}),
            "invalid_shop",
        ),
        (
            json!({"open": true, "max_orders_in_queue": 100001, "max_orders_per_user": 1}),
            "invalid_shop",
        ),
        (
            json!({"open": true, "max_orders_in_queue": 3}),
            "invalid_body",
        ),
        (
            json!({"open": "yes", "max_orders_in_queue": 3, "max_orders_per_user": 1}),
            "invalid_body",
        ),
        (
            json!({"open": true, "max_orders_in_queue": 3, "max_orders_per_user": 1, "x": 1}),
            "invalid_body",
        ),
    ] {
        let (status, body) = app
            .call(
                Method::PUT,
                "/v1/shop?event_id=NYC",
                Some(&app.barista("bob")),
                Some(&bad),
            )
            .await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
        if code == "invalid_shop" {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
            assert_eq!(body["code"], code, "{bad}: {body}");
        }
    }
    let (_, unchanged) = app
        .get("/v1/shop?event_id=NYC", &app.customer("alice"))
        .await;
    assert_eq!(unchanged, stored, "a refused body changes nothing");
}

#[tokio::test]
async fn starts_are_refused_when_closed_full_or_over_the_customer_s_limit() {
    let app = TestApp::spawn_embedded(|_| {}).await;
    put_shop(
        &app,
        "NYC",
        json!({"open": false, "max_orders_in_queue": 2, "max_orders_per_user": 1}),
    )
    .await;
    refused(&start(&app, "alice").await, "shop_closed");
    assert_eq!(
        my_orders(&app, "alice").await,
        0,
        "a refused start creates no order"
    );

    put_shop(
        &app,
        "NYC",
        json!({"open": true, "max_orders_in_queue": 2, "max_orders_per_user": 1}),
    )
    .await;
    let first = start(&app, "alice").await;
    assert!(started(&first), "{first:?}");
    refused(&start(&app, "alice").await, "order_limit_reached");
    assert!(started(&start(&app, "carol").await));
    refused(&start(&app, "dave").await, "shop_at_capacity");
    assert_eq!(my_orders(&app, "alice").await, 1);
    assert_eq!(my_orders(&app, "dave").await, 0);

    // Once alice's order is over, the shop takes one more, hers or another's.
    let id = first.1["order_id"].as_str().unwrap().to_string();
    let (status, body) = app
        .post(&format!("/v1/orders/{id}/cancel"), &app.barista("bob"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually("a start to be taken once an order is over", || async {
        let answer = start(&app, "dave").await;
        started(&answer).then_some(())
    })
    .await;
}

#[tokio::test]
async fn racing_starts_never_go_past_a_limit() {
    let app = Arc::new(TestApp::spawn_embedded(|_| {}).await);
    put_shop(
        &app,
        "NYC",
        json!({"open": true, "max_orders_in_queue": 5, "max_orders_per_user": 3}),
    )
    .await;
    // Twelve customers at once: five get in.
    let answers = join_all((0..12).map(|n| {
        let app = app.clone();
        async move { start(&app, &format!("racer-{n}")).await }
    }))
    .await;
    let taken = answers.iter().filter(|a| started(a)).count();
    assert_eq!(taken, 5, "{answers:?}");
    for a in answers.iter().filter(|a| !started(a)) {
        refused(a, "shop_at_capacity");
    }

    // One customer eight times at once, in a shop with room: three get in.
    put_shop(
        &app,
        "NYC",
        json!({"open": true, "max_orders_in_queue": 100, "max_orders_per_user": 3}),
    )
    .await;
    let answers = join_all((0..8).map(|_| {
        let app = app.clone();
        async move { start(&app, "eager").await }
    }))
    .await;
    assert_eq!(
        answers.iter().filter(|a| started(a)).count(),
        3,
        "{answers:?}"
    );
    for a in answers.iter().filter(|a| !started(a)) {
        refused(a, "order_limit_reached");
    }
    assert_eq!(my_orders(&app, "eager").await, 3);
}

#[tokio::test]
async fn configured_defaults_hold_for_every_event_a_barista_left_alone() {
    let app = TestApp::spawn_embedded(|s| {
        s.service.shop = ShopSettings {
            open: false,
            max_orders_in_queue: 50,
            max_orders_per_user: 2,
        }
    })
    .await;
    let (_, shop) = app
        .get("/v1/shop?event_id=LDN", &app.customer("alice"))
        .await;
    assert_eq!(
        shop,
        json!({"event_id": "LDN", "open": false, "max_orders_in_queue": 50, "max_orders_per_user": 2})
    );
    refused(&start(&app, "alice").await, "shop_closed");
    put_shop(
        &app,
        "NYC",
        json!({"open": true, "max_orders_in_queue": 50, "max_orders_per_user": 2}),
    )
    .await;
    assert!(started(&start(&app, "alice").await));
}
