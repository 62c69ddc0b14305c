//! An embedded SQLite database for a service that answers only once a write is durable.
//!
//! [`Database::open`] opens (creating) one file in WAL mode and applies its migrations; then:
//!
//! - **One writer, group commit.** Every [`Database::write`] goes to one connection on a
//!   thread of its own. The thread takes every write that is queued, runs each in its own
//!   savepoint (a failing write is undone alone), commits once, syncs as far as the chosen
//!   [`Durability`] says, and only then answers each caller: one sync per batch, not per
//!   request. [`Database::write_then`] also runs a closure after the commit, on the writer
//!   thread in commit order: what keeps an in-memory view in step with the file.
//! - **Checkpoints off the writer.** A thread of its own copies the WAL back into the
//!   database file and keeps the WAL from growing without end (see `checkpoint`).
//! - **Reads beside the writer.** [`Database::read`] runs on a pooled read-only connection,
//!   on the caller's thread; WAL lets it run while the writer commits.
//! - **The WAL-append VFS** ([`wal_appends`]), optional: it writes each commit's WAL frames
//!   in one `pwrite` and allocates the WAL's space ahead. [`Options::wal_appends`] turns it
//!   off, and it refuses an SQLite version it was not written for (then the default VFS).
//!
//! Errors come in two kinds ([`Error`]): worth retrying, or a defect.

mod checkpoint;
mod error;
mod open;
mod pool;
mod writer;

#[allow(unsafe_code)]
pub mod wal_appends;

/// A VFS for crash tests that keeps unsynced writes aside and loses them at a simulated
/// power cut.
#[cfg(any(test, feature = "power-cut"))]
#[allow(unsafe_code)]
pub mod power_cut;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

pub use error::Error;

/// A named SQL script. A database's migrations are applied in order, each once, in its own
/// transaction; `PRAGMA user_version` counts how many are. Append, never edit: a database
/// that has more applied than a build knows is refused (it was written by a newer build).
pub type Migration = (&'static str, &'static str);

/// What an acknowledged write survives: when the writer syncs the WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: each commit's WAL frames are on stable storage (`fdatasync`)
    /// before the commit returns, so before any write in it is answered: an acknowledged
    /// write survives a power cut or an OS crash. One sync per group commit.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the WAL is synced only when a checkpoint copies it back. An
    /// acknowledged write survives a crash of the process (`kill -9`), but a power cut or an
    /// OS crash may lose the writes committed since the last checkpoint's sync (typically
    /// the last second or so), whose answers were sent.
    Normal,
}

impl Durability {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// One commit of the writer, as [`Options::on_commit`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    /// The database's file name (without its directory).
    pub database: &'a str,
    /// How many writes the commit took.
    pub writes: usize,
    /// How long the transaction took, its sync included.
    pub took: Duration,
}

/// Called after every commit, on the writer thread: keep it cheap (a metric).
pub type CommitObserver = Arc<dyn Fn(&Commit) + Send + Sync>;

/// How a database is opened.
#[derive(Clone)]
pub struct Options {
    /// What an acknowledged write survives.
    pub durability: Durability,
    /// Whether the writer goes through the WAL-append VFS ([`wal_appends`]).
    pub wal_appends: bool,
    /// How many idle read-only connections are kept.
    pub readers: usize,
    /// Sees every commit (for metrics).
    pub on_commit: Option<CommitObserver>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Full,
            wal_appends: true,
            readers: 16,
            on_commit: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("durability", &self.durability)
            .field("wal_appends", &self.wal_appends)
            .field("readers", &self.readers)
            .field("on_commit", &self.on_commit.is_some())
            .finish()
    }
}

/// An open database: its writer thread, its checkpoint thread and its read pool. Dropping
/// the last handle stops both threads once the queued writes are done.
pub struct Database {
    writer: writer::Writer,
    readers: pool::ReadPool,
    path: PathBuf,
    wal_appends: bool,
}

impl Database {
    /// Opens (creating it and its directory) the database at `path` and applies the
    /// `migrations` it has not applied; then runs `setup` on the writer's connection before
    /// any write (what a store loads into memory, or resets, at start-up) and hands back what
    /// `setup` returns.
    pub fn open<T, E>(
        path: &Path,
        migrations: &[Migration],
        options: Options,
        setup: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<(Database, T), E>
    where
        E: From<Error>,
    {
        let (conn, wal_appends) =
            open::open_writer(path, migrations, options.durability, options.wal_appends)?;
        let loaded = setup(&conn)?;
        let checkpointer = checkpoint::Checkpointer::start(&conn, path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let writer = writer::Writer::start(conn, checkpointer, name, options.on_commit)?;
        let database = Database {
            writer,
            readers: pool::ReadPool::new(path.to_path_buf(), options.readers),
            path: path.to_path_buf(),
            wal_appends,
        };
        Ok((database, loaded))
    }

    /// Runs `work` in the writer's next transaction and answers once it is committed (and
    /// synced as far as the [`Durability`] says). If `work` fails, only its own changes are
    /// undone, and the error is its answer.
    pub async fn write<T, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.writer.submit(work, |t| t).await
    }

    /// As [`Database::write`], then runs `after` on what `work` returned, once committed: on
    /// the writer thread, in commit order (what keeps an in-memory view in step with the
    /// file), and answers with what `after` returns. `after` does not run if the write or
    /// its commit failed.
    pub async fn write_then<T, R, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        after: impl FnOnce(T) -> R + Send + 'static,
    ) -> Result<R, E>
    where
        T: Send + 'static,
        R: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.writer.submit(work, after).await
    }

    /// Runs `work` on a read-only connection, on the caller's thread: it sees every write
    /// answered before it began. Keep it short (an indexed lookup, a page of rows).
    pub fn read<T, E>(&self, work: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        self.readers.read(work)
    }

    /// Whether the writer thread still takes writes.
    pub fn is_alive(&self) -> bool {
        self.writer.is_alive()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the writer writes through the WAL-append VFS.
    pub fn wal_appends(&self) -> bool {
        self.wal_appends
    }
}

#[cfg(test)]
mod tests;
