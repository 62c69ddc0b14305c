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
use crate::outbound::sqlite::{map_err, micros};

/// A fresh opaque task token: as unguessable as before (384 random bits), and led by a
/// time-ordered UUID, so that the tokens of the same moments share the pages of the index
/// that finds an execution by its token (a random token rewrote a page of its own).
fn new_token() -> String {
    let bytes: [u8; 48] = rand::rng().random();
    format!(
        "EMB1.{}.{}",
        uuid::Uuid::now_v7().simple(),
        URL_SAFE_NO_PAD.encode(bytes)
    )
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
    let token = new_token();
    let at = micros(now());
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
            micros(deadline),
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

/// The execution waiting on `token`: (order id, event id, state).
fn waiting_on(
    conn: &Connection,
    token: &TaskToken,
) -> Result<Option<(String, String, String)>, StoreError> {
    conn.prepare_cached("SELECT order_id, event_id, state FROM executions WHERE token = ?1")
        .and_then(|mut s| {
            s.query_row([token.expose()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(map_err)
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
    let at = micros(now());
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
            let next = new_token();
            conn.prepare_cached(
                "UPDATE executions SET state = 'waiting_completion', token = ?2, deadline = ?3,
                    order_number = ?4, submission = ?5, updated_at = ?6
                 WHERE order_id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    order_id,
                    next,
                    micros(barista_deadline),
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
    .and_then(|mut s| s.execute(params![order_id, state, completion, micros(now())]))
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
            s.query_map([micros(at)], |r| Ok((r.get(0)?, r.get(1)?)))?
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
                micros(now())
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
