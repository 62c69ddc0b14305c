//! Opening connections and applying migrations.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::{Durability, Error, Migration, wal_appends};

/// Opens the writer connection of the database at `path`, creating the file (and its
/// directory), and applies `migrations`. Returns it and whether it writes through the
/// WAL-append VFS (asked for with `wal_appends`, and refused on an SQLite it was not written
/// for: then the default VFS, and a warning).
pub(crate) fn open_writer(
    path: &Path,
    migrations: &[Migration],
    durability: Durability,
    wal_appends: bool,
) -> Result<(Connection, bool), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
    }
    let appends = wal_appends
        && match wal_appends::register() {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!(%why, "writing the WAL without the WAL-append VFS");
                false
            }
        };
    let mut conn = if appends {
        Connection::open_with_flags_and_vfs(path, OpenFlags::default(), wal_appends::NAME)?
    } else {
        Connection::open(path)?
    };
    // WAL: readers never block the writer. How far a commit is synced: see `Durability`.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    configure(&conn)?;
    conn.pragma_update(None, "synchronous", durability.pragma())?;
    // Every job runs in a savepoint of the group commit (see `writer`), and SQLite keeps the
    // pages a savepoint may have to restore in a statement journal, which spills to a temporary
    // file past 64 KiB: a dozen writes to a commit made that a `pwrite` per page, a third of the
    // writer thread's time under ingest. In memory it is a copy (at most one commit's pages).
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The writer waits little for a lock someone else holds (a backup, a sqlite3 shell): a
    // write that cannot go through fails quickly rather than after its caller gave up.
    conn.busy_timeout(Duration::from_secs(1))?;
    migrate(&mut conn, migrations)?;
    Ok((conn, appends))
}

/// Opens a read-only connection for the read pool.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&conn)?;
    // Reads are indexed lookups of a few pages: a small page cache keeps the b-trees' upper
    // levels, and the operating system's file cache the rest (SQLite's default is 2 MiB per
    // connection, which several readers and two databases added up to).
    conn.pragma_update(None, "cache_size", READER_CACHE_KIB)?;
    Ok(conn)
}

/// The page cache of a read-only connection: 512 KiB (negative: KiB, SQLite's convention).
const READER_CACHE_KIB: i64 = -512;

fn configure(conn: &Connection) -> Result<(), Error> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    // Plans that do not depend on bound values: otherwise a bound `LIMIT ?` expires a cached
    // statement whenever its value changes, and every list query was compiled anew.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Applies the migrations not yet applied, each in its own transaction; `PRAGMA user_version`
/// counts how many are.
fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<(), Error> {
    let applied: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?
        .try_into()
        .unwrap_or(0);
    if applied > migrations.len() {
        return Err(Error::Internal(format!(
            "the database has {applied} migrations applied, this build knows {}: it was written by a newer version",
            migrations.len()
        )));
    }
    for (i, (name, sql)) in migrations.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|e| Error::Internal(format!("migration {name} failed: {e}")))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(migration = name, "applied SQLite migration");
    }
    Ok(())
}
