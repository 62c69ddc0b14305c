//! The one error type of the HTTP edge: every failure, from a JSON rejection to a store
//! outage, leaves as `application/problem+json` (RFC 9457) with a stable machine `code`.
//! 5xx details are logged here, once, and hidden from the caller.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ids::InvalidId;
use crate::domain::lifecycle::LifecycleError;
use crate::domain::ports::StoreError;
use crate::domain::service::ServiceError;

/// The body of every error (RFC 9457 problem details), served as `application/problem+json`.
/// On the Serverlesspresso-compatible routes it also carries `"result": null`, the shape those
/// apps read.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDetails {
    /// `urn:order-manager:problem:<code>`.
    #[schema(example = "urn:order-manager:problem:order_not_found")]
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    #[schema(example = "Not Found")]
    pub title: String,
    #[schema(example = 404)]
    pub status: u16,
    /// Stable machine code, e.g. `order_not_found`, `order_state_conflict`, `invalid_drink`.
    #[schema(example = "order_not_found")]
    pub code: String,
    /// What went wrong, for people; never a secret or an internal detail.
    #[schema(example = "no such order")]
    pub detail: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    /// Shown to the caller: never a secret, never an internal detail.
    pub detail: String,
    /// What went wrong inside, for the log only (5xx).
    pub internal: Option<String>,
    pub retry_after_secs: Option<u32>,
    /// Adds `WWW-Authenticate: Bearer` (401 on JWT routes).
    pub bearer_challenge: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        let mut detail: String = detail.into();
        if detail.len() > 400 {
            let mut end = 400;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
        }
        Self {
            status,
            code,
            detail,
            internal: None,
            retry_after_secs: None,
            bearer_challenge: false,
        }
    }

    /// A failure inside the service: `internal` is logged, the caller sees `detail`.
    pub fn internal(mut self, internal: impl Into<String>) -> Self {
        self.internal = Some(internal.into());
        self
    }

    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "order_not_found", "no such order")
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, code, detail);
        e.bearer_challenge = true;
        e
    }

    pub fn invalid_id(e: InvalidId) -> Self {
        let code = match e.what {
            "order id" => "invalid_order_id",
            "event id" => "invalid_event_id",
            _ => "invalid_request",
        };
        Self::new(StatusCode::BAD_REQUEST, code, e.to_string())
    }

    pub fn invalid_query(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Logged once, here, at the boundary.
        if self.status.is_server_error() {
            let cause = self.internal.as_deref().unwrap_or(&self.detail);
            tracing::error!(status = self.status.as_u16(), code = self.code, %cause, "request failed");
        } else {
            tracing::debug!(status = self.status.as_u16(), code = self.code, detail = %self.detail, "request refused");
        }
        let body = ProblemDetails {
            kind: format!("urn:order-manager:problem:{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            code: self.code.to_string(),
            detail: self.detail.clone(),
        };
        let mut res = (self.status, super::extract::Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after_secs {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.bearer_challenge {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use StatusCode as S;
        match e {
            ServiceError::Lifecycle(LifecycleError::NotFound) => Self::not_found(),
            ServiceError::Lifecycle(e @ LifecycleError::StateConflict { .. }) => {
                Self::new(S::CONFLICT, "order_state_conflict", e.to_string())
            }
            ServiceError::Lifecycle(e @ LifecycleError::ClaimedByAnother) => {
                Self::new(S::CONFLICT, "order_claimed", e.to_string())
            }
            ServiceError::Expired => Self::new(S::GONE, "order_expired", e.to_string()),
            ServiceError::InvalidDrink(m) => {
                Self::new(S::UNPROCESSABLE_ENTITY, "invalid_drink", m.0)
            }
            ServiceError::InvalidMenu(m) => Self::new(S::UNPROCESSABLE_ENTITY, "invalid_menu", m.0),
            ServiceError::Lifecycle(e @ LifecycleError::Expired) => {
                Self::new(S::GONE, "order_expired", e.to_string())
            }
            ServiceError::Contended => Self::new(
                S::SERVICE_UNAVAILABLE,
                "order_contended",
                "too many concurrent changes to this order; try again",
            )
            .retry_after(1),
            ServiceError::NoOrderProcessor => Self::new(
                S::NOT_FOUND,
                "order_processor_not_configured",
                "this service does not start orders: no order processor is configured (OM_ORDER_PROCESSOR_ARN)",
            ),
            ServiceError::ProcessorUnavailable(m) => Self::new(
                S::SERVICE_UNAVAILABLE,
                "workflow_unavailable",
                "the order processor is unavailable; try again",
            )
            .internal(m)
            .retry_after(1),
            ServiceError::ShopRefused(r) => Self::new(S::CONFLICT, r.code(), r.to_string()),
            ServiceError::InvalidShop(m) => Self::new(S::UNPROCESSABLE_ENTITY, "invalid_shop", m.0),
            ServiceError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        crate::telemetry::store_error(&e);
        match e {
            StoreError::Unavailable(detail) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the order store is unavailable; try again",
            )
            .internal(detail)
            .retry_after(1),
            StoreError::Conflict | StoreError::DuplicateEvent => Self::new(
                StatusCode::CONFLICT,
                "order_state_conflict",
                "the order changed meanwhile",
            ),
            StoreError::Internal(detail) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; it has been logged",
            )
            .internal(detail),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        use StatusCode as S;
        match r {
            JsonRejection::MissingJsonContentType(_) => Self::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with `Content-Type: application/json`",
            ),
            JsonRejection::JsonSyntaxError(e) => {
                Self::new(S::BAD_REQUEST, "malformed_json", e.body_text())
            }
            JsonRejection::JsonDataError(e) => {
                Self::new(S::UNPROCESSABLE_ENTITY, "invalid_body", e.body_text())
            }
            JsonRejection::BytesRejection(e) if e.status() == S::PAYLOAD_TOO_LARGE => Self::new(
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is too large",
            ),
            other => Self::new(other.status(), "invalid_body", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::invalid_query(r.body_text())
    }
}
