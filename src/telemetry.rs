//! Metrics: their names and labels in one place, recorded through the `metrics` facade (as
//! logs go through `tracing`), and exported in the Prometheus text format at `GET /metrics`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `http_request_duration_seconds` | histogram | `method`, `route` (the route template), `status` |
//! | `ingest_events_total` | counter | `outcome`: applied, duplicate, stale, ignored, invalid |
//! | `callbacks_total` | counter | `outcome`: delivered, rejected, retry, unknown |
//! | `notices_total` | counter | `outcome`: published, dropped, retry |
//! | `store_errors_total` | counter | `kind`: unavailable, internal |
//! | `outbox_pending` | gauge | `outbox`: callbacks, notices |
//! | `outbox_oldest_due_seconds` | gauge | `outbox`: how long the earliest pending entry has been due (0 if none is) |
//! | `sqlite_commit_writes` | histogram | `database` (file name): writes that shared one SQLite commit (group commit) |
//! | `orders_served_total` | counter | `event_id`, `drink`: orders completed, by drink name |
//! | `order_wait_seconds` | histogram | `event_id`: from a drink's submission to its completion |
//! | `sqlite_commit_seconds` | histogram | `database`: how long the writer took over one transaction, from `BEGIN` to `COMMIT` done (what every write in it waited on top of its queueing) |

use std::sync::OnceLock;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::order::now;
use crate::domain::ports::{OutboxDepth, OutboxStats, StoreError};

const HTTP_DURATION: &str = "http_request_duration_seconds";
const INGEST: &str = "ingest_events_total";
const CALLBACKS: &str = "callbacks_total";
const NOTICES: &str = "notices_total";
const STORE_ERRORS: &str = "store_errors_total";
const OUTBOX_PENDING: &str = "outbox_pending";
const OUTBOX_DUE: &str = "outbox_oldest_due_seconds";
const COMMIT_WRITES: &str = "sqlite_commit_writes";
const COMMIT_DURATION: &str = "sqlite_commit_seconds";
const SERVED: &str = "orders_served_total";
const WAIT: &str = "order_wait_seconds";

/// Wait buckets, in seconds: from half a minute to an hour.
const WAIT_BUCKETS: [f64; 10] = [
    30.0, 60.0, 120.0, 180.0, 300.0, 450.0, 600.0, 900.0, 1800.0, 3600.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Latency buckets, in seconds: fine below 10 ms, where this service should answer.
const BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Writes per SQLite commit: powers of two up to the writer's batch limit.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process's Prometheus recorder, installed on first use. `None` when another recorder
/// was installed first (an embedding program's): metrics then go there.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full(COMMIT_WRITES.into()), &BATCH_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full(COMMIT_DURATION.into()), &BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full(WAIT.into()), &WAIT_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            // Histogram samples are kept until upkeep folds them into their buckets: without
            // it, memory grows with every request between two scrapes.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP requests by method, route template and status"
    );
    describe_counter!(INGEST, "workflow events received, by outcome");
    describe_counter!(CALLBACKS, "attempts at workflow callbacks, by outcome");
    describe_counter!(
        NOTICES,
        "attempts at publishing OrderManager notices, by outcome"
    );
    describe_counter!(STORE_ERRORS, "failed calls to the order store, by kind");
    describe_counter!(SERVED, "orders completed, by coffee event and drink");
    describe_histogram!(
        WAIT,
        metrics::Unit::Seconds,
        "how long customers waited, from the drink's submission to the completion"
    );
    describe_histogram!(
        COMMIT_WRITES,
        "writes that shared one SQLite commit (group commit), by database file"
    );
    describe_histogram!(
        COMMIT_DURATION,
        metrics::Unit::Seconds,
        "time the SQLite writer spent on one transaction, BEGIN to COMMIT, by database file"
    );
    describe_gauge!(OUTBOX_PENDING, "outbox entries not finished yet");
    describe_gauge!(
        OUTBOX_DUE,
        metrics::Unit::Seconds,
        "how long the earliest pending outbox entry has been due"
    );
}

pub fn http_request(method: &str, route: &str, status: u16, seconds: f64) {
    histogram!(HTTP_DURATION, "method" => method.to_string(), "route" => route.to_string(), "status" => status.to_string())
        .record(seconds);
}

pub fn ingest_event(outcome: &'static str) {
    counter!(INGEST, "outcome" => outcome).increment(1);
}

pub fn callback(outcome: &'static str) {
    counter!(CALLBACKS, "outcome" => outcome).increment(1);
}

pub fn notice(outcome: &'static str) {
    counter!(NOTICES, "outcome" => outcome).increment(1);
}

/// Counts a failed store call; conflicts and duplicates are answers, not failures.
pub fn store_error(e: &StoreError) {
    let kind = match e {
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Internal(_) => "internal",
        StoreError::Conflict | StoreError::DuplicateEvent => return,
    };
    counter!(STORE_ERRORS, "kind" => kind).increment(1);
}

/// One SQLite commit of `writes` writes to the database file `database`, which took
/// `seconds` from `BEGIN` to the end of `COMMIT`.
pub fn sqlite_commit(database: &str, writes: usize, seconds: f64) {
    histogram!(COMMIT_WRITES, "database" => database.to_string()).record(writes as f64);
    histogram!(COMMIT_DURATION, "database" => database.to_string()).record(seconds);
}

pub fn outbox(stats: &OutboxStats) {
    let at = now();
    for (name, depth) in [("callbacks", stats.callbacks), ("notices", stats.notices)] {
        let OutboxDepth { pending, next_due } = depth;
        gauge!(OUTBOX_PENDING, "outbox" => name).set(pending as f64);
        let overdue = next_due
            .map(|due| (at - due).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        gauge!(OUTBOX_DUE, "outbox" => name).set(overdue);
    }
}

/// An order completed (by this process): what it served, and how long its customer waited.
pub fn served(event: &str, served: &crate::domain::stats::Served) {
    counter!(SERVED, "event_id" => event.to_string(), "drink" => served.drink.clone()).increment(1);
    if let Some(wait) = served.wait {
        histogram!(WAIT, "event_id" => event.to_string()).record(wait.as_secs_f64());
    }
}
