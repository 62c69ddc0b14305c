//! The HTTP API test suite: the real application on port 0, a fresh SQLite file per test.

mod common;
mod embedded;
mod errors;
mod eventbridge;
mod flow;
mod ingest;
mod races;
mod stepfunctions_errors;
mod stepfunctions_moto;
mod stream;
