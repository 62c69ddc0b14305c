//! The engine's one error type: worth retrying, or a defect.

use rusqlite::ErrorCode;

/// What went wrong with a database, in the two kinds a caller acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Worth retrying later: the database is busy or locked, the disk failed or is full, the
    /// file cannot be opened or written, memory ran out, or the writer has stopped.
    #[error("{0}")]
    Unavailable(String),
    /// A defect: bad SQL, a constraint the caller did not expect, a migration that failed, a
    /// panic in a job.
    #[error("{0}")]
    Internal(String),
}

impl From<rusqlite::Error> for Error {
    /// Busy, locked, I/O, full-disk, cannot-open, read-only and out-of-memory failures are
    /// [`Error::Unavailable`]; anything else is [`Error::Internal`].
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::OutOfMemory,
            ) => Error::Unavailable(e.to_string()),
            _ => Error::Internal(e.to_string()),
        }
    }
}

impl Error {
    pub(crate) fn stopped() -> Error {
        Error::Unavailable("the SQLite writer has stopped".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_worth_retrying_and_bad_sql_is_a_defect() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(matches!(Error::from(busy), Error::Unavailable(_)));
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let bad = conn.execute("SELEC 1", []).unwrap_err();
        assert!(matches!(Error::from(bad), Error::Internal(_)));
    }
}
