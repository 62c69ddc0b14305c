//! One change, applied atomically: the guarded order write, its callbacks, notices, change-log
//! entry and ingest record (the contract of `OrderStore::apply`).

use rusqlite::{ErrorCode, params};

use super::map_err;
use super::rows::{self, ORDER_COLUMNS, micros};
use crate::domain::ids::EnvelopeId;
use crate::domain::lifecycle::Change;
use crate::domain::ports::{Applied, StoreError};
use crate::domain::snapshot::OrderSnapshot;

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

/// Maps a unique-constraint failure to `on_conflict`, anything else through [`map_err`].
fn unique_or(on_conflict: StoreError) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| {
        if is_constraint(&e) {
            on_conflict
        } else {
            map_err(e)
        }
    }
}

fn insert_order_sql() -> String {
    format!(
        "INSERT INTO orders ({ORDER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
    )
}

/// Inserts `orders` as they are (a bulk load: see `SqliteStore::import`).
pub(super) fn insert_orders(
    conn: &rusqlite::Connection,
    orders: &[crate::domain::order::Order],
) -> Result<u64, StoreError> {
    let mut insert = conn.prepare_cached(&insert_order_sql()).map_err(map_err)?;
    for o in orders {
        let row = rows::OrderRow::of(o)?;
        insert
            .execute(row.params())
            .map_err(unique_or(StoreError::Conflict))?;
    }
    Ok(orders.len() as u64)
}

/// What a change writes as JSON, encoded before it reaches the writer thread, which every
/// write waits for.
pub(super) struct Encoded {
    /// The order as the change log keeps it.
    pub snapshot: String,
    /// The order's history entry.
    pub history: String,
}

impl Encoded {
    pub(super) fn of(change: &Change, snapshot: &OrderSnapshot) -> Result<Self, StoreError> {
        let encode = |what: &str, r: serde_json::Result<String>| {
            r.map_err(|e| StoreError::Internal(format!("cannot encode {what}: {e}")))
        };
        Ok(Self {
            snapshot: encode("a snapshot", serde_json::to_string(snapshot))?,
            history: encode(
                "a history entry",
                serde_json::to_string(&change.history_entry()),
            )?,
        })
    }
}

pub(super) fn apply_change(
    conn: &rusqlite::Connection,
    change: &Change,
    envelope: Option<&EnvelopeId>,
    lease_until: i64,
    encoded: &Encoded,
) -> Result<Applied, StoreError> {
    let o = &change.order;
    let now = micros(o.updated_at);
    if let Some(env) = envelope {
        conn.prepare_cached(
            "INSERT INTO ingested_events (envelope_id, order_id, received_at) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut s| s.execute(params![env.as_str(), o.id.as_str(), now]))
        .map_err(unique_or(StoreError::DuplicateEvent))?;
    }
    let row = rows::OrderRow::of(o)?;
    match change.expected_version {
        None => {
            conn.prepare_cached(&insert_order_sql())
                .and_then(|mut s| s.execute(row.params()))
                .map_err(unique_or(StoreError::Conflict))?;
        }
        Some(expected) => {
            // Not the coffee event, the customer or the creation time (?2, ?3, ?14): an order
            // is made by its start, and every later version copies them (`Order::next`).
            // Set, even to the same value, they rewrote the order's entry in every index
            // holding one of them (the customer's: 8 % of the pages each commit wrote in the
            // flow's submit step).
            let changed = conn
                .prepare_cached(
                    "UPDATE orders SET state = ?4, order_number = ?5,
                        drink = ?6, barista_user_id = ?7, cancel_reason = ?8, start_token = ?9,
                        completion_token = ?10, execution_arn = ?11, workflow_finished_at = ?12,
                        version = ?13, updated_at = ?15
                     WHERE order_id = ?1 AND version = ?16",
                )
                .and_then(|mut s| {
                    let mut p = row.params().to_vec();
                    let expected = expected as i64;
                    p.push(&expected);
                    s.execute(p.as_slice())
                })
                .map_err(map_err)?;
            if changed == 0 {
                return Err(StoreError::Conflict);
            }
        }
    }
    let mut ids = Vec::with_capacity(change.callbacks.len());
    for cb in &change.callbacks {
        let action = serde_json::to_string(&cb.action)
            .map_err(|e| StoreError::Internal(format!("cannot encode a callback: {e}")))?;
        conn.prepare_cached(
            "INSERT INTO callbacks (order_id, token, token_digest, action, expires_order, status,
                                    next_attempt_at, in_flight, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, 1, ?7, ?7)",
        )
        .and_then(|mut s| {
            s.execute(params![
                cb.order_id.as_str(),
                cb.token.expose(),
                &cb.token.digest()[..],
                action,
                cb.expires_order,
                lease_until,
                now
            ])
        })
        .map_err(unique_or(StoreError::Conflict))?;
        ids.push(conn.last_insert_rowid());
    }
    for token in &change.settles {
        conn.prepare_cached(
            "UPDATE callbacks SET status = 'delivered', token = '', updated_at = ?2,
                last_error = 'settled: the workflow moved past this wait'
             WHERE order_id = ?3 AND token_digest = ?1 AND status = 'pending'",
        )
        .and_then(|mut s| s.execute(params![&token.digest()[..], now, o.id.as_str()]))
        .map_err(map_err)?;
    }
    for n in &change.notices {
        conn.prepare_cached(
            "INSERT INTO notices (order_id, detail_type, detail, status, next_attempt_at,
                                  created_at, updated_at)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?4)",
        )
        .and_then(|mut s| {
            s.execute(params![
                o.id.as_str(),
                n.kind.detail_type(),
                n.detail.to_string(),
                now
            ])
        })
        .map_err(map_err)?;
    }
    if let Some(served) = &change.served {
        super::stats::record(conn, o.event_id.as_str(), o.id.as_str(), served)?;
    }
    conn.prepare_cached("INSERT INTO order_history (order_id, version, entry) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![o.id.as_str(), o.version as i64, encoded.history]))
        .map_err(unique_or(StoreError::Conflict))?;
    conn.prepare_cached(
        "INSERT INTO order_changes (order_id, event_id, user_id, snapshot, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            o.id.as_str(),
            o.event_id.as_str(),
            o.user_id.as_str(),
            encoded.snapshot,
            now
        ])
    })
    .map_err(map_err)?;
    Ok(Applied {
        callbacks: ids,
        seq: conn.last_insert_rowid() as u64,
    })
}
