//! A busy morning's event stream, as an API destination delivers it, replayed against the
//! service: sixty orders of one coffee event, most of them moved by other parts of the shop
//! (the robot's path, an operator, another Order Manager), some made here by a customer and a
//! barista through this service. The stream is in the disorder a real one has: deliveries
//! overlap (several at once), a start held back by the destination's retries arrives after
//! its order's later events, some envelopes come twice, and the bus carries events this
//! service does not act on.
//!
//! The stream is generated from a fixed seed (`OM_TEST_MORNING_SEED` picks another), so
//! every run replays the same morning; each
//! order's fate is decided first, and what the service must show for it at the end is read
//! from the fate alone, not from the service.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, SecondsFormat};
use futures_util::future::join_all;
use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, latte, sfn};

const EVENT: &str = "NYC";
const SOURCE: &str = "awsserverlessda.serverlesspresso";
const STATE_MACHINE: &str =
    "arn:aws:states:us-east-1:123456789012:stateMachine:OrderProcessorWorkflow";
const EXECUTIONS: &str = "arn:aws:states:us-east-1:123456789012:execution:OrderProcessorWorkflow:";
/// The sample's waits: the customer's heartbeat, and the barista's.
const CUSTOMER_WAIT_MS: i64 = 300_000;
const BARISTA_WAIT_MS: i64 = 900_000;
/// How many deliveries the API destination makes at once.
const CONCURRENCY: usize = 8;

/// What became of an order by the end of the recording.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    /// Still waiting for the customer's drink.
    AwaitsDrink,
    /// The customer never chose: the first wait timed out.
    CustomerTimedOut,
    /// Submitted elsewhere, waiting for a barista.
    QueuedElsewhere,
    /// Submitted elsewhere, then nobody made it: the second wait timed out.
    BaristaTimedOut,
    /// Submitted and made elsewhere: the workflow ran to its end.
    FinishedElsewhere,
    /// Ordered and made here, through this service's API.
    ServedHere,
}

const FATES: [(Fate, usize); 6] = [
    (Fate::AwaitsDrink, 6),
    (Fate::CustomerTimedOut, 7),
    (Fate::QueuedElsewhere, 9),
    (Fate::BaristaTimedOut, 5),
    (Fate::FinishedElsewhere, 15),
    (Fate::ServedHere, 18),
];

struct Order {
    id: String,
    user: String,
    execution: String,
    fate: Fate,
    token1: String,
    token2: String,
    /// The workflow's number, when it reached its second wait.
    number: Option<u32>,
}

/// One step of the morning: an envelope delivered, or a person using this service.
enum Step {
    Deliver(usize),
    Submit(usize),
    Claim(usize),
    Complete(usize),
}

struct Morning {
    orders: Vec<Order>,
    envelopes: Vec<Value>,
    /// `(time in ms, step)`, in time order.
    steps: Vec<(i64, Step)>,
}

fn token(rng: &mut StdRng) -> String {
    let tail: String = rng
        .sample_iter(Alphanumeric)
        .take(640)
        .map(char::from)
        .collect();
    format!("AQCUAAAAKgAAAAMAAAAAAAAAA{tail}")
}

fn envelope(detail_type: &str, at: i64, execution: Option<&str>, detail: Value) -> Value {
    let time = DateTime::from_timestamp_millis(at)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let resources = match execution {
        Some(e) => json!([STATE_MACHINE, format!("{EXECUTIONS}{e}")]),
        None => json!([]),
    };
    json!({
        "version": "0",
        "id": Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": SOURCE,
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": resources,
        "detail": detail,
    })
}

/// The morning's builder: envelopes emitted, each scheduled for delivery as an API
/// destination would (a latency, now and then a retry's delay, sometimes twice).
struct Recorder {
    rng: StdRng,
    envelopes: Vec<Value>,
    steps: Vec<(i64, Step)>,
}

impl Recorder {
    /// Emits `e` at `at`; returns when it is first delivered.
    fn emit(&mut self, at: i64, e: Value, retry_chance: f64) -> i64 {
        let k = self.envelopes.len();
        self.envelopes.push(e);
        let mut delivered = at + self.rng.random_range(40..1_500);
        if self.rng.random_bool(retry_chance) {
            // The first attempt failed (a time-out, a 5xx): the destination tries again later.
            delivered += self.rng.random_range(30_000..600_000);
        }
        self.steps.push((delivered, Step::Deliver(k)));
        if self.rng.random_bool(0.08) {
            let again = delivered + self.rng.random_range(500..90_000);
            self.steps.push((again, Step::Deliver(k)));
        }
        delivered
    }
}

