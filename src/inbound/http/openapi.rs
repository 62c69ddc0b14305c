//! The OpenAPI document: [`ApiDoc`] holds what no handler declares (info, tags, security
//! schemes, the shared error responses); every route adds its own operation through
//! `utoipa_axum::routes!` in [`super::api_routes`], so the document is built from the router
//! that serves and cannot list a route that does not exist. Served at `/openapi.json`, browsable
//! at `/docs` (Swagger UI, vendored: it works offline), printed by `order-manager openapi`, and
//! committed as `openapi/openapi.json` (a test fails when that file drifts from the code).
//!
//! Every error is `application/problem+json` ([`ProblemDetails`]); the responses below name each
//! status once, and each operation lists the ones it can answer.

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Required, Response};
use utoipa::{Modify, OpenApi, ToResponse};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::error::ProblemDetails;

/// The tag of the routes the original Serverlesspresso apps call.
pub const COMPAT_TAG: &str = "serverlesspresso-compat";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "order-manager",
        description = "The Order Manager of a Serverlesspresso-style coffee shop: the order list, \
            the workflow's task tokens and its callbacks. Errors are `application/problem+json` \
            (RFC 9457) with a stable machine `code`."
    ),
    modifiers(&SecuritySchemes),
    components(
        schemas(ProblemDetails),
        responses(
            BadRequest,
            Unauthorized,
            IngestUnauthorized,
            Forbidden,
            NotFound,
            Conflict,
            Gone,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unprocessable,
            Internal,
            Unavailable
        )
    ),
    tags(
        (name = "orders", description = "The orders of the Customer and Barista apps (`/v1`)."),
        (name = "menu", description = "The menu drinks are validated against."),
        (name = "shop", description = "Open or closed, and how many orders the shop takes."),
        (name = "events", description = "The EventBridge API destination: the workflow's events."),
        (name = "ops", description = "Liveness, readiness, this document."),
        (name = "serverlesspresso-compat", description = "Drop-in routes for the open-source \
            Serverlesspresso barista, order and display apps (`OM_COMPAT=serverlesspresso`, the \
            default): the original Lambda API's paths and shapes. Open states show as `CREATED`; \
            `TS` is epoch milliseconds. Failures are honest 4xx problem+json bodies that also \
            carry `\"result\": null`."),
    )
)]
pub struct ApiDoc;

/// `bearer` (the JWT of the apps), `ingestApiKey` and `ingestBasic` (the API destination's
/// connection: an API key header, or HTTP Basic).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".into());
        bearer.description = Some(
            "A JWT (Cognito or the local HS256 issuer); identity = `sub`, barista = a group of \
             `OM_BARISTA_GROUPS` in `cognito:groups`."
                .into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "ingestApiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "The EventBridge connection's API key (`OM_INGEST_API_KEY`; the header name is \
                 `OM_INGEST_API_KEY_HEADER`, default `x-api-key`).",
            ))),
        );
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description =
            Some("The EventBridge connection's Basic credentials, as an alternative.".into());
        components.add_security_scheme("ingestBasic", SecurityScheme::Http(basic));
    }
}

/// The request is malformed: a bad id, query, cursor or JSON syntax (`malformed_json`,
/// `invalid_order_id`, `invalid_event_id`, `invalid_query`, `invalid_cursor`, `invalid_path`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub ProblemDetails);

/// No valid bearer token (`missing_token`, `invalid_token`); with `WWW-Authenticate: Bearer`.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("www-authenticate" = String, description = "`Bearer`"))
)]
pub struct Unauthorized(pub ProblemDetails);

/// No valid ingest credentials (`missing_api_key`, `invalid_api_key`, `ingest_not_configured`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct IngestUnauthorized(pub ProblemDetails);

/// Signed in, but not allowed: the action is for baristas (`forbidden`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(pub ProblemDetails);

/// No such order, or not one the caller may see (`order_not_found`; `order_processor_not_configured`
/// for `POST /v1/orders` without an order processor).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(pub ProblemDetails);

/// The order is not in a state that allows this, or another caller won the race
/// (`order_state_conflict`, `order_claimed`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(pub ProblemDetails);

/// The workflow's wait is over: the order expired and is cancelled (`order_expired`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Gone(pub ProblemDetails);

/// The body is larger than the route takes (`payload_too_large`: 64 KiB, 256 KiB on ingest).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub ProblemDetails);

