//! The customer's limit when the workflow does not check it: starts reserved per customer.
//!
//! With Step Functions, `POST /v1/orders` starts an execution and its order arrives later (its
//! `WorkflowStarted`); the real OrderProcessor checks that the shop is open and has capacity,
//! but nothing checks the customer's own limit (the original apps only did, in the browser).
//! So before it starts an order the service reserves it in one small guarded record per event
//! and customer: the customer's open orders plus the starts reserved and not arrived yet must
//! stay under the limit, and two starts that race are written one after the other (the loser
//! reads again). A start that fails is released; one whose order never arrives lapses after
//! [`RESERVATION_TTL`].

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{EventId, OrderId, UserId};
use super::ports::{OrderStore, StoreError};
use super::shop::Refusal;

/// How long a start is counted before its order arrives.
pub const RESERVATION_TTL: Duration = Duration::from_secs(120);

/// How many of the customer's newest orders are read for the open ones.
const RECENT: usize = 100;

/// How many times a reservation is tried against others racing for the same record.
const ROUNDS: usize = 5;

/// A start counted against the customer's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub order_id: OrderId,
    pub at: DateTime<Utc>,
}

/// One event's and customer's reservations, and the version that guards their record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reservations {
    pub entries: Vec<Reservation>,
    /// `None`: no record yet.
    pub version: Option<u64>,
}

/// Reserves a start of `order` for `user` at `event` if the customer's open orders and the
/// starts not arrived yet stay under `limit`. `Ok(Err(_))`: the limit is reached, nothing
/// written. [`StoreError::Conflict`] after too many racing writers.
pub async fn reserve(
    store: &dyn OrderStore,
    event: &EventId,
    user: &UserId,
    order: &OrderId,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Result<(), Refusal>, StoreError> {
    for _ in 0..ROUNDS {
        let held = store.get_reservations(event, user).await?;
        let mut open: HashSet<OrderId> = store
            .list_by_user(user, None, RECENT)
            .await?
            .orders
            .into_iter()
            .filter(|o| &o.event_id == event && !o.state.is_terminal())
            .map(|o| o.id)
            .collect();
        let mut kept = Vec::new();
        for r in held.entries {
            // A start reserved after `now` (by a request that raced this one) is fresh too.
            let fresh = (now - r.at)
                .to_std()
                .map_or(true, |age| age < RESERVATION_TTL);
            match store.get(&r.order_id).await? {
                // Arrived: counted as the open order it is (the customer's list may lag).
                Some(o) if !o.state.is_terminal() => {
                    open.insert(o.id);
                }
                Some(_) => {}
                None if fresh => kept.push(r),
                None => {}
            }
        }
        if open.len() + kept.len() >= limit as usize {
            return Ok(Err(Refusal::OrderLimitReached));
        }
        kept.push(Reservation {
            order_id: order.clone(),
            at: now,
        });
        match store
            .put_reservations(event, user, &kept, held.version)
            .await
        {
            Ok(()) => return Ok(Ok(())),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict)
}

/// Releases the reservation of `order`, whose start failed (best effort: it lapses anyway).
pub async fn release(store: &dyn OrderStore, event: &EventId, user: &UserId, order: &OrderId) {
    for _ in 0..ROUNDS {
        let Ok(held) = store.get_reservations(event, user).await else {
            return;
        };
        let kept: Vec<_> = held
            .entries
            .into_iter()
            .filter(|r| &r.order_id != order)
            .collect();
        match store
            .put_reservations(event, user, &kept, held.version)
            .await
        {
            Err(StoreError::Conflict) => continue,
            _ => return,
        }
    }
}
