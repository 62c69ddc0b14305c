//! The change log's latest entries, in memory: what live streams read.
//!
//! Every live stream reads the log after each commit of this process, from where it stopped.
//! Served from the file, that took an index per filter (by coffee event, by customer) on
//! `order_changes`: two more b-trees written with every change, a random page each for the
//! customers' one. Here the writer thread appends each committed entry in commit order, before
//! the write's caller hears of it (so nothing a stream is woken for is missing), and a read
//! filters the entries after its position in memory. A read from before the entries kept (a
//! client resuming after a long absence, a stream that fell far behind) walks the file by
//! number instead ([`scan`]), from where it stopped, and catches up with the memory.
//!
//! One process owns an SQLite store, so nothing else writes the log; numbers are given in
//! commit order (SQLite's `AUTOINCREMENT` under the single writer), so what is in memory is
//! exactly the log's end.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, params};

use super::map_err;
use crate::domain::ports::{ChangeFilter, ChangePage, OrderChange, StoreError};
use crate::domain::snapshot::OrderSnapshot;

/// How many entries are kept: a stream that is further behind reads the file.
pub(super) const CAPACITY: usize = 2048;
/// How many entries one statement of [`scan`] walks.
const SCAN_CHUNK: i64 = 1000;
/// How many entries one call of [`scan`] walks at most: it runs on the request's thread, so a
/// stream far behind catches up over several reads rather than in one long one.
const SCAN_MAX: i64 = 20_000;

struct Tail {
    entries: VecDeque<OrderChange>,
    /// Every entry numbered above this one is in `entries`.
    complete_after: u64,
    /// The latest number taken in.
    latest: u64,
}

pub(super) struct ChangeTail {
    tail: Mutex<Tail>,
    capacity: usize,
}

fn selects(filter: &ChangeFilter, order: &OrderSnapshot) -> bool {
    match filter {
        ChangeFilter::Event(e) => order.event_id == e.as_str(),
        ChangeFilter::User(u) => order.user_id == u.as_str(),
    }
}

impl ChangeTail {
    /// An empty tail of a log whose latest entry is numbered `latest`.
    pub(super) fn new(latest: u64, capacity: usize) -> ChangeTail {
        ChangeTail {
            tail: Mutex::new(Tail {
                entries: VecDeque::with_capacity(capacity.min(256)),
                complete_after: latest,
                latest,
            }),
            capacity,
        }
    }

    /// Opens the tail of the log stored at `conn`.
    pub(super) fn load(conn: &Connection, capacity: usize) -> Result<ChangeTail, StoreError> {
        let latest: i64 = conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM order_changes", [], |r| {
                r.get(0)
            })
            .map_err(map_err)?;
        Ok(ChangeTail::new(latest.max(0) as u64, capacity))
    }

    /// Takes in a committed entry (the writer thread, in commit order).
    pub(super) fn record(&self, change: OrderChange) {
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        debug_assert!(change.seq > tail.latest, "entries come in number order");
        tail.latest = tail.latest.max(change.seq);
        if tail.entries.len() == self.capacity
            && let Some(gone) = tail.entries.pop_front()
        {
            tail.complete_after = gone.seq;
        }
        tail.entries.push_back(change);
    }

    /// Up to `limit` entries after `after` that `filter` selects, if the memory holds every
    /// entry after `after`; `None` if the file must be read.
    pub(super) fn read(
        &self,
        after: u64,
        filter: &ChangeFilter,
        limit: usize,
    ) -> Option<ChangePage> {
        let tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        if after < tail.complete_after {
            return None;
        }
        // Entries are in number order: skip to the first one after `after`.
        let start = tail.entries.partition_point(|c| c.seq <= after);
        let mut page = ChangePage {
            changes: Vec::new(),
            through: after.max(tail.latest),
        };
        for change in tail.entries.range(start..) {
            if selects(filter, &change.order) {
                page.changes.push(change.clone());
                if page.changes.len() == limit {
                    // Full: the next read goes on after this entry.
                    page.through = change.seq;
                    break;
                }
            }
        }
        Some(page)
    }
}

