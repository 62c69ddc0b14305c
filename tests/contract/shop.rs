//! The shop settings part of the store contract: kept per coffee event, replaced whole.

use order_manager::domain::ids::EventId;
use order_manager::domain::shop::ShopSettings;

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
