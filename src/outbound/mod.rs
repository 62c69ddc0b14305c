//! Adapters for the domain's ports: the stores and the workflow.

pub mod sqlite;
pub mod stepfunctions;
