//! One change, applied as one `TransactWriteItems` (the contract of `OrderStore::apply`):
//! the guarded order write, its change-log entry, its callbacks, the settling of consumed
//! tokens, its notices and the envelope-id record. Either all of it is written or none.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use rand::Rng;

use super::DynamoStore;
use super::attrs::{Item, b, expiry, micros, n, s};
use super::errors::{self, Cancelled, Role};
use super::history;
use super::items;
use super::keys;
use super::stats;
use crate::domain::ids::EnvelopeId;
use crate::domain::lifecycle::Change;
use crate::domain::ports::{Applied, StoreError};

/// DynamoDB's limit on the items of one transaction.
const MAX_ITEMS: usize = 100;
/// Attempts at a transaction that was cancelled only because of throttling.
const THROTTLED_ATTEMPTS: u32 = 3;
/// No attempt at a transaction starts later than this after `apply` was called (the service
/// stamps a change just before it applies it).
const LATE_START: Duration = Duration::from_secs(5);
/// How late a change-log entry can become visible after its number (its time stamp): the
/// latest start of an attempt, plus the client's operation time-out (10 s, `client_from_env`),
/// plus a margin for the index to catch up and for clocks of replicas that disagree.
pub(super) const CHANGE_LAG: Duration = Duration::from_secs(20);

fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    values: Vec<(&str, AttributeValue)>,
) -> Result<TransactWriteItem, StoreError> {
    let mut p = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string));
    if condition.is_some_and(|c| c.contains("#version")) {
        p = p.expression_attribute_names("#version", "version");
    }
    for (k, v) in values {
        p = p.expression_attribute_values(k, v);
    }
    let p = p
        .build()
        .map_err(|e| StoreError::Internal(format!("cannot build a put: {e}")))?;
    Ok(TransactWriteItem::builder().put(p).build())
}

/// The items of a change's transaction.
pub(super) struct Transaction {
    pub writes: Vec<TransactWriteItem>,
    /// The role of each item, to read the cancellation reasons.
    pub roles: Vec<Role>,
    /// The ids of the change's callbacks, in order.
    pub callbacks: Vec<i64>,
}

