//! Reads through the indexes: the order lists (sharded by event and state), the customer's
//! list, and the change log of the live stream. Every read of a sharded key queries each
//! shard for up to `limit` entries, merges them by sort key and keeps the first `limit`:
//! the first `limit` of the union are always among the first `limit` of each shard.
//!
//! Index reads are eventually consistent (a GSI lags the table by a fraction of a second);
//! no guard depends on them.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use futures_util::future::try_join_all;

use super::DynamoStore;
use super::attrs::{self, Item, s};
use super::errors;
use super::items;
use super::keys;
use crate::domain::ids::{EventId, OrderId, UserId};
use crate::domain::list::{Direction, SortKey};
use crate::domain::order::{Order, OrderState};
use crate::domain::ports::{ChangeFilter, ChangePage, ListPage, OrderChange, StoreError};

/// A consistent query of `order`'s partition, its sort key condition to be added.
fn order_partition(store: &DynamoStore, order: &OrderId) -> QueryFluentBuilder {
    store
        .client
        .query()
        .table_name(&store.table)
        .consistent_read(true)
        .expression_attribute_values(":pk", s(keys::order_pk(order.as_str())))
}

/// A consistent query of the items in `order`'s partition whose sort key starts with `prefix`
/// (the events kept for it, its history).
pub(super) fn in_order_partition(
    store: &DynamoStore,
    order: &OrderId,
    prefix: &str,
) -> QueryFluentBuilder {
    order_partition(store, order)
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":prefix", s(prefix))
}

/// A consistent query of the items in `order`'s partition whose sort key is between `from`
/// and `to` (inclusive).
pub(super) fn in_order_partition_between(
    store: &DynamoStore,
    order: &OrderId,
    from: &str,
    to: &str,
) -> QueryFluentBuilder {
    order_partition(store, order)
        .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
        .expression_attribute_values(":from", s(from))
        .expression_attribute_values(":to", s(to))
}

/// How many items one partition of `index` holds (counted page by page).
pub(super) async fn count(store: &DynamoStore, index: Index, pk: &str) -> Result<u64, StoreError> {
    let mut total = 0;
    let mut start = None;
    loop {
        let page = store
            .client
            .query()
            .table_name(&store.table)
            .index_name(index.name)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", index.pk)
            .expression_attribute_values(":pk", s(pk))
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| errors::sdk("Query", e))?;
        total += page.count.max(0) as u64;
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(total),
        }
    }
}

/// Which part of an index's sort key a query reads.
#[derive(Debug, Clone)]
pub(super) enum Bound {
    All,
    /// Strictly greater than.
    After(String),
    /// Strictly less than.
    Before(String),
}

/// One index of the table, by its name and key attributes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Index {
    pub name: &'static str,
    pub pk: &'static str,
    pub sk: &'static str,
}

pub(super) const BY_EVENT: Index = Index {
    name: keys::BY_EVENT,
    pk: keys::EV_PK,
    sk: keys::EV_SK,
};
pub(super) const BY_USER: Index = Index {
    name: keys::BY_USER,
    pk: keys::US_PK,
    sk: keys::US_SK,
};
pub(super) const DUE: Index = Index {
    name: keys::DUE,
    pk: keys::DUE_PK,
    sk: keys::DUE_SK,
};

/// Up to `limit` items of one index partition, in sort-key order (`forward`) or reversed.
pub(super) async fn query(
    store: &DynamoStore,
    index: Index,
    pk: String,
    bound: Bound,
    forward: bool,
    limit: usize,
) -> Result<Vec<Item>, StoreError> {
    let condition = match &bound {
        Bound::All => "#pk = :pk",
        Bound::After(_) => "#pk = :pk AND #sk > :bound",
        Bound::Before(_) => "#pk = :pk AND #sk < :bound",
    };
    let mut out: Vec<Item> = Vec::new();
    let mut start: Option<Item> = None;
    while out.len() < limit {
        let mut q = store
            .client
            .query()
            .table_name(&store.table)
            .index_name(index.name)
            .key_condition_expression(condition)
            .expression_attribute_names("#pk", index.pk)
            .expression_attribute_values(":pk", s(pk.as_str()))
            .scan_index_forward(forward)
            .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start.take());
        if let Bound::After(v) | Bound::Before(v) = &bound {
            q = q
                .expression_attribute_names("#sk", index.sk)
                .expression_attribute_values(":bound", AttributeValue::S(v.clone()));
        }
        let page = q.send().await.map_err(|e| errors::sdk("Query", e))?;
        out.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    out.truncate(limit);
    Ok(out)
}

