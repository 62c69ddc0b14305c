//! `GET /v1/menu` and `PUT /v1/menu`.

use axum::extract::State;
use serde::Deserialize;

use crate::domain::ids::EventId;
use crate::domain::menu::Menu;
use crate::inbound::http::AppState;
use crate::inbound::http::auth::{Barista, Caller};
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::{Json, Query};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuParams {
    event_id: Option<String>,
}

impl MenuParams {
    fn event(self, state: &AppState) -> Result<EventId, ApiError> {
        state.event_or_default(self.event_id)
    }
}

pub async fn get_menu(
    State(state): State<AppState>,
    _caller: Caller,
    Query(params): Query<MenuParams>,
) -> Result<axum::Json<Menu>, ApiError> {
    let event = params.event(&state)?;
    Ok(axum::Json(state.service.menu(&event).await?))
}

pub async fn put_menu(
    State(state): State<AppState>,
    _barista: Barista,
    Query(params): Query<MenuParams>,
    Json(menu): Json<Menu>,
) -> Result<axum::Json<Menu>, ApiError> {
    let event = params.event(&state)?;
    Ok(axum::Json(state.service.put_menu(&event, menu).await?))
}
