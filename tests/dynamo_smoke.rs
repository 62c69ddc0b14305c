//! A quick smoke test of the DynamoDB store on moto, for what the shared store contract
//! (`tests/contract`) does not cover: `migrate` on a partial table and a second time, the
//! recorded shard count, and two replicas (two clients) racing to claim the same outbox
//! entries. Skipped without `OM_TEST_MOTO_URL`; fails instead with `OM_TEST_REQUIRE_MOTO`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use order_manager::domain::history::Cause;
use order_manager::domain::ids::{EventId, OrderId, TaskToken, UserId};
use order_manager::domain::lifecycle::{Callback, CallbackAction, Change};
use order_manager::domain::notices::{Notice, NoticeKind};
use order_manager::domain::order::{Order, OrderState, now};
use order_manager::domain::ports::{OrderStore, StoreError};
use order_manager::outbound::dynamodb::{DynamoStore, migrate};

fn moto_client() -> Option<Client> {
    let Ok(url) = std::env::var("OM_TEST_MOTO_URL") else {
        if std::env::var_os("OM_TEST_REQUIRE_MOTO").is_some() {
            panic!("OM_TEST_REQUIRE_MOTO is set but OM_TEST_MOTO_URL is not: run scripts/test");
        }
        eprintln!("skipped: OM_TEST_MOTO_URL is not set (scripts/test sets it)");
        return None;
    };
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "smoke"))
        .build();
    Some(Client::from_conf(conf))
}

fn table_name() -> String {
    format!("smoke-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn migrate_completes_a_partial_table_is_idempotent_and_keeps_the_shard_count() {
    let Some(client) = moto_client() else { return };
    let table = table_name();
    // A table with the keys but none of the indexes, and no TTL.
    let key = |name: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(t)
            .build()
            .unwrap()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&table)
        .attribute_definitions(attr("PK"))
        .attribute_definitions(attr("SK"))
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    migrate(&client, &table, 4).await.unwrap();
    let desc = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let mut indexes: Vec<&str> = desc
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name())
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["by_event", "by_user", "due"]);
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    // Again: nothing to do.
    migrate(client.clone(), &table, 4).await.unwrap();
    // Another shard count on this table is refused, by migrate and by connect.
    let err = migrate(&client, &table, 8).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Internal(m) if m.contains("4 write shards")),
        "{err:?}"
    );
    let err = DynamoStore::connect(client.clone(), &table, 8)
        .await
        .unwrap_err();
    assert!(matches!(&err, StoreError::Internal(m) if m.contains("OM_DYNAMODB_SHARDS")));
    DynamoStore::connect(&client, &table, 4).await.unwrap();
    // A missing table says what to do.
    let err = DynamoStore::connect(&client, &table_name(), 4)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("migrate")),
        "{err:?}"
    );
}

fn order(i: usize) -> Order {
    Order {
        id: OrderId::parse(format!("smoke-{i}-{}", uuid::Uuid::new_v4().simple())).unwrap(),
        event_id: EventId::parse("SMOKE").unwrap(),
        user_id: UserId::parse("alice").unwrap(),
        state: OrderState::Queued,
        order_number: None,
        drink: None,
        barista_user_id: None,
        cancel_reason: None,
        start_token: None,
        completion_token: None,
        execution_arn: None,
        workflow_finished_at: None,
        version: 1,
        created_at: now(),
        updated_at: now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_never_both_get_an_outbox_entry() {
    let Some(client) = moto_client() else { return };
    let table = table_name();
    migrate(&client, &table, 4).await.unwrap();
    // Two replicas: two stores, each with its own client.
    let a: Arc<dyn OrderStore> = Arc::new(DynamoStore::connect(&client, &table, 4).await.unwrap());
    let b: Arc<dyn OrderStore> = Arc::new(
        DynamoStore::connect(moto_client().unwrap(), &table, 4)
            .await
            .unwrap(),
    );
    let n = 24;
    for i in 0..n {
        let o = order(i);
        let change = Change {
            callbacks: vec![Callback {
                order_id: o.id.clone(),
                token: TaskToken::parse(format!("token-{}", o.id)).unwrap(),
                action: CallbackAction::Resume {
                    output: serde_json::json!({}),
                },
                expires_order: false,
            }],
            notices: vec![Notice {
                kind: NoticeKind::WaitingCompletion,
                detail: serde_json::json!({"orderId": o.id}),
            }],
            order: o,
            expected_version: None,
            settles: vec![],
            cause: Cause::Timeout,
            served: None,
        };
        // Not leased: due at once.
        a.apply(&change, None, now()).await.unwrap();
    }
    let lease = Duration::from_secs(30);
    let later = now() + chrono::Duration::seconds(1);
    let (mut callbacks, mut notices) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let (x, y, u, v) = tokio::join!(
            a.claim_due_callbacks(later, lease, 5),
            b.claim_due_callbacks(later, lease, 5),
            a.claim_due_notices(later, lease, 5),
            b.claim_due_notices(later, lease, 5),
        );
        let (x, y, u, v) = (x.unwrap(), y.unwrap(), u.unwrap(), v.unwrap());
        if x.is_empty() && y.is_empty() && u.is_empty() && v.is_empty() {
            break;
        }
        callbacks.extend(x.into_iter().chain(y).map(|c| c.id));
        notices.extend(u.into_iter().chain(v).map(|p| p.id));
    }
    assert_eq!(callbacks.len(), n, "each callback handed out once");
    assert_eq!(callbacks.iter().collect::<HashSet<_>>().len(), n);
    assert_eq!(notices.len(), n, "each notice handed out once");
    assert_eq!(notices.iter().collect::<HashSet<_>>().len(), n);
}