/// Queries every partition in `pks` side by side and merges them by `index.sk`.
pub(super) async fn query_merged(
    store: &DynamoStore,
    index: Index,
    pks: Vec<String>,
    bound: Bound,
    forward: bool,
    limit: usize,
) -> Result<Vec<Item>, StoreError> {
    let parts = try_join_all(
        pks.into_iter()
            .map(|pk| query(store, index, pk, bound.clone(), forward, limit)),
    )
    .await?;
    let mut all: Vec<(String, Item)> = parts
        .into_iter()
        .flatten()
        .map(|item| Ok((attrs::str(&item, index.sk)?.to_string(), item)))
        .collect::<Result<_, StoreError>>()?;
    all.sort_by(|a, b| a.0.cmp(&b.0));
    if !forward {
        all.reverse();
    }
    all.truncate(limit);
    Ok(all.into_iter().map(|(_, item)| item).collect())
}

fn orders(items: Vec<Item>) -> Result<ListPage, StoreError> {
    Ok(ListPage {
        orders: items
            .iter()
            .map(|item| items::order_from_item(item).map(Order::listed))
            .collect::<Result<_, _>>()?,
    })
}

fn list_bound(after: Option<&SortKey>, forward: bool) -> Bound {
    match after {
        None => Bound::All,
        Some(k) => {
            let sk = keys::order_sort(k.created_at_micros, k.order_id.as_str());
            if forward {
                Bound::After(sk)
            } else {
                Bound::Before(sk)
            }
        }
    }
}

pub(super) async fn list_by_state(
    store: &DynamoStore,
    event: &EventId,
    state: OrderState,
    direction: Direction,
    after: Option<&SortKey>,
    limit: usize,
) -> Result<ListPage, StoreError> {
    if limit == 0 {
        return Ok(ListPage { orders: vec![] });
    }
    let forward = direction == Direction::OldestFirst;
    let pks = (0..store.shards)
        .map(|shard| keys::event_state_pk(event.as_str(), state, shard))
        .collect();
    let items = query_merged(
        store,
        BY_EVENT,
        pks,
        list_bound(after, forward),
        forward,
        limit,
    )
    .await?;
    orders(items)
}

pub(super) async fn list_by_user(
    store: &DynamoStore,
    user: &UserId,
    after: Option<&SortKey>,
    limit: usize,
) -> Result<ListPage, StoreError> {
    if limit == 0 {
        return Ok(ListPage { orders: vec![] });
    }
    let pk = keys::user_pk(user.as_str());
    let items = query(store, BY_USER, pk, list_bound(after, false), false, limit).await?;
    orders(items)
}

/// Change-log entries numbered after `after`, oldest first. A query reads the filter's own
/// index, so the read went as far as its last entry.
///
/// Entries may share a number (two orders changed in the same microsecond). When the
/// answer is cut at `limit`, the entries sharing the last number are left for the next
/// read, so that a reader that resumes after that number misses none of them.
pub(super) async fn changes_after(
    store: &DynamoStore,
    after: u64,
    filter: &ChangeFilter,
    limit: usize,
) -> Result<ChangePage, StoreError> {
    if limit == 0 {
        return Ok(ChangePage {
            changes: vec![],
            through: after,
        });
    }
    let bound = Bound::After(keys::change_after(after));
    let items = match filter {
        ChangeFilter::Event(e) => {
            let pks = (0..store.shards)
                .map(|shard| keys::change_event_pk(e.as_str(), shard))
                .collect();
            query_merged(store, BY_EVENT, pks, bound, true, limit).await?
        }
        ChangeFilter::User(u) => {
            query(
                store,
                BY_USER,
                keys::change_user_pk(u.as_str()),
                bound,
                true,
                limit,
            )
            .await?
        }
    };
    let mut changes: Vec<OrderChange> = items
        .iter()
        .map(items::change_from_item)
        .collect::<Result<_, _>>()?;
    if changes.len() == limit {
        let last = changes[changes.len() - 1].seq;
        let keep = changes.iter().take_while(|c| c.seq < last).count();
        if keep > 0 {
            changes.truncate(keep);
        }
    }
    Ok(ChangePage {
        through: changes.last().map_or(after, |c| c.seq),
        changes,
    })
}
