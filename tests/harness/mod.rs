//! Shared by the fault and crash tests (`tests/faults.rs`, `tests/crash.rs`): the real binary
//! as a child process ([`service`]), a fake Step Functions endpoint ([`fake_sfn`]), and
//! EventBridge envelopes built from `tests/fixtures`.
#![allow(dead_code)] // each test crate uses a different part

pub mod fake_sfn;
pub mod service;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const EXECUTION_PREFIX: &str =
    "arn:aws:states:us-east-1:123456789012:execution:OrderProcessorWorkflow:";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A unique id (per test process and run).
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

/// `OrderProcessor.WorkflowStarted` with token #1.
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

/// Token #1 and token #2 of an order, recognisable in the fake's records.
pub fn token1(order_id: &str) -> String {
    format!("t1-{order_id}")
}

pub fn token2(order_id: &str) -> String {
    format!("t2-{order_id}")
}

/// Polls `check` every 50 ms until it holds; panics with `what` after `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
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
