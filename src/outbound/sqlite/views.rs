//! The store's in-memory views, in one place: loaded when the store opens, and told of every
//! commit that changes what they hold.
//!
//! Each view answers a hot read without the file: the orders in hand and the last ones
//! waiting for their customer ([`OpenOrders`]: the barista lists, reads by id), customers'
//! first pages ([`UserPages`]), the change log's tail ([`ChangeTail`]: live streams), the
//! menus ([`Menus`]: every drink submission) and which orders have events kept for them
//! ([`KeptFor`]: every start asks). A write says what it committed as a [`Committed`];
//! [`Views::record`] runs on the writer thread after the commit, in commit order, before the
//! write is answered, so a read that follows an answer finds the view up to date, and two
//! commits are never recorded out of order.

use std::collections::HashSet;
use std::sync::Arc;

use rusqlite::Connection;

use super::change_tail::{self, ChangeTail};
use super::deferred::KeptFor;
use super::menus::Menus;
use super::open_orders::OpenOrders;
use super::user_pages::UserPages;
use crate::domain::menu::Menu;
use crate::domain::order::Order;
use crate::domain::ports::{OrderChange, StoreError};

pub(super) struct Views {
    pub(super) open: OpenOrders,
    pub(super) pages: UserPages,
    pub(super) tail: ChangeTail,
    pub(super) menus: Menus,
    pub(super) kept_for: KeptFor,
}

/// What a committed write changed, of what the views hold.
// Made once per write and moved once, to the writer thread: boxing the large variant would
// add an allocation to every order change for nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Committed {
    /// Nothing they hold (an outbox row, a pruned log).
    Nothing,
    /// Orders loaded in bulk (no change-log entries).
    Imported(Arc<Vec<Order>>),
    /// An order written, and its change-log entry.
    Changed {
        order: Arc<Order>,
        change: OrderChange,
    },
    /// An event kept for an order that has not started.
    EventKept(String),
    /// The orders that still have events kept, after a prune.
    KeptEventsAre(HashSet<String>),
    /// An event's menu replaced.
    Menu(String, Arc<Menu>),
}

impl Views {
    /// Reads what the views start with (on the writer's connection, before any write).
    pub(super) fn load(conn: &Connection) -> Result<Views, StoreError> {
        Ok(Views {
            open: OpenOrders::load(conn)?,
            pages: UserPages::default(),
            tail: ChangeTail::load(conn, change_tail::CAPACITY)?,
            menus: Menus::load(conn)?,
            kept_for: KeptFor::load(conn)?,
        })
    }

    /// Brings the views in step with a commit (on the writer thread, in commit order).
    pub(super) fn record(&self, committed: Committed) {
        match committed {
            Committed::Nothing => {}
            Committed::Imported(orders) => {
                for o in orders.iter() {
                    self.open.record(Arc::new(o.clone()));
                    self.pages.forget(&o.user_id);
                }
            }
            Committed::Changed { order, change } => {
                self.pages.forget(&order.user_id);
                self.open.record(order);
                self.tail.record(change);
            }
            Committed::EventKept(order) => self.kept_for.add(order),
            Committed::KeptEventsAre(orders) => self.kept_for.replace(orders),
            Committed::Menu(event, menu) => self.menus.set(event, menu),
        }
    }
}
