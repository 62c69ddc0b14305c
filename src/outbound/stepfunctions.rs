//! The Step Functions adapter of the [`Workflow`] port (`SendTaskSuccess` / `SendTaskFailure`).
//!
//! Error classes are mapped in one place ([`classify`]): a dead token (`TaskTimedOut`,
//! `TaskDoesNotExist`, `InvalidToken`) is final; everything else (throttling, 5xx, network,
//! time-outs, even access errors an operator can fix) is transient and retried. Transient
//! failures that may have taken effect (5xx, time-outs, lost answers) are told apart from
//! those that did not (throttling and other 4xx refusals).

use std::time::Duration;

use crate::outbound::aws::{shared_config, timeouts};
use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::config::retry::RetryConfig;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureError;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError;

use crate::domain::ids::{EventId, OrderId, TaskToken, UserId};
use crate::domain::ports::{CallbackError, StartError, Workflow};
use crate::domain::shop::ShopSettings;

/// Step Functions caps `error` at 256 and `cause` at 32,768 characters.
const MAX_ERROR: usize = 256;
const MAX_CAUSE: usize = 32_768;

pub struct StepFunctionsWorkflow {
    client: Client,
    /// The OrderProcessor state machine that `POST /v1/orders` starts, if any.
    order_processor: Option<String>,
    /// What its executions are started with.
    input: StartInput,
}

/// The input `POST /v1/orders` starts the OrderProcessor with (`OM_ORDER_PROCESSOR_INPUT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartInput {
    /// What the Serverlesspresso sample's rule starts it with: the whole `Validator.NewOrder`
    /// event the QR validator puts on the bus. The machine reads `$.detail.orderId`,
    /// `$.detail.userId` and `$.detail.bucket.eventId` (the coffee event also in
    /// `$.detail.eventId`).
    ValidatorEvent {
        /// The event's `source` (`OM_EVENT_SOURCE`).
        source: String,
    },
    /// `{"orderId", "userId", "eventId"}`, for a workflow of one's own.
    Flat,
}

impl StartInput {
    /// The execution input for a new order.
    pub fn for_order(&self, order: &OrderId, user: &UserId, event: &EventId) -> serde_json::Value {
        match self {
            Self::Flat => serde_json::json!({"orderId": order, "userId": user, "eventId": event}),
            Self::ValidatorEvent { source } => serde_json::json!({
                "version": "0",
                "id": uuid::Uuid::new_v4().to_string(),
                "detail-type": "Validator.NewOrder",
                "source": source,
                "account": "",
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "region": "",
                "resources": [],
                "detail": {
                    "Message": "A new order was placed.",
                    "orderId": order,
                    "userId": user,
                    "eventId": event,
                    "bucket": {"eventId": event},
                },
            }),
        }
    }
}

