//! The cases of the store contract, each written against the port only.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use order_manager::domain::deferred::MAX_PER_ORDER;
use order_manager::domain::events::WorkflowEvent;
use order_manager::domain::follow::ChangeFollower;
use order_manager::domain::history::Cause;
use order_manager::domain::ids::{EnvelopeId, EventId, OrderId, OrderNumber, TaskToken, UserId};
use order_manager::domain::lifecycle::{Callback, CallbackAction, Change};
use order_manager::domain::list::{Direction, SortKey};
use order_manager::domain::menu::Menu;
use order_manager::domain::notices::{Notice, NoticeKind};
use order_manager::domain::order::{DrinkOrder, Order, OrderState, now};
use order_manager::domain::ports::{
    CallbackResult, ChangeFilter, NoticeResult, OrderStore, OutboxDepth, OutboxStats, StoreError,
};
use order_manager::domain::service::{OrderService, ServiceConfig};
use order_manager::outbound::no_events::LogOnlyPublisher;
use serde_json::json;

pub(crate) type Store = Arc<dyn OrderStore>;

pub use crate::history::every_change_tells_its_story_in_order;
pub use crate::shop::{
    shop_settings_are_kept_per_event, start_reservations_are_guarded_by_their_version,
};
pub use crate::stats::completions_count_what_they_served_and_keep_their_waits;

const LEASE: Duration = Duration::from_secs(30);