fn morning(seed: u64) -> Morning {
    let mut rec = Recorder {
        rng: StdRng::seed_from_u64(seed),
        envelopes: Vec::new(),
        steps: Vec::new(),
    };
    let mut fates: Vec<Fate> = FATES
        .iter()
        .flat_map(|&(f, n)| std::iter::repeat_n(f, n))
        .collect();
    fates.shuffle(&mut rec.rng);
    let customers: Vec<String> = (0..45).map(|_| Uuid::new_v4().to_string()).collect();
    let mut orders: Vec<Order> = fates
        .into_iter()
        .map(|fate| Order {
            id: Uuid::new_v4().to_string(),
            user: customers[rec.rng.random_range(0..customers.len())].clone(),
            execution: Uuid::new_v4().to_string(),
            fate,
            token1: token(&mut rec.rng),
            token2: token(&mut rec.rng),
            number: None,
        })
        .collect();

    // The workflow's second waits, in the order it reached them: that order numbers them.
    let mut second_waits: Vec<(i64, usize)> = Vec::new();
    let mut held_one = false;
    let mut start = chrono::Utc::now().timestamp_millis() - 3 * 3_600_000;
    for (i, o) in orders.iter().enumerate() {
        start += rec.rng.random_range(5_000..60_000);
        let started = envelope(
            "OrderProcessor.WorkflowStarted",
            start,
            Some(&o.execution),
            json!({
                "Message": "The workflow waits for your order to be submitted.",
                "TaskToken": o.token1,
                "orderId": o.id,
                "userId": o.user,
                "eventId": EVENT,
            }),
        );
        // A start held back by the destination's retries, past its order's later events: the
        // first order moved elsewhere always, others now and then (never one ordered here,
        // whose customer waits for it).
        let held = match o.fate {
            Fate::ServedHere => 0.0,
            Fate::AwaitsDrink => 0.12,
            _ if !std::mem::replace(&mut held_one, true) => 1.0,
            _ => 0.12,
        };
        let start_delivered = rec.emit(start, started, held);
        if rec.rng.random_bool(0.2) {
            // A rule forwarding the whole source: the validator's event that started it.
            let new_order = envelope(
                "Validator.NewOrder",
                start - 200,
                None,
                json!({"orderId": o.id, "userId": o.user,
                       "bucket": {"eventId": EVENT, "bucket": "1"}}),
            );
            rec.emit(start - 200, new_order, 0.0);
        }
        let think = rec.rng.random_range(20_000..240_000);
        match o.fate {
            Fate::AwaitsDrink => {}
            Fate::CustomerTimedOut => {
                let at = start + CUSTOMER_WAIT_MS;
                let e = timed_out(at, o, "Customer timedout", rec.rng.random_bool(0.5));
                rec.emit(at, e, 0.05);
            }
            Fate::ServedHere => {
                // The customer's app submits once it has the order.
                let at = (start + think).max(start_delivered + 1_000);
                rec.steps.push((at, Step::Submit(i)));
                second_waits.push((at + 150, i));
            }
            _ => second_waits.push((start + think, i)),
        }
    }
    second_waits.sort();
    for (n, &(at, i)) in second_waits.iter().enumerate() {
        let number = n as u32 + 1;
        orders[i].number = Some(number);
        let o = &orders[i];
        let waiting = envelope(
            "OrderProcessor.WaitingCompletion",
            at,
            Some(&o.execution),
            json!({
                "Message": "You just submitted your order. The workflow waits for the barista.",
                "TaskToken": o.token2,
                "orderId": o.id,
                "orderNumber": number.to_string(),
                "userId": o.user,
                "eventId": EVENT,
            }),
        );
        let delivered = rec.emit(at, waiting, 0.05);
        let with_event = rec.rng.random_bool(0.5);
        match o.fate {
            Fate::BaristaTimedOut => {
                let at = at + BARISTA_WAIT_MS;
                let e = timed_out(at, o, "Barista timedout", with_event);
                rec.emit(at, e, 0.05);
            }
            Fate::FinishedElsewhere => {
                let at = at + rec.rng.random_range(60_000..600_000);
                let e = finished(at, o, with_event);
                rec.emit(at, e, 0.05);
            }
            Fate::ServedHere => {
                // A barista claims it once it is on the board, and completes it.
                let claim = (at + rec.rng.random_range(30_000..400_000)).max(delivered + 1_000);
                let done = claim + rec.rng.random_range(60_000..120_000);
                rec.steps.push((claim, Step::Claim(i)));
                rec.steps.push((done, Step::Complete(i)));
                let e = finished(done + 150, o, with_event);
                rec.emit(done + 150, e, 0.05);
            }
            _ => {}
        }
    }
    // The shop closed on someone: the workflow says so and ends; no order of this service.
    let at = start + 30_000;
    let closed = envelope(
        "OrderProcessor.ShopUnavailable",
        at,
        Some(&Uuid::new_v4().to_string()),
        json!({"Message": "The shop is closed.", "userId": customers[0]}),
    );
    rec.emit(at, closed, 0.0);

    let Recorder {
        envelopes,
        mut steps,
        ..
    } = rec;
    steps.sort_by_key(|(at, _)| *at);
    Morning {
        orders,
        envelopes,
        steps,
    }
}

