//! The order store's schema: its migrations (`migrations/sqlite/`), applied in order by the
//! engine when the store opens.

use sqlite_engine::Migration;

/// The order store's migrations.
pub(super) const MIGRATIONS: &[Migration] = &[
    (
        "0001_orders",
        include_str!("../../../migrations/sqlite/0001_orders.sql"),
    ),
    (
        "0002_outbox_and_changes",
        include_str!("../../../migrations/sqlite/0002_outbox_and_changes.sql"),
    ),
    (
        "0003_open_orders",
        include_str!("../../../migrations/sqlite/0003_open_orders.sql"),
    ),
    (
        "0004_prune_without_time_indexes",
        include_str!("../../../migrations/sqlite/0004_prune_without_time_indexes.sql"),
    ),
    (
        "0005_change_log_without_filter_indexes",
        include_str!("../../../migrations/sqlite/0005_change_log_without_filter_indexes.sql"),
    ),
    (
        "0006_in_hand_index",
        include_str!("../../../migrations/sqlite/0006_in_hand_index.sql"),
    ),
    (
        "0007_callback_tokens_by_order",
        include_str!("../../../migrations/sqlite/0007_callback_tokens_by_order.sql"),
    ),
    (
        "0008_deferred_events",
        include_str!("../../../migrations/sqlite/0008_deferred_events.sql"),
    ),
    (
        "0009_order_history",
        include_str!("../../../migrations/sqlite/0009_order_history.sql"),
    ),
    (
        "0010_shops",
        include_str!("../../../migrations/sqlite/0010_shops.sql"),
    ),
    (
        "0011_stats",
        include_str!("../../../migrations/sqlite/0011_stats.sql"),
    ),
    (
        "0012_start_reservations",
        include_str!("../../../migrations/sqlite/0012_start_reservations.sql"),
    ),
];

/// Opens the database at `path` with `migrations` and runs `check` on its writer connection.
#[cfg(test)]
pub(super) fn with_migrated(
    path: &std::path::Path,
    migrations: &[Migration],
    check: impl FnOnce(&rusqlite::Connection),
) {
    let options = sqlite_engine::Options::default();
    sqlite_engine::Database::open(path, migrations, options, |conn| {
        check(conn);
        Ok::<_, crate::domain::ports::StoreError>(())
    })
    .unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migration 0007 makes the callbacks table again: every row comes through as it was,
    /// under its id, and a token stays single-use per order.
    #[test]
    fn callbacks_come_through_the_table_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.db");
        let before = MIGRATIONS
            .iter()
            .position(|(name, _)| *name == "0007_callback_tokens_by_order")
            .unwrap();
        with_migrated(&path, &MIGRATIONS[..before], |conn| {
            conn.execute_batch(
                "INSERT INTO callbacks (callback_id, order_id, token, token_digest, action,
                     expires_order, status, attempts, next_attempt_at, last_error, created_at,
                     updated_at, outcome_unknown, in_flight)
                 VALUES (7, 'a', 'tok-a', x'01', '{}', 1, 'pending', 2, 50, 'down', 10, 20, 1, 1),
                        (9, 'b', '', x'02', '{}', 0, 'delivered', 1, 30, NULL, 10, 30, 0, 0);",
            )
            .unwrap();
        });
        with_migrated(&path, MIGRATIONS, |conn| {
            let rows: Vec<(i64, String, String, i64, i64, bool, bool)> = conn
                .prepare(
                    "SELECT callback_id, order_id, status, attempts, next_attempt_at,
                        outcome_unknown, in_flight FROM callbacks ORDER BY callback_id",
                )
                .unwrap()
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(
                rows,
                [
                    (7, "a".into(), "pending".into(), 2, 50, true, true),
                    (9, "b".into(), "delivered".into(), 1, 30, false, false)
                ]
            );
            let insert = |order: &str, digest: u8| {
                conn.execute(
                    "INSERT INTO callbacks (order_id, token, token_digest, action, expires_order,
                     status, next_attempt_at, created_at, updated_at)
                 VALUES (?1, 't', ?2, '{}', 0, 'pending', 0, 0, 0)",
                    rusqlite::params![order, vec![digest]],
                )
            };
            assert!(insert("b", 2).is_err(), "b's token was used");
            insert("c", 3).unwrap();
            let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE tbl_name = 'callbacks' AND type = 'index' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
            assert_eq!(
                indexes,
                [
                    "callbacks_due",
                    "callbacks_finished",
                    "sqlite_autoindex_callbacks_1"
                ]
            );
            let unique: Vec<String> = conn
            .prepare(
                "SELECT name FROM pragma_index_info('sqlite_autoindex_callbacks_1') ORDER BY seqno",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
            assert_eq!(unique, ["order_id", "token_digest"]);
        });
    }
}
