//! Envelope records of events that change no order, and the events kept for orders whose
//! start has not arrived (the contract of `OrderStore::record_event`).

use std::collections::HashSet;
use std::sync::Mutex;

use rusqlite::{Connection, params};

use super::map_err;
use crate::domain::deferred::MAX_PER_ORDER;
use crate::domain::ports::StoreError;

/// The orders that have events kept, in memory, updated on the writer thread in commit order
/// before a write is answered: every start asks, and nearly every answer is no, which then
/// costs no read. A start reads its kept events after creating its order, so an event kept
/// before that creation committed is in this set by then.
#[derive(Debug, Default)]
pub(super) struct KeptFor(Mutex<HashSet<String>>);

impl KeptFor {
    pub(super) fn load(conn: &Connection) -> Result<KeptFor, StoreError> {
        Ok(KeptFor(Mutex::new(orders_with_kept_events(conn)?)))
    }

    pub(super) fn has(&self, order: &str) -> bool {
        self.0.lock().expect("not poisoned").contains(order)
    }

    pub(super) fn add(&self, order: String) {
        self.0.lock().expect("not poisoned").insert(order);
    }

    pub(super) fn replace(&self, orders: HashSet<String>) {
        *self.0.lock().expect("not poisoned") = orders;
    }
}

/// Every order with an event kept (the table is small: see [`prune`]).
pub(super) fn orders_with_kept_events(conn: &Connection) -> Result<HashSet<String>, StoreError> {
    conn.prepare_cached("SELECT DISTINCT order_id FROM deferred_events")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<Result<HashSet<String>, _>>()
        })
        .map_err(map_err)
}

/// Records `envelope` and, with `defer` (the order and its encoded event), keeps the event
/// unless the order has [`MAX_PER_ORDER`] kept already. Whether it was kept.
pub(super) fn record(
    conn: &Connection,
    envelope: &str,
    order: &str,
    defer: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    conn.prepare_cached(
        "INSERT INTO ingested_events (envelope_id, order_id, received_at) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut s| s.execute(params![envelope, order, now]))
    .map_err(|e| {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
            StoreError::DuplicateEvent
        } else {
            map_err(e)
        }
    })?;
    let Some(event) = defer else {
        return Ok(false);
    };
    let kept: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM deferred_events WHERE order_id = ?1")
        .and_then(|mut s| s.query_row([order], |r| r.get(0)))
        .map_err(map_err)?;
    if kept >= MAX_PER_ORDER as i64 {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO deferred_events (order_id, kept_at, envelope_id, event) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![order, now, envelope, event]))
    .map_err(map_err)?;
    Ok(true)
}

/// The encoded events kept for `order` at `since` or after, in the order kept.
pub(super) fn read(conn: &Connection, order: &str, since: i64) -> Result<Vec<String>, StoreError> {
    conn.prepare_cached(
        "SELECT event FROM deferred_events WHERE order_id = ?1 AND kept_at >= ?2 \
         ORDER BY kept_at, envelope_id",
    )
    .and_then(|mut s| {
        s.query_map(params![order, since], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()
    })
    .map_err(map_err)
}

/// Forgets the events kept before `before`. The table is small (an event is kept only until
/// its order's start, bounded per order): one statement.
pub(super) fn prune(conn: &Connection, before: i64) -> Result<u64, StoreError> {
    conn.prepare_cached("DELETE FROM deferred_events WHERE kept_at < ?1")
        .and_then(|mut s| s.execute([before]))
        .map(|n| n as u64)
        .map_err(map_err)
}
