//! A commit's WAL frames in one `write`: a VFS that wraps the operating system's.
//!
//! SQLite appends a transaction to the WAL one frame at a time, and each frame in two
//! `pwrite`s (its 24-byte header, then the page): a group commit of a dozen changes made
//! ~40 system calls, a quarter of the writer thread's time in the flow benchmark. This VFS
//! opens every file as the default one does and passes it straight through, except a WAL
//! file, whose appends it gathers in memory and writes in one call when the transaction's
//! commit frame is complete.
//!
//! What SQLite relies on still holds:
//! - **A commit is written before it is seen.** Readers and checkpoints look at frames up to
//!   the last commit the wal-index publishes, which SQLite does after `walFrames` wrote every
//!   frame of the commit. The gathered frames are written inside the `xWrite` that completes
//!   the commit frame (the one whose header carries the database size), so they are in the
//!   file before that, and a failure to write them is that `xWrite`'s error: the commit
//!   fails as it would have.
//! - **Nothing else sees a gathered write.** Any other call on the file (read, sync,
//!   truncate, size, control, close) and any write that does not continue the gathered run
//!   writes it out first. Frames gathered and not yet committed (a transaction that spilled
//!   pages before its commit) are invisible to everyone else until their commit.
//! - **A write that cannot be told apart is passed through.** A run is started only by the
//!   WAL header (32 bytes at offset 0) or by the header of a frame that does not commit; a
//!   commit frame's header met with nothing gathered (a one-page commit, or the checksums
//!   SQLite writes again after a transaction overwrote its own frames) goes straight to the
//!   file, and so does every write that follows until a run starts.
//!
//! It also allocates the WAL's disk space ahead of its writes (see the `reserve` module): an
//! append that made ext4 allocate a block or grow the file waited while a checkpoint's sync
//! of the WAL held the inode's block map, and every commit behind it waited too.
//!
//! A crash loses what was gathered and not written, which is only ever frames of a commit
//! not yet complete: SQLite's recovery discards those anyway (their checksums do not chain).
//! `fsync`s are SQLite's own, unchanged. Tests: below, what a reader and a process recovering
//! the WAL find after each kind of write SQLite makes to it (commits of one page and of many, a
//! WAL started over, spilled, overwritten and abandoned frames); and in order-manager, every
//! store test, the crash tests included, writes through this VFS.
//!
//! Use: [`register`] once, then open a connection with the VFS [`NAME`]
//! (`Connection::open_with_flags_and_vfs`); [`crate::Database`] does so for its writer when
//! [`crate::Options::wal_appends`] is on. Connections opened otherwise (readers, other
//! processes) share the database as usual: every file but the WAL is the wrapped VFS's own.
//!
//! It relies on how SQLite writes a WAL, which its file format does not promise: it was
//! written for, and tested with, the SQLite of [`WRITTEN_FOR`], and [`register`] refuses any
//! other version (the database then runs on the default VFS, only slower).

use std::ffi::{CStr, c_char, c_int, c_void};
use std::mem::{align_of, size_of};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

mod reserve;
use reserve::Reserve;

/// The name connections open the VFS by.
pub const NAME: &str = "order-manager-wal";
const NAME_C: &CStr = c"order-manager-wal";

/// A WAL file's header and a frame's header (SQLite's file format).
const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

/// A run is written out before it grows past this: the largest write the unix VFS takes in
/// one call (it masks a write's length to 17 bits: `seekAndWriteFd` in SQLite's `os_unix.c`).
/// 31 frames of 4 KiB pages.
const MAX_RUN: usize = 0x1ffff;

/// The SQLite versions (as `sqlite3_libversion_number` gives them) whose WAL writes this VFS
/// was written for: 3.50.x, the one `rusqlite` bundles. A new SQLite may write the WAL in
/// another order or in other pieces; until someone checks, it runs without this VFS.
pub const WRITTEN_FOR: std::ops::RangeInclusive<i32> = 3_050_000..=3_050_999;

