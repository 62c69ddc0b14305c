//! `GET /v1/orders/stream`: order changes as Server-Sent Events.
//!
//! Baristas follow every order of an event, customers their own. Each event's `id` is the
//! change's number in the store's change log, so a client that reconnects with
//! `Last-Event-ID` gets every change it missed while they are still kept (the retention
//! window); if some are gone it first gets a `reset` event (reload the lists). The stream reads
//! from the store, woken by this process's writes and, for writes of other replicas, by a
//! short poll. It also sends the shop settings of its event when they change (`event: shop`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::watch;
use utoipa::IntoParams;

use crate::domain::follow::ChangeFollower;
use crate::domain::ids::EventId;
use crate::domain::lifecycle::Actor;
use crate::domain::ports::ChangeFilter;
use crate::domain::service::OrderService;
use crate::domain::shop::ShopSettings;
use crate::inbound::http::AppState;
use crate::inbound::http::auth::Caller;
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::Query;
use crate::inbound::http::handlers::shop::ShopView;
use crate::inbound::http::openapi::{BadRequest, Internal, Unauthorized, Unavailable};

/// How often a stream looks for changes written by other processes.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// The coffee event (default: the configured one): a barista's stream follows its orders;
    /// every stream sends its shop settings when they change.
    event_id: Option<String>,
    /// For clients that cannot set the `Last-Event-ID` header.
    last_event_id: Option<u64>,
}

struct Cursor {
    follower: ChangeFollower,
    reset: bool,
    changes: watch::Receiver<u64>,
    closing: watch::Receiver<bool>,
    shop: ShopFollower,
}

/// The shop settings of the stream's event, as last sent (or as they were when it began).
/// They are read again when this process changed some shop's settings, and at most once a
/// [`POLL`] otherwise (another replica's change): not on every order change that wakes the
/// stream.
struct ShopFollower {
    service: OrderService,
    event: EventId,
    last: ShopSettings,
    changes: watch::Receiver<u64>,
    /// This process changed some shop's settings since the last read.
    changed: bool,
    read_at: tokio::time::Instant,
}

impl ShopFollower {
    /// `event: shop` with the settings, when they are not what was last sent.
    async fn news(&mut self) -> Option<Event> {
        if !self.changed && self.read_at.elapsed() < POLL {
            return None;
        }
        self.changed = false;
        self.read_at = tokio::time::Instant::now();
        let now = match self.service.shop(&self.event).await {
            Ok(now) => now,
            Err(e) => {
                tracing::warn!(error = %e, "live stream could not read the shop; retrying");
                return None;
            }
        };
        if now == self.last {
            return None;
        }
        self.last = now;
        Event::default()
            .event("shop")
            .json_data(ShopView::of(&self.event, now))
            .ok()
    }
}

fn last_event_id(headers: &HeaderMap, params: &StreamParams) -> Result<Option<u64>, ApiError> {
    match headers.get("last-event-id") {
        None => Ok(params.last_event_id),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid_query("Last-Event-ID must be a change number")),
    }
}

/// `GET /v1/orders/stream`: live order changes as Server-Sent Events (`event: order`, `id` = the
/// change's number, `data` = the order as JSON; `event: reset` when changes were lost; comment
/// heartbeats), and the shop of the event (`event_id`, or the default one) when its settings
/// change (`event: shop`, `data` = the `GET /v1/shop` answer, no `id`). The stream does not end
/// until the client leaves or the server shuts down.
#[utoipa::path(
    get,
    path = "/v1/orders/stream",
    tag = "orders",
    params(
        StreamParams,
        ("last-event-id" = Option<u64>, Header, description = "The last change number seen: resume after it"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn stream_orders(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(params): Query<StreamParams>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let resume_from = last_event_id(&headers, &params)?;
    let event = state.event_or_default(params.event_id)?;
    let filter = match actor {
        Actor::Barista(_) => ChangeFilter::Event(event.clone()),
        Actor::Customer(user) => ChangeFilter::User(user),
    };
    let shop = ShopFollower {
        changes: state.service.watch_shops(),
        last: state.service.shop(&event).await?,
        service: state.service.clone(),
        event,
        changed: false,
        read_at: tokio::time::Instant::now(),
    };
    let changes = state.service.watch_changes();
    let (latest, oldest) = state.service.change_window().await?;
    let (resume, reset) = match resume_from {
        // A new client gets what happens from now on.
        None => (None, false),
        // Not a number of this log (another database): reload, then follow from now.
        Some(id) if id > latest => (None, true),
        // Changes after `id` were pruned: reload, then get what is still kept.
        Some(id) if id + 1 < oldest => (Some(oldest - 1), true),
        Some(id) => (Some(id), false),
    };
    let cursor = Cursor {
        follower: ChangeFollower::new(state.service.clone(), filter, latest, resume),
        reset,
        changes,
        closing: state.closing.clone(),
        shop,
    };
    let stream = futures_util::stream::unfold(cursor, next_event);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(state.heartbeat).text("heartbeat")))
}

async fn next_event(mut c: Cursor) -> Option<(Result<Event, Infallible>, Cursor)> {
    if c.reset {
        c.reset = false;
        let e = Event::default()
            .event("reset")
            .data("some changes are no longer available; reload the order lists");
        return Some((Ok(e), c));
    }
    loop {
        if *c.closing.borrow() {
            return None;
        }
        match c.follower.next().await {
            Ok(Some(change)) => {
                // The id is the follower's position, which only grows: a change that became
                // visible late still gets an id a client can resume from.
                let e = Event::default()
                    .id(c.follower.position().to_string())
                    .event("order")
                    .json_data(&change.order)
                    .unwrap_or_else(|_| Event::default().event("order").data("{}"));
                return Some((Ok(e), c));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "live stream could not read changes; retrying"),
        }
        if let Some(e) = c.shop.news().await {
            return Some((Ok(e), c));
        }
        tokio::select! {
            changed = c.changes.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(POLL).await;
                }
            }
            changed = c.shop.changes.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(POLL).await;
                } else {
                    c.shop.changed = true;
                }
            }
            _ = c.closing.changed() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}
