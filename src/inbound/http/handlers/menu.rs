//! `GET /v1/menu` and `PUT /v1/menu`.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::ids::EventId;
use crate::domain::menu::Menu;
use crate::inbound::http::AppState;
use crate::inbound::http::auth::{Barista, Caller};
use crate::inbound::http::compat::menu::menu_from_body;
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::{Json, Query};
use crate::inbound::http::openapi::{
    BadRequest, Forbidden, Internal, PayloadTooLarge, Unauthorized, Unavailable, Unprocessable,
    UnsupportedMediaType,
};
use crate::inbound::http::views::MenuSchema;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MenuParams {
    /// The coffee event (default: `OM_DEFAULT_EVENT_ID`).
    event_id: Option<String>,
}

impl MenuParams {
    fn event(self, state: &AppState) -> Result<EventId, ApiError> {
        state.event_or_default(self.event_id)
    }
}

/// `GET /v1/menu`: the menu drinks are validated against (a default one until a barista
/// replaces it).
#[utoipa::path(
    get,
    path = "/v1/menu",
    tag = "menu",
    params(MenuParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event's menu", body = MenuSchema),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn get_menu(
    State(state): State<AppState>,
    _caller: Caller,
    Query(params): Query<MenuParams>,
) -> Result<Json<Menu>, ApiError> {
    let event = params.event(&state)?;
    Ok(Json(Menu::clone(&*state.service.menu(&event).await?)))
}

/// `PUT /v1/menu`: a barista replaces the event's menu.
///
/// The body is `{"drinks": [...]}`, or
/// the Serverlesspresso config service's menu (`[{"drink", "icon", "available",
/// "modifiers": [{"Name", "Options"}]}]`, alone, as its `menu` item's `value`, or as a
/// `config-<event>` item's `menu`); the answer is the menu as stored, in this service's format.
#[utoipa::path(
    put,
    path = "/v1/menu",
    tag = "menu",
    params(MenuParams),
    request_body = MenuSchema,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The menu as stored", body = MenuSchema),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn put_menu(
    State(state): State<AppState>,
    _barista: Barista,
    Query(params): Query<MenuParams>,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<Menu>, ApiError> {
    let event = params.event(&state)?;
    let menu = menu_from_body(body).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            e,
        )
    })?;
    Ok(Json(state.service.put_menu(&event, menu).await?))
}
