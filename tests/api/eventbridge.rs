//! The `OrderManager.*` events through the real EventBridge adapter.
//!
//! - Against moto (the real `PutEvents` protocol): a custom bus with a rule that sends the
//!   service's events to an SQS queue; orders are driven over HTTP and the events read back
//!   from the queue, as another service on the bus would see them. Needs `OM_TEST_MOTO_URL`,
//!   like `stepfunctions_moto.rs`.
//! - Through the SDK's own mocks (`aws-smithy-mocks`), what moto never answers: a partial
//!   failure of `PutEvents` (`FailedEntryCount` > 0), retried entry by entry or dropped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::{PutEventsResultEntry, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use order_manager::domain::notices::Notice;
use order_manager::domain::ports::{EventPublisher, PublishError};
use order_manager::outbound::eventbridge::EventBridgePublisher;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::support::{self, TestApp, eventually, sfn, unique};

const USER: &str = "5d1e7f3a-9b2c-4d6e-8f0a-3b4c5d6e7f80";
const BARISTA: &str = "barista-events";
/// Upper bound for anything moto does asynchronously.
const DEADLINE: Duration = Duration::from_secs(10);
/// Several dispatcher rounds (every 50 ms) and more than the longest retry delay (200 ms).
const QUIET_PERIOD: Duration = Duration::from_millis(400);

/// Queues order A, awaits `after_first`, drives A through claim, unclaim, claim, complete and
/// cancels order B (queued meanwhile) as a barista. Returns their ids.
async fn drive_two_orders(
    app: &TestApp,
    tokens: [&str; 4],
    after_first: impl Future<Output = ()>,
) -> (String, String) {
    let a = app.queue_order(USER, tokens[0], tokens[1]).await;
    after_first.await;
    let barista = app.barista(BARISTA);
    for step in ["claim", "unclaim", "claim", "complete"] {
        let (status, body) = app.post(&format!("/v1/orders/{a}/{step}"), &barista).await;
        assert_eq!(status, StatusCode::OK, "{step}: {body}");
    }
    let b = app.queue_order(USER, tokens[2], tokens[3]).await;
    let (status, body) = app.post(&format!("/v1/orders/{b}/cancel"), &barista).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cancel_reason"], "barista", "{body}");
    (a, b)
}

/// `(detail-type, baristaUserId, state)` of the events order A owes, in order.
const ORDER_A: [(&str, &str, &str); 5] = [
    ("OrderManager.WaitingCompletion", "", "queued"),
    ("OrderManager.MakeOrder", BARISTA, "preparing"),
    ("OrderManager.MakeOrder", "", "queued"),
    ("OrderManager.MakeOrder", BARISTA, "preparing"),
    ("OrderManager.OrderCompleted", BARISTA, "completed"),
];

/// The same for order B.
const ORDER_B: [(&str, &str, &str); 2] = [
    ("OrderManager.WaitingCompletion", "", "queued"),
    // Cancelled from the queue: no barista had claimed it.
    ("OrderManager.OrderCancelled", "", "cancelled"),
];

// ---- against moto --------------------------------------------------------------------------

/// A custom bus in moto with a rule that sends events of one source to an SQS queue.
struct MotoBus {
    events: Client,
    sqs: aws_sdk_sqs::Client,
    bus: String,
    rule: String,
    queue_url: String,
    source: String,
}

impl MotoBus {
    async fn create(url: &str) -> MotoBus {
        let conf = support::moto_config(url);
        let events = Client::new(&conf);
        let sqs = aws_sdk_sqs::Client::new(&conf);
        let bus = unique("om-bus");
        let source = unique("om.test.orders");
        let rule = unique("om-to-sqs");
        events
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto at {url}: create the event bus: {e:?}"));
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("om-events"))
            .send()
            .await
            .expect("create the SQS queue")
            .queue_url
            .expect("a queue URL");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("read the queue ARN")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("a queue ARN");
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(json!({"source": [source]}).to_string())
            .send()
            .await
            .expect("create the rule");
        let targets = events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(
                Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("add the queue as the rule's target");
        assert_eq!(targets.failed_entry_count, 0, "{targets:?}");
        MotoBus {
            events,
            sqs,
            bus,
            rule,
            queue_url,
            source,
        }
    }

    /// Reads (and deletes) `n` messages from the queue, in the order they arrived; then makes
    /// sure no more come.
    async fn messages(&self, n: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let mut bodies = Vec::new();
        loop {
            let received = self.receive().await;
            bodies.extend(received);
            if bodies.len() >= n {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} events arrived within {DEADLINE:?}: {bodies:#?}",
                bodies.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        tokio::time::sleep(QUIET_PERIOD).await;
        bodies.extend(self.receive().await);
        assert_eq!(bodies.len(), n, "unexpected events: {bodies:#?}");
        bodies
    }

    async fn receive(&self) -> Vec<String> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive from SQS");
        let mut bodies = Vec::new();
        for message in received.messages.unwrap_or_default() {
            if let Some(handle) = message.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("delete the SQS message");
            }
            bodies.push(message.body.unwrap_or_default());
        }
        bodies
    }

