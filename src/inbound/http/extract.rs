//! Extractors whose rejections are [`ApiError`]s, and validated path parameters.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;

use super::error::ApiError;
use crate::domain::ids::OrderId;

/// `axum::Json` with problem+json rejections; as an answer, see [`super::json`].
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Default> Default for Json<T> {
    fn default() -> Self {
        Json(T::default())
    }
}

/// An optional JSON body: absent (no body, no content type) is `None`; present but bad is
/// refused as [`Json`] refuses it.
impl<T, S> axum::extract::OptionalFromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let empty = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_none()
            && req
                .headers()
                .get(axum::http::header::CONTENT_LENGTH)
                .is_none_or(|l| l == "0");
        if empty {
            return Ok(None);
        }
        <Json<T> as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

/// `axum::extract::Query` with problem+json rejections.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The order id of a route's path (`{order_id}` on `/v1`, `{id}` on the compat routes),
/// validated; in the OpenAPI document, `params(OrderIdPath)` on `/v1` and
/// `params(CompatOrderIdPath)` on the compat routes.
#[derive(Debug)]
pub struct OrderIdPath(pub OrderId);

impl utoipa::IntoParams for OrderIdPath {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![super::openapi::order_id_param(
            "order_id",
            "The order's id (from the workflow)",
        )]
    }
}

/// How the compat routes' `{id}` is documented (extracted as an [`OrderIdPath`]).
pub struct CompatOrderIdPath;

impl utoipa::IntoParams for CompatOrderIdPath {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![super::openapi::order_id_param("id", "The order id")]
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OrderIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state).await?;
        OrderId::parse(raw)
            .map(OrderIdPath)
            .map_err(ApiError::invalid_id)
    }
}

/// The `?event_id=` of a route about one coffee event (its menu, its shop).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// The coffee event (default: `OM_DEFAULT_EVENT_ID`).
    event_id: Option<String>,
}

impl EventParams {
    /// The event named, or the default one.
    pub fn event(self, state: &super::AppState) -> Result<crate::domain::ids::EventId, ApiError> {
        state.event_or_default(self.event_id)
    }
}
