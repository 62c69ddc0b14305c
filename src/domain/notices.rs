//! What the service tells the rest of the system (docs/architecture.md, "Notices"): one
//! `OrderManager.*` notice per transition that other services and the apps' real-time channel
//! follow. Notices carry the fields the Serverlesspresso apps key on, and never a task token.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::order::{Order, OrderState};

/// The detail-types the service emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoticeKind {
    /// The order is in the barista queue (it has its order number).
    #[serde(rename = "OrderManager.WaitingCompletion")]
    WaitingCompletion,
    /// A barista claimed the order (or released it: `baristaUserId` is then empty).
    #[serde(rename = "OrderManager.MakeOrder")]
    MakeOrder,
    #[serde(rename = "OrderManager.OrderCompleted")]
    OrderCompleted,
    #[serde(rename = "OrderManager.OrderCancelled")]
    OrderCancelled,
}

impl NoticeKind {
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::WaitingCompletion => "OrderManager.WaitingCompletion",
            Self::MakeOrder => "OrderManager.MakeOrder",
            Self::OrderCompleted => "OrderManager.OrderCompleted",
            Self::OrderCancelled => "OrderManager.OrderCancelled",
        }
    }

    pub fn parse(detail_type: &str) -> Option<NoticeKind> {
        [
            Self::WaitingCompletion,
            Self::MakeOrder,
            Self::OrderCompleted,
            Self::OrderCancelled,
        ]
        .into_iter()
        .find(|k| k.detail_type() == detail_type)
    }
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// The EventBridge `detail`.
    pub detail: serde_json::Value,
}

/// The notice a transition from `old` to `new` owes, if any.
pub fn notice_for(old: &Order, new: &Order) -> Option<Notice> {
    let kind = match (old.state, new.state) {
        (a, b) if a == b => return None,
        (OrderState::Preparing, OrderState::Queued) | (_, OrderState::Preparing) => {
            NoticeKind::MakeOrder
        }
        (_, OrderState::Queued) => NoticeKind::WaitingCompletion,
        (_, OrderState::Completed) => NoticeKind::OrderCompleted,
        (_, OrderState::Cancelled) => NoticeKind::OrderCancelled,
        _ => return None,
    };
    Some(Notice {
        kind,
        detail: detail(new),
    })
}

fn detail(o: &Order) -> serde_json::Value {
    json!({
        // A notice may be published twice (a retry after a lost answer) and out of order (a
        // retry after later ones): `noticeId` tells duplicates, `version` tells the newest.
        "noticeId": uuid::Uuid::new_v4().to_string(),
        "version": o.version,
        "orderId": o.id,
        "userId": o.user_id,
        "eventId": o.event_id,
        // A number, as the barista and display apps get it from `GET /orders` and as the
        // sample's counter makes it.
        "orderNumber": o.order_number.map(|n| n.get()),
        "drinkOrder": o.drink.as_ref().map(|d| json!({
            "drink": d.name,
            "modifiers": d.modifiers,
            "icon": d.icon,
        })),
        "baristaUserId": o.barista_user_id.as_ref().map(|b| b.to_string()).unwrap_or_default(),
        "state": o.state.as_str(),
        "cancelReason": o.cancel_reason.map(|r| r.as_str()),
        // The change's time in epoch milliseconds: the apps show a card's age from it.
        "TS": o.updated_at.timestamp_millis(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::UserId;
    use crate::domain::lifecycle::tests::order;
    use crate::domain::order::now;

    #[test]
    fn each_transition_owes_its_notice() {
        let queued = order(OrderState::Queued);
        let claimed = queued
            .claim(&UserId::parse("bob").unwrap(), now())
            .unwrap()
            .unwrap();
        let n = claimed.notices[0].clone();
        assert_eq!(n.kind, NoticeKind::MakeOrder);
        assert_eq!(n.detail["baristaUserId"], "bob");
        assert_eq!(n.detail["orderNumber"], 7);
        assert_eq!(n.detail["TS"], claimed.order.updated_at.timestamp_millis());
        assert_eq!(n.detail["version"], 4);
        assert_eq!(n.detail["noticeId"].as_str().unwrap().len(), 36);
        let released = claimed
            .order
            .unclaim(&UserId::parse("bob").unwrap(), now())
            .unwrap()
            .unwrap();
        assert_eq!(released.notices[0].kind, NoticeKind::MakeOrder);
        assert_eq!(released.notices[0].detail["baristaUserId"], "");
        let done = queued
            .complete(&UserId::parse("bob").unwrap(), now())
            .unwrap()
            .unwrap();
        assert_eq!(done.notices[0].kind, NoticeKind::OrderCompleted);
        assert!(!done.notices[0].detail.to_string().contains("token-2"));
    }

    #[test]
    fn nothing_is_owed_when_the_state_stays() {
        let o = order(OrderState::Queued);
        assert_eq!(notice_for(&o, &o), None);
    }
}
