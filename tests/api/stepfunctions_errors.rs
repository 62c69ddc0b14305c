//! The Step Functions error classes moto never returns, through the SDK's own mocks
//! (`aws-smithy-mocks`) under the real adapter, driven over HTTP.
//!
//! - A dead token (`TaskTimedOut`, `TaskDoesNotExist`, `InvalidToken`) is final: the order the
//!   callback was for expires (`410 order_expired`), and the callback is never tried again.
//! - Throttling and 5xx are transient: the change stands, the caller gets `202 Accepted` with
//!   the order, and the dispatcher delivers the callback exactly once later.
//!
//! Every case is given both as a modeled error (what the SDK's deserializer makes of a real
//! answer, error metadata included) and, where it matters, as the raw AWS JSON 1.0 error body
//! on the wire, so that the SDK's own parsing and retry classification are part of the test.

use std::time::Duration;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::retry::RetryConfig;
use aws_sdk_sfn::error::ErrorMetadata;
use aws_sdk_sfn::operation::send_task_failure::{SendTaskFailureError, SendTaskFailureOutput};
use aws_sdk_sfn::operation::send_task_success::{SendTaskSuccessError, SendTaskSuccessOutput};
use aws_sdk_sfn::types::error::{InvalidToken, TaskDoesNotExist, TaskTimedOut};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use order_manager::domain::ids::TaskToken;
use order_manager::domain::ports::{CallbackError, Workflow};
use order_manager::outbound::stepfunctions::StepFunctionsWorkflow;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, TestApp, eventually, latte, sfn, unique};

const USER: &str = "7b3c9d2e-1f0a-4b4c-9d8e-6f5a4b3c2d1e";
const BARISTA: &str = "barista-sfn-errors";

/// The three answers that mean "this token is dead".
const DEAD_TOKEN_CODES: [&str; 3] = ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"];

/// The body Step Functions (AWS JSON 1.0) sends with a `400` when it throttles.
const THROTTLING_BODY: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;

/// How long to watch for callbacks that should not happen: several dispatcher rounds
/// (every 50 ms) and more than the longest retry delay of the test settings (200 ms).
const QUIET_PERIOD: Duration = Duration::from_millis(400);

fn metadata(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} (mocked)"))
        .build()
}

/// A dead-token answer to `SendTaskSuccess`, as the SDK deserializes it from the wire.
fn dead_success(code: &'static str) -> SendTaskSuccessError {
    match code {
        "TaskTimedOut" => SendTaskSuccessError::TaskTimedOut(
            TaskTimedOut::builder()
                .message("mocked")
                .meta(metadata(code))
                .build(),
        ),
        "TaskDoesNotExist" => SendTaskSuccessError::TaskDoesNotExist(
            TaskDoesNotExist::builder()
                .message("mocked")
                .meta(metadata(code))
                .build(),
        ),
        "InvalidToken" => SendTaskSuccessError::InvalidToken(
            InvalidToken::builder()
                .message("mocked")
                .meta(metadata(code))
                .build(),
        ),
        other => panic!("not a dead-token code: {other}"),
    }
}

/// The same answer as a raw AWS JSON 1.0 error body.
fn dead_body(code: &str) -> String {
    json!({"__type": format!("com.amazonaws.states#{code}"), "message": "mocked"}).to_string()
}

/// The real adapter over a mocked client whose SDK retry policy is the production one
/// (`StepFunctionsWorkflow::from_env`: one attempt per call; the service retries itself), so
/// that the number of calls per attempt is known.
/// (`support::sfn::workflow_with` uses the SDK's test defaults: 3 attempts, 1 s backoff.)
fn workflow_with_production_retries(rules: &[&Rule]) -> std::sync::Arc<dyn Workflow> {
    let client = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, rules, |b| {
        b.retry_config(
            RetryConfig::standard()
                .with_max_attempts(1)
                .with_initial_backoff(Duration::from_millis(1)),
        )
    });
    std::sync::Arc::new(StepFunctionsWorkflow::new(client))
}

