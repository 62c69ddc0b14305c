//! `GET /v1/orders/{id}/history`: every change of an order, with its time, state and cause,
//! for the owner and baristas only, never with a task token.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError;
use aws_sdk_sfn::types::error::TaskTimedOut;
use aws_smithy_mocks::mock;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{self, TestApp, latte, sfn};

const USER: &str = "7b3c9d2e-1f0a-4b4c-9d8e-6f5a4b3c2d1e";

/// The story of `id` as `token` sees it: `(state, by, who)` per change, `who` being the
/// `user_id` or the `event` of the change.
async fn story(app: &TestApp, id: &str, token: &str) -> (Value, Vec<(String, String, String)>) {
    let (status, body) = app.get(&format!("/v1/orders/{id}/history"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["order_id"], id);
    let changes = body["changes"].as_array().expect("a list of changes");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let steps = changes
        .iter()
        .map(|c| {
            let who = if c["user_id"].is_string() {
                text(&c["user_id"])
            } else {
                text(&c["event"])
            };
            (text(&c["state"]), text(&c["by"]), who)
        })
        .collect();
    (body, steps)
}

fn steps(want: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    want.iter()
        .map(|(s, b, w)| (s.to_string(), b.to_string(), w.to_string()))
        .collect()
}

#[tokio::test]
async fn an_order_s_story_tells_who_moved_it_and_when() {
    let (workflow, _calls) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let (t1, t2) = ("TOKEN-story-one", "TOKEN-story-two");
    let customer = app.customer(USER);
    let bob = app.barista("bob");
    let id = app.start_order(USER, t1).await;
    let (status, body) = app.submit(&id, &customer, latte()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.ingest_ok(&support::waiting(&id, USER, t2, "12"), "applied")
        .await;
    for action in ["claim", "unclaim", "claim", "complete"] {
        let (status, body) = app.post(&format!("/v1/orders/{id}/{action}"), &bob).await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
    }
    app.ingest_ok(&support::finished(&id, USER), "applied")
        .await;

    let (body, got) = story(&app, &id, &customer).await;
    assert_eq!(
        got,
        steps(&[
            ("created", "workflow", "OrderProcessor.WorkflowStarted"),
            ("submitted", "customer", USER),
            ("queued", "workflow", "OrderProcessor.WaitingCompletion"),
            ("preparing", "barista", "bob"),
            ("queued", "barista", "bob"),
            ("preparing", "barista", "bob"),
            ("completed", "barista", "bob"),
            ("completed", "workflow", "OrderProcessor.orderFinished"),
        ])
    );
    let changes = body["changes"].as_array().unwrap();
    let versions: Vec<u64> = changes
        .iter()
        .map(|c| c["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    let times: Vec<chrono::DateTime<chrono::Utc>> = changes
        .iter()
        .map(|c| c["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(changes[2]["order_number"], 12);
    let text = body.to_string();
    assert!(
        !text.contains(t1) && !text.contains(t2),
        "a token leaked: {text}"
    );

    // A barista reads the same story; another customer cannot tell the order exists.
    let (_, as_barista) = story(&app, &id, &app.barista("carol")).await;
    assert_eq!(as_barista, got);
    let (status, body) = app
        .get(
            &format!("/v1/orders/{id}/history"),
            &app.customer("mallory"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "order_not_found", "{body}");
    let (status, _) = app.get("/v1/orders/no-such-order/history", &customer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&format!("/v1/orders/{id}/history"), "not-a-token")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn early_events_cancels_and_timeouts_are_in_the_story() {
    let (workflow, _calls) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;

    // The workflow's second wait announced before its start: applied when the start arrives.
    let early = support::unique("order");
    app.ingest_ok(&support::waiting(&early, USER, "t2-early", "5"), "deferred")
        .await;
    app.ingest_ok(&support::started(&early, USER, "t1-early"), "applied")
        .await;
    app.ingest_ok(
        &support::timed_out(&early, USER, "Barista timedout"),
        "applied",
    )
    .await;
    let (body, got) = story(&app, &early, &app.customer(USER)).await;
    assert_eq!(
        got,
        steps(&[
            ("created", "workflow", "OrderProcessor.WorkflowStarted"),
            ("queued", "workflow", "OrderProcessor.WaitingCompletion"),
            ("cancelled", "timeout", ""),
        ])
    );
    assert_eq!(body["changes"][2]["cancel_reason"], "barista_timeout");

    // A customer's cancel is the customer's.
    let id = app.start_order(USER, "t1-cancelled").await;
    let (status, body) = app
        .post(&format!("/v1/orders/{id}/cancel"), &app.customer(USER))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (body, got) = story(&app, &id, &app.customer(USER)).await;
    assert_eq!(
        got,
        steps(&[
            ("created", "workflow", "OrderProcessor.WorkflowStarted"),
            ("cancelled", "customer", USER),
        ])
    );
    assert_eq!(body["changes"][1]["cancel_reason"], "customer");
}

#[tokio::test]
async fn an_expired_token_is_the_cause_of_the_expiry() {
    let dead = mock!(Client::send_task_success).then_error(|| {
        SendTaskSuccessError::TaskTimedOut(
            TaskTimedOut::builder()
                .message("Task Timed Out: 'arn:aws:states:us-east-1:123456789012:task'")
                .build(),
        )
    });
    let app = TestApp::spawn(sfn::workflow_with(&[&dead])).await;
    let id = app.start_order(USER, "TOKEN-dead-story").await;
    let (status, body) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    let (body, got) = story(&app, &id, &app.customer(USER)).await;
    assert_eq!(
        got,
        steps(&[
            ("created", "workflow", "OrderProcessor.WorkflowStarted"),
            ("submitted", "customer", USER),
            ("cancelled", "expired_token", ""),
        ])
    );
    assert_eq!(body["changes"][2]["cancel_reason"], "expired");
}
