//! A VFS for crash tests that loses what was not synced, the way a power cut does (the
//! approach of SQLite's own crash tests: writes that no sync covered are not on the disk).
//!
//! It wraps the operating system's VFS and becomes the default one, so that every connection
//! a process opens, and this crate's WAL VFS, go through it. Writes reach the files as usual,
//! but for every file under a watched directory it keeps, until that file is next synced,
//! what each write or truncation overwrote and how long the file was at its last sync. Then:
//! - [`PowerCut::cut`]: from now on nothing reaches those files (writes, truncations, syncs and
//!   deletions succeed and do nothing), as if the machine went dark; the processes' own
//!   memory goes on, and what they answer after this moment tells nothing.
//! - [`PowerCut::restore`], once every connection to them is closed: each file is put back as
//!   its last sync left it (what was overwritten since is written back, in reverse order, and
//!   the file cut to its synced length), and then reopened databases find what a machine
//!   powered on again would.
//! - [`PowerCut::hold_syncs`]: syncs of those files wait until released, to see what is
//!   answered before its sync.
//!
//! A sync of a file by any connection covers every write to it, as `fsync` does. The wal-index
//! (`-shm`) is not watched: SQLite rebuilds it from the WAL when a database is opened again.
//! Only for tests: every write first reads what it overwrites.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::io::Write;
use std::mem::{align_of, size_of};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use rusqlite::ffi;

/// The name of the VFS (also the default one, once installed).
pub const NAME: &str = "power-cut";
const NAME_C: &CStr = c"power-cut";

/// What is watched: the directories, and the files under them since their last sync.
#[derive(Default)]
struct Watch {
    dirs: HashMap<PathBuf, DirState>,
    files: HashMap<PathBuf, FileState>,
}

#[derive(Default, Clone, Copy)]
struct DirState {
    cut: bool,
    holding_syncs: bool,
}

#[derive(Default)]
struct FileState {
    /// The file's length at its last sync (or when first opened).
    synced_len: u64,
    /// What writes and truncations overwrote since, oldest first.
    undo: Vec<(u64, Vec<u8>)>,
}

fn watch() -> MutexGuard<'static, Watch> {
    state().0.lock().unwrap_or_else(|e| e.into_inner())
}

fn state() -> &'static (Mutex<Watch>, Condvar) {
    static STATE: OnceLock<(Mutex<Watch>, Condvar)> = OnceLock::new();
    STATE.get_or_init(|| (Mutex::new(Watch::default()), Condvar::new()))
}

impl Watch {
    fn dir_of(&self, path: &Path) -> Option<DirState> {
        self.dirs
            .iter()
            .find(|(d, _)| path.starts_with(d))
            .map(|(_, s)| *s)
    }
}

/// Watches the files under one directory (see the module's documentation).
#[derive(Debug)]
pub struct PowerCut {
    dir: PathBuf,
}

impl PowerCut {
    /// Installs the VFS (once per process, before any database is opened: it must be the
    /// default when this crate's WAL VFS is registered) and watches `dir`.
    pub fn watch(dir: &Path) -> Result<PowerCut, String> {
        install()?;
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        watch().dirs.insert(dir.clone(), DirState::default());
        Ok(PowerCut { dir })
    }

    /// The power goes: nothing more reaches the watched files.
    pub fn cut(&self) {
        if let Some(d) = watch().dirs.get_mut(&self.dir) {
            d.cut = true;
            d.holding_syncs = false;
        }
        state().1.notify_all();
    }

    /// Puts every watched file back as its last sync left it. Call it once every connection
    /// to them is closed; then the power is back.
    pub fn restore(&self) -> Result<(), String> {
        let mut w = watch();
        let files: Vec<PathBuf> = w
            .files
            .keys()
            .filter(|p| p.starts_with(&self.dir))
            .cloned()
            .collect();
        for path in files {
            let s = w.files.remove(&path).expect("listed above");
            let file = match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{}: {e}", path.display())),
            };
            for (offset, old) in s.undo.iter().rev() {
                file.write_all_at(old, *offset)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            file.set_len(s.synced_len)
                .and_then(|_| (&file).flush())
                .and_then(|_| file.sync_all())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if let Some(d) = w.dirs.get_mut(&self.dir) {
            *d = DirState::default();
        }
        Ok(())
    }

    /// Makes syncs of the watched files wait (`true`) until released (`false`).
    pub fn hold_syncs(&self, hold: bool) {
        if let Some(d) = watch().dirs.get_mut(&self.dir) {
            d.holding_syncs = hold;
        }
        state().1.notify_all();
    }

    /// How many bytes of the watched files no sync covers yet: overwritten since their last
    /// sync, or past their synced length.
    pub fn unsynced_bytes(&self) -> u64 {
        let w = watch();
        w.files
            .iter()
            .filter(|(p, _)| p.starts_with(&self.dir))
            .map(|(p, s)| {
                let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                let overwritten: u64 = s
                    .undo
                    .iter()
                    .filter(|(o, _)| *o < s.synced_len)
                    .map(|(_, b)| b.len() as u64)
                    .sum();
                overwritten + len.saturating_sub(s.synced_len)
            })
            .sum()
    }
}

impl Drop for PowerCut {
    fn drop(&mut self) {
        let mut w = watch();
        w.dirs.remove(&self.dir);
        let dir = self.dir.clone();
        w.files.retain(|p, _| !p.starts_with(&dir));
        drop(w);
        state().1.notify_all();
    }
}

fn install() -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED.get_or_init(install_once).clone()
}

