//! The board at `/`: a page for the shop's baristas and customers, in the browser, over this
//! service's own API. Plain HTML, CSS and two ES modules, embedded in the binary: no build
//! step, nothing fetched from elsewhere, so it works offline. The page never mints tokens: it
//! asks for one (what `order-manager token` prints, or the Cognito pool's) and keeps it in
//! `sessionStorage`. Not part of the OpenAPI document, like `/docs`.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{MethodRouter, get};
use tower_http::set_header::SetResponseHeaderLayer;

/// The board's own policy, stricter than the Swagger UI's: scripts and styles only from files
/// of this service (no inline code, no `eval`), requests only to this service, images only
/// `data:` ones (the page's empty icon). Set on the board's routes only, overriding the
/// site-wide default.
pub const BOARD_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The page and its assets: path, content type, contents.
const FILES: [(&str, &str, &str); 4] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("board/index.html"),
    ),
    (
        "/board/board.css",
        "text/css; charset=utf-8",
        include_str!("board/board.css"),
    ),
    (
        "/board/board.js",
        "text/javascript; charset=utf-8",
        include_str!("board/board.js"),
    ),
    (
        "/board/api.js",
        "text/javascript; charset=utf-8",
        include_str!("board/api.js"),
    ),
];

fn file<S: Clone + Send + Sync + 'static>(
    content_type: &'static str,
    body: &'static str,
) -> MethodRouter<S> {
    get(move || async move { ([(header::CONTENT_TYPE, content_type)], body) })
}

/// `GET /` and `/board/*`, under [`BOARD_CSP`].
pub fn board_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    FILES
        .into_iter()
        .fold(Router::new(), |router, (path, content_type, body)| {
            router.route(path, file(content_type, body))
        })
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(BOARD_CSP),
        ))
}
