//! The order lifecycle: every transition is a pure function from the current order to a
//! [`Change`] (the new order, the version it must replace, the callbacks it owes the workflow).
//! Stores apply a `Change` as one guarded, atomic write; nothing here does I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::history::{Cause, HistoryEntry};
use super::ids::{OrderId, TaskToken, UserId};
use super::notices::{Notice, notice_for};
use super::order::{CancelReason, DrinkOrder, Order, OrderState};
use super::stats::Served;

/// A transition to persist atomically.
#[derive(Debug, Clone)]
pub struct Change {
    /// The order as it is after the transition.
    pub order: Order,
    /// `None`: a new order, which must not exist yet. `Some(v)`: the stored version must be `v`.
    pub expected_version: Option<u64>,
    /// Workflow callbacks owed because of this transition (the outbox).
    pub callbacks: Vec<Callback>,
    /// Events to publish about this transition (the outbox, too).
    pub notices: Vec<Notice>,
    /// Tokens the workflow has shown it consumed (it moved past their wait): a callback still
    /// pending for one of them is settled as delivered, never sent again.
    pub settles: Vec<TaskToken>,
    /// Who or what caused the change: the order's history records it.
    pub cause: Cause,
    /// What the change served, when it completes the order: the event's stats count it.
    pub served: Option<Served>,
}

impl Change {
    /// The entry of the order's history this change writes.
    pub fn history_entry(&self) -> HistoryEntry {
        HistoryEntry::of(&self.order, &self.cause)
    }
}

/// A workflow callback owed by a transition.
#[derive(Debug, Clone)]
pub struct Callback {
    pub order_id: OrderId,
    pub token: TaskToken,
    pub action: CallbackAction,
    /// When Step Functions rejects the token for good, the order expires
    /// (docs/architecture.md, "Callbacks and the outbox").
    pub expires_order: bool,
}

/// What to tell the workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallbackAction {
    /// `SendTaskSuccess` with this output.
    Resume { output: serde_json::Value },
    /// `SendTaskFailure` with this error and cause.
    Fail { error: String, cause: String },
}

/// How a cancellation releases the workflow's wait.
///
/// The Serverlesspresso OrderProcessor catches nothing but `States.Timeout` on its waits, so
/// a `SendTaskFailure` fails its execution (no `orderFinished`, an alarm): the default resumes
/// it, as the original Order Manager did, with an output whose `cancelled` its choice after
/// the second wait reads. A cancel while the workflow waits for the drink (`created`) then
/// lets it go on to number the order and wait again; that second wait is released as soon as
/// its `WaitingCompletion` arrives, and the workflow runs to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CancelCallback {
    /// `SendTaskSuccess` with `{"order_id", "outcome": "cancelled", "cancelled": true}`.
    #[default]
    Success,
    /// `SendTaskFailure` with error `OrderCancelled`: for workflows that catch it.
    Failure,
}

impl CancelCallback {
    pub fn action(self, order_id: &OrderId, cause: &str) -> CallbackAction {
        match self {
            Self::Failure => CallbackAction::Fail {
                error: "OrderCancelled".into(),
                cause: cause.into(),
            },
            Self::Success => CallbackAction::Resume {
                output: json!({"order_id": order_id, "outcome": "cancelled", "cancelled": true}),
            },
        }
    }
}

/// Who asks for a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Customer(UserId),
    Barista(UserId),
}

/// Why a requested transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// No such order, or not the caller's: the two are indistinguishable on purpose.
    #[error("order not found")]
    NotFound,
    #[error("order is {state}; it cannot be {action}")]
    StateConflict {
        state: OrderState,
        action: &'static str,
    },
    #[error("order is being prepared by another barista")]
    ClaimedByAnother,
    /// The workflow no longer waits for this order (a wait timed out, its token expired, or
    /// the workflow ended): nothing done here can reach it.
    #[error("the order has expired: the workflow no longer waits for it")]
    Expired,
}

impl Order {
    /// A copy with the version bumped and `updated_at` set: the start of every transition.
    pub(crate) fn next(&self, now: DateTime<Utc>) -> Order {
        let mut o = self.clone();
        o.version += 1;
        o.updated_at = now;
        o
    }

