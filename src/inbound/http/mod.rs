//! The HTTP edge: routes, auth extractors, the error type and the JSON views.

pub mod auth;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::BoxError;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower::timeout::TimeoutLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

use crate::domain::ids::EventId;
use crate::domain::service::OrderService;
use auth::{Authenticator, IngestAuth};
use error::ApiError;
use handlers::{events, health, menu, orders, stream};

/// The most an API request body may hold.
pub const API_BODY_LIMIT: usize = 64 * 1024;
/// EventBridge events are at most 256 KB.
pub const INGEST_BODY_LIMIT: usize = 256 * 1024;
/// No request may take longer (EventBridge gives the ingest endpoint 5 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: OrderService,
    pub auth: Arc<Authenticator>,
    pub ingest: Arc<IngestAuth>,
    /// How often live streams send a heartbeat.
    pub heartbeat: Duration,
    /// Turns `true` when the server shuts down: live streams end.
    pub closing: watch::Receiver<bool>,
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

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/v1/orders",
            get(orders::list_orders).post(orders::start_order),
        )
        .route("/v1/me/orders", get(orders::list_my_orders))
        .route("/v1/orders/stream", get(stream::stream_orders))
        .route("/v1/orders/{order_id}", get(orders::get_order))
        .route("/v1/orders/{order_id}/drink", put(orders::submit_drink))
        .route("/v1/orders/{order_id}/claim", post(orders::claim_order))
        .route("/v1/orders/{order_id}/unclaim", post(orders::unclaim_order))
        .route(
            "/v1/orders/{order_id}/complete",
            post(orders::complete_order),
        )
        .route("/v1/orders/{order_id}/cancel", post(orders::cancel_order))
        .route("/v1/menu", get(menu::get_menu).put(menu::put_menu))
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT));
    let ingest = Router::new()
        .route("/v1/events", post(events::ingest_event))
        .layer(DefaultBodyLimit::max(INGEST_BODY_LIMIT));
    let ops = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    api.merge(ingest)
        .merge(ops)
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
                .layer(TimeoutLayer::new(REQUEST_TIMEOUT)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        // Failures are logged once by `ApiError`; the trace layer only notes them.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(Level::DEBUG)))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
