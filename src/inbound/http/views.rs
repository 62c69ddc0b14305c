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

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
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

/// The answer to a transition: `200` with the order, or `202 Accepted` with it when the
/// change is recorded but its callback waits in the outbox (it will be delivered: a client
/// must not repeat the request).
pub fn transition<V: Serialize>(
    t: crate::domain::service::Transition,
    view: impl FnOnce(Order) -> V,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = if t.callback_pending {
        axum::http::StatusCode::ACCEPTED
    } else {
        axum::http::StatusCode::OK
    };
    (status, crate::inbound::http::extract::Json(view(t.order))).into_response()
}

impl From<Order> for OrderView {
    fn from(o: Order) -> Self {
        OrderView::from(&o)
    }
}

// The schema of a page; the answer itself is an `OrderListBody`.
/// A page of orders.
#[derive(ToSchema)]
#[schema(as = OrderList)]
#[expect(dead_code, reason = "documents the shape of `OrderListBody`")]
pub struct OrderListView {
    orders: Vec<OrderView>,
    next_cursor: Option<String>,
}

/// A page of orders as answered: serialized straight from the orders, without copying a
/// field into an [`OrderView`] first (a page is the answer the apps poll most).
pub struct OrderListBody(pub OrderPage);

impl From<OrderPage> for OrderListBody {
    fn from(p: OrderPage) -> Self {
        OrderListBody(p)
    }
}

impl Serialize for OrderListBody {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut page = s.serialize_struct("OrderList", 2)?;
        page.serialize_field(
            "orders",
            &self.0.orders.iter().map(OrderRef::from).collect::<Vec<_>>(),
        )?;
        page.serialize_field(
            "next_cursor",
            &self.0.next_cursor.as_ref().map(|k| k.encode()),
        )?;
        page.end()
    }
}

/// [`OrderView`] borrowed from the order: the same JSON (`order_ref_is_order_view`).
#[derive(Serialize)]
struct OrderRef<'a> {
    order_id: &'a str,
    event_id: &'a str,
    user_id: &'a str,
    state: &'static str,
    order_number: Option<u32>,
    drink: Option<&'a DrinkOrder>,
    barista_user_id: Option<&'a str>,
    cancel_reason: Option<&'static str>,
    created_at: Rfc3339,
    updated_at: Rfc3339,
}

impl<'a> From<&'a Order> for OrderRef<'a> {
    fn from(o: &'a Order) -> Self {
        OrderRef {
            order_id: o.id.as_str(),
            event_id: o.event_id.as_str(),
            user_id: o.user_id.as_str(),
            state: o.state.as_str(),
            order_number: o.order_number.map(|n| n.get()),
            drink: o.drink.as_ref(),
            barista_user_id: o.barista_user_id.as_ref().map(|b| b.as_str()),
            cancel_reason: o.cancel_reason.map(|r| r.as_str()),
            created_at: Rfc3339(o.created_at),
            updated_at: Rfc3339(o.updated_at),
        }
    }
}

/// A time as [`rfc3339`] writes it, put together on the stack (`chrono`'s `format` parses its
/// pattern on every call: it was a sixth of the list benchmark's CPU).
struct Rfc3339(DateTime<Utc>);

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use chrono::{Datelike, Timelike};
        let t = &self.0;
        let (year, nanos) = (t.year(), t.nanosecond());
        // Years of other than four digits, and leap seconds, the slow way.
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return s.serialize_str(&rfc3339(*t));
        }
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut n: u32| {
            for digit in text[at..at + width].iter_mut().rev() {
                *digit = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, year as u32);
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        put(20, 6, nanos / 1000);
        s.serialize_str(std::str::from_utf8(&text).expect("ASCII digits and separators"))
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

/// What ingesting an event did: `applied`, `duplicate` (this envelope was delivered before,
/// or the same content), `stale` (the order has moved past it), `ignored` (not ours) or
/// `deferred` (its order's start has not arrived: kept, and applied when it does).
#[derive(ToSchema)]
#[schema(as = IngestOutcome, rename_all = "snake_case")]
pub enum OutcomeSchema {
    Applied,
    Duplicate,
    Stale,
    Ignored,
    Deferred,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::{CancelReason, OrderState, fixtures};
    use chrono::TimeZone;

    #[test]
    fn order_ref_is_order_view() {
        let bare = fixtures::order("o-1", "alice", OrderState::Created);
        let mut full = fixtures::order("o-2", "bob", OrderState::Cancelled);
        full.order_number = Some(crate::domain::ids::OrderNumber::new(42).unwrap());
        full.drink = Some(DrinkOrder {
            name: "Latte \"large\"".into(),
            modifiers: vec!["Oat".into()],
            icon: Some("☕".into()),
        });
        full.barista_user_id = Some(crate::domain::ids::UserId::parse("barista-1").unwrap());
        full.cancel_reason = Some(CancelReason::Barista);
        // Whole seconds and a year with fewer digits print as `rfc3339` prints them, too.
        full.created_at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        full.updated_at = Utc.with_ymd_and_hms(999, 12, 31, 23, 59, 59).unwrap();
        let mut far = full.clone();
        far.created_at = Utc.with_ymd_and_hms(12345, 6, 7, 8, 9, 10).unwrap()
            + chrono::Duration::microseconds(123_456);
        far.updated_at = Utc.with_ymd_and_hms(-44, 3, 15, 12, 0, 0).unwrap();
        for o in [&bare, &full, &far] {
            assert_eq!(
                serde_json::to_value(OrderRef::from(o)).unwrap(),
                serde_json::to_value(OrderView::from(o)).unwrap()
            );
        }
        let page = OrderListBody(OrderPage {
            orders: vec![bare.clone(), full.clone()],
            next_cursor: Some(crate::domain::list::SortKey::of(&full)),
        });
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(
            json["orders"][1],
            serde_json::to_value(OrderView::from(&full)).unwrap()
        );
        assert_eq!(
            json["next_cursor"],
            crate::domain::list::SortKey::of(&full).encode()
        );
    }
}
