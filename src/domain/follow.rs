//! Following the change log: what a live stream reads.
//!
//! Change numbers only ever grow, but a store may number a change before it becomes visible
//! (DynamoDB numbers a change by its time stamp, taken before the transaction; the index that
//! serves the log catches up a little later). Reading strictly after the last number delivered
//! would then skip a change that appears behind it. So a follower reads again, each time, the
//! store's look-back window (`OrderStore::change_log_lag`) before its last number, and drops
//! what it has already delivered: each change is delivered once to a follower, in the order it
//! became visible. A follower that resumes from a number re-reads that window too, so a client
//! may get a change again after reconnecting: every change carries the order's `version`, and
//! the highest wins.

use std::collections::{HashMap, VecDeque};

use super::ports::{ChangeFilter, OrderChange};
use super::service::{OrderService, ServiceError};

/// How many changes one read of the store takes.
const BATCH: usize = 100;

/// A reader of the change log from a position on.
pub struct ChangeFollower {
    service: OrderService,
    filter: ChangeFilter,
    lag: u64,
    /// Nothing at or below this number is delivered.
    floor: u64,
    /// The highest number delivered (or where the follower started).
    last: u64,
    /// How far the reads have gone (past entries of others, too): the next read starts here.
    read_through: u64,
    /// What was delivered within the look-back window: (order id, version) → number.
    delivered: HashMap<(String, u64), u64>,
    ready: VecDeque<OrderChange>,
}

impl ChangeFollower {
    /// A follower of what `filter` selects. From now on (`resume: None`, `latest` being the
    /// store's latest number), or after number `resume` (a client coming back).
    pub fn new(
        service: OrderService,
        filter: ChangeFilter,
        latest: u64,
        resume: Option<u64>,
    ) -> Self {
        let lag = service.change_log_lag();
        let (floor, last) = match resume {
            None => (latest, latest),
            Some(n) => (n.saturating_sub(lag), n),
        };
        Self {
            service,
            filter,
            lag,
            floor,
            last,
            read_through: last,
            delivered: HashMap::new(),
            ready: VecDeque::new(),
        }
    }

    /// The highest change number delivered: where a client resumes from.
    pub fn position(&self) -> u64 {
        self.last
    }

    /// The next change not yet delivered, if one is visible now.
    pub async fn next(&mut self) -> Result<Option<OrderChange>, ServiceError> {
        if self.ready.is_empty() {
            self.read().await?;
        }
        let Some(change) = self.ready.pop_front() else {
            return Ok(None);
        };
        self.last = self.last.max(change.seq);
        Ok(Some(change))
    }

    /// Reads what became visible, from the look-back window on.
    async fn read(&mut self) -> Result<(), ServiceError> {
        let mut after = self
            .floor
            .max(self.last.max(self.read_through).saturating_sub(self.lag));
        loop {
            let page = self
                .service
                .changes_after(after, &self.filter, BATCH)
                .await?;
            let full = page.changes.len() == BATCH;
            after = after.max(page.through);
            self.read_through = self.read_through.max(after);
            for change in page.changes {
                if self.lag > 0 {
                    let key = (change.order.order_id.clone(), change.order.version);
                    if self.delivered.insert(key, change.seq).is_some() {
                        continue;
                    }
                }
                self.ready.push_back(change);
            }
            if !full || self.ready.len() >= BATCH {
                break;
            }
        }
        if self.lag > 0 {
            let horizon = self
                .last
                .max(self.ready.back().map_or(0, |c| c.seq))
                .saturating_sub(self.lag);
            self.delivered.retain(|_, seq| *seq > horizon);
        }
        Ok(())
    }
}
