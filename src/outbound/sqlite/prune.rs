//! Forgetting old ingest records and change-log entries, a chunk per transaction.
//!
//! Neither table has an index by time (each would be one more b-tree written with every
//! ingested event, for a job that runs hourly): ingest records are walked in key order and
//! change-log entries from the oldest number on, [`CHUNK`] rows a transaction, so the writer
//! takes other writes between chunks and a prune never holds it for long.

use rusqlite::{Connection, OptionalExtension, params};

use super::map_err;
use crate::domain::ports::StoreError;

/// Rows looked at per transaction.
pub(super) const CHUNK: i64 = 2000;

/// Deletes the ingest records received before `before` among the next [`CHUNK`] after key
/// `after`: how many, and the key to go on after (`None`: the end was reached).
pub(super) fn ingested_events(
    conn: &Connection,
    after: Option<String>,
    before: i64,
) -> Result<(u64, Option<String>), StoreError> {
    let from = after.unwrap_or_default();
    let end: Option<String> = conn
        .prepare_cached(
            "SELECT MAX(envelope_id) FROM (SELECT envelope_id FROM ingested_events
             WHERE envelope_id > ?1 ORDER BY envelope_id LIMIT ?2)",
        )
        .and_then(|mut s| s.query_row(params![from, CHUNK], |r| r.get(0)))
        .map_err(map_err)?;
    let Some(end) = end else {
        return Ok((0, None));
    };
    let gone = conn
        .prepare_cached(
            "DELETE FROM ingested_events
             WHERE envelope_id > ?1 AND envelope_id <= ?2 AND received_at < ?3",
        )
        .and_then(|mut s| s.execute(params![from, end, before]))
        .map_err(map_err)?;
    Ok((gone as u64, Some(end)))
}

/// Deletes change-log entries from the oldest on, up to [`CHUNK`], while they were written
/// before `before` (entries are numbered in commit order, so their times grow with their
/// numbers, but for the few that raced each other). Whether there may be more to delete.
pub(super) fn order_changes(conn: &Connection, before: i64) -> Result<(u64, bool), StoreError> {
    // The first entry of the oldest chunk that is to be kept, if any.
    let keep: Option<i64> = conn
        .prepare_cached(
            "SELECT seq FROM (SELECT seq, created_at FROM order_changes ORDER BY seq LIMIT ?1)
             WHERE created_at >= ?2 ORDER BY seq LIMIT 1",
        )
        .and_then(|mut s| s.query_row(params![CHUNK, before], |r| r.get(0)).optional())
        .map_err(map_err)?;
    let gone = match keep {
        Some(seq) => conn
            .prepare_cached("DELETE FROM order_changes WHERE seq < ?1")
            .and_then(|mut s| s.execute([seq])),
        None => conn
            .prepare_cached(
                "DELETE FROM order_changes WHERE seq IN
                 (SELECT seq FROM order_changes ORDER BY seq LIMIT ?1)",
            )
            .and_then(|mut s| s.execute([CHUNK])),
    }
    .map_err(map_err)?;
    // A whole chunk went: the next may go too.
    Ok((gone as u64, keep.is_none() && gone as i64 == CHUNK))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use futures_util::future::join_all;

    use super::CHUNK;
    use crate::domain::ids::EnvelopeId;
    use crate::domain::order::{OrderState, fixtures, now};
    use crate::domain::ports::OrderStore;
    use crate::outbound::sqlite::SqliteStore;

    /// Over more than one chunk of each table: what is older than the cut-off goes, the rest
    /// stays, and the change log still reads from its new start.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_ingest_records_and_changes_go_in_chunks_and_new_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("orders.db")).unwrap();
        let old = (CHUNK as usize) * 2 + 500;
        let fresh = 300;
        let write = |i: usize, at| {
            let store = &store;
            async move {
                let mut o = fixtures::order(&format!("o-{i:05}"), "alice", OrderState::Created);
                (o.created_at, o.updated_at) = (at, at);
                // Envelope ids not in time order: the walk by key meets both kinds throughout.
                let envelope =
                    EnvelopeId::parse(format!("env-{:05}", (i * 7919) % 10_000)).unwrap();
                store
                    .apply(&fixtures::write(&o, None), Some(&envelope), now())
                    .await
                    .unwrap();
                envelope
            }
        };
        let long_ago = now() - Duration::days(3);
        let mut olds = Vec::new();
        for chunk in (0..old).collect::<Vec<_>>().chunks(200) {
            olds.extend(join_all(chunk.iter().map(|&i| write(i, long_ago))).await);
        }
        let news = join_all((old..old + fresh).map(|i| write(i, now()))).await;
        let (latest, oldest) = store.change_window().await.unwrap();
        assert_eq!((latest - oldest + 1) as usize, old + fresh);

        let gone = store.prune(now() - Duration::days(2)).await.unwrap();
        assert_eq!(
            gone as usize,
            2 * old,
            "each old order had one record in each table"
        );
        for e in olds.iter().step_by(97) {
            assert!(!store.event_seen(e).await.unwrap(), "{e:?} was kept");
        }
        for e in &news {
            assert!(store.event_seen(e).await.unwrap(), "{e:?} was pruned");
        }
        let (latest_after, oldest_after) = store.change_window().await.unwrap();
        assert_eq!(latest_after, latest);
        assert_eq!((latest_after - oldest_after + 1) as usize, fresh);
        // Nothing is left to prune.
        assert_eq!(store.prune(now() - Duration::days(2)).await.unwrap(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kept_events_are_forgotten_with_the_envelope_ids() {
        use crate::domain::events::WorkflowEvent;
        use crate::domain::ids::OrderId;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("orders.db")).unwrap();
        let event = |o: &str| WorkflowEvent::Finished {
            order_id: OrderId::parse(o).unwrap(),
            execution_arn: None,
        };
        let (old, new) = (
            EnvelopeId::parse("e-old").unwrap(),
            EnvelopeId::parse("e-new").unwrap(),
        );
        store
            .record_event(&old, None, Some(&event("o-old")), now() - Duration::days(3))
            .await
            .unwrap();
        store
            .record_event(&new, None, Some(&event("o-new")), now())
            .await
            .unwrap();
        assert_eq!(store.prune(now() - Duration::days(2)).await.unwrap(), 2);
        let (o_old, o_new) = (
            OrderId::parse("o-old").unwrap(),
            OrderId::parse("o-new").unwrap(),
        );
        // Every event kept, however old: what is left is what the prune left.
        let kept = async |store: &SqliteStore, o: &OrderId| {
            let all = store.deferred_events(o, chrono::DateTime::UNIX_EPOCH);
            all.await.unwrap().len()
        };
        assert_eq!(kept(&store, &o_old).await, 0);
        assert_eq!(kept(&store, &o_new).await, 1);
        assert!(store.event_seen(&new).await.unwrap());
        // Which orders have events kept is known again after a restart.
        let path = store.path().to_path_buf();
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(kept(&store, &o_new).await, 1);
        assert_eq!(kept(&store, &o_old).await, 0);
    }
}
