//! A small pool of read-only connections.
//!
//! WAL lets every reader run beside the writer without waiting for it. A read is expected to
//! be short (an indexed lookup, a page of rows): it runs on the caller's own thread. Handing
//! each read to tokio's blocking pool and back cost more than the read itself (a fifth of the
//! CPU of order-manager's list benchmark went to that hand-off).

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;

use crate::Error;
use crate::open::open_reader;

pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, max_idle: usize) -> ReadPool {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// Runs `work` on a pooled connection (opening one if none is idle).
    pub(crate) fn read<R, E>(&self, work: impl FnOnce(&Connection) -> Result<R, E>) -> Result<R, E>
    where
        E: From<Error>,
    {
        let conn = match self.take() {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        // As on the writer: a read that panics is an internal error, not a lost worker.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&conn))) {
            Ok(result) => {
                self.put_back(conn);
                result
            }
            Err(_) => Err(Error::Internal("a database read panicked".into()).into()),
        }
    }

    fn take(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }
}
