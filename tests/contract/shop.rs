//! The shop settings part of the store contract: kept per coffee event, replaced whole; and
//! the starts reserved per event and customer, replaced only at the version read.

use order_manager::domain::ids::{EventId, OrderId, UserId};
use order_manager::domain::order::now;
use order_manager::domain::ports::StoreError;
use order_manager::domain::shop::ShopSettings;
use order_manager::domain::starts::{Reservation, Reservations};

use crate::cases::{Store, uid};

pub async fn shop_settings_are_kept_per_event(store: Store) {
    let (nyc, ldn) = (
        EventId::parse(uid("NYC")).unwrap(),
        EventId::parse(uid("LDN")).unwrap(),
    );
    assert_eq!(store.get_shop(&nyc).await.unwrap(), None);
    let closed = ShopSettings {
        open: false,
        max_orders_in_queue: 7,
        max_orders_per_user: 2,
    };
    store.put_shop(&nyc, &closed).await.unwrap();
    assert_eq!(store.get_shop(&nyc).await.unwrap(), Some(closed));
    assert_eq!(store.get_shop(&ldn).await.unwrap(), None);
    let reopened = ShopSettings {
        open: true,
        ..closed
    };
    store.put_shop(&nyc, &reopened).await.unwrap();
    assert_eq!(store.get_shop(&nyc).await.unwrap(), Some(reopened));
}

pub async fn start_reservations_are_guarded_by_their_version(store: Store) {
    let event = EventId::parse(uid("NYC")).unwrap();
    let user = UserId::parse(uid("alice")).unwrap();
    assert_eq!(
        store.get_reservations(&event, &user).await.unwrap(),
        Reservations::default()
    );
    let one = vec![Reservation {
        order_id: OrderId::parse(uid("o")).unwrap(),
        at: now(),
    }];
    store
        .put_reservations(&event, &user, &one, None)
        .await
        .unwrap();
    let held = store.get_reservations(&event, &user).await.unwrap();
    assert_eq!(held.entries, one);
    // A writer that read no record, or an older version, loses and writes nothing.
    for stale in [None, held.version.map(|v| v + 7)] {
        let err = store
            .put_reservations(&event, &user, &[], stale)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict), "{stale:?}: {err:?}");
    }
    store
        .put_reservations(&event, &user, &[], held.version)
        .await
        .unwrap();
    let after = store.get_reservations(&event, &user).await.unwrap();
    assert!(after.entries.is_empty());
    assert_ne!(after.version, held.version);
    let other = UserId::parse(uid("bob")).unwrap();
    assert_eq!(
        store.get_reservations(&event, &other).await.unwrap(),
        Reservations::default()
    );
}