/// Whether the VFS may run on SQLite `version` (see [`WRITTEN_FOR`]).
pub fn supports(version: i32) -> Result<(), String> {
    if WRITTEN_FOR.contains(&version) {
        return Ok(());
    }
    let show = |v: i32| format!("{}.{}.{}", v / 1_000_000, v / 1_000 % 1_000, v % 1_000);
    Err(format!(
        "the WAL-append VFS was written for SQLite {} to {}, and this is SQLite {}",
        show(*WRITTEN_FOR.start()),
        show(*WRITTEN_FOR.end()),
        show(version)
    ))
}

/// Registers the VFS (once per process; later calls return the first one's result), wrapping
/// the default VFS. `Err` if this SQLite is not one the VFS was written for ([`supports`]),
/// has no default VFS or refuses the registration.
pub fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED.get_or_init(register_once).clone()
}

fn register_once() -> Result<(), String> {
    supports(rusqlite::version_number())?;
    // SAFETY: sqlite3_vfs_find takes a null name for the default VFS and returns a pointer
    // to a registered VFS, which SQLite never frees.
    let real = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if real.is_null() {
        return Err("SQLite has no default VFS".into());
    }
    // SAFETY: as above.
    if unsafe { (*real).iVersion < 2 || (*real).xOpen.is_none() } {
        return Err("SQLite's default VFS is older than version 2".into());
    }
    // SAFETY: `real` is a valid VFS (above). The new VFS is leaked: SQLite keeps a pointer to
    // it for the life of the process. It has a method where the wrapped VFS has one (which
    // the forwarding methods below rely on), and a VFS of version 2 has no more.
    unsafe {
        let real_size = usize::try_from((*real).szOsFile).map_err(|e| e.to_string())?;
        let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
            iVersion: 2,
            szOsFile: c_int::try_from(REAL_OFFSET + real_size).map_err(|e| e.to_string())?,
            mxPathname: (*real).mxPathname,
            pNext: ptr::null_mut(),
            zName: NAME_C.as_ptr(),
            pAppData: real.cast(),
            xOpen: Some(vfs_open),
            xDelete: (*real).xDelete.and(Some(vfs_delete)),
            xAccess: (*real).xAccess.and(Some(vfs_access)),
            xFullPathname: (*real).xFullPathname.and(Some(vfs_full_pathname)),
            xDlOpen: (*real).xDlOpen.and(Some(vfs_dl_open)),
            xDlError: (*real).xDlError.and(Some(vfs_dl_error)),
            xDlSym: (*real).xDlSym.and(Some(vfs_dl_sym)),
            xDlClose: (*real).xDlClose.and(Some(vfs_dl_close)),
            xRandomness: (*real).xRandomness.and(Some(vfs_randomness)),
            xSleep: (*real).xSleep.and(Some(vfs_sleep)),
            xCurrentTime: (*real).xCurrentTime.and(Some(vfs_current_time)),
            xGetLastError: (*real).xGetLastError.and(Some(vfs_get_last_error)),
            xCurrentTimeInt64: (*real).xCurrentTimeInt64.and(Some(vfs_current_time_int64)),
            xSetSystemCall: None,
            xGetSystemCall: None,
            xNextSystemCall: None,
        }));
        match ffi::sqlite3_vfs_register(vfs, 0) {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(format!("cannot register the WAL VFS: SQLite error {rc}")),
        }
    }
}

/// A WAL file: the operating system's file (placed after this, in the memory SQLite gives
/// the VFS for a file) and the run of appends gathered so far.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    run: Vec<u8>,
    /// Where the gathered run starts in the file.
    run_offset: i64,
    /// The run ends with a commit frame's header: the next write (its page) completes it.
    commit_pending: bool,
    /// The WAL's disk space, allocated ahead of the writes (see [`reserve`]).
    reserve: Option<Reserve>,
}

