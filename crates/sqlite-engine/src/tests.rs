//! The engine's API, as a store uses it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;

use crate::{Database, Durability, Error, Migration, Options};

const MIGRATIONS: &[Migration] = &[
    (
        "0001_items",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);",
    ),
    ("0002_notes", "ALTER TABLE items ADD COLUMN note TEXT;"),
];

fn open(dir: &tempfile::TempDir, options: Options) -> Database {
    let (db, ()) = Database::open(&dir.path().join("items.db"), MIGRATIONS, options, |_| {
        Ok::<_, Error>(())
    })
    .unwrap();
    db
}

fn insert(name: &str) -> impl FnOnce(&Connection) -> Result<i64, Error> + Send + 'static {
    let name = name.to_owned();
    move |conn| {
        conn.execute("INSERT INTO items (name) VALUES (?1)", [&name])?;
        Ok(conn.last_insert_rowid())
    }
}

fn count(db: &Database) -> i64 {
    db.read(|c| Ok::<_, Error>(c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?))
        .unwrap()
}

/// Concurrent writes share commits (fewer commits than writes), each is answered with its own
/// result, and a failing one is undone alone: the others in its commit stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits_and_a_failure_is_undone_alone() {
    let dir = tempfile::tempdir().unwrap();
    let commits = Arc::new(AtomicUsize::new(0));
    let writes = Arc::new(AtomicUsize::new(0));
    let (c, w) = (commits.clone(), writes.clone());
    let db = Arc::new(open(
        &dir,
        Options {
            on_commit: Some(Arc::new(move |commit| {
                c.fetch_add(1, Ordering::Relaxed);
                w.fetch_add(commit.writes, Ordering::Relaxed);
                assert_eq!(commit.database, "items.db");
            })),
            ..Options::default()
        },
    ));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            // Every tenth write repeats a name: the unique index refuses it.
            let name = if i % 10 == 9 {
                format!("item-{}", i - 1)
            } else {
                format!("item-{i}")
            };
            db.write(insert(&name)).await
        }));
    }
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(id) => assert!(id > 0),
            Err(Error::Internal(why)) => {
                assert!(why.contains("UNIQUE"), "{why}");
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    // Which of two writes of the same name wins depends on their order; one of each pair does.
    assert_eq!(refused, 20);
    assert_eq!(count(&db), 180);
    assert_eq!(writes.load(Ordering::Relaxed), 200);
    assert!(
        commits.load(Ordering::Relaxed) < 200,
        "no write shared a commit"
    );
}

/// `write_then` runs its closure after the commit, in commit order, with what the write
/// returned; not at all when the write failed.
#[tokio::test]
async fn after_a_commit_the_closure_sees_the_result_in_commit_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, Options::default());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut answers = Vec::new();
    for name in ["a", "b", "a", "c"] {
        let seen = seen.clone();
        let answer = db
            .write_then(insert(name), move |id| {
                seen.lock().unwrap().push(id);
                format!("{name}={id}")
            })
            .await;
        answers.push(answer.map_err(|e| matches!(e, Error::Internal(_))));
    }
    assert_eq!(
        answers,
        [
            Ok("a=1".into()),
            Ok("b=2".into()),
            Err(true),
            Ok("c=3".into())
        ]
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![1, 2, 3],
        "not run for the refused write"
    );
}

/// A write that panics is an internal error, undone, and the writer goes on.
#[tokio::test]
async fn a_panicking_write_is_an_error_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, Options::default());
    let panicked = db
        .write(|conn| -> Result<(), Error> {
            conn.execute("INSERT INTO items (name) VALUES ('half')", [])?;
            panic!("a defect");
        })
        .await;
    assert!(matches!(panicked, Err(Error::Internal(_))));
    db.write(insert("whole")).await.unwrap();
    assert_eq!(count(&db), 1);
    assert!(db.is_alive());
}

/// The durability asked for is the writer's `synchronous`; both keep what they answered
/// across a reopen, with and without the WAL-append VFS.
#[tokio::test]
async fn durability_and_the_vfs_are_as_asked_and_writes_survive_a_reopen() {
    for (durability, appends, pragma) in [
        (Durability::Full, true, 2),
        (Durability::Normal, true, 1),
        (Durability::Full, false, 2),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            durability,
            wal_appends: appends,
            ..Options::default()
        };
        let db = open(&dir, options.clone());
        assert_eq!(db.wal_appends(), appends);
        let synchronous: i64 = db
            .write(|c| Ok::<_, Error>(c.query_row("PRAGMA synchronous", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(synchronous, pragma, "{durability:?}");
        for i in 0..20 {
            db.write(insert(&format!("item-{i}"))).await.unwrap();
        }
        drop(db);
        let again = open(&dir, options);
        assert_eq!(count(&again), 20);
    }
}

/// Migrations are applied once, in order; a database that has more than a build knows is
/// refused; `setup` sees the migrated schema and its result is handed back.
#[test]
fn migrations_apply_once_and_a_newer_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/items.db");
    let (db, columns) = Database::open(&path, MIGRATIONS, Options::default(), |c| {
        let n: i64 = c.query_row("SELECT count(*) FROM pragma_table_info('items')", [], |r| {
            r.get(0)
        })?;
        Ok::<_, Error>(n)
    })
    .unwrap();
    assert_eq!(columns, 3);
    drop(db);
    let reopened = Database::open(
        &path,
        MIGRATIONS,
        Options::default(),
        |_| Ok::<_, Error>(()),
    );
    assert!(reopened.is_ok(), "applying nothing twice is not an error");
    drop(reopened);
    let older = Database::open(&path, &MIGRATIONS[..1], Options::default(), |_| {
        Ok::<_, Error>(())
    });
    match older {
        Err(Error::Internal(why)) => assert!(why.contains("newer version"), "{why}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a database written by a newer build was opened"),
    }
}

/// A migration that fails leaves the database at the last one that worked.
#[test]
fn a_failing_migration_is_an_error_and_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.db");
    let broken: &[Migration] = &[MIGRATIONS[0], ("0002_broken", "ALTER TABLE nothing ADD x;")];
    match Database::open(&path, broken, Options::default(), |_| Ok::<_, Error>(())) {
        Err(Error::Internal(why)) => assert!(why.contains("0002_broken"), "{why}"),
        _ => panic!("the broken migration was not reported"),
    }
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
}