/// Builds the transaction of `change`.
pub(super) fn transaction(
    table: &str,
    shards: u32,
    change: &Change,
    envelope: Option<&EnvelopeId>,
    lease_until: i64,
) -> Result<Transaction, StoreError> {
    let o = &change.order;
    let now = micros(o.updated_at);
    let seq = u64::try_from(now).unwrap_or(0);
    let mut writes = Vec::new();
    let mut roles = Vec::new();

    let order = items::order_item(o, shards);
    writes.push(match change.expected_version {
        None => put(table, order, Some("attribute_not_exists(PK)"), vec![])?,
        Some(v) => put(
            table,
            order,
            Some("#version = :expected"),
            vec![(":expected", n(v))],
        )?,
    });
    roles.push(Role::Order);

    writes.push(put(
        table,
        items::change_item(o, seq, shards)?,
        None,
        vec![],
    )?);
    roles.push(Role::Other);
    writes.push(put(table, history::item(change)?, None, vec![])?);
    roles.push(Role::Other);
    if let Some(served) = &change.served {
        for write in stats::writes(table, o, served)? {
            writes.push(write);
            roles.push(Role::Other);
        }
    }

    let settles: HashSet<i64> = change
        .settles
        .iter()
        .map(|t| keys::callback_id(&t.digest()))
        .collect();
    let mut ids = Vec::with_capacity(change.callbacks.len());
    for cb in &change.callbacks {
        let id = keys::callback_id(&cb.token.digest());
        if ids.contains(&id) {
            // Two callbacks on one token: the second would use it twice.
            return Err(StoreError::Conflict);
        }
        let mut item = items::callback_item(cb, id, lease_until, now, shards)?;
        if settles.contains(&id) {
            // Recorded and settled by the same change: never to be sent.
            settle_in_place(&mut item, now);
        }
        writes.push(put(table, item, Some("attribute_not_exists(PK)"), vec![])?);
        roles.push(Role::Callback);
        ids.push(id);
    }

    // A settle is an unconditional update: whether the callback is pending, already finished
    // or gone, it cannot cancel the transaction (a condition could, and the transition must
    // not fail because a callback finished meanwhile). It marks the entry settled, takes it
    // out of the due index and erases its token; claims and finishes skip settled entries.
    // On an entry that does not exist it leaves a settled tombstone under the token's key,
    // which keeps that (consumed) token from ever being recorded again.
    for id in settles.iter().filter(|id| !ids.contains(id)) {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(items::callback_key(*id)))
            .update_expression("SET settled_at = :now, #exp = :exp REMOVE #token, due_pk, due_sk")
            .expression_attribute_names("#exp", keys::EXPIRES_AT)
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":exp", expiry(now))
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build a settle: {e}")))?;
        writes.push(TransactWriteItem::builder().update(update).build());
        roles.push(Role::Other);
    }

    for (position, notice) in change.notices.iter().enumerate() {
        let id = keys::notice_id(o.id.as_str(), o.version, position);
        let item = items::notice_item(notice, id, &o.id, now, shards)?;
        // Guarded only against an id collision (then a conflict, and decided again).
        writes.push(put(table, item, Some("attribute_not_exists(PK)"), vec![])?);
        roles.push(Role::Other);
    }

    if let Some(env) = envelope {
        let item = items::envelope_item(env.as_str(), &o.id, now);
        writes.push(put(table, item, Some("attribute_not_exists(PK)"), vec![])?);
        roles.push(Role::Envelope);
    }
    if writes.len() > MAX_ITEMS {
        return Err(StoreError::Internal(format!(
            "a change of {} items exceeds DynamoDB's {MAX_ITEMS} per transaction",
            writes.len()
        )));
    }
    Ok(Transaction {
        writes,
        roles,
        callbacks: ids,
    })
}

fn settle_in_place(item: &mut Item, now: i64) {
    for k in ["token", keys::DUE_PK, keys::DUE_SK] {
        item.remove(k);
    }
    item.insert("in_flight".into(), b(false));
    item.insert("settled_at".into(), n(now));
    item.insert("status".into(), s("delivered"));
    item.insert(keys::EXPIRES_AT.into(), expiry(now));
}

