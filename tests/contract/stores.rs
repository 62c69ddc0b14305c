//! The stores under contract.

use std::sync::Arc;

use order_manager::domain::order::Order;
use order_manager::domain::ports::OrderStore;
use order_manager::outbound::dynamodb::{DynamoStore, migrate};
use order_manager::outbound::sqlite::SqliteStore;
use tempfile::TempDir;

/// A store and what must live as long as it.
pub struct Under {
    pub store: Arc<dyn OrderStore>,
    bulk: Bulk,
    _dir: Option<TempDir>,
}

/// The store's own bulk-load path (not part of the port).
enum Bulk {
    Sqlite(Arc<SqliteStore>),
    Dynamo(DynamoStore),
}

impl Under {
    /// Bulk-loads `orders` through the adapter's `import`.
    pub async fn import(&self, orders: Vec<Order>) {
        let n = orders.len() as u64;
        let loaded = match &self.bulk {
            Bulk::Sqlite(s) => s.import(orders).await,
            Bulk::Dynamo(d) => d.import(&orders).await,
        };
        assert_eq!(loaded.unwrap(), n);
    }
}

pub async fn sqlite() -> Under {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("orders.db")).unwrap());
    Under {
        store: store.clone(),
        bulk: Bulk::Sqlite(store),
        _dir: Some(dir),
    }
}

/// DynamoDB on moto, a fresh table per test; `None` (skipped) without moto, unless
/// `OM_TEST_REQUIRE_MOTO` is set.
pub async fn dynamodb() -> Option<Under> {
    let moto = match std::env::var("OM_TEST_MOTO_URL") {
        Ok(url) => url,
        Err(_) if std::env::var_os("OM_TEST_REQUIRE_MOTO").is_some() => {
            panic!("OM_TEST_MOTO_URL is unset but OM_TEST_REQUIRE_MOTO is set: run scripts/test")
        }
        Err(_) => {
            eprintln!(
                "skipping the DynamoDB case: OM_TEST_MOTO_URL is unset (scripts/test sets it)"
            );
            return None;
        }
    };
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .endpoint_url(moto)
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let table = format!("contract-{}", uuid::Uuid::new_v4().simple());
    migrate(&client, &table, 4).await.unwrap();
    let store = DynamoStore::connect(client, &table, 4).await.unwrap();
    Some(Under {
        store: Arc::new(store.clone()),
        bulk: Bulk::Dynamo(store),
        _dir: None,
    })
}
