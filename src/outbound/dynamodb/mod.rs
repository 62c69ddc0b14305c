//! The DynamoDB store (docs/architecture.md, "Stores"): one table shared by any number of
//! stateless replicas.
//!
//! Single-table design (the layout is in `keys`, the definition in
//! `migrations/dynamodb/table.json`, the explanation in docs/dynamodb.md):
//! - every transition is one `TransactWriteItems` (`apply`) whose order write is
//!   conditional on the version read: a lost race is [`StoreError::Conflict`];
//! - reads that guard a write (`get`, `event_seen`) are consistent reads of the table,
//!   never of an index; the lists, the change log and the due outbox entries are read
//!   through eventually consistent indexes whose hot keys are write-sharded;
//! - outbox entries are handed out under leases by conditional updates (`outbox`), so two
//!   replicas never both get one;
//! - what only needs keeping for a while (envelope ids, events kept for orders not started
//!   yet, finished outbox entries, change entries) carries a TTL: DynamoDB deletes it, and `prune` has nothing to do.

mod apply;
mod attrs;
mod deferred;
mod errors;
mod history;
mod import;
mod items;
mod keys;
mod outbox;
mod query;
mod schema;
mod shops;
mod stats;
#[cfg(test)]
mod tests;

pub use keys::{DEFAULT_SHARDS, MAX_SHARDS};
pub use schema::{TABLE_JSON, TTL_JSON, migrate};

use std::borrow::Borrow;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::events::WorkflowEvent;
use crate::domain::history::HistoryEntry;
use crate::domain::ids::{EnvelopeId, EventId, OrderId, UserId};
use crate::domain::lifecycle::Change;
use crate::domain::list::{Direction, SortKey};
use crate::domain::menu::Menu;
use crate::domain::order::{Order, OrderState, now};
use crate::domain::ports::{
    Applied, CallbackResult, ChangeFilter, ChangePage, ListPage, NoticeResult, OrderStore,
    OutboxStats, PendingCallback, PendingNotice, StoreError,
};
use crate::domain::shop::ShopSettings;
use crate::domain::starts::{Reservation, Reservations};
use crate::domain::stats::EventStats;
use attrs::micros;

/// How far back the change log reaches (its entries' TTL).
const CHANGE_RETENTION_MICROS: i64 = attrs::RETENTION_SECS * 1_000_000;

/// The order store on one DynamoDB table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    shards: u32,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

/// A client from the standard AWS configuration chain (`AWS_REGION`, `AWS_ENDPOINT_URL`,
/// credentials...), with modest time-outs and the standard retry mode (3 attempts, with
/// backoff) for throttling and transient failures.
pub async fn client_from_env() -> Client {
    let shared = crate::outbound::aws::shared_config("the DynamoDB store").await;
    let config = aws_sdk_dynamodb::config::Builder::from(&shared)
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

impl DynamoStore {
    /// The store on `table` (which must exist: see [`migrate`]), with `shards` write shards.
    /// Records the shard count in the table on first use, and refuses a table that was set
    /// up with another one.
    pub async fn connect(
        client: impl Borrow<Client>,
        table: &str,
        shards: u32,
    ) -> Result<DynamoStore, StoreError> {
        let client = client.borrow().clone();
        schema::check_shards(shards)?;
        schema::record_shards(&client, table, shards).await?;
        Ok(DynamoStore {
            client,
            table: table.to_string(),
            shards,
        })
    }

    /// The store with a client from the standard AWS configuration; with `create`, runs
    /// [`migrate`] first (for local use: in production the table is an operator's job).
    pub async fn from_env(
        table: &str,
        shards: u32,
        create: bool,
    ) -> Result<DynamoStore, StoreError> {
        let client = client_from_env().await;
        if create {
            migrate(&client, table, shards).await?;
        }
        Self::connect(client, table, shards).await
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// Bulk-loads orders that are not live (history from another system, a benchmark's data
    /// set) with `BatchWriteItem`: no change-log, outbox or ingest entries, and no condition,
    /// so an order already stored under the same id is overwritten. Not for a live table's
    /// open orders: transitions go through [`OrderStore::apply`].
    pub async fn import(&self, orders: &[Order]) -> Result<u64, StoreError> {
        import::import(self, orders).await
    }

    /// A consistent read of one item of the table.
    async fn get_item(&self, key: attrs::Item) -> Result<Option<attrs::Item>, StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| errors::sdk("GetItem", e))
    }
}

#[async_trait]
impl OrderStore for DynamoStore {
    async fn get(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.get_item(items::order_key(id))
            .await?
            .map(|item| items::order_from_item(&item))
            .transpose()
    }

