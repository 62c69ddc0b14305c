//! Workflow events (docs/architecture.md, "Ingest") and how each one changes an order.
//!
//! EventBridge delivers at least once and in any order, so every decision here is
//! idempotent (the same event twice is a `Duplicate`) and order-tolerant (an event that the
//! order has moved past is `Stale`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::history::Cause;
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
        /// Which wait, when `detail.cause` says so.
        cause: Option<TimeoutCause>,
        execution_arn: Option<String>,
    },
    /// `OrderProcessor.orderFinished`: the workflow reached its end.
    Finished {
        order_id: OrderId,
        execution_arn: Option<String>,
    },
}

/// Which wait of the workflow timed out: `detail.cause` of an `OrderTimeOut`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutCause {
    /// `Customer timedout`: the first wait, for the drink.
    Customer,
    /// `Barista timedout`: the second wait, for the barista.
    Barista,
}

impl TimeoutCause {
    /// The cause as the OrderProcessor words it.
    pub fn as_workflow_str(self) -> &'static str {
        match self {
            Self::Customer => "Customer timedout",
            Self::Barista => "Barista timedout",
        }
    }

    /// Reads the workflow's wording; anything else is no known cause.
    pub fn from_workflow_str(s: &str) -> Option<Self> {
        [Self::Customer, Self::Barista]
            .into_iter()
            .find(|c| c.as_workflow_str().eq_ignore_ascii_case(s.trim()))
    }

    fn reason(self) -> CancelReason {
        match self {
            Self::Customer => CancelReason::CustomerTimeout,
            Self::Barista => CancelReason::BaristaTimeout,
        }
    }
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

    /// The event's `detail-type`, as the workflow sends it.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Self::Started { .. } => "OrderProcessor.WorkflowStarted",
            Self::WaitingCompletion { .. } => "OrderProcessor.WaitingCompletion",
            Self::TimedOut { .. } => "OrderProcessor.OrderTimeOut",
            Self::Finished { .. } => "OrderProcessor.orderFinished",
        }
    }

    /// What the order's history says caused a change this event made.
    pub fn cause(&self) -> Cause {
        match self {
            Self::TimedOut { .. } => Cause::Timeout,
            _ => Cause::Workflow {
                event: self.detail_type().into(),
            },
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
    /// Not ours: unknown detail-type, another execution's event, or an early event past the
    /// number kept for its order.
    Ignored,
    /// For an order whose start has not arrived: kept, and applied when it does.
    Deferred,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
            Outcome::Deferred => "deferred",
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
                    cause: event.cause(),
                    served: None,
                }),
                outcome: Outcome::Applied,
            },
            // Never create an order from anything but its start (no phantom orders): an event
            // that came before its order's start waits for it.
            _ => Decision::Nothing(Outcome::Deferred),
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
                    change: Box::new(order.change(o, vec![cb], event.cause())),
                    outcome: Outcome::Stale,
                }
            } else if order.state == OrderState::Created {
                // The same execution waits again with a new token (a retried task): only the
                // newest token can resume it.
                let mut o = order.next(now);
                o.start_token = Some(token.clone());
                Decision::Write {
                    change: Box::new(order.change(o, vec![], event.cause())),
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
            match order.state {
                // The workflow is past its first wait, whoever resumed it (this service, the
                // robot extension, an operator, another Order Manager): it is the truth about
                // its own progress. Token #1 is settled, never to be sent (again).
                OrderState::Created | OrderState::Submitted => {
                    let mut o = order.next(now);
                    o.state = OrderState::Queued;
                    o.order_number = Some(*order_number);
                    o.completion_token = Some(token.clone());
                    let mut change = order.change(o, vec![], event.cause());
                    change.settles.extend(order.start_token.clone());
                    Decision::Write {
                        change: Box::new(change),
                        outcome: Outcome::Applied,
                    }
                }
                // Cancelled here while the workflow held no wait of ours (in `submitted`, or
                // in `created` with a cancel that resumes the first wait): release the second
                // wait at once. Only while the workflow is still running: never a callback to
                // one that finished or timed out. The order itself stays as it ended (no
                // number); the token is kept so that a redelivery is known.
                OrderState::Cancelled
                    if order.completion_token.is_none() && order.awaits_release() =>
                {
                    let mut o = order.next(now);
                    o.completion_token = Some(token.clone());
                    let reason = order.cancel_reason.unwrap_or(CancelReason::Barista);
                    let cb = order.release(token.clone(), policy, reason);
                    // The first wait is over too: a release of token #1 still pending (a
                    // cancel in `created`) is settled, never sent again.
                    let mut change = order.change(o, vec![cb], event.cause());
                    change.settles.extend(order.start_token.clone());
                    Decision::Write {
                        change: Box::new(change),
                        outcome: Outcome::Applied,
                    }
                }
                _ => Decision::Nothing(Outcome::Stale),
            }
        }
        WorkflowEvent::TimedOut { cause, .. } => {
            let reason = match (cause, order.state) {
                (Some(c), _) => c.reason(),
                (None, OrderState::Created | OrderState::Submitted) => {
                    CancelReason::CustomerTimeout
                }
                (None, _) => CancelReason::BaristaTimeout,
            };
            match (order.state, order.cancel_reason) {
                (
                    OrderState::Cancelled,
                    Some(CancelReason::CustomerTimeout | CancelReason::BaristaTimeout),
                ) => Decision::Nothing(Outcome::Duplicate),
                // Seen first: the workflow's end, which said nothing of why, or Step
                // Functions refusing a callback for a wait already over. The time-out is the
                // why: only the reason is filled in, and the order stays cancelled, as it
                // would have been had the time-out come first.
                (
                    OrderState::Cancelled,
                    Some(CancelReason::WorkflowEnded | CancelReason::Expired),
                ) => {
                    let mut o = order.next(now);
                    o.cancel_reason = Some(reason);
                    Decision::Write {
                        change: Box::new(order.ended(o, event.cause())),
                        outcome: Outcome::Applied,
                    }
                }
                // A time-out never overrides an order that ended here (completed, or
                // cancelled by the customer or a barista), but the workflow is past its
                // waits now: a callback still pending is settled, and a late
                // `WaitingCompletion` releases nothing.
                (OrderState::Completed | OrderState::Cancelled, _) => {
                    if order.workflow_finished_at.is_some() {
                        return Decision::Nothing(Outcome::Stale);
                    }
                    let mut o = order.next(now);
                    o.workflow_finished_at = Some(now);
                    Decision::Write {
                        change: Box::new(order.ended(o, event.cause())),
                        outcome: Outcome::Stale,
                    }
                }
                _ => {
                    let mut o = order.next(now);
                    o.state = OrderState::Cancelled;
                    o.cancel_reason = Some(reason);
                    Decision::Write {
                        change: Box::new(order.ended(o, event.cause())),
                        outcome: Outcome::Applied,
                    }
                }
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
                change: Box::new(order.ended(o, event.cause())),
                outcome: Outcome::Applied,
            }
        }
    }
}

