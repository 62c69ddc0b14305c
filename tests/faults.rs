//! Fault injection against the real binary (`order-manager` as a child process, SQLite file,
//! Step Functions callbacks to a fake endpoint in this process; see `harness/fake_sfn.rs` for
//! why a fake rather than moto).
//!
//! - Step Functions answering 5xx, or refusing connections, while orders are submitted: the
//!   customer gets `202 Accepted` with the order (the change stands), and once
//!   Step Functions is back every owed callback arrives exactly once (the dispatcher retries
//!   with the production backoff: 1 s doubling, with jitter).
//! - A dead token: `410 order_expired`, the order is cancelled (expired), never called again.
//! - The store refusing writes (another connection holds SQLite's write lock longer than the
//!   writer's 1 s busy timeout): `503 store_unavailable` with `Retry-After`, nothing
//!   half-written, and everything works again once the lock is gone.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::fake_sfn::{FakeStepFunctions, Mode, Reuse};
use support::process::{Api, Reply, Service};
use support::{eventually_within, started, token1, token2, unique, waiting};
use tokio::task::JoinSet;

/// How many orders are submitted during an outage.
const ORDERS: usize = 20;
/// How long Step Functions is out, from the first submission. The production backoff is
/// 0.5–1 s, then 1–2 s, 2–4 s...: the retry that follows a 3 s outage comes within ~10 s.
const OUTAGE: Duration = Duration::from_secs(3);
/// How long to wait for the callbacks after the outage.
const RECOVERY: Duration = Duration::from_secs(25);
/// How long to watch for calls that must not come: several dispatcher rounds (every 500 ms).
const QUIET: Duration = Duration::from_secs(2);

/// Recorded, the callback left to the outbox: `202 Accepted` with the order.
fn assert_accepted_for_later(reply: &Reply, what: &str) {
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{what}: {reply}");
    assert_eq!(reply.body["state"], "submitted", "{what}: {reply}");
}

