//! The ports the domain needs from the outside world, with their contracts.
//! Adapters (in `outbound/`) implement them and translate their own failure signals into
//! [`StoreError`] and [`CallbackError`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::events::WorkflowEvent;
use super::history::HistoryEntry;
use super::ids::{EnvelopeId, EventId, OrderId, TaskToken, UserId};
use super::lifecycle::{CallbackAction, Change};
use super::list::{Direction, SortKey};
use super::menu::Menu;
use super::notices::Notice;
use super::order::{Order, OrderState};
use super::shop::{Refusal, ShopSettings};
use super::snapshot::OrderSnapshot;
use super::starts::{Reservation, Reservations};
use super::stats::EventStats;

/// Failures of an [`OrderStore`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A guarded write lost: the order is not at the expected version, already exists, or a
    /// callback for the same task token was already recorded. Nothing was written.
    #[error("conflicting write")]
    Conflict,
    /// The envelope id of the event was already recorded. Nothing was written.
    #[error("event already ingested")]
    DuplicateEvent,
    /// The store cannot be reached or is overloaded; the same call may succeed later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data is unreadable, or another defect; not worth retrying.
    #[error("store failure: {0}")]
    Internal(String),
}

/// One page of a list, in the order asked for.
pub struct ListPage {
    pub orders: Vec<Order>,
}

/// A pending callback handed out by [`OrderStore::claim_due_callbacks`].
#[derive(Debug, Clone)]
pub struct PendingCallback {
    pub id: i64,
    pub order_id: OrderId,
    pub token: TaskToken,
    pub action: CallbackAction,
    pub expires_order: bool,
    pub attempts: u32,
    /// An earlier attempt may have reached the workflow (time-out, 5xx, broken connection).
    pub outcome_unknown: bool,
}

/// What [`OrderStore::apply`] recorded.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The ids of the change's callbacks, in order.
    pub callbacks: Vec<i64>,
    /// The change's number in the change log.
    pub seq: u64,
}

/// How much of one outbox is waiting (what `/metrics` shows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    /// Entries not finished: due, waiting for a retry, or leased to an attempt.
    pub pending: u64,
    /// The earliest next attempt among them.
    pub next_due: Option<DateTime<Utc>>,
}

/// Both outboxes' depth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub callbacks: OutboxDepth,
    pub notices: OutboxDepth,
}

/// A notice handed out by [`OrderStore::claim_due_notices`].
#[derive(Debug, Clone)]
pub struct PendingNotice {
    pub id: i64,
    pub notice: Notice,
    pub attempts: u32,
}

/// How publishing a notice ended.
#[derive(Debug, Clone)]
pub enum NoticeResult {
    Published,
    /// Refused for good (a malformed entry): kept for inspection, never retried.
    Dropped {
        error: String,
    },
    Retry {
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
}

/// Whose changes a live stream follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeFilter {
    /// Every order of one coffee event (baristas).
    Event(EventId),
    /// One customer's orders.
    User(UserId),
}

/// One entry of the change log.
#[derive(Debug, Clone)]
pub struct OrderChange {
    pub seq: u64,
    pub order: OrderSnapshot,
}

/// One read of the change log.
#[derive(Debug, Clone, Default)]
pub struct ChangePage {
    /// The entries the filter selects, oldest first.
    pub changes: Vec<OrderChange>,
    /// How far the read went: every entry numbered up to here that the filter selects (and
    /// that was visible) is in `changes` or was before the read's start. The next read may
    /// start here, however many entries of others it went past.
    pub through: u64,
}

/// How a callback attempt ended, as recorded by [`OrderStore::finish_callback`].
#[derive(Debug, Clone)]
pub enum CallbackResult {
    /// The workflow accepted it.
    Delivered,
    /// The workflow rejected it for good (the token is dead).
    Rejected { error: String },
    /// Not delivered; try again at `next_attempt_at`. `outcome_unknown`: this attempt may
    /// have reached the workflow all the same (remembered for good).
    Retry {
        error: String,
        next_attempt_at: DateTime<Utc>,
        outcome_unknown: bool,
    },
}

