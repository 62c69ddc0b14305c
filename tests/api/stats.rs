//! `GET /v1/stats`: the queue, what was served today and how long customers waited, kept in
//! step with the writes; the same counts and waits in `/metrics`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, sfn};

const USER: &str = "8c4d0e3f-2a1b-4c5d-8e9f-7a6b5c4d3e2f";

async fn stats(app: &TestApp, token: &str) -> Value {
    let (status, body) = app.get("/v1/stats?event_id=NYC", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn completions_count_and_their_waits_are_the_stats() {
    let (workflow, _calls) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let bob = app.barista("bob");
    let customer = app.customer(USER);

    let empty = stats(&app, &bob).await;
    assert_eq!(empty["queue_length"], 0, "{empty}");
    assert_eq!(empty["estimated_wait_seconds"], Value::Null, "{empty}");
    assert_eq!(empty["wait_seconds"]["samples"], 0, "{empty}");
    assert_eq!(empty["wait_seconds"]["window_seconds"], 3600, "{empty}");

    let served = app.queue_order(USER, "t1-stats-a", "t2-stats-a").await;
    let waiting = app.queue_order(USER, "t1-stats-b", "t2-stats-b").await;
    assert_eq!(stats(&app, &bob).await["queue_length"], 2);
    for action in ["claim", "complete"] {
        let (status, body) = app
            .post(&format!("/v1/orders/{served}/{action}"), &bob)
            .await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
    }

    let now = stats(&app, &bob).await;
    assert_eq!(now["event_id"], "NYC");
    assert_eq!(now["queue_length"], 1, "{now}");
    assert_eq!(now["served"], serde_json::json!({"Latte": 1}), "{now}");
    assert_eq!(now["day"], chrono::Utc::now().date_naive().to_string());
    let wait = &now["wait_seconds"];
    assert_eq!(wait["samples"], 1, "{now}");
    let average = wait["average"].as_f64().unwrap();
    assert!((0.0..60.0).contains(&average), "{now}");
    assert_eq!(wait["p90"], wait["average"]);
    assert!(now["estimated_wait_seconds"].as_f64().unwrap() >= average);

    // A customer sees the queue and the estimate, not the shop's figures.
    let mine = stats(&app, &customer).await;
    assert_eq!(mine["queue_length"], 1);
    assert!(mine["estimated_wait_seconds"].is_number(), "{mine}");
    assert!(
        mine.get("served").is_none() && mine.get("wait_seconds").is_none(),
        "{mine}"
    );

    // A repeated completion counts nothing twice; the queue empties with the last order.
    let (status, _) = app
        .post(&format!("/v1/orders/{served}/complete"), &bob)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(&format!("/v1/orders/{waiting}/cancel"), &bob)
        .await;
    assert_eq!(status, StatusCode::OK);
    let after = stats(&app, &bob).await;
    assert_eq!(after["served"], serde_json::json!({"Latte": 1}), "{after}");
    assert_eq!(after["queue_length"], 0, "{after}");

    let (status, _) = app.get("/v1/stats", "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("orders_served_total{") && l.contains("drink=\"Latte\"")),
        "{metrics}"
    );
    assert!(metrics.contains("order_wait_seconds_bucket{"), "{metrics}");
}
