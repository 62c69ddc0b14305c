//! The outbox: pending callbacks and notices, handed out under a lease and finished.
//!
//! Due entries are found through the sparse `due` index (only pending entries carry its
//! keys), one partition per kind and shard, sorted by next attempt time. The index may lag,
//! so it only proposes: an entry is handed out only if a conditional update on the table
//! itself moves its next attempt time from exactly what was seen to the end of the lease.
//! Two replicas that see the same entry race on that condition, and one of them gets it.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use futures_util::future::join_all;

use super::DynamoStore;
use super::attrs::{Item, PENDING, b, expiry, micros, n, s};
use super::errors;
use super::items::{self, Seen};
use super::keys::{self, Outbox};
use super::query::{self, Bound};
use crate::domain::ports::{
    CallbackResult, NoticeResult, OutboxDepth, PendingCallback, PendingNotice, StoreError,
};

/// The longest error text kept with an entry.
const MAX_ERROR: usize = 1024;

fn clip(mut e: String) -> String {
    if e.len() > MAX_ERROR {
        let mut end = MAX_ERROR;
        while !e.is_char_boundary(end) {
            end -= 1;
        }
        e.truncate(end);
    }
    e
}

/// Up to `limit` pending entries of `outbox` due at `now`, earliest first, as the index
/// has them.
async fn due(
    store: &DynamoStore,
    outbox: Outbox,
    now: i64,
    limit: usize,
) -> Result<Vec<Item>, StoreError> {
    if limit == 0 {
        return Ok(vec![]);
    }
    let pks = (0..store.shards).map(|s| keys::due_pk(outbox, s)).collect();
    let until = Bound::Before(keys::due_until(now));
    query::query_merged(store, query::DUE, pks, until, true, limit).await
}

