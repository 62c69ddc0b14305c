//! The workflow the service calls back: the embedded processor and its waits, or AWS Step
//! Functions and what its OrderProcessor is started with; and how cancellations release it.

use clap::{Args, ValueEnum};

use super::store::{StoreConfig, processor_store};
use super::values::{Span, named, named_enum};
use crate::domain::lifecycle::CancelCallback;

/// Which workflow the service calls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkflowKind {
    /// The embedded order processor: the whole flow in this process, no AWS.
    Embedded,
    /// AWS Step Functions (`SendTaskSuccess` / `SendTaskFailure`), configured by the standard
    /// AWS variables.
    Stepfunctions,
}

/// What `POST /v1/orders` starts the OrderProcessor with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartInputMode {
    /// The `Validator.NewOrder` event (`$.detail.orderId`, `$.detail.userId`,
    /// `$.detail.bucket.eventId`).
    Validator,
    /// `{"orderId", "userId", "eventId"}`.
    Flat,
}

/// How cancellations release the workflow's wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CancelMode {
    /// `SendTaskSuccess` with `{"outcome": "cancelled", "cancelled": true}` (what the
    /// Serverlesspresso OrderProcessor expects).
    Success,
    /// `SendTaskFailure` with error `OrderCancelled`, for workflows that catch it.
    Failure,
}

impl From<CancelMode> for CancelCallback {
    fn from(m: CancelMode) -> Self {
        match m {
            CancelMode::Failure => CancelCallback::Failure,
            CancelMode::Success => CancelCallback::Success,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct WorkflowArgs {
    /// Workflow to call back.
    #[arg(long, env = "OM_WORKFLOW", default_value = "embedded", value_parser = named_enum::<WorkflowKind>("OM_WORKFLOW"))]
    pub workflow: WorkflowKind,
    /// Embedded processor: where it keeps its executions (`sqlite:<path>`).
    #[arg(long, env = "OM_PROCESSOR_STORE", default_value = "sqlite:data/processor.db", value_parser = processor_store)]
    pub processor_store: StoreConfig,
    /// Embedded processor: how long an order waits for the customer's drink.
    #[arg(long, env = "OM_CUSTOMER_TIMEOUT", default_value = "300s", value_parser = named::<Span>("OM_CUSTOMER_TIMEOUT"))]
    pub customer_timeout: Span,
    /// Embedded processor: how long a queued order waits for the barista.
    #[arg(long, env = "OM_BARISTA_TIMEOUT", default_value = "900s", value_parser = named::<Span>("OM_BARISTA_TIMEOUT"))]
    pub barista_timeout: Span,
    /// Step Functions: the OrderProcessor state machine `POST /v1/orders` starts (executions
    /// are named by order id). Without it, `POST /v1/orders` answers 404.
    #[arg(long, env = "OM_ORDER_PROCESSOR_ARN")]
    pub order_processor_arn: Option<String>,
    /// Step Functions: what the OrderProcessor is started with: `validator` (the
    /// `Validator.NewOrder` event, as the Serverlesspresso sample's rule starts it) or `flat`
    /// (`{"orderId", "userId", "eventId"}`).
    #[arg(
        long,
        env = "OM_ORDER_PROCESSOR_INPUT",
        default_value = "validator",
        value_parser = named_enum::<StartInputMode>("OM_ORDER_PROCESSOR_INPUT")
    )]
    pub order_processor_input: StartInputMode,
    /// How a cancellation releases the workflow.
    #[arg(
        long,
        env = "OM_CANCEL_CALLBACK",
        default_value = "success",
        value_parser = named_enum::<CancelMode>("OM_CANCEL_CALLBACK")
    )]
    pub cancel_callback: CancelMode,
}
