//! The order service: the use cases of the API and of event ingest, on top of the ports.
//!
//! Every write goes through [`OrderService::transact`]: read the order, let the lifecycle
//! decide, apply the change as one guarded write (retrying the decision if another writer
//! won the race), then deliver the callbacks the change owes inline. Callbacks are in the
//! store before they are tried, so one that fails transiently is retried by the dispatcher
//! ([`OrderService::run_dispatcher`]) and none is ever lost or sent twice by us.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{Notify, watch};
use tokio_util::task::TaskTracker;

use super::arrivals::Arrivals;
use super::dispatch::{Attempt, NOTICE_BATCH};
use super::events::{Decision, Outcome, WorkflowEvent, decide};
use super::history::HistoryEntry;
use super::ids::{EnvelopeId, EventId, OrderId, UserId};
use super::lifecycle::{Actor, CancelCallback, Change, LifecycleError};
use super::list::{Direction, SortKey, merge_sorted};
use super::menu::{DrinkSubmission, Menu, MenuError};
use super::order::{Order, OrderState, now};
use super::ports::{
    Applied, ChangeFilter, ChangePage, EventPublisher, OrderStore, OutboxStats, PendingCallback,
    StartError, StoreError, Workflow,
};
use super::shop::{InvalidShop, Refusal, ShopSettings};
use super::starts;
use super::stats::{EventStats, Served, WAIT_WINDOW};
use crate::telemetry;

/// Tunables of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The coffee event of events and requests that name none.
    pub default_event: EventId,
    /// How cancellations release the workflow.
    pub cancel_callback: CancelCallback,
    /// How long an inline or dispatcher attempt owns a callback before another may try it.
    pub callback_lease: Duration,
    /// First retry delay of a callback; doubles per attempt up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// How often the dispatcher looks for due callbacks.
    pub dispatch_interval: Duration,
    /// How long envelope ids are remembered (EventBridge retries for up to 24 h).
    pub dedupe_retention: Duration,
    /// The shop settings of an event no barista gave settings to.
    pub shop: ShopSettings,
}

impl ServiceConfig {
    pub fn new(default_event: EventId) -> Self {
        Self {
            default_event,
            cancel_callback: CancelCallback::Success,
            callback_lease: Duration::from_secs(30),
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(300),
            dispatch_interval: Duration::from_millis(500),
            dedupe_retention: Duration::from_secs(48 * 3600),
            shop: ShopSettings::default(),
        }
    }
}

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The workflow's wait is over: the order has expired.
    #[error("the order has expired: the workflow no longer waits for it")]
    Expired,
    #[error("invalid drink: {0}")]
    InvalidDrink(MenuError),
    #[error("invalid menu: {0}")]
    InvalidMenu(MenuError),
    /// Too many concurrent writers on one order; nothing was written.
    #[error("too much contention on the order")]
    Contended,
    /// `POST /v1/orders` with no order processor to start.
    #[error("this service does not start orders: no order processor is configured")]
    NoOrderProcessor,
    #[error("the order processor is unavailable: {0}")]
    ProcessorUnavailable(String),
    /// The shop does not take the order now; nothing was started.
    #[error(transparent)]
    ShopRefused(#[from] Refusal),
    #[error("invalid shop settings: {0}")]
    InvalidShop(InvalidShop),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A transition made: the order as it is now, and whether the workflow is still to be told.
#[derive(Debug)]
pub struct Transition {
    pub order: Order,
    /// The change is recorded, but its callback did not get through yet: the outbox will
    /// deliver it (retried with backoff, also after a restart).
    pub callback_pending: bool,
}

/// One page of orders and the cursor of the next, if any.
#[derive(Debug)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    pub next_cursor: Option<SortKey>,
}

