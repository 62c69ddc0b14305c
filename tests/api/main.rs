//! The HTTP API test suite: the real application on port 0, a fresh SQLite file per test.

mod auth;
mod board;
mod busy_shop;
mod cognito;
mod compat;
mod compat_shop;
mod disorder;
mod embedded;
mod errors;
mod eventbridge;
mod flow;
mod hardening;
mod history;
mod ingest;
mod openapi;
mod operations;
mod order_processor_moto;
mod races;
mod shop;
mod starts;
mod stats;
mod stepfunctions_errors;
mod stepfunctions_moto;
mod stream;
#[path = "../support/mod.rs"]
mod support;
