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
//! [`WAL_FRAMES_LIMIT`] the writer itself copies the last frames between two of its
//! transactions (see [`checkpoint`] and [`Checkpointer::restart_if_due`]). After ten seconds
//! without commits, a WAL file grown past [`WAL_TRIM_BYTES`] is copied and truncated.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use rusqlite::Connection;

use crate::Error;

/// The least time between two checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);
/// After [`TRIM_AFTER_QUIET`] quiet seconds, a WAL file larger than this is copied back and
/// truncated (on the writer, SQLite's `journal_size_limit` truncates inside a commit: a pause
/// of hundreds of milliseconds for a large file).
#[cfg(not(test))]
const WAL_TRIM_BYTES: u64 = 64 * 1024 * 1024;
/// In unit tests every WAL is trimmed once the database is quiet.
#[cfg(test)]
const WAL_TRIM_BYTES: u64 = 0;
/// Without a commit for this long, the store is quiet.
const QUIET: Duration = Duration::from_secs(1);
/// How many quiet periods in a row before a large WAL is truncated. The truncation holds the
/// WAL's lock, and freeing a few hundred megabytes (a discard on a file system mounted with
/// `discard`) took 189 ms: a write that came then waited as long. After one quiet second
/// that was a pause between two bursts (the benchmark's flow between two steps); after ten,
/// the store is idle.
#[cfg(not(test))]
const TRIM_AFTER_QUIET: u32 = 10;
#[cfg(test)]
const TRIM_AFTER_QUIET: u32 = 1;
/// Past this many frames (~1 GiB of 4 KiB pages), the WAL is made to start over.
#[cfg(not(test))]
const WAL_FRAMES_LIMIT: i64 = 262_144;
/// In unit tests, past a few commits' worth.
#[cfg(test)]
const WAL_FRAMES_LIMIT: i64 = 64;
/// The writer's own checkpoint, which holds its queue back, is asked for once at most about
/// this many frames came in during the checkpoint thread's last sync (what the writer then
/// copies and syncs).
const WRITER_FRAMES_LEFT: i64 = 512;
/// Once checkpoints have copied this many frames (~64 MiB of pages) since the database file
/// was last synced, the next round syncs it.
const SYNC_EVERY_FRAMES: i64 = 16_384;
/// Passive rounds that may precede that request to bring down what the writer copies.
const MAX_CATCH_UP_ROUNDS: usize = 8;

/// Nudges the checkpoint thread. Dropping it stops the thread (the writer's connection, the
/// last one to close, copies what is left when it closes).
pub(crate) struct Checkpointer {
    nudge: SyncSender<()>,
    /// Set by the checkpoint thread when the WAL should start over; taken by the writer.
    restart_due: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Turns automatic checkpoints off on `writer` and starts the thread that does them, on a
    /// connection of its own to `path`.
    pub(crate) fn start(writer: &Connection, path: &Path) -> Result<Checkpointer, Error> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (nudge, nudges) = mpsc::sync_channel(1);
        let restart_due = Arc::new(AtomicBool::new(false));
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn({
                let wal = wal_path(path);
                let restart_due = restart_due.clone();
                move || run(&conn, &wal, &nudges, &restart_due)
            })
            .map_err(|e| Error::Internal(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { nudge, restart_due })
    }

    /// Says that a commit added to the WAL: never waits. A nudge already pending covers this
    /// one, and a thread that is gone needs none.
    pub(crate) fn nudge(&self) {
        let _ = self.nudge.try_send(());
    }

    /// Called by the writer between two transactions: if the checkpoint thread asked for it,
    /// copies the frames that are left on the writer's own connection, so that the writer's
    /// next transaction starts the WAL over.
    ///
    /// No other writer can add frames meanwhile, so this checkpoint copies all of them (unless
    /// a reader still reads an older snapshot: then the checkpoint thread asks again). It
    /// waits for nobody: the queue is held back while it copies the frames of the last
    /// moments and syncs them (the checkpoint thread has synced everything before), 2-15 ms
    /// over a minute of the ingest benchmark. (A `RESTART` checkpoint on the other thread
    /// held the writer back for 75-100 ms: it took the write lock and then synced every page
    /// copied since the WAL last started over.)
    pub(crate) fn restart_if_due(&self, writer: &Connection) {
        if !self.restart_due.swap(false, Ordering::Relaxed) {
            return;
        }
        let began = std::time::Instant::now();
        match passive(writer) {
            Ok((frames, left)) => tracing::info!(
                frames,
                left,
                took_ms = began.elapsed().as_millis() as u64,
                "the writer copied the WAL's last frames: its next commit starts it over"
            ),
            Err(e) => tracing::warn!(error = %e, "SQLite checkpoint on the writer failed"),
        }
    }
}

fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
}

