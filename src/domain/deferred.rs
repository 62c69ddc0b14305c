//! Events that arrive before their order's start.
//!
//! EventBridge delivers in any order, and a start can be held up by retries while the
//! workflow's later events arrive. An event for an order that is not here yet is kept (its
//! envelope recorded in the same write) and applied when the start arrives, in the order of
//! the workflow's progress, whatever order they came in: any delivery order of the same
//! events ends in the same state. Kept events are bounded per order ([`MAX_PER_ORDER`]) and
//! in time (they are forgotten with the envelope ids, see `OrderStore::prune`).

use serde::{Deserialize, Serialize};

use super::events::{TimeoutCause, WorkflowEvent};
use super::ids::{EventId, InvalidId, OrderId, OrderNumber, TaskToken, UserId};

/// The most events kept for one order. An execution announces at most three after its
/// start (`WaitingCompletion`, `OrderTimeOut`, `orderFinished`); a few retried tasks may
/// add to them. Past this, an early event is acknowledged as `ignored`.
pub const MAX_PER_ORDER: usize = 8;

/// An event as a store keeps it: a JSON document (the task token in it is as secret as the
/// ones stored with orders).
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Stored {
    Started {
        order_id: String,
        user_id: String,
        event_id: String,
        token: String,
        execution_arn: Option<String>,
    },
    WaitingCompletion {
        order_id: String,
        order_number: u32,
        token: String,
        execution_arn: Option<String>,
    },
    TimedOut {
        order_id: String,
        cause: Option<TimeoutCause>,
        execution_arn: Option<String>,
    },
    Finished {
        order_id: String,
        execution_arn: Option<String>,
    },
}

/// Encodes `event` for keeping.
pub fn encode(event: &WorkflowEvent) -> String {
    let stored = match event.clone() {
        WorkflowEvent::Started {
            order_id,
            user_id,
            event_id,
            token,
            execution_arn,
        } => Stored::Started {
            order_id: order_id.to_string(),
            user_id: user_id.to_string(),
            event_id: event_id.to_string(),
            token: token.expose().to_string(),
            execution_arn,
        },
        WorkflowEvent::WaitingCompletion {
            order_id,
            order_number,
            token,
            execution_arn,
        } => Stored::WaitingCompletion {
            order_id: order_id.to_string(),
            order_number: order_number.get(),
            token: token.expose().to_string(),
            execution_arn,
        },
        WorkflowEvent::TimedOut {
            order_id,
            cause,
            execution_arn,
        } => Stored::TimedOut {
            order_id: order_id.to_string(),
            cause,
            execution_arn,
        },
        WorkflowEvent::Finished {
            order_id,
            execution_arn,
        } => Stored::Finished {
            order_id: order_id.to_string(),
            execution_arn,
        },
    };
    serde_json::to_string(&stored).expect("a kept event encodes")
}

/// Decodes what [`encode`] made; an error names what is wrong, never a token.
pub fn decode(s: &str) -> Result<WorkflowEvent, String> {
    let stored: Stored =
        serde_json::from_str(s).map_err(|e| format!("unreadable kept event: {e}"))?;
    let bad = |e: InvalidId| format!("kept event: {e}");
    Ok(match stored {
        Stored::Started {
            order_id,
            user_id,
            event_id,
            token,
            execution_arn,
        } => WorkflowEvent::Started {
            order_id: OrderId::parse(order_id).map_err(bad)?,
            user_id: UserId::parse(user_id).map_err(bad)?,
            event_id: EventId::parse(event_id).map_err(bad)?,
            token: TaskToken::parse(token).map_err(bad)?,
            execution_arn,
        },
        Stored::WaitingCompletion {
            order_id,
            order_number,
            token,
            execution_arn,
        } => WorkflowEvent::WaitingCompletion {
            order_id: OrderId::parse(order_id).map_err(bad)?,
            order_number: OrderNumber::new(order_number).map_err(bad)?,
            token: TaskToken::parse(token).map_err(bad)?,
            execution_arn,
        },
        Stored::TimedOut {
            order_id,
            cause,
            execution_arn,
        } => WorkflowEvent::TimedOut {
            order_id: OrderId::parse(order_id).map_err(bad)?,
            cause,
            execution_arn,
        },
        Stored::Finished {
            order_id,
            execution_arn,
        } => WorkflowEvent::Finished {
            order_id: OrderId::parse(order_id).map_err(bad)?,
            execution_arn,
        },
    })
}

/// Where an event comes in an execution's progress: its start, the second wait, a
/// time-out, its end.
fn progress(event: &WorkflowEvent) -> u8 {
    match event {
        WorkflowEvent::Started { .. } => 0,
        WorkflowEvent::WaitingCompletion { .. } => 1,
        WorkflowEvent::TimedOut { .. } => 2,
        WorkflowEvent::Finished { .. } => 3,
    }
}

/// Puts kept events (given in the order they were kept) in the order of the workflow's
/// progress; events of the same step keep their order.
pub fn in_progress_order(mut events: Vec<WorkflowEvent>) -> Vec<WorkflowEvent> {
    events.sort_by_key(progress);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_events_round_trip_and_sort_by_the_workflow_s_progress() {
        let id = || OrderId::parse("o-1").unwrap();
        let events = [
            WorkflowEvent::Finished {
                order_id: id(),
                execution_arn: Some("arn:x".into()),
            },
            WorkflowEvent::TimedOut {
                order_id: id(),
                cause: Some(TimeoutCause::Barista),
                execution_arn: None,
            },
            WorkflowEvent::WaitingCompletion {
                order_id: id(),
                order_number: OrderNumber::new(4).unwrap(),
                token: TaskToken::parse("token-2").unwrap(),
                execution_arn: None,
            },
        ];
        let back: Vec<_> = events.iter().map(|e| decode(&encode(e)).unwrap()).collect();
        let sorted = in_progress_order(back);
        assert!(matches!(
            &sorted[0],
            WorkflowEvent::WaitingCompletion { token, order_number, .. }
                if *token == TaskToken::parse("token-2").unwrap() && order_number.get() == 4
        ));
        assert!(matches!(
            sorted[1],
            WorkflowEvent::TimedOut {
                cause: Some(TimeoutCause::Barista),
                ..
            }
        ));
        assert!(matches!(
            &sorted[2],
            WorkflowEvent::Finished { execution_arn: Some(a), .. } if a == "arn:x"
        ));
        assert!(decode("{\"kind\":\"finished\",\"order_id\":\"\"}").is_err());
    }
}
