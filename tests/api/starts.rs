//! With Step Functions, the customer's limit holds at `POST /v1/orders`: the service reserves
//! each start against it (the real OrderProcessor checks only the shop's own capacity), and
//! starts that race never go past it.

use std::sync::{Arc, Mutex};

use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessOutput;
use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
use aws_sdk_sfn::types::error::InvalidArn;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use futures_util::future::join_all;
use order_manager::outbound::stepfunctions::{StartInput, StepFunctionsWorkflow};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{self, TestApp};

const ARN: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:OrderProcessor";

fn started_output() -> StartExecutionOutput {
    StartExecutionOutput::builder()
        .execution_arn(format!("{ARN}:x"))
        .start_date(aws_sdk_sfn::primitives::DateTime::from_secs(0))
        .build()
        .unwrap()
}

/// Step Functions that starts every execution (recording its name) and takes every callback.
fn step_functions(start: &Rule) -> Arc<StepFunctionsWorkflow> {
    let success =
        mock!(Client::send_task_success).then_output(|| SendTaskSuccessOutput::builder().build());
    let client = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, &[start, &success]);
    let input = StartInput::ValidatorEvent {
        source: "awsserverlessda.serverlesspresso".into(),
    };
    Arc::new(StepFunctionsWorkflow::new(client).with_order_processor(Some(ARN.into()), input))
}

async fn start(app: &TestApp, user: &str) -> (StatusCode, Value) {
    let token = app.customer(user);
    app.call(Method::POST, "/v1/orders", Some(&token), None)
        .await
}

fn refused(answer: &(StatusCode, Value)) {
    assert_eq!(answer.0, StatusCode::CONFLICT, "{answer:?}");
    assert_eq!(answer.1["code"], "order_limit_reached", "{answer:?}");
}

#[tokio::test]
async fn a_customer_s_limit_holds_at_the_start_however_starts_race() {
    let names = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = names.clone();
    let rule = mock!(Client::start_execution).then_compute_output(move |req| {
        seen.lock()
            .unwrap()
            .push(req.name().unwrap_or_default().to_string());
        started_output()
    });
    let app = Arc::new(TestApp::spawn(step_functions(&rule)).await);
    let started = || names.lock().unwrap().len();

    // One open order per customer by default; the first is not announced yet (202).
    let first = start(&app, "alice").await;
    assert_eq!(first.0, StatusCode::ACCEPTED, "{first:?}");
    refused(&start(&app, "alice").await);
    assert_eq!(started(), 1, "a refused start starts nothing");
    assert_eq!(start(&app, "bob").await.0, StatusCode::ACCEPTED);

    // Its order arrives: still one open order. Once it is over, alice may order again.
    let id = first.1["order_id"].as_str().unwrap().to_string();
    app.ingest_ok(&support::started(&id, "alice", "t1-limit"), "applied")
        .await;
    refused(&start(&app, "alice").await);
    let (status, body) = app
        .post(&format!("/v1/orders/{id}/cancel"), &app.customer("alice"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(start(&app, "alice").await.0, StatusCode::ACCEPTED);
    assert_eq!(started(), 3);

    // Eight starts of one customer at once, with a limit of two: two get in.
    let shop = json!({"open": true, "max_orders_in_queue": 20, "max_orders_per_user": 2});
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/shop",
            Some(&app.barista("bob")),
            Some(&shop),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answers = join_all((0..8).map(|_| {
        let app = app.clone();
        async move { start(&app, "carol").await }
    }))
    .await;
    let taken = answers
        .iter()
        .filter(|a| a.0 == StatusCode::ACCEPTED)
        .count();
    assert_eq!(taken, 2, "{answers:?}");
    for a in answers.iter().filter(|a| a.0 != StatusCode::ACCEPTED) {
        refused(a);
    }
    assert_eq!(started(), 5);
}

#[tokio::test]
async fn a_start_that_fails_does_not_count() {
    let rule = mock!(Client::start_execution)
        .sequence()
        .error(|| StartExecutionError::InvalidArn(InvalidArn::builder().build()))
        .output(started_output)
        .build();
    let app = TestApp::spawn(step_functions(&rule)).await;
    let (status, body) = start(&app, "dora").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (status, body) = start(&app, "dora").await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the failed start was released: {body}"
    );
    assert_eq!(rule.num_calls(), 2);
}
