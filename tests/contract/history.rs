//! The history part of the store contract: every applied change adds its entry to the
//! order's story, in the same atomic write (a refused change adds nothing: see the guard and
//! envelope cases).

use chrono::Duration;
use order_manager::domain::history::{Cause, HistoryEntry};
use order_manager::domain::ids::{EnvelopeId, OrderId, OrderNumber, UserId};
use order_manager::domain::order::{OrderState, now};

use crate::cases::{Store, bumped, insert, order, update};

pub async fn every_change_tells_its_story_in_order(store: Store) {
    let o = order("NYC", "alice", OrderState::Created, now());
    store.apply(&insert(&o), None, now()).await.unwrap();

    let mut submitted = bumped(&o);
    submitted.state = OrderState::Submitted;
    submitted.updated_at = o.updated_at + Duration::milliseconds(5);
    let mut by_customer = update(&o, submitted.clone());
    by_customer.cause = Cause::Customer {
        user_id: o.user_id.clone(),
    };
    store.apply(&by_customer, None, now()).await.unwrap();

    let mut queued = bumped(&submitted);
    queued.state = OrderState::Queued;
    queued.order_number = Some(OrderNumber::new(7).unwrap());
    queued.updated_at = submitted.updated_at + Duration::milliseconds(5);
    let mut by_workflow = update(&submitted, queued.clone());
    by_workflow.cause = Cause::Workflow {
        event: "OrderProcessor.WaitingCompletion".into(),
    };
    let envelope = EnvelopeId::parse(format!("env-{}", o.id)).unwrap();
    store
        .apply(&by_workflow, Some(&envelope), now())
        .await
        .unwrap();

    let story = store.history(&o.id).await.unwrap();
    assert_eq!(
        story,
        vec![
            HistoryEntry {
                version: 1,
                at: o.updated_at,
                state: OrderState::Created,
                cause: Cause::Workflow {
                    event: "OrderProcessor.WorkflowStarted".into()
                },
                order_number: None,
                cancel_reason: None,
            },
            HistoryEntry {
                version: 2,
                at: submitted.updated_at,
                state: OrderState::Submitted,
                cause: Cause::Customer {
                    user_id: UserId::parse("alice").unwrap()
                },
                order_number: None,
                cancel_reason: None,
            },
            HistoryEntry {
                version: 3,
                at: queued.updated_at,
                state: OrderState::Queued,
                cause: Cause::Workflow {
                    event: "OrderProcessor.WaitingCompletion".into()
                },
                order_number: Some(OrderNumber::new(7).unwrap()),
                cancel_reason: None,
            },
        ]
    );
    let unknown = OrderId::parse("no-such-order").unwrap();
    assert!(store.history(&unknown).await.unwrap().is_empty());
}