fn install_once() -> Result<(), String> {
    // SAFETY: as in `register_once` of the WAL VFS: the default VFS, never freed.
    let real = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if real.is_null() {
        return Err("SQLite has no default VFS".into());
    }
    // SAFETY: `real` is a valid VFS of version 2 or more (checked); the new one is leaked,
    // as SQLite keeps it for the life of the process, and forwards every method it has.
    unsafe {
        if (*real).iVersion < 2 || (*real).xOpen.is_none() {
            return Err("SQLite's default VFS is older than version 2".into());
        }
        let real_size = usize::try_from((*real).szOsFile).map_err(|e| e.to_string())?;
        let mut vfs = ptr::read(real);
        vfs.szOsFile = c_int::try_from(REAL_OFFSET + real_size).map_err(|e| e.to_string())?;
        vfs.pNext = ptr::null_mut();
        vfs.zName = NAME_C.as_ptr();
        vfs.pAppData = real.cast();
        vfs.xOpen = Some(vfs_open);
        vfs.xDelete = Some(vfs_delete);
        // The system-call overrides are the wrapped VFS's business only.
        vfs.xSetSystemCall = None;
        vfs.xGetSystemCall = None;
        vfs.xNextSystemCall = None;
        vfs.iVersion = vfs.iVersion.min(2);
        let vfs = Box::leak(Box::new(vfs));
        match ffi::sqlite3_vfs_register(vfs, 1) {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(format!(
                "cannot register the power-cut VFS: SQLite error {rc}"
            )),
        }
    }
}

/// A file: the wrapped VFS's (after this, in the memory SQLite gives the VFS) and its path,
/// if it is watched.
#[repr(C)]
struct CutFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    path: Option<PathBuf>,
}

const REAL_OFFSET: usize = size_of::<CutFile>().next_multiple_of(8);
const _: () = assert!(align_of::<CutFile>() <= 8);

static METHODS: OnceLock<ffi::sqlite3_io_methods> = OnceLock::new();

unsafe fn real_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: `pAppData` is the wrapped VFS (set at installation).
    unsafe { (*vfs).pAppData.cast() }
}

unsafe fn path_of(name: *const c_char) -> Option<PathBuf> {
    // SAFETY: SQLite passes a NUL-terminated path, or null for a temporary file.
    unsafe {
        (!name.is_null())
            .then(|| CStr::from_ptr(name).to_str().ok())
            .flatten()
            .map(PathBuf::from)
    }
}

