//! The service with a state machine shaped like the Serverlesspresso sample's OrderProcessor,
//! run end to end on moto's interpreter: started by `POST /v1/orders` with the input it
//! reads, announcing its waits with `events:putEvents.waitForTaskToken` on an EventBridge bus
//! whose rule hands them, through SQS, to a forwarder that plays the API destination
//! (`POST /v1/events`), numbering orders from a DynamoDB counter, and ending with
//! `orderFinished`, or with an `OrderTimeOut` when a wait's heartbeat runs out.
//!
//! The machine is written here for the tests, after the facts of the sample's: a shop-open
//! check (a DynamoDB read), two waits with `HeartbeatSeconds` (300 and 900) and a `Catch` on
//! `States.Timeout` only, the order number after the first wait, a choice on
//! `$.order.cancelled` after the second.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_sfn::types::ExecutionStatus;
use clap::Parser;
use order_manager::config::Cli;
use order_manager::outbound::stepfunctions::StepFunctionsWorkflow;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, INGEST_KEY, TestApp, latte, unique};

const USER: &str = "5d1c7e2a-9b3f-4e6d-8a7c-2f1e0d9c8b7a";
const BARISTA: &str = "barista-op";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/order-processor";
const SOURCE: &str = "awsserverlessda.serverlesspresso";
/// Upper bound for anything moto does asynchronously.
const DEADLINE: Duration = Duration::from_secs(20);

/// The waits' heartbeats, in seconds: the sample's, or short ones to see them time out.
#[derive(Clone, Copy)]
struct Heartbeats {
    customer: u32,
    barista: u32,
}

const REAL: Heartbeats = Heartbeats {
    customer: 300,
    barista: 900,
};

fn put_event(bus: &str, detail_type: &str, detail: Value) -> Value {
    json!({"Entries": [{
        "Source": SOURCE,
        "EventBusName": bus,
        "DetailType": detail_type,
        "Detail": detail,
    }]})
}

/// The OrderProcessor's shape, on `bus`, reading the shop's status from `config` and
/// numbering orders with `counter`.
fn definition(bus: &str, config: &str, counter: &str, beats: Heartbeats) -> Value {
    let wait = |detail_type: &str, detail: Value, heartbeat: u32, result: Value, next: &str| {
        json!({
            "Type": "Task",
            "Resource": "arn:aws:states:::events:putEvents.waitForTaskToken",
            "Parameters": put_event(bus, detail_type, detail),
            "HeartbeatSeconds": heartbeat,
            "ResultPath": result,
            "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.comment",
                       "Next": if detail_type.ends_with("WorkflowStarted") {
                           "Customer timed out" } else { "Barista timed out" }}],
            "Next": next,
        })
    };
    let emit = |detail_type: &str, detail: Value, next: &str| {
        json!({
            "Type": "Task",
            "Resource": "arn:aws:states:::events:putEvents",
            "Parameters": put_event(bus, detail_type, detail),
            "ResultPath": null,
            "Next": next,
        })
    };
    json!({
        "Comment": "order-manager tests: shaped like the Serverlesspresso OrderProcessor",
        "StartAt": "Read the shop's status",
        "States": {
            "Read the shop's status": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": config, "Key": {"PK": {"S": "config"}}},
                "ResultPath": "$.shop",
                "Next": "Is the shop open?"
            },
            "Is the shop open?": {
                "Type": "Choice",
                "Choices": [{
                    "Not": {"Variable": "$.shop.Item.storeOpen.BOOL", "BooleanEquals": true},
                    "Next": "Shop unavailable"
                }],
                "Default": "Wait for the drink"
            },
            "Shop unavailable": emit("OrderProcessor.ShopUnavailable",
                json!({"Message": "The shop is closed.", "userId.$": "$.detail.userId"}),
                "Finished"),
            "Wait for the drink": wait("OrderProcessor.WorkflowStarted", json!({
                    "Message": "Waiting for the customer's drink.",
                    "TaskToken.$": "$$.Task.Token",
                    "orderId.$": "$.detail.orderId",
                    "userId.$": "$.detail.userId",
                    "eventId.$": "$.detail.bucket.eventId",
                }), beats.customer, Value::Null, "Number the order"),
            "Number the order": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Parameters": {
                    "TableName": counter,
                    "Key": {"PK": {"S": "orderID"}},
                    "UpdateExpression": "SET IDvalue = IDvalue + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                    "ReturnValues": "UPDATED_NEW"
                },
                "ResultSelector": {"orderNumber.$": "$.Attributes.IDvalue.N"},
                "ResultPath": "$.Order.Payload",
                "Next": "Wait for the barista"
            },
            "Wait for the barista": wait("OrderProcessor.WaitingCompletion", json!({
                    "Message": "Waiting for the barista.",
                    "TaskToken.$": "$$.Task.Token",
                    "orderId.$": "$.detail.orderId",
                    "orderNumber.$": "$.Order.Payload.orderNumber",
                    "userId.$": "$.detail.userId",
                    "eventId.$": "$.detail.bucket.eventId",
                }), beats.barista, json!("$.order"), "Cancelled?"),
            "Cancelled?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.order.cancelled", "BooleanEquals": true,
                             "Next": "Order was cancelled"}],
                "Default": "Finished"
            },
            "Order was cancelled": {"Type": "Pass", "Next": "Finished"},
            "Customer timed out": {"Type": "Pass", "Result": "Customer timedout",
                                   "ResultPath": "$.cause", "Next": "Announce the time-out"},
            "Barista timed out": {"Type": "Pass", "Result": "Barista timedout",
                                  "ResultPath": "$.cause", "Next": "Announce the time-out"},
            "Announce the time-out": emit("OrderProcessor.OrderTimeOut", json!({
                    "Message": "The order timed out.",
                    "userId.$": "$.detail.userId",
                    "orderId.$": "$.detail.orderId",
                    "cause.$": "$.cause",
                }), "Done"),
            "Finished": emit("OrderProcessor.orderFinished", json!({
                    "Message": "The order has reached the end of the workflow.",
                    "userId.$": "$.detail.userId",
                    "orderId.$": "$.detail.orderId",
                }), "Done"),
            "Done": {"Type": "Succeed"}
        }
    })
}

