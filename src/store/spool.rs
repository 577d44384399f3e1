//! The capture log: what a session file holds while its capture runs.
//!
//! Appending to DuckDB inside the capture cost dflow a third of its CPU
//! (1.70 → 1.13 µs per traced nginx request) and half its memory (101 → 53
//! MB: DuckDB's code, its buffer pool, the appends' Arrow copies) beside
//! the services it watches. So the writer thread appends
//! each flush, already SmartEncoded, to this log instead, and the log
//! becomes the DuckDB file when the capture ends ([`convert`]). A log left
//! by a capture that did not end (`kill -9`, a crash, a full disk) is
//! converted by the first `dflow replay`, `query` or `sessions` that opens
//! it, with everything up to its last complete record.
//!
//! The format is in [`super::logfmt`].
//!
//! The writer holds an exclusive `flock` on the log while the capture runs
//! and while it converts; whoever converts a log holds it too, so a log
//! is converted once.

use std::fs::File;
use std::io::{BufReader, Seek as _, SeekFrom, Write as _};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::StoreError;
use super::encode::Chunk;
use super::logfmt::{self, Counter, LogError, LogReader, MAGIC, Record};
use super::meta::SessionMeta;

/// The first 12 bytes of `path` (fewer if it is shorter): enough to tell a
/// capture log ([`MAGIC`] at 0) from a DuckDB file ("DUCK" at 8).
pub fn read_head(path: &Path) -> Result<Vec<u8>, StoreError> {
    let io_err = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut head = vec![0u8; 12];
    let mut file = File::open(path).map_err(io_err)?;
    let n = logfmt::read_full(&mut file, &mut head).map_err(io_err)?;
    head.truncate(n);
    Ok(head)
}

/// Whether `path` starts with the log's magic.
pub fn is_log(path: &Path) -> Result<bool, StoreError> {
    Ok(read_head(path)?.starts_with(MAGIC))
}

/// Takes the log's lock without waiting; false when someone holds it.
fn try_lock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(e),
    }
}

/// The appending end, owned by the writer thread.
pub struct LogWriter {
    file: File,
    buf: Vec<u8>,
    /// Bytes of whole records written: where the log ends if a write fails.
    len: u64,
}

impl LogWriter {
    /// Creates the log at `path` (mode 0600; it must not exist), locked,
    /// with its header and metadata.
    pub fn create(path: &Path, meta: &SessionMeta) -> Result<LogWriter, StoreError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let io_err = |source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                StoreError::Exists(path.to_owned())
            } else {
                StoreError::Io {
                    path: path.to_owned(),
                    source,
                }
            }
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io_err)?;
        try_lock(&file).map_err(io_err)?;
        let mut log = LogWriter {
            file,
            buf: Vec::new(),
            len: 0,
        };
        logfmt::put_header(&mut log.buf, std::process::id());
        logfmt::put_meta_record(&mut log.buf, meta);
        log.write().map_err(io_err)?;
        Ok(log)
    }

    /// Writes the buffer out. Without fsync: what `write` returned survives
    /// the process, and a sync per second would only stall the writer. A
    /// write that fails (a full disk) is cut off again, so the log still
    /// ends with a whole record and reads without a torn tail.
    fn write(&mut self) -> std::io::Result<()> {
        let result = self.file.write_all(&self.buf);
        match result {
            Ok(()) => self.len += self.buf.len() as u64,
            Err(_) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::Start(self.len));
            }
        }
        self.buf.clear();
        result
    }

    pub fn chunk(&mut self, chunk: &Chunk) -> std::io::Result<()> {
        logfmt::put_chunk_record(&mut self.buf, chunk);
        self.write()
    }

    /// The clean end: counters and the end time.
    pub fn finish(&mut self, counters: &[Counter], ended_ns: i64) -> std::io::Result<()> {
        logfmt::put_end_records(&mut self.buf, counters, ended_ns);
        self.write()
    }

    /// The file, still locked: for [`convert`].
    pub fn into_file(self) -> File {
        self.file
    }
}

