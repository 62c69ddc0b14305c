//! The stats part of the store contract: a completion's change counts what it served (per
//! event, UTC day and drink) and keeps its wait, in the same write; the queue is the orders
//! `queued` or `preparing`.

use std::time::Duration;

use order_manager::domain::ids::EventId;
use order_manager::domain::order::{OrderState, now};
use order_manager::domain::stats::{Served, Wait};

use crate::cases::{Store, bumped, insert, order, uid, update};

pub async fn completions_count_what_they_served_and_keep_their_waits(store: Store) {
    let event = uid("EVT");
    let ev = EventId::parse(event.as_str()).unwrap();
    let t = now();
    let yesterday = t - chrono::Duration::days(1);
    for (state, n) in [
        (OrderState::Queued, 2),
        (OrderState::Preparing, 1),
        (OrderState::Created, 3),
    ] {
        for _ in 0..n {
            let o = order(&event, "alice", state, t);
            store.apply(&insert(&o), None, now()).await.unwrap();
        }
    }
    let mut waits = vec![];
    for (i, (drink, at)) in [
        ("Latte", t),
        ("Latte", t + chrono::Duration::seconds(1)),
        ("Mocha", t + chrono::Duration::seconds(2)),
        ("Latte", yesterday),
    ]
    .into_iter()
    .enumerate()
    {
        let o = order(&event, "bob", OrderState::Preparing, at);
        store.apply(&insert(&o), None, now()).await.unwrap();
        let mut done = bumped(&o);
        done.state = OrderState::Completed;
        done.updated_at = at;
        let wait = Duration::from_secs(60 * (i as u64 + 1));
        let mut change = update(&o, done);
        change.served = Some(Served {
            drink: drink.into(),
            at,
            wait: Some(wait),
        });
        store.apply(&change, None, now()).await.unwrap();
        waits.push(Wait {
            completed_at: at,
            wait,
        });
    }

    let today = store
        .stats(&ev, t.date_naive(), t - chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(today.queue_length, 3, "two queued, one preparing");
    assert_eq!(
        today.served.into_iter().collect::<Vec<_>>(),
        [("Latte".to_string(), 2), ("Mocha".to_string(), 1)]
    );
    let mut got = today.waits;
    got.sort_by_key(|w| w.completed_at);
    assert_eq!(got, waits[..3], "yesterday's wait is outside the window");

    let before = store
        .stats(
            &ev,
            yesterday.date_naive(),
            yesterday - chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(before.served.get("Latte"), Some(&1));
    assert_eq!(before.waits.len(), 4);
    let other = EventId::parse(uid("EVT")).unwrap();
    let nothing = store
        .stats(&other, t.date_naive(), yesterday)
        .await
        .unwrap();
    assert_eq!(
        (
            nothing.queue_length,
            nothing.served.len(),
            nothing.waits.len()
        ),
        (0, 0, 0)
    );
}
