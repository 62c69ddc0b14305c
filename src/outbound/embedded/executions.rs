//! The executions' state machine, one transaction per step. Each function runs inside the
//! writer's transaction: its state change and the events it emits commit together.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, params};

use super::emission::{Emission, emit};
use crate::domain::ids::{EventId, OrderId, TaskToken, UserId};
use crate::domain::order::now;
use crate::domain::ports::{CallbackError, StartError, StoreError};
use crate::domain::shop::ShopSettings;
use crate::outbound::database::sqlite_error as map_err;

/// A fresh opaque task token for `order`'s execution: 384 random bits, led by the order's
/// id, by which the execution waiting on it is found (`waiting_on`). Found through an index
/// of the tokens instead, every wait rewrote a page of it for the token it left, and one for
/// the token it took (27 % of the pages the processor wrote in the flow's submit step).
/// Order ids hold no '.' (ASCII letters, digits, '-' and '_'), nor does the random part
/// (URL-safe base64).
fn new_token(order: &str) -> String {
    let bytes: [u8; 48] = rand::rng().random();
    format!("{TOKEN_PREFIX}{order}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

const TOKEN_PREFIX: &str = "EMB2.";
/// What tokens issued before led with (`EMB1.<a UUID>.<random>`): they are found through an
/// index that holds only them (`migrations/processor/0002_tokens_led_by_order.sql`).
const LEGACY_PREFIX: &str = "EMB1.";

/// The order id a token of ours leads with.
fn token_order(token: &str) -> Option<&str> {
    let (order, _random) = token.strip_prefix(TOKEN_PREFIX)?.rsplit_once('.')?;
    Some(order)
}

/// What Step Functions answers for a token that is used, expired or unknown.
fn timed_out() -> CallbackError {
    CallbackError::Rejected(
        "TaskTimedOut: the task token is not waiting (used, timed out, or unknown)".into(),
    )
}

/// Starts the execution of `order`; starting it again with the same user and event is a
/// no-op (like `StartExecution` with the same name and input).
pub(super) fn start(
    conn: &Connection,
    order: &OrderId,
    user: &UserId,
    event: &EventId,
    shop: &ShopSettings,
    deadline: DateTime<Utc>,
) -> Result<Result<(), StartError>, StoreError> {
    let existing: Option<(String, String)> = conn
        .prepare_cached("SELECT user_id, event_id FROM executions WHERE order_id = ?1")
        .and_then(|mut s| {
            s.query_row([order.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(map_err)?;
    if let Some((u, e)) = existing {
        return Ok(if u == user.as_str() && e == event.as_str() {
            Ok(())
        } else {
            Err(StartError::AlreadyExists)
        });
    }
    // Counted in the writer's transaction that records the start: starts that race are
    // checked one after the other, and none goes past a limit.
    let (at_event, of_customer) = running(conn, event, user)?;
    if let Err(refusal) = shop.admits(at_event, of_customer) {
        return Ok(Err(refusal.into()));
    }
    let token = new_token(order.as_str());
    let at = now().timestamp_micros();
    conn.prepare_cached(
        "INSERT INTO executions (order_id, user_id, event_id, state, token, deadline,
                                 started_at, updated_at)
         VALUES (?1, ?2, ?3, 'waiting_submission', ?4, ?5, ?6, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            order.as_str(),
            user.as_str(),
            event.as_str(),
            token,
            deadline.timestamp_micros(),
            at
        ])
    })
    .map_err(map_err)?;
    emit(
        conn,
        &Emission::Started {
            order_id: order.to_string(),
            user_id: user.to_string(),
            event_id: event.to_string(),
            token,
        },
    )?;
    Ok(Ok(()))
}

/// How many executions of `event` are running (waiting for the customer or the barista), and
/// how many of them are `user`'s: two point reads of the counts the triggers of
/// `migrations/processor/0003_running_executions.sql` keep.
fn running(conn: &Connection, event: &EventId, user: &UserId) -> Result<(u64, u64), StoreError> {
    conn.prepare_cached(
        "SELECT (SELECT n FROM running_by_event WHERE event_id = ?1),
                (SELECT n FROM running_by_user WHERE event_id = ?1 AND user_id = ?2)",
    )
    .and_then(|mut s| {
        s.query_row(params![event.as_str(), user.as_str()], |r| {
            let n = |i| {
                r.get::<_, Option<i64>>(i)
                    .map(|n| n.unwrap_or(0).max(0) as u64)
            };
            Ok((n(0)?, n(1)?))
        })
    })
    .map_err(map_err)
}

/// The execution waiting on `token`: (order id, event id, state).
fn waiting_on(
    conn: &Connection,
    token: &TaskToken,
) -> Result<Option<(String, String, String)>, StoreError> {
    let token = token.expose();
    let execution = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
    let found = if let Some(order) = token_order(token) {
        conn.prepare_cached(
            "SELECT order_id, event_id, state FROM executions WHERE order_id = ?1 AND token = ?2",
        )
        .and_then(|mut s| s.query_row([order, token], execution).optional())
    } else if token.starts_with(LEGACY_PREFIX) {
        conn.prepare_cached(
            "SELECT order_id, event_id, state FROM executions
             WHERE token = ?1 AND substr(token, 1, 5) = 'EMB1.'",
        )
        .and_then(|mut s| s.query_row([token], execution).optional())
    } else {
        Ok(None)
    };
    found.map_err(map_err)
}

/// `SendTaskSuccess`: the first wait moves to the second, the second ends the execution.
pub(super) fn resume(
    conn: &Connection,
    token: &TaskToken,
    output: &serde_json::Value,
    barista_deadline: DateTime<Utc>,
) -> Result<Result<(), CallbackError>, StoreError> {
    let Some((order_id, event_id, state)) = waiting_on(conn, token)? else {
        return Ok(Err(timed_out()));
    };
    let at = now().timestamp_micros();
    match state.as_str() {
        "waiting_submission" => {
            let number: i64 = conn
                .prepare_cached(
                    "INSERT INTO order_numbers (event_id, last) VALUES (?1, 1)
                     ON CONFLICT (event_id) DO UPDATE SET last = last + 1
                     RETURNING last",
                )
                .and_then(|mut s| s.query_row([&event_id], |r| r.get(0)))
                .map_err(map_err)?;
            let next = new_token(&order_id);
            conn.prepare_cached(
                "UPDATE executions SET state = 'waiting_completion', token = ?2, deadline = ?3,
                    order_number = ?4, submission = ?5, updated_at = ?6
                 WHERE order_id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    order_id,
                    next,
                    barista_deadline.timestamp_micros(),
                    number,
                    output.to_string(),
                    at
                ])
            })
            .map_err(map_err)?;
            emit(
                conn,
                &Emission::WaitingCompletion {
                    order_id,
                    order_number: u32::try_from(number).unwrap_or(u32::MAX),
                    token: next,
                },
            )?;
        }
        _ => end(conn, &order_id, "succeeded", &output.to_string())?,
    }
    Ok(Ok(()))
}

