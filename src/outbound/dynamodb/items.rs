//! Mapping between items and domain values: each item type of the table, and its keys. An
//! item that does not read back into valid domain values is [`StoreError::Internal`].

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::attrs::{
    Item, PENDING, b, corrupt, expiry, flag, micros, n, num, opt_num, opt_str, s, str, time,
};
use super::keys::{self, EXPIRES_AT, PK, SK};
use crate::domain::ids::{EventId, OrderId, OrderNumber, TaskToken, UserId};
use crate::domain::lifecycle::{Callback, CallbackAction};
use crate::domain::menu::Menu;
use crate::domain::notices::{Notice, NoticeKind};
use crate::domain::order::{DrinkOrder, Order};
use crate::domain::ports::{OrderChange, PendingCallback, PendingNotice, StoreError};
use crate::domain::snapshot::OrderSnapshot;

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

pub(super) fn order_key(id: &OrderId) -> Item {
    key(keys::order_pk(id.as_str()), keys::ORDER_SK)
}

pub(super) fn envelope_key(envelope: &str) -> Item {
    key(keys::envelope_pk(envelope), keys::ENVELOPE_SK)
}

pub(super) fn callback_key(id: i64) -> Item {
    key(keys::callback_pk(id), keys::CALLBACK_SK)
}

pub(super) fn notice_key(id: i64) -> Item {
    key(keys::notice_pk(id), keys::NOTICE_SK)
}

pub(super) fn menu_key(event: &str) -> Item {
    key(keys::menu_pk(event), keys::MENU_SK)
}

pub(super) fn meta_key() -> Item {
    key(keys::META_PK.to_string(), keys::META_SK)
}

/// An order, with its keys in both list indexes.
pub(super) fn order_item(o: &Order, shards: u32) -> Item {
    let mut item = order_key(&o.id);
    let id = o.id.as_str();
    let created = micros(o.created_at);
    let sort = keys::order_sort(created, id);
    let shard = keys::shard_of(id, shards);
    let mut put = |k: &str, v: AttributeValue| {
        item.insert(k.to_string(), v);
    };
    put("kind", s("order"));
    put("order_id", s(id));
    put("event_id", s(o.event_id.as_str()));
    put("user_id", s(o.user_id.as_str()));
    put("state", s(o.state.as_str()));
    put("version", n(o.version));
    put("created_at", n(created));
    put("updated_at", n(micros(o.updated_at)));
    put(
        keys::EV_PK,
        s(keys::event_state_pk(o.event_id.as_str(), o.state, shard)),
    );
    put(keys::EV_SK, s(sort.clone()));
    put(keys::US_PK, s(keys::user_pk(o.user_id.as_str())));
    put(keys::US_SK, s(sort));
    if let Some(num) = o.order_number {
        put("order_number", n(num.get()));
    }
    if let Some(d) = &o.drink {
        let mut m = HashMap::from([
            ("name".to_string(), s(d.name.as_str())),
            (
                "modifiers".to_string(),
                AttributeValue::L(d.modifiers.iter().map(|m| s(m.as_str())).collect()),
            ),
        ]);
        if let Some(icon) = &d.icon {
            m.insert("icon".to_string(), s(icon.as_str()));
        }
        put("drink", AttributeValue::M(m));
    }
    if let Some(u) = &o.barista_user_id {
        put("barista_user_id", s(u.as_str()));
    }
    if let Some(r) = o.cancel_reason {
        put("cancel_reason", s(r.as_str()));
    }
    if let Some(t) = &o.start_token {
        put("start_token", s(t.expose()));
    }
    if let Some(t) = &o.completion_token {
        put("completion_token", s(t.expose()));
    }
    if let Some(arn) = &o.execution_arn {
        put("execution_arn", s(arn.as_str()));
    }
    if let Some(t) = o.workflow_finished_at {
        put("workflow_finished_at", n(micros(t)));
    }
    item
}

