//! The JSON bodies the API answers with (snake_case; tokens never appear).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::events::Outcome;
use crate::domain::ids::OrderId;
use crate::domain::order::{DrinkOrder, Order};
use crate::domain::service::OrderPage;

#[derive(Debug, Serialize)]
pub struct OrderView {
    pub order_id: String,
    pub event_id: String,
    pub user_id: String,
    pub state: &'static str,
    pub order_number: Option<u32>,
    pub drink: Option<DrinkOrder>,
    pub barista_user_id: Option<String>,
    pub cancel_reason: Option<&'static str>,
    pub created_at: String,
    pub updated_at: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        OrderView {
            order_id: o.id.to_string(),
            event_id: o.event_id.to_string(),
            user_id: o.user_id.to_string(),
            state: o.state.as_str(),
            order_number: o.order_number.map(|n| n.get()),
            drink: o.drink.clone(),
            barista_user_id: o.barista_user_id.as_ref().map(ToString::to_string),
            cancel_reason: o.cancel_reason.map(|r| r.as_str()),
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
        }
    }
}

impl From<Order> for OrderView {
    fn from(o: Order) -> Self {
        OrderView::from(&o)
    }
}

#[derive(Debug, Serialize)]
pub struct OrderListView {
    pub orders: Vec<OrderView>,
    pub next_cursor: Option<String>,
}

impl From<OrderPage> for OrderListView {
    fn from(p: OrderPage) -> Self {
        OrderListView {
            orders: p.orders.iter().map(OrderView::from).collect(),
            next_cursor: p.next_cursor.map(|k| k.encode()),
        }
    }
}

/// The answer to an ingested event.
#[derive(Debug, Serialize)]
pub struct IngestView {
    pub outcome: Outcome,
    pub order_id: Option<OrderId>,
}
