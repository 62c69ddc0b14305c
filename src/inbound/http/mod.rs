//! The HTTP edge: routes, auth extractors, the error type and the JSON views.

pub mod auth;
pub mod board;
pub mod compat;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod hardening;
pub mod json;
pub mod observe;
pub mod openapi;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::BoxError;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower::timeout::TimeoutLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::CompatMode;
use crate::domain::ids::EventId;
use crate::domain::service::OrderService;
use auth::{Authenticator, IngestAuth};
use error::ApiError;
use handlers::{events, health, history, menu, metrics, orders, shop, stats, stream};

/// The most an API request body may hold.
pub const API_BODY_LIMIT: usize = 64 * 1024;
/// EventBridge events are at most 256 KB.
pub const INGEST_BODY_LIMIT: usize = 256 * 1024;

/// What every handler can reach: cloned for every request (each `State` extractor takes a
/// copy), so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The handles behind [`AppState`].
pub struct Shared {
    pub service: OrderService,
    pub auth: Arc<Authenticator>,
    pub ingest: Arc<IngestAuth>,
    /// How often live streams send a heartbeat.
    pub heartbeat: Duration,
    /// Turns `true` when the server shuts down: live streams end.
    pub closing: watch::Receiver<bool>,
    /// No request may take longer (`OM_REQUEST_TIMEOUT`): it answers 503 `request_timeout`.
    pub request_timeout: Duration,
}

impl AppState {
    /// The `event_id` a request names, or the default one.
    pub fn event_or_default(&self, raw: Option<String>) -> Result<EventId, ApiError> {
        match raw {
            None => Ok(self.service.config().default_event.clone()),
            Some(e) => EventId::parse(e).map_err(ApiError::invalid_id),
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// Every route and its OpenAPI operation: `/v1`, ingest, ops and, with
/// `OM_COMPAT=serverlesspresso`, the routes of the original apps.
pub fn api_routes(compat: CompatMode) -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(orders::list_orders, orders::start_order))
        .routes(routes!(orders::list_my_orders))
        .routes(routes!(stream::stream_orders))
        .routes(routes!(orders::get_order))
        .routes(routes!(history::order_history))
        .routes(routes!(orders::submit_drink))
        .routes(routes!(orders::claim_order))
        .routes(routes!(orders::unclaim_order))
        .routes(routes!(orders::complete_order))
        .routes(routes!(orders::cancel_order))
        .routes(routes!(menu::get_menu, menu::put_menu))
        .routes(routes!(shop::get_shop, shop::put_shop))
        .routes(routes!(stats::get_stats));
    let api = match compat {
        CompatMode::Serverlesspresso => api.merge(compat::routes()),
        CompatMode::None => api,
    }
    .layer(DefaultBodyLimit::max(API_BODY_LIMIT));
    let ingest = OpenApiRouter::new()
        .routes(routes!(events::ingest_event))
        .layer(DefaultBodyLimit::max(INGEST_BODY_LIMIT));
    let ops = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::metrics));
    api.merge(ingest).merge(ops)
}

/// The OpenAPI document of the routes served with `compat`.
pub fn openapi_document(compat: CompatMode) -> utoipa::openapi::OpenApi {
    api_routes(compat).split_for_parts().1
}

/// The whole HTTP surface.
pub fn router(state: AppState, compat: CompatMode) -> Router {
    let timeout = state.request_timeout;
    let (api, doc) = api_routes(compat).split_for_parts();
    api.merge(openapi::docs_router(doc))
        .merge(board::board_router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // tower's time-out rather than tower-http's, so that a request that took too long
        // answers problem+json like every other failure.
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: BoxError| async {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "request_timeout",
                        "the request took too long; try again",
                    )
                    .retry_after(1)
                }))
                .layer(TimeoutLayer::new(timeout)),
        )
        // Router layers run per route, after routing: they see the route template.
        .layer(axum::middleware::from_fn(observe::track))
        .layer(PropagateRequestIdLayer::x_request_id())
        // Failures are logged once by `ApiError`; the trace layer only notes them.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(observe::request_span)
                .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
