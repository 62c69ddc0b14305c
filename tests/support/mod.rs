//! Test support, one module for every test binary (`mod support;`, or from `tests/api`,
//! `#[path = "../support/mod.rs"]`):
//! - [`app`]: the application in-process on port 0 ([`TestApp`]), on a fresh SQLite file or,
//!   with `OM_TEST_STORE=dynamodb`, a fresh table on moto; and moto's configuration;
//! - [`process`]: the real binary as a child process ([`process::Service`]), for crashes,
//!   signals and restarts;
//! - [`sfn`]: Step Functions through the SDK's own mocks; [`fake_sfn`]: a fake Step Functions
//!   endpoint over HTTP, for the child process; [`jwks`]: keys and tokens for the auth tests;
//! - here: what every suite builds: EventBridge envelopes from `tests/fixtures`, unique ids,
//!   the credentials the services under test accept, and polling.
// Each test binary uses a different part.
#![allow(dead_code)]

pub mod app;
pub mod fake_sfn;
pub mod jwks;
pub mod process;
pub mod sfn;

#[allow(unused_imports)] // not every test binary starts the app in-process
pub use app::{TestApp, moto_config, moto_url, moto_with_interpreter, read, test_settings};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The ingest key and the local JWT secret of every service under test.
pub const INGEST_KEY: &str = "test-ingest-key-0123456789";
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789-0123456789";
pub const EXECUTION_PREFIX: &str =
    "arn:aws:states:us-east-1:123456789012:execution:OrderProcessorWorkflow:";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A unique id for envelopes and orders (per test process and run).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{nanos:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}

fn envelope(file: &str, order_id: &str, fields: Value) -> Value {
    let mut e = fixture(file);
    e["id"] = json!(unique("env"));
    e["resources"][1] = json!(format!("{EXECUTION_PREFIX}{order_id}"));
    e["detail"]["orderId"] = json!(order_id);
    for (k, v) in fields.as_object().unwrap() {
        e["detail"][k] = v.clone();
    }
    e
}

/// `OrderProcessor.WorkflowStarted` for `order_id` of `user` at event `NYC`, with token #1.
pub fn started(order_id: &str, user: &str, token: &str) -> Value {
    envelope(
        "workflow-started.json",
        order_id,
        json!({"userId": user, "TaskToken": token}),
    )
}

/// `OrderProcessor.WaitingCompletion` with token #2 and an order number.
pub fn waiting(order_id: &str, user: &str, token: &str, number: &str) -> Value {
    envelope(
        "waiting-completion.json",
        order_id,
        json!({"userId": user, "TaskToken": token, "orderNumber": number}),
    )
}

/// `OrderProcessor.OrderTimeOut` with the given cause.
pub fn timed_out(order_id: &str, user: &str, cause: &str) -> Value {
    envelope(
        "order-timeout.json",
        order_id,
        json!({"userId": user, "cause": cause}),
    )
}

/// `OrderProcessor.orderFinished`.
pub fn finished(order_id: &str, user: &str) -> Value {
    envelope("order-finished.json", order_id, json!({"userId": user}))
}

/// A drink on the default menu.
pub fn latte() -> Value {
    json!({"drink": "Latte", "modifiers": ["Oat"]})
}

/// Token #1 and token #2 of an order, recognisable in the fake's records.
pub fn token1(order_id: &str) -> String {
    format!("t1-{order_id}")
}

pub fn token2(order_id: &str) -> String {
    format!("t2-{order_id}")
}

/// Polls `check` until it returns `Some`, for up to 10 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls `check` every 50 ms until it holds; panics with `what` and the last reason after
/// `within`.
pub async fn eventually_within<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(()) => return,
            Err(why) if Instant::now() > deadline => {
                panic!("timed out after {within:?} waiting for {what}: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// How many callbacks the outbox of the SQLite file at `db` still holds (`None` if it cannot
/// be read, e.g. after a schema change). Reads only, from a second connection (WAL).
pub fn pending_callbacks(db: &std::path::Path) -> Option<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.busy_timeout(Duration::from_secs(5)).ok()?;
    conn.query_row(
        "SELECT COUNT(*) FROM callbacks WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )
    .ok()
}
