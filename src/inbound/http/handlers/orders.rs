//! The order routes of the Customer and Barista apps.

use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::list::SortKey;
use crate::domain::menu::DrinkSubmission;
use crate::domain::order::OrderState;
use crate::inbound::http::AppState;
use crate::inbound::http::auth::{Barista, Caller, Customer};
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::{Json, OrderIdPath, Query};
use crate::inbound::http::openapi::TransitionErrors;
use crate::inbound::http::openapi::{
    BadRequest, Conflict, Forbidden, Gone, Internal, NotFound, OrderReadErrors, PayloadTooLarge,
    Unauthorized, Unavailable, Unprocessable, UnsupportedMediaType,
};
use crate::inbound::http::views::DrinkSubmissionSchema;
use crate::inbound::http::views::{
    OrderListBody, OrderListView, OrderView, StartedView, transition,
};

type OrderResult = Result<Json<OrderView>, ApiError>;
type TransitionResult = Result<axum::response::Response, ApiError>;
type ListResult = Result<Json<OrderListBody>, ApiError>;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// `limit` and `cursor`, shared by every list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many orders (1-100, default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl PageParams {
    fn parse(&self) -> Result<(usize, Option<SortKey>), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid_query(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let cursor = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(SortKey::decode(c).ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "invalid_cursor",
                    "the cursor is not one this service issued",
                )
            })?),
        };
        Ok((limit, cursor))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Comma-separated states (`created`, `submitted`, `queued`, `preparing`, `completed`,
    /// `cancelled`); default `queued,preparing` (the barista queue).
    #[param(example = "queued,preparing")]
    state: Option<String>,
    /// The coffee event (default: `OM_DEFAULT_EVENT_ID`).
    event_id: Option<String>,
    /// How many orders (1-100, default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn parse_states(s: Option<&str>) -> Result<Vec<OrderState>, ApiError> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(vec![OrderState::Queued, OrderState::Preparing]);
    };
    let mut states = Vec::new();
    for part in s.split(',') {
        let st: OrderState = part.trim().parse().map_err(ApiError::invalid_query)?;
        if !states.contains(&st) {
            states.push(st);
        }
    }
    Ok(states)
}

/// `GET /v1/orders`: a barista's view of one event's orders by state.
///
/// Oldest first, or newest first when every state asked for is terminal.
#[utoipa::path(
    get,
    path = "/v1/orders",
    tag = "orders",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of orders", body = OrderListView),
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
) -> ListResult {
    let states = parse_states(params.state.as_deref())?;
    let (limit, cursor) = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .parse()?;
    let event = state.event_or_default(params.event_id)?;
    let page = state
        .service
        .list_orders(&event, &states, limit, cursor.as_ref())
        .await?;
    Ok(Json(page.into()))
}

/// The body of `POST /v1/orders`; it may be empty.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartOrder {
    /// The coffee event (default: `OM_DEFAULT_EVENT_ID`).
    event_id: Option<String>,
}