    pub(crate) fn change(&self, order: Order, callbacks: Vec<Callback>, cause: Cause) -> Change {
        Change {
            expected_version: Some(self.version),
            notices: notice_for(self, &order).into_iter().collect(),
            order,
            callbacks,
            settles: vec![],
            cause,
            served: None,
        }
    }

    fn conflict(&self, action: &'static str) -> LifecycleError {
        LifecycleError::StateConflict {
            state: self.state,
            action,
        }
    }

    /// Refuses any action on an order the workflow no longer waits for.
    fn still_awaited(&self) -> Result<(), LifecycleError> {
        let over = self.state == OrderState::Cancelled
            && matches!(
                self.cancel_reason,
                Some(
                    CancelReason::CustomerTimeout
                        | CancelReason::BaristaTimeout
                        | CancelReason::Expired
                        | CancelReason::WorkflowEnded
                )
            );
        if over {
            Err(LifecycleError::Expired)
        } else {
            Ok(())
        }
    }

    /// Whether `actor` may see this order at all.
    pub fn visible_to(&self, actor: &Actor) -> bool {
        match actor {
            Actor::Barista(_) => true,
            Actor::Customer(user) => &self.user_id == user,
        }
    }

    /// The customer submits the drink: `created → submitted`, resuming token #1.
    /// Submitting the same drink again changes nothing (`Ok(None)`): a `PUT` repeated.
    pub fn submit(
        &self,
        customer: &UserId,
        drink: DrinkOrder,
        now: DateTime<Utc>,
    ) -> Result<Option<Change>, LifecycleError> {
        if &self.user_id != customer {
            return Err(LifecycleError::NotFound);
        }
        self.still_awaited()?;
        if self.state != OrderState::Created && self.drink.as_ref() == Some(&drink) {
            return Ok(None);
        }
        let (OrderState::Created, Some(token)) = (self.state, &self.start_token) else {
            return Err(self.conflict("submitted"));
        };
        let mut o = self.next(now);
        o.state = OrderState::Submitted;
        let output = json!({"order_id": self.id, "drink": drink});
        o.drink = Some(drink);
        let cb = Callback {
            order_id: self.id.clone(),
            token: token.clone(),
            action: CallbackAction::Resume { output },
            expires_order: true,
        };
        let by = Cause::Customer {
            user_id: customer.clone(),
        };
        Ok(Some(self.change(o, vec![cb], by)))
    }