/// The use cases. Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct OrderService {
    pub(super) store: Arc<dyn OrderStore>,
    pub(super) workflow: Arc<dyn Workflow>,
    pub(super) publisher: Arc<dyn EventPublisher>,
    pub(super) cfg: Arc<ServiceConfig>,
    /// The latest change-log number this process wrote: wakes live streams.
    pub(super) changes: Arc<watch::Sender<u64>>,
    /// Bumped by each shop settings change this process makes (live streams send it).
    shops: Arc<watch::Sender<u64>>,
    /// The orders `POST /v1/orders` waits for: each woken by its own order's write.
    arrivals: Arc<Arrivals>,
    /// Wakes the dispatcher when a change owes notices.
    pub(super) wake: Arc<Notify>,
    /// Callback attempts running off a request's path: a shutdown waits for them.
    pub(super) background: TaskTracker,
}

/// How often a started order is looked for while its announcement is ingested elsewhere.
const START_POLL: Duration = Duration::from_millis(50);

/// How often a decision is re-made when another writer changed the order meanwhile.
pub(super) const MAX_RACES: usize = 5;

impl OrderService {
    pub fn new(
        store: Arc<dyn OrderStore>,
        workflow: Arc<dyn Workflow>,
        publisher: Arc<dyn EventPublisher>,
        cfg: ServiceConfig,
    ) -> Self {
        Self {
            store,
            workflow,
            publisher,
            cfg: Arc::new(cfg),
            changes: Arc::new(watch::Sender::new(0)),
            shops: Arc::new(watch::Sender::new(0)),
            arrivals: Arc::new(Arrivals::default()),
            wake: Arc::new(Notify::new()),
            background: TaskTracker::new(),
        }
    }

    /// Applies a change and tells whoever waits for it (live streams, the dispatcher).
    ///
    /// With a publisher that cannot fail (no event bus), the notices skip the outbox, where
    /// they cost a write to claim them and one to finish each, for nothing: they are published
    /// once the change is in.
    pub(super) async fn apply(
        &self,
        change: &Change,
        envelope: Option<&EnvelopeId>,
        lease_until: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        let publish_now = !change.notices.is_empty() && !self.publisher.needs_outbox();
        let without_notices;
        let stored = if publish_now {
            without_notices = Change {
                order: change.order.clone(),
                expected_version: change.expected_version,
                callbacks: change.callbacks.clone(),
                notices: Vec::new(),
                settles: change.settles.clone(),
                cause: change.cause.clone(),
                served: change.served.clone(),
            };
            &without_notices
        } else {
            change
        };
        let applied = self.store.apply(stored, envelope, lease_until).await?;
        self.changes.send_if_modified(|latest| {
            let newer = applied.seq > *latest;
            if newer {
                *latest = applied.seq;
            }
            newer
        });
        self.arrivals.arrived(&change.order.id);
        if let Some(served) = &change.served {
            telemetry::served(change.order.event_id.as_str(), served);
        }
        if publish_now {
            for chunk in change.notices.chunks(NOTICE_BATCH) {
                for result in self.publisher.publish(chunk).await {
                    telemetry::notice(if result.is_ok() {
                        "published"
                    } else {
                        "dropped"
                    });
                }
            }
        } else if !change.notices.is_empty() {
            self.wake.notify_one();
        }
        Ok(applied)
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.cfg
    }

