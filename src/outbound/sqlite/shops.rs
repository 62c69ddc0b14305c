//! The coffee events' shop settings (`OrderStore::get_shop` and `put_shop`), and the starts
//! reserved against a customer's limit (`get_reservations`, `put_reservations`).

use rusqlite::{Connection, OptionalExtension, params};

use super::map_err;
use crate::domain::ports::StoreError;
use crate::domain::shop::ShopSettings;
use crate::domain::starts::{Reservation, Reservations};

pub(super) fn get(conn: &Connection, event: &str) -> Result<Option<ShopSettings>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT settings FROM shops WHERE event_id = ?1")
        .and_then(|mut s| s.query_row([event], |r| r.get(0)).optional())
        .map_err(map_err)?;
    json.map(|j| {
        serde_json::from_str(&j)
            .map_err(|e| StoreError::Internal(format!("stored shop settings unreadable: {e}")))
    })
    .transpose()
}

pub(super) fn put(
    conn: &Connection,
    event: &str,
    shop: &ShopSettings,
    now: i64,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(shop)
        .map_err(|e| StoreError::Internal(format!("cannot encode shop settings: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO shops (event_id, settings, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (event_id) DO UPDATE SET settings = excluded.settings,
                                              updated_at = excluded.updated_at",
    )
    .and_then(|mut s| s.execute(params![event, json, now]))
    .map_err(map_err)?;
    Ok(())
}

/// The starts reserved for `user` at `event`, and their version.
pub(super) fn reservations(
    conn: &Connection,
    event: &str,
    user: &str,
) -> Result<Reservations, StoreError> {
    let row: Option<(String, i64)> = conn
        .prepare_cached(
            "SELECT entries, version FROM start_reservations WHERE event_id = ?1 AND user_id = ?2",
        )
        .and_then(|mut s| {
            s.query_row([event, user], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(map_err)?;
    let Some((json, version)) = row else {
        return Ok(Reservations::default());
    };
    Ok(Reservations {
        entries: serde_json::from_str(&json)
            .map_err(|e| StoreError::Internal(format!("stored reservations unreadable: {e}")))?,
        version: Some(version as u64),
    })
}

/// Replaces them if their record is at `expected`.
pub(super) fn put_reservations(
    conn: &Connection,
    event: &str,
    user: &str,
    entries: &[Reservation],
    expected: Option<u64>,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(entries)
        .map_err(|e| StoreError::Internal(format!("cannot encode reservations: {e}")))?;
    let written = match expected {
        None => conn
            .prepare_cached(
                "INSERT INTO start_reservations (event_id, user_id, entries, version)
                 VALUES (?1, ?2, ?3, 1) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![event, user, json])),
        Some(v) => conn
            .prepare_cached(
                "UPDATE start_reservations SET entries = ?3, version = version + 1
                 WHERE event_id = ?1 AND user_id = ?2 AND version = ?4",
            )
            .and_then(|mut s| s.execute(params![event, user, json, v as i64])),
    }
    .map_err(map_err)?;
    if written == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}