    /// Best effort: moto keeps everything in memory until it stops.
    async fn delete(self) {
        let _ = self
            .events
            .remove_targets()
            .rule(&self.rule)
            .event_bus_name(&self.bus)
            .ids("queue")
            .send()
            .await;
        let _ = self
            .events
            .delete_rule()
            .name(&self.rule)
            .event_bus_name(&self.bus)
            .send()
            .await;
        let _ = self.events.delete_event_bus().name(&self.bus).send().await;
        let _ = self
            .sqs
            .delete_queue()
            .queue_url(&self.queue_url)
            .send()
            .await;
    }
}

/// Checks one event as the apps read it.
fn assert_event(event: &Value, order_id: &str, expected: (&str, &str, &str), source: &str) {
    let (detail_type, barista, state) = expected;
    let d = &event["detail"];
    assert_eq!(event["detail-type"], detail_type, "{event}");
    assert_eq!(event["source"], source, "{event}");
    assert_eq!(d["orderId"], order_id, "{event}");
    assert_eq!(d["userId"], USER, "{event}");
    assert_eq!(d["eventId"], "NYC", "{event}");
    assert_eq!(d["orderNumber"], 42, "{event}");
    let ts = d["TS"].as_i64().expect("TS in epoch milliseconds");
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        (now - 60_000..=now).contains(&ts),
        "TS is the change's time: {event}"
    );
    assert_eq!(d["drinkOrder"]["drink"], "Latte", "{event}");
    assert_eq!(d["drinkOrder"]["modifiers"], json!(["Oat"]), "{event}");
    assert_eq!(d["baristaUserId"], barista, "{event}");
    assert_eq!(d["state"], state, "{event}");
}

