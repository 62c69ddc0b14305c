//! The single writer: one connection on its own thread, fed by a queue.
//!
//! SQLite allows one writer at a time anyway; owning it on one thread removes lock waits and
//! lets concurrent writes share one transaction (group commit): the writer takes every job
//! that is queued, runs each in its own savepoint (so one job's failure undoes only that job),
//! commits once, and only then answers each caller. A caller is never told "done" before its
//! write is committed.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Checkpointer;
use super::map_err;
use crate::domain::ports::StoreError;

/// The most jobs one transaction takes.
const MAX_BATCH: usize = 256;

/// A transaction that holds the writer longer than this is logged (with where the time
/// went): every write queued behind it waited as long.
const SLOW_TRANSACTION: Duration = Duration::from_millis(50);

trait Job: Send {
    /// Runs the job inside the open transaction; the result waits for the commit.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Done>;
    /// Answers the caller without running the job.
    fn abort(self: Box<Self>, error: StoreError);
}

trait Done: Send {
    /// Answers the caller: the job's own result if the commit succeeded.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

/// What runs on the writer thread once a job's write is committed, before its caller hears
/// of it: in commit order.
type AfterCommit<R> = Box<dyn FnOnce(&R) + Send>;

struct WriteJob<F, R> {
    work: F,
    after_commit: Option<AfterCommit<R>>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

struct Finished<R> {
    result: Result<R, StoreError>,
    after_commit: Option<AfterCommit<R>>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<F, R> Job for WriteJob<F, R>
where
    F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Done> {
        let result = in_savepoint(conn, self.work);
        Box::new(Finished {
            result,
            after_commit: self.after_commit,
            reply: self.reply,
        })
    }

    fn abort(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

impl<R: Send + 'static> Done for Finished<R> {
    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let answer = match (commit, self.result) {
            // The job's own failure was rolled back to its savepoint: report it as it is.
            (_, Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e),
            (Ok(()), Ok(r)) => {
                if let Some(after) = self.after_commit {
                    after(&r);
                }
                Ok(r)
            }
        };
        let _ = self.reply.send(answer);
    }
}

fn in_savepoint<R>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    run_cached(conn, "SAVEPOINT job")?;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| work(conn)))
        .unwrap_or_else(|_| Err(StoreError::Internal("a store write panicked".into())));
    if result.is_err() {
        run_cached(conn, "ROLLBACK TO job")?;
    }
    run_cached(conn, "RELEASE job")?;
    result
}

/// Runs one statement from the connection's cache (these run for every job: not parsed anew).
fn run_cached(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(map_err)
}

/// A handle on the writer thread. Dropping every handle stops the thread.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`, the writer connection of the database at `path`
    /// (whose WAL checkpoints then run on a thread of their own: see [`Checkpointer`]).
    pub(crate) fn start(conn: Connection, path: &Path) -> Result<Writer, StoreError> {
        let checkpointer = Checkpointer::start(&conn, path)?;
        let database = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (queue, mut jobs) = mpsc::channel::<Box<dyn Job>>(4096);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                while let Some(first) = jobs.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match jobs.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let writes = batch.len();
                    let began = Instant::now();
                    let ran = run_batch(&conn, batch);
                    let took = began.elapsed();
                    crate::telemetry::sqlite_commit(&database, writes, took.as_secs_f64());
                    if took > SLOW_TRANSACTION {
                        tracing::warn!(
                            database,
                            writes,
                            took_ms = took.as_millis() as u64,
                            begin_writes_ms = ran.as_millis() as u64,
                            commit_ms = (took - ran).as_millis() as u64,
                            "slow SQLite transaction: the writes queued behind it waited as long"
                        );
                    }
                    checkpointer.nudge();
                    checkpointer.restart_if_due(&conn);
                }
            })
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { queue })
    }

    /// Runs `work` in the next transaction and answers once it is committed.
    pub(crate) async fn write<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        self.submit(work, None).await
    }

    /// As [`Writer::write`], and runs `after_commit` with the result once it is committed:
    /// on the writer thread, in commit order (what keeps an in-memory view in step).
    pub(crate) async fn write_then<R, F>(
        &self,
        work: F,
        after_commit: impl FnOnce(&R) + Send + 'static,
    ) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        self.submit(work, Some(Box::new(after_commit))).await
    }

    async fn submit<R, F>(
        &self,
        work: F,
        after_commit: Option<AfterCommit<R>>,
    ) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the SQLite writer has stopped".into());
        self.queue
            .send(Box::new(WriteJob {
                work,
                after_commit,
                reply,
            }))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    pub(crate) fn is_alive(&self) -> bool {
        !self.queue.is_closed()
    }
}

/// Runs `batch` in one transaction and answers its callers; returns how long `BEGIN` and
/// the writes took (the rest of the transaction's time is its `COMMIT`).
fn run_batch(conn: &Connection, batch: Vec<Box<dyn Job>>) -> Duration {
    let began = Instant::now();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e = map_err(e);
        for job in batch {
            job.abort(e.clone());
        }
        return began.elapsed();
    }
    let done: Vec<Box<dyn Done>> = batch.into_iter().map(|job| job.run(conn)).collect();
    let ran = began.elapsed();
    let commit = conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        map_err(e)
    });
    for d in done {
        d.finish(commit.clone());
    }
    ran
}