/// The workflow's time-out or end of `o`, with `detail`: the real machine's carry no
/// `eventId`; other workflows' do.
fn ending(detail_type: &str, at: i64, o: &Order, mut detail: Value, with_event: bool) -> Value {
    detail["userId"] = json!(o.user);
    detail["orderId"] = json!(o.id);
    if with_event {
        detail["eventId"] = json!(EVENT);
    }
    envelope(detail_type, at, Some(&o.execution), detail)
}

fn timed_out(at: i64, o: &Order, cause: &str, with_event: bool) -> Value {
    let detail = json!({"Message": "The order timed out.", "cause": cause});
    ending("OrderProcessor.OrderTimeOut", at, o, detail, with_event)
}

fn finished(at: i64, o: &Order, with_event: bool) -> Value {
    let detail = json!({"Message": "The order has reached the end of the workflow."});
    ending("OrderProcessor.orderFinished", at, o, detail, with_event)
}

/// What the service must show for an order of `fate`: state, cancel reason, number, drink.
fn expected(o: &Order) -> (&'static str, Value, Value, Value) {
    let number = json!(o.number);
    match o.fate {
        Fate::AwaitsDrink => ("created", Value::Null, Value::Null, Value::Null),
        Fate::CustomerTimedOut => ("cancelled", json!("customer_timeout"), number, Value::Null),
        Fate::QueuedElsewhere => ("queued", Value::Null, number, Value::Null),
        Fate::BaristaTimedOut => ("cancelled", json!("barista_timeout"), number, Value::Null),
        Fate::FinishedElsewhere => ("cancelled", json!("workflow_ended"), number, Value::Null),
        Fate::ServedHere => ("completed", Value::Null, number, json!("Latte")),
    }
}