fn drink_from(v: &AttributeValue) -> Result<DrinkOrder, StoreError> {
    let AttributeValue::M(m) = v else {
        return Err(corrupt("drink", "not a map"));
    };
    let modifiers = match m.get("modifiers") {
        None => vec![],
        Some(AttributeValue::L(l)) => l
            .iter()
            .map(|v| match v {
                AttributeValue::S(s) => Ok(s.clone()),
                _ => Err(corrupt("drink modifier", "not a string")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(corrupt("drink modifiers", "not a list")),
    };
    Ok(DrinkOrder {
        name: str(m, "name")?.to_string(),
        modifiers,
        icon: opt_str(m, "icon")?.map(str::to_string),
    })
}

pub(super) fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let token = |name: &str| {
        opt_str(item, name)?
            .map(|t| TaskToken::parse(t).map_err(|e| corrupt("task token", e)))
            .transpose()
    };
    Ok(Order {
        id: OrderId::parse(str(item, "order_id")?).map_err(|e| corrupt("order id", e))?,
        event_id: EventId::parse(str(item, "event_id")?).map_err(|e| corrupt("event id", e))?,
        user_id: UserId::parse(str(item, "user_id")?).map_err(|e| corrupt("user id", e))?,
        state: str(item, "state")?
            .parse()
            .map_err(|e| corrupt("state", e))?,
        order_number: opt_num::<u32>(item, "order_number")?
            .map(|n| OrderNumber::new(n).map_err(|e| corrupt("order number", e)))
            .transpose()?,
        drink: item.get("drink").map(drink_from).transpose()?,
        barista_user_id: opt_str(item, "barista_user_id")?
            .map(|u| UserId::parse(u).map_err(|e| corrupt("barista", e)))
            .transpose()?,
        cancel_reason: opt_str(item, "cancel_reason")?
            .map(|r| r.parse().map_err(|e| corrupt("cancel reason", e)))
            .transpose()?,
        start_token: token("start_token")?,
        completion_token: token("completion_token")?,
        execution_arn: opt_str(item, "execution_arn")?.map(str::to_string),
        workflow_finished_at: item
            .contains_key("workflow_finished_at")
            .then(|| time(item, "workflow_finished_at"))
            .transpose()?,
        version: num(item, "version")?,
        created_at: time(item, "created_at")?,
        updated_at: time(item, "updated_at")?,
    })
}

/// The change-log entry of `o` (at its new version), numbered `seq`.
pub(super) fn change_item(o: &Order, seq: u64, shards: u32) -> Result<Item, StoreError> {
    let id = o.id.as_str();
    let snapshot = serde_json::to_string(&OrderSnapshot::from(o))
        .map_err(|e| StoreError::Internal(format!("cannot encode a snapshot: {e}")))?;
    let sort = keys::change_sort(seq, id, o.version);
    let mut item = key(keys::order_pk(id), &keys::change_sk(o.version));
    item.extend([
        ("kind".to_string(), s("change")),
        ("order_id".to_string(), s(id)),
        ("seq".to_string(), n(seq)),
        ("snapshot".to_string(), s(snapshot)),
        (
            keys::EV_PK.to_string(),
            s(keys::change_event_pk(
                o.event_id.as_str(),
                keys::shard_of(id, shards),
            )),
        ),
        (keys::EV_SK.to_string(), s(sort.clone())),
        (
            keys::US_PK.to_string(),
            s(keys::change_user_pk(o.user_id.as_str())),
        ),
        (keys::US_SK.to_string(), s(sort)),
        (EXPIRES_AT.to_string(), expiry(micros(o.updated_at))),
    ]);
    Ok(item)
}

pub(super) fn change_from_item(item: &Item) -> Result<OrderChange, StoreError> {
    Ok(OrderChange {
        seq: num(item, "seq")?,
        order: serde_json::from_str(str(item, "snapshot")?).map_err(|e| corrupt("snapshot", e))?,
    })
}

pub(super) fn envelope_item(envelope: &str, order: &OrderId, now: i64) -> Item {
    let mut item = envelope_key(envelope);
    item.extend([
        ("kind".to_string(), s("envelope")),
        ("order_id".to_string(), s(order.as_str())),
        ("received_at".to_string(), n(now)),
        (EXPIRES_AT.to_string(), expiry(now)),
    ]);
    item
}

/// A new pending callback, in flight (leased to the writer) until `lease_until`.
pub(super) fn callback_item(
    cb: &Callback,
    id: i64,
    lease_until: i64,
    now: i64,
    shards: u32,
) -> Result<Item, StoreError> {
    let action = serde_json::to_string(&cb.action)
        .map_err(|e| StoreError::Internal(format!("cannot encode a callback: {e}")))?;
    let shard = keys::shard_of(cb.order_id.as_str(), shards);
    let mut item = callback_key(id);
    item.extend([
        ("kind".to_string(), s("callback")),
        ("callback_id".to_string(), n(id)),
        ("order_id".to_string(), s(cb.order_id.as_str())),
        ("token".to_string(), s(cb.token.expose())),
        ("action".to_string(), s(action)),
        ("expires_order".to_string(), b(cb.expires_order)),
        ("status".to_string(), s(PENDING)),
        ("attempts".to_string(), n(0)),
        ("next_attempt_at".to_string(), n(lease_until)),
        ("in_flight".to_string(), b(true)),
        ("outcome_unknown".to_string(), b(false)),
        ("created_at".to_string(), n(now)),
        ("updated_at".to_string(), n(now)),
        (
            keys::DUE_PK.to_string(),
            s(keys::due_pk(keys::Outbox::Callbacks, shard)),
        ),
        (keys::DUE_SK.to_string(), s(keys::due_sort(lease_until, id))),
    ]);
    Ok(item)
}

/// What a claimer saw of a pending outbox entry: the claim is conditional on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    pub next_attempt_at: i64,
    pub attempts: u32,
    pub in_flight: bool,
    pub due_sort: String,
}

fn seen(item: &Item) -> Result<Seen, StoreError> {
    Ok(Seen {
        next_attempt_at: num(item, "next_attempt_at")?,
        attempts: num(item, "attempts")?,
        in_flight: flag(item, "in_flight")?,
        due_sort: str(item, keys::DUE_SK)?.to_string(),
    })
}

/// A pending callback as read from the due index. `outcome_unknown` already counts an
/// attempt that was handed out and never recorded (`in_flight`).
pub(super) fn pending_callback(item: &Item) -> Result<(PendingCallback, Seen), StoreError> {
    let seen = seen(item)?;
    let cb = PendingCallback {
        id: num(item, "callback_id")?,
        order_id: OrderId::parse(str(item, "order_id")?).map_err(|e| corrupt("order id", e))?,
        token: TaskToken::parse(str(item, "token")?).map_err(|e| corrupt("task token", e))?,
        action: serde_json::from_str::<CallbackAction>(str(item, "action")?)
            .map_err(|e| corrupt("callback action", e))?,
        expires_order: flag(item, "expires_order")?,
        attempts: seen.attempts,
        outcome_unknown: flag(item, "outcome_unknown")? || seen.in_flight,
    };
    Ok((cb, seen))
}

/// A new pending notice, due at `now`.
pub(super) fn notice_item(
    notice: &Notice,
    id: i64,
    order: &OrderId,
    now: i64,
    shards: u32,
) -> Result<Item, StoreError> {
    let detail = serde_json::to_string(&notice.detail)
        .map_err(|e| StoreError::Internal(format!("cannot encode a notice: {e}")))?;
    let shard = keys::shard_of(order.as_str(), shards);
    let mut item = notice_key(id);
    item.extend([
        ("kind".to_string(), s("notice")),
        ("notice_id".to_string(), n(id)),
        ("order_id".to_string(), s(order.as_str())),
        ("detail_type".to_string(), s(notice.kind.detail_type())),
        ("detail".to_string(), s(detail)),
        ("status".to_string(), s(PENDING)),
        ("attempts".to_string(), n(0)),
        ("next_attempt_at".to_string(), n(now)),
        ("created_at".to_string(), n(now)),
        ("updated_at".to_string(), n(now)),
        (
            keys::DUE_PK.to_string(),
            s(keys::due_pk(keys::Outbox::Notices, shard)),
        ),
        (keys::DUE_SK.to_string(), s(keys::due_sort(now, id))),
    ]);
    Ok(item)
}

pub(super) fn pending_notice(item: &Item) -> Result<(PendingNotice, Seen), StoreError> {
    let seen = seen(item)?;
    let detail_type = str(item, "detail_type")?;
    let kind = NoticeKind::parse(detail_type)
        .ok_or_else(|| corrupt("notice type", format!("`{detail_type}` is unknown")))?;
    let detail =
        serde_json::from_str(str(item, "detail")?).map_err(|e| corrupt("notice detail", e))?;
    let pending = PendingNotice {
        id: num(item, "notice_id")?,
        notice: Notice { kind, detail },
        attempts: seen.attempts,
    };
    Ok((pending, seen))
}

pub(super) fn menu_item(event: &str, menu: &Menu, now: i64) -> Result<Item, StoreError> {
    let json = serde_json::to_string(menu)
        .map_err(|e| StoreError::Internal(format!("cannot encode the menu: {e}")))?;
    let mut item = menu_key(event);
    item.extend([
        ("kind".to_string(), s("menu")),
        ("event_id".to_string(), s(event)),
        ("menu".to_string(), s(json)),
        ("updated_at".to_string(), n(now)),
    ]);
    Ok(item)
}

pub(super) fn menu_from_item(item: &Item) -> Result<Menu, StoreError> {
    serde_json::from_str(str(item, "menu")?).map_err(|e| corrupt("menu", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::{CancelReason, OrderState, now};
    use serde_json::json;

    fn full_order() -> Order {
        Order {
            id: OrderId::parse("o-1").unwrap(),
            event_id: EventId::parse("NYC").unwrap(),
            user_id: UserId::parse("alice#1 é").unwrap(),
            state: OrderState::Cancelled,
            order_number: Some(OrderNumber::new(42).unwrap()),
            drink: Some(DrinkOrder {
                name: "Latte".into(),
                modifiers: vec!["Oat".into(), "".into()],
                icon: Some("cup".into()),
            }),
            barista_user_id: Some(UserId::parse("bob").unwrap()),
            cancel_reason: Some(CancelReason::BaristaTimeout),
            start_token: Some(TaskToken::parse("t".repeat(2048)).unwrap()),
            completion_token: Some(TaskToken::parse("token-2").unwrap()),
            execution_arn: Some("arn:aws:states:us-east-1:1:execution:x:y".into()),
            workflow_finished_at: Some(now()),
            version: 7,
            created_at: now() - chrono::Duration::minutes(5),
            updated_at: now(),
        }
    }

    #[test]
    fn orders_round_trip_full_and_bare() {
        let o = full_order();
        let item = order_item(&o, 8);
        assert_eq!(order_from_item(&item).unwrap(), o);
        let bare = Order {
            order_number: None,
            drink: Some(DrinkOrder {
                name: "Tea".into(),
                modifiers: vec![],
                icon: None,
            }),
            barista_user_id: None,
            cancel_reason: None,
            start_token: None,
            completion_token: None,
            execution_arn: None,
            workflow_finished_at: None,
            state: OrderState::Created,
            ..o
        };
        let item = order_item(&bare, 8);
        assert_eq!(order_from_item(&item).unwrap(), bare);
        assert!(!item.contains_key("start_token"));
    }

    #[test]
    fn orders_carry_their_index_keys() {
        let o = full_order();
        let item = order_item(&o, 4);
        let shard = keys::shard_of("o-1", 4);
        assert_eq!(item[keys::EV_PK], s(format!("EVT#NYC#cancelled#{shard}")));
        assert_eq!(item[keys::US_PK], s("USR#alice#1 é"));
        assert_eq!(
            item[keys::EV_SK],
            s(keys::order_sort(micros(o.created_at), "o-1"))
        );
        assert!(
            !item.contains_key(keys::DUE_PK),
            "orders are not outbox entries"
        );
    }

    #[test]
    fn unreadable_items_are_internal_errors() {
        let mut item = order_item(&full_order(), 8);
        item.insert("state".into(), s("open"));
        assert!(matches!(
            order_from_item(&item),
            Err(StoreError::Internal(_))
        ));
        let mut item = order_item(&full_order(), 8);
        item.remove("version");
        assert!(matches!(
            order_from_item(&item),
            Err(StoreError::Internal(_))
        ));
        let mut item = order_item(&full_order(), 8);
        item.insert("created_at".into(), s("yesterday"));
        assert!(matches!(
            order_from_item(&item),
            Err(StoreError::Internal(_))
        ));
    }

    #[test]
    fn changes_round_trip_without_tokens() {
        let o = full_order();
        let item = change_item(&o, 1_234, 8).unwrap();
        let c = change_from_item(&item).unwrap();
        assert_eq!(c.seq, 1_234);
        assert_eq!(c.order, OrderSnapshot::from(&o));
        let text = format!("{item:?}");
        assert!(!text.contains("token-2"), "no token in the change log");
        assert_eq!(item[SK], s("CHANGE#00000000000000000007"));
        assert!(item.contains_key(EXPIRES_AT));
    }

    #[test]
    fn callbacks_round_trip_and_start_in_flight() {
        let o = full_order();
        let cb = Callback {
            order_id: o.id.clone(),
            token: TaskToken::parse("token-1").unwrap(),
            action: CallbackAction::Fail {
                error: "OrderCancelled".into(),
                cause: "barista".into(),
            },
            expires_order: true,
        };
        let id = keys::callback_id(&cb.token.digest());
        let item = callback_item(&cb, id, 5_000, 4_000, 8).unwrap();
        let (p, seen) = pending_callback(&item).unwrap();
        assert_eq!(p.id, id);
        assert_eq!(p.token, cb.token);
        assert_eq!(p.action, cb.action);
        assert!(p.expires_order);
        assert_eq!(p.attempts, 0);
        assert!(
            p.outcome_unknown,
            "handed out again before its attempt was recorded"
        );
        assert_eq!(seen.next_attempt_at, 5_000);
        assert_eq!(seen.due_sort, keys::due_sort(5_000, id));
    }

    #[test]
    fn notices_and_menus_round_trip() {
        let notice = Notice {
            kind: NoticeKind::MakeOrder,
            detail: json!({"orderId": "o-1", "baristaUserId": ""}),
        };
        let o = OrderId::parse("o-1").unwrap();
        let item = notice_item(&notice, 99, &o, 10, 8).unwrap();
        let (p, seen) = pending_notice(&item).unwrap();
        assert_eq!((p.id, p.attempts), (99, 0));
        assert_eq!(p.notice, notice);
        assert_eq!(seen.next_attempt_at, 10);
        let menu = Menu::default_menu();
        let item = menu_item("NYC", &menu, 1).unwrap();
        assert_eq!(menu_from_item(&item).unwrap(), menu);
    }
}