/// Where the wrapped file starts in the memory of a `WalFile` (SQLite aligns it to 8 bytes).
const REAL_OFFSET: usize = size_of::<WalFile>().next_multiple_of(8);
const _: () = assert!(align_of::<WalFile>() <= 8);

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(wal_close),
    xRead: Some(wal_read),
    xWrite: Some(wal_write),
    xTruncate: Some(wal_truncate),
    xSync: Some(wal_sync),
    xFileSize: Some(wal_file_size),
    xLock: Some(wal_lock),
    xUnlock: Some(wal_unlock),
    xCheckReservedLock: Some(wal_check_reserved_lock),
    xFileControl: Some(wal_file_control),
    xSectorSize: Some(wal_sector_size),
    xDeviceCharacteristics: Some(wal_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

impl WalFile {
    /// The wrapped file's methods (set by its `xOpen`, which succeeded).
    unsafe fn real_methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: `real` was opened successfully, so its methods are set and static.
        unsafe { &*(*self.real).pMethods }
    }

    /// Writes the gathered run out; every call on the file but a continuing write does this
    /// first.
    unsafe fn write_out(&mut self) -> c_int {
        self.commit_pending = false;
        if self.run.is_empty() {
            return ffi::SQLITE_OK;
        }
        self.reserve_for(self.run_offset, self.run.len());
        // SAFETY: `real` is an open file.
        let rc = unsafe { self.write_through(&self.run, self.run_offset) };
        self.run.clear();
        rc
    }

    unsafe fn write(&mut self, data: &[u8], offset: i64) -> c_int {
        let continues = !self.run.is_empty()
            && offset == self.run_offset + self.run.len() as i64
            && self.run.len() + data.len() <= MAX_RUN;
        if continues {
            self.run.extend_from_slice(data);
            if self.commit_pending {
                // The commit frame's page: the commit is complete, and goes out now.
                // SAFETY: as for every call of `write_out`.
                return unsafe { self.write_out() };
            }
            self.commit_pending = data.len() == FRAME_HEADER && commits(data);
            return ffi::SQLITE_OK;
        }
        // SAFETY: `real` is an open file.
        let rc = unsafe { self.write_out() };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let starts_run = (data.len() == WAL_HEADER && offset == 0)
            || (data.len() == FRAME_HEADER && !commits(data));
        if starts_run {
            self.run.extend_from_slice(data);
            self.run_offset = offset;
            return ffi::SQLITE_OK;
        }
        self.reserve_for(offset, data.len());
        // SAFETY: `real` is an open file.
        unsafe { self.write_through(data, offset) }
    }

    /// Before a write of `len` bytes at `offset`: the space for it, and more, is allocated.
    fn reserve_for(&mut self, offset: i64, len: usize) {
        if let (Some(reserve), Ok(offset)) = (&mut self.reserve, u64::try_from(offset))
            && !reserve.before_write(offset, offset + len as u64)
        {
            self.reserve = None;
        }
    }

    /// Writes `data` to the file at `offset`.
    unsafe fn write_through(&self, data: &[u8], offset: i64) -> c_int {
        #[cfg(test)]
        tests::WRITES.with(|w| w.set(w.get() + 1));
        // SAFETY: `data` is valid for its length (at most `MAX_RUN`, or what SQLite passed as
        // a C int), and `real` is an open file.
        unsafe {
            let write = self.real_methods().xWrite.expect("a file can be written");
            write(self.real, data.as_ptr().cast(), data.len() as c_int, offset)
        }
    }
}

/// Whether a frame header is a commit frame's: it then holds the database's size in pages
/// (bytes 4..8), which is zero in every other frame.
fn commits(frame_header: &[u8]) -> bool {
    frame_header[4..8] != [0, 0, 0, 0]
}

// ---- the VFS: opens WAL files as `WalFile`s, passes everything else to the wrapped VFS ----

