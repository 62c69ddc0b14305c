//! The whole flow with the embedded order processor: no AWS at all.

use std::time::Duration;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::start_execution::StartExecutionOutput;
use aws_smithy_mocks::mock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, eventually, latte, sfn};

async fn start(app: &TestApp, user: &str, body: Option<Value>) -> Value {
    let (status, order) = app
        .call(
            Method::POST,
            "/v1/orders",
            Some(&app.customer(user)),
            body.as_ref(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    order
}

async fn state_of(app: &TestApp, id: &str, user: &str, state: &str) -> Value {
    eventually(&format!("order {id} to be {state}"), || async {
        let o = app.order(id, user).await;
        (o["state"] == state).then_some(o)
    })
    .await
}

#[tokio::test]
async fn the_whole_flow_runs_in_process() {
    let app = TestApp::spawn_embedded(|_| {}).await;
    let order = start(&app, "alice", Some(json!({"event_id": "NYC"}))).await;
    assert_eq!(order["state"], "created");
    assert_eq!(order["event_id"], "NYC");
    let id = order["order_id"].as_str().unwrap().to_string();

    let (status, body) = app.submit(&id, &app.customer("alice"), latte()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let queued = state_of(&app, &id, "alice", "queued").await;
    assert_eq!(queued["order_number"], 1);

    let barista = app.barista("bob");
    let (status, _) = app.post(&format!("/v1/orders/{id}/claim"), &barista).await;
    assert_eq!(status, StatusCode::OK);
    let (status, done) = app
        .post(&format!("/v1/orders/{id}/complete"), &barista)
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "completed");

    // The next order of the event gets the next number; another event starts at 1.
    let second = start(&app, "carol", Some(json!({"event_id": "NYC"}))).await;
    let other = start(&app, "dave", Some(json!({"event_id": "LDN"}))).await;
    for (o, user) in [(&second, "carol"), (&other, "dave")] {
        let id = o["order_id"].as_str().unwrap();
        app.submit(id, &app.customer(user), latte()).await;
    }
    let n2 = state_of(
        &app,
        second["order_id"].as_str().unwrap(),
        "carol",
        "queued",
    )
    .await;
    let n3 = state_of(&app, other["order_id"].as_str().unwrap(), "dave", "queued").await;
    assert_eq!(
        (n2["order_number"].clone(), n3["order_number"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(app.order(&id, "alice").await["state"], "completed");
}

#[tokio::test]
async fn a_body_is_optional_and_checked_when_present() {
    let app = TestApp::spawn_embedded(|_| {}).await;
    let order = start(&app, "alice", None).await;
    assert_eq!(order["event_id"], "default");
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/orders",
            Some(&app.customer("a")),
            Some(&json!({"evnt": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = app.call(Method::POST, "/v1/orders", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unsubmitted_order_times_out_like_the_workflow() {
    let app = TestApp::spawn_embedded(|s| {
        s.processor.customer_timeout = Duration::from_millis(300);
    })
    .await;
    let order = start(&app, "alice", None).await;
    let id = order["order_id"].as_str().unwrap();
    let o = state_of(&app, id, "alice", "cancelled").await;
    assert_eq!(o["cancel_reason"], "customer_timeout");
    let (status, body) = app.submit(id, &app.customer("alice"), latte()).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["code"], "order_expired");
}

#[tokio::test]
async fn a_queued_order_times_out_when_no_barista_completes_it() {
    let app = TestApp::spawn_embedded(|s| {
        s.processor.barista_timeout = Duration::from_millis(300);
    })
    .await;
    let order = start(&app, "alice", None).await;
    let id = order["order_id"].as_str().unwrap();
    app.submit(id, &app.customer("alice"), latte()).await;
    let o = state_of(&app, id, "alice", "cancelled").await;
    assert_eq!(o["cancel_reason"], "barista_timeout");
    let (status, _) = app
        .post(&format!("/v1/orders/{id}/complete"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::GONE, "the wait is over");
}

#[tokio::test]
async fn a_barista_cancel_ends_the_execution() {
    let app = TestApp::spawn_embedded(|_| {}).await;
    let order = start(&app, "alice", None).await;
    let id = order["order_id"].as_str().unwrap();
    app.submit(id, &app.customer("alice"), latte()).await;
    state_of(&app, id, "alice", "queued").await;
    let (status, body) = app
        .post(&format!("/v1/orders/{id}/cancel"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The processor ends the execution; its orderFinished leaves the order as it is.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let o = app.order(id, "alice").await;
    assert_eq!(
        (o["state"].as_str(), o["cancel_reason"].as_str()),
        (Some("cancelled"), Some("barista"))
    );
}

#[tokio::test]
async fn with_step_functions_orders_start_a_named_execution_or_404() {
    let (workflow, _) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/orders",
            Some(&app.customer("alice")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "order_processor_not_configured");

    let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:OrderProcessor";
    let names = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, Value)>::new()));
    let seen = names.clone();
    let rule = mock!(Client::start_execution).then_compute_output(move |req| {
        seen.lock().unwrap().push((
            req.name().unwrap_or_default().to_string(),
            serde_json::from_str(req.input().unwrap_or("null")).unwrap(),
        ));
        StartExecutionOutput::builder()
            .execution_arn(format!("{arn}:x"))
            .start_date(aws_sdk_sfn::primitives::DateTime::from_secs(0))
            .build()
            .unwrap()
    });
    let sfn_workflow = order_manager::outbound::stepfunctions::StepFunctionsWorkflow::new(
        aws_smithy_mocks::mock_client!(aws_sdk_sfn, aws_smithy_mocks::RuleMode::MatchAny, &[&rule]),
    )
    .with_order_processor(
        Some(arn.to_string()),
        order_manager::outbound::stepfunctions::StartInput::ValidatorEvent {
            source: "awsserverlessda.serverlesspresso".into(),
        },
    );
    let app = TestApp::spawn(std::sync::Arc::new(sfn_workflow)).await;
    let res = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(app.customer("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::ACCEPTED,
        "no WorkflowStarted came within the wait"
    );
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let body: Value = res.json().await.unwrap();
    let id = body["order_id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/orders/{id}"));
    let calls = names.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, id, "the execution is named by the order id");
    // The input the sample's OrderProcessor reads: the `Validator.NewOrder` event.
    let input = &calls[0].1;
    assert_eq!(input["detail-type"], "Validator.NewOrder", "{input}");
    assert_eq!(
        input["source"], "awsserverlessda.serverlesspresso",
        "{input}"
    );
    assert_eq!(input["detail"]["orderId"], id, "{input}");
    assert_eq!(input["detail"]["userId"], "alice", "{input}");
    assert_eq!(input["detail"]["bucket"]["eventId"], "default", "{input}");
    assert_eq!(input["detail"]["eventId"], "default", "{input}");
    assert!(
        input["id"].as_str().is_some_and(|s| !s.is_empty()),
        "{input}"
    );
}
