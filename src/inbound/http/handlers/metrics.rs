//! `GET /metrics`: the Prometheus text format (see `crate::telemetry` for what is in it).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::domain::service::ServiceError;
use crate::inbound::http::AppState;
use crate::telemetry;

/// The exposition format's media type.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Metrics for Prometheus: request latency by route and status, ingest outcomes, callbacks
/// and notices by outcome, outbox depth and age, store errors.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    responses((status = 200, description = "The Prometheus text exposition format", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // The outbox gauges are read from the store now; if it does not answer, the rest of the
    // metrics still do (and the failure is counted).
    match state.service.outbox_stats().await {
        Ok(stats) => telemetry::outbox(&stats),
        Err(e) => {
            if let ServiceError::Store(store) = &e {
                telemetry::store_error(store);
            }
            tracing::warn!(error = %e, "metrics: could not read the outbox depth");
        }
    }
    let body = telemetry::prometheus()
        .map(|h| {
            h.run_upkeep();
            h.render()
        })
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], body)
}
