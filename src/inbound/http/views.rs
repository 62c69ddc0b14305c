//! The JSON bodies the API answers with (snake_case; tokens never appear).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::events::Outcome;
use crate::domain::ids::OrderId;
use crate::domain::order::{DrinkOrder, Order};
use crate::domain::service::OrderPage;

/// One order as the API shows it (task tokens never appear).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Order)]
pub struct OrderView {
    pub order_id: String,
    pub event_id: String,
    /// The customer (the JWT `sub` of the workflow's `userId`).
    pub user_id: String,
    #[schema(value_type = StateSchema)]
    pub state: &'static str,
    /// Assigned by the workflow when the order reaches the barista queue.
    #[schema(minimum = 1)]
    pub order_number: Option<u32>,
    #[schema(value_type = Option<DrinkSchema>)]
    pub drink: Option<DrinkOrder>,
    pub barista_user_id: Option<String>,
    #[schema(value_type = Option<CancelReasonSchema>)]
    pub cancel_reason: Option<&'static str>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Where an order is in its lifecycle (schema of `OrderState`'s names).
#[derive(ToSchema)]
#[schema(as = OrderState, rename_all = "snake_case")]
pub enum StateSchema {
    Created,
    Submitted,
    Queued,
    Preparing,
    Completed,
    Cancelled,
}

/// Why an order was cancelled (schema of `CancelReason`'s names).
#[derive(ToSchema)]
#[schema(as = CancelReason, rename_all = "snake_case")]
pub enum CancelReasonSchema {
    Customer,
    Barista,
    CustomerTimeout,
    BaristaTimeout,
    Expired,
    WorkflowEnded,
}

/// The drink of an order, as validated against the menu (schema of `DrinkOrder`).
#[derive(ToSchema)]
#[schema(as = Drink)]
#[expect(dead_code, reason = "documents the serde shape of `DrinkOrder`")]
pub struct DrinkSchema {
    #[schema(example = "Latte")]
    name: String,
    #[schema(example = json!(["Oat"]))]
    modifiers: Vec<String>,
    icon: Option<String>,
}

/// A drink submission: `{"drink": "Latte", "modifiers": ["Oat"], "icon": "..."}` (schema of
/// `DrinkSubmission`). The drink must be on the menu and available; each modifier an option of
/// one of its groups, at most one per group.
#[derive(ToSchema)]
#[schema(as = DrinkSubmission)]
#[expect(dead_code, reason = "documents the serde shape of `DrinkSubmission`")]
pub struct DrinkSubmissionSchema {
    #[schema(example = "Latte")]
    drink: String,
    #[schema(example = json!(["Oat"]), required = false)]
    modifiers: Vec<String>,
    #[schema(required = false)]
    icon: Option<String>,
}

/// A coffee event's menu (schema of `Menu`).
#[derive(ToSchema)]
#[schema(as = Menu)]
#[expect(dead_code, reason = "documents the serde shape of `Menu`")]
pub struct MenuSchema {
    drinks: Vec<MenuDrinkSchema>,
}

/// One drink of a menu.
#[derive(ToSchema)]
#[schema(as = MenuDrink)]
#[expect(dead_code, reason = "documents the serde shape of `MenuDrink`")]
pub struct MenuDrinkSchema {
    #[schema(example = "Latte")]
    name: String,
    /// Default `true`.
    #[schema(required = false, default = true)]
    available: bool,
    #[schema(required = false)]
    icon: Option<String>,
    #[schema(required = false)]
    modifiers: Vec<ModifierGroupSchema>,
}

/// A group of options of which a drink takes at most one.
#[derive(ToSchema)]
#[schema(as = ModifierGroup)]
#[expect(dead_code, reason = "documents the serde shape of `ModifierGroup`")]
pub struct ModifierGroupSchema {
    #[schema(example = "Milk")]
    name: String,
    #[schema(example = json!(["Regular", "Oat"]))]
    options: Vec<String>,
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

/// A page of orders.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderList)]
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = IngestResult)]
pub struct IngestView {
    #[schema(value_type = OutcomeSchema)]
    pub outcome: Outcome,
    /// The order the event was about (absent for an unknown detail-type).
    #[schema(value_type = Option<String>)]
    pub order_id: Option<OrderId>,
}

/// What ingesting an event did: `applied`, `duplicate` (seen before), `stale` (the order has
/// moved past it) or `ignored` (not ours).
#[derive(ToSchema)]
#[schema(as = IngestOutcome, rename_all = "snake_case")]
pub enum OutcomeSchema {
    Applied,
    Duplicate,
    Stale,
    Ignored,
}

/// `{"status": "ok"}` / `{"status": "ready"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `202` of `POST /v1/orders`: the order's id, before the workflow announced it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedView {
    pub order_id: String,
}
