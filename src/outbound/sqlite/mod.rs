//! The embedded order store: one SQLite file in WAL mode, on the `sqlite-engine` crate.
//!
//! The engine owns the machinery (migrations, the group-commit writer and its durability,
//! checkpoints, the read pool, the WAL-append VFS); this module is the order store's SQL
//! ([`apply`], [`outbox`], [`deferred`], [`prune`]), its rows ([`rows`]) and its in-memory
//! views ([`views`]), which every write that changes what they hold updates after its
//! commit, in commit order. Reads go to the views first, then to the engine's read pool.
//! Every transition is an `UPDATE … WHERE version = ?`; zero rows changed is the domain's
//! [`StoreError::Conflict`].

mod apply;
mod change_tail;
mod deferred;
mod menus;
mod open_orders;
mod outbox;
mod prune;
mod rows;
mod schema;
mod shops;
mod stats;
mod user_pages;
mod views;

pub use crate::outbound::database::SqliteOptions;
pub use sqlite_engine::Durability;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use sqlite_engine::Database;

use crate::domain::events::WorkflowEvent;
use crate::domain::history::HistoryEntry;
use crate::domain::ids::{EnvelopeId, EventId, OrderId, UserId};
use crate::domain::lifecycle::Change;
use crate::domain::list::{Direction, SortKey};
use crate::domain::menu::Menu;
use crate::domain::order::OrderState;
use crate::domain::ports::{
    Applied, CallbackResult, ChangeFilter, ChangePage, ListPage, NoticeResult, OrderChange,
    OrderStore, OutboxDepth, OutboxStats, PendingCallback, PendingNotice, StoreError,
};
use crate::domain::shop::ShopSettings;
use crate::domain::snapshot::OrderSnapshot;
use crate::domain::starts::{Reservation, Reservations};
use crate::domain::stats::EventStats;
use crate::outbound::database::sqlite_error as map_err;
use rows::{LIST_COLUMNS, ORDER_COLUMNS, micros, order_from_row};
use views::{Committed, Views};

/// Idle read-only connections kept.
const READERS: usize = 16;

pub struct SqliteStore {
    db: Database,
    views: Arc<Views>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations;
    /// every acknowledged write survives a power cut ([`Durability::Full`]).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with how its writes are made chosen.
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let (db, views) =
            Database::open(path, schema::MIGRATIONS, options.engine(READERS), |conn| {
                release_leases(conn)?;
                Views::load(conn)
            })?;
        Ok(SqliteStore {
            db,
            views: Arc::new(views),
        })
    }

    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// Runs `work` in the writer's next transaction and, once it is committed, brings the
    /// views in step with what it says it committed (before the write is answered).
    async fn write_seen<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<(T, Committed), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let views = self.views.clone();
        self.db
            .write_then(work, move |(answer, committed)| {
                views.record(committed);
                answer
            })
            .await
    }

    /// Bulk-loads orders that are not live (history from another system, a benchmark's data
    /// set) in one transaction: no change-log, outbox or ingest entries. An order id the store
    /// already holds refuses the whole load with [`StoreError::Conflict`].
    pub async fn import(
        &self,
        orders: Vec<crate::domain::order::Order>,
    ) -> Result<u64, StoreError> {
        let orders = Arc::new(orders);
        self.write_seen(move |conn| {
            let n = apply::insert_orders(conn, &orders)?;
            Ok((n, Committed::Imported(orders)))
        })
        .await
    }

    /// Whether `table` (callbacks or notices) has a pending row due at `now`. The dispatcher
    /// asks often and the answer is mostly "no": a reader answers, and the writer is taken
    /// only when there is something to claim.
    async fn any_due(&self, table: &'static str, now: i64) -> Result<bool, StoreError> {
        self.db.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT 1 FROM {table} WHERE status = 'pending' AND next_attempt_at <= ?1 LIMIT 1"
            ))
            .and_then(|mut s| s.exists([now]))
            .map_err(map_err)
        })
    }
}

