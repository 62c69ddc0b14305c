//! Each order's story: one entry per change of the order, with its time, the state the change
//! left it in, and who or what caused it. Stores write an order's entry in the same atomic
//! write as the change itself and keep entries as long as the order. An entry never holds a
//! task token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{OrderNumber, UserId};
use super::order::{CancelReason, Order, OrderState};

/// Who or what caused a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Cause {
    /// The customer: submitting the drink, cancelling.
    Customer { user_id: UserId },
    /// A barista: claiming, releasing, completing, cancelling.
    Barista { user_id: UserId },
    /// An event of the workflow, by its `detail-type` (`OrderProcessor.WaitingCompletion`…).
    Workflow { event: String },
    /// One of the workflow's waits timed out (`OrderProcessor.OrderTimeOut`).
    Timeout,
    /// Step Functions refused a callback for good: its task token had expired.
    ExpiredToken,
}

impl Cause {
    pub fn barista(user_id: &UserId) -> Self {
        Self::Barista {
            user_id: user_id.clone(),
        }
    }
}

/// One change of an order, as its story tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The order's version after the change (1 for its start): the entries' order.
    pub version: u64,
    pub at: DateTime<Utc>,
    pub state: OrderState,
    #[serde(flatten)]
    pub cause: Cause,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<OrderNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<CancelReason>,
}

impl HistoryEntry {
    /// The entry for `order` as a change caused by `cause` left it.
    pub fn of(order: &Order, cause: &Cause) -> Self {
        Self {
            version: order.version,
            at: order.updated_at,
            state: order.state,
            cause: cause.clone(),
            order_number: order.order_number,
            cancel_reason: order.cancel_reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::fixtures::order;
    use serde_json::json;

    #[test]
    fn an_entry_reads_as_the_api_shows_it_and_round_trips() {
        let mut o = order("o-1", "alice", OrderState::Preparing);
        o.version = 4;
        o.order_number = Some(OrderNumber::new(7).unwrap());
        let bob = UserId::parse("bob").unwrap();
        let entry = HistoryEntry::of(&o, &Cause::Barista { user_id: bob });
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["by"], "barista");
        assert_eq!(json["user_id"], "bob");
        assert_eq!(json["state"], "preparing");
        assert_eq!(json["order_number"], 7);
        assert!(json.get("cancel_reason").is_none());
        let back: HistoryEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn every_cause_round_trips() {
        let o = order("o-1", "alice", OrderState::Cancelled);
        for cause in [
            Cause::Customer {
                user_id: UserId::parse("alice").unwrap(),
            },
            Cause::Workflow {
                event: "OrderProcessor.orderFinished".into(),
            },
            Cause::Timeout,
            Cause::ExpiredToken,
        ] {
            let entry = HistoryEntry::of(&o, &cause);
            let text = serde_json::to_string(&entry).unwrap();
            assert_eq!(serde_json::from_str::<HistoryEntry>(&text).unwrap(), entry);
        }
        let timeout = serde_json::to_value(HistoryEntry::of(&o, &Cause::Timeout)).unwrap();
        assert_eq!(timeout["by"], json!("timeout"));
    }
}
