//! Mapping between rows and domain values. A row that does not parse back into valid domain
//! values is reported as [`StoreError::Internal`], never silently patched.

use chrono::{DateTime, Utc};
use rusqlite::{Row, ToSql};

use crate::domain::ids::{EventId, OrderId, OrderNumber, TaskToken, UserId};
use crate::domain::lifecycle::CallbackAction;
use crate::domain::order::{DrinkOrder, Order};
use crate::domain::ports::{PendingCallback, StoreError};

pub(super) const ORDER_COLUMNS: &str = "order_id, event_id, user_id, state, order_number, drink, \
    barista_user_id, cancel_reason, start_token, completion_token, execution_arn, \
    workflow_finished_at, version, created_at, updated_at";

/// [`ORDER_COLUMNS`] as lists read them: the task tokens are not read (`Order::listed`).
pub(super) const LIST_COLUMNS: &str = "order_id, event_id, user_id, state, order_number, drink, \
    barista_user_id, cancel_reason, NULL, NULL, execution_arn, \
    workflow_finished_at, version, created_at, updated_at";

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn time(what: &str, v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(what, "out of range"))
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} is invalid: {e}"))
}

/// An order as the values of its columns, in `ORDER_COLUMNS` order.
pub(super) struct OrderRow {
    order_id: String,
    event_id: String,
    user_id: String,
    state: &'static str,
    order_number: Option<i64>,
    drink: Option<String>,
    barista_user_id: Option<String>,
    cancel_reason: Option<&'static str>,
    start_token: Option<String>,
    completion_token: Option<String>,
    execution_arn: Option<String>,
    workflow_finished_at: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl OrderRow {
    pub(super) fn of(o: &Order) -> Result<OrderRow, StoreError> {
        Ok(OrderRow {
            order_id: o.id.as_str().into(),
            event_id: o.event_id.as_str().into(),
            user_id: o.user_id.as_str().into(),
            state: o.state.as_str(),
            order_number: o.order_number.map(|n| i64::from(n.get())),
            drink: o
                .drink
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::Internal(format!("cannot encode a drink: {e}")))?,
            barista_user_id: o.barista_user_id.as_ref().map(|u| u.as_str().into()),
            cancel_reason: o.cancel_reason.map(|r| r.as_str()),
            start_token: o.start_token.as_ref().map(|t| t.expose().into()),
            completion_token: o.completion_token.as_ref().map(|t| t.expose().into()),
            execution_arn: o.execution_arn.clone(),
            workflow_finished_at: o.workflow_finished_at.map(micros),
            version: o.version as i64,
            created_at: micros(o.created_at),
            updated_at: micros(o.updated_at),
        })
    }

    pub(super) fn params(&self) -> [&dyn ToSql; 15] {
        [
            &self.order_id,
            &self.event_id,
            &self.user_id,
            &self.state,
            &self.order_number,
            &self.drink,
            &self.barista_user_id,
            &self.cancel_reason,
            &self.start_token,
            &self.completion_token,
            &self.execution_arn,
            &self.workflow_finished_at,
            &self.version,
            &self.created_at,
            &self.updated_at,
        ]
    }
}

/// Reads an order; the outer error is SQLite's, the inner one a row that does not parse.
pub(super) fn order_from_row(r: &Row<'_>) -> rusqlite::Result<Result<Order, StoreError>> {
    let id: String = r.get(0)?;
    let event_id: String = r.get(1)?;
    let user_id: String = r.get(2)?;
    let state: String = r.get(3)?;
    let order_number: Option<i64> = r.get(4)?;
    let drink: Option<String> = r.get(5)?;
    let barista: Option<String> = r.get(6)?;
    let cancel_reason: Option<String> = r.get(7)?;
    let start_token: Option<String> = r.get(8)?;
    let completion_token: Option<String> = r.get(9)?;
    let execution_arn: Option<String> = r.get(10)?;
    let finished: Option<i64> = r.get(11)?;
    let version: i64 = r.get(12)?;
    let created_at: i64 = r.get(13)?;
    let updated_at: i64 = r.get(14)?;
    Ok((|| {
        Ok(Order {
            id: OrderId::parse(id).map_err(|e| corrupt("order id", e))?,
            event_id: EventId::parse(event_id).map_err(|e| corrupt("event id", e))?,
            user_id: UserId::parse(user_id).map_err(|e| corrupt("user id", e))?,
            state: state.parse().map_err(|e| corrupt("state", e))?,
            order_number: order_number
                .map(|n| {
                    u32::try_from(n)
                        .map_err(|e| corrupt("order number", e))
                        .and_then(|n| OrderNumber::new(n).map_err(|e| corrupt("order number", e)))
                })
                .transpose()?,
            drink: drink
                .map(|d| serde_json::from_str::<DrinkOrder>(&d).map_err(|e| corrupt("drink", e)))
                .transpose()?,
            barista_user_id: barista
                .map(|b| UserId::parse(b).map_err(|e| corrupt("barista", e)))
                .transpose()?,
            cancel_reason: cancel_reason
                .map(|c| c.parse().map_err(|e| corrupt("cancel reason", e)))
                .transpose()?,
            start_token: start_token
                .map(|t| TaskToken::parse(t).map_err(|e| corrupt("task token", e)))
                .transpose()?,
            completion_token: completion_token
                .map(|t| TaskToken::parse(t).map_err(|e| corrupt("task token", e)))
                .transpose()?,
            execution_arn,
            workflow_finished_at: finished.map(|t| time("finish time", t)).transpose()?,
            version: u64::try_from(version).map_err(|e| corrupt("version", e))?,
            created_at: time("creation time", created_at)?,
            updated_at: time("update time", updated_at)?,
        })
    })())
}

/// Reads a pending callback (columns: id, order_id, token, action, expires_order, attempts,
/// outcome_unknown).
pub(super) fn callback_from_row(
    r: &Row<'_>,
) -> rusqlite::Result<Result<PendingCallback, StoreError>> {
    let id: i64 = r.get(0)?;
    let order_id: String = r.get(1)?;
    let token: String = r.get(2)?;
    let action: String = r.get(3)?;
    let expires_order: bool = r.get(4)?;
    let attempts: i64 = r.get(5)?;
    let outcome_unknown: bool = r.get(6)?;
    Ok((|| {
        Ok(PendingCallback {
            id,
            order_id: OrderId::parse(order_id).map_err(|e| corrupt("order id", e))?,
            token: TaskToken::parse(token).map_err(|e| corrupt("task token", e))?,
            action: serde_json::from_str::<CallbackAction>(&action)
                .map_err(|e| corrupt("callback action", e))?,
            expires_order,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            outcome_unknown,
        })
    })())
}
