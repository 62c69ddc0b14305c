//! The original Lambda API's routes, each a thin translation onto the same service calls the
//! `/v1` handlers make.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::views::{
    CompatOrder, CompatOrderDetail, CompatOrderDetailResult, CompatOrderList, CompatOrderResult,
    CompatState, CompatSubmission,
};
use crate::domain::lifecycle::Actor;
use crate::domain::menu::DrinkSubmission;
use crate::domain::service::Transition;
use crate::inbound::http::AppState;
use crate::inbound::http::auth::{Barista, Caller, Customer};
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::{CompatOrderIdPath, OrderIdPath, Query};
use crate::inbound::http::openapi::TransitionErrors;
use crate::inbound::http::openapi::{
    BadRequest, COMPAT_TAG, Conflict, Forbidden, Gone, Internal, NotFound, PayloadTooLarge,
    Unauthorized, Unavailable, Unprocessable,
};
use crate::inbound::http::views::transition;

use crate::inbound::http::extract::Json;
type TransitionResult = Result<axum::response::Response, ApiError>;

/// The originals' default (and this service's largest) page.
const MAX_ITEMS: u32 = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `CREATED` (the barista queue: every order with an order number that is not done),
    /// `COMPLETED` or `CANCELLED` (newest first).
    state: CompatState,
    /// At most this many (default and ceiling 100; larger values are taken as 100).
    #[serde(rename = "maxItems")]
    #[param(minimum = 1)]
    max_items: Option<u32>,
}

/// `GET /orders?state=CREATED|COMPLETED|CANCELLED[&maxItems=N]` (barista and display apps):
/// the coffee event's orders in that state, as the original's DynamoDB items.
#[utoipa::path(
    get,
    path = "/orders",
    tag = COMPAT_TAG,
    operation_id = "compat_list_orders",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"result\": [orders]}`", body = CompatOrderList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list_orders(
    State(state): State<AppState>,
    _barista: Barista,
    Query(params): Query<ListParams>,
) -> Result<Json<CompatOrderList>, ApiError> {
    let limit = match params.max_items {
        Some(0) => return Err(ApiError::invalid_query("maxItems must be at least 1")),
        Some(n) => n.min(MAX_ITEMS),
        None => MAX_ITEMS,
    };
    let event = state.service.config().default_event.clone();
    let page = state
        .service
        .list_orders(&event, params.state.listed(), limit as usize, None)
        .await?;
    Ok(Json(CompatOrderList {
        result: page.orders.iter().map(CompatOrder::from).collect(),
    }))
}

/// `GET /myOrders` (order app): the caller's orders (the newest 100), as the original's items.
#[utoipa::path(
    get,
    path = "/myOrders",
    tag = COMPAT_TAG,
    operation_id = "compat_list_my_orders",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"result\": [orders]}`", body = CompatOrderList),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list_my_orders(
    State(state): State<AppState>,
    Customer(user): Customer,
) -> Result<Json<CompatOrderList>, ApiError> {
    let page = state
        .service
        .list_my_orders(&user, MAX_ITEMS as usize, None)
        .await?;
    Ok(Json(CompatOrderList {
        result: page.orders.iter().map(CompatOrder::from).collect(),
    }))
}

/// `GET /orders/{id}`: one order, to its owner or a barista (`404` to anyone else).
#[utoipa::path(
    get,
    path = "/orders/{id}",
    tag = COMPAT_TAG,
    operation_id = "compat_get_order",
    params(CompatOrderIdPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"result\": {orderId, drinkOrder, orderState, TS}}`",
            body = CompatOrderDetailResult),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    OrderIdPath(id): OrderIdPath,
) -> Result<Json<CompatOrderDetailResult>, ApiError> {
    let order = state.service.get_order(&actor, &id).await?;
    Ok(Json(CompatOrderDetailResult {
        result: CompatOrderDetail::from(&order),
    }))
}

/// The barista actions of the REST variant's `PUT /orders/{id}?action=`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Make,
    Unmake,
    Complete,
    Cancel,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PutParams {
    /// A barista action (the later REST variant of the original API); without one, the
    /// customer submits the drink in the body.
    #[param(inline)]
    action: Option<Action>,
}

/// The body of a submission; JSON whatever the content type says, as the original took it.
fn submission(body: &[u8]) -> Result<DrinkSubmission, ApiError> {
    let s: CompatSubmission = serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        let detail = format!("expected {{\"drink\", \"modifiers\", \"icon\"}}: {e}");
        match e.classify() {
            Category::Data => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", detail)
            }
            _ => ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", detail),
        }
    })?;
    Ok(DrinkSubmission {
        drink: s.drink,
        modifiers: s.modifiers,
        icon: s.icon,
    })
}

fn body_error(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the body is too large",
        )
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", r.body_text())
    }
}

fn for_baristas() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "this action is for baristas",
    )
}

