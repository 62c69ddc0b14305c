//! Who waits for an order to arrive: `POST /v1/orders` waits for the workflow to announce
//! its order, and is woken by the write that stores that order, not by every write.
//!
//! Waking every waiting start at every write (a watch of the change log) cost each of them a
//! read of its not-yet-stored order per write: with 32 customers starting orders, ~31 reads
//! of the store for every order stored, most of them missing the in-memory views.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::ids::OrderId;

/// The orders someone waits for, each with what wakes its waiter.
#[derive(Default)]
pub struct Arrivals {
    waiting: Mutex<HashMap<OrderId, Arc<Notify>>>,
}

/// A wait for one order; it ends (and is forgotten) when dropped.
pub struct Arrival<'a> {
    arrivals: &'a Arrivals,
    id: OrderId,
    notify: Arc<Notify>,
}

impl Arrivals {
    /// Starts waiting for `id`: a write of it from now on wakes the returned wait, even one
    /// made before [`Arrival::wait`] is called.
    pub fn expect(&self, id: &OrderId) -> Arrival<'_> {
        let notify = Arc::new(Notify::new());
        self.lock().insert(id.clone(), notify.clone());
        Arrival {
            arrivals: self,
            id: id.clone(),
            notify,
        }
    }

    /// `id` was written: wakes its waiter, if any.
    pub fn arrived(&self, id: &OrderId) {
        if let Some(notify) = self.lock().get(id) {
            notify.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OrderId, Arc<Notify>>> {
        // A panic while it is held leaves the map whole (one insert, get or remove).
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Arrival<'_> {
    /// Waits until the order was written since the last wait, or for `at_most`. Returns
    /// whether it was written.
    pub async fn wait(&self, at_most: Duration) -> bool {
        tokio::time::timeout(at_most, self.notify.notified())
            .await
            .is_ok()
    }
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        let mut waiting = self.arrivals.lock();
        if waiting
            .get(&self.id)
            .is_some_and(|n| Arc::ptr_eq(n, &self.notify))
        {
            waiting.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(20);

    fn id(s: &str) -> OrderId {
        OrderId::parse(s).unwrap()
    }

    #[tokio::test]
    async fn a_write_wakes_only_its_own_order_s_waiter_even_before_it_waits() {
        let arrivals = Arrivals::default();
        let (a, b) = (arrivals.expect(&id("a")), arrivals.expect(&id("b")));
        arrivals.arrived(&id("a"));
        assert!(a.wait(SHORT).await, "kept until waited for");
        assert!(
            !b.wait(SHORT).await,
            "another order's write wakes nobody else"
        );
        assert!(!a.wait(SHORT).await, "one write, one wake");
        arrivals.arrived(&id("b"));
        assert!(b.wait(SHORT).await);
    }

    #[tokio::test]
    async fn a_wait_is_forgotten_when_dropped() {
        let arrivals = Arrivals::default();
        drop(arrivals.expect(&id("a")));
        arrivals.arrived(&id("a"));
        assert!(arrivals.lock().is_empty());
        // Written while nobody waits: a later wait does not see that write.
        let a = arrivals.expect(&id("a"));
        assert!(!a.wait(SHORT).await);
        // A second wait for the same order replaces the first; dropping the first leaves
        // the second in place.
        let again = arrivals.expect(&id("a"));
        drop(a);
        arrivals.arrived(&id("a"));
        assert!(again.wait(SHORT).await);
    }
}
