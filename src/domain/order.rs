//! The order and its states (docs/architecture.md, "Lifecycle").

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{EventId, OrderId, OrderNumber, TaskToken, UserId};

/// Where an order is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Waiting for the customer's drink; holds token #1.
    Created,
    /// Drink chosen, token #1 returned (or being returned); waiting for the order number.
    Submitted,
    /// Has an order number and token #2: in the barista queue.
    Queued,
    /// Claimed by a barista.
    Preparing,
    /// Terminal: made and handed over.
    Completed,
    /// Terminal, with a [`CancelReason`].
    Cancelled,
}

impl OrderState {
    pub const ALL: [OrderState; 6] = [
        Self::Created,
        Self::Submitted,
        Self::Queued,
        Self::Preparing,
        Self::Completed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Submitted => "submitted",
            Self::Queued => "queued",
            Self::Preparing => "preparing",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown order state `{s}`"))
    }
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The customer cancelled before submitting a drink.
    Customer,
    /// A barista cancelled.
    Barista,
    /// The workflow's first wait (the customer's) timed out.
    CustomerTimeout,
    /// The workflow's second wait (the barista's) timed out.
    BaristaTimeout,
    /// Step Functions rejected our callback for good: the token had expired.
    Expired,
    /// The workflow finished while the order was still open.
    WorkflowEnded,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Barista => "barista",
            Self::CustomerTimeout => "customer_timeout",
            Self::BaristaTimeout => "barista_timeout",
            Self::Expired => "expired",
            Self::WorkflowEnded => "workflow_ended",
        }
    }
}

impl FromStr for CancelReason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Customer,
            Self::Barista,
            Self::CustomerTimeout,
            Self::BaristaTimeout,
            Self::Expired,
            Self::WorkflowEnded,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| format!("unknown cancel reason `{s}`"))
    }
}

/// The drink a customer ordered, as validated against the menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrinkOrder {
    pub name: String,
    pub modifiers: Vec<String>,
    pub icon: Option<String>,
}

/// One order, as stored. Tokens are secret: they never leave the service.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: OrderId,
    pub event_id: EventId,
    pub user_id: UserId,
    pub state: OrderState,
    pub order_number: Option<OrderNumber>,
    pub drink: Option<DrinkOrder>,
    pub barista_user_id: Option<UserId>,
    pub cancel_reason: Option<CancelReason>,
    /// Task token #1 (the customer's wait).
    pub start_token: Option<TaskToken>,
    /// Task token #2 (the barista's wait).
    pub completion_token: Option<TaskToken>,
    /// The Step Functions execution that owns this order, when the envelope named it.
    pub execution_arn: Option<String>,
    /// Set when the workflow was seen past its last wait (`OrderProcessor.orderFinished`, or a
    /// time-out of an order that had ended here): no token of ours is alive any more.
    pub workflow_finished_at: Option<DateTime<Utc>>,
    /// Bumped by every transition; the guard of every conditional write.
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// The order as lists carry it: without its task tokens (a list is for showing; a
    /// transition reads its order whole, by id).
    pub fn listed(mut self) -> Order {
        self.start_token = None;
        self.completion_token = None;
        self
    }

    /// A copy of the order as lists carry it (the tokens are not copied).
    pub fn to_listed(&self) -> Order {
        Order {
            id: self.id.clone(),
            event_id: self.event_id.clone(),
            user_id: self.user_id.clone(),
            state: self.state,
            order_number: self.order_number,
            drink: self.drink.clone(),
            barista_user_id: self.barista_user_id.clone(),
            cancel_reason: self.cancel_reason,
            start_token: None,
            completion_token: None,
            execution_arn: self.execution_arn.clone(),
            workflow_finished_at: self.workflow_finished_at,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The current time at the precision the stores keep (microseconds).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Orders and changes for the crate's unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::domain::ids::{EventId, OrderId, UserId};
    use crate::domain::lifecycle::Change;

    /// A new order `id` of `user` at coffee event NYC, in `state`, with nothing else set.
    pub(crate) fn order(id: &str, user: &str, state: OrderState) -> Order {
        Order {
            id: OrderId::parse(id).unwrap(),
            event_id: EventId::parse("NYC").unwrap(),
            user_id: UserId::parse(user).unwrap(),
            state,
            order_number: None,
            drink: None,
            barista_user_id: None,
            cancel_reason: None,
            start_token: None,
            completion_token: None,
            execution_arn: None,
            workflow_finished_at: None,
            version: 1,
            created_at: now(),
            updated_at: now(),
        }
    }

    /// A write of `order` alone: an insert (`expected` `None`) or a guarded update.
    pub(crate) fn write(order: &Order, expected: Option<u64>) -> Change {
        Change {
            order: order.clone(),
            expected_version: expected,
            callbacks: vec![],
            notices: vec![],
            settles: vec![],
            cause: crate::domain::history::Cause::Workflow {
                event: "OrderProcessor.WorkflowStarted".into(),
            },
            served: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for s in OrderState::ALL {
            assert_eq!(s.as_str().parse::<OrderState>().unwrap(), s);
        }
        assert!("open".parse::<OrderState>().is_err());
    }
}