    pub async fn ready(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    // ---- live changes --------------------------------------------------------------------

    /// A receiver that changes whenever this process writes a change.
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Changes whenever this process changes an event's shop settings.
    pub fn watch_shops(&self) -> watch::Receiver<u64> {
        self.shops.subscribe()
    }

    /// Change-log entries after `after` that `filter` selects, and how far the read went.
    pub async fn changes_after(
        &self,
        after: u64,
        filter: &ChangeFilter,
        limit: usize,
    ) -> Result<ChangePage, ServiceError> {
        Ok(self.store.changes_after(after, filter, limit).await?)
    }

    /// How many callbacks and notices wait in the outbox (for `/metrics`).
    pub async fn outbox_stats(&self) -> Result<OutboxStats, ServiceError> {
        Ok(self.store.outbox_stats().await?)
    }

    /// How far back a reader of the change log must look (see `OrderStore::change_log_lag`).
    pub fn change_log_lag(&self) -> u64 {
        self.store.change_log_lag()
    }

    /// The latest change number and the oldest one still kept.
    pub async fn change_window(&self) -> Result<(u64, u64), ServiceError> {
        Ok(self.store.change_window().await?)
    }

    // ---- event ingest -------------------------------------------------------------------

    /// Ingests one workflow event delivered under `envelope` (at least once, in any order).
    ///
    /// Every delivery's envelope is recorded, whatever its outcome: a redelivery is a
    /// `duplicate` however the order moved meanwhile. An event for an order whose start has
    /// not arrived is kept ([`deferred`](super::deferred)) and applied right after the start.
    #[tracing::instrument(skip_all, fields(order.id = %event.order_id()))]
    pub async fn ingest(
        &self,
        envelope: &EnvelopeId,
        event: &WorkflowEvent,
    ) -> Result<Outcome, ServiceError> {
        let outcome = self.ingest_once(Some(envelope), event).await?;
        match (event, outcome) {
            // A redelivered start too: the first may have stopped (a crash, a store outage)
            // between creating the order and applying what was kept for it.
            (WorkflowEvent::Started { .. }, Outcome::Applied | Outcome::Duplicate) => {
                self.apply_deferred(event.order_id()).await?;
                Ok(outcome)
            }
            // The start may have been applied between this event's read and its keeping, and
            // then found nothing kept: look again, now that it is kept.
            // If the start's pass over what is kept took it first, this look finds it applied
            // (a duplicate by its content): for this delivery, it was kept and applied after
            // the start, and that is its answer.
            (_, Outcome::Deferred) if self.store.get(event.order_id()).await?.is_some() => {
                match self.ingest_once(None, event).await? {
                    Outcome::Duplicate => Ok(Outcome::Deferred),
                    outcome => Ok(outcome),
                }
            }
            _ => Ok(outcome),
        }
    }

    /// Acknowledges an event that is not the workflow's (an unknown detail-type): recorded,
    /// so that its redelivery is a `duplicate` like any other.
    pub async fn acknowledge(&self, envelope: &EnvelopeId) -> Result<Outcome, ServiceError> {
        match self.store.record_event(envelope, None, None, now()).await {
            Ok(_) => Ok(Outcome::Ignored),
            Err(StoreError::DuplicateEvent) => Ok(Outcome::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies the events kept for a just-started order, in the order of the workflow's
    /// progress. Each is decided against the order as it is then, like a delivery; one that
    /// was applied before is a duplicate by its content.
    async fn apply_deferred(&self, order: &OrderId) -> Result<(), ServiceError> {
        let since = now() - self.cfg.dedupe_retention;
        let kept = self.store.deferred_events(order, since).await?;
        for event in super::deferred::in_progress_order(kept) {
            let outcome = self.ingest_once(None, &event).await?;
            tracing::info!(order.id = %order, ?outcome, "applied an event that came before its order's start");
        }
        Ok(())
    }

    /// Decides and writes one event; `envelope` is `None` for a kept event, whose envelope
    /// was recorded when it was kept.
    async fn ingest_once(
        &self,
        envelope: Option<&EnvelopeId>,
        event: &WorkflowEvent,
    ) -> Result<Outcome, ServiceError> {
        // A new event costs no read of the ingest records: the write refuses a duplicate
        // (`StoreError::DuplicateEvent`).
        //
        // A start is nearly always of a new order, which no read would find (and a miss is
        // a read of the store's file, past its in-memory views): its first round creates the
        // order unread. If the order exists, that write is refused (`StoreError::Conflict`,
        // nothing written) and the next round reads it and decides again.
        let mut unread = matches!(event, WorkflowEvent::Started { .. });
        for _ in 0..MAX_RACES {
            let current = if std::mem::take(&mut unread) {
                None
            } else {
                self.store.get(event.order_id()).await?
            };
            let (change, outcome) =
                match decide(current.as_ref(), event, self.cfg.cancel_callback, now()) {
                    Decision::Nothing(outcome) => {
                        let Some(envelope) = envelope else {
                            return Ok(outcome);
                        };
                        return self.record(envelope, event, outcome).await;
                    }
                    Decision::Write { change, outcome } => (change, outcome),
                };
            match self.apply(&change, envelope, self.lease_end()).await {
                Ok(applied) => {
                    // EventBridge waits for this answer: deliver owed callbacks off its path.
                    if !applied.callbacks.is_empty() {
                        let pending = self.pending(&change, applied.callbacks);
                        let this = self.clone();
                        self.background.spawn(async move {
                            for cb in pending {
                                this.attempt(cb).await;
                            }
                        });
                    }
                    return Ok(outcome);
                }
                Err(StoreError::DuplicateEvent) => return Ok(Outcome::Duplicate),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// Records the envelope of an event that changes no order (keeping the event if its
    /// order has not started): the answer is `outcome`, or `duplicate` for a redelivery.
    async fn record(
        &self,
        envelope: &EnvelopeId,
        event: &WorkflowEvent,
        outcome: Outcome,
    ) -> Result<Outcome, ServiceError> {
        let defer = outcome == Outcome::Deferred;
        let order = Some(event.order_id());
        match self
            .store
            .record_event(envelope, order, defer.then_some(event), now())
            .await
        {
            Ok(false) if defer => {
                tracing::warn!(
                    order.id = %event.order_id(),
                    kept = super::deferred::MAX_PER_ORDER,
                    "an early event was not kept: its order has as many kept as allowed"
                );
                Ok(Outcome::Ignored)
            }
            Ok(_) => Ok(outcome),
            Err(StoreError::DuplicateEvent) => Ok(Outcome::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    // ---- customer and barista use cases --------------------------------------------------

    /// Starts a new order for `customer` at `event`. Returns its id and, if the workflow
    /// announced it within `wait`, the order itself.
    #[tracing::instrument(skip_all)]
    pub async fn start_order(
        &self,
        customer: &UserId,
        event: &EventId,
        wait: Duration,
    ) -> Result<(OrderId, Option<Order>), ServiceError> {
        // Time-ordered (UUIDv7: 48 bits of milliseconds, then 74 random bits): the orders of
        // the same moments share the b-tree pages of every index keyed by order id, where
        // random ids made each new order rewrite a page of its own in each of them.
        let id =
            OrderId::parse(uuid::Uuid::now_v7().to_string()).expect("a UUID is a valid order id");
        // Waiting before the start: the announcement may be stored before `start` returns.
        let arrival = self.arrivals.expect(&id);
        let shop = self.shop(event).await?;
        let reserved = !self.workflow.checks_customer_limit();
        if reserved {
            let store = self.store.as_ref();
            let limit = shop.max_orders_per_user;
            starts::reserve(store, event, customer, &id, limit, now())
                .await
                .map_err(|e| match e {
                    StoreError::Conflict => ServiceError::Contended,
                    e => ServiceError::Store(e),
                })??;
        }
        let started = self.workflow.start(&id, customer, event, &shop).await;
        if let Err(e) = started {
            if reserved {
                starts::release(self.store.as_ref(), event, customer, &id).await;
            }
            return Err(match e {
                StartError::NotConfigured => ServiceError::NoOrderProcessor,
                StartError::AlreadyExists => ServiceError::Contended,
                StartError::Refused(r) => ServiceError::ShopRefused(r),
                StartError::Unavailable(m) => ServiceError::ProcessorUnavailable(m),
            });
        }
        tracing::info!(order.id = %id, "order started");
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Woken by this process's write of the order; polled for a workflow whose events
            // another replica ingests. A just-started order is not stored yet: no read first.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            arrival.wait(left.min(START_POLL)).await;
            if let Some(order) = self.store.get(&id).await? {
                return Ok((id, Some(order)));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok((id, None));
            }
        }
    }

    /// The stats of `event` now: its queue, what it served today (UTC), the waits of the
    /// last [`WAIT_WINDOW`]; and the day they count as today.
    pub async fn stats(&self, event: &EventId) -> Result<(NaiveDate, EventStats), ServiceError> {
        let now = now();
        let (today, since) = (
            now.date_naive(),
            now - chrono::TimeDelta::from_std(WAIT_WINDOW).unwrap_or_default(),
        );
        Ok((today, self.store.stats(event, today, since).await?))
    }

    /// The shop settings of `event`: a barista's, or the configured defaults.
    pub async fn shop(&self, event: &EventId) -> Result<ShopSettings, ServiceError> {
        Ok(self.store.get_shop(event).await?.unwrap_or(self.cfg.shop))
    }

    /// Replaces the shop settings of `event`.
    pub async fn put_shop(
        &self,
        event: &EventId,
        shop: ShopSettings,
    ) -> Result<ShopSettings, ServiceError> {
        let shop = shop.validated().map_err(ServiceError::InvalidShop)?;
        self.store.put_shop(event, &shop).await?;
        self.shops.send_modify(|n| *n += 1);
        Ok(shop)
    }

    /// One order, if `actor` may see it.
    pub async fn get_order(&self, actor: &Actor, id: &OrderId) -> Result<Order, ServiceError> {
        match self.store.get(id).await? {
            Some(o) if o.visible_to(actor) => Ok(o),
            _ => Err(LifecycleError::NotFound.into()),
        }
    }

    /// The story of one order, if `actor` may see the order: every change, oldest first.
    pub async fn history(
        &self,
        actor: &Actor,
        id: &OrderId,
    ) -> Result<Vec<HistoryEntry>, ServiceError> {
        self.get_order(actor, id).await?;
        Ok(self.store.history(id).await?)
    }

    /// The customer submits the drink; resumes the workflow's first wait.
    #[tracing::instrument(skip_all, fields(order.id = %id))]
    pub async fn submit_drink(
        &self,
        customer: &UserId,
        id: &OrderId,
        submission: &DrinkSubmission,
    ) -> Result<Transition, ServiceError> {
        let mut menu: Option<Arc<Menu>> = None;
        for _ in 0..MAX_RACES {
            let order = self
                .get_order(&Actor::Customer(customer.clone()), id)
                .await?;
            if menu.is_none() {
                menu = Some(self.menu(&order.event_id).await?);
            }
            let drink = menu
                .as_ref()
                .expect("loaded above")
                .check(submission)
                .map_err(ServiceError::InvalidDrink)?;
            let Some(change) = order.submit(customer, drink, now())? else {
                return Ok(Transition::unchanged(order));
            };
            if let Some(done) = self.commit(change).await? {
                return done;
            }
        }
        Err(ServiceError::Contended)
    }

    #[tracing::instrument(skip_all, fields(order.id = %id))]
    pub async fn claim(&self, barista: &UserId, id: &OrderId) -> Result<Transition, ServiceError> {
        self.transact(id, |o| o.claim(barista, now())).await
    }

    #[tracing::instrument(skip_all, fields(order.id = %id))]
    pub async fn unclaim(
        &self,
        barista: &UserId,
        id: &OrderId,
    ) -> Result<Transition, ServiceError> {
        self.transact(id, |o| o.unclaim(barista, now())).await
    }

    #[tracing::instrument(skip_all, fields(order.id = %id))]
    pub async fn complete(
        &self,
        barista: &UserId,
        id: &OrderId,
    ) -> Result<Transition, ServiceError> {
        // The story, read once: a completion's wait runs from the drink's submission.
        let story = self.store.history(id).await?;
        self.transact(id, |o| {
            let change = o.complete(barista, now())?;
            Ok(change.map(|mut c| {
                c.served = Some(Served::of(&c.order, &story));
                c
            }))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(order.id = %id))]
    pub async fn cancel(&self, actor: &Actor, id: &OrderId) -> Result<Transition, ServiceError> {
        let policy = self.cfg.cancel_callback;
        self.transact(id, |o| {
            if !o.visible_to(actor) {
                return Err(LifecycleError::NotFound);
            }
            o.cancel(actor, policy, now()).map(Some)
        })
        .await
    }

    /// Orders of one event in the given states: oldest first, unless every state asked for
    /// is terminal (history reads newest first).
    pub async fn list_orders(
        &self,
        event: &EventId,
        states: &[OrderState],
        limit: usize,
        after: Option<&SortKey>,
    ) -> Result<OrderPage, ServiceError> {
        let direction = if states.iter().all(|s| s.is_terminal()) {
            Direction::NewestFirst
        } else {
            Direction::OldestFirst
        };
        let mut lists = Vec::with_capacity(states.len());
        for &state in states {
            let page = self
                .store
                .list_by_state(event, state, direction, after, limit + 1)
                .await?;
            lists.push(page.orders);
        }
        Ok(paginate(merge_sorted(lists, direction, limit + 1), limit))
    }

    /// The customer's own orders, newest first.
    pub async fn list_my_orders(
        &self,
        user: &UserId,
        limit: usize,
        after: Option<&SortKey>,
    ) -> Result<OrderPage, ServiceError> {
        let page = self.store.list_by_user(user, after, limit + 1).await?;
        Ok(paginate(page.orders, limit))
    }

    /// The menu of `event`: the one a barista set, or the default.
    pub async fn menu(&self, event: &EventId) -> Result<Arc<Menu>, ServiceError> {
        Ok(self
            .store
            .get_menu(event)
            .await?
            .unwrap_or_else(Menu::shared_default))
    }

    pub async fn put_menu(&self, event: &EventId, menu: Menu) -> Result<Menu, ServiceError> {
        menu.validate().map_err(ServiceError::InvalidMenu)?;
        self.store.put_menu(event, &menu).await?;
        Ok(menu)
    }

    // ---- the write path ------------------------------------------------------------------

    /// Read, decide, write, deliver; re-decides when another writer won the race.
    /// `decide` returns `Ok(None)` when nothing needs to change.
    async fn transact(
        &self,
        id: &OrderId,
        decide: impl Fn(&Order) -> Result<Option<Change>, LifecycleError>,
    ) -> Result<Transition, ServiceError> {
        for _ in 0..MAX_RACES {
            let order = self.store.get(id).await?.ok_or(LifecycleError::NotFound)?;
            let Some(change) = decide(&order)? else {
                return Ok(Transition::unchanged(order));
            };
            if let Some(done) = self.commit(change).await? {
                return done;
            }
        }
        Err(ServiceError::Contended)
    }

    /// Applies `change` and delivers its callbacks inline. `Ok(None)`: another writer won,
    /// decide again. A transient callback failure leaves the callback pending (the change
    /// stands; the dispatcher retries), a final one answers `Expired` if it expired the order.
    async fn commit(
        &self,
        change: Change,
    ) -> Result<Option<Result<Transition, ServiceError>>, StoreError> {
        let applied = match self.apply(&change, None, self.lease_end()).await {
            Ok(applied) => applied,
            Err(StoreError::Conflict) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut callback_pending = false;
        for cb in self.pending(&change, applied.callbacks) {
            match self.attempt(cb).await {
                Attempt::Delivered | Attempt::Rejected(false) => {}
                Attempt::Rejected(true) => return Ok(Some(Err(ServiceError::Expired))),
                Attempt::Retrying => callback_pending = true,
            }
        }
        Ok(Some(Ok(Transition {
            order: change.order,
            callback_pending,
        })))
    }

    fn pending(&self, change: &Change, ids: Vec<i64>) -> Vec<PendingCallback> {
        change
            .callbacks
            .iter()
            .zip(ids)
            .map(|(cb, id)| PendingCallback {
                id,
                order_id: cb.order_id.clone(),
                token: cb.token.clone(),
                action: cb.action.clone(),
                expires_order: cb.expires_order,
                attempts: 0,
                outcome_unknown: false,
            })
            .collect()
    }

    fn lease_end(&self) -> DateTime<Utc> {
        now() + self.cfg.callback_lease
    }
}

impl Transition {
    /// Nothing needed changing (a request repeated): the order as it is.
    fn unchanged(order: Order) -> Self {
        Self {
            order,
            callback_pending: false,
        }
    }
}

fn paginate(mut orders: Vec<Order>, limit: usize) -> OrderPage {
    let next_cursor = if orders.len() > limit {
        orders.truncate(limit);
        orders.last().map(SortKey::of)
    } else {
        None
    };
    OrderPage {
        orders,
        next_cursor,
    }
}
