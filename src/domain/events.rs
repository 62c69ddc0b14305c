//! Workflow events (DESIGN §3) and how each one changes an order.
//!
//! EventBridge delivers at least once and in any order, so every decision here is
//! idempotent (the same event twice is a `Duplicate`) and order-tolerant (an event that the
//! order has moved past is `Stale`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::{EventId, OrderId, OrderNumber, TaskToken, UserId};
use super::lifecycle::{CancelCallback, Change};
use super::order::{CancelReason, Order, OrderState};

/// An `OrderProcessor.*` event, validated.
#[derive(Debug, Clone)]
pub enum WorkflowEvent {
    /// `OrderProcessor.WorkflowStarted`: a new order and token #1.
    Started {
        order_id: OrderId,
        user_id: UserId,
        event_id: EventId,
        token: TaskToken,
        execution_arn: Option<String>,
    },
    /// `OrderProcessor.WaitingCompletion`: the order number and token #2.
    WaitingCompletion {
        order_id: OrderId,
        order_number: OrderNumber,
        token: TaskToken,
        execution_arn: Option<String>,
    },
    /// `OrderProcessor.OrderTimeOut`: one of the waits expired.
    TimedOut {
        order_id: OrderId,
        execution_arn: Option<String>,
    },
    /// `OrderProcessor.orderFinished`: the workflow reached its end.
    Finished {
        order_id: OrderId,
        execution_arn: Option<String>,
    },
}

impl WorkflowEvent {
    pub fn order_id(&self) -> &OrderId {
        match self {
            Self::Started { order_id, .. }
            | Self::WaitingCompletion { order_id, .. }
            | Self::TimedOut { order_id, .. }
            | Self::Finished { order_id, .. } => order_id,
        }
    }

    fn execution_arn(&self) -> Option<&str> {
        match self {
            Self::Started { execution_arn, .. }
            | Self::WaitingCompletion { execution_arn, .. }
            | Self::TimedOut { execution_arn, .. }
            | Self::Finished { execution_arn, .. } => execution_arn.as_deref(),
        }
    }
}

/// What ingesting an event did (the body of the ingest answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The order changed.
    Applied,
    /// Seen before (same envelope id, or the same content): nothing to do.
    Duplicate,
    /// The order has moved past this event: acknowledged and ignored.
    Stale,
    /// Not ours: unknown detail-type, unknown order, or another execution's event.
    Ignored,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
        }
    }
}

/// The decision for one event against the order as stored.
#[derive(Debug)]
pub enum Decision {
    Write {
        change: Box<Change>,
        outcome: Outcome,
    },
    Nothing(Outcome),
}

