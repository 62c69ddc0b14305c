//! `GET /v1/shop` and `PUT /v1/shop`: a coffee event's shop settings, which the workflow
//! checks before it starts an order.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::ids::EventId;
use crate::domain::shop::{MAX_LIMIT, ShopSettings};
use crate::inbound::http::AppState;
use crate::inbound::http::auth::{Barista, Caller};
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::{EventParams, Json, Query};
use crate::inbound::http::openapi::{EventReadErrors, EventWriteErrors};

/// A coffee event's shop settings, as a barista sets them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ShopSettings)]
pub struct ShopBody {
    /// Whether the shop takes orders.
    pub open: bool,
    /// The most open orders (not yet completed or cancelled) of the event at once.
    #[schema(minimum = 1, maximum = 100_000, example = 20)]
    pub max_orders_in_queue: u32,
    /// The most open orders of one customer at the event at once.
    #[schema(minimum = 1, maximum = 100_000, example = 1)]
    pub max_orders_per_user: u32,
}

/// A coffee event's shop settings.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Shop)]
pub struct ShopView {
    pub event_id: String,
    pub open: bool,
    #[schema(minimum = 1, maximum = 100_000)]
    pub max_orders_in_queue: u32,
    #[schema(minimum = 1, maximum = 100_000)]
    pub max_orders_per_user: u32,
}

impl ShopView {
    pub(crate) fn of(event: &EventId, shop: ShopSettings) -> Self {
        ShopView {
            event_id: event.to_string(),
            open: shop.open,
            max_orders_in_queue: shop.max_orders_in_queue,
            max_orders_per_user: shop.max_orders_per_user,
        }
    }
}

const _: () = assert!(MAX_LIMIT == 100_000, "the schema's maximum is the domain's");

/// `GET /v1/shop`: whether the shop is open, and its limits (the configured defaults until a
/// barista sets them).
#[utoipa::path(
    get,
    path = "/v1/shop",
    tag = "shop",
    params(EventParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event's shop settings", body = ShopView),
        EventReadErrors,
    )
)]
pub async fn get_shop(
    State(state): State<AppState>,
    _caller: Caller,
    Query(params): Query<EventParams>,
) -> Result<Json<ShopView>, ApiError> {
    let event = params.event(&state)?;
    let shop = state.service.shop(&event).await?;
    Ok(Json(ShopView::of(&event, shop)))
}

/// `PUT /v1/shop`: a barista opens or closes the shop, or changes its limits. Orders already
/// open stay open; the settings apply to the next start.
#[utoipa::path(
    put,
    path = "/v1/shop",
    tag = "shop",
    params(EventParams),
    request_body = ShopBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings as stored", body = ShopView),
        EventWriteErrors,
    )
)]
pub async fn put_shop(
    State(state): State<AppState>,
    _barista: Barista,
    Query(params): Query<EventParams>,
    Json(body): Json<ShopBody>,
) -> Result<Json<ShopView>, ApiError> {
    let event = params.event(&state)?;
    let shop = ShopSettings {
        open: body.open,
        max_orders_in_queue: body.max_orders_in_queue,
        max_orders_per_user: body.max_orders_per_user,
    };
    let stored = state.service.put_shop(&event, shop).await?;
    Ok(Json(ShopView::of(&event, stored)))
}
