//! Liveness and readiness.

use crate::inbound::http::extract::Json;
use axum::extract::State;

use crate::inbound::http::AppState;
use crate::inbound::http::error::ApiError;
use crate::inbound::http::openapi::{Internal, Unavailable};
use crate::inbound::http::views::HealthView;

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = HealthView))
)]
pub async fn healthz() -> Json<HealthView> {
    Json(HealthView { status: "ok" })
}

/// The process can serve: the store answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = HealthView),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<HealthView>, ApiError> {
    state.service.ready().await?;
    Ok(Json(HealthView { status: "ready" }))
}