/// The body is not sent as JSON (`unsupported_media_type`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(pub ProblemDetails);

/// Well-formed, but not acceptable (`invalid_body`, `invalid_drink`, `invalid_menu`,
/// `invalid_event`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unprocessable(pub ProblemDetails);

/// An internal error; the detail is logged, not shown (`internal`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Internal(pub ProblemDetails);

/// Try again later (`store_unavailable`, `workflow_unavailable`, `order_contended`,
/// `request_timeout`); with `Retry-After`.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("retry-after" = u32, description = "Seconds to wait before trying again"))
)]
pub struct Unavailable(pub ProblemDetails);

/// The error answers of an order transition (claim, unclaim, complete, cancel, on both APIs),
/// described once: `responses((status = 200, ...), TransitionErrors)`.
pub struct TransitionErrors;

impl utoipa::IntoResponses for TransitionErrors {
    fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
        by_name(&[
            ("400", "BadRequest"),
            ("401", "Unauthorized"),
            ("403", "Forbidden"),
            ("404", "NotFound"),
            ("409", "Conflict"),
            ("410", "Gone"),
            ("500", "Internal"),
            ("503", "Unavailable"),
        ])
    }
}

/// The error answers of a read of one order (the order, its history), described once.
pub struct OrderReadErrors;

impl utoipa::IntoResponses for OrderReadErrors {
    fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
        by_name(&[
            ("400", "BadRequest"),
            ("401", "Unauthorized"),
            ("404", "NotFound"),
            ("500", "Internal"),
            ("503", "Unavailable"),
        ])
    }
}

/// The error answers of a read of one coffee event's settings (its menu, its shop).
pub struct EventReadErrors;

impl utoipa::IntoResponses for EventReadErrors {
    fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
        by_name(&[
            ("400", "BadRequest"),
            ("401", "Unauthorized"),
            ("500", "Internal"),
            ("503", "Unavailable"),
        ])
    }
}

/// The error answers of a barista's replacement of one coffee event's settings (its menu,
/// its shop).
pub struct EventWriteErrors;

impl utoipa::IntoResponses for EventWriteErrors {
    fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
        by_name(&[
            ("400", "BadRequest"),
            ("401", "Unauthorized"),
            ("403", "Forbidden"),
            ("413", "PayloadTooLarge"),
            ("415", "UnsupportedMediaType"),
            ("422", "Unprocessable"),
            ("500", "Internal"),
            ("503", "Unavailable"),
        ])
    }
}

/// Answers by status, each a reference to the shared response of that name.
fn by_name(answers: &[(&str, &str)]) -> std::collections::BTreeMap<String, RefOr<Response>> {
    answers
        .iter()
        .map(|(status, name)| ((*status).to_owned(), Ref::from_response_name(*name).into()))
        .collect()
}

/// The order id of a route's path, as the document describes it: the parameter `name` (`order_id`
/// on `/v1`, `id` on the compat routes), validated as [`crate::domain::ids::OrderId`] is.
pub fn order_id_param(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(ORDER_ID_PATTERN)),
        ))
        .build()
}

/// What an order id may be (see [`crate::domain::ids::OrderId`]).
const ORDER_ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,80}$";

/// The Swagger UI page's own policy: its scripts and styles come from this service (vendored);
/// Swagger UI styles elements inline and draws icons as `data:` images. Set on the `/docs`
/// routes only, overriding any site-wide default.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `/openapi.json` and the Swagger UI at `/docs`.
pub fn docs_router<S: Clone + Send + Sync + 'static>(doc: utoipa::openapi::OpenApi) -> Router<S> {
    // No online validator badge: the page stays offline.
    let config = Config::from("/openapi.json").validator_url("none");
    let ui = SwaggerUi::new("/docs")
        .url("/openapi.json", doc)
        .config(config);
    Router::from(ui).layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    ))
}

/// The document as pretty JSON with a final newline: what `order-manager openapi` prints and
/// `openapi/openapi.json` holds. Every object's keys are sorted, so the output is the same
/// whichever way `serde_json` keeps maps in this build (`preserve_order` or not).
pub fn to_pretty_json(doc: &utoipa::openapi::OpenApi) -> String {
    let value = serde_json::to_value(doc)
        .map(sorted)
        .and_then(|v| serde_json::to_string_pretty(&v));
    let mut s =
        value.unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize the document: {e}\"}}"));
    s.push('\n');
    s
}

fn sorted(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}