/// The shop on moto: the machine, its tables, its bus, and the API destination's stand-in.
struct Shop {
    app: TestApp,
    sfn: aws_sdk_sfn::Client,
    state_machine_arn: String,
    /// Every detail-type forwarded to the service, in order, with its order id.
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    forwarder: tokio::task::JoinHandle<()>,
}

async fn open_shop(url: &str, beats: Heartbeats) -> Shop {
    let conf = support::moto_with_interpreter(url).await;
    let (ddb, events, sqs, sfn) = (
        aws_sdk_dynamodb::Client::new(&conf),
        aws_sdk_eventbridge::Client::new(&conf),
        aws_sdk_sqs::Client::new(&conf),
        aws_sdk_sfn::Client::new(&conf),
    );

    let (config, counter) = (unique("op-config"), unique("op-counter"));
    for table in [&config, &counter] {
        ddb.create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("PK")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("PK")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("create a table");
    }
    ddb.put_item()
        .table_name(&config)
        .item("PK", AttributeValue::S("config".into()))
        .item("storeOpen", AttributeValue::Bool(true))
        .send()
        .await
        .expect("open the shop");
    ddb.put_item()
        .table_name(&counter)
        .item("PK", AttributeValue::S("orderID".into()))
        .item("IDvalue", AttributeValue::N("0".into()))
        .send()
        .await
        .expect("start the counter");

    let bus = unique("Serverlesspresso");
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create the bus");
    let queue_url = sqs
        .create_queue()
        .queue_name(unique("op-destination"))
        .send()
        .await
        .expect("create the queue")
        .queue_url
        .expect("a queue URL");
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("the queue's ARN")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("a queue ARN");
    let rule = unique("op-to-order-manager");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(
            json!({"source": [SOURCE], "detail-type": [{"prefix": "OrderProcessor."}]}).to_string(),
        )
        .send()
        .await
        .expect("create the rule");
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("order-manager")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("target the queue");

    let state_machine_arn = sfn
        .create_state_machine()
        .name(unique("OrderProcessor"))
        .role_arn(ROLE_ARN)
        .r#type(aws_sdk_sfn::types::StateMachineType::Standard)
        .definition(definition(&bus, &config, &counter, beats).to_string())
        .send()
        .await
        .expect("create the state machine")
        .state_machine_arn;

    // The service as deployed with the sample: Step Functions, and the command line's
    // defaults for the start input and the cancel.
    let defaults = Cli::try_parse_from(["order-manager", "--jwt-secret", support::JWT_SECRET])
        .unwrap()
        .serve
        .settings()
        .unwrap();
    let workflow = StepFunctionsWorkflow::new(sfn.clone()).with_order_processor(
        Some(state_machine_arn.clone()),
        defaults.order_processor_input.clone(),
    );
    let app = TestApp::spawn_with(Arc::new(workflow), |s| {
        s.service.cancel_callback = defaults.service.cancel_callback;
    })
    .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let forwarder = tokio::spawn(forward(
        sqs,
        queue_url,
        app.http.clone(),
        app.url("/v1/events"),
        seen.clone(),
    ));
    Shop {
        app,
        sfn,
        state_machine_arn,
        seen,
        forwarder,
    }
}