/// Decides what `event` does to `current` (the stored order, if any).
pub fn decide(
    current: Option<&Order>,
    event: &WorkflowEvent,
    policy: CancelCallback,
    now: DateTime<Utc>,
) -> Decision {
    let Some(order) = current else {
        return match event {
            WorkflowEvent::Started {
                order_id,
                user_id,
                event_id,
                token,
                execution_arn,
            } => Decision::Write {
                change: Box::new(Change {
                    order: Order {
                        id: order_id.clone(),
                        event_id: event_id.clone(),
                        user_id: user_id.clone(),
                        state: OrderState::Created,
                        order_number: None,
                        drink: None,
                        barista_user_id: None,
                        cancel_reason: None,
                        start_token: Some(token.clone()),
                        completion_token: None,
                        execution_arn: execution_arn.clone(),
                        workflow_finished_at: None,
                        version: 1,
                        created_at: now,
                        updated_at: now,
                    },
                    expected_version: None,
                    callbacks: vec![],
                    notices: vec![],
                    settles: vec![],
                }),
                outcome: Outcome::Applied,
            },
            // Never create an order from anything but its start: no phantom orders.
            _ => Decision::Nothing(Outcome::Ignored),
        };
    };

    let other_execution = matches!(
        (order.execution_arn.as_deref(), event.execution_arn()),
        (Some(ours), Some(theirs)) if ours != theirs
    );

    match event {
        WorkflowEvent::Started { token, .. } => {
            if order.start_token.as_ref() == Some(token) {
                Decision::Nothing(Outcome::Duplicate)
            } else if other_execution {
                // A second execution for an order that belongs to another one: fail its
                // wait rather than overwrite the first (the original sample overwrote).
                let o = order.next(now);
                let cb = super::lifecycle::Callback {
                    order_id: order.id.clone(),
                    token: token.clone(),
                    action: super::lifecycle::CallbackAction::Fail {
                        error: "DuplicateOrder".into(),
                        cause: format!("order {} belongs to another execution", order.id),
                    },
                    expires_order: false,
                };
                Decision::Write {
                    change: Box::new(order.change(o, vec![cb])),
                    outcome: Outcome::Stale,
                }
            } else if order.state == OrderState::Created {
                // The same execution waits again with a new token (a retried task): only the
                // newest token can resume it.
                let mut o = order.next(now);
                o.start_token = Some(token.clone());
                Decision::Write {
                    change: Box::new(order.change(o, vec![])),
                    outcome: Outcome::Applied,
                }
            } else {
                Decision::Nothing(Outcome::Stale)
            }
        }
        _ if other_execution => Decision::Nothing(Outcome::Ignored),
        WorkflowEvent::WaitingCompletion {
            order_number,
            token,
            ..
        } => {
            if order.completion_token.as_ref() == Some(token) {
                return Decision::Nothing(Outcome::Duplicate);
            }
            match (order.state, &order.completion_token) {
                (OrderState::Submitted, _) => {
                    let mut o = order.next(now);
                    o.state = OrderState::Queued;
                    o.order_number = Some(*order_number);
                    o.completion_token = Some(token.clone());
                    // The workflow is past its first wait: token #1 was delivered, whatever
                    // an attempt that timed out may have believed.
                    let mut change = order.change(o, vec![]);
                    change.settles.extend(order.start_token.clone());
                    Decision::Write {
                        change: Box::new(change),
                        outcome: Outcome::Applied,
                    }
                }
                // Cancelled while no token was held (in `submitted`): release the wait now.
                (OrderState::Cancelled, None) => {
                    let mut o = order.next(now);
                    o.order_number = Some(*order_number);
                    o.completion_token = Some(token.clone());
                    let reason = order.cancel_reason.unwrap_or(CancelReason::Barista);
                    let cb = order.release(token.clone(), policy, reason);
                    Decision::Write {
                        change: Box::new(order.change(o, vec![cb])),
                        outcome: Outcome::Applied,
                    }
                }
                _ => Decision::Nothing(Outcome::Stale),
            }
        }
        WorkflowEvent::TimedOut { .. } => {
            let reason = match order.state {
                OrderState::Created | OrderState::Submitted => CancelReason::CustomerTimeout,
                OrderState::Queued | OrderState::Preparing => CancelReason::BaristaTimeout,
                OrderState::Cancelled
                    if matches!(
                        order.cancel_reason,
                        Some(CancelReason::CustomerTimeout | CancelReason::BaristaTimeout)
                    ) =>
                {
                    return Decision::Nothing(Outcome::Duplicate);
                }
                // A timeout never overrides a completed (or otherwise ended) order.
                OrderState::Completed | OrderState::Cancelled => {
                    return Decision::Nothing(Outcome::Stale);
                }
            };
            let mut o = order.next(now);
            o.state = OrderState::Cancelled;
            o.cancel_reason = Some(reason);
            Decision::Write {
                change: Box::new(order.change(o, vec![])),
                outcome: Outcome::Applied,
            }
        }
        WorkflowEvent::Finished { .. } => {
            if order.workflow_finished_at.is_some() {
                return Decision::Nothing(Outcome::Duplicate);
            }
            let mut o = order.next(now);
            o.workflow_finished_at = Some(now);
            if !order.state.is_terminal() {
                o.state = OrderState::Cancelled;
                o.cancel_reason = Some(CancelReason::WorkflowEnded);
            }
            Decision::Write {
                change: Box::new(order.change(o, vec![])),
                outcome: Outcome::Applied,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::tests::order;
    use crate::domain::order::now;

    fn oid() -> OrderId {
        OrderId::parse("o-1").unwrap()
    }

    fn started(token: &str, arn: Option<&str>) -> WorkflowEvent {
        WorkflowEvent::Started {
            order_id: oid(),
            user_id: UserId::parse("alice").unwrap(),
            event_id: EventId::parse("NYC").unwrap(),
            token: TaskToken::parse(token).unwrap(),
            execution_arn: arn.map(String::from),
        }
    }

    fn waiting(token: &str) -> WorkflowEvent {
        WorkflowEvent::WaitingCompletion {
            order_id: oid(),
            order_number: OrderNumber::new(12).unwrap(),
            token: TaskToken::parse(token).unwrap(),
            execution_arn: None,
        }
    }

    fn timeout() -> WorkflowEvent {
        WorkflowEvent::TimedOut {
            order_id: oid(),
            execution_arn: None,
        }
    }

    fn outcome(d: &Decision) -> Outcome {
        match d {
            Decision::Write { outcome, .. } | Decision::Nothing(outcome) => *outcome,
        }
    }

    const P: CancelCallback = CancelCallback::Failure;

    #[test]
    fn started_creates_once_and_repeats_are_duplicates() {
        let d = decide(None, &started("token-1", None), P, now());
        assert_eq!(outcome(&d), Outcome::Applied);
        let o = order(OrderState::Created);
        assert_eq!(
            outcome(&decide(Some(&o), &started("token-1", None), P, now())),
            Outcome::Duplicate
        );
    }

    #[test]
    fn only_started_creates_orders() {
        for ev in [waiting("t"), timeout()] {
            assert!(matches!(
                decide(None, &ev, P, now()),
                Decision::Nothing(Outcome::Ignored)
            ));
        }
    }

    #[test]
    fn a_second_execution_is_failed_not_overwritten() {
        let mut o = order(OrderState::Created);
        o.execution_arn = Some("arn:exec:1".into());
        let Decision::Write { change, outcome } =
            decide(Some(&o), &started("token-x", Some("arn:exec:2")), P, now())
        else {
            panic!("expected a write");
        };
        assert_eq!(outcome, Outcome::Stale);
        assert_eq!(change.order.start_token, o.start_token);
        assert_eq!(
            change.callbacks[0].token,
            TaskToken::parse("token-x").unwrap()
        );
    }

    #[test]
    fn stale_started_is_acknowledged_and_ignored() {
        let o = order(OrderState::Queued);
        assert_eq!(
            outcome(&decide(Some(&o), &started("token-9", None), P, now())),
            Outcome::Stale
        );
    }

    #[test]
    fn waiting_completion_queues_a_submitted_order() {
        let o = order(OrderState::Submitted);
        let Decision::Write { change, .. } = decide(Some(&o), &waiting("token-2"), P, now()) else {
            panic!("expected a write");
        };
        assert_eq!(change.order.state, OrderState::Queued);
        assert_eq!(change.order.order_number.unwrap().get(), 12);
        assert_eq!(change.settles, vec![TaskToken::parse("token-1").unwrap()]);
        let queued = change.order;
        assert_eq!(
            outcome(&decide(Some(&queued), &waiting("token-2"), P, now())),
            Outcome::Duplicate
        );
    }

    #[test]
    fn token_two_for_an_order_cancelled_in_submitted_is_released_at_once() {
        let mut o = order(OrderState::Cancelled);
        o.completion_token = None;
        o.cancel_reason = Some(CancelReason::Barista);
        let Decision::Write { change, .. } = decide(Some(&o), &waiting("token-2"), P, now()) else {
            panic!("expected a write");
        };
        assert_eq!(change.order.state, OrderState::Cancelled);
        assert_eq!(change.callbacks.len(), 1);
        assert_eq!(
            change.callbacks[0].token,
            TaskToken::parse("token-2").unwrap()
        );
    }

    #[test]
    fn timeouts_cancel_open_orders_but_never_completed_ones() {
        let Decision::Write { change, .. } =
            decide(Some(&order(OrderState::Created)), &timeout(), P, now())
        else {
            panic!("expected a write");
        };
        assert_eq!(
            change.order.cancel_reason,
            Some(CancelReason::CustomerTimeout)
        );
        assert_eq!(
            outcome(&decide(Some(&change.order), &timeout(), P, now())),
            Outcome::Duplicate
        );
        assert_eq!(
            outcome(&decide(
                Some(&order(OrderState::Completed)),
                &timeout(),
                P,
                now()
            )),
            Outcome::Stale
        );
    }

    #[test]
    fn events_of_another_execution_are_ignored() {
        let mut o = order(OrderState::Queued);
        o.execution_arn = Some("arn:exec:1".into());
        let ev = WorkflowEvent::TimedOut {
            order_id: oid(),
            execution_arn: Some("arn:exec:2".into()),
        };
        assert_eq!(outcome(&decide(Some(&o), &ev, P, now())), Outcome::Ignored);
    }
}