unsafe fn real_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: `pAppData` is the wrapped VFS (set at registration).
    unsafe { (*vfs).pAppData.cast() }
}

unsafe extern "C" fn vfs_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite gives `file` szOsFile bytes: enough for a `WalFile` followed by the
    // wrapped VFS's file, or for that file alone at the start.
    unsafe {
        let real = real_vfs(vfs);
        let open = (*real).xOpen.expect("a VFS opens files");
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            // Not a WAL: the wrapped VFS's own file, its own methods, nothing in between.
            return open(real, name, file, flags, out_flags);
        }
        let inner = file
            .cast::<u8>()
            .add(REAL_OFFSET)
            .cast::<ffi::sqlite3_file>();
        (*inner).pMethods = ptr::null();
        let rc = open(real, name, inner, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            if let Some(close) = (*inner).pMethods.as_ref().and_then(|m| m.xClose) {
                close(inner);
            }
            (*file).pMethods = ptr::null();
            return rc;
        }
        ptr::write(
            file.cast::<WalFile>(),
            WalFile {
                base: ffi::sqlite3_file {
                    pMethods: &WAL_METHODS,
                },
                real: inner,
                run: Vec::new(),
                run_offset: 0,
                commit_pending: false,
                // SQLite names a WAL by its path (a file without a name is a temporary one).
                reserve: (!name.is_null())
                    .then(|| CStr::from_ptr(name).to_str().ok())
                    .flatten()
                    .and_then(|path| Reserve::open(std::path::Path::new(path))),
            },
        );
        ffi::SQLITE_OK
    }
}

/// A VFS method that the wrapped VFS answers, called with the wrapped VFS.
macro_rules! vfs_forward {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs, $($arg: $ty),*) -> $ret {
            // SAFETY: forwarded as given to the wrapped VFS, which has the method (SQLite's
            // default VFS has every method of version 2).
            unsafe {
                let real = real_vfs(vfs);
                (*real).$method.expect(stringify!($method))(real, $($arg),*)
            }
        }
    };
}

vfs_forward!(vfs_delete, xDelete, (name: *const c_char, sync: c_int) -> c_int);
vfs_forward!(vfs_access, xAccess, (name: *const c_char, flags: c_int, out: *mut c_int) -> c_int);
vfs_forward!(vfs_full_pathname, xFullPathname, (name: *const c_char, n: c_int, out: *mut c_char) -> c_int);
vfs_forward!(vfs_dl_open, xDlOpen, (name: *const c_char) -> *mut c_void);
vfs_forward!(vfs_dl_error, xDlError, (n: c_int, out: *mut c_char) -> ());
vfs_forward!(vfs_dl_sym, xDlSym, (handle: *mut c_void, symbol: *const c_char) -> DlSym);
vfs_forward!(vfs_dl_close, xDlClose, (handle: *mut c_void) -> ());
vfs_forward!(vfs_randomness, xRandomness, (n: c_int, out: *mut c_char) -> c_int);
vfs_forward!(vfs_sleep, xSleep, (micros: c_int) -> c_int);
vfs_forward!(vfs_current_time, xCurrentTime, (out: *mut f64) -> c_int);
vfs_forward!(vfs_get_last_error, xGetLastError, (n: c_int, out: *mut c_char) -> c_int);
vfs_forward!(vfs_current_time_int64, xCurrentTimeInt64, (out: *mut i64) -> c_int);

/// What `xDlSym` answers: a symbol of a loaded library, as SQLite's interface types it.
type DlSym = Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)>;

// ---- a WAL file's methods --------------------------------------------------------------