/// `SendTaskSuccess` for `token` only, answered with an empty success.
fn accept_success_for(token: &'static str) -> Rule {
    mock!(Client::send_task_success)
        .match_requests(move |r| r.task_token() == Some(token))
        .then_output(|| SendTaskSuccessOutput::builder().build())
}

/// Catches every `SendTaskSuccess` no other rule took (and accepts it), to count strays.
fn stray_successes() -> Rule {
    mock!(Client::send_task_success).then_output(|| SendTaskSuccessOutput::builder().build())
}

/// Catches every `SendTaskFailure` no other rule took (and accepts it), to count strays.
fn stray_failures() -> Rule {
    mock!(Client::send_task_failure).then_output(|| SendTaskFailureOutput::builder().build())
}

fn assert_expired_problem(status: StatusCode, body: &Value, case: &str) {
    assert_eq!(status, StatusCode::GONE, "{case}: {body}");
    assert_eq!(body["code"], "order_expired", "{case}: {body}");
    assert_eq!(body["status"], 410, "{case}: {body}");
}

async fn assert_cancelled(app: &TestApp, id: &str, reason: &str, case: &str) {
    let order = app.order(id, USER).await;
    assert_eq!(order["state"], "cancelled", "{case}: {order}");
    assert_eq!(order["cancel_reason"], reason, "{case}: {order}");
}

// ---- dead tokens: final -------------------------------------------------------------------

/// Submits a drink against a `SendTaskSuccess` that answers with `rule`; checks the 410,
/// the expiry and that the callback was tried exactly once, even after the dispatcher ran.
async fn submission_against_a_dead_token(rule: Rule, case: &str) {
    let stray = stray_successes();
    let app = TestApp::spawn(sfn::workflow_with(&[&rule, &stray])).await;
    let id = app.start_order(USER, "TOKEN-dead-one").await;

    let (status, body) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_expired_problem(status, &body, case);
    assert_cancelled(&app, &id, "expired", case).await;
    assert_eq!(rule.num_calls(), 1, "{case}: SendTaskSuccess calls");

    tokio::time::sleep(QUIET_PERIOD).await;
    assert_eq!(rule.num_calls(), 1, "{case}: a dead token was tried again");
    assert_eq!(stray.num_calls(), 0, "{case}: unexpected SendTaskSuccess");
    assert_cancelled(&app, &id, "expired", case).await;
    // The customer cannot submit again: the order is over.
    let (status, body) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::GONE, "{case}: {body}");
}

#[tokio::test]
async fn submission_whose_token_is_dead_answers_410_and_expires_the_order() {
    for code in DEAD_TOKEN_CODES {
        let rule = mock!(Client::send_task_success).then_error(move || dead_success(code));
        submission_against_a_dead_token(rule, &format!("modeled {code}")).await;
    }
}

#[tokio::test]
async fn submission_whose_token_is_dead_on_the_wire_answers_410_and_expires_the_order() {
    for code in DEAD_TOKEN_CODES {
        let rule = mock!(Client::send_task_success)
            .sequence()
            .http_status(400, Some(dead_body(code)))
            .repeatedly()
            .build();
        submission_against_a_dead_token(rule, &format!("wire {code}")).await;
    }
}

/// A dead-token error built without error metadata (as `TaskTimedOut::builder().build()`
/// makes it) has no `code()`: the adapter recognises it by its modeled variant.
#[tokio::test]
async fn submission_whose_token_is_dead_without_error_metadata_answers_410() {
    let rule = mock!(Client::send_task_success)
        .then_error(|| SendTaskSuccessError::TaskTimedOut(TaskTimedOut::builder().build()));
    submission_against_a_dead_token(rule, "modeled TaskTimedOut without metadata").await;
}