pub(crate) fn uid(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A new order, created `age` ago, of `user` at `event`.
pub(crate) fn order(
    event: &str,
    user: &str,
    state: OrderState,
    created_at: DateTime<Utc>,
) -> Order {
    Order {
        id: OrderId::parse(uid("o")).unwrap(),
        event_id: EventId::parse(event).unwrap(),
        user_id: UserId::parse(user).unwrap(),
        state,
        order_number: None,
        drink: None,
        barista_user_id: None,
        cancel_reason: None,
        start_token: Some(TaskToken::parse(uid("t1")).unwrap()),
        completion_token: None,
        execution_arn: Some("arn:aws:states:us-east-1:1:execution:x:y".into()),
        workflow_finished_at: None,
        version: 1,
        created_at,
        updated_at: created_at,
    }
}

pub(crate) fn insert(o: &Order) -> Change {
    Change {
        order: o.clone(),
        expected_version: None,
        callbacks: vec![],
        notices: vec![],
        settles: vec![],
        cause: Cause::Workflow {
            event: "OrderProcessor.WorkflowStarted".into(),
        },
        served: None,
    }
}

/// A change of `o` to `next`, from version `o.version`.
pub(crate) fn update(o: &Order, next: Order) -> Change {
    Change {
        order: next,
        expected_version: Some(o.version),
        callbacks: vec![],
        notices: vec![],
        settles: vec![],
        cause: Cause::barista(&UserId::parse("bob").unwrap()),
        served: None,
    }
}

pub(crate) fn bumped(o: &Order) -> Order {
    let mut n = o.clone();
    n.version += 1;
    n.updated_at = now();
    n
}

fn callback(o: &Order, token: &str) -> Callback {
    Callback {
        order_id: o.id.clone(),
        token: TaskToken::parse(token).unwrap(),
        action: CallbackAction::Resume {
            output: json!({"order_id": o.id}),
        },
        expires_order: true,
    }
}

async fn stored(store: &Store, o: &Order) -> Order {
    store
        .get(&o.id)
        .await
        .unwrap()
        .expect("the order is stored")
}

/// Claims due callbacks "later than any lease", i.e. as if the lease had run out.
fn after_lease() -> DateTime<Utc> {
    now() + LEASE + Duration::from_secs(1)
}

pub async fn inserts_read_back_exactly(store: Store) {
    let mut o = order("NYC", "alice", OrderState::Queued, now());
    o.order_number = Some(OrderNumber::new(42).unwrap());
    o.drink = Some(DrinkOrder {
        name: "Latte".into(),
        modifiers: vec!["Oat".into(), "Double".into()],
        icon: Some("i".into()),
    });
    o.barista_user_id = Some(UserId::parse("bob").unwrap());
    o.completion_token = Some(TaskToken::parse("x".repeat(2048)).unwrap());
    o.workflow_finished_at = Some(now());
    store.apply(&insert(&o), None, now()).await.unwrap();
    assert_eq!(stored(&store, &o).await, o);
    assert!(
        store
            .get(&OrderId::parse("nope").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn inserting_an_existing_order_conflicts(store: Store) {
    let o = order("NYC", "alice", OrderState::Created, now());
    store.apply(&insert(&o), None, now()).await.unwrap();
    let mut other = o.clone();
    other.user_id = UserId::parse("mallory").unwrap();
    let err = store.apply(&insert(&other), None, now()).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(stored(&store, &o).await, o);
}

pub async fn transitions_are_guarded_by_version(store: Store) {
    let o = order("NYC", "alice", OrderState::Created, now());
    store.apply(&insert(&o), None, now()).await.unwrap();
    let mut next = bumped(&o);
    next.state = OrderState::Submitted;
    store
        .apply(&update(&o, next.clone()), None, now())
        .await
        .unwrap();
    assert_eq!(stored(&store, &o).await, next);
    // A writer that read version 1 loses, and writes nothing.
    let mut stale = bumped(&o);
    stale.state = OrderState::Cancelled;
    let err = store
        .apply(&update(&o, stale), None, now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(stored(&store, &o).await, next);
    let states = [(1, OrderState::Created), (2, OrderState::Submitted)];
    assert_eq!(story(&store, &o).await, states, "no entry of the loser");
}

pub async fn an_update_never_creates_an_order(store: Store) {
    let o = order("NYC", "alice", OrderState::Created, now());
    let err = store
        .apply(&update(&o, bumped(&o)), None, now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert!(store.get(&o.id).await.unwrap().is_none());
}

pub async fn envelope_ids_are_remembered(store: Store) {
    let o = order("NYC", "alice", OrderState::Created, now());
    let env = EnvelopeId::parse(uid("env")).unwrap();
    assert!(!store.event_seen(&env).await.unwrap());
    store.apply(&insert(&o), Some(&env), now()).await.unwrap();
    assert!(store.event_seen(&env).await.unwrap());
    // The same envelope with another change: refused, and nothing of it is written.
    let mut next = bumped(&o);
    next.state = OrderState::Cancelled;
    let err = store
        .apply(&update(&o, next), Some(&env), now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateEvent), "{err:?}");
    assert_eq!(stored(&store, &o).await, o);
    assert_eq!(story(&store, &o).await, [(1, OrderState::Created)]);
}

/// The `(version, state)` of each entry of `o`'s history.
pub(crate) async fn story(store: &Store, o: &Order) -> Vec<(u64, OrderState)> {
    let entries = store.history(&o.id).await.unwrap();
    entries.iter().map(|e| (e.version, e.state)).collect()
}

/// The oldest kept events the service reads: the envelope ids' retention.
fn kept_since() -> chrono::DateTime<chrono::Utc> {
    now() - chrono::Duration::hours(48)
}

pub async fn events_that_change_nothing_are_remembered_and_early_ones_kept(store: Store) {
    let o = OrderId::parse(uid("o")).unwrap();
    let env = |k: &str| EnvelopeId::parse(format!("{o}-{k}")).unwrap();
    let waiting = WorkflowEvent::WaitingCompletion {
        order_id: o.clone(),
        order_number: OrderNumber::new(3).unwrap(),
        token: TaskToken::parse(uid("t2")).unwrap(),
        execution_arn: None,
    };
    let finished = WorkflowEvent::Finished {
        order_id: o.clone(),
        execution_arn: Some("arn:x".into()),
    };
    // An envelope alone (a stale event), then kept events: each envelope once.
    assert!(
        !store
            .record_event(&env("a"), Some(&o), None, now())
            .await
            .unwrap()
    );
    assert!(store.event_seen(&env("a")).await.unwrap());
    let err = store
        .record_event(&env("a"), Some(&o), None, now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateEvent), "{err:?}");
    assert!(
        store
            .deferred_events(&o, kept_since())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .record_event(&env("b"), None, Some(&waiting), now())
            .await
            .unwrap()
    );
    let later = now() + chrono::Duration::milliseconds(5);
    assert!(
        store
            .record_event(&env("c"), None, Some(&finished), later)
            .await
            .unwrap()
    );
    let err = store
        .record_event(&env("c"), None, Some(&waiting), now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateEvent), "{err:?}");
    let kept = store.deferred_events(&o, kept_since()).await.unwrap();
    assert_eq!(kept.len(), 2, "nothing of the duplicate was kept");
    assert!(
        matches!(&kept[0], WorkflowEvent::WaitingCompletion { token, .. }
        if Some(token) == match &waiting { WorkflowEvent::WaitingCompletion { token, .. } => Some(token), _ => None })
    );
    assert!(
        matches!(&kept[1], WorkflowEvent::Finished { execution_arn: Some(a), .. } if a == "arn:x")
    );
    // Bounded per order: past the limit, only the envelope is recorded.
    for k in 2..MAX_PER_ORDER {
        let at = now() + chrono::Duration::milliseconds(10 + k as i64);
        assert!(
            store
                .record_event(&env(&format!("k{k}")), None, Some(&finished), at)
                .await
                .unwrap()
        );
    }
    assert!(
        !store
            .record_event(&env("over"), None, Some(&finished), now())
            .await
            .unwrap()
    );
    assert!(store.event_seen(&env("over")).await.unwrap());
    assert_eq!(
        store.deferred_events(&o, kept_since()).await.unwrap().len(),
        MAX_PER_ORDER
    );
    // Another order's are its own.
    let other = OrderId::parse(uid("o")).unwrap();
    assert!(
        store
            .deferred_events(&other, kept_since())
            .await
            .unwrap()
            .is_empty()
    );
    // Kept longer than the retention: forgotten, whether or not pruned yet (DynamoDB's TTL
    // deletes items days late).
    let late = OrderId::parse(uid("o")).unwrap();
    let long_ago = now() - chrono::Duration::hours(49);
    let old_end = WorkflowEvent::Finished {
        order_id: late.clone(),
        execution_arn: None,
    };
    let old_env = EnvelopeId::parse(format!("{late}-old")).unwrap();
    assert!(
        store
            .record_event(&old_env, None, Some(&old_end), long_ago)
            .await
            .unwrap()
    );
    assert!(
        store
            .deferred_events(&late, kept_since())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.deferred_events(&late, long_ago).await.unwrap().len(),
        1
    );
}

pub async fn a_token_is_used_at_most_once(store: Store) {
    let o = order("NYC", "alice", OrderState::Created, now());
    let token = uid("tok");
    let mut first = insert(&o);
    first.callbacks.push(callback(&o, &token));
    store.apply(&first, None, now()).await.unwrap();
    // Another change that owes a callback on the same token: refused as a whole.
    let mut next = bumped(&o);
    next.state = OrderState::Submitted;
    let mut second = update(&o, next);
    second.callbacks.push(callback(&o, &token));
    let err = store.apply(&second, None, now()).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(stored(&store, &o).await, o);
}

pub async fn callbacks_are_leased_and_handed_out_once(store: Store) {
    let o = order("NYC", "alice", OrderState::Created, now());
    let token = uid("tok");
    let mut c = insert(&o);
    c.callbacks.push(callback(&o, &token));
    let applied = store.apply(&c, None, now() + LEASE).await.unwrap();
    assert_eq!(applied.callbacks.len(), 1);
    // Leased to the writer: nobody else gets it now.
    let due = store.claim_due_callbacks(now(), LEASE, 10).await.unwrap();
    assert!(
        due.iter().all(|d| d.token.expose() != token),
        "leased callbacks are not due"
    );
    // When the lease has run out, one claimer gets it, and then it is leased again.
    let later = after_lease();
    let due = store.claim_due_callbacks(later, LEASE, 100).await.unwrap();
    let mine: Vec<_> = due.iter().filter(|d| d.token.expose() == token).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, applied.callbacks[0]);
    assert_eq!(mine[0].order_id, o.id);
    assert!(mine[0].expires_order);
    assert!(matches!(mine[0].action, CallbackAction::Resume { .. }));
    let again = store.claim_due_callbacks(later, LEASE, 100).await.unwrap();
    assert!(again.iter().all(|d| d.token.expose() != token));
}

pub async fn the_outbox_depth_counts_what_is_pending(store: Store) {
    assert_eq!(store.outbox_stats().await.unwrap(), OutboxStats::default());
    let o = order("NYC", "alice", OrderState::Created, now());
    let mut c = insert(&o);
    c.callbacks.push(callback(&o, &uid("tok")));
    c.callbacks.push(callback(&o, &uid("tok")));
    let lease_until = now() + LEASE;
    let ids = store.apply(&c, None, lease_until).await.unwrap().callbacks;
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(stats.callbacks.pending, 2);
    assert_eq!(
        stats.callbacks.next_due.map(|t| t.timestamp_micros()),
        Some(lease_until.timestamp_micros()),
        "leased until the writer's lease ends"
    );
    assert_eq!(stats.notices, OutboxDepth::default());
    store
        .finish_callback(ids[0], CallbackResult::Delivered)
        .await
        .unwrap();
    assert_eq!(store.outbox_stats().await.unwrap().callbacks.pending, 1);
}

pub async fn finished_callbacks_are_not_handed_out_again(store: Store) {
    let o = order("NYC", "alice", OrderState::Created, now());
    let (t1, t2) = (uid("tok"), uid("tok"));
    let mut c = insert(&o);
    c.callbacks.push(callback(&o, &t1));
    c.callbacks.push(callback(&o, &t2));
    let ids = store.apply(&c, None, now()).await.unwrap().callbacks;
    store
        .finish_callback(ids[0], CallbackResult::Delivered)
        .await
        .unwrap();
    let retry_at = now() + Duration::from_secs(5);
    store
        .finish_callback(
            ids[1],
            CallbackResult::Retry {
                error: "throttled".into(),
                next_attempt_at: retry_at,
                outcome_unknown: true,
            },
        )
        .await
        .unwrap();
    let soon = store.claim_due_callbacks(now(), LEASE, 100).await.unwrap();
    assert!(soon.iter().all(|d| d.id != ids[0] && d.id != ids[1]));
    let later = store
        .claim_due_callbacks(retry_at + Duration::from_millis(1), LEASE, 100)
        .await
        .unwrap();
    let mine: Vec<_> = later.iter().filter(|d| d.id == ids[1]).collect();
    assert_eq!(mine.len(), 1, "due again at its retry time");
    assert_eq!(mine[0].attempts, 1);
    assert!(mine[0].outcome_unknown, "an unknown outcome is remembered");
    assert!(
        later.iter().all(|d| d.id != ids[0]),
        "delivered stays delivered"
    );
    // Rejected is final too.
    store
        .finish_callback(
            ids[1],
            CallbackResult::Rejected {
                error: "TaskTimedOut".into(),
            },
        )
        .await
        .unwrap();
    let last = store
        .claim_due_callbacks(after_lease() + LEASE, LEASE, 100)
        .await
        .unwrap();
    assert!(last.iter().all(|d| d.id != ids[1]));
}

pub async fn an_attempt_cut_off_is_handed_out_as_possibly_delivered(store: Store) {
    let o = order("NYC", "alice", OrderState::Created, now());
    let token = uid("tok");
    let mut c = insert(&o);
    c.callbacks.push(callback(&o, &token));
    let id = store.apply(&c, None, now()).await.unwrap().callbacks[0];
    // Nobody recorded the inline attempt (its process died): when the lease runs out it is
    // handed out again, marked as possibly delivered.
    let due = store
        .claim_due_callbacks(after_lease(), LEASE, 100)
        .await
        .unwrap();
    let mine = due.iter().find(|d| d.id == id).expect("handed out again");
    assert!(mine.outcome_unknown);
}

pub async fn settled_callbacks_are_not_sent(store: Store) {
    let o = order("NYC", "alice", OrderState::Submitted, now());
    let token = uid("tok");
    let mut c = insert(&o);
    c.callbacks.push(callback(&o, &token));
    store.apply(&c, None, now()).await.unwrap();
    let mut next = bumped(&o);
    next.state = OrderState::Queued;
    let mut settle = update(&o, next);
    settle
        .settles
        .push(TaskToken::parse(token.as_str()).unwrap());
    store.apply(&settle, None, now()).await.unwrap();
    let due = store
        .claim_due_callbacks(after_lease(), LEASE, 100)
        .await
        .unwrap();
    assert!(due.iter().all(|d| d.token.expose() != token));
}

pub async fn notices_are_published_once_and_retried_when_asked(store: Store) {
    let o = order("NYC", "alice", OrderState::Queued, now());
    let mut c = insert(&o);
    let tag = uid("n");
    for kind in [NoticeKind::WaitingCompletion, NoticeKind::MakeOrder] {
        c.notices.push(Notice {
            kind,
            detail: json!({"orderId": o.id, "tag": tag}),
        });
    }
    store.apply(&c, None, now()).await.unwrap();
    let mut mine = Vec::new();
    for _ in 0..20 {
        let due = store.claim_due_notices(now(), LEASE, 10).await.unwrap();
        if due.is_empty() {
            break;
        }
        mine.extend(
            due.into_iter()
                .filter(|d| d.notice.detail["tag"] == tag.as_str()),
        );
    }
    assert_eq!(mine.len(), 2, "each notice handed out once");
    assert_eq!(
        mine[0].notice.kind,
        NoticeKind::WaitingCompletion,
        "in the order written"
    );
    assert_eq!(mine[1].notice.kind, NoticeKind::MakeOrder);
    store
        .finish_notice(mine[0].id, NoticeResult::Published)
        .await
        .unwrap();
    let retry_at = now() + Duration::from_secs(5);
    store
        .finish_notice(
            mine[1].id,
            NoticeResult::Retry {
                error: "InternalFailure".into(),
                next_attempt_at: retry_at,
            },
        )
        .await
        .unwrap();
    let later = store
        .claim_due_notices(retry_at + Duration::from_millis(1), LEASE, 100)
        .await
        .unwrap();
    let again: Vec<_> = later
        .iter()
        .filter(|d| d.notice.detail["tag"] == tag.as_str())
        .collect();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, mine[1].id);
    assert_eq!(again[0].attempts, 1);
}

fn ids(orders: &[Order]) -> Vec<String> {
    orders.iter().map(|o| o.id.to_string()).collect()
}

pub async fn lists_by_state_follow_time_both_ways(store: Store) {
    let event = uid("EVT");
    let base = now() - chrono::Duration::hours(1);
    let mut queued = Vec::new();
    for i in 0..7 {
        let o = order(
            &event,
            "alice",
            OrderState::Queued,
            base + chrono::Duration::seconds(i),
        );
        store.apply(&insert(&o), None, now()).await.unwrap();
        queued.push(o);
    }
    let other = order(&event, "alice", OrderState::Completed, base);
    store.apply(&insert(&other), None, now()).await.unwrap();
    let elsewhere = order(&uid("EVT"), "alice", OrderState::Queued, base);
    store.apply(&insert(&elsewhere), None, now()).await.unwrap();
    let ev = EventId::parse(event.as_str()).unwrap();

    let page = store
        .list_by_state(&ev, OrderState::Queued, Direction::OldestFirst, None, 5)
        .await
        .unwrap();
    assert_eq!(ids(&page.orders), ids(&queued[..5]));
    let after = SortKey::of(&page.orders[4]);
    let rest = store
        .list_by_state(
            &ev,
            OrderState::Queued,
            Direction::OldestFirst,
            Some(&after),
            5,
        )
        .await
        .unwrap();
    assert_eq!(ids(&rest.orders), ids(&queued[5..]));
    let newest = store
        .list_by_state(&ev, OrderState::Queued, Direction::NewestFirst, None, 3)
        .await
        .unwrap();
    let mut expected = ids(&queued);
    expected.reverse();
    assert_eq!(ids(&newest.orders), expected[..3]);
    let before = SortKey::of(&newest.orders[2]);
    let older = store
        .list_by_state(
            &ev,
            OrderState::Queued,
            Direction::NewestFirst,
            Some(&before),
            10,
        )
        .await
        .unwrap();
    assert_eq!(ids(&older.orders), expected[3..]);
    // A transition moves the order between lists.
    let mut done = bumped(&queued[0]);
    done.state = OrderState::Completed;
    store
        .apply(&update(&queued[0], done), None, now())
        .await
        .unwrap();
    let completed = store
        .list_by_state(&ev, OrderState::Completed, Direction::NewestFirst, None, 10)
        .await
        .unwrap();
    assert_eq!(completed.orders.len(), 2);
    let queued_now = store
        .list_by_state(&ev, OrderState::Queued, Direction::OldestFirst, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&queued_now.orders), ids(&queued[1..]));
}