/// Starts orders, submits them all during an outage of kind `outage`, ends the outage, and
/// checks that every token #1 is then taken exactly once and never called again.
async fn submissions_during_an_outage_are_delivered_once_after_it(outage: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeStepFunctions::start(outage).await;
    let svc = Service::start(dir.path(), &fake.endpoint()).await;
    let api = Api::new(svc.addr);

    let orders: Vec<(String, String)> = (0..ORDERS)
        .map(|i| (unique("order"), format!("customer-{i}")))
        .collect();
    for (id, user) in &orders {
        let r = api.ingest(&started(id, user, &token1(id))).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{r}");
        assert_eq!(r.body["outcome"], "applied", "{r}");
    }

    let began = Instant::now();
    let mut submissions = JoinSet::new();
    for (id, user) in orders.clone() {
        let api = api.clone();
        submissions.spawn(async move {
            let reply = api.submit(&id, &user).await.unwrap();
            (id, reply)
        });
    }
    while let Some(done) = submissions.join_next().await {
        let (id, reply) = done.unwrap();
        // Nothing can be taken during the outage: a 200 would claim a delivery that never was.
        assert_accepted_for_later(&reply, &format!("submitting {id}"));
    }
    let submitted_in = began.elapsed();

    // The change stands: every order is submitted with its drink, and nothing was taken.
    for (id, user) in &orders {
        let o = api.order(id, user).await;
        assert_eq!(o["state"], "submitted", "{o}");
        assert_eq!(o["drink"]["name"], "Latte", "{o}");
    }
    assert!(
        fake.taken_counts().is_empty(),
        "taken during the outage: {:?}",
        fake.taken_counts()
    );
    let calls_during_outage = fake.calls().len();
    match outage {
        Mode::Fail5xx => assert!(
            fake.calls().iter().all(|c| c.status == 500),
            "every call during the outage is answered 500"
        ),
        Mode::Down => assert_eq!(calls_during_outage, 0, "connections are refused"),
        _ => unreachable!(),
    }

    tokio::time::sleep(OUTAGE.saturating_sub(began.elapsed())).await;
    let recovered = Instant::now();
    fake.set_mode(Mode::Accept).await;

    let tokens: Vec<String> = orders.iter().map(|(id, _)| token1(id)).collect();
    eventually_within("every token #1 to be taken", RECOVERY, || {
        let counts = fake.taken_counts();
        let missing = tokens.iter().filter(|t| !counts.contains_key(*t)).count();
        async move {
            if missing == 0 {
                Ok(())
            } else {
                Err(format!("{missing} of {ORDERS} not taken yet"))
            }
        }
    })
    .await;
    let last_delivery = fake
        .calls()
        .iter()
        .filter(|c| c.took_effect)
        .map(|c| c.at)
        .max()
        .unwrap();
    let delivered_in = last_delivery.duration_since(recovered);

    // No token is called again once taken.
    tokio::time::sleep(QUIET).await;
    for t in &tokens {
        let calls = fake.calls_for(t);
        let taken = calls.iter().filter(|c| c.took_effect).count();
        assert_eq!(taken, 1, "{t} taken {taken} times: {calls:?}");
        let after = calls.iter().skip_while(|c| !c.took_effect).skip(1).count();
        assert_eq!(after, 0, "{t} called again after it was taken: {calls:?}");
        assert!(
            calls.iter().all(|c| c.payload.contains("Latte")),
            "{t}: the output names the drink: {calls:?}"
        );
    }
    for (id, user) in &orders {
        assert_eq!(api.order(id, user).await["state"], "submitted");
    }
    eprintln!(
        "{outage:?}: {ORDERS} submissions answered 503 in {submitted_in:?}; {calls_during_outage} calls during the outage, {} in all; every token #1 taken once, the last {delivered_in:?} after Step Functions came back",
        fake.calls().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_functions_answering_5xx_delays_callbacks_but_delivers_each_once() {
    submissions_during_an_outage_are_delivered_once_after_it(Mode::Fail5xx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_functions_refusing_connections_delays_callbacks_but_delivers_each_once() {
    submissions_during_an_outage_are_delivered_once_after_it(Mode::Down).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_token_expires_the_order_and_is_never_called_again() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeStepFunctions::start(Mode::DeadToken).await;
    let svc = Service::start(dir.path(), &fake.endpoint()).await;
    let api = Api::new(svc.addr);
    let (id, user) = (unique("order"), "customer-dead");
    let r = api.ingest(&started(&id, user, &token1(&id))).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{r}");

    let r = api.submit(&id, user).await.unwrap();
    assert_eq!(r.status, StatusCode::GONE, "{r}");
    assert_eq!(r.code(), "order_expired", "{r}");
    let o = api.order(&id, user).await;
    assert_eq!(o["state"], "cancelled", "{o}");
    assert_eq!(o["cancel_reason"], "expired", "{o}");

    tokio::time::sleep(QUIET).await;
    let calls = fake.calls_for(&token1(&id));
    assert_eq!(calls.len(), 1, "a dead token is final: {calls:?}");
}

/// Step Functions takes a callback but its answer is lost (a 5xx, a reset connection or a
/// time-out after the call took effect). The SDK retries the call by itself (the adapter
/// allows 2 attempts), and Step Functions answers the retry `TaskTimedOut`: the token was
/// used, by the first attempt. The order must not be expired for it: the workflow did resume
/// (docs/architecture.md, "Callbacks and the outbox"; the unknown-outcome rule of
/// `dispatch.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_then_a_dead_token_answer_does_not_expire_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeStepFunctions::start(Mode::LostAnswer).await;
    fake.set_reuse(Reuse::TaskTimedOut);
    let svc = Service::start(dir.path(), &fake.endpoint()).await;
    let api = Api::new(svc.addr);
    let (id, user) = (unique("order"), "customer-lost-answer");
    let r = api.ingest(&started(&id, user, &token1(&id))).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{r}");

    let r = api.submit(&id, user).await.unwrap();
    let calls = fake.calls_for(&token1(&id));
    assert_eq!(fake.taken(&token1(&id)), 1, "{calls:?}");
    assert_ne!(
        r.status,
        StatusCode::GONE,
        "the workflow took the drink, yet the customer is told the order expired: {r}; calls: {calls:?}"
    );
    let o = api.order(&id, user).await;
    assert_eq!(
        o["state"], "submitted",
        "the workflow took the drink: the order must stay submitted: {o}"
    );
    // The workflow moved on: its next event queues the order.
    let r = api
        .ingest(&waiting(&id, user, &token2(&id), "7"))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{r}");
    assert_eq!(api.order(&id, user).await["state"], "queued");
    assert!(
        fake.calls_for(&token2(&id)).is_empty(),
        "token #2 not failed"
    );
}

/// Holds SQLite's write lock on the service's database from a second connection
/// (`BEGIN EXCLUSIVE`; in WAL mode readers go on, writers wait for the busy timeout and then
/// fail with `SQLITE_BUSY`). This works as root, where read-only permissions would not.
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(db: &std::path::Path) -> WriteLock {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        WriteLock(conn)
    }

    fn release(self) {
        self.0.execute_batch("ROLLBACK").unwrap();
    }
}

/// Which write is tried while the store is locked.
#[derive(Debug, Clone, Copy)]
enum Write {
    Ingest,
    Submit,
    Complete,
}

/// One write while another connection holds the write lock: `503 store_unavailable` with
/// `Retry-After`, reads go on meanwhile, nothing is half-written, and the same request
/// succeeds once the lock is gone.
///
/// Timing: the writer's busy timeout is 1 s, and its single writer thread runs one
/// transaction at a time, so a write can also wait for a batch that was already waiting for
/// the lock: a refused write answers within about 2 s, well under EventBridge's 5 s and the
/// 10 s request time-out.
async fn a_write_while_the_store_is_locked_is_refused_and_leaves_no_trace(write: Write) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeStepFunctions::start(Mode::Accept).await;
    let svc = Service::start(dir.path(), &fake.endpoint()).await;
    let api = Api::new(svc.addr);
    let user = "customer-store";
    let id = unique("order");
    let envelope = started(&id, user, &token1(&id));
    match write {
        Write::Ingest => {}
        Write::Submit | Write::Complete => {
            let r = api.ingest(&envelope).await.unwrap();
            assert_eq!(r.status, StatusCode::OK, "{r}");
        }
    }
    if let Write::Complete = write {
        let r = api.submit(&id, user).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{r}");
        let r = api
            .ingest(&waiting(&id, user, &token2(&id), "42"))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::OK, "{r}");
    }
    let before = match write {
        Write::Ingest => None,
        _ => Some(api.order(&id, user).await),
    };
    let calls_before = fake.calls().len();
    // Let the notices of the set-up go out, so that the dispatcher is idle.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let lock = WriteLock::take(&svc.db);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = Instant::now();
    let attempt = || async {
        match write {
            Write::Ingest => api.ingest(&envelope).await,
            Write::Submit => api.submit(&id, user).await,
            Write::Complete => api.complete(&id).await,
        }
        .unwrap()
    };
    let refused = attempt().await;
    let took = sent.elapsed();
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{write:?} while locked ({took:?}): {refused}"
    );
    assert_eq!(
        refused.code(),
        "store_unavailable",
        "{write:?} ({took:?}): {refused}"
    );
    assert!(
        refused.retry_after.is_some(),
        "{write:?} ({took:?}): no Retry-After: {refused}"
    );

    // The writer's wait for the lock is in the log, as a slow transaction.
    let log = svc.log();
    assert!(
        log.lines()
            .any(|l| l.contains("slow SQLite transaction") && l.contains("took_ms")),
        "{write:?}: no slow transaction in the log:\n{log}"
    );

    // Reads go on while writes are refused, and the order is as it was.
    let ready = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(svc.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "readiness only reads");
    let seen = api.get(&id, user).await.unwrap();
    match &before {
        None => assert_eq!(seen.status, StatusCode::NOT_FOUND, "{seen}"),
        Some(o) => assert_eq!(&seen.body, o, "unchanged while locked"),
    }
    lock.release();

    // Nothing half-written: the order is as it was, no callback went out...
    let after = api.get(&id, user).await.unwrap();
    match &before {
        None => assert_eq!(after.status, StatusCode::NOT_FOUND, "{after}"),
        Some(o) => assert_eq!(&after.body, o, "unchanged after the refusal"),
    }
    assert_eq!(fake.calls().len(), calls_before, "{:?}", fake.calls());

    // ...and the same request now succeeds (for ingest: the envelope id was not recorded,
    // so the redelivery is applied, not a duplicate).
    let retried = attempt().await;
    assert_eq!(
        retried.status,
        StatusCode::OK,
        "{write:?} retried: {retried}"
    );
    let (state, token) = match write {
        Write::Ingest => {
            assert_eq!(retried.body["outcome"], "applied", "{retried}");
            ("created", None)
        }
        Write::Submit => ("submitted", Some(token1(&id))),
        Write::Complete => ("completed", Some(token2(&id))),
    };
    assert_eq!(api.order(&id, user).await["state"], state);
    if let Some(t) = token {
        tokio::time::sleep(QUIET).await;
        let calls = fake.calls_for(&t);
        assert!(
            calls.len() == 1 && calls[0].took_effect,
            "one callback: {calls:?}"
        );
    }
    eprintln!("{write:?} refused after {took:?} while the store was locked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_while_the_store_is_locked_answers_503_store_unavailable() {
    a_write_while_the_store_is_locked_is_refused_and_leaves_no_trace(Write::Ingest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_while_the_store_is_locked_answers_503_store_unavailable() {
    a_write_while_the_store_is_locked_is_refused_and_leaves_no_trace(Write::Submit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_while_the_store_is_locked_answers_503_store_unavailable() {
    a_write_while_the_store_is_locked_is_refused_and_leaves_no_trace(Write::Complete).await;
}

/// The fake itself: each mode answers as Step Functions would, and `Down` refuses
/// connections until the fake comes back on the same port.
#[tokio::test]
async fn the_fake_step_functions_answers_as_each_mode_says() {
    let fake = FakeStepFunctions::start(Mode::Accept).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let call = |token: &'static str| {
        http.post(format!("{}/", fake.endpoint()))
            .header("x-amz-target", "AWSStepFunctions.SendTaskSuccess")
            .header("content-type", "application/x-amz-json-1.0")
            .body(serde_json::json!({"taskToken": token, "output": "{}"}).to_string())
            .send()
    };
    let answer = |res: reqwest::Response| async move {
        let status = res.status().as_u16();
        let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        (
            status,
            body["__type"].as_str().unwrap_or_default().to_string(),
        )
    };
    assert_eq!(answer(call("a").await.unwrap()).await, (200, String::new()));
    fake.set_mode(Mode::Fail5xx).await;
    assert_eq!(
        answer(call("b").await.unwrap()).await,
        (500, "ServiceUnavailable".into())
    );
    fake.set_mode(Mode::DeadToken).await;
    assert_eq!(
        answer(call("c").await.unwrap()).await,
        (400, "TaskTimedOut".into())
    );
    fake.set_mode(Mode::Down).await;
    let refused = call("d").await.unwrap_err();
    assert!(refused.is_connect(), "{refused:?}");
    fake.set_mode(Mode::Accept).await;
    assert_eq!(answer(call("e").await.unwrap()).await, (200, String::new()));
    fake.set_reuse(Reuse::TaskTimedOut);
    assert_eq!(
        answer(call("e").await.unwrap()).await,
        (400, "TaskTimedOut".into())
    );
    fake.set_mode(Mode::LostAnswer).await;
    assert_eq!(
        answer(call("f").await.unwrap()).await,
        (500, "ServiceUnavailable".into())
    );
    let taken: Vec<_> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|t| fake.taken(t))
        .collect();
    assert_eq!(taken, [1, 0, 0, 0, 1, 1]);
    assert_eq!(fake.calls().len(), 6, "the refused call never arrived");
}