/// [`LogError`] as the store's error for the log at `path`.
fn log_error(path: &Path, e: LogError) -> StoreError {
    match e {
        LogError::Io(source) => StoreError::Io {
            path: path.to_owned(),
            source,
        },
        other => StoreError::NotDuckDb {
            path: path.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// What converting a log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// Facts written to the DuckDB file.
    pub facts: u64,
    /// Where and how the log was cut, when it was.
    pub torn: Option<String>,
}

/// Opens the log at `path` for conversion, locked: [`StoreError::Locked`]
/// while its capture (or another conversion) holds it.
pub fn lock_for_conversion(path: &Path) -> Result<File, StoreError> {
    let io_err = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err)?;
    if try_lock(&file).map_err(io_err)? {
        return Ok(file);
    }
    let pid = LogReader::new(&file).map(|r| r.pid).unwrap_or(0);
    let detail = if crate::process::exists(pid) {
        format!("pid {pid}")
    } else {
        "another dflow is converting it".to_owned()
    };
    Err(StoreError::Locked {
        path: path.to_owned(),
        detail,
    })
}

/// The capture writing the log at `path` now: its metadata, its pid and
/// the log's size so far. None when nobody holds the file (a DuckDB file,
/// or a log left behind, which the next open converts), or it is no log.
pub fn running(path: &Path) -> Result<Option<(SessionMeta, u32, u64)>, StoreError> {
    let io_err = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    // Taken, the lock says nobody writes; it goes with `file`.
    if try_lock(&file).map_err(io_err)? {
        return Ok(None);
    }
    let size = file.metadata().map_err(io_err)?.len();
    let Ok(mut log) = LogReader::new(BufReader::new(&file)) else {
        return Ok(None);
    };
    let pid = log.pid;
    match log.next_record().map_err(io_err)? {
        Some(Record::Meta(meta)) if crate::process::exists(pid) => Ok(Some((meta, pid, size))),
        _ => Ok(None),
    }
}

/// Converts the log at `path`, which a capture left unconverted (killed,
/// crashed, or its disk full), into its DuckDB file; notes on stderr what
/// happened.
pub fn recover(path: &Path) -> Result<(), StoreError> {
    let file = lock_for_conversion(path)?;
    // Converted by someone else between the caller's look and the lock.
    if !is_log(path)? {
        return Ok(());
    }
    // A log this dflow cannot read is refused before anything is said or
    // written.
    LogReader::new(&file).map_err(|e| log_error(path, e))?;
    crate::say!(
        "dflow: converting {}: its capture did not finish",
        path.display()
    );
    let converted = convert(path, file, &mut |_, _| {})?;
    if let Some(torn) = converted.torn {
        crate::say!(
            "dflow: note: {}: the log ends in {torn}; the {} facts before it are kept",
            path.display(),
            converted.facts
        );
    }
    Ok(())
}

/// Turns the log at `path` (open and locked in `file`) into the session's
/// DuckDB file at the same path: written beside it, then renamed over it,
/// so the path holds the whole log or the whole database at every moment.
/// `progress` gets (bytes read, bytes in all); all of them once only the
/// statistics and the commit are left.
pub fn convert(
    path: &Path,
    mut file: File,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Converted, StoreError> {
    let io_err = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    // The capture's freed memory goes back before DuckDB takes its own.
    crate::process::release_freed_memory();
    let total = file.metadata().map_err(io_err)?.len();
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let mut log =
        LogReader::new(BufReader::with_capacity(1 << 20, &file)).map_err(|e| log_error(path, e))?;
    let Some(Record::Meta(meta)) = log.next_record().map_err(io_err)? else {
        return Err(StoreError::NotDuckDb {
            path: path.to_owned(),
            detail: "a capture log without its metadata".to_owned(),
        });
    };
    let scratch = Scratch::create(path)?;
    let tmp = scratch.db_path();
    let result = (|| {
        let mut db = super::writer::Database::create(&tmp, &meta)?;
        while let Some(record) = log.next_record().map_err(io_err)? {
            match record {
                Record::Meta(_) => {}
                Record::Chunk(chunk) => db.append(*chunk)?,
                Record::Counters(rows) => db.counters(&rows)?,
                Record::End(ns) => {
                    // The statistics come next: the log is read.
                    progress(total, total);
                    db.end(ns)?;
                }
            }
            progress(log.offset, total);
        }
        progress(total, total);
        let facts = db.close()?;
        Ok(Converted {
            facts,
            torn: log.torn.take(),
        })
    })();
    // DuckDB's errors name the scratch path; the user knows the session's.
    let result = result.map_err(|e| match e {
        StoreError::Db { path: p, source } if p == tmp => StoreError::Db {
            path: path.to_owned(),
            source,
        },
        other => other,
    });
    let result = result.and_then(|c| {
        scratch.rename_into_place().map_err(io_err)?;
        Ok(c)
    });
    drop(scratch);
    result
}

/// Where a conversion writes the DuckDB file and the write-ahead log
/// DuckDB makes beside it: a directory of dflow's own (mode 0700) next to
/// the session, reached through a descriptor (`/proc/self/fd/N/...`), never
/// by a name in the session's directory. That directory may be shared
/// (/tmp) or another user's: a `FILE.converting.wal` created there by name
/// let whoever planted a symlink of that name between dflow's look and
/// DuckDB's open have root append the WAL to any file, and a directory
/// reached by name could be swapped for the planter's own. The finished
/// file is renamed into place relative to the session's directory, which
/// replaces the entry and follows no link.
struct Scratch {
    parent: std::os::fd::OwnedFd,
    dir: std::os::fd::OwnedFd,
    /// The directory's name in `parent`.
    name: std::ffi::CString,
    /// The session's name in `parent`.
    target: std::ffi::CString,
}

/// The database's name inside the scratch directory.
const SCRATCH_DB: &std::ffi::CStr = c"session.duckdb";

impl Scratch {
    fn create(path: &Path) -> Result<Scratch, StoreError> {
        use std::ffi::CString;
        use std::os::fd::{FromRawFd as _, OwnedFd};
        use std::os::unix::ffi::OsStrExt as _;
        let io_err = |source| StoreError::Io {
            path: path.to_owned(),
            source,
        };
        let last_err = || std::io::Error::last_os_error();
        let parent_path = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| io_err(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
        let c = |bytes: &[u8]| {
            CString::new(bytes)
                .map_err(|_| io_err(std::io::Error::from(std::io::ErrorKind::InvalidInput)))
        };
        let parent_c = c(parent_path.as_os_str().as_bytes())?;
        let target = c(file_name.as_bytes())?;
        // SAFETY: open of a NUL-terminated path; the descriptor is owned.
        let parent = unsafe {
            let fd = libc::open(
                parent_c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                return Err(io_err(last_err()));
            }
            OwnedFd::from_raw_fd(fd)
        };
        // What a conversion cut short (a crash, kill -9) left: ours, as the
        // log's lock, held by the caller, says no conversion runs.
        let prefix = format!(".{}.dflow-", file_name.to_string_lossy());
        remove_stale(&parent, parent_path, &prefix);
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for attempt in 0u32.. {
            let name = c(format!("{prefix}{}-{stamp:x}-{attempt}", std::process::id()).as_bytes())?;
            use std::os::fd::AsRawFd as _;
            // SAFETY: mkdirat with an owned directory descriptor and a
            // NUL-terminated name. mkdir never follows a link: a name taken
            // by anything fails with EEXIST.
            if unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o700) } != 0 {
                let e = last_err();
                if e.raw_os_error() == Some(libc::EEXIST) && attempt < 100 {
                    continue;
                }
                return Err(io_err(e));
            }
            // SAFETY: as above; O_NOFOLLOW refuses a link put in its place.
            let dir = unsafe {
                let fd = libc::openat(
                    parent.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                );
                if fd < 0 {
                    return Err(io_err(last_err()));
                }
                OwnedFd::from_raw_fd(fd)
            };
            // Swapped for someone else's directory between mkdir and open?
            if !is_own_private_dir(&dir) {
                return Err(io_err(std::io::Error::other(
                    "its conversion directory was replaced by another user's",
                )));
            }
            return Ok(Scratch {
                parent,
                dir,
                name,
                target,
            });
        }
        unreachable!("the loop returns")
    }

    /// The database's path for DuckDB, through the directory's descriptor.
    fn db_path(&self) -> PathBuf {
        use std::os::fd::AsRawFd as _;
        PathBuf::from(format!(
            "/proc/self/fd/{}/{}",
            self.dir.as_raw_fd(),
            SCRATCH_DB.to_string_lossy()
        ))
    }

    fn rename_into_place(&self) -> std::io::Result<()> {
        use std::os::fd::AsRawFd as _;
        // SAFETY: renameat with owned directory descriptors and
        // NUL-terminated names.
        let rc = unsafe {
            libc::renameat(
                self.dir.as_raw_fd(),
                SCRATCH_DB.as_ptr(),
                self.parent.as_raw_fd(),
                self.target.as_ptr(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

impl Drop for Scratch {
    /// Removes what is left in the directory (a WAL, a database not renamed
    /// into place), then the directory.
    fn drop(&mut self) {
        use std::os::fd::AsRawFd as _;
        empty_dir(&self.dir);
        // SAFETY: unlinkat with an owned directory descriptor and a
        // NUL-terminated name.
        unsafe {
            libc::unlinkat(
                self.parent.as_raw_fd(),
                self.name.as_ptr(),
                libc::AT_REMOVEDIR,
            )
        };
    }
}

/// Whether the directory open as `dir` is this user's and nobody else's.
fn is_own_private_dir(dir: &std::os::fd::OwnedFd) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = dir
        .try_clone()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
    else {
        return false;
    };
    // SAFETY: geteuid cannot fail.
    meta.is_dir() && meta.uid() == unsafe { libc::geteuid() } && meta.mode() & 0o077 == 0
}

/// Removes every entry of the directory `dir` (no subdirectories are made
/// in a scratch directory).
fn empty_dir(dir: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::ffi::OsStrExt as _;
    let listed = format!("/proc/self/fd/{}", dir.as_raw_fd());
    let Ok(entries) = std::fs::read_dir(&listed) else {
        return;
    };
    for entry in entries.flatten() {
        if let Ok(name) = std::ffi::CString::new(entry.file_name().as_bytes()) {
            // SAFETY: unlinkat with an owned directory descriptor and a
            // NUL-terminated name; it removes the entry, never a link's target.
            unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
        }
    }
}

/// Removes the scratch directories named `prefix...` in `parent` that are
/// dflow's own (this user's, mode 0700): left by a conversion cut short.
fn remove_stale(parent: &std::os::fd::OwnedFd, parent_path: &Path, prefix: &str) {
    use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(entries) = std::fs::read_dir(parent_path) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().as_bytes().starts_with(prefix.as_bytes()) {
            continue;
        }
        let Ok(name) = std::ffi::CString::new(entry.file_name().as_bytes()) else {
            continue;
        };
        // SAFETY: openat with an owned directory descriptor and a
        // NUL-terminated name; O_NOFOLLOW: a link is not ours to follow.
        let fd = unsafe {
            libc::openat(
                parent.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            continue;
        }
        // SAFETY: a descriptor just opened, owned from here.
        let dir = unsafe { OwnedFd::from_raw_fd(fd) };
        if !is_own_private_dir(&dir) {
            continue;
        }
        empty_dir(&dir);
        // SAFETY: as above.
        unsafe { libc::unlinkat(parent.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::logfmt::{HEADER, LogReader};
    use crate::store::meta::SessionKind;
    use dflow_logfmt::testing::{chunk, meta};

    /// A directory removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("dflow-log-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write_log(path: &Path) -> Chunk {
        let mut log = LogWriter::create(path, &meta()).unwrap();
        let c = chunk();
        log.chunk(&c).unwrap();
        log.finish(&[("trace".into(), 10, 2)], 42).unwrap();
        c
    }

    fn records(bytes: &[u8]) -> (Vec<Record>, Option<String>) {
        let mut r = LogReader::new(bytes).unwrap();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push(rec);
        }
        (out, r.torn)
    }

    #[test]
    fn records_read_back_as_written() {
        let dir = Scratch::new();
        let path = dir.0.join("s.duckdb");
        let written = write_log(&path);
        let (recs, torn) = records(&std::fs::read(&path).unwrap());
        assert_eq!(torn, None);
        assert_eq!(recs.len(), 4);
        let Record::Meta(m) = &recs[0] else {
            panic!("{recs:?}")
        };
        assert_eq!(
            (m.kind, m.started_ns, m.doctor.as_deref()),
            (SessionKind::Trace, 1_700_000_000_000_000_000, Some("{}"))
        );
        let Record::Chunk(c) = &recs[1] else {
            panic!("{recs:?}")
        };
        assert_eq!(format!("{c:?}"), format!("{written:?}"));
        assert!(matches!(&recs[2], Record::Counters(r) if r == &[("trace".to_owned(), 10, 2)]));
        assert!(matches!(recs[3], Record::End(42)));
    }

    #[test]
    fn a_cut_or_damaged_log_ends_at_its_last_whole_record() {
        let dir = Scratch::new();
        let path = dir.0.join("s.duckdb");
        write_log(&path);
        let bytes = std::fs::read(&path).unwrap();
        // Every cut: the records before it, nothing invented, no panic.
        let whole = records(&bytes).0.len();
        let mut seen = std::collections::BTreeSet::new();
        for cut in HEADER..bytes.len() {
            let (recs, torn) = records(&bytes[..cut]);
            assert!(recs.len() < whole, "cut at {cut}");
            seen.insert(recs.len());
            if torn.is_none() {
                // Only a cut between records reads cleanly.
                assert!(!recs.is_empty() || cut == HEADER, "cut at {cut}");
            }
        }
        assert_eq!(seen.len(), whole, "each prefix of records is reachable");
        // A flipped bit anywhere after the header stops the log there.
        for i in HEADER..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            let (recs, torn) = records(&bad);
            assert!(recs.len() < whole && torn.is_some(), "bit flipped at {i}");
        }
    }

    #[test]
    fn a_second_writer_or_converter_is_refused_while_the_log_is_held() {
        let dir = Scratch::new();
        let path = dir.0.join("s.duckdb");
        let log = LogWriter::create(&path, &meta()).unwrap();
        assert!(matches!(
            LogWriter::create(&path, &meta()),
            Err(StoreError::Exists(_))
        ));
        match lock_for_conversion(&path) {
            Err(StoreError::Locked { detail, .. }) => {
                assert_eq!(detail, format!("pid {}", std::process::id()))
            }
            other => panic!("{other:?}"),
        }
        drop(log);
        assert!(lock_for_conversion(&path).is_ok());
    }
}