pub async fn lists_by_user_are_newest_first(store: Store) {
    let user = uid("user");
    let base = now() - chrono::Duration::hours(1);
    let mut mine = Vec::new();
    for i in 0..5 {
        let event = if i % 2 == 0 { "NYC" } else { "LDN" };
        let o = order(
            event,
            &user,
            OrderState::Created,
            base + chrono::Duration::seconds(i),
        );
        store.apply(&insert(&o), None, now()).await.unwrap();
        mine.push(o);
    }
    store
        .apply(
            &insert(&order("NYC", &uid("other"), OrderState::Created, base)),
            None,
            now(),
        )
        .await
        .unwrap();
    let u = UserId::parse(user.as_str()).unwrap();
    let first = store.list_by_user(&u, None, 3).await.unwrap();
    let mut expected = ids(&mine);
    expected.reverse();
    assert_eq!(ids(&first.orders), expected[..3]);
    let rest = store
        .list_by_user(&u, Some(&SortKey::of(&first.orders[2])), 3)
        .await
        .unwrap();
    assert_eq!(ids(&rest.orders), expected[3..]);
}

/// Lists show orders without their task tokens, from the database and from memory alike;
/// `get` still reads them whole.
pub async fn listed_orders_carry_no_task_tokens(store: Store) {
    let (event, user) = (uid("ev"), uid("user"));
    let mut written = Vec::new();
    for state in [
        OrderState::Created,
        OrderState::Queued,
        OrderState::Preparing,
    ] {
        let mut o = order(&event, &user, state, now());
        o.completion_token = Some(TaskToken::parse(uid("t2")).unwrap());
        store.apply(&insert(&o), None, now()).await.unwrap();
        written.push(o);
    }
    let e = EventId::parse(event.as_str()).unwrap();
    let u = UserId::parse(user.as_str()).unwrap();
    let mut listed = store.list_by_user(&u, None, 10).await.unwrap().orders;
    for o in &written {
        listed.extend(
            store
                .list_by_state(&e, o.state, Direction::OldestFirst, None, 10)
                .await
                .unwrap()
                .orders,
        );
    }
    assert_eq!(listed.len(), 2 * written.len());
    for l in &listed {
        let whole = written.iter().find(|o| o.id == l.id).unwrap();
        assert_eq!(l, &whole.clone().listed(), "listed with its tokens");
        assert_eq!(
            &stored(&store, whole).await,
            whole,
            "get reads the order whole"
        );
    }
}