/// The API destination: every event the rule routes is posted to the ingest endpoint, as
/// EventBridge would, and must be acknowledged.
async fn forward(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    http: reqwest::Client,
    ingest: String,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
) {
    loop {
        let Ok(received) = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .send()
            .await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        for m in messages {
            let envelope: Value = serde_json::from_str(m.body().unwrap_or_default())
                .expect("an EventBridge envelope");
            let res = http
                .post(&ingest)
                .header("x-api-key", INGEST_KEY)
                .json(&envelope)
                .send()
                .await
                .expect("the ingest endpoint answers");
            let status = res.status();
            let answer: Value = res.json().await.unwrap_or(Value::Null);
            assert_eq!(status, StatusCode::OK, "{envelope} -> {answer}");
            seen.lock().unwrap().push((
                envelope["detail-type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                envelope["detail"]["orderId"].clone(),
            ));
            if let Some(handle) = m.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
    }
}

impl Shop {
    /// `POST /v1/orders` as the customer; the order once the workflow announced it.
    async fn start(&self) -> Value {
        let res = self
            .app
            .http
            .post(self.app.url("/v1/orders"))
            .bearer_auth(self.app.customer(USER))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::ACCEPTED,
            "{status}: {body}"
        );
        let id = body["order_id"].as_str().unwrap().to_string();
        self.state(&id, "created").await
    }

    /// Waits until the order is in `state`.
    async fn state(&self, id: &str, state: &str) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let (status, order) = self
                .app
                .get(&format!("/v1/orders/{id}"), &self.app.barista(BARISTA))
                .await;
            if status == StatusCode::OK && order["state"] == state {
                return order;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "order {id} is not {state} within {DEADLINE:?}: {order}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the order's execution ends, and for its last event to be forwarded;
    /// returns the execution's status and the detail-types forwarded for the order.
    async fn ended(&self, id: &str, last: &str) -> (ExecutionStatus, Vec<String>) {
        let arn = self
            .state_machine_arn
            .replace(":stateMachine:", ":execution:")
            + ":"
            + id;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .expect("describe the execution");
            let seen: Vec<String> = self
                .seen
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, o)| o == id)
                .map(|(t, _)| t.clone())
                .collect();
            if described.status != ExecutionStatus::Running
                && seen.last().map(String::as_str) == Some(last)
            {
                return (described.status, seen);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "execution of {id}: {:?}, events {seen:?}",
                described.status
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn close(self) {
        self.forwarder.abort();
        self.app.stop().await;
    }
}

fn moto() -> Option<String> {
    support::moto_url("the OrderProcessor on moto")
}

#[tokio::test]
async fn an_order_started_here_runs_the_order_processor_to_its_end() {
    let Some(url) = moto() else { return };
    let shop = open_shop(&url, REAL).await;
    let order = shop.start().await;
    let id = order["order_id"].as_str().unwrap();
    assert_eq!(order["event_id"], "default", "{order}");
    assert_eq!(order["user_id"], USER, "{order}");

    let (status, body) = shop.app.submit(id, &shop.app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let queued = shop.state(id, "queued").await;
    assert_eq!(
        queued["order_number"], 1,
        "the counter's first number: {queued}"
    );
    let barista = shop.app.barista(BARISTA);
    let (status, body) = shop
        .app
        .post(&format!("/v1/orders/{id}/claim"), &barista)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = shop
        .app
        .post(&format!("/v1/orders/{id}/complete"), &barista)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, events) = shop.ended(id, "OrderProcessor.orderFinished").await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(
        events,
        [
            "OrderProcessor.WorkflowStarted",
            "OrderProcessor.WaitingCompletion",
            "OrderProcessor.orderFinished"
        ]
    );
    assert_eq!(shop.state(id, "completed").await["order_number"], 1);
    shop.close().await;
}

#[tokio::test]
async fn a_barista_s_cancel_lets_the_order_processor_finish() {
    let Some(url) = moto() else { return };
    let shop = open_shop(&url, REAL).await;
    let id = shop.start().await["order_id"].as_str().unwrap().to_string();
    let (status, _) = shop
        .app
        .submit(&id, &shop.app.customer(USER), latte())
        .await;
    assert_eq!(status, StatusCode::OK);
    shop.state(&id, "queued").await;
    let (status, body) = shop
        .app
        .post(
            &format!("/v1/orders/{id}/cancel"),
            &shop.app.barista(BARISTA),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Not FAILED: the machine has no Catch for a task failure, so the cancel resumes it.
    let (status, events) = shop.ended(&id, "OrderProcessor.orderFinished").await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{events:?}");
    let order = shop.state(&id, "cancelled").await;
    assert_eq!(order["cancel_reason"], "barista", "{order}");
    shop.close().await;
}

#[tokio::test]
async fn a_customer_s_cancel_before_the_drink_releases_both_waits() {
    let Some(url) = moto() else { return };
    let shop = open_shop(&url, REAL).await;
    let id = shop.start().await["order_id"].as_str().unwrap().to_string();
    let (status, body) = shop
        .app
        .post(&format!("/v1/orders/{id}/cancel"), &shop.app.customer(USER))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The machine goes on to number the order and wait for the barista; that wait is
    // released as soon as it is announced, and the machine runs to its end.
    let (status, events) = shop.ended(&id, "OrderProcessor.orderFinished").await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{events:?}");
    assert_eq!(
        events,
        [
            "OrderProcessor.WorkflowStarted",
            "OrderProcessor.WaitingCompletion",
            "OrderProcessor.orderFinished"
        ]
    );
    let order = shop.state(&id, "cancelled").await;
    assert_eq!(order["cancel_reason"], "customer", "{order}");
    assert_eq!(order["order_number"], Value::Null, "{order}");
    shop.close().await;
}

/// One of the waits runs out of heartbeat: the machine announces the time-out, the order is
/// cancelled for it, and what was waited for answers `410` afterwards.
async fn a_wait_times_out(barista_s: bool) {
    let Some(url) = moto() else { return };
    let beats = if barista_s {
        Heartbeats {
            customer: 300,
            barista: 2,
        }
    } else {
        Heartbeats {
            customer: 2,
            barista: 900,
        }
    };
    let shop = open_shop(&url, beats).await;
    let id = shop.start().await["order_id"].as_str().unwrap().to_string();
    let customer = shop.app.customer(USER);
    if barista_s {
        let (status, _) = shop.app.submit(&id, &customer, latte()).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, events) = shop.ended(&id, "OrderProcessor.OrderTimeOut").await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{events:?}");
    let order = shop.state(&id, "cancelled").await;
    let reason = if barista_s {
        "barista_timeout"
    } else {
        "customer_timeout"
    };
    assert_eq!(order["cancel_reason"], reason, "{order}");
    let (status, body) = if barista_s {
        let complete = format!("/v1/orders/{id}/complete");
        shop.app.post(&complete, &shop.app.barista(BARISTA)).await
    } else {
        shop.app.submit(&id, &customer, latte()).await
    };
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["code"], "order_expired");
    shop.close().await;
}

#[tokio::test]
async fn the_customer_s_wait_times_out_and_the_order_expires() {
    a_wait_times_out(false).await;
}

#[tokio::test]
async fn the_barista_s_wait_times_out_and_the_order_expires() {
    a_wait_times_out(true).await;
}
