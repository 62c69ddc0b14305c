//! Disk space for a WAL's appends, allocated ahead of them.
//!
//! On ext4 an append to a file takes the inode's block map lock twice over: to allocate the
//! block it lands in, and, when it grows the file, to update the file's size on disk. A
//! checkpoint syncs the WAL (SQLite does, before it copies frames back), and the writeback
//! holds that lock while it maps the blocks it writes: the writer's append waited the while,
//! and every commit queued behind it. In the flow benchmark that stopped all the writes for
//! 10-20 ms a few times a second (`perf` of the scheduler's switches: the writer blocked in
//! `ext4_da_get_block_prep` or `ext4_da_write_end`, the checkpoint thread in `fsync`), and
//! took the start step's p99 at 32 connections from 5 to 10-17 ms.
//!
//! So past the end of the reserve, the file is made [`CHUNK`] longer than the write at once
//! (`fallocate`): its blocks are allocated and its size is past the appends, which then
//! neither allocate nor grow it. SQLite finds a WAL's end by its frames, not its size: its
//! recovery stops at the first frame that does not check, and the space beyond (zeros) is
//! what a WAL started over has too, with old frames in it. A WAL started over is reserved
//! again past its current length: up to there SQLite writes over blocks it has, unless
//! another connection truncated it meanwhile (its length then says so).
//! Reserving is only ever a help: where it fails (a file system without `fallocate`, a full
//! disk), the write goes on as before and meets the error, if any, itself.

use std::fs::File;
use std::path::Path;

/// How far ahead of the writes the space is allocated.
pub(crate) const CHUNK: u64 = 16 * 1024 * 1024;

#[cfg(test)]
thread_local! {
    /// The allocations this thread's WAL files asked for.
    pub(crate) static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

pub(crate) struct Reserve {
    /// The WAL, opened again for its space (the wrapped VFS keeps its descriptor to itself).
    /// The WAL holds no POSIX locks (those of a WAL database are on its `-shm` file), so
    /// closing this takes none away.
    file: File,
    /// The file is allocated, and at least this long, up to here.
    to: u64,
}

impl Reserve {
    /// The space of the WAL at `path`, or `None` where it cannot be reserved.
    pub(crate) fn open(path: &Path) -> Option<Reserve> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let file = std::fs::OpenOptions::new().write(true).open(path).ok()?;
        Some(Reserve { file, to: 0 })
    }

    /// Before a write of `[offset, end)`: allocates ahead if it goes past the reserve.
    /// Returns `false` once reserving does not work here (the caller then stops asking).
    pub(crate) fn before_write(&mut self, offset: u64, end: u64) -> bool {
        if offset == 0 {
            // The WAL's header: a new WAL, or one started over, perhaps after another
            // connection truncated it: what is there now is what the file holds, if all of
            // it is allocated (not sparse).
            self.to = self
                .file
                .metadata()
                .ok()
                .filter(|m| allocated(m) >= m.len())
                .map_or(0, |m| m.len());
        }
        if end <= self.to {
            return true;
        }
        let to = (end + CHUNK).next_multiple_of(CHUNK);
        #[cfg(test)]
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        match allocate(&self.file, self.to, to - self.to) {
            Ok(()) => {
                self.to = to;
                true
            }
            // Not here (the file system cannot): never again for this file.
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => false,
            // Perhaps later (a full disk): the write goes on and meets what it meets.
            Err(_) => true,
        }
    }

    /// The WAL was truncated to `size` (through this connection).
    pub(crate) fn truncated(&mut self, size: u64) {
        self.to = self.to.min(size);
    }
}

#[cfg(unix)]
fn allocated(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.blocks().saturating_mul(512)
}

#[cfg(not(unix))]
fn allocated(_: &std::fs::Metadata) -> u64 {
    0
}

#[cfg(target_os = "linux")]
fn allocate(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(std::io::Error::from_raw_os_error(libc::EFBIG));
    };
    // SAFETY: `fallocate` takes a descriptor this `File` owns and plain integers. Mode 0:
    // the file grows to cover the range (never shrinks).
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn allocate(_: &File, _: u64, _: u64) -> std::io::Result<()> {
    Err(std::io::Error::from_raw_os_error(libc::EOPNOTSUPP))
}
