//! What the service's embedded SQLite databases (the order store's and the embedded
//! processor's) share: how they are written, their errors in the domain's terms, and their
//! metrics. The machinery itself is the `sqlite-engine` crate.

use sqlite_engine::{Commit, CommitObserver, Durability};

use crate::domain::ports::StoreError;

/// How an embedded database is written (`OM_SQLITE_SYNC`, `OM_SQLITE_WAL_APPENDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// What an acknowledged write survives.
    pub durability: Durability,
    /// Whether the writer appends each commit to the WAL in one write, through the engine's
    /// VFS (on by default; off, or on an SQLite it was not written for, the default VFS).
    pub wal_appends: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Full,
            wal_appends: true,
        }
    }
}

impl SqliteOptions {
    /// The engine's options, with `readers` idle read connections kept and the commit
    /// metrics on.
    pub(crate) fn engine(self, readers: usize) -> sqlite_engine::Options {
        sqlite_engine::Options {
            durability: self.durability,
            wal_appends: self.wal_appends,
            readers,
            on_commit: Some(commit_metrics()),
        }
    }
}

/// The embedded database's two kinds of failure are the domain's.
impl From<sqlite_engine::Error> for StoreError {
    fn from(e: sqlite_engine::Error) -> Self {
        match e {
            sqlite_engine::Error::Unavailable(why) => StoreError::Unavailable(why),
            sqlite_engine::Error::Internal(why) => StoreError::Internal(why),
        }
    }
}

/// Maps an SQLite failure onto the domain's: busy, locked, I/O and full-disk failures are
/// transient; anything else is a defect (the engine's classification).
pub(crate) fn sqlite_error(e: rusqlite::Error) -> StoreError {
    sqlite_engine::Error::from(e).into()
}

/// What the writers report of each commit: the `sqlite_commit_*` metrics.
fn commit_metrics() -> CommitObserver {
    std::sync::Arc::new(|commit: &Commit| {
        crate::telemetry::sqlite_commit(commit.database, commit.writes, commit.took.as_secs_f64())
    })
}