pub(super) async fn apply(
    store: &DynamoStore,
    change: &Change,
    envelope: Option<&EnvelopeId>,
    lease_until: DateTime<Utc>,
) -> Result<Applied, StoreError> {
    let Transaction {
        writes,
        roles,
        callbacks,
    } = transaction(
        &store.table,
        store.shards,
        change,
        envelope,
        micros(lease_until),
    )?;
    let seq = u64::try_from(micros(change.order.updated_at)).unwrap_or(0);
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        // The change's number is its time stamp: a transaction attempted late would make its
        // entry visible later than the change log's readers look back (`CHANGE_LAG`).
        if started.elapsed() > LATE_START {
            return Err(StoreError::Unavailable(format!(
                "DynamoDB transaction not committed within {}s",
                LATE_START.as_secs()
            )));
        }
        // The SDK's own retries (a lost answer, a time-out) reuse the token, so a retry of a
        // transaction that did commit succeeds instead of failing its own conditions.
        let sent = store
            .client
            .transact_write_items()
            .set_transact_items(Some(writes.clone()))
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .send()
            .await;
        let e = match sent {
            Ok(_) => return Ok(Applied { callbacks, seq }),
            Err(e) => e,
        };
        let outcome = match &e {
            SdkError::ServiceError(se) => match se.err() {
                TransactWriteItemsError::TransactionCanceledException(t) => Some(
                    errors::cancelled(t.cancellation_reasons(), t.message(), &roles),
                ),
                _ => None,
            },
            _ => None,
        };
        match outcome {
            Some(Cancelled::Fail(err)) => return Err(err),
            Some(Cancelled::Throttled(msg)) if attempt >= THROTTLED_ATTEMPTS => {
                return Err(StoreError::Unavailable(msg));
            }
            Some(Cancelled::Throttled(msg)) => {
                let base = 50u64 << (attempt - 1);
                let wait = rand::rng().random_range(base / 2..=base);
                tracing::debug!(%msg, wait_ms = wait, "transaction throttled; retrying");
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            None => return Err(errors::sdk("TransactWriteItems", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::history::Cause;
    use crate::domain::ids::{EventId, OrderId, TaskToken, UserId};
    use crate::domain::lifecycle::{Callback, CallbackAction};
    use crate::domain::notices::{Notice, NoticeKind};
    use crate::domain::order::{Order, OrderState, now};

    fn order() -> Order {
        Order {
            id: OrderId::parse("o-1").unwrap(),
            event_id: EventId::parse("NYC").unwrap(),
            user_id: UserId::parse("alice").unwrap(),
            state: OrderState::Submitted,
            order_number: None,
            drink: None,
            barista_user_id: None,
            cancel_reason: None,
            start_token: Some(TaskToken::parse("token-1").unwrap()),
            completion_token: None,
            execution_arn: None,
            workflow_finished_at: None,
            version: 2,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn callback(token: &str) -> Callback {
        Callback {
            order_id: OrderId::parse("o-1").unwrap(),
            token: TaskToken::parse(token).unwrap(),
            action: CallbackAction::Resume {
                output: serde_json::json!({}),
            },
            expires_order: true,
        }
    }

    #[test]
    fn a_change_is_one_transaction_with_a_role_per_item() {
        let change = Change {
            order: order(),
            expected_version: Some(1),
            callbacks: vec![callback("token-1")],
            notices: vec![Notice {
                kind: NoticeKind::WaitingCompletion,
                detail: serde_json::json!({}),
            }],
            settles: vec![TaskToken::parse("token-0").unwrap()],
            cause: Cause::Timeout,
            served: None,
        };
        let env = EnvelopeId::parse("env-1").unwrap();
        let Transaction {
            writes,
            roles,
            callbacks: ids,
        } = transaction("t", 8, &change, Some(&env), 5).unwrap();
        assert_eq!(
            roles,
            [
                Role::Order,
                Role::Other,
                Role::Other,
                Role::Callback,
                Role::Other,
                Role::Other,
                Role::Envelope
            ]
        );
        assert_eq!(writes.len(), roles.len());
        assert_eq!(
            ids,
            [keys::callback_id(&change.callbacks[0].token.digest())]
        );
        let guard = writes[0].put.as_ref().unwrap();
        assert_eq!(guard.condition_expression(), Some("#version = :expected"));
        let history = writes[2].put.as_ref().unwrap().item();
        assert_eq!(
            history.get(keys::SK),
            Some(&AttributeValue::S(format!(
                "HIST#{:020}",
                change.order.version
            )))
        );
        assert!(
            writes[4]
                .update
                .as_ref()
                .unwrap()
                .condition_expression()
                .is_none()
        );
    }

    #[test]
    fn one_token_twice_in_a_change_is_a_conflict() {
        let change = Change {
            order: order(),
            expected_version: None,
            callbacks: vec![callback("t"), callback("t")],
            notices: vec![],
            settles: vec![],
            cause: Cause::Timeout,
            served: None,
        };
        assert!(matches!(
            transaction("t", 8, &change, None, 5),
            Err(StoreError::Conflict)
        ));
    }

    #[test]
    fn a_callback_settled_by_its_own_change_is_never_due() {
        let change = Change {
            order: order(),
            expected_version: None,
            callbacks: vec![callback("t")],
            notices: vec![],
            settles: vec![TaskToken::parse("t").unwrap()],
            cause: Cause::Timeout,
            served: None,
        };
        let Transaction { writes, roles, .. } = transaction("t", 8, &change, None, 5).unwrap();
        assert_eq!(roles.len(), 4, "no separate settle for it");
        let item = writes[3].put.as_ref().unwrap().item();
        assert!(!item.contains_key(keys::DUE_PK) && !item.contains_key("token"));
    }
}