fn run(conn: &Connection, wal: &Path, nudges: &Receiver<()>, restart_due: &AtomicBool) {
    let mut quiet: u32 = 0;
    // How many of the WAL's frames had been copied when the database file was last synced.
    let mut synced: i64 = 0;
    loop {
        let done = match nudges.recv_timeout(QUIET) {
            Ok(()) => {
                quiet = 0;
                let done = checkpoint(conn, restart_due, &mut synced);
                std::thread::sleep(INTERVAL);
                done
            }
            // Quiet: copy what is left, and once idle, give back the disk space of a WAL that
            // grew large under load (nobody writes, so holding the writer back costs little).
            Err(RecvTimeoutError::Timeout) => {
                quiet = quiet.saturating_add(1);
                let trim = quiet >= TRIM_AFTER_QUIET
                    && std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_TRIM_BYTES);
                let mode = if trim { "TRUNCATE" } else { "PASSIVE" };
                conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
                    .map_err(CheckpointError::from)
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "SQLite checkpoint failed; the next commit retries it");
        }
    }
}

/// Copies what it can of the WAL into the database without waiting for anyone; past
/// [`WAL_FRAMES_LIMIT`], asks the writer to make the WAL start over.
///
/// SQLite starts the WAL over when a write begins while every frame of it is copied. Under a
/// steady stream of writes that moment never comes (a passive checkpoint copies up to where
/// the WAL ended when it began, and commits go on meanwhile), and the file grew without end:
/// 4 GB in 30 s of the ingest benchmark, with a wal-index of 8 MB in every process that maps
/// it. So once the WAL is past the limit, passive rounds bring what is left to copy down to a
/// few hundred frames, this thread syncs what they copied, and the writer copies and syncs
/// the rest between two transactions ([`Checkpointer::restart_if_due`]); its next commit
/// starts the WAL over (the file keeps its size until a quiet moment: see [`run`]).
fn checkpoint(
    conn: &Connection,
    restart_due: &AtomicBool,
    synced: &mut i64,
) -> Result<(), CheckpointError> {
    // SQLite syncs the database file only when a checkpoint reaches the end of the WAL, which
    // under a steady stream of writes is only when the WAL must start over (below): by then
    // seconds of copies (hundreds of megabytes) waited in the page cache, and writing them out
    // in one sync held every commit's own WAL sync behind it on the disk for 74-107 ms. Synced
    // every [`SYNC_EVERY_FRAMES`] copied frames instead, the copies go out in small parts.
    let (mut frames, left) = passive(conn)?;
    let copied = frames - left;
    if copied < *synced {
        // The WAL started over: its frames are counted from the start again.
        *synced = 0;
    }
    if copied - *synced >= SYNC_EVERY_FRAMES {
        sync_database(conn)?;
        *synced = copied;
    }
    if frames <= WAL_FRAMES_LIMIT {
        return Ok(());
    }
    // Sync what is left here, so that the writer's checkpoint syncs only the last moments'
    // copies. Each round copies what came in during
    // the last sync and syncs it, until a sync is short enough that little came in: what
    // the writer then copies and syncs, holding its queue back, is that little. (Stopping
    // when a copy left little, whatever the sync after it let in, made the writer copy and
    // sync everything that came in during a 100-200 ms sync: pauses of 5 ms that grew to
    // 84 ms over a minute of ingest, as the file grew.)
    let began = std::time::Instant::now();
    let mut rounds = 0;
    for _ in 0..MAX_CATCH_UP_ROUNDS {
        rounds += 1;
        sync_database(conn)?;
        let (now, _) = passive(conn)?;
        let came_in = now - frames;
        frames = now;
        if came_in <= WRITER_FRAMES_LEFT {
            break;
        }
    }
    sync_database(conn)?;
    tracing::debug!(
        frames,
        rounds,
        took_ms = began.elapsed().as_millis() as u64,
        "the WAL is past its limit: copied back and synced; the writer starts it over"
    );
    restart_due.store(true, Ordering::Relaxed);
    Ok(())
}

type CheckpointError = Box<dyn std::error::Error + Send + Sync>;