/// How long `POST /v1/orders` waits for the workflow to announce the order.
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `POST /v1/orders`: a customer starts an order (the QR code scan of the original apps).
/// `201` with the order once the workflow announced it, else `202` with its id. The embedded
/// order processor checks the shop first (`GET /v1/shop`): `409` `shop_closed`,
/// `shop_at_capacity` or `order_limit_reached`, and no order is started.
#[utoipa::path(
    post,
    path = "/v1/orders",
    tag = "orders",
    request_body(content = Option<StartOrder>, description = "Optional: the coffee event"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Started; the workflow announced the order", body = OrderView,
            headers(("location" = String, description = "The order's URL"))),
        (status = 202, description = "Started; not announced yet", body = StartedView,
            headers(("location" = String, description = "The order's URL"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn start_order(
    State(state): State<AppState>,
    Customer(user): Customer,
    body: Option<Json<StartOrder>>,
) -> Result<axum::response::Response, ApiError> {
    let Json(body) = body.unwrap_or_default();
    let event = state.event_or_default(body.event_id)?;
    let (id, order) = state.service.start_order(&user, &event, START_WAIT).await?;
    let location = [(axum::http::header::LOCATION, format!("/v1/orders/{id}"))];
    Ok(match order {
        Some(o) => (
            axum::http::StatusCode::CREATED,
            location,
            Json(OrderView::from(o)),
        )
            .into_response(),
        None => (
            axum::http::StatusCode::ACCEPTED,
            location,
            Json(StartedView {
                order_id: id.to_string(),
            }),
        )
            .into_response(),
    })
}

/// `GET /v1/me/orders`: the caller's own orders, newest first.
#[utoipa::path(
    get,
    path = "/v1/me/orders",
    tag = "orders",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the caller's orders", body = OrderListView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list_my_orders(
    State(state): State<AppState>,
    Customer(user): Customer,
    Query(params): Query<PageParams>,
) -> ListResult {
    let (limit, cursor) = params.parse()?;
    let page = state
        .service
        .list_my_orders(&user, limit, cursor.as_ref())
        .await?;
    Ok(Json(page.into()))
}

/// `GET /v1/orders/{order_id}`: the owner's or a barista's view of one order.
#[utoipa::path(
    get,
    path = "/v1/orders/{order_id}",
    tag = "orders",
    params(OrderIdPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order", body = OrderView),
        OrderReadErrors,
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    OrderIdPath(id): OrderIdPath,
) -> OrderResult {
    Ok(Json(state.service.get_order(&actor, &id).await?.into()))
}

/// `PUT /v1/orders/{order_id}/drink`: the customer submits the drink.
#[utoipa::path(
    put,
    path = "/v1/orders/{order_id}/drink",
    tag = "orders",
    params(OrderIdPath),
    request_body = DrinkSubmissionSchema,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Submitted; the workflow is resumed", body = OrderView),
        (status = 202, description = "Submitted; the workflow will be resumed (the callback waits in the outbox)", body = OrderView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 410, response = Gone),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Unprocessable),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn submit_drink(
    State(state): State<AppState>,
    Customer(user): Customer,
    OrderIdPath(id): OrderIdPath,
    Json(submission): Json<DrinkSubmission>,
) -> TransitionResult {
    let t = state.service.submit_drink(&user, &id, &submission).await?;
    Ok(transition(t, OrderView::from))
}

/// `POST /v1/orders/{order_id}/claim`: a barista starts making it.
#[utoipa::path(
    post,
    path = "/v1/orders/{order_id}/claim",
    tag = "orders",
    params(OrderIdPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Claimed (`preparing`)", body = OrderView),
        TransitionErrors,
    )
)]
pub async fn claim_order(
    State(state): State<AppState>,
    Barista(barista): Barista,
    OrderIdPath(id): OrderIdPath,
) -> TransitionResult {
    Ok(transition(
        state.service.claim(&barista, &id).await?,
        OrderView::from,
    ))
}

/// `POST /v1/orders/{order_id}/unclaim`: a barista puts it back in the queue.
#[utoipa::path(
    post,
    path = "/v1/orders/{order_id}/unclaim",
    tag = "orders",
    params(OrderIdPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Back in the queue (`queued`)", body = OrderView),
        TransitionErrors,
    )
)]
pub async fn unclaim_order(
    State(state): State<AppState>,
    Barista(barista): Barista,
    OrderIdPath(id): OrderIdPath,
) -> TransitionResult {
    Ok(transition(
        state.service.unclaim(&barista, &id).await?,
        OrderView::from,
    ))
}

/// `POST /v1/orders/{order_id}/complete`: done; resumes the workflow.
#[utoipa::path(
    post,
    path = "/v1/orders/{order_id}/complete",
    tag = "orders",
    params(OrderIdPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Completed; the workflow is resumed", body = OrderView),
        (status = 202, description = "Completed; the workflow will be resumed (the callback waits in the outbox)", body = OrderView),
        TransitionErrors,
    )
)]
pub async fn complete_order(
    State(state): State<AppState>,
    Barista(barista): Barista,
    OrderIdPath(id): OrderIdPath,
) -> TransitionResult {
    Ok(transition(
        state.service.complete(&barista, &id).await?,
        OrderView::from,
    ))
}

/// `POST /v1/orders/{order_id}/cancel`: a barista, or the owner until a barista claims it.
#[utoipa::path(
    post,
    path = "/v1/orders/{order_id}/cancel",
    tag = "orders",
    params(OrderIdPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled; the workflow is released", body = OrderView),
        (status = 202, description = "Cancelled; the workflow will be released (the callback waits in the outbox)", body = OrderView),
        TransitionErrors,
    )
)]
pub async fn cancel_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    OrderIdPath(id): OrderIdPath,
) -> TransitionResult {
    Ok(transition(
        state.service.cancel(&actor, &id).await?,
        OrderView::from,
    ))
}
