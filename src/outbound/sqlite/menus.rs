//! The coffee events' menus, kept in memory: every drink submission is checked against one,
//! and reading it from the database (and decoding it) was a read per submission for a value
//! that changes when a barista replaces it. One process owns an SQLite store, so what is kept
//! here is exact: loaded when the store opens, replaced once a new menu is committed.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use rusqlite::Connection;

use super::map_err;
use crate::domain::menu::Menu;
use crate::domain::ports::StoreError;

pub(super) struct Menus {
    /// By coffee event. A stored menu that cannot be decoded keeps its error: asked for, it
    /// answers the error, as a read of it would.
    by_event: RwLock<HashMap<String, Result<Arc<Menu>, StoreError>>>,
}

impl Menus {
    /// Loads every stored menu (one per event a barista gave a menu to).
    pub(super) fn load(conn: &Connection) -> Result<Menus, StoreError> {
        let rows = conn
            .prepare("SELECT event_id, menu FROM menus")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(map_err)?;
        let by_event = rows
            .into_iter()
            .map(|(event, json)| {
                let menu = serde_json::from_str(&json)
                    .map(Arc::new)
                    .map_err(|e| StoreError::Internal(format!("stored menu unreadable: {e}")));
                (event, menu)
            })
            .collect();
        Ok(Menus {
            by_event: RwLock::new(by_event),
        })
    }

    pub(super) fn get(&self, event: &str) -> Result<Option<Arc<Menu>>, StoreError> {
        let by_event = self.by_event.read().unwrap_or_else(PoisonError::into_inner);
        by_event.get(event).cloned().transpose()
    }

    /// A menu just committed for `event`.
    pub(super) fn set(&self, event: String, menu: Arc<Menu>) {
        let mut by_event = self
            .by_event
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        by_event.insert(event, Ok(menu));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::EventId;
    use crate::domain::ports::OrderStore;
    use crate::outbound::sqlite::SqliteStore;

    #[tokio::test]
    async fn a_menu_is_kept_as_committed_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders.db");
        let event = EventId::parse("NYC").unwrap();
        let mut menu = Menu::default_menu();
        menu.drinks.truncate(2);
        {
            let store = SqliteStore::open(&path).unwrap();
            assert_eq!(store.get_menu(&event).await.unwrap(), None);
            store.put_menu(&event, &menu).await.unwrap();
            assert_eq!(
                store.get_menu(&event).await.unwrap().as_deref(),
                Some(&menu)
            );
        }
        // A new process loads what is stored.
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.get_menu(&event).await.unwrap().as_deref(),
            Some(&menu)
        );
    }

    #[test]
    fn loads_what_is_stored_and_keeps_an_unreadable_menu_an_error() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE menus (event_id TEXT PRIMARY KEY, menu TEXT NOT NULL, updated_at INTEGER);",
        )
        .unwrap();
        let stored = serde_json::to_string(&Menu::default_menu()).unwrap();
        conn.execute(
            "INSERT INTO menus VALUES ('NYC', ?1, 0), ('LDN', '{\"drinks\": 3}', 0)",
            [stored],
        )
        .unwrap();
        let menus = Menus::load(&conn).unwrap();
        assert_eq!(
            menus.get("NYC").unwrap().as_deref(),
            Some(&Menu::default_menu())
        );
        assert!(matches!(menus.get("LDN"), Err(StoreError::Internal(_))));
        assert_eq!(menus.get("SFO").unwrap(), None);

        let mut one = Menu::default_menu();
        one.drinks.truncate(1);
        menus.set("LDN".into(), Arc::new(one.clone()));
        assert_eq!(menus.get("LDN").unwrap().as_deref(), Some(&one));
    }
}
