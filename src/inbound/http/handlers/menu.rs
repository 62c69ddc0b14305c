//! `GET /v1/menu` and `PUT /v1/menu`.

use crate::domain::menu::Menu;
use crate::inbound::http::AppState;
use crate::inbound::http::auth::{Barista, Caller};
use crate::inbound::http::compat::menu::menu_from_body;
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::{EventParams, Json, Query};
use crate::inbound::http::openapi::{EventReadErrors, EventWriteErrors};
use crate::inbound::http::views::MenuSchema;
use axum::extract::State;

/// `GET /v1/menu`: the menu drinks are validated against (a default one until a barista
/// replaces it).
#[utoipa::path(
    get,
    path = "/v1/menu",
    tag = "menu",
    params(EventParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event's menu", body = MenuSchema),
        EventReadErrors,
    )
)]
pub async fn get_menu(
    State(state): State<AppState>,
    _caller: Caller,
    Query(params): Query<EventParams>,
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
    params(EventParams),
    request_body = MenuSchema,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The menu as stored", body = MenuSchema),
        EventWriteErrors,
    )
)]
pub async fn put_menu(
    State(state): State<AppState>,
    _barista: Barista,
    Query(params): Query<EventParams>,
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
