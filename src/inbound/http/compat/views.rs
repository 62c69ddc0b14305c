//! The bodies of the original Serverlesspresso Lambda API, field for field: the DynamoDB item
//! names (`PK`, `SK`, `ORDERSTATE`, `TS`, `USERID`) the apps read, wrapped in `{"result": ...}`.
//! Task tokens never appear.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::order::{Order, OrderState};

/// The original's order states. Every open state of this service (`created`, `submitted`,
/// `queued`, `preparing`) is `CREATED`; `cancelled`, whatever the reason (customer, barista,
/// either timeout, an expired token), is `CANCELLED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum CompatState {
    Created,
    Completed,
    Cancelled,
}

impl CompatState {
    pub fn of(state: OrderState) -> Self {
        match state {
            OrderState::Completed => Self::Completed,
            OrderState::Cancelled => Self::Cancelled,
            OrderState::Created
            | OrderState::Submitted
            | OrderState::Queued
            | OrderState::Preparing => Self::Created,
        }
    }

    /// The states `GET /orders?state=` lists. `CREATED` is the barista queue (`queued`,
    /// `preparing`): the orders the barista and display apps show (the barista app skips orders
    /// without an `orderNumber`, the display app reads `drinkOrder.drink` of every order).
    pub fn listed(self) -> &'static [OrderState] {
        match self {
            Self::Created => &[OrderState::Queued, OrderState::Preparing],
            Self::Completed => &[OrderState::Completed],
            Self::Cancelled => &[OrderState::Cancelled],
        }
    }
}

/// `drinkOrder`, as the order app submitted it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompatDrink {
    #[schema(example = "Latte")]
    pub drink: String,
    pub icon: Option<String>,
    #[schema(example = json!(["Oat"]))]
    pub modifiers: Vec<String>,
}

/// One order as the original's DynamoDB item (`GET /orders`, `GET /myOrders`, the `PUT`s).
#[derive(Debug, Serialize, ToSchema)]
pub struct CompatOrder {
    /// Always `orders`.
    #[serde(rename = "PK")]
    #[schema(example = "orders")]
    pub pk: &'static str,
    /// The order id.
    #[serde(rename = "SK")]
    pub sk: String,
    /// Assigned when the order reaches the barista queue.
    #[serde(rename = "orderNumber")]
    pub order_number: Option<u32>,
    /// Always `false`: this service has no order robot.
    pub robot: bool,
    /// Absent (`null`) until the customer submitted the drink; an empty drink for an order in
    /// the queue whose drink was chosen elsewhere.
    #[serde(rename = "drinkOrder")]
    pub drink_order: Option<CompatDrink>,
    #[serde(rename = "ORDERSTATE")]
    pub order_state: CompatState,
    /// The last change, in epoch milliseconds.
    #[serde(rename = "TS")]
    #[schema(example = 1_714_557_600_000_i64)]
    pub ts: i64,
    /// The barista making it (`null` when none).
    #[serde(rename = "baristaUserId")]
    pub barista_user_id: Option<String>,
    /// The customer.
    #[serde(rename = "USERID")]
    pub user_id: String,
}

/// The drink; for an order in the queue whose drink was chosen elsewhere (the workflow was
/// resumed by another part of the shop), an empty one: the display app reads
/// `drinkOrder.drink` of every queued order.
fn drink_of(o: &Order) -> Option<CompatDrink> {
    match &o.drink {
        Some(d) => Some(CompatDrink {
            drink: d.name.clone(),
            icon: d.icon.clone(),
            modifiers: d.modifiers.clone(),
        }),
        None if o.order_number.is_some() => Some(CompatDrink {
            drink: String::new(),
            icon: None,
            modifiers: Vec::new(),
        }),
        None => None,
    }
}

impl From<&Order> for CompatOrder {
    fn from(o: &Order) -> Self {
        CompatOrder {
            pk: "orders",
            sk: o.id.to_string(),
            order_number: o.order_number.map(|n| n.get()),
            robot: false,
            drink_order: drink_of(o),
            order_state: CompatState::of(o.state),
            ts: o.updated_at.timestamp_millis(),
            barista_user_id: o.barista_user_id.as_ref().map(ToString::to_string),
            user_id: o.user_id.to_string(),
        }
    }
}

/// `{"result": [orders]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompatOrderList {
    pub result: Vec<CompatOrder>,
}

/// `{"result": order}`: the answer to every `PUT`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompatOrderResult {
    pub result: CompatOrder,
}

/// `GET /orders/{id}`'s `result`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompatOrderDetail {
    #[serde(rename = "orderId")]
    pub order_id: String,
    #[serde(rename = "drinkOrder")]
    pub drink_order: Option<CompatDrink>,
    #[serde(rename = "orderState")]
    pub order_state: CompatState,
    /// The last change, in epoch milliseconds.
    #[serde(rename = "TS")]
    pub ts: i64,
}

impl From<&Order> for CompatOrderDetail {
    fn from(o: &Order) -> Self {
        CompatOrderDetail {
            order_id: o.id.to_string(),
            drink_order: drink_of(o),
            order_state: CompatState::of(o.state),
            ts: o.updated_at.timestamp_millis(),
        }
    }
}

/// `{"result": {"orderId", "drinkOrder", "orderState", "TS"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompatOrderDetailResult {
    pub result: CompatOrderDetail,
}

/// What the order app sends with `PUT /orders/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CompatSubmission {
    #[schema(example = "Latte")]
    pub drink: String,
    #[serde(default)]
    #[schema(example = json!(["Oat"]), required = false)]
    pub modifiers: Vec<String>,
    #[serde(default)]
    #[schema(required = false)]
    pub icon: Option<String>,
    /// Sent by the order app and ignored: the token's `sub` is the customer.
    #[serde(default, rename = "userId")]
    #[schema(value_type = Option<String>, required = false)]
    pub _user_id: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_maps_to_an_original_one() {
        let mapped: Vec<_> = OrderState::ALL.into_iter().map(CompatState::of).collect();
        use CompatState::*;
        assert_eq!(
            mapped,
            [Created, Created, Created, Created, Completed, Cancelled]
        );
        assert_eq!(
            serde_json::to_value(Cancelled).unwrap(),
            serde_json::json!("CANCELLED")
        );
    }

    #[test]
    fn the_submission_ignores_the_body_user_id() {
        let s: CompatSubmission = serde_json::from_value(serde_json::json!({
            "userId": "mallory", "drink": "Latte", "modifiers": ["Oat"], "icon": "latte"
        }))
        .unwrap();
        assert_eq!(s.drink, "Latte");
        assert_eq!(s.modifiers, ["Oat"]);
    }
}