/// The `WalFile` SQLite calls a method of (its methods are only ever set on one).
unsafe fn wal<'a>(file: *mut ffi::sqlite3_file) -> &'a mut WalFile {
    // SAFETY: these methods are set only by `vfs_open` on a `WalFile`, and SQLite calls a
    // file's methods from one thread at a time.
    unsafe { &mut *file.cast::<WalFile>() }
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is a `WalFile` (above); it is dropped once, here, as SQLite closes it once.
    unsafe {
        let f = wal(file);
        let written = f.write_out();
        let closed = f.real_methods().xClose.expect("a file closes")(f.real);
        ptr::drop_in_place(f);
        if written != ffi::SQLITE_OK {
            written
        } else {
            closed
        }
    }
}

unsafe extern "C" fn wal_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    n: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: `file` is a `WalFile`; SQLite passes `n` readable bytes at `buf`.
    unsafe {
        let data = std::slice::from_raw_parts(buf.cast::<u8>(), usize::try_from(n).unwrap_or(0));
        wal(file).write(data, offset)
    }
}

/// A method of a WAL file that the wrapped file answers; `write_out` first: the gathered run
/// goes out before anything that could read, size, sync or truncate the file.
macro_rules! wal_forward {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*), $write_out:literal) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            // SAFETY: `file` is a `WalFile`; the rest is forwarded as given to the wrapped
            // file, which has every method of version 1 (the unix VFS's do).
            unsafe {
                let f = wal(file);
                if $write_out {
                    let rc = f.write_out();
                    if rc != ffi::SQLITE_OK {
                        return rc;
                    }
                }
                f.real_methods().$method.expect(stringify!($method))(f.real, $($arg),*)
            }
        }
    };
}

wal_forward!(wal_read, xRead, (buf: *mut c_void, n: c_int, offset: i64), true);

