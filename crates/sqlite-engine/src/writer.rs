//! The single writer: one connection on its own thread, fed by a queue.
//!
//! SQLite allows one writer at a time anyway; owning it on one thread removes lock waits and
//! lets concurrent writes share one transaction (group commit): the writer takes every job
//! that is queued, runs each in its own savepoint (so one job's failure undoes only that job),
//! commits once, and only then answers each caller. A caller is never told "done" before its
//! write is committed, and synced as far as the database's [`crate::Durability`] says.

use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::Checkpointer;
use crate::{Commit, CommitObserver, Error};

/// The most jobs one transaction takes.
const MAX_BATCH: usize = 256;

/// A transaction that holds the writer longer than this is logged (with where the time
/// went): every write queued behind it waited as long.
const SLOW_TRANSACTION: Duration = Duration::from_millis(50);

trait Job: Send {
    /// Runs the job inside the open transaction; the result waits for the commit.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Done>;
    /// Answers the caller without running the job.
    fn abort(self: Box<Self>, error: Error);
}

trait Done: Send {
    /// Answers the caller: the job's own result if the commit succeeded.
    fn finish(self: Box<Self>, commit: Result<(), Error>);
}

struct WriteJob<F, A, T, R, E> {
    work: F,
    after_commit: A,
    reply: oneshot::Sender<Result<R, E>>,
    ran: PhantomData<fn() -> T>,
}

struct Finished<A, T, R, E> {
    result: Result<T, E>,
    after_commit: A,
    reply: oneshot::Sender<Result<R, E>>,
}

impl<F, A, T, R, E> Job for WriteJob<F, A, T, R, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    A: FnOnce(T) -> R + Send + 'static,
    T: Send + 'static,
    R: Send + 'static,
    E: From<Error> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Done> {
        let result = in_savepoint(conn, self.work);
        Box::new(Finished {
            result,
            after_commit: self.after_commit,
            reply: self.reply,
        })
    }

    fn abort(self: Box<Self>, error: Error) {
        let _ = self.reply.send(Err(error.into()));
    }
}

impl<A, T, R, E> Done for Finished<A, T, R, E>
where
    A: FnOnce(T) -> R + Send + 'static,
    T: Send + 'static,
    R: Send + 'static,
    E: From<Error> + Send + 'static,
{
    fn finish(self: Box<Self>, commit: Result<(), Error>) {
        let answer = match (commit, self.result) {
            // The job's own failure was rolled back to its savepoint: report it as it is.
            (_, Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e.into()),
            (Ok(()), Ok(t)) => Ok((self.after_commit)(t)),
        };
        let _ = self.reply.send(answer);
    }
}

fn in_savepoint<T, E: From<Error>>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    run_cached(conn, "SAVEPOINT job")?;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| work(conn)))
        .unwrap_or_else(|_| Err(Error::Internal("a database write panicked".into()).into()));
    if result.is_err() {
        run_cached(conn, "ROLLBACK TO job")?;
    }
    run_cached(conn, "RELEASE job")?;
    result
}

/// Runs one statement from the connection's cache (these run for every job: not parsed anew).
fn run_cached(conn: &Connection, sql: &str) -> Result<(), Error> {
    conn.prepare_cached(sql).and_then(|mut s| s.execute([]))?;
    Ok(())
}

/// A handle on the writer thread. Dropping every handle stops the thread.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`, whose WAL checkpoints run on a thread of their own
    /// (see [`Checkpointer`]).
    pub(crate) fn start(
        conn: Connection,
        checkpointer: Checkpointer,
        database: String,
        observe: Option<CommitObserver>,
    ) -> Result<Writer, Error> {
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
                    if let Some(observe) = &observe {
                        observe(&Commit {
                            database: &database,
                            writes,
                            took,
                        });
                    }
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
            .map_err(|e| Error::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { queue })
    }

    /// Runs `work` in the next transaction; once it is committed, runs `after_commit` on its
    /// result (on the writer thread, in commit order) and answers with what that returns.
    pub(crate) async fn submit<F, A, T, R, E>(&self, work: F, after_commit: A) -> Result<R, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        A: FnOnce(T) -> R + Send + 'static,
        T: Send + 'static,
        R: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Box::new(WriteJob {
                work,
                after_commit,
                reply,
                ran: PhantomData,
            }))
            .await
            .map_err(|_| Error::stopped())?;
        answer.await.map_err(|_| Error::stopped())?
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
        let e = Error::from(e);
        for job in batch {
            job.abort(e.clone());
        }
        return began.elapsed();
    }
    let done: Vec<Box<dyn Done>> = batch.into_iter().map(|job| job.run(conn)).collect();
    let ran = began.elapsed();
    let commit = conn.execute_batch("COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        Error::from(e)
    });
    for d in done {
        d.finish(commit.clone());
    }
    ran
}
