//! The Step Functions round trip against moto (the real AWS protocol), with the real adapter.
//!
//! A small state machine stands in for the OrderProcessor: two
//! `sqs:sendMessage.waitForTaskToken` tasks, whose messages carry the task tokens the real
//! workflow would put on EventBridge. The test reads them from SQS, hands them to the service
//! as `WorkflowStarted` / `WaitingCompletion` events, drives the order over HTTP and checks
//! that the execution moves on and ends as the service said.
//!
//! Needs a moto server: set `OM_TEST_MOTO_URL` (e.g. `http://127.0.0.1:5055`). Without it the
//! tests are skipped, unless `OM_TEST_REQUIRE_MOTO` is set, in which case they fail.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use order_manager::outbound::stepfunctions::StepFunctionsWorkflow;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, TestApp, latte, unique};

const USER: &str = "8c4d0e3f-2a1b-4c5d-8e9f-7a6b5c4d3e2f";
const BARISTA: &str = "barista-moto";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/sfn";
/// Upper bound for anything moto does asynchronously (messages, execution status).
const DEADLINE: Duration = Duration::from_secs(10);

/// A two-wait workflow in moto, and the queue its tasks send their tokens to.
struct MotoWorkflow {
    sfn: aws_sdk_sfn::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    state_machine_arn: String,
}

/// A task token as the workflow's task message carried it.
struct TaskMessage {
    token: String,
    body: Value,
}

impl MotoWorkflow {
    async fn create(url: &str) -> MotoWorkflow {
        let conf = support::moto_with_interpreter(url).await;
        let sfn = aws_sdk_sfn::Client::new(&conf);
        let sqs = aws_sdk_sqs::Client::new(&conf);

        let queue_url = sqs
            .create_queue()
            .queue_name(unique("om-tokens"))
            .send()
            .await
            .expect("create the SQS queue")
            .queue_url
            .expect("a queue URL");
        let task = |step: &str, result_path: &str, next: Value| {
            let mut state = json!({
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {
                    "QueueUrl": queue_url,
                    "MessageBody": {
                        "step": step,
                        "TaskToken.$": "$$.Task.Token",
                        "orderId.$": "$.orderId"
                    }
                },
                "ResultPath": result_path,
            });
            state
                .as_object_mut()
                .unwrap()
                .extend(next.as_object().unwrap().clone());
            state
        };
        let definition = json!({
            "Comment": "order-manager test: two waits for task tokens, like the OrderProcessor",
            "StartAt": "WaitForSubmission",
            "States": {
                "WaitForSubmission": task("one", "$.stepOne", json!({"Next": "WaitForCompletion"})),
                "WaitForCompletion": task("two", "$.stepTwo", json!({"Next": "Done"})),
                "Done": {"Type": "Succeed"}
            }
        });
        let state_machine_arn = sfn
            .create_state_machine()
            .name(unique("om-order-processor"))
            .role_arn(ROLE_ARN)
            .r#type(aws_sdk_sfn::types::StateMachineType::Standard)
            .definition(definition.to_string())
            .send()
            .await
            .expect("create the state machine")
            .state_machine_arn;
        MotoWorkflow {
            sfn,
            sqs,
            queue_url,
            state_machine_arn,
        }
    }

