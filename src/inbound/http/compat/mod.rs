//! Drop-in routes for the open-source Serverlesspresso front-ends (`OM_COMPAT=serverlesspresso`,
//! the default): the barista, order and display apps call the original Lambda API's paths and
//! read its shapes, so they run against this service unchanged.
//!
//! - `handlers`: the routes, each a translation onto the same service calls as `/v1`.
//! - `views`: the original bodies (`{"result": ...}`, the DynamoDB item names).
//! - `menu`: the config service's menu format, which `PUT /v1/menu` also takes.
//!
//! Where the originals answered `200` for a failure (or crashed), these routes answer an honest
//! 4xx: the usual problem+json body, plus `"result": null` so that code reading `data.result`
//! finds the field it expects. CORS comes from the service-wide layer (`OM_CORS_ORIGINS`); a
//! plain `OPTIONS` (not a CORS preflight) is answered `204` with `Allow`.

pub mod config;
pub mod handlers;
pub mod menu;
pub mod views;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, options};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

/// The compatibility routes, documented under the `serverlesspresso-compat` tag.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_orders))
        .routes(routes!(handlers::get_order, handlers::put_order))
        .routes(routes!(handlers::list_my_orders))
        .routes(routes!(handlers::complete_order))
        .routes(routes!(handlers::cancel_order))
        .routes(routes!(handlers::claim_order))
        .routes(routes!(config::put_store))
        .routes(routes!(config::get_config))
        .route("/orders", allow("GET, OPTIONS"))
        .route("/orders/{id}", allow("GET, PUT, OPTIONS"))
        .route("/myOrders", allow("GET, OPTIONS"))
        .route("/orders/complete/{id}", allow("PUT, OPTIONS"))
        .route("/orders/cancel/{id}", allow("PUT, OPTIONS"))
        .route("/orders/claim/{id}", allow("PUT, OPTIONS"))
        .route("/store", allow("PUT, OPTIONS"))
        .route("/config", allow("GET, OPTIONS"))
        .layer(map_response(with_result_field))
}

/// `OPTIONS`: `204` with the methods the path takes.
fn allow(methods: &'static str) -> MethodRouter<AppState> {
    options(move || async move {
        (
            StatusCode::NO_CONTENT,
            [(header::ALLOW, HeaderValue::from_static(methods))],
        )
    })
}

/// The largest error body this rewrites (problem bodies are far smaller).
const MAX_PROBLEM: usize = 16 * 1024;

/// Adds `"result": null` to problem+json bodies, whichever extractor or handler refused.
async fn with_result_field(res: Response) -> Response {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PROBLEM).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.insert("result".into(), serde_json::Value::Null);
            parts.headers.remove(header::CONTENT_LENGTH);
            Body::from(serde_json::Value::Object(m).to_string())
        }
        _ => Body::from(bytes),
    };
    Response::from_parts(parts, body)
}