#[tokio::test]
async fn completion_whose_token_timed_out_answers_410_and_expires_the_order() {
    let (t1, t2) = ("TOKEN-alive-one", "TOKEN-dead-two");
    let first = accept_success_for(t1);
    let second = mock!(Client::send_task_success)
        .match_requests(move |r| r.task_token() == Some(t2))
        .then_error(|| dead_success("TaskTimedOut"));
    let stray = stray_successes();
    let app = TestApp::spawn(sfn::workflow_with(&[&first, &second, &stray])).await;
    let id = app.queue_order(USER, t1, t2).await;
    let barista = app.barista(BARISTA);

    let (status, body) = app.post(&format!("/v1/orders/{id}/claim"), &barista).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "preparing");
    let (status, body) = app
        .post(&format!("/v1/orders/{id}/complete"), &barista)
        .await;
    assert_expired_problem(status, &body, "completion");
    assert_cancelled(&app, &id, "expired", "completion").await;
    assert_eq!(first.num_calls(), 1);
    assert_eq!(second.num_calls(), 1);

    tokio::time::sleep(QUIET_PERIOD).await;
    assert_eq!(second.num_calls(), 1, "a dead token was tried again");
    assert_eq!(stray.num_calls(), 0, "unexpected SendTaskSuccess");
    let (status, body) = app
        .post(&format!("/v1/orders/{id}/complete"), &barista)
        .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
}

// ---- throttling and 5xx: transient ----------------------------------------------------------

