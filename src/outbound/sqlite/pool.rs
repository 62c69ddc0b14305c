//! A small pool of read-only connections.
//!
//! WAL lets every reader run beside the writer without waiting for it, and every read is a
//! short indexed lookup (a page of 100 at most): it runs on the task's own thread. Handing
//! each read to tokio's blocking pool and back cost more than the read itself (a fifth of the
//! CPU of the list benchmark went to that hand-off).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::schema::open_reader;
use crate::domain::ports::StoreError;

pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, max_idle: usize) -> Arc<ReadPool> {
        Arc::new(ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
            max_idle,
        })
    }

    /// Runs `work` on a pooled connection.
    pub(crate) async fn read<R, F>(self: &Arc<Self>, work: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
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
            Err(_) => Err(StoreError::Internal("a store read panicked".into())),
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
