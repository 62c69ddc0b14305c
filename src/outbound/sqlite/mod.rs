//! The embedded store: one SQLite file in WAL mode (DESIGN §6).
//!
//! Writes go through one writer thread with group commit ([`writer`]), which appends each
//! commit to the WAL in one write (the VFS of the `sqlite-wal-appends` crate). Reads use a
//! pool of read-only connections ([`pool`]), except what the writer thread keeps in memory
//! in commit order: the orders in hand and the last ones waiting for their customer
//! ([`open_orders`]: the barista lists and reads by id), customers' first pages
//! ([`user_pages`]), the change log's tail ([`change_tail`]) and the menus ([`menus`]).
//! Every transition is an `UPDATE … WHERE version = ?`; zero rows changed is the domain's
//! [`StoreError::Conflict`].

mod apply;
mod change_tail;
mod checkpoint;
mod deferred;
mod menus;
mod open_orders;
mod outbox;
mod pool;
mod prune;
mod rows;
mod schema;
mod user_pages;
mod writer;

pub(crate) use pool::ReadPool;
pub(crate) use rows::micros;
pub use schema::Durability;
pub(crate) use schema::{Migration, open_database};
pub(crate) use writer::Writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{ErrorCode, OptionalExtension, params};

use crate::domain::events::WorkflowEvent;
use crate::domain::ids::{EnvelopeId, EventId, OrderId, UserId};
use crate::domain::lifecycle::Change;
use crate::domain::list::{Direction, SortKey};
use crate::domain::menu::Menu;
use crate::domain::order::OrderState;
use crate::domain::ports::{
    Applied, CallbackResult, ChangeFilter, ChangePage, ListPage, NoticeResult, OrderChange,
    OrderStore, OutboxDepth, OutboxStats, PendingCallback, PendingNotice, StoreError,
};
use crate::domain::snapshot::OrderSnapshot;
use change_tail::ChangeTail;
use menus::Menus;
use open_orders::OpenOrders;
use rows::{LIST_COLUMNS, ORDER_COLUMNS, order_from_row};
use user_pages::UserPages;

pub struct SqliteStore {
    writer: Writer,
    /// The open orders, in memory: the barista lists.
    open: Arc<OpenOrders>,
    /// Customers' first pages, in memory: `GET /v1/me/orders`.
    pages: Arc<UserPages>,
    /// The change log's latest entries, in memory: live streams.
    tail: Arc<ChangeTail>,
    /// The menus, in memory: every drink submission is checked against one.
    menus: Arc<Menus>,
    /// Which orders have events kept for them: every start asks.
    kept_for: Arc<deferred::KeptFor>,
    readers: Arc<ReadPool>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations;
    /// every acknowledged write survives a power cut ([`Durability::Full`]).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, Durability::Full)
    }

    /// [`SqliteStore::open`] with the durability of its writes chosen.
    pub fn open_with(path: &Path, durability: Durability) -> Result<SqliteStore, StoreError> {
        let conn = open_database(path, schema::MIGRATIONS, durability)?;
        // One process owns an SQLite store, so every lease found at start-up belongs to a
        // process that is gone: hand its callbacks and notices out again now rather than when
        // the leases run out (the callbacks stay marked in flight: their outcome is unknown).
        let now = micros(crate::domain::order::now());
        for sql in [
            "UPDATE callbacks SET next_attempt_at = ?1 WHERE status = 'pending' AND next_attempt_at > ?1",
            "UPDATE notices SET next_attempt_at = ?1 WHERE status = 'pending' AND next_attempt_at > ?1",
        ] {
            conn.execute(sql, [now]).map_err(map_err)?;
        }
        let open = Arc::new(OpenOrders::load(&conn)?);
        let tail = Arc::new(ChangeTail::load(&conn, change_tail::CAPACITY)?);
        let menus = Arc::new(Menus::load(&conn)?);
        let kept_for = Arc::new(deferred::KeptFor::load(&conn)?);
        Ok(SqliteStore {
            writer: Writer::start(conn, path)?,
            open,
            pages: Arc::default(),
            tail,
            menus,
            kept_for,
            readers: ReadPool::new(path.to_path_buf(), 16),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bulk-loads orders that are not live (history from another system, a benchmark's data
    /// set) in one transaction: no change-log, outbox or ingest entries. An order id the store
    /// already holds refuses the whole load with [`StoreError::Conflict`].
    pub async fn import(
        &self,
        orders: Vec<crate::domain::order::Order>,
    ) -> Result<u64, StoreError> {
        let orders = Arc::new(orders);
        let (written, open, pages) = (orders.clone(), self.open.clone(), self.pages.clone());
        self.writer
            .write_then(
                move |conn| apply::insert_orders(conn, &written),
                move |_| {
                    for o in orders.iter() {
                        open.record(Arc::new(o.clone()));
                        pages.forget(&o.user_id);
                    }
                },
            )
            .await
    }

    /// Whether `table` (callbacks or notices) has a pending row due at `now`. The dispatcher
    /// asks often and the answer is mostly "no": a reader answers, and the writer is taken
    /// only when there is something to claim.
    async fn any_due(&self, table: &'static str, now: i64) -> Result<bool, StoreError> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT 1 FROM {table} WHERE status = 'pending' AND next_attempt_at <= ?1 LIMIT 1"
                ))
                .and_then(|mut s| s.exists([now]))
                .map_err(map_err)
            })
            .await
    }
}

