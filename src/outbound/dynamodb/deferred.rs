//! Envelope records of events that change no order, and the events kept for orders whose
//! start has not arrived (the contract of `OrderStore::record_event`).
//!
//! A kept event lives in its order's partition (`PK = ORDER#<id>`, `SK = DEFER#<time>#<envelope>`),
//! beside where the order will be, so the start reads them with one consistent query; it
//! carries the envelope records' TTL. DynamoDB deletes expired items when it gets to them
//! (often days late), so reads and counts take only those kept within the retention (the
//! keep time leads the sort key).

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, Select, TransactWriteItem};

use super::DynamoStore;
use super::attrs::{Item, RETENTION_SECS, expiry, s};
use super::errors::{self, Cancelled, Role};
use super::{items, keys, query};
use crate::domain::deferred::{self, MAX_PER_ORDER};
use crate::domain::events::WorkflowEvent;
use crate::domain::ids::{EnvelopeId, OrderId};
use crate::domain::ports::StoreError;

const DEFER_PREFIX: &str = "DEFER#";

fn deferred_item(order: &OrderId, envelope: &str, event: &WorkflowEvent, now: i64) -> Item {
    Item::from([
        (keys::PK.to_string(), s(keys::order_pk(order.as_str()))),
        (
            keys::SK.to_string(),
            s(format!("{DEFER_PREFIX}{}#{envelope}", keys::pad(now))),
        ),
        ("kind".to_string(), s("deferred")),
        ("event".to_string(), s(deferred::encode(event))),
        (keys::EXPIRES_AT.to_string(), expiry(now)),
    ])
}

fn put(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let p = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string))
        .build()
        .map_err(|e| StoreError::Internal(format!("cannot build a put: {e}")))?;
    Ok(TransactWriteItem::builder().put(p).build())
}

/// A consistent query of the events kept for `order` at `since` (microseconds) or after (one
/// page: they are few).
async fn query(
    store: &DynamoStore,
    order: &OrderId,
    select: Select,
    since: i64,
) -> Result<QueryOutput, StoreError> {
    // Every `DEFER#` key from `since` on (`$` sorts right after `#`).
    let from = format!("{DEFER_PREFIX}{}", keys::pad(since));
    query::in_order_partition_between(store, order, &from, "DEFER$")
        .select(select)
        .send()
        .await
        .map_err(|e| errors::sdk("Query", e))
}

/// How many events are kept for `order`, of those within the retention before `now`.
async fn kept(store: &DynamoStore, order: &OrderId, now: i64) -> Result<usize, StoreError> {
    let since = now - RETENTION_SECS * 1_000_000;
    Ok(query(store, order, Select::Count, since)
        .await?
        .count
        .max(0) as usize)
}

pub(super) async fn record(
    store: &DynamoStore,
    envelope: &EnvelopeId,
    order: Option<&OrderId>,
    defer: Option<&WorkflowEvent>,
    now: i64,
) -> Result<bool, StoreError> {
    let order_id = defer.map(WorkflowEvent::order_id).or(order);
    let empty = OrderId::parse("-").expect("a valid id");
    let record = items::envelope_item(envelope.as_str(), order_id.unwrap_or(&empty), now);
    let keep = match defer {
        Some(event) if kept(store, event.order_id(), now).await? < MAX_PER_ORDER => Some(event),
        _ => None,
    };
    let Some(event) = keep else {
        // The envelope record alone: one conditional put.
        return match store
            .client
            .put_item()
            .table_name(&store.table)
            .set_item(Some(record))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
        {
            Ok(_) => Ok(false),
            Err(e) if errors::is_condition_failed(&e) => Err(StoreError::DuplicateEvent),
            Err(e) => Err(errors::sdk("PutItem", e)),
        };
    };
    let writes = vec![
        put(&store.table, record, Some("attribute_not_exists(PK)"))?,
        put(
            &store.table,
            deferred_item(event.order_id(), envelope.as_str(), event, now),
            None,
        )?,
    ];
    let roles = [Role::Envelope, Role::Other];
    match store
        .client
        .transact_write_items()
        .set_transact_items(Some(writes))
        .client_request_token(uuid::Uuid::new_v4().to_string())
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(se))
            if matches!(
                se.err(),
                TransactWriteItemsError::TransactionCanceledException(_)
            ) =>
        {
            let TransactWriteItemsError::TransactionCanceledException(t) = se.err() else {
                unreachable!("matched above")
            };
            match errors::cancelled(t.cancellation_reasons(), t.message(), &roles) {
                Cancelled::Fail(e) => Err(e),
                Cancelled::Throttled(m) => Err(StoreError::Unavailable(m)),
            }
        }
        Err(e) => Err(errors::sdk("TransactWriteItems", e)),
    }
}

pub(super) async fn read(
    store: &DynamoStore,
    order: &OrderId,
    since: i64,
) -> Result<Vec<WorkflowEvent>, StoreError> {
    query(store, order, Select::AllAttributes, since)
        .await?
        .items
        .unwrap_or_default()
        .iter()
        .map(|item| match item.get("event") {
            Some(AttributeValue::S(e)) => deferred::decode(e).map_err(StoreError::Internal),
            _ => Err(StoreError::Internal(
                "a kept event without its event".into(),
            )),
        })
        .collect()
}
