//! The orders in the barista's hands (queued and preparing), kept in memory as lists carry
//! them (without their task tokens): the lists baristas poll (the queue, what is being made)
//! are answered from here without a read of the database. There are hundreds at most, however long the history; orders still waiting
//! for their customer (created, submitted) are not kept: a flood of new orders must not grow
//! the memory.
//!
//! Kept in step by the writer thread: loaded when the store opens, and updated with every
//! committed write in commit order, before the writer answers the write's caller (so a caller
//! reads its own writes). One process owns an SQLite store, so nothing else writes the file.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock};

use rusqlite::Connection;

use super::map_err;
use super::rows::{LIST_COLUMNS, order_from_row};
use crate::domain::ids::{EventId, OrderId};
use crate::domain::list::{Direction, SortKey};
use crate::domain::order::{Order, OrderState};
use crate::domain::ports::StoreError;

/// One list, in list order. Each order is held once, shared with [`Lists::by_id`]: held in
/// the b-tree's nodes themselves (eleven slots each, often only half full) an order cost
/// its size about twice, and its place by id was a second copy of its key (the benchmark's
/// flow with 10,000 orders in hand: peak resident 51 -> 49 MB).
type List = BTreeMap<SortKey, Arc<Order>>;

/// The two kept lists of one coffee event.
#[derive(Default)]
struct Kept {
    queued: List,
    preparing: List,
}

impl Kept {
    /// The list of `state`, which is one of the kept states.
    fn list(&self, state: OrderState) -> &List {
        if state == OrderState::Preparing {
            &self.preparing
        } else {
            &self.queued
        }
    }

    fn list_mut(&mut self, state: OrderState) -> &mut List {
        if state == OrderState::Preparing {
            &mut self.preparing
        } else {
            &mut self.queued
        }
    }

    fn is_empty(&self) -> bool {
        self.queued.is_empty() && self.preparing.is_empty()
    }
}

/// The kept orders, read through the partial index `orders_in_hand`, which holds exactly
/// them: however long the history, the start-up reads only these.
fn load_sql() -> String {
    format!("SELECT {LIST_COLUMNS} FROM orders WHERE state IN ('queued', 'preparing')")
}

#[derive(Default)]
struct Lists {
    by_event: HashMap<EventId, Kept>,
    /// Every kept order, by id: where it is listed follows from it.
    by_id: HashMap<OrderId, Arc<Order>>,
}

#[derive(Default)]
pub(super) struct OpenOrders {
    lists: RwLock<Lists>,
}

impl OpenOrders {
    /// Whether orders in `state` are kept here.
    fn kept(state: OrderState) -> bool {
        matches!(state, OrderState::Queued | OrderState::Preparing)
    }

    /// The orders stored at `conn` in the kept states.
    pub(super) fn load(conn: &Connection) -> Result<OpenOrders, StoreError> {
        let open = OpenOrders::default();
        let orders = conn
            .prepare(&load_sql())
            .and_then(|mut s| {
                s.query_map([], order_from_row)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(map_err)?;
        for order in orders {
            open.record(&order?);
        }
        Ok(open)
    }

    /// Takes in a committed write of `order`.
    pub(super) fn record(&self, order: &Order) {
        let mut lists = self.lists.write().unwrap_or_else(PoisonError::into_inner);
        let Lists { by_event, by_id } = &mut *lists;
        if let Some(old) = by_id.remove(&order.id)
            && let Some(kept) = by_event.get_mut(&old.event_id)
        {
            kept.list_mut(old.state).remove(&SortKey::of(&old));
            if kept.is_empty() {
                by_event.remove(&old.event_id);
            }
        }
        if !Self::kept(order.state) {
            return;
        }
        let order = Arc::new(order.clone().listed());
        by_id.insert(order.id.clone(), order.clone());
        by_event
            .entry(order.event_id.clone())
            .or_default()
            .list_mut(order.state)
            .insert(SortKey::of(&order), order);
    }

    /// A page of the orders of `event` in `state`, as the database would list them; `None`
    /// for a state that is not kept here.
    pub(super) fn page(
        &self,
        event: &EventId,
        state: OrderState,
        direction: Direction,
        after: Option<&SortKey>,
        limit: usize,
    ) -> Option<Vec<Order>> {
        if !Self::kept(state) {
            return None;
        }
        let lists = self.lists.read().unwrap_or_else(PoisonError::into_inner);
        let Some(kept) = lists.by_event.get(event) else {
            return Some(Vec::new());
        };
        let list = kept.list(state);
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let page = match direction {
            Direction::OldestFirst => list
                .range((from, Bound::Unbounded))
                .take(limit)
                .map(|(_, o)| Order::clone(o))
                .collect(),
            Direction::NewestFirst => list
                .range((Bound::Unbounded, from))
                .rev()
                .take(limit)
                .map(|(_, o)| Order::clone(o))
                .collect(),
        };
        Some(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::Change;
    use crate::domain::order::{fixtures, now};
    use crate::domain::ports::OrderStore;
    use crate::outbound::sqlite::SqliteStore;

    fn order(id: &str, state: OrderState) -> Order {
        fixtures::order(id, "alice", state)
    }

    fn change(o: &Order, expected: Option<u64>) -> Change {
        fixtures::write(o, expected)
    }

    async fn listed(store: &SqliteStore, state: OrderState) -> Vec<String> {
        let event = EventId::parse("NYC").unwrap();
        store
            .list_by_state(&event, state, Direction::OldestFirst, None, 100)
            .await
            .unwrap()
            .orders
            .iter()
            .map(|o| o.id.to_string())
            .collect()
    }

    #[tokio::test]
    async fn open_orders_follow_every_write_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            let mut a = order("a", OrderState::Queued);
            let b = order("b", OrderState::Queued);
            store.apply(&change(&a, None), None, now()).await.unwrap();
            store.apply(&change(&b, None), None, now()).await.unwrap();
            assert_eq!(listed(&store, OrderState::Queued).await, ["a", "b"]);
            // A transition moves it between lists; a failed one changes nothing.
            a.state = OrderState::Preparing;
            a.version = 2;
            store
                .apply(&change(&a, Some(1)), None, now())
                .await
                .unwrap();
            let mut stale = a.clone();
            stale.state = OrderState::Cancelled;
            assert!(
                store
                    .apply(&change(&stale, Some(1)), None, now())
                    .await
                    .is_err()
            );
            assert_eq!(listed(&store, OrderState::Queued).await, ["b"]);
            assert_eq!(listed(&store, OrderState::Preparing).await, ["a"]);
            // Finished orders leave: they are listed from the database.
            a.state = OrderState::Completed;
            a.version = 3;
            store
                .apply(&change(&a, Some(2)), None, now())
                .await
                .unwrap();
            assert!(listed(&store, OrderState::Preparing).await.is_empty());
            assert_eq!(listed(&store, OrderState::Completed).await, ["a"]);
            store
                .import(vec![order("c", OrderState::Queued)])
                .await
                .unwrap();
        }
        // A new process loads what is open.
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(listed(&store, OrderState::Queued).await, ["b", "c"]);
        assert_eq!(listed(&store, OrderState::Completed).await, ["a"]);
    }

    /// The start-up reads the kept orders through their partial index, not the whole table.
    #[test]
    fn the_kept_orders_are_loaded_through_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::outbound::sqlite::open_database(
            &dir.path().join("orders.db"),
            crate::outbound::sqlite::schema::MIGRATIONS,
        )
        .unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", load_sql()))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX orders_in_hand")),
            "{plan:?}"
        );
    }
}