/// How many entries of `outbox` the due index holds, and the earliest next attempt: per
/// shard, a count (paged) and the first entry.
pub(super) async fn depth(store: &DynamoStore, outbox: Outbox) -> Result<OutboxDepth, StoreError> {
    let shards = (0..store.shards).map(|shard| async move {
        let pk = keys::due_pk(outbox, shard);
        let pending = query::count(store, query::DUE, &pk).await?;
        let first = store
            .client
            .query()
            .table_name(&store.table)
            .index_name(keys::DUE)
            .key_condition_expression("due_pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .limit(1)
            .send()
            .await
            .map_err(|e| errors::sdk("Query", e))?;
        let next_due = match first.items.unwrap_or_default().first() {
            Some(item) => Some(super::attrs::time(item, "next_attempt_at")?),
            None => None,
        };
        Ok::<_, StoreError>(OutboxDepth { pending, next_due })
    });
    let mut total = OutboxDepth::default();
    for shard in join_all(shards).await {
        let shard = shard?;
        total.pending += shard.pending;
        total.next_due = match (total.next_due, shard.next_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(total)
}

/// One conditional update; `Ok(false)` when its condition failed (someone else was first),
/// or when a transaction was writing the same entry: the only transactions that touch an
/// existing outbox entry settle it, after which neither a claim nor a finish applies.
async fn update_if(
    store: &DynamoStore,
    key: Item,
    update: &str,
    condition: &str,
    names: &[(&str, &str)],
    values: Vec<(&str, AttributeValue)>,
) -> Result<bool, StoreError> {
    let mut u = store
        .client
        .update_item()
        .table_name(&store.table)
        .set_key(Some(key))
        .update_expression(update)
        .condition_expression(condition);
    for (k, v) in names {
        u = u.expression_attribute_names(*k, *v);
    }
    for (k, v) in values {
        u = u.expression_attribute_values(k, v);
    }
    match u.send().await {
        Ok(_) => Ok(true),
        Err(e) if errors::is_condition_failed(&e) || errors::is_transaction_conflict(&e) => {
            Ok(false)
        }
        Err(e) => Err(errors::sdk("UpdateItem", e)),
    }
}

/// The claims that went through; an error only if none did and one failed.
fn claimed<T>(results: Vec<Result<Option<T>, StoreError>>) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    let mut error = None;
    for r in results {
        match r {
            Ok(Some(t)) => out.push(t),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not claim an outbox entry");
                error.get_or_insert(e);
            }
        }
    }
    match error {
        Some(e) if out.is_empty() => Err(e),
        _ => Ok(out),
    }
}

/// Reads a due entry; an unreadable one is logged and left alone (it must not stop the
/// dispatcher from delivering the others).
fn readable<T>(what: &str, r: Result<T, StoreError>) -> Option<T> {
    r.map_err(|e| tracing::error!(error = %e, "skipping an unreadable {what}"))
        .ok()
}

pub(super) async fn claim_callbacks(
    store: &DynamoStore,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<PendingCallback>, StoreError> {
    let lease_until = micros(now + lease);
    let now = micros(now);
    let found = due(store, Outbox::Callbacks, now, limit).await?;
    let claims = found
        .iter()
        .filter_map(|item| readable("callback", items::pending_callback(item)))
        .map(|(cb, seen)| claim_callback(store, cb, seen, lease_until));
    claimed(join_all(claims).await)
}

async fn claim_callback(
    store: &DynamoStore,
    cb: PendingCallback,
    seen: Seen,
    lease_until: i64,
) -> Result<Option<PendingCallback>, StoreError> {
    // In flight from here on: if nobody records how this attempt ended, the next claimer
    // knows it may have arrived. An earlier such attempt is remembered for good.
    let won = update_if(
        store,
        items::callback_key(cb.id),
        "SET next_attempt_at = :lease, due_sk = :due, in_flight = :true, outcome_unknown = :unknown",
        "#status = :pending AND attribute_not_exists(settled_at) \
         AND next_attempt_at = :seen_next AND attempts = :seen_attempts AND in_flight = :seen_in_flight",
        &[("#status", "status")],
        vec![
            (":lease", n(lease_until)),
            (":due", s(keys::due_sort(lease_until, cb.id))),
            (":true", b(true)),
            (":unknown", b(cb.outcome_unknown)),
            (":pending", s(PENDING)),
            (":seen_next", n(seen.next_attempt_at)),
            (":seen_attempts", n(seen.attempts)),
            (":seen_in_flight", b(seen.in_flight)),
        ],
    )
    .await?;
    Ok(won.then_some(cb))
}

pub(super) async fn finish_callback(
    store: &DynamoStore,
    id: i64,
    result: CallbackResult,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = micros(now);
    let mut values = vec![
        (":pending", s(PENDING)),
        (":one", n(1)),
        (":false", b(false)),
        (":now", n(now)),
    ];
    let mut names = vec![("#status", "status")];
    let update = match result {
        CallbackResult::Delivered | CallbackResult::Rejected { .. } => {
            let (status, error) = match result {
                CallbackResult::Rejected { error } => ("rejected", Some(error)),
                _ => ("delivered", None),
            };
            values.push((":status", s(status)));
            values.push((":exp", expiry(now)));
            names.extend([("#exp", keys::EXPIRES_AT), ("#token", "token")]);
            // A finished callback keeps its key (the token stays used) but not its token.
            match error {
                Some(error) => {
                    values.push((":error", s(clip(error))));
                    "SET #status = :status, attempts = attempts + :one, in_flight = :false, \
                     updated_at = :now, next_attempt_at = :now, #exp = :exp, last_error = :error \
                     REMOVE #token, due_pk, due_sk"
                }
                None => {
                    "SET #status = :status, attempts = attempts + :one, in_flight = :false, \
                     updated_at = :now, next_attempt_at = :now, #exp = :exp \
                     REMOVE #token, due_pk, due_sk, last_error"
                }
            }
        }
        CallbackResult::Retry {
            error,
            next_attempt_at,
            outcome_unknown,
        } => {
            let next = micros(next_attempt_at);
            values.push((":error", s(clip(error))));
            values.push((":next", n(next)));
            values.push((":due", s(keys::due_sort(next, id))));
            if outcome_unknown {
                values.push((":true", b(true)));
                "SET attempts = attempts + :one, in_flight = :false, updated_at = :now, \
                 last_error = :error, next_attempt_at = :next, due_sk = :due, outcome_unknown = :true"
            } else {
                "SET attempts = attempts + :one, in_flight = :false, updated_at = :now, \
                 last_error = :error, next_attempt_at = :next, due_sk = :due"
            }
        }
    };
    // Only a pending, unsettled callback is finished; anything else (finished by another
    // replica, settled, gone) is left as it is.
    update_if(
        store,
        items::callback_key(id),
        update,
        "#status = :pending AND attribute_not_exists(settled_at)",
        &names,
        values,
    )
    .await
    .map(|_| ())
}

pub(super) async fn claim_notices(
    store: &DynamoStore,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<PendingNotice>, StoreError> {
    let lease_until = micros(now + lease);
    let now = micros(now);
    let found = due(store, Outbox::Notices, now, limit).await?;
    let claims = found
        .iter()
        .filter_map(|item| readable("notice", items::pending_notice(item)))
        .map(|(notice, seen)| claim_notice(store, notice, seen, lease_until));
    claimed(join_all(claims).await)
}

async fn claim_notice(
    store: &DynamoStore,
    notice: PendingNotice,
    seen: Seen,
    lease_until: i64,
) -> Result<Option<PendingNotice>, StoreError> {
    let won = update_if(
        store,
        items::notice_key(notice.id),
        "SET next_attempt_at = :lease, due_sk = :due",
        "#status = :pending AND next_attempt_at = :seen_next AND attempts = :seen_attempts",
        &[("#status", "status")],
        vec![
            (":lease", n(lease_until)),
            (":due", s(keys::due_sort(lease_until, notice.id))),
            (":pending", s(PENDING)),
            (":seen_next", n(seen.next_attempt_at)),
            (":seen_attempts", n(seen.attempts)),
        ],
    )
    .await?;
    Ok(won.then_some(notice))
}

pub(super) async fn finish_notice(
    store: &DynamoStore,
    id: i64,
    result: NoticeResult,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = micros(now);
    let mut values = vec![(":pending", s(PENDING)), (":one", n(1)), (":now", n(now))];
    let mut names = vec![("#status", "status")];
    let update = match result {
        NoticeResult::Published => {
            values.extend([(":status", s("published")), (":exp", expiry(now))]);
            names.push(("#exp", keys::EXPIRES_AT));
            "SET #status = :status, attempts = attempts + :one, updated_at = :now, \
             next_attempt_at = :now, #exp = :exp REMOVE due_pk, due_sk, last_error"
        }
        NoticeResult::Dropped { error } => {
            values.extend([
                (":status", s("dropped")),
                (":exp", expiry(now)),
                (":error", s(clip(error))),
            ]);
            names.push(("#exp", keys::EXPIRES_AT));
            "SET #status = :status, attempts = attempts + :one, updated_at = :now, \
             next_attempt_at = :now, #exp = :exp, last_error = :error REMOVE due_pk, due_sk"
        }
        NoticeResult::Retry {
            error,
            next_attempt_at,
        } => {
            let next = micros(next_attempt_at);
            values.extend([
                (":error", s(clip(error))),
                (":next", n(next)),
                (":due", s(keys::due_sort(next, id))),
            ]);
            "SET attempts = attempts + :one, updated_at = :now, last_error = :error, \
             next_attempt_at = :next, due_sk = :due"
        }
    };
    update_if(
        store,
        items::notice_key(id),
        update,
        "#status = :pending",
        &names,
        values,
    )
    .await
    .map(|_| ())
}