/// Makes what checkpoints copied into the database file durable (what SQLite does before the
/// WAL may start over), on this thread.
fn sync_database(conn: &Connection) -> std::io::Result<()> {
    match conn.path().filter(|p| !p.is_empty()) {
        Some(path) => std::fs::File::open(path)?.sync_data(),
        None => Ok(()),
    }
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
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    use crate::{Database, Error, Options};

    /// A database of one table of blobs.
    fn blobs(path: &std::path::Path) -> Database {
        let migrations = &[("0001_blobs", "CREATE TABLE blobs (b BLOB NOT NULL);")];
        Database::open(path, migrations, Options::default(), |_| Ok::<_, Error>(()))
            .unwrap()
            .0
    }

    async fn add_blob(db: &Database, bytes: usize) {
        db.write(move |c| {
            c.execute("INSERT INTO blobs VALUES (zeroblob(?1))", [bytes as i64])?;
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    }

    fn count(path: &std::path::Path) -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
            .unwrap()
    }

    /// A few dozen commits (far below SQLite's automatic threshold of 1,000 WAL pages) reach
    /// the database file while the database is open: the checkpoint thread copied them, and the
    /// writer did not (it has automatic checkpoints off).
    #[tokio::test]
    async fn commits_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blobs.db");
        let db = blobs(&path);
        let before = std::fs::metadata(&path).unwrap().len();
        for _ in 0..50 {
            add_blob(&db, 4000).await;
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::metadata(&path).unwrap().len() <= before {
            assert!(
                Instant::now() < deadline,
                "the database file did not grow: nothing was checkpointed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // Every row is there.
        assert_eq!(count(&path), 50);
    }

    /// A database of one table in WAL mode without automatic checkpoints, as the writer keeps
    /// it: the writer's connection and another one.
    fn writer_and_other(path: &std::path::Path) -> (rusqlite::Connection, rusqlite::Connection) {
        let writer = rusqlite::Connection::open(path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x BLOB);",
            )
            .unwrap();
        (writer, rusqlite::Connection::open(path).unwrap())
    }

    /// Past the limit (in these tests, 64 frames), a checkpoint asks the writer, and the
    /// writer's own checkpoint copies what came after it, so that its next commit starts the
    /// WAL over. (Under a steady stream of writes the WAL never starts over by itself, which
    /// only a load shows: the ingest benchmark; here the two halves are driven by hand.)
    #[test]
    fn past_the_limit_the_writer_makes_the_wal_start_over() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, other) = writer_and_other(&dir.path().join("db"));
        let checkpointer = super::Checkpointer {
            nudge: super::mpsc::sync_channel(1).0,
            restart_due: Default::default(),
        };
        let flag = &checkpointer.restart_due;
        // Each commit writes a few frames (an 8,000-byte row spans three pages).
        let commits = |n| {
            for _ in 0..n {
                writer
                    .execute("INSERT INTO t VALUES (zeroblob(8000))", [])
                    .unwrap();
            }
        };

        commits(5);
        super::checkpoint(&other, flag, &mut 0).unwrap();
        assert!(
            !flag.load(Ordering::Relaxed),
            "below the limit, nothing is asked"
        );

        commits(40);
        super::checkpoint(&other, flag, &mut 0).unwrap();
        assert!(
            flag.load(Ordering::Relaxed),
            "past the limit, the writer is asked"
        );
        // Commits go on after the checkpoint thread's round; the writer copies them.
        commits(10);
        checkpointer.restart_if_due(&writer);
        assert!(!flag.load(Ordering::Relaxed), "the writer took the request");
        commits(1);
        let frames = super::passive(&other).unwrap().0;
        assert!(
            frames <= 4,
            "the next commit started the WAL over: {frames} frames"
        );
        let rows: i64 = other
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 56, "nothing was lost");
    }

    /// Under a stream of writes that never lets a checkpoint reach the WAL's end, the database
    /// file is synced once every `SYNC_EVERY_FRAMES` copied frames, counted again from the
    /// start when the WAL starts over.
    #[test]
    fn copies_are_synced_in_parts_not_all_before_the_wal_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, other) = writer_and_other(&dir.path().join("db"));
        let flag = Default::default();
        let mut synced = 0;
        // A few frames: copied, not synced yet.
        writer
            .execute("INSERT INTO t VALUES (zeroblob(100))", [])
            .unwrap();
        super::checkpoint(&other, &flag, &mut synced).unwrap();
        assert_eq!(synced, 0);
        // Enough copied: synced, and counted from there.
        for _ in 0..super::SYNC_EVERY_FRAMES / 2 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(5000))", [])
                .unwrap();
        }
        super::checkpoint(&other, &flag, &mut synced).unwrap();
        let copied = super::passive(&other).unwrap().0;
        assert!(
            synced >= super::SYNC_EVERY_FRAMES && synced == copied,
            "{synced}"
        );
        // The WAL started over: fewer frames than counted, so the count starts again.
        other
            .execute_batch("PRAGMA wal_checkpoint(RESTART);")
            .unwrap();
        writer
            .execute("INSERT INTO t VALUES (zeroblob(100))", [])
            .unwrap();
        super::checkpoint(&other, &flag, &mut synced).unwrap();
        assert_eq!(synced, 0);
    }

    /// Once the database is quiet, the checkpoint thread copies everything back and truncates
    /// the WAL (in these tests, whatever its size).
    #[tokio::test]
    async fn a_quiet_database_gives_back_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blobs.db");
        let db = blobs(&path);
        for _ in 0..20 {
            add_blob(&db, 100).await;
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
        add_blob(&db, 100).await;
        assert_eq!(count(&path), 21);
    }
}