unsafe extern "C" fn wal_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: `file` is a `WalFile`; as in `wal_forward!`.
    unsafe {
        let f = wal(file);
        let rc = f.write_out();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if let Some(reserve) = &mut f.reserve {
            reserve.truncated(u64::try_from(size).unwrap_or(0));
        }
        f.real_methods().xTruncate.expect("xTruncate")(f.real, size)
    }
}
wal_forward!(wal_sync, xSync, (flags: c_int), true);
wal_forward!(wal_file_size, xFileSize, (size: *mut i64), true);
wal_forward!(wal_file_control, xFileControl, (op: c_int, arg: *mut c_void), true);
wal_forward!(wal_lock, xLock, (level: c_int), false);
wal_forward!(wal_unlock, xUnlock, (level: c_int), false);
wal_forward!(wal_check_reserved_lock, xCheckReservedLock, (out: *mut c_int), false);
wal_forward!(wal_sector_size, xSectorSize, (), false);
wal_forward!(
    wal_device_characteristics,
    xDeviceCharacteristics,
    (),
    false
);

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::path::Path;

    use rusqlite::{Connection, OpenFlags, params};

    use super::*;

    thread_local! {
        /// The writes this thread's WAL files made to the operating system.
        pub(super) static WRITES: Cell<u64> = const { Cell::new(0) };
    }

    fn writes() -> u64 {
        WRITES.with(Cell::get)
    }

    /// The bundled SQLite is one the VFS was written for (a `rusqlite` upgrade that brings
    /// another fails here first), and others are refused by name.
    #[test]
    fn runs_only_on_the_sqlite_it_was_written_for() {
        supports(rusqlite::version_number()).unwrap();
        let refused = supports(3_051_000).unwrap_err();
        assert!(refused.contains("this is SQLite 3.51.0"), "{refused}");
        assert!(refused.contains("3.50.0 to 3.50.999"), "{refused}");
        assert!(supports(3_049_002).is_err());
    }

    /// A writer through the VFS, never checkpointing on its own (the WAL keeps every frame).
    fn writer(path: &Path) -> Connection {
        register().unwrap();
        let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), NAME).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;
             CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB NOT NULL);",
        )
        .unwrap();
        conn
    }

    /// What a process that starts after a crash finds: the database and its WAL copied while
    /// the writer is open (no checkpoint, no wal-index), opened afresh: SQLite recovers the
    /// WAL's frames, checking their checksums, and keeps every commit up to the first that
    /// does not check.
    fn recovered(path: &Path) -> Vec<(i64, Vec<u8>)> {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy.db");
        std::fs::copy(path, &copy).unwrap();
        std::fs::copy(path.with_extension("db-wal"), copy.with_extension("db-wal")).unwrap();
        rows(&Connection::open(&copy).unwrap())
    }

    fn rows(conn: &Connection) -> Vec<(i64, Vec<u8>)> {
        conn.prepare("SELECT k, v FROM t ORDER BY k")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn insert(conn: &Connection, keys: std::ops::Range<i64>, len: usize) {
        let tx = conn.unchecked_transaction().unwrap();
        for k in keys {
            tx.execute(
                "INSERT OR REPLACE INTO t(k, v) VALUES (?1, ?2)",
                params![k, vec![k as u8; len]],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    #[test]
    fn a_commit_of_many_pages_is_one_write_and_recovers_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = writer(&path);
        insert(&conn, 0..1, 10); // the WAL's first commit (its header)
        let before = writes();
        insert(&conn, 1..40, 1000); // ~10 pages of rows, and the b-tree's interior page
        assert_eq!(writes() - before, 1, "one write for the whole commit");
        let frames = (std::fs::metadata(path.with_extension("db-wal"))
            .unwrap()
            .len()
            - 32)
            / (4096 + 24);
        assert!(frames > 5, "the commit wrote {frames} frames");
        assert_eq!(recovered(&path), rows(&conn));
        assert_eq!(rows(&conn).len(), 40);
    }

    #[test]
    fn a_one_page_commit_is_written_as_it_comes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = writer(&path);
        insert(&conn, 0..1, 10);
        let before = writes();
        insert(&conn, 1..2, 10);
        assert_eq!(
            writes() - before,
            2,
            "a commit frame met with nothing gathered"
        );
        assert_eq!(recovered(&path), vec![(0, vec![0; 10]), (1, vec![1; 10])]);
    }

    /// Every commit is in the file before another connection can see it: a reader (through
    /// the default VFS, as the store's readers are) and a fresh process's recovery find each
    /// commit as soon as it returned, whatever its size.
    #[test]
    fn each_commit_is_seen_whole_by_readers_and_by_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = writer(&path);
        let reader = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let mut next = 0;
        for (i, len) in [10, 3000, 1, 5000, 200, 4000, 9000, 50]
            .into_iter()
            .enumerate()
        {
            let n = 1 + (i as i64 * 7) % 30;
            insert(&conn, next..next + n, len);
            next += n;
            let seen = rows(&reader);
            assert_eq!(seen.len() as i64, next);
            assert_eq!(seen, rows(&conn));
            assert_eq!(recovered(&path), seen);
        }
    }

    /// A transaction larger than the page cache writes frames before its commit (a spill),
    /// then writes some of those pages again (over their frames: SQLite then rewrites the
    /// checksums of every frame after, reading them back); one that is rolled back leaves
    /// frames that no commit covers. Through all of it the file holds exactly the commits.
    #[test]
    fn spilled_rewritten_and_abandoned_frames_keep_the_commits_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = writer(&path);
        conn.execute_batch("PRAGMA cache_size=10;").unwrap();
        insert(&conn, 0..10, 100);
        let expected_after_first = rows(&conn);

        // Spilled, then the same rows again in the same transaction (pages written over).
        let tx = conn.unchecked_transaction().unwrap();
        for round in 0..3u8 {
            for k in 100..400 {
                tx.execute(
                    "INSERT OR REPLACE INTO t(k, v) VALUES (?1, ?2)",
                    params![k, vec![round; 700]],
                )
                .unwrap();
            }
        }
        tx.commit().unwrap();
        let expected = rows(&conn);
        assert_eq!(expected.len(), 310);
        assert!(expected[10..].iter().all(|(_, v)| v == &vec![2; 700]));
        assert_eq!(recovered(&path), expected);

        // Spilled and rolled back: nothing of it, and the next commits go on.
        let tx = conn.unchecked_transaction().unwrap();
        for k in 1000..1400 {
            tx.execute(
                "INSERT INTO t(k, v) VALUES (?1, ?2)",
                params![k, vec![9u8; 700]],
            )
            .unwrap();
        }
        tx.rollback().unwrap();
        assert_eq!(rows(&conn), expected);
        assert_eq!(recovered(&path), expected);
        insert(&conn, 2000..2003, 10);
        assert_eq!(recovered(&path).len(), 313);
        assert_ne!(recovered(&path), expected_after_first);
    }

    /// After a checkpoint copied everything back, the next commit starts the WAL over from its
    /// header, which SQLite syncs before any frame (so the header goes out on its own), then
    /// the frames in one write; a restarted process finds it.
    #[test]
    fn a_wal_started_over_is_written_from_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = writer(&path);
        insert(&conn, 0..50, 500);
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
            .unwrap();
        let before = writes();
        insert(&conn, 50..60, 500);
        assert_eq!(
            writes() - before,
            2,
            "the header, then the frames in one write"
        );
        assert_eq!(recovered(&path).len(), 60);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        insert(&conn, 60..61, 10);
        assert_eq!(recovered(&path).len(), 61);
    }

    /// The WAL's disk space is allocated ahead of its writes, again after it was truncated
    /// and started over, and what lies past the last commit is nothing to a recovery (where
    /// the file system cannot allocate ahead, the writes go on without).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_wal_s_space_is_allocated_ahead_of_its_writes() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("probe");
        std::fs::write(&probe, b"").unwrap();
        if !Reserve::open(&probe).unwrap().before_write(0, 1) {
            eprintln!("this file system cannot allocate ahead: nothing to check");
            return;
        }
        let path = dir.path().join("a.db");
        let wal = path.with_extension("db-wal");
        let conn = writer(&path);
        insert(&conn, 0..1, 10);
        let written = 32 + 4096 + 24;
        // The file runs at least half a chunk past what SQLite wrote, all of it allocated
        // (not a sparse file).
        let ahead = |written: u64| {
            let m = std::fs::metadata(&wal).unwrap();
            assert!(
                m.len() >= written + reserve::CHUNK / 2,
                "{} bytes long",
                m.len()
            );
            assert!(
                m.blocks() * 512 >= m.len(),
                "{} bytes allocated",
                m.blocks() * 512
            );
        };
        ahead(written);
        insert(&conn, 1..40, 1000);
        ahead(written);
        assert_eq!(recovered(&path), rows(&conn));

        // Started over in place: the space is there, and nothing is asked for again.
        let allocations = || reserve::ALLOCATIONS.with(std::cell::Cell::get);
        let (before, len) = (allocations(), std::fs::metadata(&wal).unwrap().len());
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
            .unwrap();
        insert(&conn, 100..110, 1000);
        assert_eq!(allocations(), before);
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), len);
        assert_eq!(recovered(&path), rows(&conn));

        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
        insert(&conn, 40..50, 1000);
        ahead(32);
        assert!(allocations() > before, "a truncated WAL is reserved again");
        assert_eq!(recovered(&path), rows(&conn));
        assert_eq!(rows(&conn).len(), 60);
    }

    #[test]
    fn other_files_are_the_default_vfs_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = writer(&path);
        conn.execute_batch("PRAGMA journal_mode=DELETE;").unwrap();
        let before = writes();
        insert(&conn, 0..100, 300);
        assert_eq!(
            writes(),
            before,
            "a rollback journal and the database are not gathered"
        );
        drop(conn);
        assert_eq!(rows(&Connection::open(&path).unwrap()).len(), 100);
    }
}