/// One process owns an SQLite store, so every lease found at start-up belongs to a process
/// that is gone: hand its callbacks and notices out again now rather than when the leases run
/// out (the callbacks stay marked in flight: their outcome is unknown).
fn release_leases(conn: &Connection) -> Result<(), StoreError> {
    let now = micros(crate::domain::order::now());
    for sql in [
        "UPDATE callbacks SET next_attempt_at = ?1 WHERE status = 'pending' AND next_attempt_at > ?1",
        "UPDATE notices SET next_attempt_at = ?1 WHERE status = 'pending' AND next_attempt_at > ?1",
    ] {
        conn.execute(sql, [now]).map_err(map_err)?;
    }
    Ok(())
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn get(&self, id: &OrderId) -> Result<Option<crate::domain::order::Order>, StoreError> {
        if let Some(order) = self.views.open.get(id) {
            return Ok(Some(order));
        }
        self.db.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?1"
            ))
            .and_then(|mut s| s.query_row([id.as_str()], order_from_row).optional())
            .map_err(map_err)?
            .transpose()
        })
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
        let encoded = apply::Encoded::of(&change, &snapshot)?;
        let order = Arc::new(change.order.clone());
        self.write_seen(move |conn| {
            let applied =
                apply::apply_change(conn, &change, envelope.as_ref(), lease_until, &encoded)?;
            let change = OrderChange {
                seq: applied.seq,
                order: snapshot,
            };
            Ok((applied, Committed::Changed { order, change }))
        })
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
        self.write_seen(move |conn| {
            let kept = deferred::record(conn, &envelope, &order, defer.as_deref(), now)?;
            let committed = match kept {
                true => Committed::EventKept(order),
                false => Committed::Nothing,
            };
            Ok((kept, committed))
        })
        .await
    }

    async fn deferred_events(
        &self,
        order: &OrderId,
        since: DateTime<Utc>,
    ) -> Result<Vec<WorkflowEvent>, StoreError> {
        if !self.views.kept_for.has(order.as_str()) {
            return Ok(Vec::new());
        }
        let since = micros(since);
        let encoded = self
            .db
            .read(|conn| deferred::read(conn, order.as_str(), since))?;
        encoded
            .iter()
            .map(|e| crate::domain::deferred::decode(e).map_err(StoreError::Internal))
            .collect()
    }

    async fn history(&self, order: &OrderId) -> Result<Vec<HistoryEntry>, StoreError> {
        let encoded = self.db.read(|conn| {
            conn.prepare_cached(
                "SELECT entry FROM order_history WHERE order_id = ?1 ORDER BY version",
            )
            .and_then(|mut s| {
                s.query_map([order.as_str()], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(map_err)
        })?;
        encoded
            .iter()
            .map(|e| {
                serde_json::from_str(e)
                    .map_err(|e| StoreError::Internal(format!("unreadable history entry: {e}")))
            })
            .collect()
    }

    async fn event_seen(&self, envelope: &EnvelopeId) -> Result<bool, StoreError> {
        self.db.read(|conn| {
            conn.prepare_cached("SELECT 1 FROM ingested_events WHERE envelope_id = ?1")
                .and_then(|mut s| s.exists([envelope.as_str()]))
                .map_err(map_err)
        })
    }

    /// In small transactions (see [`prune`]), so that writes go on between them.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = micros(before);
        let mut gone = self
            .write_seen(move |conn| {
                let mut gone = 0;
                for sql in [
                    "DELETE FROM callbacks WHERE status <> 'pending' AND updated_at < ?1",
                    "DELETE FROM notices WHERE status <> 'pending' AND updated_at < ?1",
                ] {
                    gone += conn.execute(sql, [before]).map_err(map_err)? as u64;
                }
                gone += deferred::prune(conn, before)?;
                gone += stats::prune(conn, before)?;
                let still_kept = deferred::orders_with_kept_events(conn)?;
                Ok((gone, Committed::KeptEventsAre(still_kept)))
            })
            .await?;
        let mut after: Option<String> = None;
        loop {
            let from = after.take();
            let (n, next) = self
                .db
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
                .db
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
        self.db
            .write(move |conn| outbox::claim_notices(conn, now, lease_until, limit))
            .await
    }

    async fn finish_notice(&self, id: i64, result: NoticeResult) -> Result<(), StoreError> {
        let now = micros(crate::domain::order::now());
        self.db
            .write(move |conn| outbox::finish_notice(conn, id, result, now))
            .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.db.read(|conn| {
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
        if let Some(page) = self.views.tail.read(after, filter, limit) {
            return Ok(page);
        }
        self.db
            .read(|conn| change_tail::scan(conn, after, filter, limit))
    }

    async fn change_window(&self) -> Result<(u64, u64), StoreError> {
        self.db.read(|conn| {
            conn.query_row(
                "SELECT COALESCE(MAX(seq), 0), COALESCE(MIN(seq), 0) FROM order_changes",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(map_err)
        })
    }

    async fn list_by_state(
        &self,
        event: &EventId,
        state: OrderState,
        direction: Direction,
        after: Option<&SortKey>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        if let Some(orders) = self.views.open.page(event, state, direction, after, limit) {
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
        self.db.read(|conn| {
            let (t, id) = match after {
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
    }

    async fn list_by_user(
        &self,
        user: &UserId,
        after: Option<&SortKey>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        let ticket = match after {
            None => match self.views.pages.get(user, limit) {
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
        let page = self.db.read(|conn| {
            let (t, id) = match after {
                Some(k) => (Some(k.created_at_micros), Some(k.order_id.as_str())),
                None => (None, None),
            };
            let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
            let orders = stmt
                .query_map(params![user.as_str(), limit as i64, t, id], order_from_row)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(map_err)?
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, StoreError>(ListPage { orders })
        })?;
        if let Some(ticket) = ticket {
            self.views.pages.keep(user, limit, ticket, &page.orders);
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
        self.db
            .write(move |conn| outbox::claim_callbacks(conn, now, lease_until, limit))
            .await
    }

    async fn finish_callback(&self, id: i64, result: CallbackResult) -> Result<(), StoreError> {
        let now = micros(crate::domain::order::now());
        self.db
            .write(move |conn| outbox::finish_callback(conn, id, result, now))
            .await
    }

    async fn get_menu(&self, event: &EventId) -> Result<Option<Arc<Menu>>, StoreError> {
        self.views.menus.get(event.as_str())
    }

    async fn put_menu(&self, event: &EventId, menu: &Menu) -> Result<(), StoreError> {
        let event = event.as_str().to_owned();
        let json = serde_json::to_string(menu)
            .map_err(|e| StoreError::Internal(format!("cannot encode the menu: {e}")))?;
        let now = micros(crate::domain::order::now());
        let menu = Arc::new(menu.clone());
        // The view is set in commit order: two baristas' menus committed one after the other
        // are kept in that order.
        self.write_seen(move |conn| {
            conn.prepare_cached(
                "INSERT INTO menus (event_id, menu, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (event_id) DO UPDATE SET menu = excluded.menu, updated_at = excluded.updated_at",
            )
            .and_then(|mut s| s.execute(params![event, json, now]))
            .map_err(map_err)?;
            Ok(((), Committed::Menu(event, menu)))
        })
        .await
    }

    async fn stats(
        &self,
        event: &EventId,
        day: NaiveDate,
        since: DateTime<Utc>,
    ) -> Result<EventStats, StoreError> {
        let (served, waits) = self
            .db
            .read(|conn| stats::read(conn, event.as_str(), day, since))?;
        Ok(EventStats {
            queue_length: self.views.open.in_hand_count(event),
            served,
            waits,
        })
    }

    async fn get_reservations(
        &self,
        event: &EventId,
        user: &UserId,
    ) -> Result<Reservations, StoreError> {
        self.db
            .read(|conn| shops::reservations(conn, event.as_str(), user.as_str()))
    }

    async fn put_reservations(
        &self,
        event: &EventId,
        user: &UserId,
        entries: &[Reservation],
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let (event, user) = (event.as_str().to_owned(), user.as_str().to_owned());
        let entries = entries.to_vec();
        self.db
            .write(move |conn| shops::put_reservations(conn, &event, &user, &entries, expected))
            .await
    }

    async fn get_shop(&self, event: &EventId) -> Result<Option<ShopSettings>, StoreError> {
        self.db.read(|conn| shops::get(conn, event.as_str()))
    }

    async fn put_shop(&self, event: &EventId, shop: &ShopSettings) -> Result<(), StoreError> {
        let (event, shop) = (event.as_str().to_owned(), *shop);
        let now = micros(crate::domain::order::now());
        self.db
            .write(move |conn| shops::put(conn, &event, &shop, now))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if !self.db.is_alive() {
            return Err(StoreError::Unavailable(
                "the SQLite writer has stopped".into(),
            ));
        }
        self.db
            .read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(map_err))
    }
}
