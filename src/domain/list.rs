//! Keyset pagination shared by every list: orders sort by `(created_at, order_id)` and a
//! cursor is the key of the last order of a page, made opaque for the client.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::OrderId;
use super::order::Order;

/// Ascending (oldest first) or descending (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    OldestFirst,
    NewestFirst,
}

/// The sort key of an order in every list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SortKey {
    #[serde(rename = "t")]
    pub created_at_micros: i64,
    #[serde(rename = "i")]
    pub order_id: OrderId,
}

impl SortKey {
    pub fn of(order: &Order) -> SortKey {
        SortKey {
            created_at_micros: order.created_at.timestamp_micros(),
            order_id: order.id.clone(),
        }
    }

    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.created_at_micros)
    }

    /// The opaque cursor the client sees.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a sort key serializes"))
    }

    /// Reads a cursor back; `None` if it is not one of ours.
    pub fn decode(cursor: &str) -> Option<SortKey> {
        if cursor.len() > 512 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Merges lists that are each sorted in `direction` into the first `limit` orders overall.
pub fn merge_sorted(lists: Vec<Vec<Order>>, direction: Direction, limit: usize) -> Vec<Order> {
    let mut all: Vec<Order> = lists.into_iter().flatten().collect();
    all.sort_by_cached_key(SortKey::of);
    if direction == Direction::NewestFirst {
        all.reverse();
    }
    all.truncate(limit);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let k = SortKey {
            created_at_micros: 1_700_000_000_123_456,
            order_id: OrderId::parse("o-1").unwrap(),
        };
        assert_eq!(SortKey::decode(&k.encode()), Some(k));
        assert_eq!(SortKey::decode("not a cursor"), None);
        assert_eq!(
            SortKey::decode(&URL_SAFE_NO_PAD.encode(br#"{"t":1,"i":"../x"}"#)),
            None
        );
    }
}
