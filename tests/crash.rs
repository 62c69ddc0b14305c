//! Crash safety of the real binary: `kill -9` (SIGKILL) under load and at chosen moments of a
//! callback, then a restart on the same SQLite file. Step Functions is the fake of
//! `harness/fake_sfn.rs`, which counts per token the calls that took effect.
//!
//! What must hold after the restart:
//! - every acknowledged (200) write is there: ingested orders exist, submitted ones are at
//!   least `submitted` with their drink, completed ones are `completed`; a write that was in
//!   flight at the kill is either wholly there or not at all;
//! - every callback a committed transition owes is delivered (token #1 of every order that
//!   is at least `submitted`, token #2 of every `completed` one), also those the crash cut
//!   off, and no token of a transition that did not commit is ever sent;
//! - a token taken before the crash is sent again only if the crash fell between the call
//!   and its record (at most one per request in flight at the kill).
//!
//! A callback whose attempt the crash cut off is leased to that attempt for the production
//! lease (30 s, not configurable from the environment), so the restarted service retries it
//! only when the lease runs out: these tests wait up to [`LEASE`] plus a margin for it.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use support::fake_sfn::{FakeStepFunctions, Mode, Reuse};
use support::process::{Api, Service};
use support::{eventually_within, pending_callbacks, started, token1, token2, unique, waiting};

/// Concurrent customer-and-barista loops: each has at most one request in flight.
const LOAD_TASKS: usize = 6;
/// The production callback lease (`ServiceConfig::callback_lease`).
const LEASE: Duration = Duration::from_secs(30);
/// How long after the restart the owed callbacks may take: the lease, the dispatcher's
/// 500 ms rounds, and slack for a loaded machine.
const SETTLE: Duration = Duration::from_secs(45);
/// How long to watch for calls that must not come.
const QUIET: Duration = Duration::from_secs(2);

/// How far an order got, by acknowledged requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Nothing,
    Created,
    Submitted,
    Queued,
    Completed,
}

impl Stage {
    fn state(self) -> Option<&'static str> {
        match self {
            Stage::Nothing => None,
            Stage::Created => Some("created"),
            Stage::Submitted => Some("submitted"),
            Stage::Queued => Some("queued"),
            Stage::Completed => Some("completed"),
        }
    }

    fn next(self) -> Stage {
        match self {
            Stage::Nothing => Stage::Created,
            Stage::Created => Stage::Submitted,
            Stage::Submitted => Stage::Queued,
            Stage::Queued | Stage::Completed => Stage::Completed,
        }
    }
}

/// One order of the load and what the service acknowledged for it.
#[derive(Debug, Clone)]
struct Tracked {
    id: String,
    user: String,
    acked: Stage,
    /// A request for it was in flight when the service died.
    in_flight: bool,
}

/// One customer-and-barista loop: start an order, submit it, queue it (WaitingCompletion
/// with token #2), complete it; one order in four stops after the submission, one in four
/// after queueing. Ends at the first transport error (the kill).
async fn load(api: Api, task: usize, stop: Arc<AtomicBool>) -> (Vec<Tracked>, Vec<String>) {
    let mut orders = Vec::new();
    let mut unexpected = Vec::new();
    let user = format!("crash-customer-{task}");
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let id = unique(&format!("crash{task}"));
        let target = match n % 4 {
            0 => Stage::Submitted,
            1 => Stage::Queued,
            _ => Stage::Completed,
        };
        n += 1;
        let mut o = Tracked {
            id: id.clone(),
            user: user.clone(),
            acked: Stage::Nothing,
            in_flight: false,
        };
        while o.acked < target {
            let step = o.acked.next();
            let reply = match step {
                Stage::Created => api.ingest(&started(&id, &user, &token1(&id))).await,
                Stage::Submitted => api.submit(&id, &user).await,
                Stage::Queued => api.ingest(&waiting(&id, &user, &token2(&id), "7")).await,
                Stage::Completed => api.complete(&id).await,
                Stage::Nothing => unreachable!(),
            };
            match reply {
                Ok(r) if r.status == StatusCode::OK => o.acked = step,
                Ok(r) => {
                    unexpected.push(format!("{step:?} {id}: {r}"));
                    break;
                }
                Err(_) => {
                    o.in_flight = true;
                    orders.push(o);
                    return (orders, unexpected);
                }
            }
        }
        orders.push(o);
    }
    (orders, unexpected)
}