/// Where orders, ingest de-duplication records, callbacks and menus live.
///
/// Every method is atomic. Implementations MUST map "cannot reach the store" to
/// [`StoreError::Unavailable`], never to another variant.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// The order with this id, if any. Reads the primary record (never a lagging index).
    async fn get(&self, id: &OrderId) -> Result<Option<Order>, StoreError>;

    /// Applies `change` in one atomic write:
    /// - if `change.expected_version` is `None`, inserts the order, and MUST return
    ///   [`StoreError::Conflict`] if an order with that id exists;
    /// - otherwise replaces it only if the stored version equals `expected_version`, and MUST
    ///   return [`StoreError::Conflict`] if it does not (or the order is gone);
    /// - records every callback of the change as pending, leased until `lease_until` (so that
    ///   the caller may try it inline first), and MUST return [`StoreError::Conflict`] if a
    ///   callback for the same task token was ever recorded (a token belongs to one order,
    ///   the one whose change calls back with it: a store may keep the rule per order);
    /// - settles as delivered every pending callback for a token in `change.settles` (tokens
    ///   of `change.order`);
    /// - records every notice of the change as pending, due at once;
    /// - counts what the change served, if it completes an order, and keeps its wait;
    /// - appends the new order to the change log, and the change's
    ///   [`HistoryEntry`](super::history::HistoryEntry) to the order's history;
    /// - if `envelope` is given, records it, and MUST return [`StoreError::DuplicateEvent`] if
    ///   it was recorded before.
    ///
    /// On any error nothing is written.
    async fn apply(
        &self,
        change: &Change,
        envelope: Option<&EnvelopeId>,
        lease_until: DateTime<Utc>,
    ) -> Result<Applied, StoreError>;

    /// Records that the event delivered under `envelope` (about `order`, if it names one) was
    /// ingested, for an event that changes no order ([`OrderStore::apply`] records the others):
    /// a redelivery is then a duplicate, whatever happened to the order meanwhile.
    ///
    /// With `defer`, the event is also kept for its order, which is not here yet, unless that
    /// order has [`MAX_PER_ORDER`](super::deferred::MAX_PER_ORDER) events kept already; returns
    /// whether it was kept. Kept events are forgotten with the envelope ids
    /// ([`OrderStore::prune`]).
    ///
    /// MUST return [`StoreError::DuplicateEvent`] if `envelope` was recorded before. On any
    /// error nothing is written.
    async fn record_event(
        &self,
        envelope: &EnvelopeId,
        order: Option<&OrderId>,
        defer: Option<&WorkflowEvent>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The events kept for `order` by [`OrderStore::record_event`] at `since` or after, in the
    /// order they were kept (older ones are forgotten, whether or not pruned yet). A
    /// consistent read: an event kept before the call began is in the answer.
    async fn deferred_events(
        &self,
        order: &OrderId,
        since: DateTime<Utc>,
    ) -> Result<Vec<WorkflowEvent>, StoreError>;

    /// The story of `order`: the history entry of every change applied to it, oldest first.
    /// Empty for an unknown order, and for one bulk-loaded by an import and not changed
    /// since. A consistent read: a change applied before the call began is in the answer.
    async fn history(&self, order: &OrderId) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Whether an event with this envelope id was ingested.
    async fn event_seen(&self, envelope: &EnvelopeId) -> Result<bool, StoreError>;

    /// Forgets what is older than `before` and no longer needed: envelope ids, kept events,
    /// finished callbacks and notices, change-log entries. Returns how many records went.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Up to `limit` orders of one event in one state, strictly after `after` in `direction`
    /// order of `(created_at, order_id)`. Listed orders carry no task tokens
    /// ([`Order::listed`](crate::domain::order::Order::listed)).
    async fn list_by_state(
        &self,
        event: &EventId,
        state: OrderState,
        direction: Direction,
        after: Option<&SortKey>,
        limit: usize,
    ) -> Result<ListPage, StoreError>;

    /// Up to `limit` orders of one user, newest first, strictly after `after`; without task
    /// tokens, as [`OrderStore::list_by_state`].
    async fn list_by_user(
        &self,
        user: &UserId,
        after: Option<&SortKey>,
        limit: usize,
    ) -> Result<ListPage, StoreError>;

    /// Hands out up to `limit` pending callbacks due at `now`, leasing each for `lease`
    /// so that no other caller gets it before the lease runs out.
    async fn claim_due_callbacks(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<PendingCallback>, StoreError>;

    /// Records how an attempt at callback `id` ended.
    async fn finish_callback(&self, id: i64, result: CallbackResult) -> Result<(), StoreError>;

    /// Hands out up to `limit` pending notices due at `now`, leased for `lease`.
    async fn claim_due_notices(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<PendingNotice>, StoreError>;

    /// Records how publishing notice `id` ended.
    async fn finish_notice(&self, id: i64, result: NoticeResult) -> Result<(), StoreError>;

    /// How many callbacks and notices are pending, and when the earliest is due.
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;

    /// Up to `limit` change-log entries after `after` that `filter` selects, oldest first,
    /// and how far the read went.
    async fn changes_after(
        &self,
        after: u64,
        filter: &ChangeFilter,
        limit: usize,
    ) -> Result<ChangePage, StoreError>;

    /// The number of the latest change-log entry (0 if none), and of the oldest one still
    /// kept (a client that asks from before it may have missed changes).
    async fn change_window(&self) -> Result<(u64, u64), StoreError>;

    /// How far back, in change numbers, an entry can still become visible after entries
    /// numbered later already are: a reader that follows the log looks back this far (and
    /// drops what it has already seen). 0 where numbers are given at commit, in commit order.
    fn change_log_lag(&self) -> u64 {
        0
    }

    /// The menu stored for `event`, if a barista set one.
    async fn get_menu(&self, event: &EventId) -> Result<Option<Arc<Menu>>, StoreError>;

    /// Stores the menu for `event`, replacing any earlier one.
    async fn put_menu(&self, event: &EventId, menu: &Menu) -> Result<(), StoreError>;

    /// The stats of `event`: its orders `queued` or `preparing` now, what it served on `day`
    /// (UTC), and the waits of its completions since `since` (the newest
    /// [`MAX_SAMPLES`](super::stats::MAX_SAMPLES)). Kept in step with the writes
    /// ([`OrderStore::apply`] of a change that serves): a few small reads, never a scan of
    /// the orders or their history. Waits are forgotten by [`OrderStore::prune`].
    async fn stats(
        &self,
        event: &EventId,
        day: NaiveDate,
        since: DateTime<Utc>,
    ) -> Result<EventStats, StoreError>;

    /// The starts reserved for `user` at `event` ([`starts`](super::starts)) and their
    /// record's version. A consistent read.
    async fn get_reservations(
        &self,
        event: &EventId,
        user: &UserId,
    ) -> Result<Reservations, StoreError>;

    /// Replaces the starts reserved for `user` at `event` if their record is still at
    /// `expected` (`None`: there is none yet); MUST return [`StoreError::Conflict`] and write
    /// nothing otherwise.
    async fn put_reservations(
        &self,
        event: &EventId,
        user: &UserId,
        entries: &[Reservation],
        expected: Option<u64>,
    ) -> Result<(), StoreError>;

    /// The shop settings stored for `event`, if a barista set them.
    async fn get_shop(&self, event: &EventId) -> Result<Option<ShopSettings>, StoreError>;

    /// Stores the shop settings of `event`, replacing any earlier ones.
    async fn put_shop(&self, event: &EventId, shop: &ShopSettings) -> Result<(), StoreError>;

    /// Succeeds when the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Failures of an [`EventPublisher`], per notice.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    /// The bus refused the entry itself: retrying the same entry cannot help.
    #[error("rejected: {0}")]
    Rejected(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Where notices go (EventBridge, or nowhere).
#[async_trait]
pub trait EventPublisher: Send + Sync + 'static {
    /// Publishes `notices` (at most 10); returns one result per notice, in order.
    async fn publish(&self, notices: &[Notice]) -> Vec<Result<(), PublishError>>;

    /// Whether a notice must wait in the outbox until it is published. A publisher whose
    /// `publish` cannot fail (no event bus: notices are only logged) says no: notices are then
    /// published as their change commits, and cost the store nothing.
    fn needs_outbox(&self) -> bool {
        true
    }
}

/// Failures of a [`Workflow`] callback.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallbackError {
    /// The token is dead (`TaskTimedOut`, `TaskDoesNotExist`, `InvalidToken`): never retry.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Known not to have arrived (throttling, a refused request): retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// May have arrived (a time-out, a 5xx, a broken connection): retry later, and do not
    /// read a later "token is dead" as an expiry: it may be this attempt that used it.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// Failures of [`Workflow::start`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// This workflow cannot start orders (no order processor is configured).
    #[error("no order processor is configured")]
    NotConfigured,
    /// An execution for this order id exists with other input.
    #[error("an order with this id already exists")]
    AlreadyExists,
    /// The shop's settings refuse the order (the OrderProcessor's `ShopUnavailable`).
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the order processor is unavailable: {0}")]
    Unavailable(String),
}

/// The workflow that waits on our task tokens (docs/architecture.md, "Callbacks and the outbox").
#[async_trait]
pub trait Workflow: Send + Sync + 'static {
    /// Starts the OrderProcessor for a new order; it announces itself with a
    /// `WorkflowStarted` event. Starting the same order with the same input again is a no-op.
    ///
    /// A workflow that checks the shop (is it open, is there capacity) checks it against
    /// `shop` and answers [`StartError::Refused`], atomically: starts that race never go past
    /// a limit. One that checks the shop itself (the real OrderProcessor) may ignore it.
    async fn start(
        &self,
        order: &OrderId,
        user: &UserId,
        event: &EventId,
        shop: &ShopSettings,
    ) -> Result<(), StartError>;

    /// Whether `start` checks the customer's limit itself (atomically); if not, the service
    /// reserves each start against it first ([`starts`](super::starts)).
    fn checks_customer_limit(&self) -> bool {
        false
    }

    /// Resumes the wait of `token` with `output` (`SendTaskSuccess`).
    async fn resume(
        &self,
        token: &TaskToken,
        output: &serde_json::Value,
    ) -> Result<(), CallbackError>;

    /// Fails the wait of `token` (`SendTaskFailure`).
    async fn fail(&self, token: &TaskToken, error: &str, cause: &str) -> Result<(), CallbackError>;
}
