//! The drop-in routes for the open-source Serverlesspresso apps: each test replays the exact
//! requests the barista, order and display apps send (method, path, query, headers, body, as
//! in their Vue sources) and reads the answers the way those apps do (`result`, `SK`,
//! `orderNumber`, `drinkOrder.drink`, `ORDERSTATE`, `TS`, `baristaUserId`).

use order_manager::config::CompatMode;
use order_manager::domain::ids::EventId;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{self, TestApp, read, sfn, unique};

const ALICE: &str = "6a2b8c1d-0e9f-4a3b-8c7d-5e4f3a2b1c0d";
const BARISTA: &str = "b1a2c3d4-0000-4000-8000-000000000001";

/// The apps know one shop; the fixtures' events are at `NYC`, so that is the default event.
async fn spawn() -> (TestApp, sfn::Calls) {
    let (workflow, calls) = sfn::accepting();
    let app = TestApp::spawn_with(workflow, |s| {
        s.service.default_event = EventId::parse("NYC").unwrap();
    })
    .await;
    (app, calls)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl TestApp {
    /// `axios({method, url, headers: {Authorization: 'Bearer ' + jwtToken}})`, optionally with
    /// the order app's `Content-Type: application/json` and `data: JSON.stringify(...)`.
    async fn app_call(
        &self,
        method: Method,
        path: &str,
        jwt: &str,
        data: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("Authorization", format!("Bearer {jwt}"));
        if let Some(d) = data {
            req = req
                .header("Content-Type", "application/json")
                .body(d.to_string());
        }
        read(req.send().await.unwrap()).await
    }
}

/// The barista app's `loadOrders`: open orders with an `orderNumber`, in `preview` or, when
/// `baristaUserId` is the barista's `sub`, `production`.
fn barista_open_orders(data: &Value, sub: &str) -> Vec<Value> {
    data["result"]
        .as_array()
        .expect("data.result is an array")
        .iter()
        .filter(|o| o["orderNumber"].is_u64())
        .map(|o| {
            let mine = o["baristaUserId"].as_str() == Some(sub);
            json!({
                "orderId": o["SK"].as_str().expect("SK"),
                "baristaUserId": o["baristaUserId"],
                "orderNumber": o["orderNumber"],
                "orderItemName": o["drinkOrder"]["drink"],
                "modifiers": o["drinkOrder"]["modifiers"],
                "startTime": o["TS"].as_i64().expect("TS in ms"),
                "state": if mine { "production" } else { "preview" },
            })
        })
        .collect()
}

/// The display app's `loadOrders`: `order.drinkOrder.drink` of every order (it would throw on
/// an order without `drinkOrder`).
fn display_orders(data: &Value) -> Vec<(String, u64, String)> {
    data["result"]
        .as_array()
        .expect("data.result is an array")
        .iter()
        .map(|o| {
            let drink = o["drinkOrder"]
                .as_object()
                .expect("the display app reads order.drinkOrder.drink");
            (
                o["SK"].as_str().unwrap().to_string(),
                o["orderNumber"].as_u64().unwrap_or_default(),
                drink["drink"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The order app's `isMaxOrdersReached`: the latest order by `TS` decides.
fn order_app_latest(list: &Value) -> Value {
    let mut orders = list["result"].as_array().expect("list.result").clone();
    orders.sort_by_key(|o| o["TS"].as_i64().expect("TS"));
    orders.last().expect("an order").clone()
}

#[tokio::test]
async fn the_three_apps_run_an_order_through_the_original_api() {
    let (app, calls) = spawn().await;
    let alice = app.customer(ALICE);
    let barista = app.barista(BARISTA);
    let id = app.start_order(ALICE, "TOKEN-1-secret").await;

    // Order app: GET /myOrders; a current order without a drink → "choose".
    let (status, history) = app.app_call(Method::GET, "/myOrders", &alice, None).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let current = order_app_latest(&history);
    assert_eq!(current["SK"], id.as_str());
    assert_eq!(current["ORDERSTATE"], "CREATED");
    assert!(current["drinkOrder"].is_null());
    let ts = current["TS"].as_i64().unwrap();
    assert!((now_ms() - ts).abs() < 60_000, "TS is epoch ms: {ts}");

    // Order app (Basket.vue): PUT /orders/{id}; the body's userId is not who decides.
    let basket = json!({
        "userId": "mallory",
        "drink": "Latte",
        "modifiers": ["Oat", "Double"],
        "icon": "barista-icons_cafe-latte"
    });
    let path = format!("/orders/{id}");
    let (status, put) = app
        .app_call(Method::PUT, &path, &alice, Some(&basket))
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["result"]["USERID"], ALICE);
    assert_eq!(put["result"]["drinkOrder"]["drink"], "Latte");
    assert_eq!(calls.successes().len(), 1, "token #1 resumed once");
    assert_eq!(app.order(&id, ALICE).await["state"], "submitted");

    // GET /orders/{id}, as the owner.
    let (status, one) = app.app_call(Method::GET, &path, &alice, None).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["result"]["orderId"], id.as_str());
    assert_eq!(one["result"]["orderState"], "CREATED");
    assert_eq!(
        one["result"]["drinkOrder"]["modifiers"],
        json!(["Oat", "Double"])
    );

    // Not in the barista queue until it has a number.
    let (_, open) = app
        .app_call(Method::GET, "/orders?state=CREATED", &barista, None)
        .await;
    assert!(barista_open_orders(&open, BARISTA).is_empty(), "{open}");
    app.ingest_ok(
        &support::waiting(&id, ALICE, "TOKEN-2-secret", "7"),
        "applied",
    )
    .await;

    // Barista app: GET /orders?state=CREATED → preview.
    let (status, open) = app
        .app_call(Method::GET, "/orders?state=CREATED", &barista, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{open}");
    let orders = barista_open_orders(&open, BARISTA);
    assert_eq!(orders.len(), 1, "{open}");
    assert_eq!(orders[0]["orderId"], id.as_str());
    assert_eq!(orders[0]["orderNumber"], 7);
    assert_eq!(orders[0]["orderItemName"], "Latte");
    assert_eq!(orders[0]["state"], "preview");
    assert_eq!(open["result"][0]["PK"], "orders");
    assert_eq!(open["result"][0]["ORDERSTATE"], "CREATED");
    assert_eq!(open["result"][0]["robot"], false);

    // Display app: the same list, read without `?.`.
    let (status, display) = app
        .app_call(Method::GET, "/orders?state=CREATED", &barista, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(display_orders(&display), [(id.clone(), 7, "Latte".into())]);

    // Barista app: Make → production (baristaUserId is the caller's sub), Unmake → preview.
    let claim = format!("/orders/claim/{id}?action=make");
    let (status, made) = app.app_call(Method::PUT, &claim, &barista, None).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let (_, open) = app
        .app_call(Method::GET, "/orders?state=CREATED", &barista, None)
        .await;
    let orders = barista_open_orders(&open, BARISTA);
    assert_eq!(orders[0]["state"], "production", "{open}");
    assert_eq!(orders[0]["baristaUserId"], BARISTA);
    let unclaim = format!("/orders/claim/{id}?action=unmake");
    let (status, _) = app.app_call(Method::PUT, &unclaim, &barista, None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, open) = app
        .app_call(Method::GET, "/orders?state=CREATED", &barista, None)
        .await;
    let orders = barista_open_orders(&open, BARISTA);
    assert_eq!(orders[0]["state"], "preview");
    assert!(orders[0]["baristaUserId"].is_null());
    let (status, _) = app.app_call(Method::PUT, &claim, &barista, None).await;
    assert_eq!(status, StatusCode::OK);

    // Barista app: Pickup → PUT /orders/complete/{id}; the workflow is resumed.
    let complete = format!("/orders/complete/{id}");
    let (status, done) = app.app_call(Method::PUT, &complete, &barista, None).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["result"]["ORDERSTATE"], "COMPLETED");
    assert_eq!(calls.successes().len(), 2, "token #2 resumed once");

    // Barista app: completed orders of the last 5 minutes go to the pickup lane.
    let (status, completed) = app
        .app_call(
            Method::GET,
            "/orders?state=COMPLETED&maxItems=10",
            &barista,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{completed}");
    let pickup: Vec<&Value> = completed["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| (now_ms() - o["TS"].as_i64().unwrap()) / 1000 < 300)
        .collect();
    assert_eq!(pickup.len(), 1);
    assert_eq!(pickup[0]["SK"], id.as_str());
    assert_eq!(pickup[0]["drinkOrder"]["drink"], "Latte");

    // Display app: "Ready" column.
    let (_, ready) = app
        .app_call(Method::GET, "/orders?state=COMPLETED", &barista, None)
        .await;
    assert_eq!(display_orders(&ready), [(id.clone(), 7, "Latte".into())]);
    let (_, open) = app
        .app_call(Method::GET, "/orders?state=CREATED", &barista, None)
        .await;
    assert_eq!(open["result"], json!([]));

    // Order app: the latest order is COMPLETED (a customer's limit for the day).
    let (_, history) = app.app_call(Method::GET, "/myOrders", &alice, None).await;
    assert_eq!(order_app_latest(&history)["ORDERSTATE"], "COMPLETED");
}

#[tokio::test]
async fn the_rest_variant_takes_actions_without_a_body_and_cancels() {
    let (app, calls) = spawn().await;
    let barista = app.barista(BARISTA);
    let id = app.queue_order(ALICE, "T1-secret", "T2-secret").await;
    let path = |action: &str| format!("/orders/{id}?action={action}");

    let (status, made) = app
        .app_call(Method::PUT, &path("make"), &barista, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(made["result"]["baristaUserId"], BARISTA);
    let (status, unmade) = app
        .app_call(Method::PUT, &path("unmake"), &barista, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{unmade}");
    assert!(unmade["result"]["baristaUserId"].is_null());
    let (status, cancelled) = app
        .app_call(Method::PUT, &path("cancel"), &barista, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["result"]["ORDERSTATE"], "CANCELLED");
    assert!(
        calls.tokens().contains(&"T2-secret".to_string()),
        "the cancel released token #2"
    );

    let (_, list) = app
        .app_call(Method::GET, "/orders?state=CANCELLED", &barista, None)
        .await;
    assert_eq!(list["result"][0]["SK"], id.as_str());
    // The barista app's own cancel route, once more: an honest 409, not a silent 200.
    let (status, again) = app
        .app_call(Method::PUT, &format!("/orders/cancel/{id}"), &barista, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["code"], "order_state_conflict");
    assert!(again["result"].is_null() && again.get("result").is_some());
}

/// The order app's "Cancel order" (`PUT /orders/cancel/{id}` with the customer's token), and
/// the same on `/v1`: a customer cancels their own order until a barista claims it.
#[tokio::test]
async fn customers_cancel_their_own_orders_until_a_barista_claims_them() {
    let (app, calls) = spawn().await;
    let alice = app.customer(ALICE);
    let barista = app.barista(BARISTA);
    // In the queue: the cancel releases token #2.
    let queued = app.queue_order(ALICE, "T1-q", "T2-q").await;
    let (status, body) = app
        .app_call(
            Method::PUT,
            &format!("/orders/cancel/{queued}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["ORDERSTATE"], "CANCELLED");
    assert!(calls.tokens().contains(&"T2-q".to_string()));
    // Someone else's order is not found; a claimed one is a conflict.
    let claimed = app.queue_order(ALICE, "T1-c", "T2-c").await;
    let (status, _) = app
        .app_call(
            Method::PUT,
            &format!("/orders/cancel/{claimed}"),
            &app.customer("mallory"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .app_call(
            Method::PUT,
            &format!("/orders/claim/{claimed}?action=make"),
            &barista,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .app_call(
            Method::PUT,
            &format!("/orders/cancel/{claimed}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .post(&format!("/v1/orders/{claimed}/cancel"), &alice)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Submitted, on `/v1`: no token is held; the order is cancelled and the workflow's
    // second wait is released when it arrives.
    let submitted = app.start_order(ALICE, "T1-s").await;
    let (status, _) = app.submit(&submitted, &alice, support::latte()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(&format!("/v1/orders/{submitted}/cancel"), &alice)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cancel_reason"], "customer");
    app.ingest_ok(&support::waiting(&submitted, ALICE, "T2-s", "5"), "applied")
        .await;
    support::eventually("token #2 released", || async {
        calls.tokens().contains(&"T2-s".to_string()).then_some(())
    })
    .await;
}

/// Every state before a barista's claim, on either API: the customer's cancel takes.
#[tokio::test]
async fn a_customer_cancels_in_every_state_before_a_claim_on_both_apis() {
    let (app, _calls) = spawn().await;
    let alice = app.customer(ALICE);
    for state in ["created", "submitted", "queued"] {
        for compat in [false, true] {
            let (t1, t2) = (unique("T1"), unique("T2"));
            let id = match state {
                "queued" => app.queue_order(ALICE, &t1, &t2).await,
                _ => app.start_order(ALICE, &t1).await,
            };
            if state == "submitted" {
                let (status, _) = app.submit(&id, &alice, support::latte()).await;
                assert_eq!(status, StatusCode::OK);
            }
            let (status, body) = if compat {
                let path = format!("/orders/cancel/{id}");
                app.app_call(Method::PUT, &path, &alice, None).await
            } else {
                app.post(&format!("/v1/orders/{id}/cancel"), &alice).await
            };
            assert_eq!(status, StatusCode::OK, "{state}, compat {compat}: {body}");
            let order = app.order(&id, ALICE).await;
            assert_eq!(order["state"], "cancelled", "{state}, compat {compat}");
            assert_eq!(
                order["cancel_reason"], "customer",
                "{state}, compat {compat}"
            );
        }
    }
}

/// A request (method, path, token, body) and the status and `code` it must get.
type Case<'a> = (Method, String, &'a str, Option<Value>, StatusCode, &'a str);

/// Where the originals answered `200` for a failure (or crashed), these answer a 4xx whose body
/// still has `result` (null) beside the problem details.
#[tokio::test]
async fn failures_are_honest_4xx_in_the_original_shape() {
    let (app, _calls) = spawn().await;
    let alice = app.customer(ALICE);
    let barista = app.barista(BARISTA);
    let mallory = app.customer("mallory");
    let id = app.start_order(ALICE, "T1-secret").await;

    let cases: Vec<Case> = vec![
        // A customer is not a barista.
        (
            Method::GET,
            "/orders?state=CREATED".into(),
            &alice,
            None,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Method::PUT,
            format!("/orders/{id}?action=complete"),
            &alice,
            None,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Method::PUT,
            format!("/orders/claim/{id}?action=make"),
            &alice,
            None,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        // The original claimed an unknown id by creating it.
        (
            Method::PUT,
            "/orders/claim/no-such-order?action=make".into(),
            &barista,
            None,
            StatusCode::NOT_FOUND,
            "order_not_found",
        ),
        (
            Method::PUT,
            "/orders/complete/no-such-order".into(),
            &barista,
            None,
            StatusCode::NOT_FOUND,
            "order_not_found",
        ),
        // Not yet in the queue: nothing to make or complete.
        (
            Method::PUT,
            format!("/orders/complete/{id}"),
            &barista,
            None,
            StatusCode::CONFLICT,
            "order_state_conflict",
        ),
        // The original crashed on a missing item.
        (
            Method::GET,
            "/orders/no-such-order".into(),
            &alice,
            None,
            StatusCode::NOT_FOUND,
            "order_not_found",
        ),
        (
            Method::GET,
            "/orders?state=OPEN".into(),
            &barista,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            Method::GET,
            "/orders".into(),
            &barista,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            Method::GET,
            "/orders?state=CREATED&maxItems=0".into(),
            &barista,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            Method::PUT,
            format!("/orders/{id}?action=brew"),
            &barista,
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        // The drink must be on the menu; the body must be the app's JSON.
        (
            Method::PUT,
            format!("/orders/{id}"),
            &alice,
            Some(json!({"drink": "Mocha", "modifiers": []})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_drink",
        ),
        (
            Method::PUT,
            format!("/orders/{id}"),
            &alice,
            Some(json!({"modifiers": []})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            Method::PUT,
            format!("/orders/{id}"),
            &alice,
            None,
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        // Somebody else's order does not exist for them.
        (
            Method::PUT,
            format!("/orders/{id}"),
            &mallory,
            Some(support::latte()),
            StatusCode::NOT_FOUND,
            "order_not_found",
        ),
    ];
    for (method, path, jwt, body, want, code) in cases {
        let (status, got) = app
            .app_call(method.clone(), &path, jwt, body.as_ref())
            .await;
        assert_eq!(status, want, "{method} {path}: {got}");
        assert_eq!(got["code"], code, "{method} {path}: {got}");
        assert_eq!(
            got.get("result"),
            Some(&Value::Null),
            "{method} {path}: {got}"
        );
    }

    let res = app.http.get(app.url("/myOrders")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let (_, body) = read(res).await;
    assert_eq!(body["code"], "missing_token");
    assert!(body["result"].is_null() && body.get("result").is_some());
    assert_eq!(
        app.order(&id, ALICE).await["state"],
        "created",
        "nothing changed"
    );
}

#[tokio::test]
async fn options_and_cors_preflight_answer_as_the_apps_need() {
    let (workflow, _calls) = sfn::accepting();
    let app = TestApp::spawn_with(workflow, |s| {
        s.cors_origins = "https://barista.example.com".parse().unwrap();
    })
    .await;
    // A browser's preflight before the barista app's PUT with a bearer token.
    let res = app
        .http
        .request(
            Method::OPTIONS,
            app.url("/orders/claim/some-order?action=make"),
        )
        .header("Origin", "https://barista.example.com")
        .header("Access-Control-Request-Method", "PUT")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(
        h["access-control-allow-origin"],
        "https://barista.example.com"
    );
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    assert!(
        methods.contains("PUT") && methods.contains("GET"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );

    // Without a CORS allow-list, an OPTIONS still says which methods the path takes.
    let (app, _calls) = spawn().await;
    let res = app
        .http
        .request(Method::OPTIONS, app.url("/orders/some-order"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["allow"], "GET, PUT, OPTIONS");
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn om_compat_none_serves_only_v1() {
    let (workflow, _calls) = sfn::accepting();
    let app = TestApp::spawn_with(workflow, |s| s.compat = CompatMode::None).await;
    let barista = app.barista(BARISTA);
    let (status, body) = app
        .app_call(Method::GET, "/orders?state=CREATED", &barista, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
    let (status, _) = app.get("/v1/orders", &barista).await;
    assert_eq!(status, StatusCode::OK);
}