    async fn apply(
        &self,
        change: &Change,
        envelope: Option<&EnvelopeId>,
        lease_until: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        apply::apply(self, change, envelope, lease_until).await
    }

    async fn record_event(
        &self,
        envelope: &EnvelopeId,
        order: Option<&OrderId>,
        defer: Option<&WorkflowEvent>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        deferred::record(self, envelope, order, defer, micros(now)).await
    }

    async fn deferred_events(
        &self,
        order: &OrderId,
        since: DateTime<Utc>,
    ) -> Result<Vec<WorkflowEvent>, StoreError> {
        deferred::read(self, order, micros(since)).await
    }

    async fn history(&self, order: &OrderId) -> Result<Vec<HistoryEntry>, StoreError> {
        history::read(self, order).await
    }

    async fn event_seen(&self, envelope: &EnvelopeId) -> Result<bool, StoreError> {
        Ok(self
            .get_item(items::envelope_key(envelope.as_str()))
            .await?
            .is_some())
    }

    /// Nothing to do: envelope ids, finished outbox entries and change entries carry a TTL
    /// (48 h) and DynamoDB deletes them (within a day or two of expiring).
    async fn prune(&self, _before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn list_by_state(
        &self,
        event: &EventId,
        state: OrderState,
        direction: Direction,
        after: Option<&SortKey>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        query::list_by_state(self, event, state, direction, after, limit).await
    }

    async fn list_by_user(
        &self,
        user: &UserId,
        after: Option<&SortKey>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        query::list_by_user(self, user, after, limit).await
    }

    async fn claim_due_callbacks(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<PendingCallback>, StoreError> {
        outbox::claim_callbacks(self, now, lease, limit).await
    }

    async fn finish_callback(&self, id: i64, result: CallbackResult) -> Result<(), StoreError> {
        outbox::finish_callback(self, id, result, now()).await
    }

    async fn claim_due_notices(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<PendingNotice>, StoreError> {
        outbox::claim_notices(self, now, lease, limit).await
    }

    async fn finish_notice(&self, id: i64, result: NoticeResult) -> Result<(), StoreError> {
        outbox::finish_notice(self, id, result, now()).await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let (callbacks, notices) = tokio::try_join!(
            outbox::depth(self, keys::Outbox::Callbacks),
            outbox::depth(self, keys::Outbox::Notices),
        )?;
        Ok(OutboxStats { callbacks, notices })
    }

    async fn changes_after(
        &self,
        after: u64,
        filter: &ChangeFilter,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        query::changes_after(self, after, filter, limit).await
    }

    /// Change numbers are the changes' times (microseconds), so the window needs no read:
    /// the latest number is now, the oldest kept is now minus the retention.
    async fn change_window(&self) -> Result<(u64, u64), StoreError> {
        let now = micros(now()).max(0);
        let oldest = (now - CHANGE_RETENTION_MICROS).max(0);
        Ok((now as u64, oldest as u64))
    }

    /// Change numbers are time stamps taken before the transaction: an entry can become
    /// visible (in the table, then in the index) after entries stamped later.
    fn change_log_lag(&self) -> u64 {
        apply::CHANGE_LAG.as_micros() as u64
    }

    async fn get_menu(&self, event: &EventId) -> Result<Option<Arc<Menu>>, StoreError> {
        self.get_item(items::menu_key(event.as_str()))
            .await?
            .map(|item| items::menu_from_item(&item).map(Arc::new))
            .transpose()
    }

    async fn put_menu(&self, event: &EventId, menu: &Menu) -> Result<(), StoreError> {
        let item = items::menu_item(event.as_str(), menu, micros(now()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| errors::sdk("PutItem", e))
    }

    /// A read of the meta item (eventually consistent: the cheapest read there is).
    async fn stats(
        &self,
        event: &EventId,
        day: NaiveDate,
        since: DateTime<Utc>,
    ) -> Result<EventStats, StoreError> {
        stats::read(self, event, day, since).await
    }

    async fn get_reservations(
        &self,
        event: &EventId,
        user: &UserId,
    ) -> Result<Reservations, StoreError> {
        shops::reservations(self, event, user).await
    }

    async fn put_reservations(
        &self,
        event: &EventId,
        user: &UserId,
        entries: &[Reservation],
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        shops::put_reservations(self, event, user, entries, expected, micros(now())).await
    }

    async fn get_shop(&self, event: &EventId) -> Result<Option<ShopSettings>, StoreError> {
        shops::get(self, event).await
    }

    async fn put_shop(&self, event: &EventId, shop: &ShopSettings) -> Result<(), StoreError> {
        shops::put(self, event, shop, micros(now())).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(items::meta_key()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| errors::sdk("GetItem", e))
    }
}