    /// A barista claims the order ("make"): `queued → preparing`.
    /// Claiming again by the same barista changes nothing (`Ok(None)`).
    pub fn claim(
        &self,
        barista: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<Change>, LifecycleError> {
        self.still_awaited()?;
        match self.state {
            OrderState::Queued => {
                let mut o = self.next(now);
                o.state = OrderState::Preparing;
                o.barista_user_id = Some(barista.clone());
                Ok(Some(self.change(o, vec![], Cause::barista(barista))))
            }
            OrderState::Preparing if self.barista_user_id.as_ref() == Some(barista) => Ok(None),
            OrderState::Preparing => Err(LifecycleError::ClaimedByAnother),
            _ => Err(self.conflict("claimed")),
        }
    }

    /// A barista releases the order ("unmake"): `preparing → queued`.
    /// Releasing an order that is already queued changes nothing (`Ok(None)`).
    pub fn unclaim(
        &self,
        barista: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<Change>, LifecycleError> {
        self.still_awaited()?;
        match self.state {
            OrderState::Preparing => {
                let mut o = self.next(now);
                o.state = OrderState::Queued;
                o.barista_user_id = None;
                Ok(Some(self.change(o, vec![], Cause::barista(barista))))
            }
            OrderState::Queued => Ok(None),
            _ => Err(self.conflict("unclaimed")),
        }
    }

    /// A barista completes the order: `queued | preparing → completed`, resuming token #2.
    /// The same barista completing it again changes nothing (`Ok(None)`).
    pub fn complete(
        &self,
        barista: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<Change>, LifecycleError> {
        self.still_awaited()?;
        if self.state == OrderState::Completed && self.barista_user_id.as_ref() == Some(barista) {
            return Ok(None);
        }
        let (OrderState::Queued | OrderState::Preparing, Some(token)) =
            (self.state, &self.completion_token)
        else {
            return Err(self.conflict("completed"));
        };
        let mut o = self.next(now);
        o.state = OrderState::Completed;
        o.barista_user_id.get_or_insert_with(|| barista.clone());
        let cb = Callback {
            order_id: self.id.clone(),
            token: token.clone(),
            action: CallbackAction::Resume {
                output: json!({"order_id": self.id, "outcome": "completed", "cancelled": false}),
            },
            expires_order: true,
        };
        Ok(Some(self.change(o, vec![cb], Cause::barista(barista))))
    }

    /// Cancels the order. A customer may cancel their own order until a barista claims it
    /// (`created`, `submitted`, `queued`); a barista may cancel any open order. The
    /// workflow's current wait is released; in `submitted` no token is held, so the wait is
    /// released when token #2 arrives.
    pub fn cancel(
        &self,
        actor: &Actor,
        policy: CancelCallback,
        now: DateTime<Utc>,
    ) -> Result<Change, LifecycleError> {
        if !self.visible_to(actor) {
            return Err(LifecycleError::NotFound);
        }
        self.still_awaited()?;
        let reason = match actor {
            Actor::Customer(_) if self.state == OrderState::Preparing => {
                return Err(self.conflict("cancelled by the customer once a barista makes it"));
            }
            Actor::Customer(_) => CancelReason::Customer,
            Actor::Barista(_) => CancelReason::Barista,
        };
        let token = match self.state {
            OrderState::Created => self.start_token.as_ref(),
            OrderState::Submitted => None,
            OrderState::Queued | OrderState::Preparing => self.completion_token.as_ref(),
            OrderState::Completed | OrderState::Cancelled => return Err(self.conflict("cancelled")),
        };
        let mut o = self.next(now);
        o.state = OrderState::Cancelled;
        o.cancel_reason = Some(reason);
        // Refused for good, the release says the wait was over before the cancel: the order
        // expires, as a submission or a completion would.
        let callbacks = token
            .map(|t| Callback {
                expires_order: true,
                ..self.release(t.clone(), policy, reason)
            })
            .into_iter()
            .collect();
        let by = match actor {
            Actor::Customer(user_id) => Cause::Customer {
                user_id: user_id.clone(),
            },
            Actor::Barista(user_id) => Cause::barista(user_id),
        };
        Ok(self.change(o, callbacks, by))
    }

    /// The callback that releases a wait of the workflow for a cancelled order.
    pub(crate) fn release(
        &self,
        token: TaskToken,
        policy: CancelCallback,
        reason: CancelReason,
    ) -> Callback {
        Callback {
            order_id: self.id.clone(),
            token,
            action: policy.action(&self.id, &format!("cancelled: {}", reason.as_str())),
            expires_order: false,
        }
    }

    /// Step Functions rejected `token` for good (`TaskTimedOut`, `TaskDoesNotExist`,
    /// `InvalidToken`): the wait it belonged to is over. An order that was waiting on that
    /// callback (submitted with token #1, completed with token #2, cancelled by the customer
    /// or a barista with the token of the wait it released) becomes `cancelled` (`expired`):
    /// the workflow never saw the transition. Anything else is unchanged (`None`).
    pub fn expire(&self, token: &TaskToken, now: DateTime<Utc>) -> Option<Change> {
        let mine = |t: &Option<TaskToken>| t.as_ref() == Some(token);
        let waiting_on_it = match (self.state, self.cancel_reason) {
            (OrderState::Submitted, _) => mine(&self.start_token),
            (OrderState::Completed, _) => mine(&self.completion_token),
            (OrderState::Cancelled, Some(CancelReason::Customer | CancelReason::Barista)) => {
                self.workflow_finished_at.is_none()
                    && (mine(&self.start_token) || mine(&self.completion_token))
            }
            _ => false,
        };
        if !waiting_on_it {
            return None;
        }
        let mut o = self.next(now);
        o.state = OrderState::Cancelled;
        o.cancel_reason = Some(CancelReason::Expired);
        Some(self.change(o, vec![], Cause::ExpiredToken))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::ids::{EventId, OrderNumber};
    use crate::domain::order::now;

    pub(crate) fn order(state: OrderState) -> Order {
        let t = now();
        Order {
            id: OrderId::parse("o-1").unwrap(),
            event_id: EventId::parse("NYC").unwrap(),
            user_id: UserId::parse("alice").unwrap(),
            state,
            order_number: (state >= OrderState::Queued).then(|| OrderNumber::new(7).unwrap()),
            drink: None,
            barista_user_id: None,
            cancel_reason: None,
            start_token: Some(TaskToken::parse("token-1").unwrap()),
            completion_token: (state >= OrderState::Queued)
                .then(|| TaskToken::parse("token-2").unwrap()),
            execution_arn: None,
            workflow_finished_at: None,
            version: 3,
            created_at: t,
            updated_at: t,
        }
    }

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    fn latte() -> DrinkOrder {
        DrinkOrder {
            name: "Latte".into(),
            modifiers: vec!["Oat".into()],
            icon: None,
        }
    }

    #[test]
    fn submit_moves_to_submitted_and_resumes_token_one() {
        let o = order(OrderState::Created);
        let c = o.submit(&user("alice"), latte(), now()).unwrap().unwrap();
        assert_eq!(c.order.state, OrderState::Submitted);
        assert_eq!(c.expected_version, Some(3));
        assert_eq!(c.order.version, 4);
        assert_eq!(c.callbacks.len(), 1);
        assert_eq!(c.callbacks[0].token, TaskToken::parse("token-1").unwrap());
        assert!(matches!(
            c.callbacks[0].action,
            CallbackAction::Resume { .. }
        ));
    }

    #[test]
    fn another_customer_cannot_submit_or_cancel() {
        let o = order(OrderState::Created);
        assert_eq!(
            o.submit(&user("mallory"), latte(), now()).unwrap_err(),
            LifecycleError::NotFound
        );
        assert_eq!(
            o.cancel(
                &Actor::Customer(user("mallory")),
                CancelCallback::Failure,
                now()
            )
            .unwrap_err(),
            LifecycleError::NotFound
        );
    }

    #[test]
    fn no_transition_leaves_a_terminal_state() {
        for s in [OrderState::Completed, OrderState::Cancelled] {
            let o = order(s);
            assert!(o.submit(&user("alice"), latte(), now()).is_err());
            assert!(o.claim(&user("bob"), now()).is_err());
            assert!(o.unclaim(&user("bob"), now()).is_err());
            assert!(o.complete(&user("bob"), now()).is_err());
            assert!(
                o.cancel(&Actor::Barista(user("bob")), CancelCallback::Failure, now())
                    .is_err()
            );
        }
    }

    #[test]
    fn claims_are_exclusive_and_idempotent_for_the_claimer() {
        let o = order(OrderState::Queued);
        let claimed = o.claim(&user("bob"), now()).unwrap().unwrap().order;
        assert_eq!(claimed.state, OrderState::Preparing);
        assert!(claimed.claim(&user("bob"), now()).unwrap().is_none());
        assert_eq!(
            claimed.claim(&user("carol"), now()).unwrap_err(),
            LifecycleError::ClaimedByAnother
        );
        let released = claimed.unclaim(&user("bob"), now()).unwrap().unwrap().order;
        assert_eq!(released.state, OrderState::Queued);
        assert_eq!(released.barista_user_id, None);
    }

    #[test]
    fn cancel_releases_the_wait_that_is_held() {
        let bob = Actor::Barista(user("bob"));
        let created = order(OrderState::Created)
            .cancel(&bob, CancelCallback::Failure, now())
            .unwrap();
        assert_eq!(
            created.callbacks[0].token,
            TaskToken::parse("token-1").unwrap()
        );
        let submitted = order(OrderState::Submitted)
            .cancel(&bob, CancelCallback::Failure, now())
            .unwrap();
        assert!(submitted.callbacks.is_empty());
        let queued = order(OrderState::Queued)
            .cancel(&bob, CancelCallback::Success, now())
            .unwrap();
        assert_eq!(
            queued.callbacks[0].token,
            TaskToken::parse("token-2").unwrap()
        );
        assert!(matches!(
            queued.callbacks[0].action,
            CallbackAction::Resume { .. }
        ));
        assert_eq!(queued.order.cancel_reason, Some(CancelReason::Barista));
    }

    #[test]
    fn customers_cancel_until_a_barista_claims_the_order() {
        let alice = Actor::Customer(user("alice"));
        for s in [
            OrderState::Created,
            OrderState::Submitted,
            OrderState::Queued,
        ] {
            let c = order(s)
                .cancel(&alice, CancelCallback::Success, now())
                .unwrap();
            assert_eq!(c.order.cancel_reason, Some(CancelReason::Customer), "{s}");
        }
        assert!(matches!(
            order(OrderState::Preparing).cancel(&alice, CancelCallback::Success, now()),
            Err(LifecycleError::StateConflict { .. })
        ));
    }

    #[test]
    fn repeating_a_submission_or_a_completion_changes_nothing() {
        let submitted = order(OrderState::Created)
            .submit(&user("alice"), latte(), now())
            .unwrap()
            .unwrap()
            .order;
        assert!(
            submitted
                .submit(&user("alice"), latte(), now())
                .unwrap()
                .is_none()
        );
        let mut other = latte();
        other.modifiers = vec!["Soy".into()];
        assert!(matches!(
            submitted.submit(&user("alice"), other, now()),
            Err(LifecycleError::StateConflict { .. })
        ));
        let done = order(OrderState::Queued)
            .complete(&user("bob"), now())
            .unwrap()
            .unwrap()
            .order;
        assert!(done.complete(&user("bob"), now()).unwrap().is_none());
        assert!(done.complete(&user("carol"), now()).is_err());
    }

    #[test]
    fn nothing_reaches_an_order_the_workflow_no_longer_waits_for() {
        for reason in [
            CancelReason::CustomerTimeout,
            CancelReason::BaristaTimeout,
            CancelReason::Expired,
            CancelReason::WorkflowEnded,
        ] {
            let mut o = order(OrderState::Cancelled);
            o.cancel_reason = Some(reason);
            let bob = user("bob");
            let expired = Err::<(), _>(LifecycleError::Expired);
            assert_eq!(
                o.submit(&user("alice"), latte(), now()).map(|_| ()),
                expired
            );
            assert_eq!(o.claim(&bob, now()).map(|_| ()), expired);
            assert_eq!(o.complete(&bob, now()).map(|_| ()), expired);
            let cancel = o.cancel(&Actor::Barista(bob), CancelCallback::Success, now());
            assert_eq!(cancel.map(|_| ()), expired);
            // Someone else's order is still not found.
            assert_eq!(
                o.submit(&user("mallory"), latte(), now()).map(|_| ()),
                Err(LifecycleError::NotFound)
            );
        }
    }

    #[test]
    fn expiry_applies_only_to_the_wait_the_token_belongs_to() {
        let t1 = TaskToken::parse("token-1").unwrap();
        let t2 = TaskToken::parse("token-2").unwrap();
        let mut submitted = order(OrderState::Submitted);
        submitted.drink = Some(latte());
        let c = submitted.expire(&t1, now()).unwrap();
        assert_eq!(c.order.cancel_reason, Some(CancelReason::Expired));
        assert!(submitted.expire(&t2, now()).is_none());
        assert!(order(OrderState::Queued).expire(&t2, now()).is_none());
        assert!(order(OrderState::Completed).expire(&t2, now()).is_some());
    }

    #[test]
    fn a_cancel_refused_for_good_expires_the_order() {
        let barista = Actor::Barista(user("bob"));
        let t2 = TaskToken::parse("token-2").unwrap();
        let change = order(OrderState::Queued)
            .cancel(&barista, CancelCallback::Success, now())
            .unwrap();
        assert!(change.callbacks[0].expires_order, "a dead token expires it");
        let cancelled = change.order;
        let expired = cancelled.expire(&t2, now()).unwrap();
        assert_eq!(expired.order.state, OrderState::Cancelled);
        assert_eq!(expired.order.cancel_reason, Some(CancelReason::Expired));
        // Another order's token, or once the workflow is known to be over: unchanged.
        let other = TaskToken::parse("token-9").unwrap();
        assert!(cancelled.expire(&other, now()).is_none());
        let mut over = cancelled.clone();
        over.workflow_finished_at = Some(now());
        assert!(over.expire(&t2, now()).is_none());
    }
}
