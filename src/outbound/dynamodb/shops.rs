//! The coffee events' shop settings (`OrderStore::get_shop` and `put_shop`): one item per
//! event (`PK = SHOP#<event>`, `SK = SHOP`), read consistently.

use super::DynamoStore;
use super::attrs::{Item, n, s};
use super::errors;
use super::keys;
use crate::domain::ids::EventId;
use crate::domain::ports::StoreError;
use crate::domain::shop::ShopSettings;

const SHOP_SK: &str = "SHOP";

fn key(event: &EventId) -> Item {
    Item::from([
        (keys::PK.to_string(), s(format!("SHOP#{event}"))),
        (keys::SK.to_string(), s(SHOP_SK)),
    ])
}

pub(super) async fn get(
    store: &DynamoStore,
    event: &EventId,
) -> Result<Option<ShopSettings>, StoreError> {
    let Some(item) = store.get_item(key(event)).await? else {
        return Ok(None);
    };
    match item.get("settings") {
        Some(aws_sdk_dynamodb::types::AttributeValue::S(json)) => serde_json::from_str(json)
            .map(Some)
            .map_err(|e| StoreError::Internal(format!("stored shop settings unreadable: {e}"))),
        _ => Err(StoreError::Internal(
            "a shop item without its settings".into(),
        )),
    }
}

pub(super) async fn put(
    store: &DynamoStore,
    event: &EventId,
    shop: &ShopSettings,
    now: i64,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(shop)
        .map_err(|e| StoreError::Internal(format!("cannot encode shop settings: {e}")))?;
    let mut item = key(event);
    item.extend([
        ("kind".to_string(), s("shop")),
        ("event_id".to_string(), s(event.as_str())),
        ("settings".to_string(), s(json)),
        ("updated_at".to_string(), n(now)),
    ]);
    store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(item))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| errors::sdk("PutItem", e))
}
