//! Watching requests: each runs in a span carrying its request id (taken from `x-request-id`,
//! or a new UUID; the answer carries it back), so every log line of a request names it; and
//! each is timed into `http_request_duration_seconds` by route template and status.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

use crate::telemetry;

/// The span of one request: its id, method and route template (not the raw path: no ids
/// or query strings in the span).
pub fn request_span(req: &Request) -> Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        route = %route(req),
    )
}

fn route(req: &Request) -> &str {
    req.extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
}

/// Times a request into the latency histogram.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = route(&req).to_string();
    let res = next.run(req).await;
    telemetry::http_request(
        method.as_str(),
        &route,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    res
}