impl Order {
    /// Whether a wait of the workflow may still need releasing for this cancelled order: it
    /// was cancelled here (not by the workflow's end, a time-out or an expired token) and
    /// the workflow has neither finished nor timed out since.
    fn awaits_release(&self) -> bool {
        self.workflow_finished_at.is_none()
            && matches!(
                self.cancel_reason,
                Some(CancelReason::Customer | CancelReason::Barista)
            )
    }

    /// The change to `new` after the workflow's waits are over (a time-out, its end): a
    /// callback still pending for any of the order's tokens is settled, never sent.
    fn ended(&self, new: Order, cause: Cause) -> Change {
        let mut change = self.change(new, vec![], cause);
        change.settles.extend(self.start_token.clone());
        change.settles.extend(self.completion_token.clone());
        change
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
            cause: None,
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
                Decision::Nothing(Outcome::Deferred)
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
            cause: None,
            execution_arn: Some("arn:exec:2".into()),
        };
        assert_eq!(outcome(&decide(Some(&o), &ev, P, now())), Outcome::Ignored);
    }

    fn finished() -> WorkflowEvent {
        WorkflowEvent::Finished {
            order_id: oid(),
            execution_arn: None,
        }
    }

    fn written(d: Decision) -> Change {
        match d {
            Decision::Write { change, .. } => *change,
            Decision::Nothing(o) => panic!("expected a write, got {o:?}"),
        }
    }

    #[test]
    fn waiting_completion_queues_an_order_someone_else_submitted() {
        let o = order(OrderState::Created);
        let change = written(decide(Some(&o), &waiting("token-2"), P, now()));
        assert_eq!(change.order.state, OrderState::Queued);
        assert_eq!(change.order.order_number.unwrap().get(), 12);
        assert_eq!(change.order.drink, None, "the drink is not known here");
        assert_eq!(
            change.order.completion_token,
            Some(TaskToken::parse("token-2").unwrap())
        );
        assert_eq!(change.settles, vec![TaskToken::parse("token-1").unwrap()]);
        assert!(change.callbacks.is_empty());
    }

    #[test]
    fn a_finished_workflow_is_never_called_back_nor_its_order_renumbered() {
        // Cancelled in `submitted` (no token held), then the workflow ended: its late
        // `WaitingCompletion` must not release a wait that no longer exists.
        let mut o = order(OrderState::Cancelled);
        o.completion_token = None;
        o.order_number = None;
        o.cancel_reason = Some(CancelReason::Barista);
        o.workflow_finished_at = Some(now());
        assert_eq!(
            outcome(&decide(Some(&o), &waiting("token-2"), P, now())),
            Outcome::Stale
        );
        // Closed by the workflow's end while still `created`: the same.
        let ended = written(decide(
            Some(&order(OrderState::Created)),
            &finished(),
            P,
            now(),
        ));
        assert_eq!(ended.order.cancel_reason, Some(CancelReason::WorkflowEnded));
        assert_eq!(
            outcome(&decide(Some(&ended.order), &waiting("token-2"), P, now())),
            Outcome::Stale
        );
        // Timed out: the same.
        let timed_out = written(decide(
            Some(&order(OrderState::Created)),
            &timeout(),
            P,
            now(),
        ));
        assert_eq!(
            outcome(&decide(
                Some(&timed_out.order),
                &waiting("token-2"),
                P,
                now()
            )),
            Outcome::Stale
        );
    }

    #[test]
    fn the_end_of_the_workflow_settles_every_token_of_the_order() {
        let o = order(OrderState::Completed);
        let change = written(decide(Some(&o), &finished(), P, now()));
        assert_eq!(change.order.state, OrderState::Completed);
        assert_eq!(
            change.settles,
            vec![
                TaskToken::parse("token-1").unwrap(),
                TaskToken::parse("token-2").unwrap()
            ]
        );
        let timed_out = written(decide(
            Some(&order(OrderState::Queued)),
            &timeout(),
            P,
            now(),
        ));
        assert_eq!(timed_out.settles.len(), 2);
    }

    #[test]
    fn the_timeout_s_cause_names_the_wait_whatever_the_order_s_state() {
        let barista = WorkflowEvent::TimedOut {
            order_id: oid(),
            cause: TimeoutCause::from_workflow_str("Barista timedout"),
            execution_arn: None,
        };
        // Delivered before the `WaitingCompletion` that queued the order.
        let change = written(decide(
            Some(&order(OrderState::Created)),
            &barista,
            P,
            now(),
        ));
        assert_eq!(
            change.order.cancel_reason,
            Some(CancelReason::BaristaTimeout)
        );
        // Delivered after the workflow's end: the end said nothing of why.
        let ended = written(decide(
            Some(&order(OrderState::Queued)),
            &finished(),
            P,
            now(),
        ));
        let refined = written(decide(Some(&ended.order), &barista, P, now()));
        assert_eq!(refined.order.state, OrderState::Cancelled);
        assert_eq!(
            refined.order.cancel_reason,
            Some(CancelReason::BaristaTimeout)
        );
        assert!(
            refined.notices.is_empty(),
            "the order's state did not change"
        );
        assert_eq!(TimeoutCause::from_workflow_str("something else"), None);
    }

    fn barista_timeout() -> WorkflowEvent {
        WorkflowEvent::TimedOut {
            order_id: oid(),
            cause: Some(TimeoutCause::Barista),
            execution_arn: None,
        }
    }

    #[test]
    fn a_time_out_after_a_cancel_here_leaves_the_order_and_ends_every_callback() {
        // Cancelled in `submitted` (no token held); the barista's wait timed out before its
        // `WaitingCompletion` came.
        let mut o = order(OrderState::Cancelled);
        o.completion_token = None;
        o.order_number = None;
        o.cancel_reason = Some(CancelReason::Barista);
        let d = decide(Some(&o), &barista_timeout(), P, now());
        assert_eq!(outcome(&d), Outcome::Stale);
        let change = written(d);
        assert_eq!(change.order.state, OrderState::Cancelled);
        assert_eq!(change.order.cancel_reason, Some(CancelReason::Barista));
        assert_eq!(change.settles, vec![TaskToken::parse("token-1").unwrap()]);
        assert!(change.callbacks.is_empty());
        // The late `WaitingCompletion` releases nothing: the workflow is past that wait.
        let late = decide(Some(&change.order), &waiting("token-2"), P, now());
        assert_eq!(outcome(&late), Outcome::Stale);
        assert!(matches!(late, Decision::Nothing(_)));
        // Delivered again, the time-out writes nothing.
        let again = decide(Some(&change.order), &barista_timeout(), P, now());
        assert!(matches!(again, Decision::Nothing(Outcome::Stale)));
    }

    #[test]
    fn a_time_out_after_a_completion_settles_its_callback() {
        let o = order(OrderState::Completed);
        let change = written(decide(Some(&o), &barista_timeout(), P, now()));
        assert_eq!(change.order.state, OrderState::Completed);
        assert!(
            change
                .settles
                .contains(&TaskToken::parse("token-2").unwrap())
        );
    }

    #[test]
    fn a_time_out_names_why_an_expired_order_ended() {
        let mut o = order(OrderState::Cancelled);
        o.cancel_reason = Some(CancelReason::Expired);
        let change = written(decide(Some(&o), &barista_timeout(), P, now()));
        assert_eq!(
            change.order.cancel_reason,
            Some(CancelReason::BaristaTimeout)
        );
        assert_eq!(change.settles.len(), 2);
    }

    #[test]
    fn releasing_the_second_wait_settles_the_first() {
        // Cancelled in `created` with a cancel that resumes the first wait: the workflow
        // numbers the order and waits again; that wait is released, token #1 is settled.
        let mut o = order(OrderState::Cancelled);
        o.completion_token = None;
        o.cancel_reason = Some(CancelReason::Customer);
        let change = written(decide(Some(&o), &waiting("token-2"), P, now()));
        assert_eq!(change.callbacks.len(), 1);
        assert_eq!(change.settles, vec![TaskToken::parse("token-1").unwrap()]);
    }
}
