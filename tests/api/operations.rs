//! Running it: graceful shutdown (in-flight requests, owed callbacks, the grace period) and
//! `GET /metrics`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use order_manager::domain::ids::{EventId, OrderId, TaskToken, UserId};
use order_manager::domain::ports::{CallbackError, StartError, Workflow};
use order_manager::domain::shop::ShopSettings;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{self, EXECUTION_PREFIX, TestApp, latte, sfn, unique};

/// A workflow whose every callback takes `delay`, recording `(token, what)` once done.
#[derive(Clone)]
struct SlowWorkflow {
    delay: Duration,
    done: Arc<Mutex<Vec<(String, String)>>>,
}

impl SlowWorkflow {
    fn new(delay: Duration) -> SlowWorkflow {
        SlowWorkflow {
            delay,
            done: Arc::default(),
        }
    }

    fn done(&self) -> Vec<(String, String)> {
        self.done.lock().unwrap().clone()
    }

    async fn call(&self, token: &TaskToken, what: &str) -> Result<(), CallbackError> {
        tokio::time::sleep(self.delay).await;
        self.done
            .lock()
            .unwrap()
            .push((token.expose().to_string(), what.to_string()));
        Ok(())
    }
}

#[async_trait]
impl Workflow for SlowWorkflow {
    async fn start(
        &self,
        _: &OrderId,
        _: &UserId,
        _: &EventId,
        _: &ShopSettings,
    ) -> Result<(), StartError> {
        Err(StartError::Unavailable("not in these tests".into()))
    }

    async fn resume(&self, token: &TaskToken, _: &serde_json::Value) -> Result<(), CallbackError> {
        self.call(token, "success").await
    }

    async fn fail(&self, token: &TaskToken, error: &str, _: &str) -> Result<(), CallbackError> {
        self.call(token, error).await
    }
}

/// Submits a drink for a new order of alice in the background; the handle answers the status.
async fn submit_in_background(app: &TestApp, token: &str) -> tokio::task::JoinHandle<Option<u16>> {
    let id = unique("o");
    app.ingest_ok(&support::started(&id, "alice", token), "applied")
        .await;
    let req = app
        .http
        .put(app.url(&format!("/v1/orders/{id}/drink")))
        .bearer_auth(app.customer("alice"))
        .json(&latte());
    tokio::spawn(async move { req.send().await.ok().map(|r| r.status().as_u16()) })
}

#[tokio::test]
async fn a_shutdown_lets_in_flight_requests_finish() {
    let workflow = SlowWorkflow::new(Duration::from_millis(600));
    let app = TestApp::spawn(Arc::new(workflow.clone())).await;
    let addr = app.addr;
    let submitting = submit_in_background(&app, "t-in-flight").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.stop().await;
    assert_eq!(
        submitting.await.unwrap(),
        Some(200),
        "the request in flight was answered"
    );
    assert_eq!(
        workflow.done(),
        vec![("t-in-flight".to_string(), "success".to_string())]
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting connections"
    );
}

#[tokio::test]
async fn the_grace_period_bounds_a_shutdown() {
    let workflow = SlowWorkflow::new(Duration::from_secs(60));
    let app = TestApp::spawn_with(Arc::new(workflow), |s| {
        s.shutdown_grace = Duration::from_millis(300);
    })
    .await;
    let submitting = submit_in_background(&app, "t-stuck").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let began = Instant::now();
    app.stop().await;
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        began.elapsed()
    );
    // The process exits here (in this test the runtime lives on, and with it the request);
    // the submission is in the store, and its callback in the outbox for the next start.
    submitting.abort();
}

#[tokio::test]
async fn a_shutdown_delivers_the_callbacks_it_owes() {
    let workflow = SlowWorkflow::new(Duration::from_millis(400));
    let app = TestApp::spawn(Arc::new(workflow.clone())).await;
    // A second execution for an existing order is failed off the ingest's path.
    let id = unique("o");
    app.ingest_ok(&support::started(&id, "alice", "t-first"), "applied")
        .await;
    let mut second = support::started(&id, "alice", "t-second");
    second["resources"][1] = json!(format!("{EXECUTION_PREFIX}other-execution"));
    app.ingest_ok(&second, "stale").await;
    // The callback is still on its way (400 ms): the shutdown waits for it.
    app.stop().await;
    assert_eq!(
        workflow.done(),
        vec![("t-second".to_string(), "DuplicateOrder".to_string())]
    );
}

#[tokio::test]
async fn a_request_that_takes_too_long_answers_503_and_can_be_retried() {
    let workflow = SlowWorkflow::new(Duration::from_secs(2));
    let app = TestApp::spawn_with(Arc::new(workflow), |s| {
        s.request_timeout = Duration::from_millis(200);
    })
    .await;
    let id = unique("o");
    app.ingest_ok(&support::started(&id, "alice", "t-slow"), "applied")
        .await;
    let began = Instant::now();
    let res = app.submit_raw(&id, "alice", &latte()).await;
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "request_timeout");
}

#[tokio::test]
async fn metrics_show_requests_by_route_ingest_outcomes_callbacks_and_the_outbox() {
    let (workflow, _) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let id = unique("o");
    app.ingest_ok(&support::started(&id, "alice", "t-metrics"), "applied")
        .await;
    let mut bad = support::started(&unique("o"), "alice", "t");
    bad["detail"]["orderId"] = json!("not a valid id!");
    assert_eq!(app.ingest(&bad).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.submit(&id, &app.customer("alice"), latte()).await;
    assert_eq!(status, StatusCode::OK);
    app.order(&id, "alice").await;

    let res = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.unwrap();
    // The metrics are process-wide and tests run side by side: look for series, not counts.
    let mut wanted = vec![
        r#"http_request_duration_seconds_bucket{method="GET",route="/v1/orders/{order_id}",status="200",le="0.01"}"#,
        r#"http_request_duration_seconds_count{method="PUT",route="/v1/orders/{order_id}/drink",status="200"}"#,
        r#"http_request_duration_seconds_count{method="POST",route="/v1/events",status="422"}"#,
        r#"ingest_events_total{outcome="applied"}"#,
        r#"ingest_events_total{outcome="invalid"}"#,
        r#"callbacks_total{outcome="delivered"}"#,
        r#"outbox_pending{outbox="callbacks"}"#,
        r#"outbox_pending{outbox="notices"}"#,
        r#"outbox_oldest_due_seconds{outbox="callbacks"}"#,
    ];
    if std::env::var("OM_TEST_STORE").as_deref() != Ok("dynamodb") {
        // This test's own SQLite store committed its writes.
        wanted.push(r#"sqlite_commit_writes_count{database="orders.db"}"#);
        wanted.push(r#"sqlite_commit_seconds_count{database="orders.db"}"#);
    }
    for series in wanted {
        let line = text
            .lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        if series.contains("_total") || series.contains("_count") || series.contains("_bucket") {
            assert!(value >= 1.0, "{line}");
        }
    }
    // Route templates, not raw paths: an order id never becomes a label.
    assert!(!text.contains(&id), "no order id in the metrics");
}