/// `n` orders written `concurrency` at a time, then read back 100 per page.
/// `applied` orders written by transitions (`concurrency` at a time) and `imported` more
/// bulk-loaded, in one event and state, listed 100 a page both ways: each exactly once, in
/// order.
pub async fn pagination_sees_each_order_once_in_order(
    under: &crate::stores::Under,
    state: OrderState,
    applied: usize,
    imported: usize,
    concurrency: usize,
) {
    let store = under.store.clone();
    let n = applied + imported;
    let event = uid("BIG");
    let ev = EventId::parse(event.as_str()).unwrap();
    let base = now() - chrono::Duration::hours(2);
    // Some share a timestamp: the order id breaks ties. Transitions and the bulk load
    // interleave in time.
    let all: Vec<Order> = (0..n)
        .map(|i| {
            order(
                &event,
                "alice",
                state,
                base + chrono::Duration::milliseconds((i / 3) as i64),
            )
        })
        .collect();
    // Every `stride`-th order by a transition, the rest by the bulk load.
    let stride = n / applied.max(1);
    let (by_transition, by_import): (Vec<_>, Vec<_>) = all
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| applied > 0 && i % stride == 0 && i / stride < applied);
    assert_eq!(by_transition.len(), applied);
    let mut writes = tokio::task::JoinSet::new();
    for (_, o) in by_transition {
        let s = store.clone();
        writes.spawn(async move {
            // A store may answer `Unavailable` under load (moto does, to concurrent
            // transactions): a writer tries again, as the service's callers do after a 503.
            for attempt in 0.. {
                match s.apply(&insert(&o), None, now()).await {
                    Ok(_) => return,
                    Err(StoreError::Unavailable(_)) if attempt < 10 => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        });
        if writes.len() >= concurrency {
            writes.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = writes.join_next().await {
        r.unwrap();
    }
    // After the transitions: moto copies the whole table for each transaction.
    let started = std::time::Instant::now();
    under
        .import(by_import.into_iter().map(|(_, o)| o).collect())
        .await;
    eprintln!("bulk load: {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let mut want = all;
    want.sort_by_key(SortKey::of);
    for direction in [Direction::OldestFirst, Direction::NewestFirst] {
        if direction == Direction::NewestFirst {
            want.reverse();
        }
        let mut seen = Vec::with_capacity(n);
        let mut after: Option<SortKey> = None;
        loop {
            let page = store
                .list_by_state(&ev, state, direction, after.as_ref(), 100)
                .await
                .unwrap();
            if page.orders.is_empty() {
                break;
            }
            after = page.orders.last().map(SortKey::of);
            seen.extend(page.orders);
        }
        assert_eq!(seen.len(), n, "{direction:?}: every order once");
        assert_eq!(
            ids(&seen),
            ids(&want),
            "{direction:?}: in order, ties by order id"
        );
    }
    eprintln!("listing both ways: {:?}", started.elapsed());
}

/// A workflow the follower case never calls.
struct NoWorkflow;

#[async_trait::async_trait]
impl order_manager::domain::ports::Workflow for NoWorkflow {
    async fn start(
        &self,
        _: &OrderId,
        _: &UserId,
        _: &EventId,
        _: &order_manager::domain::shop::ShopSettings,
    ) -> Result<(), order_manager::domain::ports::StartError> {
        unreachable!("the follower case starts no workflow")
    }
    async fn resume(
        &self,
        _: &TaskToken,
        _: &serde_json::Value,
    ) -> Result<(), order_manager::domain::ports::CallbackError> {
        unreachable!("the follower case sends no callback")
    }
    async fn fail(
        &self,
        _: &TaskToken,
        _: &str,
        _: &str,
    ) -> Result<(), order_manager::domain::ports::CallbackError> {
        unreachable!("the follower case sends no callback")
    }
}

/// Reads `follower` until nothing more is visible (the indexes of some stores lag a little).
async fn drain(follower: &mut ChangeFollower, want: usize) -> Vec<(String, u64)> {
    let mut got = Vec::new();
    for _ in 0..50 {
        while let Some(c) = follower.next().await.unwrap() {
            got.push((c.order.order_id, c.order.version));
        }
        if got.len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    got
}

/// A follower of the change log gets every change once, including one numbered before
/// changes it has already delivered (a slow writer's, on a store that numbers changes before
/// they become visible); a follower that resumes from a position gets at least every change
/// after it.
pub async fn a_follower_gets_every_change_once_even_when_it_appears_late(store: Store) {
    let service = OrderService::new(
        store.clone(),
        Arc::new(NoWorkflow),
        Arc::new(LogOnlyPublisher),
        ServiceConfig::new(EventId::parse("NYC").unwrap()),
    );
    let event = uid("FOL");
    let filter = ChangeFilter::Event(EventId::parse(event.as_str()).unwrap());
    let (latest, _) = store.change_window().await.unwrap();
    let mut follower = ChangeFollower::new(service.clone(), filter.clone(), latest, None);
    // A change stamped before `b`, whose write was slow: it becomes visible after `b`'s.
    let slow = order(&event, "alice", OrderState::Created, now());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let b = order(&event, "bob", OrderState::Created, now());
    store.apply(&insert(&b), None, now()).await.unwrap();
    let first = drain(&mut follower, 1).await;
    assert_eq!(first, vec![(b.id.to_string(), 1)]);
    let resume_at = follower.position();
    store.apply(&insert(&slow), None, now()).await.unwrap();
    let mut next = bumped(&b);
    next.state = OrderState::Submitted;
    store.apply(&update(&b, next), None, now()).await.unwrap();
    let later = drain(&mut follower, 2).await;
    let mut later_sorted = later.clone();
    later_sorted.sort();
    let mut want = vec![(slow.id.to_string(), 1), (b.id.to_string(), 2)];
    want.sort();
    assert_eq!(later_sorted, want, "each change once, the late one too");
    // Nothing is delivered twice, however often the follower looks.
    assert!(drain(&mut follower, 0).await.is_empty());
    // Resuming from where the first change was delivered: everything after it comes again
    // (a resumed follower may repeat what it had before; the order's version tells).
    let mut resumed = ChangeFollower::new(service, filter, latest, Some(resume_at));
    let again = drain(&mut resumed, 2).await;
    for change in &want {
        assert!(again.contains(change), "{change:?} in {again:?}");
    }
}

pub async fn the_change_log_follows_events_and_users(store: Store) {
    let event = uid("EVT");
    let (latest_before, _) = store.change_window().await.unwrap();
    let a = order(&event, "alice", OrderState::Created, now());
    store.apply(&insert(&a), None, now()).await.unwrap();
    let b = order(&event, "bob", OrderState::Created, now());
    store.apply(&insert(&b), None, now()).await.unwrap();
    let mut next = bumped(&a);
    next.state = OrderState::Submitted;
    let s1 = store
        .apply(&update(&a, next), None, now())
        .await
        .unwrap()
        .seq;

    let ev = ChangeFilter::Event(EventId::parse(event.as_str()).unwrap());
    let page = store.changes_after(latest_before, &ev, 100).await.unwrap();
    assert_eq!(page.through, s1, "the read went to the last entry");
    let all = page.changes;
    let states: Vec<(String, String)> = all
        .iter()
        .map(|c| (c.order.order_id.clone(), c.order.state.clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            (a.id.to_string(), "created".into()),
            (b.id.to_string(), "created".into()),
            (a.id.to_string(), "submitted".into()),
        ]
    );
    assert!(
        all.windows(2).all(|w| w[0].seq < w[1].seq),
        "numbers increase"
    );
    assert_eq!(all[2].seq, s1);
    // After a number: only what came later.
    let later = store.changes_after(all[0].seq, &ev, 100).await.unwrap();
    assert_eq!(later.changes.len(), 2);
    // A full page: the read stops at its last entry, and the next one goes on from there.
    let first = store.changes_after(latest_before, &ev, 1).await.unwrap();
    assert_eq!(first.changes.len(), 1);
    assert_eq!(first.through, all[0].seq);
    let rest = store.changes_after(first.through, &ev, 100).await.unwrap();
    assert_eq!(
        rest.changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![all[1].seq, all[2].seq]
    );
    // A read of no entries goes nowhere.
    let empty = store.changes_after(latest_before, &ev, 0).await.unwrap();
    assert!(empty.changes.is_empty());
    assert_eq!(empty.through, latest_before);
    // Nothing after the end; the position stays.
    let none = store.changes_after(s1, &ev, 100).await.unwrap();
    assert!(none.changes.is_empty());
    assert!(none.through >= s1);
    // A user's filter sees only theirs.
    let alice = ChangeFilter::User(UserId::parse("alice").unwrap());
    let mine = store
        .changes_after(latest_before, &alice, 100)
        .await
        .unwrap()
        .changes;
    assert!(mine.iter().all(|c| c.order.user_id == "alice"));
    assert!(mine.iter().any(|c| c.order.order_id == a.id.as_str()));
    let (latest, _) = store.change_window().await.unwrap();
    assert!(latest >= s1);
}

pub async fn menus_are_kept_per_event(store: Store) {
    let event = EventId::parse(uid("EVT")).unwrap();
    assert!(store.get_menu(&event).await.unwrap().is_none());
    let mut menu = Menu::default_menu();
    menu.drinks.truncate(2);
    store.put_menu(&event, &menu).await.unwrap();
    assert_eq!(
        store.get_menu(&event).await.unwrap().as_deref(),
        Some(&menu)
    );
    menu.drinks.truncate(1);
    store.put_menu(&event, &menu).await.unwrap();
    assert_eq!(
        store.get_menu(&event).await.unwrap().as_deref(),
        Some(&menu)
    );
}

pub async fn racing_writers_on_one_version_make_one_winner(store: Store) {
    let o = order("NYC", "alice", OrderState::Queued, now());
    store.apply(&insert(&o), None, now()).await.unwrap();
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (s, o) = (store.clone(), o.clone());
        racers.spawn(async move {
            let mut next = bumped(&o);
            next.state = OrderState::Preparing;
            next.barista_user_id = Some(UserId::parse(format!("barista-{i}")).unwrap());
            let mut change = update(&o, next);
            change
                .callbacks
                .push(callback(&o, &format!("race-{}-{i}", o.id)));
            s.apply(&change, None, now()).await
        });
    }
    let mut wins = 0;
    while let Some(r) = racers.join_next().await {
        match r.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(wins, 1);
    let due = store
        .claim_due_callbacks(after_lease(), LEASE, 100)
        .await
        .unwrap();
    let owed = due.iter().filter(|d| d.order_id == o.id).count();
    assert_eq!(owed, 1, "only the winner's callback was recorded");
}

pub async fn the_store_answers_pings(store: Store) {
    store.ping().await.unwrap();
}
