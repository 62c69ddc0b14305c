//! What each coffee event served and its recent waits (the stats part of
//! `OrderStore::apply`, and `OrderStore::stats`).
//!
//! A completion's transaction adds one to its drink's counter of the day
//! (`PK = SERVED#<event>#<day>`, `SK = <drink>`, kept) and puts its wait
//! (`PK = WAIT#<event>`, `SK = <completed at>#<order id>`, with the TTL). The queue length is
//! counted on the event index, shard by shard: the orders `queued` and `preparing`, the
//! barista's queue, which the shop's capacity keeps short.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::try_join_all;

use super::DynamoStore;
use super::attrs::{self, Item, expiry, micros, n, s};
use super::query::{self, BY_EVENT};
use super::{errors, keys};
use crate::domain::ids::EventId;
use crate::domain::order::{Order, OrderState};
use crate::domain::ports::StoreError;
use crate::domain::stats::{EventStats, MAX_SAMPLES, Served, Wait};

fn served_pk(event: &str, day: NaiveDate) -> String {
    format!("SERVED#{event}#{day}")
}

fn wait_pk(event: &str) -> String {
    format!("WAIT#{event}")
}

/// The writes that count what completing `order` served.
pub(super) fn writes(
    table: &str,
    order: &Order,
    served: &Served,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let event = order.event_id.as_str();
    let count = Update::builder()
        .table_name(table)
        .key(keys::PK, s(served_pk(event, served.day())))
        .key(keys::SK, s(served.drink.as_str()))
        .update_expression("SET #kind = :kind ADD #count :one")
        .expression_attribute_names("#kind", "kind")
        .expression_attribute_names("#count", "count")
        .expression_attribute_values(":kind", s("served"))
        .expression_attribute_values(":one", n(1))
        .build()
        .map_err(|e| StoreError::Internal(format!("cannot build a count: {e}")))?;
    let mut writes = vec![TransactWriteItem::builder().update(count).build()];
    if let Some(wait) = served.wait {
        let at = micros(served.at);
        let item = Item::from([
            (keys::PK.to_string(), s(wait_pk(event))),
            (
                keys::SK.to_string(),
                s(format!("{}#{}", keys::pad(at), order.id)),
            ),
            ("kind".to_string(), s("wait")),
            ("completed_at".to_string(), n(at)),
            (
                "wait".to_string(),
                n(i64::try_from(wait.as_micros()).unwrap_or(i64::MAX)),
            ),
            (keys::EXPIRES_AT.to_string(), expiry(at)),
        ]);
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build a put: {e}")))?;
        writes.push(TransactWriteItem::builder().put(put).build());
    }
    Ok(writes)
}

pub(super) async fn read(
    store: &DynamoStore,
    event: &EventId,
    day: NaiveDate,
    since: DateTime<Utc>,
) -> Result<EventStats, StoreError> {
    let (queue_length, served, waits) = tokio::try_join!(
        queue_length(store, event),
        served(store, event, day),
        waits(store, event, since),
    )?;
    Ok(EventStats {
        queue_length,
        served,
        waits,
    })
}

async fn queue_length(store: &DynamoStore, event: &EventId) -> Result<u64, StoreError> {
    let pks = [OrderState::Queued, OrderState::Preparing]
        .into_iter()
        .flat_map(|state| {
            (0..store.shards).map(move |shard| keys::event_state_pk(event.as_str(), state, shard))
        });
    let counts =
        try_join_all(pks.map(|pk| async move { query::count(store, BY_EVENT, &pk).await })).await?;
    Ok(counts.into_iter().sum())
}

async fn served(
    store: &DynamoStore,
    event: &EventId,
    day: NaiveDate,
) -> Result<BTreeMap<String, u64>, StoreError> {
    let page = store
        .client
        .query()
        .table_name(&store.table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", s(served_pk(event.as_str(), day)))
        .send()
        .await
        .map_err(|e| errors::sdk("Query", e))?;
    page.items()
        .iter()
        .map(|item| {
            let drink = attrs::str(item, keys::SK)?.to_string();
            Ok((drink, attrs::num(item, "count")?))
        })
        .collect()
}

async fn waits(
    store: &DynamoStore,
    event: &EventId,
    since: DateTime<Utc>,
) -> Result<Vec<Wait>, StoreError> {
    let page = store
        .client
        .query()
        .table_name(&store.table)
        .key_condition_expression("PK = :pk AND SK >= :since")
        .expression_attribute_values(":pk", s(wait_pk(event.as_str())))
        .expression_attribute_values(":since", s(keys::pad(micros(since))))
        .scan_index_forward(false)
        .limit(MAX_SAMPLES as i32)
        .send()
        .await
        .map_err(|e| errors::sdk("Query", e))?;
    page.items()
        .iter()
        .map(|item| {
            let at: i64 = attrs::num(item, "completed_at")?;
            let wait: u64 = attrs::num(item, "wait")?;
            Ok(Wait {
                completed_at: DateTime::from_timestamp_micros(at)
                    .ok_or_else(|| attrs::corrupt("wait", "time out of range"))?,
                wait: Duration::from_micros(wait),
            })
        })
        .collect()
}
