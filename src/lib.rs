//! order-manager: the Order Manager of a Serverlesspresso-style coffee shop.
//!
//! - [`domain`]: the order lifecycle, workflow events, menu, and the ports (store, workflow).
//! - [`inbound`]: the HTTP edge (axum): routes, auth, errors.
//! - [`outbound`]: the adapters: SQLite store, Step Functions workflow.
//! - [`app`]: the composition root; [`config`]: flags and environment; [`telemetry`]: metrics.
#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod domain;
pub mod inbound;
pub mod outbound;
pub mod telemetry;
