//! The coffee events' shop settings (`OrderStore::get_shop` and `put_shop`): one item per
//! event (`PK = SHOP#<event>`, `SK = SHOP`), read consistently; and the starts reserved
//! against a customer's limit (`get_reservations`, `put_reservations`): one item per event
//! and customer (`PK = STARTS#<event>#<user>`, `SK = STARTS`), guarded by its version, with
//! the TTL (its entries lapse long before).

use super::DynamoStore;
use super::attrs::{self, Item, n, s};
use super::errors;
use super::keys;
use crate::domain::ids::{EventId, UserId};
use crate::domain::ports::StoreError;
use crate::domain::shop::ShopSettings;
use crate::domain::starts::{Reservation, Reservations};

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

fn reservations_key(event: &EventId, user: &UserId) -> Item {
    Item::from([
        (keys::PK.to_string(), s(format!("STARTS#{event}#{user}"))),
        (keys::SK.to_string(), s("STARTS")),
    ])
}

pub(super) async fn reservations(
    store: &DynamoStore,
    event: &EventId,
    user: &UserId,
) -> Result<Reservations, StoreError> {
    let Some(item) = store.get_item(reservations_key(event, user)).await? else {
        return Ok(Reservations::default());
    };
    let entries = serde_json::from_str(attrs::str(&item, "entries")?)
        .map_err(|e| attrs::corrupt("reservations", e))?;
    Ok(Reservations {
        entries,
        version: Some(attrs::num(&item, "version")?),
    })
}

pub(super) async fn put_reservations(
    store: &DynamoStore,
    event: &EventId,
    user: &UserId,
    entries: &[Reservation],
    expected: Option<u64>,
    now: i64,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(entries)
        .map_err(|e| StoreError::Internal(format!("cannot encode reservations: {e}")))?;
    let mut item = reservations_key(event, user);
    item.extend([
        ("kind".to_string(), s("reservations")),
        ("entries".to_string(), s(json)),
        ("version".to_string(), n(expected.map_or(1, |v| v + 1))),
        (keys::EXPIRES_AT.to_string(), attrs::expiry(now)),
    ]);
    let put = store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(item));
    let put = match expected {
        None => put.condition_expression("attribute_not_exists(PK)"),
        Some(v) => put
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(v)),
    };
    match put.send().await {
        Ok(_) => Ok(()),
        Err(e) if errors::is_condition_failed(&e) => Err(StoreError::Conflict),
        Err(e) => Err(errors::sdk("PutItem", e)),
    }
}