/// A barista's action, or a customer's cancel of their own order.
async fn act(
    state: &AppState,
    actor: &Actor,
    id: &crate::domain::ids::OrderId,
    action: Action,
) -> Result<Transition, ApiError> {
    let service = &state.service;
    let barista = match (actor, action) {
        (_, Action::Cancel) => return Ok(service.cancel(actor, id).await?),
        (Actor::Barista(b), _) => b,
        (Actor::Customer(_), _) => return Err(for_baristas()),
    };
    Ok(match action {
        Action::Make => service.claim(barista, id).await?,
        Action::Unmake => service.unclaim(barista, id).await?,
        Action::Complete => service.complete(barista, id).await?,
        Action::Cancel => unreachable!("answered above"),
    })
}

/// `200 {"result": order}`, or `202` when the callback waits in the outbox.
fn answer(t: Transition) -> TransitionResult {
    Ok(transition(t, |o| CompatOrderResult {
        result: CompatOrder::from(&o),
    }))
}

/// `PUT /orders/{id}`: the order app submits the drink (`{"drink", "modifiers", "icon",
/// "userId"}`; `userId` is ignored, the token's `sub` decides), or, with `?action=`, a barista
/// makes, unmakes, completes or cancels the order (no body needed).
#[utoipa::path(
    put,
    path = "/orders/{id}",
    tag = COMPAT_TAG,
    operation_id = "compat_put_order",
    params(CompatOrderIdPath, PutParams),
    request_body(content = Option<CompatSubmission>,
        description = "The drink (without `action`); ignored with `action`"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"result\": order}`", body = CompatOrderResult),
        (status = 202, description = "`{\"result\": order}`; the workflow will be told (the callback waits in the outbox)", body = CompatOrderResult),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 410, response = Gone),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn put_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    OrderIdPath(id): OrderIdPath,
    Query(params): Query<PutParams>,
    body: Result<Bytes, BytesRejection>,
) -> TransitionResult {
    answer(match params.action {
        None => {
            let submission = submission(&body.map_err(body_error)?)?;
            let user = match &actor {
                Actor::Customer(u) | Actor::Barista(u) => u,
            };
            state.service.submit_drink(user, &id, &submission).await?
        }
        Some(action) => act(&state, &actor, &id, action).await?,
    })
}

/// `PUT /orders/complete/{id}` (barista app): done; resumes the workflow.
#[utoipa::path(
    put,
    path = "/orders/complete/{id}",
    tag = COMPAT_TAG,
    operation_id = "compat_complete_order",
    params(CompatOrderIdPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"result\": order}`", body = CompatOrderResult),
        (status = 202, description = "`{\"result\": order}`; the workflow will be told (the callback waits in the outbox)", body = CompatOrderResult),
        TransitionErrors,
    )
)]
pub async fn complete_order(
    State(state): State<AppState>,
    Barista(barista): Barista,
    OrderIdPath(id): OrderIdPath,
) -> TransitionResult {
    answer(act(&state, &Actor::Barista(barista), &id, Action::Complete).await?)
}

/// `PUT /orders/cancel/{id}` (barista and order apps): cancels; releases the workflow. A
/// customer may cancel their own order until a barista claims it.
#[utoipa::path(
    put,
    path = "/orders/cancel/{id}",
    tag = COMPAT_TAG,
    operation_id = "compat_cancel_order",
    params(CompatOrderIdPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"result\": order}`", body = CompatOrderResult),
        (status = 202, description = "`{\"result\": order}`; the workflow will be told (the callback waits in the outbox)", body = CompatOrderResult),
        TransitionErrors,
    )
)]
pub async fn cancel_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    OrderIdPath(id): OrderIdPath,
) -> TransitionResult {
    answer(act(&state, &actor, &id, Action::Cancel).await?)
}

/// `make` (the default, as in the original) or `unmake`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClaimAction {
    Make,
    Unmake,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClaimParams {
    /// `make` (default) or `unmake`.
    #[param(inline)]
    action: Option<ClaimAction>,
}

/// `PUT /orders/claim/{id}?action=make|unmake` (barista app): start making it, or put it back.
#[utoipa::path(
    put,
    path = "/orders/claim/{id}",
    tag = COMPAT_TAG,
    operation_id = "compat_claim_order",
    params(CompatOrderIdPath, ClaimParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"result\": order}`", body = CompatOrderResult),
        (status = 202, description = "`{\"result\": order}`; the workflow will be told (the callback waits in the outbox)", body = CompatOrderResult),
        TransitionErrors,
    )
)]
pub async fn claim_order(
    State(state): State<AppState>,
    Barista(barista): Barista,
    OrderIdPath(id): OrderIdPath,
    Query(params): Query<ClaimParams>,
) -> TransitionResult {
    let action = match params.action {
        None | Some(ClaimAction::Make) => Action::Make,
        Some(ClaimAction::Unmake) => Action::Unmake,
    };
    answer(act(&state, &Actor::Barista(barista), &id, action).await?)
}
