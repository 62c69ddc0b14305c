//! `POST /v1/events`: the EventBridge API destination (docs/architecture.md, "Ingest").
//!
//! The envelope is translated into a domain [`WorkflowEvent`] here; a permanently bad event
//! answers 422 (EventBridge does not retry it), a store outage 503 (it does).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::events::{TimeoutCause, WorkflowEvent};
use crate::domain::ids::{EnvelopeId, EventId, InvalidId, OrderId, OrderNumber, TaskToken, UserId};
use crate::inbound::http::AppState;
use crate::inbound::http::auth::IngestKey;
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::Json;
use crate::inbound::http::openapi::{
    BadRequest, IngestUnauthorized, Internal, PayloadTooLarge, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::inbound::http::views::IngestView;

/// An EventBridge envelope; only what the service reads (other fields are ignored).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "version": "0",
    "id": "7f9c1e3a-0c5e-4b43-9a5e-3d1f1b9c2f10",
    "detail-type": "OrderProcessor.WorkflowStarted",
    "source": "awsserverlessda.serverlesspresso",
    "account": "123456789012",
    "time": "2024-05-01T10:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:states:us-east-1:123456789012:execution:OrderProcessorWorkflow:order-1"],
    "detail": {"orderId": "order-1", "userId": "alice", "eventId": "NYC", "TaskToken": "AQB8..."}
}))]
pub struct Envelope {
    /// The envelope id: deliveries with the same id are duplicates.
    id: String,
    /// `OrderProcessor.WorkflowStarted`, `.WaitingCompletion`, `.OrderTimeOut`,
    /// `.orderFinished`; any other is acknowledged as `ignored`.
    #[serde(rename = "detail-type")]
    detail_type: String,
    /// The execution ARN of the workflow that emitted it, among others.
    #[serde(default)]
    resources: Vec<String>,
    /// `orderId`, `userId`, `eventId`, `TaskToken`, `orderNumber`, `cause`, by detail-type.
    #[serde(default)]
    #[schema(value_type = Object)]
    detail: Value,
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", detail)
}

fn bad_field(field: &str) -> impl FnOnce(InvalidId) -> ApiError + '_ {
    move |e| invalid(format!("detail.{field}: {e}"))
}

/// Reads `detail` fields; error texts name the field, never its value (it may be a token).
struct Detail<'a>(&'a Map<String, Value>);

impl Detail<'_> {
    fn string(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(format!("detail.{field} must be a string"))),
        }
    }

    fn required(&self, field: &str) -> Result<&str, ApiError> {
        self.string(field)?
            .ok_or_else(|| invalid(format!("detail.{field} is required")))
    }

    fn order_id(&self) -> Result<OrderId, ApiError> {
        OrderId::parse(self.required("orderId")?).map_err(bad_field("orderId"))
    }

    fn token(&self) -> Result<TaskToken, ApiError> {
        TaskToken::parse(self.required("TaskToken")?).map_err(bad_field("TaskToken"))
    }
}

/// The execution whose event this is, when Step Functions emitted it.
fn execution_arn(resources: &[String]) -> Option<String> {
    resources
        .iter()
        .find(|r| r.starts_with("arn:") && r.contains(":execution:") && r.len() <= 2048)
        .cloned()
}

/// Translates an envelope; `Ok(None)` for a detail-type that is not ours.
fn to_event(env: &Envelope, default_event: &EventId) -> Result<Option<WorkflowEvent>, ApiError> {
    let empty = Map::new();
    let detail = match &env.detail {
        Value::Object(m) => Detail(m),
        Value::Null => Detail(&empty),
        _ => return Err(invalid("detail must be an object")),
    };
    let execution_arn = execution_arn(&env.resources);
    let event = match env.detail_type.as_str() {
        "OrderProcessor.WorkflowStarted" => WorkflowEvent::Started {
            order_id: detail.order_id()?,
            user_id: UserId::parse(detail.required("userId")?).map_err(bad_field("userId"))?,
            event_id: match detail.string("eventId")? {
                Some(e) => EventId::parse(e).map_err(bad_field("eventId"))?,
                None => default_event.clone(),
            },
            token: detail.token()?,
            execution_arn,
        },
        "OrderProcessor.WaitingCompletion" => WorkflowEvent::WaitingCompletion {
            order_id: detail.order_id()?,
            order_number: OrderNumber::parse_json(
                detail
                    .0
                    .get("orderNumber")
                    .ok_or_else(|| invalid("detail.orderNumber is required"))?,
            )
            .map_err(bad_field("orderNumber"))?,
            token: detail.token()?,
            execution_arn,
        },
        "OrderProcessor.OrderTimeOut" => WorkflowEvent::TimedOut {
            order_id: detail.order_id()?,
            cause: detail
                .string("cause")?
                .and_then(TimeoutCause::from_workflow_str),
            execution_arn,
        },
        "OrderProcessor.orderFinished" => WorkflowEvent::Finished {
            order_id: detail.order_id()?,
            execution_arn,
        },
        _ => return Ok(None),
    };
    Ok(Some(event))
}

/// Ingests one workflow event: idempotent by envelope id and by content, order-tolerant
/// (docs/architecture.md, "Ingest"). Every acknowledged outcome is `200`; a permanently bad
/// event `400`/`422` (EventBridge does not retry those), a transient failure `503` (it does).
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    request_body = Envelope,
    security(("ingestApiKey" = []), ("ingestBasic" = [])),
    responses(
        (status = 200, description = "Acknowledged; the outcome says what happened", body = IngestView),
        (status = 400, response = BadRequest),
        (status = 401, response = IngestUnauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn ingest_event(
    State(state): State<AppState>,
    _key: IngestKey,
    Json(envelope): Json<Envelope>,
) -> Result<Json<IngestView>, ApiError> {
    let answer = ingest(&state, &envelope).await;
    crate::telemetry::ingest_event(match &answer {
        Ok(view) => view.outcome.as_str(),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        Err(_) => "failed",
    });
    answer.map(Json)
}

async fn ingest(state: &AppState, envelope: &Envelope) -> Result<IngestView, ApiError> {
    let envelope_id =
        EnvelopeId::parse(envelope.id.clone()).map_err(|e| invalid(format!("id: {e}")))?;
    let Some(event) = to_event(envelope, &state.service.config().default_event)? else {
        tracing::info!(detail_type = %envelope.detail_type.chars().take(128).collect::<String>(), "ignored an event of an unknown detail-type");
        return Ok(IngestView {
            outcome: state.service.acknowledge(&envelope_id).await?,
            order_id: None,
        });
    };
    let outcome = state.service.ingest(&envelope_id, &event).await?;
    tracing::info!(order.id = %event.order_id(), detail_type = %envelope.detail_type, ?outcome, "ingested event");
    Ok(IngestView {
        outcome,
        order_id: Some(event.order_id().clone()),
    })
}
