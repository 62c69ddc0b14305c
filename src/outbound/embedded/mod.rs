//! The embedded order processor (`OM_WORKFLOW=embedded`): an in-process stand-in for the
//! OrderProcessor state machine and the EventBridge rules around it, so the whole flow runs
//! on one machine with no AWS.
//!
//! It has the workflow's semantics: a started order waits for its drink (token #1, customer
//! timeout), then gets the next order number of its coffee event and waits for the barista
//! (token #2, barista timeout); a timeout emits `OrderTimeOut` with the original causes, and
//! every execution ends with `orderFinished`. Tokens are opaque and single-use: a used or
//! expired token is refused the way Step Functions refuses it (`TaskTimedOut`).
//!
//! Its state lives in its own SQLite file, so executions, deadlines and undelivered events
//! survive a restart. Events are delivered to the ingest logic through [`EventSink`], in
//! order and at least once, like an API destination.

mod emission;
mod executions;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::domain::events::WorkflowEvent;
use crate::domain::ids::{EnvelopeId, EventId, OrderId, TaskToken, UserId};
use crate::domain::order::now;
use crate::domain::ports::{CallbackError, StartError, StoreError, Workflow};
use crate::domain::shop::ShopSettings;
use crate::outbound::database::{SqliteOptions, sqlite_error as map_err};
use sqlite_engine::{Database, Migration};

const MIGRATIONS: &[Migration] = &[
    (
        "0001_executions",
        include_str!("../../../migrations/processor/0001_executions.sql"),
    ),
    (
        "0002_tokens_led_by_order",
        include_str!("../../../migrations/processor/0002_tokens_led_by_order.sql"),
    ),
    (
        "0003_running_executions",
        include_str!("../../../migrations/processor/0003_running_executions.sql"),
    ),
];

/// Where the processor's events go: the service's ingest logic.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Delivers one event; an error means "try again later".
    async fn deliver(&self, envelope: &EnvelopeId, event: &WorkflowEvent) -> Result<(), String>;
}

/// The waits' time limits.
#[derive(Debug, Clone, Copy)]
pub struct ProcessorConfig {
    /// How long an order waits for the customer's drink (the workflow's 5 minutes).
    pub customer_timeout: Duration,
    /// How long a queued order waits for the barista (the workflow's 15 minutes).
    pub barista_timeout: Duration,
    /// How its database is written (`OM_SQLITE_SYNC`, `OM_SQLITE_WAL_APPENDS`, as the order
    /// store's).
    pub sqlite: SqliteOptions,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            customer_timeout: Duration::from_secs(300),
            barista_timeout: Duration::from_secs(900),
            sqlite: SqliteOptions::default(),
        }
    }
}

pub struct EmbeddedProcessor {
    /// Its database. The events to deliver are read beside the writer (not in its queue):
    /// the run loop is its only reader, so one idle read connection.
    db: Database,
    cfg: ProcessorConfig,
    /// Wakes the run loop when there is something to deliver.
    wake: Notify,
    delivery: Mutex<Delivery>,
}

/// Where delivery stands.
#[derive(Default)]
struct Delivery {
    /// Events delivered and not yet deleted: the run loop's next periodic write deletes them
    /// (a redelivery after a crash meanwhile is answered `duplicate`).
    delivered: Vec<i64>,
    /// The next read starts after this event (a sequence number): every event up to it was
    /// delivered, or is in `delivered`.
    read_up_to: i64,
    /// A delivery failed: the next round deletes what was delivered and reads from the
    /// oldest pending event, so that the failed order's events go again, in order.
    retry: bool,
}

/// The page cache of the processor's writer: 512 KiB (negative: KiB, SQLite's convention).
const PAGE_CACHE_KIB: i64 = -512;

/// The longest the run loop sleeps (it also wakes for new events), and how often it looks
/// for waits that timed out.
const TICK: Duration = Duration::from_millis(200);
/// The most events one round of the run loop delivers.
const DELIVERY_BATCH: usize = 50;

