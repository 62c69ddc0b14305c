//! The first page of each customer who asked lately, in memory: `GET /v1/me/orders` is what a
//! customer's app polls, and its answer changes only when one of their orders does.
//!
//! Kept exact by the writer thread: every committed write of an order forgets its customer's
//! page in commit order, before the writer answers the write's caller (read-your-writes). A
//! page read from the database is kept only if no write of that customer was committed since
//! the read began: every read takes a ticket (the count of forgets so far) before it starts,
//! and every forget stamps its customer with the new count, so a ticket older than the stamp
//! means the read may have missed that write. Bounded: past [`CAPACITY`] customers the whole
//! map is dropped, and no read that began before the drop is kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::ids::UserId;
use crate::domain::order::Order;

/// The most customers remembered (pages and stamps together).
const CAPACITY: usize = 2048;

/// When a read began: see [`UserPages::ticket`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket(u64);

#[derive(Default)]
struct Entry {
    /// The forget count when this customer's orders last changed.
    stamp: u64,
    /// Their newest orders, and the page size they were read for.
    page: Option<(usize, Arc<Vec<Order>>)>,
}

#[derive(Default)]
struct Inner {
    forgets: u64,
    /// Reads that began before this count are not kept (the map was dropped since).
    floor: u64,
    entries: HashMap<UserId, Entry>,
}

#[derive(Default)]
pub(super) struct UserPages {
    inner: Mutex<Inner>,
}

impl UserPages {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest `limit` orders of `user` if they are in memory; otherwise the ticket to
    /// take before reading them from the database.
    pub(super) fn get(&self, user: &UserId, limit: usize) -> Result<Vec<Order>, Ticket> {
        let page = {
            let inner = self.lock();
            match inner.entries.get(user).and_then(|e| e.page.as_ref()) {
                Some((l, page)) if *l == limit => page.clone(),
                _ => return Err(Ticket(inner.forgets)),
            }
        };
        Ok(page.as_ref().clone())
    }

    /// Keeps `orders`, the newest `limit` of `user` as read after taking `ticket`, unless a
    /// write of theirs was committed since.
    pub(super) fn keep(&self, user: &UserId, limit: usize, ticket: Ticket, orders: &[Order]) {
        // Copied before the lock is taken: readers and the writer wait on it.
        let page = Arc::new(orders.to_vec());
        let mut inner = self.lock();
        if ticket.0 < inner.floor {
            return;
        }
        if let Some(e) = inner.entries.get(user)
            && e.stamp > ticket.0
        {
            return;
        }
        Self::make_room(&mut inner);
        inner.entries.entry(user.clone()).or_default().page = Some((limit, page));
    }

    /// Takes in a committed write of an order of `user`.
    pub(super) fn forget(&self, user: &UserId) {
        let mut inner = self.lock();
        inner.forgets += 1;
        let stamp = inner.forgets;
        if let Some(e) = inner.entries.get_mut(user) {
            *e = Entry { stamp, page: None };
            return;
        }
        Self::make_room(&mut inner);
        inner
            .entries
            .insert(user.clone(), Entry { stamp, page: None });
    }

    fn make_room(inner: &mut Inner) {
        if inner.entries.len() >= CAPACITY {
            inner.entries.clear();
            inner.floor = inner.forgets;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::{OrderState, fixtures, now};

    fn order(user: &str, id: &str) -> Order {
        fixtures::order(id, user, OrderState::Created)
    }

    fn user(u: &str) -> UserId {
        UserId::parse(u).unwrap()
    }

    #[test]
    fn a_kept_page_is_served_until_a_write_of_that_customer() {
        let pages = UserPages::default();
        let ticket = pages.get(&user("alice"), 21).unwrap_err();
        pages.keep(&user("alice"), 21, ticket, &[order("alice", "a1")]);
        assert_eq!(pages.get(&user("alice"), 21).unwrap()[0].id.as_str(), "a1");
        // Another page size is another read.
        assert!(pages.get(&user("alice"), 5).is_err());
        // A write of someone else changes nothing; one of alice's forgets her page.
        pages.forget(&user("bob"));
        assert!(pages.get(&user("alice"), 21).is_ok());
        pages.forget(&user("alice"));
        assert!(pages.get(&user("alice"), 21).is_err());
    }

    #[test]
    fn a_read_that_a_write_overtook_is_not_kept() {
        let pages = UserPages::default();
        let ticket = pages.get(&user("alice"), 21).unwrap_err();
        // The read is under way when a write of alice's commits (and forgets): what the read
        // found may be from before that write.
        pages.forget(&user("alice"));
        pages.keep(&user("alice"), 21, ticket, &[order("alice", "stale")]);
        assert!(pages.get(&user("alice"), 21).is_err());
        // A read that began after the write is kept.
        let ticket = pages.get(&user("alice"), 21).unwrap_err();
        pages.keep(&user("alice"), 21, ticket, &[order("alice", "fresh")]);
        assert_eq!(
            pages.get(&user("alice"), 21).unwrap()[0].id.as_str(),
            "fresh"
        );
    }

    /// Through the store: readers racing a writer, and after every write that was answered,
    /// the customer's list shows it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_customer_reads_each_of_their_writes_once_it_is_answered() {
        use crate::domain::ports::OrderStore;
        use crate::outbound::sqlite::SqliteStore;
        use std::sync::atomic::{AtomicBool, Ordering};

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("orders.db")).unwrap());
        let alice = user("alice");
        let change = fixtures::write;
        let mut o = order("alice", "a1");
        store.apply(&change(&o, None), None, now()).await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (store, stop, alice) = (store.clone(), stop.clone(), alice.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        store.list_by_user(&alice, None, 21).await.unwrap();
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for _ in 0..300 {
            let expected = o.version;
            o.version += 1;
            store
                .apply(&change(&o, Some(expected)), None, now())
                .await
                .unwrap();
            let page = store.list_by_user(&alice, None, 21).await.unwrap();
            assert_eq!(page.orders[0].version, o.version, "a stale page was served");
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.await.unwrap();
        }
    }

    #[test]
    fn dropping_the_map_to_stay_bounded_keeps_no_read_that_began_before() {
        let pages = UserPages::default();
        let early = pages.get(&user("alice"), 21).unwrap_err();
        // alice is written, then forgotten with everyone when the map fills up.
        pages.forget(&user("alice"));
        for i in 0..CAPACITY {
            pages.forget(&user(&format!("user-{i}")));
        }
        assert!(pages.lock().entries.len() <= CAPACITY);
        // The early read would have found alice's order as before her write: not kept,
        // although her stamp went with the map.
        pages.keep(&user("alice"), 21, early, &[order("alice", "stale")]);
        assert!(pages.get(&user("alice"), 21).is_err());
    }
}
