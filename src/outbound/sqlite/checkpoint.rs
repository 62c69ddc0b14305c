//! WAL checkpoints on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the threshold (1,000
//! pages), on the committing connection: here, the single writer thread, so every write queued
//! behind that commit waited for a checkpoint's page copies and its `fsync` (the ingest
//! benchmark's p99.9 was 70-110 ms against a p50 of 2-3 ms). The writer turns that off
//! (`wal_autocheckpoint=0`) and nudges this thread after its commits; the thread runs a
//! `PASSIVE` checkpoint on its own connection, which never blocks the writer or the readers,
//! at most every [`INTERVAL`]. SQLite starts the WAL over at the next write once a checkpoint
//! has copied all of it, which a steady stream of writes never lets happen: past
//! [`WAL_FRAMES_LIMIT`] a `RESTART` checkpoint forces it (see [`checkpoint`]). After a second
//! without commits, a WAL file grown past [`WAL_TRIM_BYTES`] is copied and truncated.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use rusqlite::Connection;

use super::map_err;
use crate::domain::ports::StoreError;

/// The least time between two checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);
/// After a quiet second, a WAL file larger than this is copied back and truncated (on the
/// writer, SQLite's `journal_size_limit` truncates inside a commit: a pause of hundreds of
/// milliseconds for a large file).
#[cfg(not(test))]
const WAL_TRIM_BYTES: u64 = 64 * 1024 * 1024;
/// In unit tests every WAL is trimmed once the store is quiet.
#[cfg(test)]
const WAL_TRIM_BYTES: u64 = 0;
/// Without a commit for this long, the store is quiet.
const QUIET: Duration = Duration::from_secs(1);
/// Past this many frames (~1 GiB of 4 KiB pages), a checkpoint makes the WAL start over.
const WAL_FRAMES_LIMIT: i64 = 262_144;
/// A `RESTART` checkpoint, which holds the writer back, copies at most about this many frames.
const RESTART_FRAMES_LEFT: i64 = 512;
/// Passive rounds that may precede a `RESTART` to bring down what it copies.
const MAX_CATCH_UP_ROUNDS: usize = 8;

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
        let (nudge, nudges) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn({
                let wal = wal_path(path);
                move || run(&conn, &wal, &nudges)
            })
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

fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
}

fn run(conn: &Connection, wal: &Path, nudges: &Receiver<()>) {
    loop {
        let done = match nudges.recv_timeout(QUIET) {
            Ok(()) => {
                let done = checkpoint(conn);
                std::thread::sleep(INTERVAL);
                done
            }
            // Quiet: copy what is left, and give back the disk space of a WAL that grew large
            // under load (nobody writes, so holding the writer back costs nothing now).
            Err(RecvTimeoutError::Timeout) => {
                let trim = std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_TRIM_BYTES);
                let mode = if trim { "TRUNCATE" } else { "PASSIVE" };
                conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "SQLite checkpoint failed; the next commit retries it");
        }
    }
}

/// Copies what it can of the WAL into the database without waiting for anyone; past
/// [`WAL_FRAMES_LIMIT`], makes sure the WAL starts over.
///
/// SQLite starts the WAL over only when a write begins while every frame of it is copied.
/// Under a steady stream of writes that moment never comes (a passive checkpoint copies up to
/// where the WAL ended when it began, and commits go on meanwhile), and the file grew without
/// end: 4 GB in 30 s of the ingest benchmark, with a wal-index of 8 MB in every process that
/// maps it. So once the WAL is past the limit, a `RESTART` checkpoint follows the passive one:
/// it holds the writer back while it copies what the passive one left (the commits of the
/// last moments), and the next commit starts the WAL over (the file keeps its size until a
/// quiet moment: see [`run`]).
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    let (frames, mut left) = passive(conn)?;
    if frames <= WAL_FRAMES_LIMIT {
        return Ok(());
    }
    // The writer waits while the `RESTART` copies what is left: first let passive rounds,
    // which hold nobody back, bring that down to a few pages' worth.
    for _ in 0..MAX_CATCH_UP_ROUNDS {
        if left <= RESTART_FRAMES_LEFT {
            break;
        }
        left = passive(conn)?.1;
    }
    conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
}

/// A passive checkpoint: the frames in the WAL, and how many of them are not yet copied.
fn passive(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        let (frames, copied): (i64, i64) = (r.get(1)?, r.get(2)?);
        Ok((frames, frames - copied))
    })
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

    /// Once the store is quiet, the checkpoint thread copies everything back and truncates
    /// the WAL (in these tests, whatever its size).
    #[tokio::test]
    async fn a_quiet_store_gives_back_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.db");
        let store = SqliteStore::open(&path).unwrap();
        for i in 0..20 {
            let o = fixtures::order(&format!("order-{i:05}"), "alice", OrderState::Created);
            store
                .apply(&fixtures::write(&o, None), None, now())
                .await
                .unwrap();
        }
        let wal = super::wal_path(&path);
        assert!(
            std::fs::metadata(&wal).unwrap().len() > 0,
            "the writes went to the WAL"
        );
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(&wal).unwrap().len() > 0 {
            assert!(Instant::now() < deadline, "the WAL was not truncated");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // Nothing was lost, and writing goes on.
        let o = fixtures::order("order-last", "alice", OrderState::Created);
        store
            .apply(&fixtures::write(&o, None), None, now())
            .await
            .unwrap();
        let count: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 21);
    }
}