/// Up to `limit` entries after `after` that `filter` selects, read from the file by number
/// (the primary key): no index per filter. Walks until the page is full, the log ends, or
/// [`SCAN_MAX`] entries were walked.
pub(super) fn scan(
    conn: &Connection,
    after: u64,
    filter: &ChangeFilter,
    limit: usize,
) -> Result<ChangePage, StoreError> {
    walk(conn, after, filter, limit, SCAN_CHUNK, SCAN_MAX)
}

/// [`scan`], `chunk` entries per statement and at most `max` in all.
fn walk(
    conn: &Connection,
    after: u64,
    filter: &ChangeFilter,
    limit: usize,
    chunk: i64,
    max: i64,
) -> Result<ChangePage, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, event_id, user_id, snapshot FROM order_changes WHERE seq > ?1
             ORDER BY seq LIMIT ?2",
        )
        .map_err(map_err)?;
    let (key, by_event) = match filter {
        ChangeFilter::Event(e) => (e.as_str(), true),
        ChangeFilter::User(u) => (u.as_str(), false),
    };
    let mut page = ChangePage {
        changes: Vec::new(),
        through: after,
    };
    let mut walked_in_all = 0;
    loop {
        let mut rows = stmt
            .query(params![page.through as i64, chunk.min(max - walked_in_all)])
            .map_err(map_err)?;
        let mut walked = 0;
        while let Some(row) = rows.next().map_err(map_err)? {
            walked += 1;
            let seq = row.get::<_, i64>(0).map_err(map_err)? as u64;
            let column = if by_event { 1 } else { 2 };
            let selected = row
                .get_ref(column)
                .map_err(map_err)?
                .as_str()
                .is_ok_and(|v| v == key);
            if selected {
                let snapshot = row.get_ref(3).map_err(map_err)?.as_str().map_err(|e| {
                    StoreError::Internal(format!("stored snapshot unreadable: {e}"))
                })?;
                page.changes.push(OrderChange {
                    seq,
                    order: serde_json::from_str(snapshot).map_err(|e| {
                        StoreError::Internal(format!("stored snapshot unreadable: {e}"))
                    })?,
                });
            }
            page.through = seq;
            if page.changes.len() == limit {
                return Ok(page);
            }
        }
        walked_in_all += walked;
        if walked < chunk || walked_in_all >= max {
            return Ok(page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{EventId, UserId};
    use crate::domain::order::OrderState;
    use crate::domain::order::fixtures::order;

    fn change(seq: u64, event: &str, user: &str) -> OrderChange {
        let mut o = order(&format!("o-{seq}"), user, OrderState::Created);
        o.event_id = EventId::parse(event).unwrap();
        OrderChange {
            seq,
            order: OrderSnapshot::from(&o),
        }
    }

    fn seqs(page: &ChangePage) -> Vec<u64> {
        page.changes.iter().map(|c| c.seq).collect()
    }

    fn user(u: &str) -> ChangeFilter {
        ChangeFilter::User(UserId::parse(u).unwrap())
    }

    #[test]
    fn reads_filter_in_memory_and_say_how_far_they_went() {
        let tail = ChangeTail::new(10, 8);
        for (seq, u) in [(11, "alice"), (12, "bob"), (13, "alice"), (14, "bob")] {
            tail.record(change(seq, "NYC", u));
        }
        let page = tail.read(10, &user("alice"), 10).unwrap();
        assert_eq!(seqs(&page), vec![11, 13]);
        assert_eq!(page.through, 14, "the read went to the log's end");
        // A quiet follower: nothing of carol's, but the read went to the end all the same.
        let page = tail.read(10, &user("carol"), 10).unwrap();
        assert!(page.changes.is_empty());
        assert_eq!(page.through, 14);
        // A full page stops at its last entry.
        let page = tail.read(10, &ChangeFilter::Event(EventId::parse("NYC").unwrap()), 2);
        let page = page.unwrap();
        assert_eq!(seqs(&page), vec![11, 12]);
        assert_eq!(page.through, 12);
        // After the end: nothing, and the position stays.
        let page = tail.read(20, &user("alice"), 10).unwrap();
        assert!(page.changes.is_empty());
        assert_eq!(page.through, 20);
    }

    #[test]
    fn a_read_from_before_the_entries_kept_goes_to_the_file() {
        let tail = ChangeTail::new(0, 3);
        for seq in 1..=5 {
            tail.record(change(seq, "NYC", "alice"));
        }
        // 1 and 2 were dropped: a read after 0 or 1 cannot be answered from memory.
        assert!(tail.read(0, &user("alice"), 10).is_none());
        assert!(tail.read(1, &user("alice"), 10).is_none());
        assert_eq!(
            seqs(&tail.read(2, &user("alice"), 10).unwrap()),
            vec![3, 4, 5]
        );
        // At open, everything up to the latest stored number is in the file only.
        let opened = ChangeTail::new(7, 3);
        assert!(opened.read(6, &user("alice"), 10).is_none());
        assert_eq!(opened.read(7, &user("alice"), 10).unwrap().through, 7);
    }

    /// The memory and the file give the same answers: a store that keeps only 4 entries,
    /// read from every position, for every filter, with pages of several sizes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_and_file_agree_from_every_position() {
        use std::sync::Arc;

        use crate::domain::order::{fixtures, now};
        use crate::domain::ports::OrderStore;
        use crate::outbound::sqlite::SqliteStore;

        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("orders.db")).unwrap();
        // A first change, then a store reopened on it: the log does not start at 0.
        let first = fixtures::order("o-first", "alice", OrderState::Created);
        store
            .apply(&fixtures::write(&first, None), None, now())
            .await
            .unwrap();
        let (start, _) = store.change_window().await.unwrap();
        let views = Arc::get_mut(&mut store.views).expect("no write in flight");
        views.tail = ChangeTail::new(start, 4);
        let users = ["alice", "bob", "carol"];
        for i in 0..20 {
            let mut o = fixtures::order(&format!("o-{i:02}"), users[i % 3], OrderState::Created);
            o.event_id = EventId::parse(if i % 4 == 0 { "SFO" } else { "NYC" }).unwrap();
            store
                .apply(&fixtures::write(&o, None), None, now())
                .await
                .unwrap();
        }
        let (latest, _) = store.change_window().await.unwrap();
        assert_eq!(latest, start + 20);
        let filters = [
            user("alice"),
            user("carol"),
            user("nobody"),
            ChangeFilter::Event(EventId::parse("NYC").unwrap()),
            ChangeFilter::Event(EventId::parse("SFO").unwrap()),
        ];
        let mut from_memory = 0;
        for after in 0..=latest + 1 {
            for filter in &filters {
                for limit in [1, 2, 100] {
                    let file = store
                        .db
                        .read(|conn| scan(conn, after, filter, limit))
                        .unwrap();
                    let answer = store.changes_after(after, filter, limit).await.unwrap();
                    assert_eq!(
                        seqs(&answer),
                        seqs(&file),
                        "after {after}, {filter:?}, {limit}"
                    );
                    assert!(answer.changes.iter().all(|c| selects(filter, &c.order)));
                    if let Some(memory) = store.views.tail.read(after, filter, limit) {
                        from_memory += 1;
                        assert_eq!(seqs(&memory), seqs(&file));
                        assert_eq!(memory.through, file.through, "after {after}, {filter:?}");
                    }
                    // How far it went: to the page's last entry when full, else to the end.
                    let want = if file.changes.len() == limit {
                        file.changes.last().unwrap().seq
                    } else {
                        after.max(latest)
                    };
                    assert_eq!(file.through, want, "after {after}, {filter:?}, {limit}");
                }
            }
        }
        assert!(from_memory > 0, "some reads were answered from memory");
        // A long walk stops after its most entries (here 6, 3 a statement), and says so.
        let capped = store
            .db
            .read(|conn| {
                let nobody = walk(conn, start, &user("nobody"), 10, 3, 6)?;
                let alice = walk(conn, start, &user("alice"), 10, 3, 6)?;
                Ok::<_, StoreError>((nobody, alice))
            })
            .unwrap();
        assert!(capped.0.changes.is_empty());
        assert_eq!(capped.0.through, start + 6);
        // o-00 and o-03 are alice's among the first six.
        assert_eq!(seqs(&capped.1), vec![start + 1, start + 4]);
        assert_eq!(capped.1.through, start + 6);
    }
}