#[tokio::test]
async fn transitions_reach_a_rule_on_the_bus_as_the_apps_read_them() {
    let Some(url) = support::moto_url("the EventBridge round trip against moto") else {
        return;
    };
    let bus = MotoBus::create(&url).await;
    let publisher = EventBridgePublisher::new(bus.events.clone(), &bus.bus, &bus.source);
    let (workflow, _calls) = sfn::accepting();
    let app = TestApp::spawn_with_publisher(workflow, Arc::new(publisher), |_| {}).await;

    let tokens = [
        unique("TOKEN-eb-a1"),
        unique("TOKEN-eb-a2"),
        unique("TOKEN-eb-b1"),
        unique("TOKEN-eb-b2"),
    ];
    let (a, b) = drive_two_orders(
        &app,
        [&tokens[0], &tokens[1], &tokens[2], &tokens[3]],
        std::future::ready(()),
    )
    .await;

    let bodies = bus.messages(ORDER_A.len() + ORDER_B.len()).await;
    for body in &bodies {
        for token in &tokens {
            assert!(!body.contains(token.as_str()), "a task token left: {body}");
        }
        assert!(!body.to_lowercase().contains("tasktoken"), "{body}");
    }
    let mut by_order: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for body in &bodies {
        let event: Value = serde_json::from_str(body).expect("the message is the event JSON");
        let id = event["detail"]["orderId"]
            .as_str()
            .unwrap_or_else(|| panic!("no detail.orderId: {event}"))
            .to_string();
        by_order.entry(id).or_default().push(event);
    }
    assert_eq!(by_order.len(), 2, "{by_order:#?}");
    let events_a = &by_order[&a];
    let types = |evs: &[Value]| -> Vec<String> {
        evs.iter()
            .map(|e| e["detail-type"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        types(events_a),
        ORDER_A.map(|(t, _, _)| t.to_string()),
        "{events_a:#?}"
    );
    for (event, expected) in events_a.iter().zip(ORDER_A) {
        assert_event(event, &a, expected, &bus.source);
    }
    let events_b = &by_order[&b];
    assert_eq!(
        types(events_b),
        ORDER_B.map(|(t, _, _)| t.to_string()),
        "{events_b:#?}"
    );
    for (event, expected) in events_b.iter().zip(ORDER_B) {
        assert_event(event, &b, expected, &bus.source);
    }
    assert_eq!(events_b[1]["detail"]["cancelReason"], "barista");

    app.stop().await;
    bus.delete().await;
}

// ---- partial failures, through aws-smithy-mocks ---------------------------------------------

/// One entry of a `PutEvents` request: `(detail-type, detail)`.
type Entry = (String, Value);

/// A publisher whose calls wait until the test opens the gate, so that the notices of the
/// transitions made meanwhile pile up in the outbox and go out in one batch.
struct Gated {
    inner: Arc<dyn EventPublisher>,
    open: watch::Receiver<bool>,
    /// How many notices each call that reached the gate carried.
    arrived: Arc<Mutex<Vec<usize>>>,
}

#[async_trait]
impl EventPublisher for Gated {
    async fn publish(&self, notices: &[Notice]) -> Vec<Result<(), PublishError>> {
        self.arrived.lock().unwrap().push(notices.len());
        let mut open = self.open.clone();
        let _ = open.wait_for(|o| *o).await;
        self.inner.publish(notices).await
    }
}

fn accepted(id: usize) -> PutEventsResultEntry {
    PutEventsResultEntry::builder()
        .event_id(format!("event-{id}"))
        .build()
}

/// `PutEvents` that records every request's entries and answers the second entry of the first
/// request with more than one entry with `code`; everything else is accepted.
fn put_events_failing_once(code: &'static str) -> (Rule, Arc<Mutex<Vec<Vec<Entry>>>>) {
    let calls: Arc<Mutex<Vec<Vec<Entry>>>> = Arc::default();
    let failed = Arc::new(AtomicBool::new(false));
    let seen = calls.clone();
    let rule = mock!(Client::put_events).then_compute_output(move |req| {
        let entries: Vec<Entry> = req
            .entries()
            .iter()
            .map(|e| {
                assert_eq!(e.source(), Some("awsserverlessda.serverlesspresso"));
                assert_eq!(e.event_bus_name(), Some("Serverlesspresso"));
                (
                    e.detail_type().unwrap_or_default().to_string(),
                    serde_json::from_str(e.detail().unwrap_or_default()).unwrap(),
                )
            })
            .collect();
        let fail_second = entries.len() > 1 && !failed.swap(true, Ordering::SeqCst);
        let results = (0..entries.len())
            .map(|i| {
                if fail_second && i == 1 {
                    PutEventsResultEntry::builder()
                        .error_code(code)
                        .error_message(format!("{code} (mocked)"))
                        .build()
                } else {
                    accepted(i)
                }
            })
            .collect();
        seen.lock().unwrap().push(entries);
        PutEventsOutput::builder()
            .failed_entry_count(i32::from(fail_second))
            .set_entries(Some(results))
            .build()
    });
    (rule, calls)
}

/// The app with the real adapter over a mocked client that answers with `rule`, behind a gate
/// that is closed until the returned sender opens it; and the sizes of the calls that reached
/// the gate.
async fn app_with_gated_bus(rule: &Rule) -> (TestApp, watch::Sender<bool>, Arc<Mutex<Vec<usize>>>) {
    let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, &[rule], |b| {
        b.retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
    });
    let (gate, open) = watch::channel(false);
    let arrived: Arc<Mutex<Vec<usize>>> = Arc::default();
    let publisher = Gated {
        arrived: arrived.clone(),
        inner: Arc::new(EventBridgePublisher::new(
            client,
            "Serverlesspresso",
            "awsserverlessda.serverlesspresso",
        )),
        open,
    };
    let (workflow, _calls) = sfn::accepting();
    let app = TestApp::spawn_with_publisher(workflow, Arc::new(publisher), |_| {}).await;
    (app, gate, arrived)
}

/// `(detail-type, orderId, baristaUserId, state)` of an entry, for comparisons.
fn summary((detail_type, detail): &Entry) -> (String, String, String, String) {
    (
        detail_type.clone(),
        detail["orderId"].as_str().unwrap_or_default().to_string(),
        detail["baristaUserId"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        detail["state"].as_str().unwrap_or_default().to_string(),
    )
}

fn expected(order: &str, events: &[(&str, &str, &str)]) -> Vec<(String, String, String, String)> {
    events
        .iter()
        .map(|(t, b, s)| {
            (
                t.to_string(),
                order.to_string(),
                b.to_string(),
                s.to_string(),
            )
        })
        .collect()
}

/// Order A's WaitingCompletion goes out alone (and waits at the gate) while the rest of the
/// transitions happen; once the gate opens, the other six notices go out in one batch whose
/// second entry (order A's unclaim) fails with `code`. Returns the app, order ids and every
/// request's entries once the dispatcher has settled.
async fn batch_with_one_failed_entry(
    code: &'static str,
    calls_expected: usize,
) -> (TestApp, String, String, Vec<Vec<Entry>>) {
    let (rule, calls) = put_events_failing_once(code);
    let (app, gate, arrived) = app_with_gated_bus(&rule).await;
    let first_call_waits = eventually("the first notice to reach the gate", || {
        let n = arrived.lock().unwrap().clone();
        async move { (!n.is_empty()).then_some(()) }
    });
    let (a, b) = drive_two_orders(
        &app,
        [
            &unique("TOKEN-a1"),
            &unique("TOKEN-a2"),
            &unique("TOKEN-b1"),
            &unique("TOKEN-b2"),
        ],
        first_call_waits,
    )
    .await;
    assert_eq!(
        *arrived.lock().unwrap(),
        [1],
        "one call, with one notice, waits"
    );
    gate.send(true).unwrap();
    eventually("the notices to be published", || {
        let n = rule.num_calls();
        async move { (n >= calls_expected).then_some(()) }
    })
    .await;
    tokio::time::sleep(QUIET_PERIOD).await;
    let calls = calls.lock().unwrap().clone();
    for entries in &calls {
        for (_, detail) in entries {
            assert!(!detail.to_string().contains("TOKEN-"), "{detail}");
        }
    }
    (app, a, b, calls)
}

#[tokio::test]
async fn an_entry_that_failed_with_internal_failure_alone_is_sent_again_once() {
    let (app, a, b, calls) = batch_with_one_failed_entry("InternalFailure", 3).await;
    let calls: Vec<Vec<_>> = calls
        .iter()
        .map(|entries| entries.iter().map(summary).collect())
        .collect();
    assert_eq!(calls.len(), 3, "PutEvents calls: {calls:#?}");
    // 1: order A's WaitingCompletion, alone (it waited at the gate).
    assert_eq!(calls[0], expected(&a, &ORDER_A[..1]), "{calls:#?}");
    // 2: everything else, in order of occurrence; its second entry fails.
    let mut batch = expected(&a, &ORDER_A[1..]);
    batch.extend(expected(&b, &ORDER_B));
    assert_eq!(calls[1], batch, "{calls:#?}");
    // 3: the dispatcher's retry carries the failed entry, and only it.
    assert_eq!(calls[2], expected(&a, &ORDER_A[2..3]), "{calls:#?}");
    app.stop().await;
}

#[tokio::test]
async fn an_entry_refused_as_malformed_is_dropped_and_never_sent_again() {
    let (app, a, b, calls) = batch_with_one_failed_entry("MalformedDetail", 2).await;
    let calls: Vec<Vec<_>> = calls
        .iter()
        .map(|entries| entries.iter().map(summary).collect())
        .collect();
    assert_eq!(calls.len(), 2, "PutEvents calls: {calls:#?}");
    assert_eq!(calls[0], expected(&a, &ORDER_A[..1]), "{calls:#?}");
    let mut batch = expected(&a, &ORDER_A[1..]);
    batch.extend(expected(&b, &ORDER_B));
    assert_eq!(calls[1], batch, "{calls:#?}");
    app.stop().await;
}

// ---- without an outbox ---------------------------------------------------------------------

/// A publisher that cannot fail (as with no event bus), recording what it is given.
#[derive(Default)]
struct Infallible(Mutex<Vec<Entry>>);

#[async_trait]
impl EventPublisher for Infallible {
    async fn publish(&self, notices: &[Notice]) -> Vec<Result<(), PublishError>> {
        let mut seen = self.0.lock().unwrap();
        seen.extend(
            notices
                .iter()
                .map(|n| (n.kind.detail_type().to_string(), n.detail.clone())),
        );
        notices.iter().map(|_| Ok(())).collect()
    }

    fn needs_outbox(&self) -> bool {
        false
    }
}

/// A publisher that cannot fail takes each notice with its transition, before the request
/// that made it is answered, in order; the notices never enter the outbox.
#[tokio::test]
async fn without_an_outbox_every_notice_goes_out_before_its_transition_is_answered() {
    let publisher = Arc::new(Infallible::default());
    let (workflow, _) = sfn::accepting();
    let app = TestApp::spawn_with_publisher(workflow, publisher.clone(), |_| {}).await;
    let (a, b) = drive_two_orders(&app, ["ta1", "ta2", "tb1", "tb2"], async {}).await;
    // Read at once: the last notice belongs to the cancel that drive_two_orders just got an
    // answer for.
    let seen: Vec<_> = publisher.0.lock().unwrap().iter().map(summary).collect();
    let mut all = expected(&a, &ORDER_A);
    all.extend(expected(&b, &ORDER_B));
    assert_eq!(seen, all);

    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"outbox_pending{outbox="notices"} 0"#),
        "{metrics}"
    );
    if let Some(file) = app.sqlite_file() {
        let kept: i64 = rusqlite::Connection::open(file)
            .unwrap()
            .query_row("SELECT count(*) FROM notices", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 0, "no notice was written to the outbox");
    }
    app.stop().await;
}
