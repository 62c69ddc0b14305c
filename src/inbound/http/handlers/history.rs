//! `GET /v1/orders/{order_id}/history`: each order's story.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::history::{Cause, HistoryEntry};
use crate::domain::ids::OrderId;
use crate::inbound::http::AppState;
use crate::inbound::http::auth::Caller;
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::{Json, OrderIdPath};
use crate::inbound::http::openapi::OrderReadErrors;
use crate::inbound::http::views::{CancelReasonSchema, StateSchema, rfc3339};

/// An order's story: every change of the order, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderHistory)]
pub struct HistoryView {
    pub order_id: String,
    pub changes: Vec<ChangeView>,
}

/// One change of an order: when, the state it left the order in, and who or what caused it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderHistoryChange)]
pub struct ChangeView {
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
    #[schema(value_type = StateSchema)]
    pub state: &'static str,
    #[schema(value_type = CauseSchema)]
    pub by: &'static str,
    /// The customer or the barista, with `by` `customer` or `barista`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The workflow event's `detail-type`, with `by` `workflow`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "OrderProcessor.WaitingCompletion")]
    pub event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub order_number: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<CancelReasonSchema>)]
    pub cancel_reason: Option<&'static str>,
    /// The order's version after the change (1 for its start).
    #[schema(minimum = 1)]
    pub version: u64,
}

/// Who or what caused a change: the customer, a barista, an event of the workflow, one of
/// the workflow's waits timing out, or Step Functions refusing a callback whose task token
/// had expired.
#[derive(ToSchema)]
#[schema(as = ChangeCause, rename_all = "snake_case")]
pub enum CauseSchema {
    Customer,
    Barista,
    Workflow,
    Timeout,
    ExpiredToken,
}

impl ChangeView {
    fn of(entry: HistoryEntry) -> Self {
        let (by, user_id, event) = match entry.cause {
            Cause::Customer { user_id } => ("customer", Some(user_id.to_string()), None),
            Cause::Barista { user_id } => ("barista", Some(user_id.to_string()), None),
            Cause::Workflow { event } => ("workflow", None, Some(event)),
            Cause::Timeout => ("timeout", None, None),
            Cause::ExpiredToken => ("expired_token", None, None),
        };
        ChangeView {
            at: rfc3339(entry.at),
            state: entry.state.as_str(),
            by,
            user_id,
            event,
            order_number: entry.order_number.map(|n| n.get()),
            cancel_reason: entry.cancel_reason.map(|r| r.as_str()),
            version: entry.version,
        }
    }
}

impl HistoryView {
    fn of(order_id: &OrderId, entries: Vec<HistoryEntry>) -> Self {
        HistoryView {
            order_id: order_id.to_string(),
            changes: entries.into_iter().map(ChangeView::of).collect(),
        }
    }
}

/// `GET /v1/orders/{order_id}/history`: the owner's or a barista's view of the order's story.
#[utoipa::path(
    get,
    path = "/v1/orders/{order_id}/history",
    tag = "orders",
    params(OrderIdPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every change of the order, oldest first", body = HistoryView),
        OrderReadErrors,
    )
)]
pub async fn order_history(
    State(state): State<AppState>,
    Caller(actor): Caller,
    OrderIdPath(id): OrderIdPath,
) -> Result<Json<HistoryView>, ApiError> {
    let entries = state.service.history(&actor, &id).await?;
    Ok(Json(HistoryView::of(&id, entries)))
}
