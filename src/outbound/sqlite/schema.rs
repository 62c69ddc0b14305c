//! Opening connections and applying migrations: the store's (`migrations/sqlite/`), or those
//! of another embedded database (the order processor's).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::map_err;
use crate::domain::ports::StoreError;

/// A named SQL script; a database's migrations are applied in order, and
/// `PRAGMA user_version` counts how many are.
pub(crate) type Migration = (&'static str, &'static str);

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
];

/// What an acknowledged write survives (`OM_SQLITE_SYNC`): when the writer connection syncs
/// the WAL. Readers never write, so it is the writer's alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: each commit's WAL frames are on stable storage (`fsync`) before
    /// the commit returns, so before any write in it is answered: an acknowledged write
    /// survives a power cut or an OS crash. One sync per group commit, not per request.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the WAL is synced only when a checkpoint copies it back. An
    /// acknowledged write survives a crash of the process (`kill -9`), but a power cut or an
    /// OS crash may lose the writes committed since the last checkpoint's sync (typically
    /// the last second or so), whose answers were sent.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// Opens the writer connection of a database, creating the file, and applies `migrations`.
pub(crate) fn open_database(
    path: &Path,
    migrations: &[Migration],
    durability: Durability,
) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    // The writer appends each commit to the WAL in one write (see `sqlite_wal_appends`).
    sqlite_wal_appends::register().map_err(StoreError::Internal)?;
    let mut conn =
        Connection::open_with_flags_and_vfs(path, OpenFlags::default(), sqlite_wal_appends::NAME)
            .map_err(map_err)?;
    // WAL: readers never block the writer. How far a commit is synced: see `Durability`.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(map_err)?;
    configure(&conn)?;
    conn.pragma_update(None, "synchronous", durability.pragma())
        .map_err(map_err)?;
    // Every write runs in a savepoint of the group commit (see `writer`), and SQLite keeps the
    // pages a savepoint may have to restore in a statement journal, which spills to a temporary
    // file past 64 KiB: a dozen writes to a commit made that a `pwrite` per page, a third of the
    // writer thread's time under ingest. In memory it is a copy (at most one commit's pages).
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(map_err)?;
    // The writer waits little for a lock someone else holds (a backup, a sqlite3 shell): a
    // write that cannot go through answers 503 quickly rather than after the caller gave up.
    conn.busy_timeout(std::time::Duration::from_secs(1))
        .map_err(map_err)?;
    migrate(&mut conn, migrations)?;
    Ok(conn)
}

/// Opens a read-only connection for the read pool.
pub(super) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(map_err)?;
    configure(&conn)?;
    // Reads are indexed lookups of a few pages: a small page cache keeps the b-trees' upper
    // levels, and the operating system's file cache the rest (SQLite's default is 2 MiB per
    // connection, which several readers and two databases added up to).
    conn.pragma_update(None, "cache_size", READER_CACHE_KIB)
        .map_err(map_err)?;
    Ok(conn)
}

/// The page cache of a read-only connection: 512 KiB (negative: KiB, SQLite's convention).
const READER_CACHE_KIB: i64 = -512;

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(map_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(map_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    // Plans that do not depend on bound values: otherwise a bound `LIMIT ?` expires a cached
    // statement whenever its value changes, and every list query was compiled anew.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(map_err)?;
    Ok(())
}

fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<(), StoreError> {
    let applied: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
        .map_err(map_err)?
        .try_into()
        .unwrap_or(0);
    if applied > migrations.len() {
        return Err(StoreError::Internal(format!(
            "the database has {applied} migrations applied, this build knows {}: it was written by a newer order-manager",
            migrations.len()
        )));
    }
    for (i, (name, sql)) in migrations.iter().enumerate().skip(applied) {
        let tx = conn.transaction().map_err(map_err)?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Internal(format!("migration {name} failed: {e}")))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(map_err)?;
        tx.commit().map_err(map_err)?;
        tracing::info!(migration = name, "applied SQLite migration");
    }
    Ok(())
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
        {
            let conn = open_database(&path, &MIGRATIONS[..before], Durability::Full).unwrap();
            conn.execute_batch(
                "INSERT INTO callbacks (callback_id, order_id, token, token_digest, action,
                     expires_order, status, attempts, next_attempt_at, last_error, created_at,
                     updated_at, outcome_unknown, in_flight)
                 VALUES (7, 'a', 'tok-a', x'01', '{}', 1, 'pending', 2, 50, 'down', 10, 20, 1, 1),
                        (9, 'b', '', x'02', '{}', 0, 'delivered', 1, 30, NULL, 10, 30, 0, 0);",
            )
            .unwrap();
        }
        let conn = open_database(&path, MIGRATIONS, Durability::Full).unwrap();
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
    }
}