unsafe extern "C" fn vfs_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite gives `file` szOsFile bytes: a `CutFile` and the wrapped file after it.
    unsafe {
        let real = real_vfs(vfs);
        let inner = file
            .cast::<u8>()
            .add(REAL_OFFSET)
            .cast::<ffi::sqlite3_file>();
        (*inner).pMethods = ptr::null();
        let rc = (*real).xOpen.expect("a VFS opens files")(real, name, inner, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            if let Some(close) = (*inner).pMethods.as_ref().and_then(|m| m.xClose) {
                close(inner);
            }
            (*file).pMethods = ptr::null();
            return rc;
        }
        let path = path_of(name).filter(|p| {
            let mut w = watch();
            if w.dir_of(p).is_none() {
                return false;
            }
            if !w.files.contains_key(p) {
                let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                w.files.insert(
                    p.clone(),
                    FileState {
                        synced_len: len,
                        undo: Vec::new(),
                    },
                );
            }
            true
        });
        let methods = METHODS.get_or_init(|| {
            let m = &*(*inner).pMethods;
            ffi::sqlite3_io_methods {
                iVersion: m.iVersion,
                xClose: Some(cut_close),
                xRead: Some(cut_read),
                xWrite: Some(cut_write),
                xTruncate: Some(cut_truncate),
                xSync: Some(cut_sync),
                xFileSize: Some(cut_file_size),
                xLock: Some(cut_lock),
                xUnlock: Some(cut_unlock),
                xCheckReservedLock: Some(cut_check_reserved_lock),
                xFileControl: Some(cut_file_control),
                xSectorSize: Some(cut_sector_size),
                xDeviceCharacteristics: Some(cut_device_characteristics),
                xShmMap: m.xShmMap.and(Some(cut_shm_map)),
                xShmLock: m.xShmLock.and(Some(cut_shm_lock)),
                xShmBarrier: m.xShmBarrier.and(Some(cut_shm_barrier)),
                xShmUnmap: m.xShmUnmap.and(Some(cut_shm_unmap)),
                xFetch: m.xFetch.and(Some(cut_fetch)),
                xUnfetch: m.xUnfetch.and(Some(cut_unfetch)),
            }
        });
        ptr::write(
            file.cast::<CutFile>(),
            CutFile {
                base: ffi::sqlite3_file { pMethods: methods },
                real: inner,
                path,
            },
        );
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn vfs_delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    // SAFETY: forwarded as given to the wrapped VFS.
    unsafe {
        if let Some(p) = path_of(name) {
            let mut w = watch();
            match w.dir_of(&p) {
                Some(d) if d.cut => return ffi::SQLITE_OK,
                Some(_) => {
                    w.files.remove(&p);
                }
                None => {}
            }
        }
        let real = real_vfs(vfs);
        (*real).xDelete.expect("xDelete")(real, name, sync_dir)
    }
}

/// The `CutFile` SQLite calls a method of.
unsafe fn cut_file<'a>(file: *mut ffi::sqlite3_file) -> &'a mut CutFile {
    // SAFETY: these methods are only ever set on a `CutFile` (by `vfs_open`).
    unsafe { &mut *file.cast::<CutFile>() }
}

impl CutFile {
    unsafe fn real_methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: `real` was opened successfully: its methods are set and static.
        unsafe { &*(*self.real).pMethods }
    }

    /// Whether the power is cut for this file.
    fn is_cut(&self) -> bool {
        self.path
            .as_ref()
            .and_then(|p| watch().dir_of(p))
            .is_some_and(|d| d.cut)
    }

    /// Keeps what `[offset, offset + len)` holds now, before it is overwritten.
    unsafe fn keep(&self, offset: i64, len: usize) -> c_int {
        let Some(path) = &self.path else {
            return ffi::SQLITE_OK;
        };
        // SAFETY: `real` is an open file; `size` is written by xFileSize.
        unsafe {
            let mut size: i64 = 0;
            let rc = self.real_methods().xFileSize.expect("xFileSize")(self.real, &mut size);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            let end = (offset + len as i64).min(size);
            if end <= offset {
                return ffi::SQLITE_OK;
            }
            let mut old = vec![0u8; (end - offset) as usize];
            let rc = self.real_methods().xRead.expect("xRead")(
                self.real,
                old.as_mut_ptr().cast(),
                old.len() as c_int,
                offset,
            );
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            if let Some(s) = watch().files.get_mut(path) {
                s.undo.push((offset as u64, old));
            }
            ffi::SQLITE_OK
        }
    }
}

unsafe extern "C" fn cut_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is a `CutFile`, closed and dropped once, here.
    unsafe {
        let f = cut_file(file);
        let rc = f.real_methods().xClose.expect("xClose")(f.real);
        ptr::drop_in_place(f);
        rc
    }
}

unsafe extern "C" fn cut_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    n: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: `file` is a `CutFile`; the rest is forwarded as given.
    unsafe {
        let f = cut_file(file);
        if f.is_cut() {
            return ffi::SQLITE_OK;
        }
        let rc = f.keep(offset, usize::try_from(n).unwrap_or(0));
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        f.real_methods().xWrite.expect("xWrite")(f.real, buf, n, offset)
    }
}

unsafe extern "C" fn cut_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: `file` is a `CutFile`; the rest is forwarded as given.
    unsafe {
        let f = cut_file(file);
        if f.is_cut() {
            return ffi::SQLITE_OK;
        }
        let mut len: i64 = 0;
        let rc = f.real_methods().xFileSize.expect("xFileSize")(f.real, &mut len);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if len > size {
            let rc = f.keep(size, (len - size) as usize);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        f.real_methods().xTruncate.expect("xTruncate")(f.real, size)
    }
}