#[tokio::test]
async fn each_call_is_one_attempt_and_the_adapter_tells_refusals_from_unknown_outcomes() {
    // Two throttled answers, then a success: each call of the adapter is one request (the
    // service does its own retrying), and throttling is a refusal: it did not take effect.
    let rule = mock!(Client::send_task_success)
        .sequence()
        .http_status(400, Some(THROTTLING_BODY.to_string()))
        .times(2)
        .output(|| SendTaskSuccessOutput::builder().build())
        .build();
    let workflow = workflow_with_production_retries(&[&rule]);
    let token = TaskToken::parse("TOKEN-throttled").unwrap();
    let output = json!({"order_id": "o-1"});
    for calls in 1..=2 {
        match workflow.resume(&token, &output).await.unwrap_err() {
            CallbackError::Unavailable(message) => {
                assert!(message.contains("ThrottlingException"), "{message}");
                assert!(
                    !message.contains("TOKEN-throttled"),
                    "the token leaked: {message}"
                );
            }
            other => panic!("throttling is a refusal, got {other:?}"),
        }
        assert_eq!(rule.num_calls(), calls, "one request per call");
    }
    workflow.resume(&token, &output).await.unwrap();
    assert_eq!(rule.num_calls(), 3);

    // A 5xx may come after the call took effect: its outcome is unknown.
    let failing = mock!(Client::send_task_success)
        .sequence()
        .http_status(500, Some(r#"{"__type":"ServiceUnavailable"}"#.to_string()))
        .repeatedly()
        .build();
    let workflow = workflow_with_production_retries(&[&failing]);
    let err = workflow.resume(&token, &output).await.unwrap_err();
    assert!(matches!(err, CallbackError::Unknown(_)), "{err:?}");
    assert_eq!(failing.num_calls(), 1);

    // A dead token is final.
    let dead = mock!(Client::send_task_success)
        .sequence()
        .http_status(400, Some(dead_body("TaskTimedOut")))
        .repeatedly()
        .build();
    let workflow = workflow_with_production_retries(&[&dead]);
    let err = workflow.resume(&token, &output).await.unwrap_err();
    assert!(
        matches!(&err, CallbackError::Rejected(m) if m.starts_with("TaskTimedOut")),
        "{err:?}"
    );
    assert_eq!(dead.num_calls(), 1);
}

/// Submits a drink while `SendTaskSuccess` answers `status` + `body` for every attempt of the
/// inline call (two, with the production SDK retry policy), then succeeds. The submission
/// answers 202 with the order, which stays submitted, and the dispatcher delivers
/// the callback exactly once, with the right token and output.
async fn transient_failure_is_delivered_later_by_the_dispatcher(status: u16, body: &str) {
    const TOKEN: &str = "TOKEN-transient-one";
    let id = unique("order");
    let expected_id = id.clone();
    let rule = mock!(Client::send_task_success)
        .match_requests(move |r| {
            let output: Value =
                serde_json::from_str(r.output().unwrap_or("null")).unwrap_or(Value::Null);
            r.task_token() == Some(TOKEN)
                && output["order_id"] == expected_id.as_str()
                && output["drink"]["name"] == "Latte"
        })
        .sequence()
        .http_status(status, Some(body.to_string()))
        .times(2)
        .output(|| SendTaskSuccessOutput::builder().build())
        .build();
    let stray = stray_successes();
    let app = TestApp::spawn(workflow_with_production_retries(&[&rule, &stray])).await;
    app.ingest_ok(&support::started(&id, USER, TOKEN), "applied")
        .await;

    // Recorded, and the workflow will be told: `202` with the order (a 503 would tell the
    // client nothing happened, and its retry would meet a conflict).
    let (code, answered) = support::read(app.submit_raw(&id, USER, &latte()).await).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{answered}");
    assert_eq!(answered["state"], "submitted", "{answered}");
    // The client repeats it anyway: the same `PUT`, nothing sent twice.
    let (code, _) = support::read(app.submit_raw(&id, USER, &latte()).await).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(rule.num_calls(), 1, "the inline call is one request");
    // The change stands: the order is submitted, not lost and not expired.
    let order = app.order(&id, USER).await;
    assert_eq!(order["state"], "submitted", "{order}");
    assert_eq!(order["drink"]["name"], "Latte", "{order}");

    eventually("the dispatcher to deliver the callback", || async {
        (rule.num_calls() == 3).then_some(())
    })
    .await;
    tokio::time::sleep(QUIET_PERIOD).await;
    assert_eq!(rule.num_calls(), 3, "a delivered callback was sent again");
    assert_eq!(stray.num_calls(), 0, "unexpected SendTaskSuccess");
    let order = app.order(&id, USER).await;
    assert_eq!(order["state"], "submitted", "{order}");

    // The workflow moved on: its second wait reaches us and the order is queued.
    app.ingest_ok(
        &support::waiting(&id, USER, "TOKEN-transient-two", "9"),
        "applied",
    )
    .await;
    assert_eq!(app.order(&id, USER).await["state"], "queued");
}

#[tokio::test]
async fn throttled_submission_answers_202_and_the_dispatcher_delivers_it_once() {
    transient_failure_is_delivered_later_by_the_dispatcher(400, THROTTLING_BODY).await;
}

#[tokio::test]
async fn submission_hitting_a_5xx_answers_202_and_the_dispatcher_delivers_it_once() {
    transient_failure_is_delivered_later_by_the_dispatcher(
        500,
        r#"{"__type":"InternalFailure","message":"We encountered an internal error. Please try again."}"#,
    )
    .await;
}

#[tokio::test]
async fn submission_hitting_a_gateway_error_page_answers_202_and_is_delivered_once() {
    transient_failure_is_delivered_later_by_the_dispatcher(
        502,
        "<html><body>502 Bad Gateway</body></html>",
    )
    .await;
}

// ---- cancellations --------------------------------------------------------------------------

/// The failure mode (`OM_CANCEL_CALLBACK=failure`), for workflows that catch it.
async fn failing_cancels(
    workflow: std::sync::Arc<dyn order_manager::domain::ports::Workflow>,
) -> TestApp {
    TestApp::spawn_with(workflow, |s| {
        s.service.cancel_callback = order_manager::domain::lifecycle::CancelCallback::Failure;
    })
    .await
}

#[tokio::test]
async fn barista_cancel_of_a_queued_order_fails_token_two_with_order_cancelled() {
    let (workflow, calls) = sfn::accepting();
    let app = failing_cancels(workflow).await;
    let (t1, t2) = ("TOKEN-cancel-one", "TOKEN-cancel-two");
    let id = app.queue_order(USER, t1, t2).await;

    let (status, body) = app
        .post(&format!("/v1/orders/{id}/cancel"), &app.barista(BARISTA))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "cancelled", "{body}");
    assert_eq!(body["cancel_reason"], "barista", "{body}");

    assert_eq!(
        calls.failures(),
        vec![(t2.to_string(), "OrderCancelled".to_string())]
    );
    let successes: Vec<String> = calls.successes().into_iter().map(|(t, _)| t).collect();
    assert_eq!(successes, vec![t1.to_string()], "token #2 was resumed");

    tokio::time::sleep(QUIET_PERIOD).await;
    assert_eq!(calls.failures().len(), 1, "the cancellation was sent again");
}

#[tokio::test]
async fn barista_cancel_whose_token_timed_out_answers_410_and_expires_the_order() {
    let (t1, t2) = ("TOKEN-late-cancel-one", "TOKEN-late-cancel-two");
    let first = accept_success_for(t1);
    let failure = mock!(Client::send_task_failure)
        .match_requests(move |r| r.task_token() == Some(t2) && r.error() == Some("OrderCancelled"))
        .then_error(|| {
            SendTaskFailureError::TaskTimedOut(
                TaskTimedOut::builder()
                    .message("mocked")
                    .meta(metadata("TaskTimedOut"))
                    .build(),
            )
        });
    let stray = stray_successes();
    let stray_fail = stray_failures();
    let app = failing_cancels(sfn::workflow_with(&[&first, &failure, &stray, &stray_fail])).await;
    let id = app.queue_order(USER, t1, t2).await;

    let (status, body) = app
        .post(&format!("/v1/orders/{id}/cancel"), &app.barista(BARISTA))
        .await;
    // The wait was over before the cancel: as for a submission or a completion, `410`.
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["code"], "order_expired", "{body}");
    assert_eq!(failure.num_calls(), 1);

    tokio::time::sleep(QUIET_PERIOD).await;
    assert_eq!(failure.num_calls(), 1, "a dead token was tried again");
    assert_eq!(stray_fail.num_calls(), 0, "unexpected SendTaskFailure");
    assert_eq!(stray.num_calls(), 0, "unexpected SendTaskSuccess");
    assert_cancelled(&app, &id, "expired", "late cancel").await;
    // The time-out, delivered after, names why: the order ends as it would have, had the
    // event come first.
    app.ingest_ok(
        &support::timed_out(&id, USER, "Barista timedout"),
        "applied",
    )
    .await;
    assert_cancelled(
        &app,
        &id,
        "barista_timeout",
        "late cancel, then the time-out",
    )
    .await;
}

