//! The orders in the barista's hands (queued and preparing), kept in memory, and the last
//! orders written that still wait for their customer (created, submitted).
//!
//! - The lists baristas poll (the queue, what is being made) are answered from here without
//!   a read of the database. There are hundreds at most, however long the history.
//! - An order read by id for a transition (a claim, a completion, the workflow's events) is
//!   here whole, task tokens included, whenever it is in the barista's hands or among the
//!   last [`AWAITING`] orders written while waiting for their customer (a drink submission
//!   and the order number that follows it are a few writes apart). Anything else is read
//!   from the database. The ones waiting for their customer are bounded: a flood of new
//!   orders must not grow the memory.
//!
//! Kept in step by the writer thread: loaded when the store opens (those in the barista's
//! hands), and updated with every committed write in commit order, before the writer answers
//! the write's caller (so a caller reads its own writes). One process owns an SQLite store,
//! so nothing else writes the file. A read that finds an order here gets the last committed
//! version of it or, in the moment between a commit and its caller's answer, the one before.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock};

use rusqlite::Connection;

use super::map_err;
use super::rows::{ORDER_COLUMNS, order_from_row};
use crate::domain::ids::{EventId, OrderId};
use crate::domain::list::{Direction, SortKey};
use crate::domain::order::{Order, OrderState};
use crate::domain::ports::StoreError;

/// How many of the last orders written while waiting for their customer are kept whole.
const AWAITING: usize = 1024;

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

/// The kept orders, whole (a transition reads them here, tokens included), through the
/// partial index `orders_in_hand`, which holds exactly them: however long the history, the
/// start-up reads only these.
fn load_sql() -> String {
    format!("SELECT {ORDER_COLUMNS} FROM orders WHERE state IN ('queued', 'preparing')")
}

#[derive(Default)]
struct Lists {
    by_event: HashMap<EventId, Kept>,
    /// Every kept order, whole, by id: where it is listed (if it is) follows from its state.
    by_id: HashMap<OrderId, Arc<Order>>,
    /// The writes of orders waiting for their customer (id and version), oldest first. An
    /// entry whose order was written since (another version) or left is passed over.
    awaiting: VecDeque<(OrderId, u64)>,
}

#[derive(Default)]
pub(super) struct OpenOrders {
    lists: RwLock<Lists>,
}

impl OpenOrders {
    /// Whether orders in `state` are in the barista's hands: listed here, and all kept.
    fn in_hand(state: OrderState) -> bool {
        matches!(state, OrderState::Queued | OrderState::Preparing)
    }

    /// Whether orders in `state` wait for their customer: the last ones written are kept.
    fn awaits_customer(state: OrderState) -> bool {
        matches!(state, OrderState::Created | OrderState::Submitted)
    }

