//! The Serverlesspresso config service's routes for the shop: the barista app's store switch
//! (`PUT /store?state=open|closed`) and the apps' config read (`GET /config`).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, read};

async fn config(app: &TestApp) -> (Value, Value) {
    let res = app.http.get(app.url("/config")).send().await.unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body.as_array().expect("a list of items");
    let item = |topic: &str| {
        items
            .iter()
            .find(|i| i["topic"] == topic)
            .cloned()
            .unwrap_or_else(|| panic!("no {topic} item in {body}"))
    };
    (item("config"), item("menu"))
}

async fn store(app: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    app.call(Method::PUT, &format!("/store?{query}"), Some(token), None)
        .await
}

#[tokio::test]
async fn the_barista_app_opens_and_closes_the_store_the_apps_read_it() {
    let app = TestApp::spawn_embedded(|_| {}).await;
    let (shop, menu) = config(&app).await;
    assert_eq!(
        shop,
        json!({"topic": "config", "PK": "config", "storeOpen": true,
               "maxOrdersInQueue": 20, "maxOrdersPerUser": 1})
    );
    let drinks = menu["value"].as_array().unwrap();
    assert!(!drinks.is_empty(), "{menu}");
    assert!(drinks[0]["drink"].is_string() && drinks[0]["available"].is_boolean());
    // The menu as the config service has it is what `PUT /v1/menu` takes back.
    let bob = app.barista("bob");
    let (_, ours) = app.get("/v1/menu", &bob).await;
    let (status, stored) = app
        .call(Method::PUT, "/v1/menu", Some(&bob), Some(&menu["value"]))
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored, ours);

    let (status, body) = store(&app, &bob, "state=closed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"state": "closed"}));
    assert_eq!(config(&app).await.0["storeOpen"], false);
    let (_, shop) = app.get("/v1/shop", &bob).await;
    assert_eq!(shop["open"], false);
    assert_eq!(shop["max_orders_in_queue"], 20, "the limits stay");
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/orders",
            Some(&app.customer("alice")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "shop_closed");

    let (status, body) = store(&app, &app.customer("alice"), "state=open").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["result"], Value::Null, "the original shape: {body}");
    let (status, body) = store(&app, &bob, "state=ajar").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = store(&app, &bob, "state=open&eventId=LDN").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        config(&app).await.0["storeOpen"],
        false,
        "another event opened"
    );
    let (status, _) = store(&app, &bob, "state=open").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config(&app).await.0["storeOpen"], true);
}