/// Every transition whose callback could not be delivered yet answers `202 Accepted` with the
/// order, on both APIs: a completion, a barista's cancel, the barista app's buttons. A repeat
/// answers `200` and sends nothing more.
#[tokio::test]
async fn a_change_whose_callback_waits_answers_202_on_every_route() {
    let ones = accept_success_for_tokens_ending("-one");
    let twos = mock!(Client::send_task_success)
        .match_requests(|r| r.task_token().is_some_and(|t| t.ends_with("-two")))
        .sequence()
        .http_status(500, Some("{}".into()))
        .repeatedly()
        .build();
    let app = TestApp::spawn_with(workflow_with_production_retries(&[&ones, &twos]), |s| {
        // The dispatcher's retries stay out of the counts below.
        s.service.retry_base = Duration::from_secs(60);
        s.service.retry_cap = Duration::from_secs(60);
    })
    .await;
    let barista = app.barista(BARISTA);
    let order = |n: &str| {
        let (t1, t2) = (format!("TOKEN-202-{n}-one"), format!("TOKEN-202-{n}-two"));
        let app = &app;
        async move { app.queue_order(USER, &t1, &t2).await }
    };
    let (a, b, c) = (order("a").await, order("b").await, order("c").await);

    let (status, _) = app.post(&format!("/v1/orders/{a}/claim"), &barista).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(&format!("/v1/orders/{a}/complete"), &barista)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["state"], "completed", "{body}");
    let (status, body) = app
        .post(&format!("/v1/orders/{a}/complete"), &barista)
        .await;
    assert_eq!(status, StatusCode::OK, "a repeat: {body}");

    let (status, body) = app.post(&format!("/v1/orders/{b}/cancel"), &barista).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["cancel_reason"], "barista", "{body}");

    let put = |path: String| {
        let app = &app;
        let barista = barista.clone();
        async move {
            app.call(reqwest::Method::PUT, &path, Some(&barista), None)
                .await
        }
    };
    let (status, _) = put(format!("/orders/claim/{c}?action=make")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = put(format!("/orders/complete/{c}")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["result"]["ORDERSTATE"], "COMPLETED", "{body}");
    let (status, body) = put(format!("/orders/complete/{c}")).await;
    assert_eq!(status, StatusCode::OK, "a repeat: {body}");

    assert_eq!(
        twos.num_calls(),
        3,
        "one inline try per change, none for the repeats"
    );
}

