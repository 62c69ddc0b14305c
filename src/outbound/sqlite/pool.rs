//! A small pool of read-only connections, used from tokio's blocking threads.
//! WAL lets every reader run beside the writer without waiting for it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::schema::open_reader;
use crate::domain::ports::StoreError;

pub(super) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl ReadPool {
    pub(super) fn new(path: PathBuf, max_idle: usize) -> Arc<ReadPool> {
        Arc::new(ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
            max_idle,
        })
    }

    /// Runs `work` on a pooled connection on a blocking thread.
    pub(super) async fn read<R, F>(self: &Arc<Self>, work: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match pool.take() {
                Some(c) => c,
                None => open_reader(&pool.path)?,
            };
            let result = work(&conn);
            pool.put_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("a store read failed: {e}")))?
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