/// Replays the morning: runs of deliveries go out `CONCURRENCY` at a time, and each person's
/// action waits for what came before it. Returns every delivery's outcome by envelope.
async fn replay(app: &TestApp, m: &Morning) -> HashMap<usize, Vec<String>> {
    let mut outcomes: HashMap<usize, Vec<String>> = HashMap::new();
    let barista = app.barista("barista-morning");
    let mut run: Vec<usize> = Vec::new();
    let mut steps = m.steps.iter().peekable();
    while let Some((_, step)) = steps.next() {
        if let Step::Deliver(k) = step {
            run.push(*k);
            let more = matches!(steps.peek(), Some((_, Step::Deliver(_))));
            if run.len() < CONCURRENCY && more {
                continue;
            }
            let answers = join_all(run.iter().map(|&k| app.ingest(&m.envelopes[k]))).await;
            for (&k, (status, body)) in run.iter().zip(answers) {
                assert_eq!(status, StatusCode::OK, "{}: {body}", m.envelopes[k]);
                let outcome = body["outcome"].as_str().unwrap().to_string();
                outcomes.entry(k).or_default().push(outcome);
            }
            run.clear();
            continue;
        }
        let (status, body) = match *step {
            Step::Submit(i) => {
                let o = &m.orders[i];
                app.submit(&o.id, &app.customer(&o.user), latte()).await
            }
            Step::Claim(i) => {
                let path = format!("/v1/orders/{}/claim", m.orders[i].id);
                app.post(&path, &barista).await
            }
            Step::Complete(i) => {
                let path = format!("/v1/orders/{}/complete", m.orders[i].id);
                app.post(&path, &barista).await
            }
            Step::Deliver(_) => unreachable!(),
        };
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_morning_s_stream_ends_as_the_workflows_did() {
    let (workflow, calls) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    // Another morning: OM_TEST_MORNING_SEED=<n>.
    let seed = std::env::var("OM_TEST_MORNING_SEED").map_or(0x5e_77e5, |s| s.parse().unwrap());
    let m = morning(seed);
    let outcomes = replay(&app, &m).await;

    // Every envelope was taken once; every redelivery was a duplicate.
    for (k, got) in &outcomes {
        let (first, again): (Vec<&String>, Vec<&String>) =
            got.iter().partition(|o| o.as_str() != "duplicate");
        let e = &m.envelopes[*k];
        let fate = m
            .orders
            .iter()
            .find(|o| o.id == e["detail"]["orderId"])
            .map(|o| o.fate);
        assert_eq!(first.len(), 1, "{got:?} {fate:?} {}", e["detail-type"]);
        assert!(
            ["applied", "deferred", "stale", "ignored"].contains(&first[0].as_str()),
            "{got:?}"
        );
        assert_eq!(again.len(), got.len() - 1);
    }
    assert_eq!(
        outcomes.len(),
        m.envelopes.len(),
        "every envelope delivered"
    );
    let kept = outcomes.values().filter(|o| o.contains(&"deferred".into()));
    assert!(
        kept.count() > 0,
        "the morning has events before their start"
    );

    // Every order ends as its workflow did.
    for o in &m.orders {
        let order = app.order(&o.id, &o.user).await;
        let (state, reason, number, drink) = expected(o);
        let got = (
            order["state"].as_str().unwrap(),
            order["cancel_reason"].clone(),
            order["order_number"].clone(),
            order["drink"].get("name").cloned().unwrap_or(Value::Null),
        );
        // Decisions are monotone: an order that ended before its second wait was seen (its
        // end or time-out came first) is not numbered after, so it may have no number.
        let ended_first = state == "cancelled" && got.2.is_null();
        let want = (
            state,
            reason,
            if ended_first { Value::Null } else { number },
            drink,
        );
        assert_eq!(got, want, "{:?}: {order}", o.fate);
    }

    // Only the orders made here were called back: each token once, #1 then #2.
    let here: Vec<&Order> = m
        .orders
        .iter()
        .filter(|o| o.fate == Fate::ServedHere)
        .collect();
    let sent: Vec<String> = calls.successes().into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        sent.len(),
        2 * here.len(),
        "two callbacks per order made here"
    );
    for o in &here {
        let mine: Vec<&String> = sent
            .iter()
            .filter(|t| **t == o.token1 || **t == o.token2)
            .collect();
        assert_eq!(mine, vec![&o.token1, &o.token2]);
    }
    assert_eq!(calls.failures(), vec![], "no workflow failed");

    // The barista's queue is the orders the workflow waits on a barista for, numbered.
    let want: BTreeSet<(String, u32)> = m
        .orders
        .iter()
        .filter(|o| o.fate == Fate::QueuedElsewhere)
        .map(|o| (o.id.clone(), o.number.unwrap()))
        .collect();
    let barista = app.barista("barista-morning");
    let (status, queue) = app
        .get(&format!("/v1/orders?event_id={EVENT}&limit=100"), &barista)
        .await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let listed: BTreeSet<(String, u32)> = queue["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let n = o["order_number"].as_u64().expect("numbered") as u32;
            (o["order_id"].as_str().unwrap().to_string(), n)
        })
        .collect();
    assert_eq!(listed, want);
    assert_eq!(want.len(), 9);

    // Those still waiting for their customer are the rest of the open orders: the events
    // the service does not act on (the validator's, a closed shop's) made none.
    let waiting: BTreeSet<String> = m
        .orders
        .iter()
        .filter(|o| o.fate == Fate::AwaitsDrink)
        .map(|o| o.id.clone())
        .collect();
    let (status, created) = app
        .get(
            &format!("/v1/orders?event_id={EVENT}&state=created,submitted&limit=100"),
            &barista,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let listed: BTreeSet<String> = created["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, waiting);
}
