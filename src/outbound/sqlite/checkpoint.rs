//! WAL checkpoints on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the threshold (1,000
//! pages), on the committing connection: here, the single writer thread, so every write queued
//! behind that commit waited for a checkpoint's page copies and its `fsync` (the ingest
//! benchmark's p99.9 was 70-110 ms against a p50 of 2-3 ms). The writer turns that off
//! (`wal_autocheckpoint=0`) and nudges this thread after its commits; the thread runs a
//! `PASSIVE` checkpoint on its own connection, which never blocks the writer or the readers,
//! at most every [`INTERVAL`]. SQLite resets the WAL at the next write once a checkpoint has
//! copied all of it; `journal_size_limit` then trims the file back.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use rusqlite::Connection;

use super::map_err;
use crate::domain::ports::StoreError;

/// The least time between two checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);
/// The WAL file is truncated to this size after a reset (SQLite's `journal_size_limit`).
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Nudges the checkpoint thread. Dropping it stops the thread (the writer's connection, the
/// last one to close, copies what is left when it closes).
pub(crate) struct Checkpointer {
    nudge: SyncSender<()>,
}

impl Checkpointer {
    /// Turns automatic checkpoints off on `writer` and starts the thread that does them, on a
    /// connection of its own to `path`.
    pub(crate) fn start(writer: &Connection, path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path).map_err(map_err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(map_err)?;
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(map_err)?;
        writer
            .pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
            .map_err(map_err)?;
        let (nudge, nudges) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &nudges))
            .map_err(|e| {
                StoreError::Internal(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(Checkpointer { nudge })
    }

    /// Says that a commit added to the WAL: never waits. A nudge already pending covers this
    /// one, and a thread that is gone needs none.
    pub(crate) fn nudge(&self) {
        let _ = self.nudge.try_send(());
    }
}

fn run(conn: &Connection, nudges: &Receiver<()>) {
    loop {
        // Waits for a commit; wakes now and then regardless, so a WAL left by a quiet spell
        // is copied back too.
        match nudges.recv_timeout(Duration::from_secs(10)) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Err(e) = checkpoint(conn) {
            tracing::warn!(error = %e, "SQLite checkpoint failed; the next commit retries it");
        }
        std::thread::sleep(INTERVAL);
    }
}

/// Copies what it can of the WAL into the database without waiting for anyone.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::domain::ids::TaskToken;
    use crate::domain::order::{OrderState, fixtures, now};
    use crate::domain::ports::OrderStore;
    use crate::outbound::sqlite::SqliteStore;

    /// A few dozen commits (far below SQLite's automatic threshold of 1,000 WAL pages) reach
    /// the database file while the store is open: the checkpoint thread copied them, and the
    /// writer did not (it has automatic checkpoints off).
    #[tokio::test]
    async fn commits_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.db");
        let store = SqliteStore::open(&path).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        for i in 0..50 {
            let mut o = fixtures::order(&format!("order-{i:05}"), "alice", OrderState::Created);
            o.start_token = Some(TaskToken::parse("t".repeat(600)).unwrap());
            store
                .apply(&fixtures::write(&o, None), None, now())
                .await
                .unwrap();
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::metadata(&path).unwrap().len() <= before {
            assert!(
                Instant::now() < deadline,
                "the database file did not grow: nothing was checkpointed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // Every order is there.
        let count: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 50);
    }
}