/// Maps SQLite's signals onto the domain's: busy, locked, I/O and full-disk failures are
/// transient; anything else is a defect.
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::OutOfMemory,
        ) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn get(&self, id: &OrderId) -> Result<Option<crate::domain::order::Order>, StoreError> {
        if let Some(order) = self.open.get(id) {
            return Ok(Some(order));
        }
        let id = id.clone();
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?1"
                ))
                .and_then(|mut s| s.query_row([id.as_str()], order_from_row).optional())
                .map_err(map_err)?
                .transpose()
            })
            .await
    }

    async fn apply(
        &self,
        change: &Change,
        envelope: Option<&EnvelopeId>,
        lease_until: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        let change = change.clone();
        let envelope = envelope.cloned();
        let lease_until = micros(lease_until);
        let snapshot = OrderSnapshot::from(&change.order);
        // Encoded here rather than on the writer thread, which every write waits for.
        let snapshot_json = serde_json::to_string(&snapshot)
            .map_err(|e| StoreError::Internal(format!("cannot encode a snapshot: {e}")))?;
        let order = Arc::new(change.order.clone());
        let (open, pages) = (self.open.clone(), self.pages.clone());
        let tail = self.tail.clone();
        self.writer
            .write_then(
                move |conn| {
                    apply::apply_change(
                        conn,
                        &change,
                        envelope.as_ref(),
                        lease_until,
                        &snapshot_json,
                    )
                },
                move |applied| {
                    pages.forget(&order.user_id);
                    open.record(order);
                    tail.record(OrderChange {
                        seq: applied.seq,
                        order: snapshot,
                    });
                },
            )
            .await
    }

    async fn record_event(
        &self,
        envelope: &EnvelopeId,
        order: Option<&OrderId>,
        defer: Option<&WorkflowEvent>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let envelope = envelope.to_string();
        let order = defer
            .map(|e| e.order_id())
            .or(order)
            .map(|o| o.to_string())
            .unwrap_or_default();
        let defer = defer.map(crate::domain::deferred::encode);
        let now = micros(now);
        let kept_for = self.kept_for.clone();
        let kept_order = order.clone();
        self.writer
            .write_then(
                move |conn| deferred::record(conn, &envelope, &order, defer.as_deref(), now),
                move |kept| {
                    if *kept {
                        kept_for.add(kept_order);
                    }
                },
            )
            .await
    }

    async fn deferred_events(&self, order: &OrderId) -> Result<Vec<WorkflowEvent>, StoreError> {
        if !self.kept_for.has(order.as_str()) {
            return Ok(Vec::new());
        }
        let order = order.to_string();
        let encoded = self
            .readers
            .read(move |conn| deferred::read(conn, &order))
            .await?;
        encoded
            .iter()
            .map(|e| crate::domain::deferred::decode(e).map_err(StoreError::Internal))
            .collect()
    }

    async fn event_seen(&self, envelope: &EnvelopeId) -> Result<bool, StoreError> {
        let envelope = envelope.clone();
        self.readers
            .read(move |conn| {
                conn.prepare_cached("SELECT 1 FROM ingested_events WHERE envelope_id = ?1")
                    .and_then(|mut s| s.exists([envelope.as_str()]))
                    .map_err(map_err)
            })
            .await
    }

    /// In small transactions (see [`prune`]), so that writes go on between them.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = micros(before);
        let kept_for = self.kept_for.clone();
        let (mut gone, _) = self
            .writer
            .write_then(
                move |conn| {
                    let mut gone = 0;
                    for sql in [
                        "DELETE FROM callbacks WHERE status <> 'pending' AND updated_at < ?1",
                        "DELETE FROM notices WHERE status <> 'pending' AND updated_at < ?1",
                    ] {
                        gone += conn.execute(sql, [before]).map_err(map_err)? as u64;
                    }
                    gone += deferred::prune(conn, before)?;
                    Ok((gone, deferred::orders_with_kept_events(conn)?))
                },
                move |(_, still_kept)| kept_for.replace(still_kept.clone()),
            )
            .await?;
        let mut after: Option<String> = None;
        loop {
            let from = after.take();
            let (n, next) = self
                .writer
                .write(move |conn| prune::ingested_events(conn, from, before))
                .await?;
            gone += n;
            match next {
                Some(key) => after = Some(key),
                None => break,
            }
        }
        loop {
            let (n, more) = self
                .writer
                .write(move |conn| prune::order_changes(conn, before))
                .await?;
            gone += n;
            if !more {
                break;
            }
        }
        Ok(gone)
    }

    async fn claim_due_notices(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<PendingNotice>, StoreError> {
        let lease_until = micros(now + lease);
        let now = micros(now);
        if !self.any_due("notices", now).await? {
            return Ok(Vec::new());
        }
        self.writer
            .write(move |conn| outbox::claim_notices(conn, now, lease_until, limit))
            .await
    }

    async fn finish_notice(&self, id: i64, result: NoticeResult) -> Result<(), StoreError> {
        let now = micros(crate::domain::order::now());
        self.writer
            .write(move |conn| outbox::finish_notice(conn, id, result, now))
            .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.readers
            .read(|conn| {
                let depth = |table: &str| -> Result<OutboxDepth, StoreError> {
                    let (pending, next): (i64, Option<i64>) = conn
                        .prepare_cached(&format!(
                            "SELECT COUNT(*), MIN(next_attempt_at) FROM {table} WHERE status = 'pending'"
                        ))
                        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
                        .map_err(map_err)?;
                    Ok(OutboxDepth {
                        pending: pending.max(0) as u64,
                        next_due: next.and_then(DateTime::from_timestamp_micros),
                    })
                };
                Ok(OutboxStats {
                    callbacks: depth("callbacks")?,
                    notices: depth("notices")?,
                })
            })
            .await
    }

    /// From memory while the follower is within the entries kept; otherwise from the file,
    /// by number (see [`change_tail`]).
    async fn changes_after(
        &self,
        after: u64,
        filter: &ChangeFilter,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        if limit == 0 {
            return Ok(ChangePage {
                changes: Vec::new(),
                through: after,
            });
        }
        if let Some(page) = self.tail.read(after, filter, limit) {
            return Ok(page);
        }
        let filter = filter.clone();
        self.readers
            .read(move |conn| change_tail::scan(conn, after, &filter, limit))
            .await
    }

    async fn change_window(&self) -> Result<(u64, u64), StoreError> {
        self.readers
            .read(|conn| {
                conn.query_row(
                    "SELECT COALESCE(MAX(seq), 0), COALESCE(MIN(seq), 0) FROM order_changes",
                    [],
                    |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
                )
                .map_err(map_err)
            })
            .await
    }

    async fn list_by_state(
        &self,
        event: &EventId,
        state: OrderState,
        direction: Direction,
        after: Option<&SortKey>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        if let Some(orders) = self.open.page(event, state, direction, after, limit) {
            return Ok(ListPage { orders });
        }
        let (cmp, ord) = match direction {
            Direction::OldestFirst => (">", "ASC"),
            Direction::NewestFirst => ("<", "DESC"),
        };
        let keyset = if after.is_some() {
            format!("AND (created_at, order_id) {cmp} (?4, ?5)")
        } else {
            "AND ?4 IS NULL AND ?5 IS NULL".to_string()
        };
        let sql = format!(
            "SELECT {LIST_COLUMNS} FROM orders WHERE event_id = ?1 AND state = ?2 {keyset}
             ORDER BY created_at {ord}, order_id {ord} LIMIT ?3"
        );
        let event = event.clone();
        let after = after.cloned();
        self.readers
            .read(move |conn| {
                let (t, id) = match &after {
                    Some(k) => (Some(k.created_at_micros), Some(k.order_id.as_str())),
                    None => (None, None),
                };
                let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
                let orders = stmt
                    .query_map(
                        params![event.as_str(), state.as_str(), limit as i64, t, id],
                        order_from_row,
                    )
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(map_err)?
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ListPage { orders })
            })
            .await
    }

    async fn list_by_user(
        &self,
        user: &UserId,
        after: Option<&SortKey>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        let ticket = match after {
            None => match self.pages.get(user, limit) {
                Ok(orders) => return Ok(ListPage { orders }),
                Err(ticket) => Some(ticket),
            },
            Some(_) => None,
        };
        let keyset = if after.is_some() {
            "AND (created_at, order_id) < (?3, ?4)"
        } else {
            "AND ?3 IS NULL AND ?4 IS NULL"
        };
        let sql = format!(
            "SELECT {LIST_COLUMNS} FROM orders WHERE user_id = ?1 {keyset}
             ORDER BY created_at DESC, order_id DESC LIMIT ?2"
        );
        let (owner, after) = (user.clone(), after.cloned());
        let page = self
            .readers
            .read(move |conn| {
                let (t, id) = match &after {
                    Some(k) => (Some(k.created_at_micros), Some(k.order_id.as_str())),
                    None => (None, None),
                };
                let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
                let orders = stmt
                    .query_map(params![owner.as_str(), limit as i64, t, id], order_from_row)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(map_err)?
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ListPage { orders })
            })
            .await?;
        if let Some(ticket) = ticket {
            self.pages.keep(user, limit, ticket, &page.orders);
        }
        Ok(page)
    }

    async fn claim_due_callbacks(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<PendingCallback>, StoreError> {
        let lease_until = micros(now + lease);
        let now = micros(now);
        if !self.any_due("callbacks", now).await? {
            return Ok(Vec::new());
        }
        self.writer
            .write(move |conn| outbox::claim_callbacks(conn, now, lease_until, limit))
            .await
    }

    async fn finish_callback(&self, id: i64, result: CallbackResult) -> Result<(), StoreError> {
        let now = micros(crate::domain::order::now());
        self.writer
            .write(move |conn| outbox::finish_callback(conn, id, result, now))
            .await
    }

    async fn get_menu(&self, event: &EventId) -> Result<Option<Arc<Menu>>, StoreError> {
        self.menus.get(event.as_str())
    }

    async fn put_menu(&self, event: &EventId, menu: &Menu) -> Result<(), StoreError> {
        let event = event.as_str().to_owned();
        let json = serde_json::to_string(menu)
            .map_err(|e| StoreError::Internal(format!("cannot encode the menu: {e}")))?;
        let now = micros(crate::domain::order::now());
        let (kept, menus) = ((event.clone(), Arc::new(menu.clone())), self.menus.clone());
        self.writer
            .write_then(
                move |conn| {
                    conn.prepare_cached(
                        "INSERT INTO menus (event_id, menu, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (event_id) DO UPDATE SET menu = excluded.menu, updated_at = excluded.updated_at",
                    )
                    .and_then(|mut s| s.execute(params![event, json, now]))
                    .map(|_| ())
                    .map_err(map_err)
                },
                // On the writer thread, in commit order: two baristas' menus committed one
                // after the other are kept in that order.
                move |_| menus.set(kept.0, kept.1),
            )
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if !self.writer.is_alive() {
            return Err(StoreError::Unavailable(
                "the SQLite writer has stopped".into(),
            ));
        }
        self.readers
            .read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(map_err))
            .await
    }
}