impl StepFunctionsWorkflow {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            order_processor: None,
            input: StartInput::Flat,
        }
    }

    /// Lets the service start orders: executions of this state machine, named by order id,
    /// started with `input`.
    pub fn with_order_processor(
        mut self,
        state_machine_arn: Option<String>,
        input: StartInput,
    ) -> Self {
        self.order_processor = state_machine_arn;
        self.input = input;
        self
    }

    /// A client from the standard AWS configuration chain (`AWS_REGION`, `AWS_ENDPOINT_URL`,
    /// credentials...), with short time-outs: callbacks are tried inline on a request path,
    /// and what does not go through quickly is left to the dispatcher.
    pub async fn from_env() -> Self {
        let shared = shared_config("Step Functions callbacks").await;
        let config = aws_sdk_sfn::config::Builder::from(&shared)
            // One attempt per call: the service retries itself, with backoff and with the
            // knowledge of what an earlier attempt may have done (an SDK retry that gets
            // "TaskTimedOut" after a lost answer would look like a dead token).
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(timeouts(Duration::from_secs(2), Duration::from_secs(4)))
            .build();
        Self::new(Client::from_conf(config))
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The error codes that mean the token is dead.
const DEAD_TOKEN: [&str; 3] = ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"];

/// Both callback operations' errors name the dead-token cases as typed variants.
trait DeadToken {
    fn is_dead_token(&self) -> bool;
}

impl DeadToken for SendTaskSuccessError {
    fn is_dead_token(&self) -> bool {
        self.is_task_timed_out() || self.is_task_does_not_exist() || self.is_invalid_token()
    }
}

impl DeadToken for SendTaskFailureError {
    fn is_dead_token(&self) -> bool {
        self.is_task_timed_out() || self.is_task_does_not_exist() || self.is_invalid_token()
    }
}

/// Maps an SDK error onto the port's two classes. The messages never carry the token.
fn classify<E>(e: SdkError<E, HttpResponse>) -> CallbackError
where
    E: DeadToken + ProvideErrorMetadata + std::error::Error + 'static,
{
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("Unknown");
            let message = format!("{code}: {}", err.message().unwrap_or("no message"));
            if err.is_dead_token() || DEAD_TOKEN.contains(&code) {
                CallbackError::Rejected(message)
            } else if se.raw().status().is_server_error() {
                // A 5xx may come after the call took effect.
                CallbackError::Unknown(message)
            } else {
                // Throttling and other refusals: the call did not take effect.
                CallbackError::Unavailable(message)
            }
        }
        SdkError::ConstructionFailure(_) => {
            CallbackError::Unavailable(format!("Step Functions: {}", DisplayErrorContext(&e)))
        }
        SdkError::TimeoutError(_) => CallbackError::Unknown("Step Functions timed out".into()),
        // No answer, or an unreadable one: the request may have been processed.
        _ => CallbackError::Unknown(format!("Step Functions: {}", DisplayErrorContext(&e))),
    }
}

#[async_trait]
impl Workflow for StepFunctionsWorkflow {
    async fn start(
        &self,
        order: &OrderId,
        user: &UserId,
        event: &EventId,
        // The OrderProcessor checks the shop itself (its own settings, its running executions).
        _shop: &ShopSettings,
    ) -> Result<(), StartError> {
        let Some(arn) = &self.order_processor else {
            return Err(StartError::NotConfigured);
        };
        let input = self.input.for_order(order, user, event);
        match self
            .client
            .start_execution()
            .state_machine_arn(arn)
            .name(order.as_str())
            .input(input.to_string())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if se.err().is_execution_already_exists() => {
                Err(StartError::AlreadyExists)
            }
            Err(e) => Err(StartError::Unavailable(format!(
                "Step Functions: {}",
                DisplayErrorContext(&e)
            ))),
        }
    }

    async fn resume(
        &self,
        token: &TaskToken,
        output: &serde_json::Value,
    ) -> Result<(), CallbackError> {
        self.client
            .send_task_success()
            .task_token(token.expose())
            .output(output.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn fail(&self, token: &TaskToken, error: &str, cause: &str) -> Result<(), CallbackError> {
        self.client
            .send_task_failure()
            .task_token(token.expose())
            .error(clip(error, MAX_ERROR))
            .cause(clip(cause, MAX_CAUSE))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_input_is_the_validator_s_event_or_flat() {
        let (o, u, e) = (
            OrderId::parse("o-1").unwrap(),
            UserId::parse("alice").unwrap(),
            EventId::parse("NYC").unwrap(),
        );
        let flat = StartInput::Flat.for_order(&o, &u, &e);
        assert_eq!(
            flat,
            serde_json::json!({"orderId": "o-1", "userId": "alice", "eventId": "NYC"})
        );
        let event = StartInput::ValidatorEvent {
            source: "shop".into(),
        }
        .for_order(&o, &u, &e);
        assert_eq!(event["detail-type"], "Validator.NewOrder");
        assert_eq!(event["source"], "shop");
        assert_eq!(event["detail"]["orderId"], "o-1");
        assert_eq!(event["detail"]["userId"], "alice");
        assert_eq!(event["detail"]["bucket"]["eventId"], "NYC");
        assert!(chrono::DateTime::parse_from_rfc3339(event["time"].as_str().unwrap()).is_ok());
    }
}
