//! Adapters for the domain's ports: the stores and the workflow.

pub mod no_events;
pub mod sqlite;
pub mod stepfunctions;