unsafe extern "C" fn cut_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: `file` is a `CutFile`; the rest is forwarded as given.
    unsafe {
        let f = cut_file(file);
        if let Some(path) = f.path.clone() {
            let (lock, released) = state();
            let mut w = lock.lock().unwrap_or_else(|e| e.into_inner());
            while w.dir_of(&path).is_some_and(|d| d.holding_syncs && !d.cut) {
                w = released.wait(w).unwrap_or_else(|e| e.into_inner());
            }
            if w.dir_of(&path).is_some_and(|d| d.cut) {
                return ffi::SQLITE_OK;
            }
        }
        let rc = f.real_methods().xSync.expect("xSync")(f.real, flags);
        if rc == ffi::SQLITE_OK
            && let Some(path) = &f.path
        {
            let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if let Some(s) = watch().files.get_mut(path) {
                s.undo.clear();
                s.synced_len = len;
            }
        }
        rc
    }
}

/// A method forwarded as given to the wrapped file.
macro_rules! cut_forward {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> $ret {
            // SAFETY: `file` is a `CutFile` whose wrapped file has this method (the methods
            // are only set where the wrapped file's are).
            unsafe {
                let f = cut_file(file);
                f.real_methods().$method.expect(stringify!($method))(f.real, $($arg),*)
            }
        }
    };
}

cut_forward!(cut_read, xRead, (buf: *mut c_void, n: c_int, offset: i64) -> c_int);
cut_forward!(cut_file_size, xFileSize, (size: *mut i64) -> c_int);
cut_forward!(cut_lock, xLock, (level: c_int) -> c_int);
cut_forward!(cut_unlock, xUnlock, (level: c_int) -> c_int);
cut_forward!(cut_check_reserved_lock, xCheckReservedLock, (out: *mut c_int) -> c_int);
cut_forward!(cut_file_control, xFileControl, (op: c_int, arg: *mut c_void) -> c_int);
cut_forward!(cut_sector_size, xSectorSize, () -> c_int);
cut_forward!(cut_device_characteristics, xDeviceCharacteristics, () -> c_int);
cut_forward!(cut_shm_map, xShmMap, (region: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int);
cut_forward!(cut_shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int) -> c_int);
cut_forward!(cut_shm_barrier, xShmBarrier, () -> ());
cut_forward!(cut_shm_unmap, xShmUnmap, (delete: c_int) -> c_int);
cut_forward!(cut_fetch, xFetch, (offset: i64, n: c_int, out: *mut *mut c_void) -> c_int);
cut_forward!(cut_unfetch, xUnfetch, (offset: i64, p: *mut c_void) -> c_int);

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, params};

    use super::*;

    fn count(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    fn open(path: &Path, synchronous: &str) -> Connection {
        let c = Connection::open(path).unwrap();
        c.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous};
             PRAGMA wal_autocheckpoint=0; CREATE TABLE IF NOT EXISTS t (x);"
        ))
        .unwrap();
        c
    }

    #[test]
    fn a_cut_keeps_what_was_synced_and_loses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let cut = PowerCut::watch(dir.path()).unwrap();
        let path = dir.path().canonicalize().unwrap().join("full.db");
        {
            let c = open(&path, "FULL");
            for i in 0..10 {
                c.execute("INSERT INTO t VALUES (?1)", params![i]).unwrap();
            }
            assert_eq!(cut.unsynced_bytes(), 0, "FULL syncs every commit");
            cut.cut();
            c.execute("INSERT INTO t VALUES (99)", []).unwrap();
        }
        cut.restore().unwrap();
        assert_eq!(count(&path), 10, "every synced commit, none after the cut");
    }

    #[test]
    fn without_syncs_a_cut_loses_commits() {
        let dir = tempfile::tempdir().unwrap();
        let cut = PowerCut::watch(dir.path()).unwrap();
        let path = dir.path().canonicalize().unwrap().join("normal.db");
        {
            let c = open(&path, "FULL");
            c.execute("INSERT INTO t VALUES (0)", []).unwrap();
            c.execute_batch("PRAGMA synchronous=NORMAL").unwrap();
            for i in 1..10 {
                c.execute("INSERT INTO t VALUES (?1)", params![i]).unwrap();
            }
            assert!(cut.unsynced_bytes() > 0, "NORMAL leaves commits unsynced");
            cut.cut();
        }
        cut.restore().unwrap();
        assert_eq!(count(&path), 1, "only the synced commit is left");
    }
}
