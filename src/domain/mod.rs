//! The domain: the order lifecycle, the workflow events, the menu, and the ports the domain
//! needs (store, workflow). Nothing here knows about HTTP, SQLite or AWS.

pub mod arrivals;
pub mod deferred;
pub mod dispatch;
pub mod events;
pub mod follow;
pub mod history;
pub mod ids;
pub mod lifecycle;
pub mod list;
pub mod menu;
pub mod notices;
pub mod order;
pub mod ports;
pub mod service;
pub mod shop;
pub mod snapshot;
pub mod starts;
pub mod stats;
