//! `POST /v1/events`: authentication, idempotency, order tolerance, bad events.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, EXECUTION_PREFIX, INGEST_KEY, TestApp, eventually, latte, sfn, unique};

const USER: &str = "u-ingest";

async fn app() -> (TestApp, sfn::Calls) {
    let (workflow, calls) = sfn::accepting();
    (TestApp::spawn(workflow).await, calls)
}

async fn post_with_key(app: &TestApp, key: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let mut req = app.http.post(app.url("/v1/events")).json(body);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    support::read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn ingest_needs_the_api_key() {
    let (app, _) = app().await;
    let ev = support::started(&unique("o"), USER, "t");
    let mut one_byte_off = INGEST_KEY.to_string().into_bytes();
    *one_byte_off.last_mut().unwrap() ^= 1;
    let one_byte_off = String::from_utf8(one_byte_off).unwrap();
    for (key, code) in [
        (None, "missing_api_key"),
        (Some("wrong"), "invalid_api_key"),
        (Some(one_byte_off.as_str()), "invalid_api_key"),
    ] {
        let (status, body) = post_with_key(&app, key, &ev).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["code"], code);
        assert!(!body.to_string().contains(INGEST_KEY));
    }
    // A JWT is no substitute.
    let res = app
        .http
        .post(app.url("/v1/events"))
        .bearer_auth(app.barista("b"))
        .json(&ev)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = post_with_key(&app, Some(INGEST_KEY), &ev).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn duplicates_by_envelope_and_by_content_are_200_duplicate() {
    let (app, _) = app().await;
    let id = unique("o");
    let ev = support::started(&id, USER, "t-dup");
    app.ingest_ok(&ev, "applied").await;
    app.ingest_ok(&ev, "duplicate").await;
    let mut same_content = ev.clone();
    same_content["id"] = json!(unique("env"));
    app.ingest_ok(&same_content, "duplicate").await;
    let (_, body) = app.ingest(&ev).await;
    assert_eq!(body["order_id"], id.as_str());
    let (_, mine) = app.get("/v1/me/orders", &app.customer(USER)).await;
    assert_eq!(mine["orders"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn events_for_unknown_orders_never_create_them() {
    let (app, _) = app().await;
    let id = unique("o");
    app.ingest_ok(&support::waiting(&id, USER, "t2", "5"), "deferred")
        .await;
    app.ingest_ok(
        &support::timed_out(&id, USER, "Customer timedout"),
        "deferred",
    )
    .await;
    app.ingest_ok(&support::finished(&id, USER), "deferred")
        .await;
    let (status, _) = app
        .get(&format!("/v1/orders/{id}"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stale_events_are_acknowledged_and_ignored() {
    let (app, _) = app().await;
    let id = unique("o");
    app.ingest_ok(&support::started(&id, USER, "t1"), "applied")
        .await;
    let (status, _) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::OK);
    app.ingest_ok(&support::waiting(&id, USER, "t2", "3"), "applied")
        .await;
    // A late WorkflowStarted (new token, same execution) for a queued order.
    app.ingest_ok(&support::started(&id, USER, "t1-late"), "stale")
        .await;
    // The same WaitingCompletion again: duplicate by content.
    app.ingest_ok(&support::waiting(&id, USER, "t2", "3"), "duplicate")
        .await;
    let (status, done) = app
        .post(&format!("/v1/orders/{id}/complete"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    // A timeout never overrides a completed order; it records that the workflow is past its
    // waits, so its end, after it, adds nothing.
    app.ingest_ok(&support::timed_out(&id, USER, "Barista timedout"), "stale")
        .await;
    assert_eq!(app.order(&id, USER).await["state"], "completed");
    app.ingest_ok(&support::finished(&id, USER), "duplicate")
        .await;
}

#[tokio::test]
async fn the_workflow_s_end_after_a_completion_is_recorded_once() {
    let (app, _) = app().await;
    let id = app.queue_order(USER, "t1", "t2").await;
    let (status, _) = app
        .post(&format!("/v1/orders/{id}/complete"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.ingest_ok(&support::finished(&id, USER), "applied")
        .await;
    app.ingest_ok(&support::finished(&id, USER), "duplicate")
        .await;
    assert_eq!(app.order(&id, USER).await["state"], "completed");
}

#[tokio::test]
async fn timeouts_cancel_open_orders() {
    let (app, _) = app().await;
    let id = unique("o");
    app.ingest_ok(&support::started(&id, USER, "t1"), "applied")
        .await;
    app.ingest_ok(
        &support::timed_out(&id, USER, "Customer timedout"),
        "applied",
    )
    .await;
    let order = app.order(&id, USER).await;
    assert_eq!(order["state"], "cancelled");
    assert_eq!(order["cancel_reason"], "customer_timeout");
    app.ingest_ok(
        &support::timed_out(&id, USER, "Customer timedout"),
        "duplicate",
    )
    .await;
    // The customer can no longer submit: the workflow's wait is over.
    let (status, body) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["code"], "order_expired");
}

#[tokio::test]
async fn workflow_end_closes_an_open_order() {
    let (app, _) = app().await;
    let id = unique("o");
    app.ingest_ok(&support::started(&id, USER, "t1"), "applied")
        .await;
    app.ingest_ok(&support::finished(&id, USER), "applied")
        .await;
    let order = app.order(&id, USER).await;
    assert_eq!(order["state"], "cancelled");
    assert_eq!(order["cancel_reason"], "workflow_ended");
}

#[tokio::test]
async fn a_second_execution_for_an_order_is_failed_not_overwritten() {
    let (app, calls) = app().await;
    let id = unique("o");
    app.ingest_ok(&support::started(&id, USER, "t-first"), "applied")
        .await;
    let mut second = support::started(&id, "someone-else", "t-second");
    second["resources"][1] = json!(format!("{EXECUTION_PREFIX}other-execution"));
    app.ingest_ok(&second, "stale").await;
    let failures = eventually("the second execution failed", || async {
        let f = calls.failures();
        (!f.is_empty()).then_some(f)
    })
    .await;
    assert_eq!(
        failures,
        vec![("t-second".to_string(), "DuplicateOrder".to_string())]
    );
    let order = app.order(&id, USER).await;
    assert_eq!(
        order["user_id"], USER,
        "the first execution keeps the order"
    );
    // The first execution's token still works.
    let (status, _) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls.successes()[0].0, "t-first");
    // A timeout from the other execution is ignored.
    let mut other_timeout = support::timed_out(&id, USER, "Customer timedout");
    other_timeout["resources"][1] = json!(format!("{EXECUTION_PREFIX}other-execution"));
    app.ingest_ok(&other_timeout, "ignored").await;
    assert_eq!(app.order(&id, USER).await["state"], "submitted");
}

#[tokio::test]
async fn unknown_detail_types_are_ignored() {
    let (app, _) = app().await;
    let mut ev = support::started(&unique("o"), USER, "t");
    ev["detail-type"] = json!("Validator.NewOrder");
    let (status, body) = app.ingest(&ev).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"outcome": "ignored", "order_id": null}));
}

#[tokio::test]
async fn events_without_an_event_id_use_the_default() {
    let (app, _) = app().await;
    let id = unique("o");
    let mut ev = support::started(&id, USER, "t");
    ev["detail"].as_object_mut().unwrap().remove("eventId");
    app.ingest_ok(&ev, "applied").await;
    assert_eq!(app.order(&id, USER).await["event_id"], "default");
}

#[tokio::test]
async fn permanently_bad_events_are_4xx_and_write_nothing() {
    let (app, _) = app().await;
    let id = unique("o");
    let token = "SECRET-TOKEN-VALUE";
    let base = support::started(&id, USER, token);
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut e = base.clone();
    e["detail"].as_object_mut().unwrap().remove("orderId");
    cases.push((e, "invalid_event"));
    let mut e = base.clone();
    e["detail"].as_object_mut().unwrap().remove("TaskToken");
    cases.push((e, "invalid_event"));
    let mut e = base.clone();
    e["detail"]["TaskToken"] = json!(12345);
    cases.push((e, "invalid_event"));
    let mut e = base.clone();
    e["detail"]["orderId"] = json!("has spaces");
    cases.push((e, "invalid_event"));
    let mut e = base.clone();
    e["detail"]["userId"] = json!("");
    cases.push((e, "invalid_event"));
    let mut e = base.clone();
    e["detail"] = json!("not an object");
    cases.push((e, "invalid_event"));
    let mut e = base.clone();
    e.as_object_mut().unwrap().remove("detail-type");
    cases.push((e, "invalid_body"));
    let mut e = support::waiting(&id, USER, token, "x");
    e["detail"]["orderNumber"] = json!("not-a-number");
    cases.push((e, "invalid_event"));
    for (ev, code) in cases {
        let (status, body) = app.ingest(&ev).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert!(
            !body.to_string().contains(token),
            "no token in errors: {body}"
        );
    }
    let res = app
        .http
        .post(app.url("/v1/events"))
        .header("x-api-key", INGEST_KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let mut big = base.clone();
    big["detail"]["Message"] = json!("x".repeat(300 * 1024));
    let (status, body) = app.ingest(&big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, _) = app
        .get(&format!("/v1/orders/{id}"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was written");
}
