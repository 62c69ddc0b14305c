//! Bulk loading of orders that are not live (history from another system, a benchmark's data
//! set): `BatchWriteItem`, 25 orders a request, a few requests in flight, and what DynamoDB
//! leaves unprocessed (throttling) sent again with backoff. Each order is written with the
//! same item mapping as a transition, so it lands in its write shard of both list indexes.

use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures_util::{StreamExt, TryStreamExt};
use rand::Rng;

use super::{DynamoStore, errors, items};
use crate::domain::order::Order;
use crate::domain::ports::StoreError;

/// DynamoDB's limit on the requests of one `BatchWriteItem`.
const BATCH: usize = 25;
/// Batches in flight at once.
const IN_FLIGHT: usize = 4;
/// Rounds of re-sending unprocessed items before giving up.
const ROUNDS: u32 = 8;

pub(super) async fn import(store: &DynamoStore, orders: &[Order]) -> Result<u64, StoreError> {
    let batches: Vec<Vec<WriteRequest>> = orders
        .chunks(BATCH)
        .map(|chunk| chunk.iter().map(|o| put(store, o)).collect())
        .collect::<Result<_, _>>()?;
    futures_util::stream::iter(batches.into_iter().map(|b| write_batch(store, b)))
        .buffer_unordered(IN_FLIGHT)
        .try_for_each(|()| async { Ok(()) })
        .await?;
    Ok(orders.len() as u64)
}

fn put(store: &DynamoStore, o: &Order) -> Result<WriteRequest, StoreError> {
    let request = PutRequest::builder()
        .set_item(Some(items::order_item(o, store.shards)))
        .build()
        .map_err(|e| StoreError::Internal(format!("cannot build a put request: {e}")))?;
    Ok(WriteRequest::builder().put_request(request).build())
}

async fn write_batch(store: &DynamoStore, mut batch: Vec<WriteRequest>) -> Result<(), StoreError> {
    for round in 0..ROUNDS {
        let out = store
            .client
            .batch_write_item()
            .request_items(store.table.clone(), batch)
            .send()
            .await
            .map_err(|e| errors::sdk("BatchWriteItem", e))?;
        batch = out
            .unprocessed_items
            .and_then(|mut left| left.remove(&store.table))
            .unwrap_or_default();
        if batch.is_empty() {
            return Ok(());
        }
        let base = 50u64 << round.min(6);
        let wait = rand::rng().random_range(base / 2..=base);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    Err(StoreError::Unavailable(format!(
        "DynamoDB BatchWriteItem: {} items still unprocessed after {ROUNDS} rounds",
        batch.len()
    )))
}
