//! Each order's story (the history part of `OrderStore::apply`, and `OrderStore::history`).
//!
//! An entry lives in its order's partition (`PK = ORDER#<id>`, `SK = HIST#<version>`), written
//! by the change's transaction, without a TTL: it is kept as long as the order. The story is
//! one consistent query of the partition.

use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoStore;
use super::attrs::{Item, s};
use super::{errors, keys, query};
use crate::domain::history::HistoryEntry;
use crate::domain::ids::OrderId;
use crate::domain::lifecycle::Change;
use crate::domain::ports::StoreError;

const HISTORY_PREFIX: &str = "HIST#";

fn history_sk(version: u64) -> String {
    format!("{HISTORY_PREFIX}{version:020}")
}

/// The history entry a change writes.
pub(super) fn item(change: &Change) -> Result<Item, StoreError> {
    let entry = serde_json::to_string(&change.history_entry())
        .map_err(|e| StoreError::Internal(format!("cannot encode a history entry: {e}")))?;
    let o = &change.order;
    Ok(Item::from([
        (keys::PK.to_string(), s(keys::order_pk(o.id.as_str()))),
        (keys::SK.to_string(), s(history_sk(o.version))),
        ("kind".to_string(), s("history")),
        ("entry".to_string(), s(entry)),
    ]))
}

pub(super) async fn read(
    store: &DynamoStore,
    order: &OrderId,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut entries = Vec::new();
    let mut start = None;
    loop {
        let page = query::in_order_partition(store, order, HISTORY_PREFIX)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| errors::sdk("Query", e))?;
        for item in page.items() {
            let Some(AttributeValue::S(entry)) = item.get("entry") else {
                return Err(StoreError::Internal(
                    "a history item without its entry".into(),
                ));
            };
            entries.push(
                serde_json::from_str(entry)
                    .map_err(|e| StoreError::Internal(format!("unreadable history entry: {e}")))?,
            );
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(entries),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_sort_by_version_as_strings() {
        assert!(history_sk(9) < history_sk(10));
        assert_eq!(history_sk(2), "HIST#00000000000000000002");
    }
}