    /// The order `id`, whole, if it is kept here.
    pub(super) fn get(&self, id: &OrderId) -> Option<Order> {
        let lists = self.lists.read().unwrap_or_else(PoisonError::into_inner);
        lists.by_id.get(id).map(|o| Order::clone(o))
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
            open.record(Arc::new(order?));
        }
        Ok(open)
    }

    /// Takes in a committed write of `order` (made into an `Arc` by the caller, off the
    /// writer thread, which runs this).
    pub(super) fn record(&self, order: Arc<Order>) {
        let mut lists = self.lists.write().unwrap_or_else(PoisonError::into_inner);
        let Lists {
            by_event,
            by_id,
            awaiting,
        } = &mut *lists;
        if let Some(old) = by_id.remove(&order.id)
            && Self::in_hand(old.state)
            && let Some(kept) = by_event.get_mut(&old.event_id)
        {
            kept.list_mut(old.state).remove(&SortKey::of(&old));
            if kept.is_empty() {
                by_event.remove(&old.event_id);
            }
        }
        if Self::awaits_customer(order.state) {
            awaiting.push_back((order.id.clone(), order.version));
            by_id.insert(order.id.clone(), order);
            while awaiting.len() > AWAITING {
                if let Some((oldest, version)) = awaiting.pop_front()
                    && by_id
                        .get(&oldest)
                        .is_some_and(|o| o.version == version && Self::awaits_customer(o.state))
                {
                    by_id.remove(&oldest);
                }
            }
            return;
        }
        if !Self::in_hand(order.state) {
            return;
        }
        by_id.insert(order.id.clone(), order.clone());
        by_event
            .entry(order.event_id.clone())
            .or_default()
            .list_mut(order.state)
            .insert(SortKey::of(&order), order);
    }

    /// How many orders of `event` are in the barista's hands (`queued` or `preparing`).
    pub(super) fn in_hand_count(&self, event: &EventId) -> u64 {
        let lists = self.lists.read().unwrap_or_else(PoisonError::into_inner);
        lists
            .by_event
            .get(event)
            .map_or(0, |k| (k.queued.len() + k.preparing.len()) as u64)
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
        if !Self::in_hand(state) {
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
                .map(|(_, o)| o.to_listed())
                .collect(),
            Direction::NewestFirst => list
                .range((Bound::Unbounded, from))
                .rev()
                .take(limit)
                .map(|(_, o)| o.to_listed())
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

    fn with_token(mut o: Order, token: &str) -> Order {
        o.start_token = Some(crate::domain::ids::TaskToken::parse(token).unwrap());
        o
    }

    /// Reads by id for a transition come from memory, whole, for the orders in the barista's
    /// hands and the last ones written while waiting for their customer; lists still carry no
    /// tokens; a finished order is read from the database. (The file is changed behind the
    /// store's back here only to tell where an answer came from.)
    #[tokio::test]
    async fn orders_read_for_a_transition_come_whole_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.db");
        let store = SqliteStore::open(&path).unwrap();
        let created = with_token(order("c", OrderState::Created), "token-c");
        let queued = with_token(order("q", OrderState::Queued), "token-q");
        let mut done = order("d", OrderState::Preparing);
        for o in [&created, &queued, &done] {
            store.apply(&change(o, None), None, now()).await.unwrap();
        }
        done.state = OrderState::Completed;
        done.version = 2;
        store
            .apply(&change(&done, Some(1)), None, now())
            .await
            .unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute("UPDATE orders SET user_id = 'mallory'", [])
            .unwrap();

        let id = |s: &str| OrderId::parse(s).unwrap();
        assert_eq!(store.get(&id("c")).await.unwrap().unwrap(), created);
        assert_eq!(store.get(&id("q")).await.unwrap().unwrap(), queued);
        let from_file = store.get(&id("d")).await.unwrap().unwrap();
        assert_eq!(from_file.user_id.as_str(), "mallory");
        assert_eq!(from_file.state, OrderState::Completed);

        let event = EventId::parse("NYC").unwrap();
        let page = store
            .list_by_state(&event, OrderState::Queued, Direction::OldestFirst, None, 10)
            .await
            .unwrap()
            .orders;
        assert_eq!(page, vec![queued.to_listed()]);
        assert!(page[0].start_token.is_none());

        // A new process loads the orders in hand whole: a completion needs token #2.
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        let reloaded = store.get(&id("q")).await.unwrap().unwrap();
        assert_eq!(reloaded.start_token, queued.start_token);
        assert_eq!(reloaded.user_id.as_str(), "mallory", "as the file has it");
    }

    /// However many orders are started and never go further, only the last [`AWAITING`]
    /// written are kept; the orders in the barista's hands stay, and an order written again
    /// while waiting counts from its last write.
    #[test]
    fn orders_waiting_for_their_customer_are_bounded() {
        let open = OpenOrders::default();
        let queued = order("queued", OrderState::Queued);
        open.record(Arc::new(queued));
        let mut again = order("again", OrderState::Created);
        open.record(Arc::new(again.clone()));
        for i in 0..AWAITING + 10 {
            open.record(Arc::new(order(&format!("o{i}"), OrderState::Created)));
            if i == 20 {
                again.state = OrderState::Submitted;
                again.version = 2;
                open.record(Arc::new(again.clone()));
            }
        }
        let kept = |s: &str| open.get(&OrderId::parse(s).unwrap()).is_some();
        assert!(kept("queued"));
        assert!(kept("again"));
        assert!(!kept("o0") && !kept("o9"));
        assert!(kept(&format!("o{}", AWAITING + 9)));
        let lists = open.lists.read().unwrap();
        assert_eq!(
            lists.by_id.len(),
            AWAITING + 1,
            "the waiting ones and the queued one"
        );
        assert_eq!(lists.awaiting.len(), AWAITING);
    }

    /// The start-up reads the kept orders through their partial index, not the whole table.
    #[test]
    fn the_kept_orders_are_loaded_through_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.db");
        let schema = crate::outbound::sqlite::schema::MIGRATIONS;
        crate::outbound::sqlite::schema::with_migrated(&path, schema, |conn| {
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
        });
    }
}
