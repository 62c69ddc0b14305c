//! Adapters for the domain's ports: the stores, the workflow and the event bus.

pub mod aws;
pub mod database;
pub mod dynamodb;
pub mod embedded;
pub mod eventbridge;
pub mod no_events;
pub mod sqlite;
pub mod stepfunctions;
