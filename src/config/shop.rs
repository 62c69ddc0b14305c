//! The shop settings of a coffee event no barista gave settings to (`PUT /v1/shop` sets an
//! event's own).

use std::str::FromStr;

use clap::{Args, ValueEnum};

use super::values::{named, named_as};
use crate::domain::shop::{MAX_LIMIT, ShopSettings};

/// Whether a shop takes orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShopState {
    Open,
    Closed,
}

/// `open` or `closed`, in any case.
impl FromStr for ShopState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as ValueEnum>::from_str(s.trim(), true)
            .map_err(|_| format!("expected `open` or `closed`, got `{s}`"))
    }
}

#[derive(Debug, Clone, Args)]
pub struct ShopArgs {
    /// Whether an event's shop takes orders (`open`) or not (`closed`), until a barista says
    /// otherwise. The embedded order processor checks it before it starts an order.
    #[arg(long, env = "OM_SHOP", default_value = "open", value_parser = named::<ShopState>("OM_SHOP"))]
    pub shop: ShopState,
    /// The most open orders (not yet completed or cancelled) of an event at once (1-100000).
    #[arg(long, env = "OM_MAX_ORDERS_IN_QUEUE", default_value = "20", value_parser = named_as(
        "OM_MAX_ORDERS_IN_QUEUE",
        format!("1 to {MAX_LIMIT}"),
        clap::value_parser!(u32).range(1..=i64::from(MAX_LIMIT)),
    ))]
    pub max_orders_in_queue: u32,
    /// The most open orders of one customer at an event at once (1-100000).
    #[arg(long, env = "OM_MAX_ORDERS_PER_USER", default_value = "1", value_parser = named_as(
        "OM_MAX_ORDERS_PER_USER",
        format!("1 to {MAX_LIMIT}"),
        clap::value_parser!(u32).range(1..=i64::from(MAX_LIMIT)),
    ))]
    pub max_orders_per_user: u32,
}

impl ShopArgs {
    pub fn settings(&self) -> ShopSettings {
        ShopSettings {
            open: self.shop == ShopState::Open,
            max_orders_in_queue: self.max_orders_in_queue,
            max_orders_per_user: self.max_orders_per_user,
        }
    }
}
