//! Attribute values: building them, and reading them back with a clear error when an item
//! does not hold what it should ([`StoreError::Internal`], never silently patched). Times are
//! Unix microseconds (`N`), except the TTL attribute (Unix seconds, as DynamoDB wants it).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use crate::domain::ports::StoreError;

pub(super) type Item = HashMap<String, AttributeValue>;

/// How long envelope ids, finished outbox entries and change entries are kept (the TTL).
pub(super) const RETENTION_SECS: i64 = 48 * 3600;

pub(super) const PENDING: &str = "pending";

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn b(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The TTL of something finished or written at `micros`.
pub(super) fn expiry(micros: i64) -> AttributeValue {
    n(micros.div_euclid(1_000_000) + RETENTION_SECS)
}

pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} is invalid: {e}"))
}

pub(super) fn missing(name: &str) -> StoreError {
    StoreError::Internal(format!("stored item lacks `{name}`"))
}

pub(super) fn opt_str<'a>(item: &'a Item, name: &str) -> Result<Option<&'a str>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(_) => Err(corrupt(name, "not a string")),
    }
}

pub(super) fn str<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    opt_str(item, name)?.ok_or_else(|| missing(name))
}

pub(super) fn opt_num<T: std::str::FromStr>(
    item: &Item,
    name: &str,
) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|e| corrupt(name, e)),
        Some(_) => Err(corrupt(name, "not a number")),
    }
}

pub(super) fn num<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    opt_num(item, name)?.ok_or_else(|| missing(name))
}

pub(super) fn flag(item: &Item, name: &str) -> Result<bool, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(false),
        Some(AttributeValue::Bool(v)) => Ok(*v),
        Some(_) => Err(corrupt(name, "not a boolean")),
    }
}

pub(super) fn time(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    let v: i64 = num(item, name)?;
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(name, "out of range"))
}
