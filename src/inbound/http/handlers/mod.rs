//! Request handlers, one module per resource. Each is small: extract, call the service, view.

pub mod events;
pub mod health;
pub mod history;
pub mod menu;
pub mod metrics;
pub mod orders;
pub mod shop;
pub mod stats;
pub mod stream;