/// `SendTaskFailure`: the execution fails.
pub(super) fn fail(
    conn: &Connection,
    token: &TaskToken,
    failure: &serde_json::Value,
) -> Result<Result<(), CallbackError>, StoreError> {
    let Some((order_id, _, _)) = waiting_on(conn, token)? else {
        return Ok(Err(timed_out()));
    };
    end(conn, &order_id, "failed", &failure.to_string())?;
    Ok(Ok(()))
}

/// Ends an execution: no token waits any more, and `orderFinished` is emitted.
fn end(conn: &Connection, order_id: &str, state: &str, completion: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE executions SET state = ?2, token = NULL, deadline = NULL, completion = ?3,
            updated_at = ?4
         WHERE order_id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            order_id,
            state,
            completion,
            now().timestamp_micros()
        ])
    })
    .map_err(map_err)?;
    emit(
        conn,
        &Emission::Finished {
            order_id: order_id.to_string(),
        },
    )
}

/// Times out every wait whose deadline has passed; returns how many.
pub(super) fn fire_timeouts(conn: &Connection, at: DateTime<Utc>) -> Result<usize, StoreError> {
    let due: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT order_id, state FROM executions
             WHERE token IS NOT NULL AND deadline <= ?1 LIMIT 100",
        )
        .and_then(|mut s| {
            s.query_map([at.timestamp_micros()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(map_err)?;
    for (order_id, state) in &due {
        // The causes the OrderProcessor workflow puts in its OrderTimeOut events.
        let cause = if state == "waiting_submission" {
            "Customer timedout"
        } else {
            "Barista timedout"
        };
        conn.prepare_cached(
            "UPDATE executions SET state = 'timed_out', token = NULL, deadline = NULL,
                completion = ?2, updated_at = ?3
             WHERE order_id = ?1",
        )
        .and_then(|mut s| {
            s.execute(params![
                order_id,
                serde_json::json!({"error": "States.Timeout", "cause": cause}).to_string(),
                now().timestamp_micros()
            ])
        })
        .map_err(map_err)?;
        emit(
            conn,
            &Emission::TimedOut {
                order_id: order_id.clone(),
                cause: cause.to_string(),
            },
        )?;
        emit(
            conn,
            &Emission::Finished {
                order_id: order_id.clone(),
            },
        )?;
    }
    Ok(due.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::shop::Refusal;

    /// A connection to a migrated processor database.
    fn store() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let options = sqlite_engine::Options::default();
        let migrated =
            sqlite_engine::Database::open(&path, super::super::MIGRATIONS, options, |_| {
                Ok::<_, StoreError>(())
            });
        drop(migrated.unwrap());
        (dir, Connection::open(&path).unwrap())
    }

    fn token_of(conn: &Connection, order: &str) -> String {
        conn.query_row(
            "SELECT token FROM executions WHERE order_id = ?1",
            [order],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn a_token_leads_with_its_order_and_only_the_whole_token_resumes() {
        let (_dir, conn) = store();
        let (order, user, event) = (
            OrderId::parse("o-1_x").unwrap(),
            UserId::parse("alice").unwrap(),
            EventId::parse("NYC").unwrap(),
        );
        let deadline = now() + chrono::Duration::minutes(5);
        start(
            &conn,
            &order,
            &user,
            &event,
            &ShopSettings::default(),
            deadline,
        )
        .unwrap()
        .unwrap();
        let token = token_of(&conn, "o-1_x");
        assert_eq!(token_order(&token), Some("o-1_x"));
        assert!(token.len() > 64, "{token}");
        // The same order's id with another random part is no token of ours.
        let (lead, _) = token.rsplit_once('.').unwrap();
        for forged in [format!("{lead}.AAAA"), format!("{lead}."), lead.to_string()] {
            let forged = TaskToken::parse(forged).unwrap();
            assert_eq!(waiting_on(&conn, &forged).unwrap(), None);
        }
        let real = TaskToken::parse(token).unwrap();
        assert_eq!(
            waiting_on(&conn, &real).unwrap(),
            Some(("o-1_x".into(), "NYC".into(), "waiting_submission".into()))
        );
        resume(&conn, &real, &serde_json::json!({}), deadline)
            .unwrap()
            .unwrap();
        assert!(
            resume(&conn, &real, &serde_json::json!({}), deadline)
                .unwrap()
                .is_err(),
            "single use"
        );
        assert_eq!(token_order(&token_of(&conn, "o-1_x")), Some("o-1_x"));
    }

    /// A token issued before the tokens led with their order (`EMB1.<uuid>.<random>`) still
    /// resumes its execution, found through the index that holds only such tokens.
    #[test]
    fn a_token_issued_before_still_resumes() {
        let (_dir, conn) = store();
        let legacy = "EMB1.0192f0e8a1b27c3d8e9f0a1b2c3d4e5f.c2VjcmV0LXJhbmRvbS1ieXRlcw";
        conn.execute(
            "INSERT INTO executions (order_id, user_id, event_id, state, token, deadline,
                                     started_at, updated_at)
             VALUES ('old', 'alice', 'NYC', 'waiting_submission', ?1, ?2, 0, 0)",
            params![
                legacy,
                (now() + chrono::Duration::minutes(5)).timestamp_micros()
            ],
        )
        .unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT order_id, event_id, state FROM executions
                 WHERE token = ?1 AND substr(token, 1, 5) = 'EMB1.'",
                [legacy],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("executions_by_legacy_token"), "{plan}");
        let token = TaskToken::parse(legacy).unwrap();
        resume(&conn, &token, &serde_json::json!({}), now())
            .unwrap()
            .unwrap();
        assert_eq!(token_order(&token_of(&conn, "old")), Some("old"));
        assert!(
            resume(&conn, &token, &serde_json::json!({}), now())
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn a_start_counts_the_running_executions_of_its_event_and_customer() {
        let (_dir, conn) = store();
        let nyc = EventId::parse("NYC").unwrap();
        let shop = ShopSettings {
            open: true,
            max_orders_in_queue: 2,
            max_orders_per_user: 1,
        };
        let deadline = now() + chrono::Duration::minutes(5);
        let go = |order: &str, user: &str, event: &EventId, at: DateTime<Utc>| {
            let order = OrderId::parse(order).unwrap();
            let user = UserId::parse(user).unwrap();
            start(&conn, &order, &user, event, &shop, at).unwrap()
        };
        assert_eq!(go("a", "alice", &nyc, deadline), Ok(()));
        assert_eq!(
            go("a2", "alice", &nyc, deadline),
            Err(StartError::Refused(Refusal::OrderLimitReached))
        );
        assert_eq!(go("b", "bob", &nyc, now()), Ok(()));
        assert_eq!(
            go("c", "carol", &nyc, deadline),
            Err(StartError::Refused(Refusal::AtCapacity))
        );
        // Another event counts apart.
        assert_eq!(
            go("d", "carol", &EventId::parse("LDN").unwrap(), deadline),
            Ok(())
        );
        // An execution that times out stops counting; so does one that succeeds.
        assert_eq!(fire_timeouts(&conn, now()).unwrap(), 1, "b's wait was due");
        assert_eq!(go("c", "carol", &nyc, deadline), Ok(()));
        let t1 = TaskToken::parse(token_of(&conn, "a")).unwrap();
        resume(&conn, &t1, &serde_json::json!({}), deadline)
            .unwrap()
            .unwrap();
        let t2 = TaskToken::parse(token_of(&conn, "a")).unwrap();
        resume(&conn, &t2, &serde_json::json!({}), deadline)
            .unwrap()
            .unwrap();
        assert_eq!(go("a3", "alice", &nyc, deadline), Ok(()));
        let counts: (i64, i64) = conn
            .query_row(
                "SELECT (SELECT n FROM running_by_event WHERE event_id = 'NYC'),
                        (SELECT count(*) FROM running_by_user WHERE event_id = 'NYC')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            counts,
            (2, 2),
            "carol's and alice's; bob's row went with his last"
        );
        let closed = ShopSettings {
            open: false,
            ..shop
        };
        let order = OrderId::parse("e").unwrap();
        let dave = UserId::parse("dave").unwrap();
        let refused = start(&conn, &order, &dave, &nyc, &closed, deadline).unwrap();
        assert_eq!(refused, Err(StartError::Refused(Refusal::Closed)));
    }
}
