//! Inbound adapters: the HTTP edge.

pub mod http;