/// `SendTaskSuccess` for every token ending in `suffix`, answered with an empty success.
fn accept_success_for_tokens_ending(suffix: &'static str) -> Rule {
    mock!(Client::send_task_success)
        .match_requests(move |r| r.task_token().is_some_and(|t| t.ends_with(suffix)))
        .then_output(|| SendTaskSuccessOutput::builder().build())
}

/// The inline attempt timed out from our side (here: 5xx), yet the workflow moved on: its
/// WaitingCompletion proves token #1 was consumed, so the pending callback is settled and
/// never sent again, even though Step Functions keeps failing.
#[tokio::test]
async fn waiting_completion_settles_a_pending_callback_for_token_one() {
    const TOKEN: &str = "TOKEN-settled-one";
    let failing = mock!(Client::send_task_success)
        .match_requests(|r| r.task_token() == Some(TOKEN))
        .sequence()
        .http_status(500, Some("{}".into()))
        .repeatedly()
        .build();
    let app = TestApp::spawn_with(workflow_with_production_retries(&[&failing]), |s| {
        // Keep the dispatcher from retrying before the event arrives.
        s.service.retry_base = Duration::from_millis(300);
        s.service.retry_cap = Duration::from_millis(300);
    })
    .await;
    let id = app.start_order(USER, TOKEN).await;
    let (status, body) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let calls_before = failing.num_calls();
    app.ingest_ok(
        &support::waiting(&id, USER, "TOKEN-settled-two", "5"),
        "applied",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        failing.num_calls(),
        calls_before,
        "a settled callback must not be retried"
    );
    assert_eq!(app.order(&id, USER).await["state"], "queued");
}

/// Submits against a Step Functions that first answers `first` (status and body) to both SDK
/// attempts of the inline try, then `TaskTimedOut` to the dispatcher's retry. Returns the app,
/// the order id and the rule.
async fn transient_then_dead(status: u16, body: &str) -> (TestApp, String, Rule) {
    const TOKEN: &str = "TOKEN-then-dead";
    let rule = mock!(Client::send_task_success)
        .match_requests(|r| r.task_token() == Some(TOKEN))
        .sequence()
        .http_status(status, Some(body.to_string()))
        .times(2)
        .error(|| dead_success("TaskTimedOut"))
        .repeatedly()
        .build();
    let app = TestApp::spawn(workflow_with_production_retries(&[&rule])).await;
    let id = app.start_order(USER, TOKEN).await;
    let (status, body) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    eventually("the dispatcher's retry", || async {
        (rule.num_calls() >= 3).then_some(())
    })
    .await;
    tokio::time::sleep(QUIET_PERIOD).await;
    (app, id, rule)
}

/// A 5xx may come after Step Functions took the callback: a later "token is dead" may only
/// mean that this first attempt used it, so the order is not expired; the workflow's next
/// event decides.
#[tokio::test]
async fn a_dead_token_after_an_attempt_of_unknown_outcome_leaves_the_decision_to_the_workflow() {
    let (app, id, rule) = transient_then_dead(500, r#"{"__type":"ServiceUnavailable"}"#).await;
    assert_eq!(rule.num_calls(), 3, "a rejected callback is not retried");
    assert_eq!(
        app.order(&id, USER).await["state"],
        "submitted",
        "not expired"
    );
    // The workflow's own timeout event settles it.
    app.ingest_ok(
        &support::timed_out(&id, USER, "Customer timedout"),
        "applied",
    )
    .await;
    assert_cancelled(
        &app,
        &id,
        "customer_timeout",
        "after the workflow's timeout",
    )
    .await;
}

/// Throttling is a refusal: the first attempt certainly did not arrive, so a later "token is
/// dead" means the wait is over, and the order expires.
#[tokio::test]
async fn a_dead_token_after_a_throttled_attempt_expires_the_order() {
    let (app, id, _) = transient_then_dead(400, THROTTLING_BODY).await;
    assert_cancelled(&app, &id, "expired", "after a throttled attempt").await;
}
