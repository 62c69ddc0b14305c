//! Events as a real event stream delivers them: at least once, in any order, some before
//! their order's start, some for progress another part of the shop made. Whatever the order,
//! the same events end in the same state, nothing changes an order that ended, and no
//! callback goes to a workflow that has finished.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{self, TestApp, latte, sfn, unique};

const USER: &str = "u-disorder";

async fn app() -> (TestApp, sfn::Calls) {
    let (workflow, calls) = sfn::accepting();
    (TestApp::spawn(workflow).await, calls)
}

#[tokio::test]
async fn events_before_their_start_are_kept_and_applied_when_it_arrives() {
    let (app, calls) = app().await;
    let id = unique("o");
    let waiting = support::waiting(&id, USER, &format!("{id}-t2"), "41");
    app.ingest_ok(&waiting, "deferred").await;
    app.ingest_ok(&waiting, "duplicate").await;
    let (status, _) = app
        .get(&format!("/v1/orders/{id}"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no order before its start");
    app.ingest_ok(&support::started(&id, USER, &format!("{id}-t1")), "applied")
        .await;
    let order = app.order(&id, USER).await;
    assert_eq!(order["state"], "queued", "{order}");
    assert_eq!(order["order_number"], 41);
    // The barista completes it: token #2, kept with the early event, resumes the workflow.
    let (status, done) = app
        .post(&format!("/v1/orders/{id}/complete"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(calls.tokens(), vec![format!("{id}-t2")]);
}

#[tokio::test]
async fn progress_made_elsewhere_is_followed() {
    let (app, calls) = app().await;
    let id = unique("o");
    let mut started = support::started(&id, USER, &format!("{id}-t1"));
    started["detail"].as_object_mut().unwrap().remove("eventId");
    app.ingest_ok(&started, "applied").await;
    // Submitted through another path (the robot extension, the console): the workflow says
    // so with its second wait.
    app.ingest_ok(
        &support::waiting(&id, USER, &format!("{id}-t2"), "7"),
        "applied",
    )
    .await;
    let order = app.order(&id, USER).await;
    assert_eq!(order["state"], "queued");
    assert_eq!(order["order_number"], 7);
    assert_eq!(order["drink"], Value::Null, "the drink is not known here");
    let (_, queue) = app.get("/v1/orders", &app.barista("b")).await;
    assert!(
        queue["orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["order_id"] == id.as_str()),
        "{queue}"
    );
    // The Serverlesspresso apps' list: the display app reads every order's drink.
    let (status, compat) = app.get("/orders?state=CREATED", &app.barista("b")).await;
    assert_eq!(status, StatusCode::OK, "{compat}");
    let listed = compat["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["SK"] == id.as_str())
        .expect("listed");
    assert_eq!(listed["orderNumber"], 7);
    assert_eq!(listed["drinkOrder"]["drink"], "");
    // The order app's: its history, and the order itself.
    let customer = app.customer(USER);
    let (status, mine) = app.get("/myOrders", &customer).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let listed = mine["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["SK"] == id.as_str())
        .expect("in the customer's history");
    assert_eq!(listed["orderNumber"], 7);
    assert_eq!(listed["drinkOrder"]["drink"], "");
    let (status, one) = app.get(&format!("/orders/{id}"), &customer).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["result"]["orderState"], "CREATED", "{one}");
    assert_eq!(one["result"]["drinkOrder"]["drink"], "", "{one}");
    // The customer's own submission comes too late: the workflow is past that wait.
    let (status, body) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = app
        .post(&format!("/v1/orders/{id}/complete"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        calls.tokens(),
        vec![format!("{id}-t2")],
        "token #1 never sent"
    );
}

/// An order cancelled here in `submitted` (no token held), then the workflow's `end` (answered
/// `outcome`): its second wait, delivered late and again, releases nothing (the workflow is
/// past it), and the order is neither changed nor numbered.
async fn cancelled_then_over(end: impl Fn(&str) -> Value, outcome: &str) {
    let (app, calls) = app().await;
    let id = unique("o");
    app.ingest_ok(&support::started(&id, USER, &format!("{id}-t1")), "applied")
        .await;
    let (status, _) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(&format!("/v1/orders/{id}/cancel"), &app.barista("b"))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "cancelled in `submitted`: no token held"
    );
    app.ingest_ok(&end(&id), outcome).await;
    let before = app.order(&id, USER).await;
    let waiting = support::waiting(&id, USER, &format!("{id}-t2"), "9");
    app.ingest_ok(&waiting, "stale").await;
    app.ingest_ok(&waiting, "duplicate").await;
    let after = app.order(&id, USER).await;
    assert_eq!(after, before);
    assert_eq!(after["cancel_reason"], "barista");
    assert_eq!(after["order_number"], Value::Null);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        calls.failures(),
        vec![],
        "no callback to a workflow past its waits"
    );
    assert_eq!(
        calls.tokens(),
        vec![format!("{id}-t1")],
        "only the submission"
    );
}

#[tokio::test]
async fn a_redelivery_after_the_workflow_finished_changes_nothing() {
    cancelled_then_over(|id| support::finished(id, USER), "applied").await;
}

#[tokio::test]
async fn a_workflow_that_timed_out_is_never_called_back() {
    // The barista's wait timed out before its `WaitingCompletion` came: the order stays as
    // the barista ended it.
    cancelled_then_over(
        |id| support::timed_out(id, USER, "Barista timedout"),
        "stale",
    )
    .await;
}

#[tokio::test]
async fn every_delivery_is_remembered_whatever_its_outcome() {
    let (app, _) = app().await;
    let mut foreign = support::started(&unique("o"), USER, "t");
    foreign["detail-type"] = serde_json::json!("Validator.NewOrder");
    app.ingest_ok(&foreign, "ignored").await;
    app.ingest_ok(&foreign, "duplicate").await;
}

/// One execution's events, in the order the workflow emits them.
#[derive(Debug, Clone, Copy)]
enum Story {
    /// Started, then the customer's wait timed out.
    CustomerTimedOut,
    /// Submitted elsewhere, then the barista's wait timed out.
    BaristaTimedOut,
    /// Submitted and completed elsewhere: the workflow ran to its end.
    Finished,
    /// Submitted elsewhere, timed out, and (in a workflow that does) finished.
    TimedOutThenFinished,
    /// Submitted elsewhere and still waiting for the barista.
    Queued,
}

fn events(story: Story, id: &str) -> Vec<Value> {
    let started = support::started(id, USER, &format!("{id}-t1"));
    let waiting = support::waiting(id, USER, &format!("{id}-t2"), "17");
    let customer = support::timed_out(id, USER, "Customer timedout");
    let barista = support::timed_out(id, USER, "Barista timedout");
    let finished = support::finished(id, USER);
    match story {
        Story::CustomerTimedOut => vec![started, customer],
        Story::BaristaTimedOut => vec![started, waiting, barista],
        Story::Finished => vec![started, waiting, finished],
        Story::TimedOutThenFinished => vec![started, waiting, barista, finished],
        Story::Queued => vec![started, waiting],
    }
}

/// What must not depend on the delivery order: the state, why it was cancelled, and the
/// number while the order is in the queue.
fn outcome(order: &Value) -> (Value, Value, Value) {
    let open = order["state"] == "queued" || order["state"] == "preparing";
    (
        order["state"].clone(),
        order["cancel_reason"].clone(),
        if open {
            order["order_number"].clone()
        } else {
            Value::Null
        },
    )
}

/// Delivers `story`'s events to a fresh order in `order` (indexes into the story), each
/// delivery followed by the redeliveries `again` asks for; returns the order at the end.
async fn deliver(app: &TestApp, story: Story, order: &[usize], again: &[bool]) -> (String, Value) {
    let id = unique("o");
    let events = events(story, &id);
    for (k, &i) in order.iter().enumerate() {
        let (status, body) = app.ingest(&events[i]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if again[k % again.len()] {
            let (status, body) = app.ingest(&events[i]).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["outcome"], "duplicate", "a redelivery: {body}");
        }
    }
    let order = app.order(&id, USER).await;
    (id, order)
}

fn story() -> impl Strategy<Value = Story> {
    prop_oneof![
        Just(Story::CustomerTimedOut),
        Just(Story::BaristaTimedOut),
        Just(Story::Finished),
        Just(Story::TimedOutThenFinished),
        Just(Story::Queued),
    ]
}

/// Any delivery order of the same events, with any redeliveries, ends as the workflow's
/// own order does, and calls no workflow back.
#[tokio::test(flavor = "multi_thread")]
async fn any_delivery_order_of_the_same_events_ends_in_the_same_state() {
    let (app, calls) = app().await;
    let cases = (story(), any::<[bool; 4]>()).prop_flat_map(|(story, again)| {
        let n = events(story, "x").len();
        (
            Just(story),
            Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
            Just(again),
        )
    });
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&cases, |(story, order, again)| {
            handle.block_on(async {
                let in_order: Vec<usize> = (0..order.len()).collect();
                let (_, expected) = deliver(&app, story, &in_order, &[false]).await;
                let (id, got) = deliver(&app, story, &order, &again).await;
                prop_assert_eq!(
                    outcome(&got),
                    outcome(&expected),
                    "{:?} delivered as {:?}: {} vs {}",
                    story,
                    order,
                    got,
                    expected
                );
                let tokens = calls.tokens();
                prop_assert!(
                    !tokens.iter().any(|t| t.starts_with(&id)),
                    "no callback: {:?}",
                    tokens
                );
                Ok(())
            })
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
