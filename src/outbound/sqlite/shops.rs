//! The coffee events' shop settings (`OrderStore::get_shop` and `put_shop`).

use rusqlite::{Connection, OptionalExtension, params};

use super::map_err;
use crate::domain::ports::StoreError;
use crate::domain::shop::ShopSettings;

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
