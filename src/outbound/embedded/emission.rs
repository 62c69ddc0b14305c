//! The events the processor emits, kept in its outbox until delivered.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::domain::events::{TimeoutCause, WorkflowEvent};
use crate::domain::ids::{EnvelopeId, EventId, InvalidId, OrderId, OrderNumber, TaskToken, UserId};
use crate::domain::order::now;
use crate::domain::ports::StoreError;
use crate::outbound::database::sqlite_error as map_err;

/// The "execution ARN" of an embedded execution, so that the ingest logic can tell
/// executions apart exactly as it does for Step Functions.
pub(super) fn execution_arn(order_id: &str) -> String {
    format!("arn:order-manager:embedded:local:execution:OrderProcessor:{order_id}")
}

/// One `OrderProcessor.*` event, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "detail_type")]
pub(super) enum Emission {
    #[serde(rename = "OrderProcessor.WorkflowStarted")]
    Started {
        order_id: String,
        user_id: String,
        event_id: String,
        token: String,
    },
    #[serde(rename = "OrderProcessor.WaitingCompletion")]
    WaitingCompletion {
        order_id: String,
        order_number: u32,
        token: String,
    },
    #[serde(rename = "OrderProcessor.OrderTimeOut")]
    TimedOut { order_id: String, cause: String },
    #[serde(rename = "OrderProcessor.orderFinished")]
    Finished { order_id: String },
}

impl Emission {
    fn order_id(&self) -> &str {
        match self {
            Self::Started { order_id, .. }
            | Self::WaitingCompletion { order_id, .. }
            | Self::TimedOut { order_id, .. }
            | Self::Finished { order_id } => order_id,
        }
    }

    /// The event as the ingest logic takes it.
    pub(super) fn to_event(&self) -> Result<WorkflowEvent, InvalidId> {
        let arn = Some(execution_arn(self.order_id()));
        let order_id = OrderId::parse(self.order_id())?;
        Ok(match self {
            Self::Started {
                user_id,
                event_id,
                token,
                ..
            } => WorkflowEvent::Started {
                order_id,
                user_id: UserId::parse(user_id.as_str())?,
                event_id: EventId::parse(event_id.as_str())?,
                token: TaskToken::parse(token.as_str())?,
                execution_arn: arn,
            },
            Self::WaitingCompletion {
                order_number,
                token,
                ..
            } => WorkflowEvent::WaitingCompletion {
                order_id,
                order_number: OrderNumber::new(*order_number)?,
                token: TaskToken::parse(token.as_str())?,
                execution_arn: arn,
            },
            Self::TimedOut { cause, .. } => WorkflowEvent::TimedOut {
                order_id,
                cause: TimeoutCause::from_workflow_str(cause),
                execution_arn: arn,
            },
            Self::Finished { .. } => WorkflowEvent::Finished {
                order_id,
                execution_arn: arn,
            },
        })
    }
}

/// Puts an event in the outbox (inside the caller's transaction).
pub(super) fn emit(conn: &Connection, e: &Emission) -> Result<(), StoreError> {
    let json = serde_json::to_string(e)
        .map_err(|err| StoreError::Internal(format!("cannot encode an event: {err}")))?;
    let at = now().timestamp_micros();
    // Time-ordered, like the order ids (see `OrderService::start_order`): the ingest records
    // keyed by envelope id then grow at one end.
    let envelope = uuid::Uuid::now_v7().to_string();
    conn.prepare_cached(
        "INSERT INTO emissions (envelope_id, order_id, event, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )
    .and_then(|mut s| s.execute(params![envelope, e.order_id(), json, at]))
    .map(|_| ())
    .map_err(map_err)
}

/// The oldest undelivered events after `after` (a sequence number), in order.
pub(super) fn pending(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, EnvelopeId, Emission)>, StoreError> {
    let rows = conn
        .prepare_cached(
            "SELECT seq, envelope_id, event FROM emissions WHERE delivered = 0 AND seq > ?1
             ORDER BY seq LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map([after, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(map_err)?;
    rows.into_iter()
        .map(|(seq, envelope, json)| {
            let envelope = EnvelopeId::parse(envelope)
                .map_err(|e| StoreError::Internal(format!("stored envelope id: {e}")))?;
            let emission = serde_json::from_str(&json)
                .map_err(|e| StoreError::Internal(format!("stored event unreadable: {e}")))?;
            Ok((seq, envelope, emission))
        })
        .collect()
}

pub(super) fn mark_delivered(conn: &Connection, seq: i64) -> Result<(), StoreError> {
    // Delivered events go: they hold task tokens, and nothing needs them any more.
    conn.prepare_cached("DELETE FROM emissions WHERE seq = ?1")
        .and_then(|mut s| s.execute([seq]))
        .map(|_| ())
        .map_err(map_err)
}
