//! What each coffee event served and its recent waits (the stats part of
//! `OrderStore::apply`, and `OrderStore::stats`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, params};

use super::map_err;
use super::rows::micros;
use crate::domain::ports::StoreError;
use crate::domain::stats::{MAX_SAMPLES, Served, Wait};

/// Counts what a completion of `order` at `event` served, and keeps its wait.
pub(super) fn record(
    conn: &Connection,
    event: &str,
    order: &str,
    served: &Served,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO served (event_id, day, drink, count) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (event_id, day, drink) DO UPDATE SET count = count + 1",
    )
    .and_then(|mut s| s.execute(params![event, served.day().to_string(), served.drink]))
    .map_err(map_err)?;
    if let Some(wait) = served.wait {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO waits (event_id, completed_at, order_id, wait)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| {
            s.execute(params![
                event,
                micros(served.at),
                order,
                i64::try_from(wait.as_micros()).unwrap_or(i64::MAX)
            ])
        })
        .map_err(map_err)?;
    }
    Ok(())
}

/// What `event` served on `day`, and the waits of its completions since `since` (the newest
/// [`MAX_SAMPLES`]).
pub(super) fn read(
    conn: &Connection,
    event: &str,
    day: NaiveDate,
    since: DateTime<Utc>,
) -> Result<(BTreeMap<String, u64>, Vec<Wait>), StoreError> {
    let served = conn
        .prepare_cached("SELECT drink, count FROM served WHERE event_id = ?1 AND day = ?2")
        .and_then(|mut s| {
            s.query_map(params![event, day.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })?
            .collect::<Result<BTreeMap<_, _>, _>>()
        })
        .map_err(map_err)?;
    let rows = conn
        .prepare_cached(
            "SELECT completed_at, wait FROM waits WHERE event_id = ?1 AND completed_at >= ?2
             ORDER BY completed_at DESC LIMIT ?3",
        )
        .and_then(|mut s| {
            s.query_map(params![event, micros(since), MAX_SAMPLES as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(map_err)?;
    let waits = rows
        .into_iter()
        .map(|(at, wait)| {
            let completed_at = DateTime::from_timestamp_micros(at)
                .ok_or_else(|| StoreError::Internal("a stored wait's time is invalid".into()))?;
            Ok(Wait {
                completed_at,
                wait: Duration::from_micros(wait.max(0) as u64),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((served, waits))
}

/// Forgets the waits of completions before `before`.
pub(super) fn prune(conn: &Connection, before: i64) -> Result<u64, StoreError> {
    conn.execute("DELETE FROM waits WHERE completed_at < ?1", [before])
        .map(|n| n as u64)
        .map_err(map_err)
}
