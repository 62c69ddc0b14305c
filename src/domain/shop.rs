//! A coffee event's shop settings: open or closed, how many orders may be open at once, and
//! how many per customer. The workflow checks them before it starts an order, as the
//! OrderProcessor checks that the shop is open and that the barista has capacity; an order is
//! open until it is completed or cancelled.

use serde::{Deserialize, Serialize};

/// The largest limit a setting takes.
pub const MAX_LIMIT: u32 = 100_000;

/// One coffee event's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopSettings {
    pub open: bool,
    /// The most open orders of the event at once.
    pub max_orders_in_queue: u32,
    /// The most open orders of one customer at the event at once.
    pub max_orders_per_user: u32,
}

impl Default for ShopSettings {
    /// Open; 20 open orders (the OrderProcessor's own capacity check counts 20 running
    /// executions); one open order per customer (the apps' rule).
    fn default() -> Self {
        Self {
            open: true,
            max_orders_in_queue: 20,
            max_orders_per_user: 1,
        }
    }
}

/// Settings that cannot be kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidShop(pub String);

/// Why a start is refused (the OrderProcessor's `ShopUnavailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the shop is closed")]
    Closed,
    #[error("the shop has as many open orders as it takes; try again when one is served")]
    AtCapacity,
    #[error("this customer has as many open orders as the shop allows")]
    OrderLimitReached,
}

impl Refusal {
    /// The stable code of the refusal in an API answer.
    pub fn code(self) -> &'static str {
        match self {
            Self::Closed => "shop_closed",
            Self::AtCapacity => "shop_at_capacity",
            Self::OrderLimitReached => "order_limit_reached",
        }
    }
}

impl ShopSettings {
    /// Checks that both limits are between 1 and [`MAX_LIMIT`].
    pub fn validated(self) -> Result<Self, InvalidShop> {
        for (name, value) in [
            ("max_orders_in_queue", self.max_orders_in_queue),
            ("max_orders_per_user", self.max_orders_per_user),
        ] {
            if !(1..=MAX_LIMIT).contains(&value) {
                return Err(InvalidShop(format!(
                    "`{name}` must be between 1 and {MAX_LIMIT}, not {value}"
                )));
            }
        }
        Ok(self)
    }

    /// Whether one more order may start, given how many are open at the event and how many
    /// of them are the customer's.
    pub fn admits(&self, open_at_event: u64, open_of_customer: u64) -> Result<(), Refusal> {
        if !self.open {
            Err(Refusal::Closed)
        } else if open_at_event >= u64::from(self.max_orders_in_queue) {
            Err(Refusal::AtCapacity)
        } else if open_of_customer >= u64::from(self.max_orders_per_user) {
            Err(Refusal::OrderLimitReached)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_is_refused_closed_first_then_at_capacity_then_per_customer() {
        let shop = ShopSettings {
            open: true,
            max_orders_in_queue: 3,
            max_orders_per_user: 2,
        };
        assert_eq!(shop.admits(2, 1), Ok(()));
        assert_eq!(shop.admits(3, 0), Err(Refusal::AtCapacity));
        assert_eq!(shop.admits(2, 2), Err(Refusal::OrderLimitReached));
        let closed = ShopSettings {
            open: false,
            ..shop
        };
        assert_eq!(closed.admits(0, 0), Err(Refusal::Closed));
        assert_eq!(ShopSettings::default().admits(19, 0), Ok(()));
        assert_eq!(
            ShopSettings::default().admits(0, 1),
            Err(Refusal::OrderLimitReached)
        );
    }

    #[test]
    fn limits_are_between_one_and_the_maximum() {
        let shop = ShopSettings::default();
        assert!(shop.validated().is_ok());
        for (q, u) in [(0, 1), (1, 0), (MAX_LIMIT + 1, 1)] {
            let bad = ShopSettings {
                max_orders_in_queue: q,
                max_orders_per_user: u,
                ..shop
            };
            assert!(bad.validated().is_err(), "{q} {u}");
        }
    }
}