    /// Starts an execution named after the order; returns its ARN.
    async fn start(&self, order_id: &str) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(order_id)
            .input(json!({"orderId": order_id}).to_string())
            .send()
            .await
            .expect("start the execution")
            .execution_arn
    }

    /// Waits for the task message of `step` and takes it off the queue.
    async fn task_message(&self, step: &str) -> TaskMessage {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(1)
                .send()
                .await
                .expect("receive from SQS");
            if let Some(message) = received.messages.unwrap_or_default().into_iter().next() {
                if let Some(handle) = message.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete the SQS message");
                }
                let body: Value = serde_json::from_str(message.body().unwrap_or_default())
                    .expect("the task message is JSON");
                assert_eq!(body["step"], step, "task messages out of order: {body}");
                let token = body["TaskToken"]
                    .as_str()
                    .expect("the task message carries TaskToken")
                    .to_string();
                return TaskMessage { token, body };
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no task message for step {step} within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the execution leaves RUNNING; returns its description.
    async fn finished(
        &self,
        execution_arn: &str,
    ) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(execution_arn)
                .send()
                .await
                .expect("describe the execution");
            if described.status != ExecutionStatus::Running {
                return described;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the execution is still RUNNING after {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Best effort: moto keeps everything in memory until it stops.
    async fn delete(self) {
        let _ = self
            .sfn
            .delete_state_machine()
            .state_machine_arn(&self.state_machine_arn)
            .send()
            .await;
        let _ = self
            .sqs
            .delete_queue()
            .queue_url(&self.queue_url)
            .send()
            .await;
    }
}

/// The envelope of `event` as EventBridge would deliver it for the real execution.
fn of_execution(mut envelope: Value, execution_arn: &str) -> Value {
    envelope["resources"][1] = json!(execution_arn);
    envelope
}

/// Starts an execution for a new order, lets the service store token #1, submits the drink
/// (which resumes the first wait), and stores token #2. Returns the order id and execution ARN.
async fn queued_order_of_a_real_execution(app: &TestApp, wf: &MotoWorkflow) -> (String, String) {
    let order_id = unique("order");
    let execution_arn = wf.start(&order_id).await;
    let one = wf.task_message("one").await;
    assert_eq!(one.body["orderId"], order_id.as_str(), "{}", one.body);

    app.ingest_ok(
        &of_execution(
            support::started(&order_id, USER, &one.token),
            &execution_arn,
        ),
        "applied",
    )
    .await;
    let (status, body) = app.submit(&order_id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "submitted", "{body}");

    // The second task only runs once SendTaskSuccess resumed the first one.
    let two = wf.task_message("two").await;
    assert_eq!(two.body["orderId"], order_id.as_str(), "{}", two.body);
    assert_ne!(two.token, one.token, "each wait has its own token");
    app.ingest_ok(
        &of_execution(
            support::waiting(&order_id, USER, &two.token, "1"),
            &execution_arn,
        ),
        "applied",
    )
    .await;
    let order = app.order(&order_id, USER).await;
    assert_eq!(order["state"], "queued", "{order}");
    assert_eq!(order["order_number"], 1, "{order}");
    (order_id, execution_arn)
}

#[tokio::test]
async fn submission_and_completion_resume_a_real_execution_to_succeeded() {
    let Some(url) = support::moto_url("the Step Functions round trip against moto") else {
        return;
    };
    let wf = MotoWorkflow::create(&url).await;
    let app = TestApp::spawn(Arc::new(StepFunctionsWorkflow::new(wf.sfn.clone()))).await;
    let (order_id, execution_arn) = queued_order_of_a_real_execution(&app, &wf).await;
    let barista = app.barista(BARISTA);

    let (status, body) = app
        .post(&format!("/v1/orders/{order_id}/claim"), &barista)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "preparing", "{body}");
    let (status, body) = app
        .post(&format!("/v1/orders/{order_id}/complete"), &barista)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "completed", "{body}");

    let execution = wf.finished(&execution_arn).await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{execution:?}"
    );
    let output: Value = serde_json::from_str(
        execution
            .output()
            .expect("a succeeded execution has output"),
    )
    .expect("the output is JSON");
    // The outputs the service sent became the results of the two waits.
    assert_eq!(output["orderId"], order_id.as_str(), "{output}");
    assert_eq!(output["stepOne"]["order_id"], order_id.as_str(), "{output}");
    assert_eq!(output["stepOne"]["drink"]["name"], "Latte", "{output}");
    assert_eq!(output["stepTwo"]["order_id"], order_id.as_str(), "{output}");
    assert_eq!(output["stepTwo"]["outcome"], "completed", "{output}");
    let text = output.to_string();
    assert!(
        text.contains(&order_id) && text.contains("\"completed\""),
        "{text}"
    );

    app.stop().await;
    wf.delete().await;
}

/// `OM_CANCEL_CALLBACK=failure`, for a workflow that catches it (this one does not).
#[tokio::test]
async fn a_cancel_configured_to_fail_fails_the_real_execution() {
    let Some(url) = support::moto_url("the Step Functions round trip against moto") else {
        return;
    };
    let wf = MotoWorkflow::create(&url).await;
    let app = TestApp::spawn_with(Arc::new(StepFunctionsWorkflow::new(wf.sfn.clone())), |s| {
        s.service.cancel_callback = order_manager::domain::lifecycle::CancelCallback::Failure;
    })
    .await;
    let (order_id, execution_arn) = queued_order_of_a_real_execution(&app, &wf).await;

    let (status, body) = app
        .post(
            &format!("/v1/orders/{order_id}/cancel"),
            &app.barista(BARISTA),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "cancelled", "{body}");
    assert_eq!(body["cancel_reason"], "barista", "{body}");

    let execution = wf.finished(&execution_arn).await;
    assert_eq!(execution.status, ExecutionStatus::Failed, "{execution:?}");
    // moto records the error of SendTaskFailure (it drops the cause).
    assert_eq!(execution.error(), Some("OrderCancelled"), "{execution:?}");
    assert!(execution.output().is_none(), "{execution:?}");

    app.stop().await;
    wf.delete().await;
}
