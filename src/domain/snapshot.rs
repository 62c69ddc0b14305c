//! The public picture of an order: what the API answers, the live stream sends and the
//! change log keeps. It has no task token, by construction.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::order::{DrinkOrder, Order};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSnapshot {
    pub order_id: String,
    pub event_id: String,
    pub user_id: String,
    pub state: String,
    pub order_number: Option<u32>,
    pub drink: Option<DrinkOrder>,
    pub barista_user_id: Option<String>,
    pub cancel_reason: Option<String>,
    /// The order's version: each change makes it one higher, so a client that gets the same
    /// change twice (a resumed stream may repeat some) keeps the highest.
    #[serde(default)]
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl From<&Order> for OrderSnapshot {
    fn from(o: &Order) -> Self {
        OrderSnapshot {
            order_id: o.id.to_string(),
            event_id: o.event_id.to_string(),
            user_id: o.user_id.to_string(),
            state: o.state.as_str().to_string(),
            order_number: o.order_number.map(|n| n.get()),
            drink: o.drink.clone(),
            barista_user_id: o.barista_user_id.as_ref().map(ToString::to_string),
            cancel_reason: o.cancel_reason.map(|r| r.as_str().to_string()),
            version: o.version,
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
        }
    }
}
