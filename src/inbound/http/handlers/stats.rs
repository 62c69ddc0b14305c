//! `GET /v1/stats`: a coffee event's queue, what it served today and how long customers wait.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ids::EventId;
use crate::domain::lifecycle::Actor;
use crate::domain::stats::{EventStats, WAIT_WINDOW};
use crate::inbound::http::AppState;
use crate::inbound::http::auth::Caller;
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::{EventParams, Json, Query};
use crate::inbound::http::openapi::EventReadErrors;

/// A coffee event's stats. Customers get the queue and the estimate; baristas also what was
/// served and the waits.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Stats)]
pub struct StatsView {
    pub event_id: String,
    /// Orders in the barista's queue now (`queued` or `preparing`).
    pub queue_length: u64,
    /// How long an order placed now may wait, in seconds: the queue ahead of it and itself
    /// at the pace of the recent completions, never less than their average wait; `null`
    /// without recent completions.
    pub estimated_wait_seconds: Option<f64>,
    /// Baristas: orders completed today (UTC), by drink name (`unknown` when the drink was
    /// chosen elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub served: Option<BTreeMap<String, u64>>,
    /// Baristas: the day `served` counts, `YYYY-MM-DD` (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, format = Date)]
    pub day: Option<String>,
    /// Baristas: the waits of the recent completions.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub wait_seconds: Option<WaitView>,
}

/// From a drink's submission to its completion, over the completions of a recent window.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WaitSeconds)]
pub struct WaitView {
    pub average: Option<f64>,
    /// The 90th percentile (nearest rank).
    pub p90: Option<f64>,
    /// How many completions they are of (the newest 1000 at most).
    pub samples: usize,
    /// How far back the window goes.
    pub window_seconds: u64,
}

impl StatsView {
    fn of(event: &EventId, day: NaiveDate, stats: &EventStats, barista: bool) -> Self {
        let waits = stats.waits();
        StatsView {
            event_id: event.to_string(),
            queue_length: stats.queue_length,
            estimated_wait_seconds: stats.estimated_wait(),
            served: barista.then(|| stats.served.clone()),
            day: barista.then(|| day.to_string()),
            wait_seconds: barista.then_some(WaitView {
                average: waits.average,
                p90: waits.p90,
                samples: waits.samples,
                window_seconds: WAIT_WINDOW.as_secs(),
            }),
        }
    }
}

/// `GET /v1/stats`: the event's queue and wait estimate (anyone signed in); what it served
/// today and the recent waits (baristas). Kept in step with the writes: reading them reads a
/// few small records, never the orders.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "shop",
    params(EventParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event's stats", body = StatsView),
        EventReadErrors,
    )
)]
pub async fn get_stats(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(params): Query<EventParams>,
) -> Result<Json<StatsView>, ApiError> {
    let event = params.event(&state)?;
    let (day, stats) = state.service.stats(&event).await?;
    let barista = matches!(actor, Actor::Barista(_));
    Ok(Json(StatsView::of(&event, day, &stats, barista)))
}
