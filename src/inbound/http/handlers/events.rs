//! `POST /v1/events`: the EventBridge API destination (DESIGN §3).
//!
//! The envelope is translated into a domain [`WorkflowEvent`] here; a permanently bad event
//! answers 422 (EventBridge does not retry it), a store outage 503 (it does).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::events::{Outcome, WorkflowEvent};
use crate::domain::ids::{EnvelopeId, EventId, InvalidId, OrderId, OrderNumber, TaskToken, UserId};
use crate::inbound::http::AppState;
use crate::inbound::http::auth::IngestKey;
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::Json;
use crate::inbound::http::views::IngestView;

/// An EventBridge envelope; only what the service reads.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
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

/// Ingests one workflow event.
pub async fn ingest_event(
    State(state): State<AppState>,
    _key: IngestKey,
    Json(envelope): Json<Envelope>,
) -> Result<axum::Json<IngestView>, ApiError> {
    let envelope_id =
        EnvelopeId::parse(envelope.id.clone()).map_err(|e| invalid(format!("id: {e}")))?;
    let Some(event) = to_event(&envelope, &state.service.config().default_event)? else {
        tracing::info!(detail_type = %envelope.detail_type.chars().take(128).collect::<String>(), "ignored an event of an unknown detail-type");
        return Ok(axum::Json(IngestView {
            outcome: Outcome::Ignored,
            order_id: None,
        }));
    };
    let outcome = state.service.ingest(&envelope_id, &event).await?;
    tracing::info!(order.id = %event.order_id(), detail_type = %envelope.detail_type, ?outcome, "ingested event");
    Ok(axum::Json(IngestView {
        outcome,
        order_id: Some(event.order_id().clone()),
    }))
}
