//! The outbox tables: handing out due callbacks and notices under a lease, and recording how
//! each attempt ended. Each function runs inside the writer's transaction.

use rusqlite::{Connection, params};

use super::map_err;
use super::rows::{callback_from_row, micros};
use crate::domain::notices::{Notice, NoticeKind};
use crate::domain::ports::{
    CallbackResult, NoticeResult, PendingCallback, PendingNotice, StoreError,
};

/// Hands out up to `limit` due callbacks, leased until `lease_until`.
pub(super) fn claim_callbacks(
    conn: &Connection,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> Result<Vec<PendingCallback>, StoreError> {
    // An attempt handed out before whose outcome was never recorded (its process died, or
    // recording failed) may have reached the workflow.
    let due = conn
        .prepare_cached(
            "SELECT callback_id, order_id, token, action, expires_order, attempts,
                    outcome_unknown OR in_flight
             FROM callbacks WHERE status = 'pending' AND next_attempt_at <= ?1
             ORDER BY next_attempt_at LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![now, limit as i64], callback_from_row)?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(map_err)?
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    for cb in &due {
        conn.prepare_cached(
            "UPDATE callbacks SET next_attempt_at = ?2, outcome_unknown = ?3, in_flight = 1
             WHERE callback_id = ?1",
        )
        .and_then(|mut s| s.execute(params![cb.id, lease_until, cb.outcome_unknown]))
        .map_err(map_err)?;
    }
    Ok(due)
}

/// Records how an attempt at callback `id` ended. A finished callback keeps its digest
/// (single use) but not its token.
pub(super) fn finish_callback(
    conn: &Connection,
    id: i64,
    result: CallbackResult,
    now: i64,
) -> Result<(), StoreError> {
    let (status, error, next, unknown) = match result {
        CallbackResult::Delivered => ("delivered", None, now, false),
        CallbackResult::Rejected { error } => ("rejected", Some(error), now, false),
        CallbackResult::Retry {
            error,
            next_attempt_at,
            outcome_unknown,
        } => (
            "pending",
            Some(error),
            micros(next_attempt_at),
            outcome_unknown,
        ),
    };
    conn.prepare_cached(
        "UPDATE callbacks SET status = ?5,
            token = CASE WHEN ?5 = 'pending' THEN token ELSE '' END,
            attempts = attempts + 1, in_flight = 0, updated_at = ?2, last_error = ?3,
            next_attempt_at = ?4, outcome_unknown = outcome_unknown OR ?6
         WHERE callback_id = ?1 AND status = 'pending'",
    )
    .and_then(|mut s| s.execute(params![id, now, error, next, status, unknown]))
    .map(|_| ())
    .map_err(map_err)
}

/// Hands out up to `limit` due notices, oldest first, leased until `lease_until`.
pub(super) fn claim_notices(
    conn: &Connection,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> Result<Vec<PendingNotice>, StoreError> {
    let due = conn
        .prepare_cached(
            "SELECT notice_id, detail_type, detail, attempts FROM notices
             WHERE status = 'pending' AND next_attempt_at <= ?1
             ORDER BY notice_id LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![now, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(map_err)?;
    let mut out = Vec::with_capacity(due.len());
    for (id, detail_type, detail, attempts) in due {
        conn.prepare_cached("UPDATE notices SET next_attempt_at = ?2 WHERE notice_id = ?1")
            .and_then(|mut s| s.execute(params![id, lease_until]))
            .map_err(map_err)?;
        let kind = NoticeKind::parse(&detail_type).ok_or_else(|| {
            StoreError::Internal(format!("stored notice type `{detail_type}` is unknown"))
        })?;
        let detail = serde_json::from_str(&detail)
            .map_err(|e| StoreError::Internal(format!("stored notice unreadable: {e}")))?;
        out.push(PendingNotice {
            id,
            notice: Notice { kind, detail },
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        });
    }
    Ok(out)
}

/// Records how publishing notice `id` ended.
pub(super) fn finish_notice(
    conn: &Connection,
    id: i64,
    result: NoticeResult,
    now: i64,
) -> Result<(), StoreError> {
    let (status, error, next) = match result {
        NoticeResult::Published => ("published", None, now),
        NoticeResult::Dropped { error } => ("dropped", Some(error), now),
        NoticeResult::Retry {
            error,
            next_attempt_at,
        } => ("pending", Some(error), micros(next_attempt_at)),
    };
    conn.prepare_cached(
        "UPDATE notices SET status = ?2, last_error = ?3, next_attempt_at = ?4,
            attempts = attempts + 1, updated_at = ?5
         WHERE notice_id = ?1 AND status = 'pending'",
    )
    .and_then(|mut s| s.execute(params![id, status, error, next, now]))
    .map(|_| ())
    .map_err(map_err)
}