impl EmbeddedProcessor {
    /// Opens (creating if needed) the processor's database at `path`.
    pub fn open(path: &Path, cfg: ProcessorConfig) -> Result<Arc<EmbeddedProcessor>, StoreError> {
        let (db, ()) = Database::open(path, MIGRATIONS, cfg.sqlite.engine(1), |conn| {
            // A small page cache: every key it writes grows at one end (time-ordered ids and
            // tokens, sequence numbers), so the pages it rewrites are few. SQLite's default of
            // 2 MiB was resident for nothing (the flow at 128 connections: peak 51 -> 46 MB).
            conn.pragma_update(None, "cache_size", PAGE_CACHE_KIB)
                .map_err(map_err)
        })?;
        Ok(Arc::new(EmbeddedProcessor {
            db,
            cfg,
            wake: Notify::new(),
            delivery: Mutex::new(Delivery::default()),
        }))
    }

    /// Runs the processor: fires timeouts and delivers events to `sink`, until dropped.
    pub async fn run(self: Arc<Self>, sink: Arc<dyn EventSink>) {
        let mut failures: u32 = 0;
        let mut timeouts_checked: Option<Instant> = None;
        loop {
            if timeouts_checked.is_none_or(|at| at.elapsed() >= TICK) {
                timeouts_checked = Some(Instant::now());
                match self
                    .forget_delivered(|conn| executions::fire_timeouts(conn, now()))
                    .await
                {
                    Ok(0) => {}
                    Ok(timed_out) => tracing::info!(timed_out, "order processor waits timed out"),
                    Err(e) => tracing::warn!(error = %e, "processor could not fire timeouts"),
                }
            }
            match self.deliver_pending(sink.as_ref()).await {
                Ok(0) => failures = 0,
                Ok(_) => {
                    failures = 0;
                    continue;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = TICK.saturating_mul(1 << failures.min(5));
                    tracing::warn!(error = %e, retry_in = ?delay, "processor could not deliver an event");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// Deletes the events delivered so far, in one write with `also`.
    async fn forget_delivered<R: Send + 'static>(
        &self,
        also: impl FnOnce(&rusqlite::Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let forget = std::mem::take(&mut self.delivery.lock().expect("never poisoned").delivered);
        let deleted = forget.clone();
        let done = self
            .db
            .write(move |conn| {
                deleted
                    .iter()
                    .try_for_each(|seq| emission::mark_delivered(conn, *seq))?;
                also(conn)
            })
            .await;
        if done.is_err() {
            let mut delivery = self.delivery.lock().expect("never poisoned");
            delivery.delivered.extend(forget);
        }
        done
    }

    /// Delivers pending events: each order's in order, stopping at its first failure (order
    /// matters), different orders side by side (so that their writes share commits).
    ///
    /// The events are read beside the writer, after the last one read: a round waits for no
    /// write (reading them in a write, which also deleted the last round's, put every round
    /// behind the processor's queue of writes; a started order waited for two rounds of
    /// that). What was delivered is deleted by the run loop's periodic write; after a
    /// failure, the next round deletes it first and reads from the oldest pending event.
    async fn deliver_pending(&self, sink: &dyn EventSink) -> Result<usize, String> {
        let (read_up_to, retry) = {
            let delivery = self.delivery.lock().expect("never poisoned");
            (delivery.read_up_to, delivery.retry)
        };
        let after = if retry {
            self.forget_delivered(|_| Ok(()))
                .await
                .map_err(|e| e.to_string())?;
            0
        } else {
            read_up_to
        };
        let pending = self
            .db
            .read(|conn| emission::pending(conn, after, DELIVERY_BATCH))
            .map_err(|e| e.to_string())?;
        let last_read = pending.last().map_or(after, |(seq, _, _)| *seq);
        let mut by_order: Vec<Vec<(i64, EnvelopeId, WorkflowEvent)>> = Vec::new();
        for (seq, envelope, emission) in pending {
            let event = emission
                .to_event()
                .map_err(|e| format!("stored event unreadable: {e}"))?;
            match by_order
                .iter_mut()
                .find(|chain| chain[0].2.order_id() == event.order_id())
            {
                Some(chain) => chain.push((seq, envelope, event)),
                None => by_order.push(vec![(seq, envelope, event)]),
            }
        }
        let chains = by_order.iter().map(|chain| async move {
            let mut delivered = Vec::new();
            for (seq, envelope, event) in chain {
                if let Err(e) = sink.deliver(envelope, event).await {
                    return (delivered, Some(e));
                }
                delivered.push(*seq);
            }
            (delivered, None)
        });
        let mut delivered = Vec::new();
        let mut failure = None;
        for (seqs, error) in futures_util::future::join_all(chains).await {
            delivered.extend(seqs);
            failure = failure.or(error);
        }
        let count = delivered.len();
        let mut delivery = self.delivery.lock().expect("never poisoned");
        delivery.delivered.extend(delivered);
        delivery.read_up_to = last_read;
        delivery.retry = failure.is_some();
        match failure {
            Some(e) => Err(e),
            None => Ok(count),
        }
    }

    /// Runs a state change of the processor's and wakes the run loop to deliver its events.
    async fn change<R: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let r = self.db.write(f).await?;
        self.wake.notify_one();
        Ok(r)
    }
}

fn store_down(e: StoreError) -> CallbackError {
    CallbackError::Unavailable(format!("the order processor's store: {e}"))
}

#[async_trait]
impl Workflow for EmbeddedProcessor {
    async fn start(
        &self,
        order: &OrderId,
        user: &UserId,
        event: &EventId,
        shop: &ShopSettings,
    ) -> Result<(), StartError> {
        let (order, user, event, shop) = (order.clone(), user.clone(), event.clone(), *shop);
        let deadline = now() + self.cfg.customer_timeout;
        let start = move |conn: &_| executions::start(conn, &order, &user, &event, &shop, deadline);
        self.change(start)
            .await
            .map_err(|e| StartError::Unavailable(e.to_string()))?
    }

    /// The processor counts the customer's running executions in the start's transaction.
    fn checks_customer_limit(&self) -> bool {
        true
    }

    async fn resume(
        &self,
        token: &TaskToken,
        output: &serde_json::Value,
    ) -> Result<(), CallbackError> {
        let (token, output) = (token.clone(), output.clone());
        let barista_deadline = now() + self.cfg.barista_timeout;
        self.change(move |conn| executions::resume(conn, &token, &output, barista_deadline))
            .await
            .map_err(store_down)?
    }

    async fn fail(&self, token: &TaskToken, error: &str, cause: &str) -> Result<(), CallbackError> {
        let token = token.clone();
        let failure = serde_json::json!({"error": error, "cause": cause});
        self.change(move |conn| executions::fail(conn, &token, &failure))
            .await
            .map_err(store_down)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::shop::MAX_LIMIT;

    /// A shop that takes every start.
    const UNLIMITED: ShopSettings = ShopSettings {
        open: true,
        max_orders_in_queue: MAX_LIMIT,
        max_orders_per_user: MAX_LIMIT,
    };

    /// Collects what the processor delivers.
    #[derive(Default)]
    struct Collect(Mutex<Vec<(EnvelopeId, WorkflowEvent)>>);

    #[async_trait]
    impl EventSink for Collect {
        async fn deliver(&self, e: &EnvelopeId, ev: &WorkflowEvent) -> Result<(), String> {
            self.0.lock().unwrap().push((e.clone(), ev.clone()));
            Ok(())
        }
    }

    fn ids() -> (OrderId, UserId, EventId) {
        (
            OrderId::parse("o-1").unwrap(),
            UserId::parse("alice").unwrap(),
            EventId::parse("NYC").unwrap(),
        )
    }

    async fn drain(p: &EmbeddedProcessor, sink: &Collect) -> Vec<WorkflowEvent> {
        p.deliver_pending(sink).await.unwrap();
        sink.0.lock().unwrap().drain(..).map(|(_, e)| e).collect()
    }

    /// A processor with the default time limits, on a file in a temporary directory (kept as
    /// long as the returned guard).
    fn processor() -> (tempfile::TempDir, Arc<EmbeddedProcessor>) {
        let dir = tempfile::tempdir().unwrap();
        let p =
            EmbeddedProcessor::open(&dir.path().join("p.db"), ProcessorConfig::default()).unwrap();
        (dir, p)
    }

    fn token_of(e: &WorkflowEvent) -> TaskToken {
        match e {
            WorkflowEvent::Started { token, .. }
            | WorkflowEvent::WaitingCompletion { token, .. } => token.clone(),
            other => panic!("no token in {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_execution_runs_both_waits_and_tokens_are_single_use() {
        let (_dir, p) = processor();
        let sink = Collect::default();
        let (o, u, e) = ids();
        p.start(&o, &u, &e, &UNLIMITED).await.unwrap();
        p.start(&o, &u, &e, &UNLIMITED).await.unwrap();
        let started = drain(&p, &sink).await;
        assert_eq!(started.len(), 1, "starting twice is one execution");
        let t1 = token_of(&started[0]);

        p.resume(&t1, &serde_json::json!({"drink": "Latte"}))
            .await
            .unwrap();
        let waiting = drain(&p, &sink).await;
        let WorkflowEvent::WaitingCompletion { order_number, .. } = &waiting[0] else {
            panic!("expected WaitingCompletion, got {waiting:?}");
        };
        assert_eq!(order_number.get(), 1);
        assert!(matches!(
            p.resume(&t1, &serde_json::json!({})).await,
            Err(CallbackError::Rejected(m)) if m.starts_with("TaskTimedOut")
        ));
        let t2 = token_of(&waiting[0]);
        p.resume(&t2, &serde_json::json!({"outcome": "completed"}))
            .await
            .unwrap();
        let finished = drain(&p, &sink).await;
        assert!(matches!(finished[..], [WorkflowEvent::Finished { .. }]));
        assert!(p.fail(&t2, "x", "y").await.is_err());
        assert_eq!(
            p.start(&o, &UserId::parse("mallory").unwrap(), &e, &UNLIMITED)
                .await,
            Err(StartError::AlreadyExists)
        );
    }

    /// Refuses every event of one order; collects the others.
    struct RefuseOrder(OrderId, Collect);

    #[async_trait]
    impl EventSink for RefuseOrder {
        async fn deliver(&self, e: &EnvelopeId, ev: &WorkflowEvent) -> Result<(), String> {
            if ev.order_id() == &self.0 {
                return Err("down for this order".into());
            }
            self.1.deliver(e, ev).await
        }
    }

    #[tokio::test]
    async fn one_order_failing_holds_back_only_its_own_events_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ProcessorConfig {
            customer_timeout: Duration::from_millis(1),
            barista_timeout: Duration::from_secs(900),
            sqlite: SqliteOptions::default(),
        };
        let p = EmbeddedProcessor::open(&dir.path().join("p.db"), cfg).unwrap();
        let (user, event) = (
            UserId::parse("alice").unwrap(),
            EventId::parse("NYC").unwrap(),
        );
        let (a, b) = (OrderId::parse("a").unwrap(), OrderId::parse("b").unwrap());
        // `a` started and timed out (several events pending), then `b` started.
        p.start(&a, &user, &event, &UNLIMITED).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let fired =
            p.db.write(|conn| executions::fire_timeouts(conn, now()))
                .await
                .unwrap();
        assert_eq!(fired, 1);
        p.start(&b, &user, &event, &UNLIMITED).await.unwrap();

        let refusing = RefuseOrder(a.clone(), Collect::default());
        assert!(
            p.deliver_pending(&refusing).await.is_err(),
            "a's failure is reported"
        );
        let got: Vec<_> = refusing
            .1
            .0
            .lock()
            .unwrap()
            .drain(..)
            .map(|(_, e)| e)
            .collect();
        assert!(
            matches!(&got[..], [WorkflowEvent::Started { order_id, .. }] if order_id == &b),
            "only b went: {got:?}"
        );
        // `a`'s events stayed, and go in order once they can.
        let sink = Collect::default();
        let rest = drain(&p, &sink).await;
        assert!(rest.len() >= 2, "{rest:?}");
        assert!(rest.iter().all(|e| e.order_id() == &a), "{rest:?}");
        assert!(matches!(rest[0], WorkflowEvent::Started { .. }), "{rest:?}");
        assert!(
            matches!(rest[1], WorkflowEvent::TimedOut { .. }),
            "{rest:?}"
        );
        assert!(drain(&p, &sink).await.is_empty(), "each event once");
    }

    /// A delivered event stays in the outbox (not delivered again) until the run loop's
    /// periodic write deletes it.
    #[tokio::test]
    async fn delivered_events_are_deleted_by_the_periodic_write() {
        let (_dir, p) = processor();
        let sink = Collect::default();
        let (o, u, e) = ids();
        p.start(&o, &u, &e, &UNLIMITED).await.unwrap();
        assert_eq!(drain(&p, &sink).await.len(), 1);
        let stored = || {
            p.db.write(|conn| {
                conn.query_row("SELECT count(*) FROM emissions", [], |r| r.get::<_, i64>(0))
                    .map_err(map_err)
            })
        };
        assert_eq!(stored().await.unwrap(), 1);
        assert!(drain(&p, &sink).await.is_empty(), "delivered once");
        p.forget_delivered(|conn| executions::fire_timeouts(conn, now()))
            .await
            .unwrap();
        assert_eq!(stored().await.unwrap(), 0);
        assert!(drain(&p, &sink).await.is_empty());
    }

    #[tokio::test]
    async fn order_numbers_count_per_event() {
        let (_dir, p) = processor();
        let sink = Collect::default();
        let user = UserId::parse("alice").unwrap();
        let mut numbers = Vec::new();
        for (order, event) in [("a", "NYC"), ("b", "NYC"), ("c", "LDN")] {
            let (o, e) = (
                OrderId::parse(order).unwrap(),
                EventId::parse(event).unwrap(),
            );
            p.start(&o, &user, &e, &UNLIMITED).await.unwrap();
            let t1 = token_of(&drain(&p, &sink).await[0]);
            p.resume(&t1, &serde_json::json!({})).await.unwrap();
            match &drain(&p, &sink).await[0] {
                WorkflowEvent::WaitingCompletion { order_number, .. } => {
                    numbers.push(order_number.get())
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(numbers, vec![1, 2, 1]);
    }

    #[tokio::test]
    async fn waits_time_out_with_the_workflow_causes_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let cfg = ProcessorConfig {
            customer_timeout: Duration::from_millis(1),
            barista_timeout: Duration::from_secs(900),
            sqlite: SqliteOptions::default(),
        };
        let (o, u, e) = ids();
        {
            let p = EmbeddedProcessor::open(&path, cfg).unwrap();
            p.start(&o, &u, &e, &UNLIMITED).await.unwrap();
        }
        // A new process on the same file: the undelivered start and the deadline are there.
        let p = EmbeddedProcessor::open(&path, cfg).unwrap();
        let sink = Collect::default();
        let started = drain(&p, &sink).await;
        let t1 = token_of(&started[0]);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let fired =
            p.db.write(|conn| executions::fire_timeouts(conn, now()))
                .await
                .unwrap();
        assert_eq!(fired, 1);
        let events = drain(&p, &sink).await;
        assert!(matches!(
            events[..],
            [
                WorkflowEvent::TimedOut { .. },
                WorkflowEvent::Finished { .. }
            ]
        ));
        assert!(
            p.resume(&t1, &serde_json::json!({})).await.is_err(),
            "a timed-out token is dead"
        );
    }
}