/// Reads every tracked order from the restarted service: its state (`None`: not found).
async fn states(api: &Api, orders: &[Tracked]) -> HashMap<String, Option<Value>> {
    let mut out = HashMap::new();
    for o in orders {
        let r = api.get(&o.id, &o.user).await.unwrap();
        let order = match r.status {
            StatusCode::OK => Some(r.body),
            StatusCode::NOT_FOUND => None,
            _ => panic!("GET {}: {r}", o.id),
        };
        out.insert(o.id.clone(), order);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_no_acknowledged_write_and_no_owed_callback() {
    let test_began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeStepFunctions::start(Mode::Accept).await;
    // Count redeliveries instead of refusing them.
    fake.set_reuse(Reuse::AcceptAgain);
    let mut svc = Service::start(dir.path(), &fake.endpoint()).await;
    let api = Api::new(svc.addr);

    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..LOAD_TASKS)
        .map(|t| tokio::spawn(load(api.clone(), t, stop.clone())))
        .collect();
    let kill_after = Duration::from_millis(rand::random_range(1500..3500));
    tokio::time::sleep(kill_after).await;
    svc.kill9();
    let killed = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let mut orders = Vec::new();
    for t in tasks {
        let (o, unexpected) = t.await.unwrap();
        assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
        orders.extend(o);
    }
    let in_flight = orders.iter().filter(|o| o.in_flight).count();
    assert!(in_flight <= LOAD_TASKS);
    // Anything the dead process had sent has arrived by now; later calls are the restart's.
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.set_epoch(1);
    let taken_before = fake.taken_counts();
    let cut_off = pending_callbacks(&svc.db);

    let svc = Service::start(dir.path(), &fake.endpoint()).await;
    let restarted = Instant::now();
    let api = Api::new(svc.addr);

    // Every acknowledged write is there; a write in flight is wholly there or not at all.
    let found = states(&api, &orders).await;
    for o in &orders {
        let order = found[&o.id].as_ref();
        let state = order.map(|v| v["state"].as_str().unwrap().to_string());
        let acked = o.acked.state().map(str::to_string);
        let next = o.acked.next().state().map(str::to_string);
        if o.in_flight {
            assert!(
                state == acked || state == next,
                "{} (in flight, acked {:?}): {order:?}",
                o.id,
                o.acked
            );
        } else {
            assert_eq!(state, acked, "{} (acked {:?}): {order:?}", o.id, o.acked);
        }
        if let Some(v) = order {
            let submitted = !matches!(v["state"].as_str(), Some("created"));
            if submitted {
                assert_eq!(v["drink"]["name"], "Latte", "{v}");
            }
        }
    }

    // The callbacks the stored states owe.
    let owed: Vec<String> = orders
        .iter()
        .flat_map(|o| {
            let state = found[&o.id]
                .as_ref()
                .map(|v| v["state"].as_str().unwrap().to_string());
            let mut t = Vec::new();
            if matches!(state.as_deref(), Some("submitted" | "queued" | "completed")) {
                t.push(token1(&o.id));
            }
            if state.as_deref() == Some("completed") {
                t.push(token2(&o.id));
            }
            t
        })
        .collect();
    let db = svc.db.clone();
    eventually_within(
        "every owed callback to be delivered and the outbox to drain",
        SETTLE,
        || {
            let taken = fake.taken_counts();
            let missing = owed.iter().filter(|t| !taken.contains_key(*t)).count();
            let pending = pending_callbacks(&db);
            async move {
                match (missing, pending) {
                    (0, Some(0) | None) => Ok(()),
                    _ => Err(format!("{missing} not delivered, {pending:?} pending")),
                }
            }
        },
    )
    .await;
    let settled = restarted.elapsed();
    tokio::time::sleep(QUIET).await;

    // Nothing was sent that no committed transition owed.
    let calls = fake.calls();
    for c in &calls {
        assert!(
            owed.contains(&c.token),
            "a callback for a transition that is not stored: {c:?}"
        );
    }
    // A token is taken again only if the crash cut off the record of its delivery: never
    // twice by one process, only for requests in flight at the kill.
    let in_flight_ids: Vec<&str> = orders
        .iter()
        .filter(|o| o.in_flight)
        .map(|o| o.id.as_str())
        .collect();
    let mut redelivered = Vec::new();
    for t in &owed {
        let taken: Vec<_> = calls
            .iter()
            .filter(|c| &c.token == t && c.took_effect)
            .collect();
        let before = taken.iter().filter(|c| c.epoch == 0).count();
        let after = taken.len() - before;
        assert!(
            before <= 1 && after <= 1,
            "{t} taken {before} times before the kill and {after} after"
        );
        if before == 1 && after == 1 {
            assert!(
                in_flight_ids.iter().any(|id| t.ends_with(id)),
                "{t} redelivered, yet its request was acknowledged"
            );
            redelivered.push(t.clone());
        }
    }
    assert!(
        redelivered.len() <= in_flight,
        "{} redeliveries, {in_flight} requests in flight: {redelivered:?}",
        redelivered.len()
    );

    let by_state = |s: &str| {
        found
            .values()
            .filter(|v| v.as_ref().and_then(|v| v["state"].as_str()) == Some(s))
            .count()
    };
    eprintln!(
        "killed after {kill_after:?} with {in_flight} requests in flight; {} orders ({} created, {} submitted, {} queued, {} completed, {} absent); {} callbacks taken before the kill, {cut_off:?} cut off in the outbox; {} owed in all, settled {settled:?} after the restart ({:?} after the kill); {} redelivered after the restart: {redelivered:?}; test took {:?}",
        orders.len(),
        by_state("created"),
        by_state("submitted"),
        by_state("queued"),
        by_state("completed"),
        found.values().filter(|v| v.is_none()).count(),
        taken_before.values().sum::<usize>(),
        owed.len(),
        killed.elapsed(),
        redelivered.len(),
        test_began.elapsed(),
    );
    assert!(
        orders.iter().any(|o| o.acked == Stage::Completed),
        "the load got nowhere before the kill"
    );
}

/// Starts an order, submits it, and kills the service while Step Functions holds the call
/// for token #1 unanswered (the call took effect or not, as `takes_effect` says). Returns the
/// restarted service, its client, the order and when the service was restarted.
async fn crash_during_the_callback(
    dir: &std::path::Path,
    fake: &FakeStepFunctions,
    takes_effect: bool,
) -> (Service, Api, String, &'static str, Instant) {
    let mut svc = Service::start(dir, &fake.endpoint()).await;
    let api = Api::new(svc.addr);
    let (id, user) = (unique("order"), "crash-customer");
    let r = api.ingest(&started(&id, user, &token1(&id))).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{r}");
    let arrived = fake.pause_on(&token1(&id), takes_effect);
    let submitting = {
        let api = api.clone();
        let id = id.clone();
        tokio::spawn(async move { api.submit(&id, user).await })
    };
    tokio::time::timeout(Duration::from_secs(10), arrived)
        .await
        .expect("the callback reaches Step Functions")
        .unwrap();
    svc.kill9();
    assert!(
        submitting.await.unwrap().is_err(),
        "the customer got no answer: the service died"
    );
    fake.set_epoch(1);
    // (`None`: the outbox could not be read, e.g. after a schema change; not checked then.)
    if let Some(pending) = pending_callbacks(&svc.db) {
        assert_eq!(pending, 1, "the callback is in the outbox");
    }
    let svc = Service::start(dir, &fake.endpoint()).await;
    let api = Api::new(svc.addr);
    // The submission was committed before the callback was tried.
    let o = api.order(&id, user).await;
    assert_eq!(o["state"], "submitted", "{o}");
    (svc, api, id, user, Instant::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_cut_off_by_a_crash_is_delivered_once_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeStepFunctions::start(Mode::Accept).await;
    let (svc, api, id, user, restarted) = crash_during_the_callback(dir.path(), &fake, false).await;
    let t1 = token1(&id);
    eventually_within("the cut-off callback to be retried", SETTLE, || {
        let taken = fake.taken(&t1);
        async move {
            if taken > 0 {
                Ok(())
            } else {
                Err("not yet".into())
            }
        }
    })
    .await;
    let retried_after = restarted.elapsed();
    tokio::time::sleep(QUIET).await;
    let calls = fake.calls_for(&t1);
    assert_eq!(calls.len(), 2, "the cut-off call and one retry: {calls:?}");
    assert!(!calls[0].took_effect && calls[1].took_effect, "{calls:?}");
    assert_eq!(calls[1].epoch, 1);
    assert!(matches!(pending_callbacks(&svc.db), Some(0) | None));
    let o = api.order(&id, user).await;
    assert_eq!(o["state"], "submitted", "{o}");
    eprintln!(
        "the cut-off callback was retried {retried_after:?} after the restart (lease {LEASE:?})"
    );
}

/// The crash falls between Step Functions taking token #1 and the service recording it. The
/// restarted service sends it again; Step Functions answers `TaskTimedOut` (the task is
/// over: the first call resumed it). That answer must not expire the order: the workflow did
/// resume, and its next event (WaitingCompletion) queues the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_taken_just_before_a_crash_does_not_expire_the_order_when_retried() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeStepFunctions::start(Mode::Accept).await;
    fake.set_reuse(Reuse::TaskTimedOut);
    let (svc, api, id, user, _) = crash_during_the_callback(dir.path(), &fake, true).await;
    let t1 = token1(&id);
    eventually_within("the callback to be sent again", SETTLE, || {
        let calls = fake.calls_for(&t1).len();
        async move {
            if calls >= 2 {
                Ok(())
            } else {
                Err("not yet".into())
            }
        }
    })
    .await;
    tokio::time::sleep(QUIET).await;
    assert!(matches!(pending_callbacks(&svc.db), Some(0) | None));
    let o = api.order(&id, user).await;
    assert_eq!(
        o["state"], "submitted",
        "the workflow took the drink before the crash: {o}"
    );
    let r = api
        .ingest(&waiting(&id, user, &token2(&id), "7"))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{r}");
    assert_eq!(api.order(&id, user).await["state"], "queued");
    assert!(
        fake.calls_for(&token2(&id)).is_empty(),
        "token #2 is not failed"
    );
}

/// Waits until the order of `user` is in `state`; returns it.
async fn wait_for_state(api: &Api, id: &str, user: &str, state: &str) -> Value {
    eventually_within(
        &format!("{id} to be {state}"),
        Duration::from_secs(10),
        || {
            let api = api.clone();
            let (id, user) = (id.to_string(), user.to_string());
            async move {
                let o = api.order(&id, &user).await;
                if o["state"] == state {
                    Ok(())
                } else {
                    Err(o.to_string())
                }
            }
        },
    )
    .await;
    api.order(id, user).await
}

/// `POST /v1/orders` as `user`; returns the new order's id.
async fn start_order(svc: &Service, user: &str) -> String {
    let res = reqwest::Client::new()
        .post(svc.url("/v1/orders"))
        .bearer_auth(support::process::customer(user))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    body["order_id"].as_str().unwrap().to_string()
}

/// The embedded processor keeps its executions, tokens, order numbers and deadlines in its
/// own file: after `kill -9` and a restart, every order goes on where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_processor_goes_on_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("OM_WORKFLOW", "embedded"), ("OM_BARISTA_TIMEOUT", "5s")];
    // No AWS at all: the endpoint is never called.
    let mut svc = Service::start_with(dir.path(), "http://127.0.0.1:9", &env).await;
    let api = Api::new(svc.addr);
    let queued = start_order(&svc, "alice").await;
    assert_eq!(
        api.submit(&queued, "alice").await.unwrap().status,
        StatusCode::OK
    );
    let q = wait_for_state(&api, &queued, "alice", "queued").await;
    assert_eq!(q["order_number"], 1);
    let created = start_order(&svc, "bob").await;
    let forgotten = start_order(&svc, "carol").await;
    assert_eq!(
        api.submit(&forgotten, "carol").await.unwrap().status,
        StatusCode::OK
    );
    wait_for_state(&api, &forgotten, "carol", "queued").await;
    svc.kill9();

    let svc = Service::start_with(dir.path(), "http://127.0.0.1:9", &env).await;
    let api = Api::new(svc.addr);
    // Token #2 of the queued order survived: completing it resumes the execution.
    let r = api.complete(&queued).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{r}");
    // Token #1 of the created order survived, and order numbers go on.
    assert_eq!(
        api.submit(&created, "bob").await.unwrap().status,
        StatusCode::OK
    );
    let c = wait_for_state(&api, &created, "bob", "queued").await;
    assert_eq!(c["order_number"], 3);
    // A deadline set before the crash survived too: the barista's wait times out.
    let f = wait_for_state(&api, &forgotten, "carol", "cancelled").await;
    assert_eq!(f["cancel_reason"], "barista_timeout");
    assert_eq!(api.order(&queued, "alice").await["state"], "completed");
}
