//! The session writer: its own thread, a bounded channel, the capture log;
//! and the DuckDB appends that turn a log into the session file.
//!
//! Producers hand over owned batches with [`SessionWriter::spans`] (and
//! `flows`, `samples`); that never blocks: when the channel is full the
//! batch is dropped and counted, and the count is stored in `counters` as
//! source `store`. The thread encodes batches into dictionary ids and
//! columns and appends them to the capture log ([`super::spool`]) at least
//! once a second ([`FLUSH_INTERVAL`]) or when [`MAX_BUFFERED`] facts are
//! waiting, so after a `kill -9` the file holds everything up to the last
//! flush. [`SessionWriter::finish`] converts the log into DuckDB
//! ([`Database`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use duckdb::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, StringArray, UInt8Array, UInt32Array,
    UInt64Array,
};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::{Connection, params};

use super::StoreError;
use super::encode::{Chunk, Encoder, PendingDicts};
use super::logfmt::Counter;
pub use super::meta::{SessionMeta, unix_ns_now};
use super::schema;
use super::spool::{self, LogWriter};
use crate::event::ProbeCounters;
use crate::event::{Flow, Sample, Span};

/// Longest time a fact waits in memory before it is written to the log.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Facts buffered before an early flush, which bounds the writer's memory.
/// Each flush is one chunk of the log, and one batch for DuckDB's appender
/// when the log is converted. (When DuckDB appended during the capture, a
/// commit per flush made size matter: at 32k facts the store benchmark
/// appended 1.0 M spans/s and packed 26.5 bytes a span, at 256k 2.1 M/s and
/// 24.9.)
pub const MAX_BUFFERED: usize = 256 * 1024;

/// Excerpt text buffered before an early flush.
pub const MAX_BUFFERED_TEXT: usize = 8 * 1024 * 1024;

/// Facts queued for the writer thread at most; past it, `spans()`,
/// `flows()` and `samples()` drop and count (the waiting variants wait).
pub const MAX_QUEUED: u64 = 32 * 1024;

/// Batches queued between producers and the writer thread.
const CHANNEL_BATCHES: usize = 1024;

enum Msg {
    Spans(Vec<Span>),
    Flows(Vec<Flow>),
    Samples(Vec<Sample>),
    Label {
        resource: &'static str,
        resource_id: u32,
        key: String,
        value: String,
    },
    Flush(SyncSender<()>),
    Finish(Vec<(String, ProbeCounters)>),
}

/// What the writer thread hands back: the counts, and the log (still
/// locked) when its capture ended cleanly, to be converted.
type Written = (Totals, Option<std::fs::File>);

impl Shared {
    /// The writer took `n` facts off the queue (queued by `offer` or by a
    /// waiting send, which does not count them: saturate at zero).
    fn taken(&self, n: usize) {
        let _ = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                Some(q.saturating_sub(n as u64))
            });
    }
}

#[derive(Debug, Default)]
struct Shared {
    /// Facts dropped because the queue was full.
    dropped: AtomicU64,
    /// Why writing the log failed (a full disk, an I/O error), once it
    /// has: from then on nothing more is written, and every fact is
    /// counted in `unwritten` instead.
    failure: std::sync::OnceLock<String>,
    /// Facts lost because writing the log failed.
    unwritten: AtomicU64,
    /// Facts queued and not yet taken by the writer thread.
    queued: AtomicU64,
    /// Facts written to the log.
    written: AtomicU64,
}

/// What a finished session holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WriteSummary {
    pub path: PathBuf,
    pub spans: u64,
    pub flows: u64,
    pub samples: u64,
    /// Facts the writer could not keep up with.
    pub dropped: u64,
    /// Facts lost because writing the file failed (see [`WriteFailure`]).
    pub unwritten: u64,
}

/// Writing a session's log failed during its capture: what the session
/// lacks from then on. The capture goes on (its live view and printed
/// lines lose nothing); the log keeps everything before the failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteFailure {
    /// The error, naming the file (`...: No space left on device`).
    pub reason: String,
    /// Facts not written so far.
    pub unwritten: u64,
}

/// How a capture's session ended.
#[derive(Debug, Default)]
pub struct Closed {
    /// The session file; None with `--no-session`.
    pub path: Option<PathBuf>,
    /// Writing it failed during the capture: what it lacks.
    pub failure: Option<WriteFailure>,
    /// It could not be finished: it stays a log (this says where).
    pub error: Option<anyhow::Error>,
}

impl Closed {
    /// The end's line about a session that lacks `what`, or None.
    pub fn unwritten_note(&self, what: &str) -> Option<String> {
        let failure = self.failure.as_ref()?;
        Some(format!(
            "the session lacks {} {what} that could not be written ({})",
            failure.unwritten, failure.reason
        ))
    }
}

pub struct SessionWriter {
    path: PathBuf,
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<Written, StoreError>>>,
}

impl std::fmt::Debug for SessionWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SessionWriter {
    /// Creates the session file (mode 0600; it must not exist) as a
    /// capture log holding the session's metadata, and starts the writer
    /// thread.
    pub fn create(path: &Path, meta: SessionMeta) -> Result<SessionWriter, StoreError> {
        let log = LogWriter::create(path, &meta)?;
        let (tx, rx) = sync_channel(CHANNEL_BATCHES);
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("session-writer".into())
            .spawn({
                let path = path.to_owned();
                let shared = Arc::clone(&shared);
                move || run(log, &path, &rx, &shared)
            })
            .map_err(StoreError::Thread)?;
        Ok(SessionWriter {
            path: path.to_owned(),
            tx,
            shared,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn offer(&self, msg: Msg, n: usize) {
        let n = n as u64;
        if self.shared.failure.get().is_some() {
            self.shared.unwritten.fetch_add(n, Ordering::Relaxed);
            return;
        }
        // Bounded by facts, not only batches: a writer starved of CPU on a
        // busy host must not let the queue eat its memory.
        if self.shared.queued.load(Ordering::Relaxed) + n > MAX_QUEUED {
            self.shared.dropped.fetch_add(n, Ordering::Relaxed);
            return;
        }
        match self.tx.try_send(msg) {
            Ok(()) => {
                self.shared.queued.fetch_add(n, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Queues spans; never blocks (a full queue drops and counts them).
    pub fn spans(&self, batch: Vec<Span>) {
        let n = batch.len();
        self.offer(Msg::Spans(batch), n);
    }

    /// Queues spans, waiting while the queue is full: for producers that
    /// are not live probes (imports, benchmarks), which can afford to wait.
    pub fn spans_wait(&self, batch: Vec<Span>) -> Result<(), StoreError> {
        self.tx
            .send(Msg::Spans(batch))
            .map_err(|_| StoreError::WriterGone)
    }

    pub fn flows(&self, batch: Vec<Flow>) {
        let n = batch.len();
        self.offer(Msg::Flows(batch), n);
    }

    pub fn samples(&self, batch: Vec<Sample>) {
        let n = batch.len();
        self.offer(Msg::Samples(batch), n);
    }

    /// Attaches a custom label (`--tag key=value`) to a resource; the
    /// session itself is resource `session` 0.
    pub fn label(&self, resource: &'static str, resource_id: u32, key: &str, value: &str) {
        self.offer(
            Msg::Label {
                resource,
                resource_id,
                key: key.to_owned(),
                value: value.to_owned(),
            },
            0,
        );
    }

    /// Facts dropped so far because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Facts written to the file so far.
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// Whether writing the file has failed, and what is lost since.
    pub fn failure(&self) -> Option<WriteFailure> {
        self.health().failure()
    }

    /// A handle that still tells [`Self::failure`] once the writer is
    /// finished (or failed to finish).
    pub fn health(&self) -> WriterHealth {
        WriterHealth(Arc::clone(&self.shared))
    }

    /// Waits until everything queued so far is written.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (ack_tx, ack_rx) = sync_channel(1);
        self.tx
            .send(Msg::Flush(ack_tx))
            .map_err(|_| StoreError::WriterGone)?;
        ack_rx.recv().map_err(|_| StoreError::WriterGone)
    }

    /// Writes what is queued, the probes' counters and the end time, and
    /// converts the log into the DuckDB file.
    pub fn finish(
        self,
        counters: Vec<(String, ProbeCounters)>,
    ) -> Result<WriteSummary, StoreError> {
        self.finish_with_progress(counters, &mut |_, _| {})
    }

    /// [`Self::finish`], telling `progress` how far the conversion is
    /// (bytes of the log read, bytes in all).
    pub fn finish_with_progress(
        mut self,
        counters: Vec<(String, ProbeCounters)>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<WriteSummary, StoreError> {
        // A blocking send: the end of a session must not be dropped.
        let sent = self.tx.send(Msg::Finish(counters));
        let thread = self.thread.take().expect("finish runs once");
        let result = thread.join().map_err(|_| StoreError::WriterPanicked)?;
        // A writer that stopped early has its own error to tell: the send
        // failed because of it.
        let (totals, log) = result?;
        sent.map_err(|_| StoreError::WriterGone)?;
        let log = log.ok_or(StoreError::WriterGone)?;
        spool::convert(&self.path, log, progress)?;
        Ok(WriteSummary {
            path: self.path.clone(),
            spans: totals.spans,
            flows: totals.flows,
            samples: totals.samples,
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            unwritten: self.shared.unwritten.load(Ordering::Relaxed),
        })
    }
}

/// See [`SessionWriter::health`].
#[derive(Debug, Clone)]
pub struct WriterHealth(Arc<Shared>);

impl WriterHealth {
    pub fn failure(&self) -> Option<WriteFailure> {
        let shared = &self.0;
        shared.failure.get().map(|reason| WriteFailure {
            reason: reason.clone(),
            unwritten: shared.unwritten.load(Ordering::Relaxed),
        })
    }
}

impl Drop for SessionWriter {
    fn drop(&mut self) {
        // Dropped without finish (an error path): write what is queued and
        // close; the log stays as after a crash, and is converted when it is
        // first opened, with its end NULL.
        if let Some(thread) = self.thread.take() {
            let (tx, _) = sync_channel(1);
            drop(std::mem::replace(&mut self.tx, tx));
            let _ = thread.join();
        }
    }
}

/// DuckDB's memory limit while appending a log.
const APPEND_MEMORY: &str = "16MB";
/// The limit for the end-of-session statistics, which sort every span.
const FINISH_MEMORY: &str = "2GB";

/// A session's DuckDB file being written from its log: the schema and
/// `session` row at [`Database::create`], then the whole log in one
/// transaction, committed and checkpointed at [`Database::close`]. One
/// transaction lets DuckDB write full row groups straight into the file and
/// checkpoint once: 0.26 s rather than 0.44 for 450k spans with excerpts,
/// and no free blocks (a transaction per chunk rewrote the last row group
/// at every checkpoint). The file is written beside the log, so a
/// conversion cut short loses nothing: it starts again from the log.
pub(super) struct Database {
    conn: Connection,
    path: PathBuf,
    facts: u64,
    _private: PrivateUmask,
}

impl Database {
    /// Creates the file with mode 0600, the schema and the `session` row.
    pub(super) fn create(path: &Path, meta: &SessionMeta) -> Result<Database, StoreError> {
        let private = PrivateUmask::hold();
        let db_err = |source| StoreError::Db {
            path: path.to_owned(),
            source,
        };
        // DuckDB's buffer pool would take up to 80% of RAM; appends need
        // little, and dflow must stay small beside the services it watches.
        let config = duckdb::Config::default()
            .threads(1)
            .map_err(db_err)?
            .with("memory_limit", APPEND_MEMORY)
            .map_err(db_err)?
            .with("autoinstall_known_extensions", "false")
            .map_err(db_err)?
            .with("autoload_known_extensions", "false")
            .map_err(db_err)?;
        let conn = Connection::open_with_flags(path, config).map_err(db_err)?;
        set_private(path)?;
        conn.execute_batch(&schema::create_sql()).map_err(db_err)?;
        conn.execute_batch(&schema::enum_rows()).map_err(db_err)?;
        conn.execute(
            "INSERT INTO session VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL)",
            params![
                schema::SCHEMA_VERSION,
                meta.kind.as_str(),
                meta.dflow_version,
                meta.host,
                meta.kernel,
                meta.command_line,
                meta.started_ns,
                meta.doctor,
            ],
        )
        .map_err(db_err)?;
        conn.execute_batch("BEGIN TRANSACTION").map_err(db_err)?;
        Ok(Database {
            conn,
            path: path.to_owned(),
            facts: 0,
            _private: private,
        })
    }

    fn db_err(&self, source: duckdb::Error) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends a chunk's dictionary rows and facts.
    pub(super) fn append(&mut self, chunk: Chunk) -> Result<(), StoreError> {
        self.facts += append_all(&self.conn, chunk).map_err(|e| self.db_err(e))?;
        Ok(())
    }

    pub(super) fn counters(&mut self, rows: &[Counter]) -> Result<(), StoreError> {
        let result = (|| {
            let mut app = self.conn.appender("counters")?;
            for (source, delivered, lost) in rows {
                app.append_row(params![source, delivered, lost])?;
            }
            app.flush()
        })();
        result.map_err(|e| self.db_err(e))
    }

    /// The clean end: `endpoint_stats` and the end time.
    pub(super) fn end(&mut self, ended_ns: i64) -> Result<(), StoreError> {
        // The small memory limit is for appends; the end-of-session
        // statistics sort every span and may use more.
        let result = self
            .conn
            .execute_batch(&format!("SET memory_limit = '{FINISH_MEMORY}'"))
            .and_then(|()| self.conn.execute_batch(&schema::rollup_sql()))
            .and_then(|()| {
                self.conn
                    .execute("UPDATE session SET ended_ns = ?", params![ended_ns])
                    .map(drop)
            });
        result.map_err(|e| self.db_err(e))
    }

    /// Commits, checkpoints and closes the file; the facts it holds.
    pub(super) fn close(self) -> Result<u64, StoreError> {
        self.conn
            .execute_batch("COMMIT; CHECKPOINT")
            .map_err(|e| self.db_err(e))?;
        Ok(self.facts)
    }
}

/// Holds the process umask at 077 while a session's DuckDB file is written,
/// so the file and the write-ahead log DuckDB creates next to it are
/// private from their first byte. The umask is
/// process-wide: a file another thread creates meanwhile is private too,
/// which errs on the safe side. The last guard restores the old mask.
struct PrivateUmask;

static UMASK: std::sync::Mutex<(usize, libc::mode_t)> = std::sync::Mutex::new((0, 0));

impl PrivateUmask {
    fn hold() -> PrivateUmask {
        let mut state = UMASK.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 == 0 {
            // SAFETY: umask cannot fail.
            state.1 = unsafe { libc::umask(0o077) };
        }
        state.0 += 1;
        PrivateUmask
    }
}

impl Drop for PrivateUmask {
    fn drop(&mut self) {
        let mut state = UMASK.lock().unwrap_or_else(|e| e.into_inner());
        state.0 -= 1;
        if state.0 == 0 {
            // SAFETY: umask cannot fail.
            unsafe { libc::umask(state.1) };
        }
    }
}

/// Mode 0600 on the file at `path` itself: opened without following a
/// link and changed through the descriptor, never by path.
fn set_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(0o600)))
        .map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })
}

#[derive(Default)]
struct Totals {
    spans: u64,
    flows: u64,
    samples: u64,
}

fn run(
    mut log: LogWriter,
    path: &Path,
    rx: &Receiver<Msg>,
    shared: &Shared,
) -> Result<Written, StoreError> {
    let io_err = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    let mut enc = Encoder::default();
    let mut totals = Totals::default();
    // A failed write stops the writing, not the capture: the log keeps its
    // whole records, and what comes after is counted as unwritten. (Writing
    // again once room is made would need the failed chunk's dictionary
    // rows, which later facts refer to.)
    let mut flush = |enc: &mut Encoder, totals: &mut Totals| -> Result<(), StoreError> {
        let chunk = enc.take_chunk();
        if chunk.facts() == 0 && chunk.dicts.is_empty() && chunk.labels.is_empty() {
            return Ok(());
        }
        if shared.failure.get().is_some() {
            shared.unwritten.fetch_add(chunk.facts(), Ordering::Relaxed);
            return Ok(());
        }
        if let Err(e) = log.chunk(&chunk) {
            let _ = shared.failure.set(crate::error_chain(&io_err(e)));
            shared.unwritten.fetch_add(chunk.facts(), Ordering::Relaxed);
            return Ok(());
        }
        totals.spans += chunk.spans.start_ns.len() as u64;
        totals.flows += chunk.flows.start_ns.len() as u64;
        totals.samples += chunk.samples.ts_ns.len() as u64;
        shared.written.fetch_add(chunk.facts(), Ordering::Relaxed);
        Ok(())
    };
    let mut deadline = Instant::now() + FLUSH_INTERVAL;
    let mut finish: Option<Vec<(String, ProbeCounters)>> = None;
    loop {
        let timeout = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(timeout) {
            Ok(Msg::Spans(batch)) => {
                shared.taken(batch.len());
                batch.into_iter().for_each(|s| enc.span(s));
            }
            Ok(Msg::Flows(batch)) => {
                shared.taken(batch.len());
                batch.iter().for_each(|f| enc.flow(f));
            }
            Ok(Msg::Samples(batch)) => {
                shared.taken(batch.len());
                batch.iter().for_each(|s| enc.sample(s));
            }
            Ok(Msg::Label {
                resource,
                resource_id,
                key,
                value,
            }) => enc.label(resource, resource_id, &key, &value),
            Ok(Msg::Flush(ack)) => {
                flush(&mut enc, &mut totals)?;
                deadline = Instant::now() + FLUSH_INTERVAL;
                let _ = ack.send(());
            }
            Ok(Msg::Finish(counters)) => {
                finish = Some(counters);
                break;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if enc.buffered() >= MAX_BUFFERED
            || enc.buffered_text() >= MAX_BUFFERED_TEXT
            || Instant::now() >= deadline
        {
            flush(&mut enc, &mut totals)?;
            deadline = Instant::now() + FLUSH_INTERVAL;
        }
    }
    flush(&mut enc, &mut totals)?;
    let Some(counters) = finish else {
        return Ok((totals, None));
    };
    let mut rows: Vec<Counter> = counters
        .into_iter()
        .map(|(source, c)| (source, c.delivered, c.lost))
        .collect();
    let stored = totals.spans + totals.flows + totals.samples;
    let lost = shared.dropped.load(Ordering::Relaxed) + shared.unwritten.load(Ordering::Relaxed);
    rows.push(("store".to_owned(), stored, lost));
    log.finish(&rows, unix_ns_now()).map_err(io_err)?;
    Ok((totals, Some(log.into_file())))
}

/// [`Database::append`]'s appends; the facts written.
fn append_all(conn: &Connection, chunk: Chunk) -> duckdb::Result<u64> {
    let n = chunk.facts();
    let Chunk {
        mut dicts,
        labels,
        spans,
        excerpts,
        flows,
        samples,
    } = chunk;
    write_dicts(conn, &mut dicts)?;
    if !labels.is_empty() {
        let mut app = conn.appender("labels")?;
        for l in labels {
            app.append_row(params![l.resource, l.resource_id, l.key, l.value])?;
        }
        app.flush()?;
    }
    if !excerpts.text_id.is_empty() {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(excerpts.text_id)),
            Arc::new(StringArray::from(excerpts.text)),
        ];
        append_batch(conn, "excerpt_texts", columns)?;
    }
    if !excerpts.span_id.is_empty() {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(excerpts.span_id)),
            Arc::new(UInt32Array::from(excerpts.request_id)),
            Arc::new(UInt32Array::from(excerpts.response_id)),
        ];
        append_batch(conn, "span_excerpts", columns)?;
    }
    if !spans.start_ns.is_empty() {
        append_batch(conn, "spans", span_batch(spans))?;
    }
    if !flows.start_ns.is_empty() {
        append_batch(conn, "flows", flow_batch(flows))?;
    }
    if !samples.ts_ns.is_empty() {
        append_batch(conn, "samples", sample_batch(samples))?;
    }
    Ok(n)
}

fn write_dicts(conn: &Connection, p: &mut PendingDicts) -> duckdb::Result<()> {
    if p.is_empty() {
        return Ok(());
    }
    append_names(conn, "strings", &mut p.strings)?;
    append_names(conn, "services", &mut p.services)?;
    if !p.processes.is_empty() {
        let mut app = conn.appender("processes")?;
        for (id, proc, service) in p.processes.drain(..) {
            app.append_row(params![
                id,
                proc.pid,
                proc.start_ns,
                proc.comm,
                proc.exe,
                proc.cmdline,
                proc.cgroup,
                proc.container_id,
                service
            ])?;
        }
        app.flush()?;
    }
    append_names(conn, "endpoints", &mut p.endpoints)?;
    if !p.addresses.is_empty() {
        let mut app = conn.appender("addresses")?;
        for (id, a) in p.addresses.drain(..) {
            app.append_row(params![id, a.to_string(), a.ip().to_string(), a.port()])?;
        }
        app.flush()?;
    }
    if !p.frames.is_empty() {
        let mut app = conn.appender("frames")?;
        for (id, f) in p.frames.drain(..) {
            app.append_row(params![id, f.function, f.module, f.kernel])?;
        }
        app.flush()?;
    }
    if !p.stacks.is_empty() {
        let mut app = conn.appender("stacks")?;
        for (id, frames) in p.stacks.drain(..) {
            for (depth, frame) in frames.iter().enumerate() {
                let depth = u16::try_from(depth).unwrap_or(u16::MAX);
                app.append_row(params![id, depth, frame])?;
            }
        }
        app.flush()?;
    }
    Ok(())
}

/// Appends (id, name) rows to a dictionary table.
fn append_names(
    conn: &Connection,
    table: &str,
    rows: &mut Vec<(u32, String)>,
) -> duckdb::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut app = conn.appender(table)?;
    for (id, name) in rows.drain(..) {
        app.append_row(params![id, name])?;
    }
    app.flush()
}

fn append_batch(conn: &Connection, table: &str, columns: Vec<ArrayRef>) -> duckdb::Result<()> {
    let batch = RecordBatch::try_from_iter(
        columns
            .into_iter()
            .enumerate()
            .map(|(i, c)| (format!("c{i}"), c)),
    )
    .map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
    let mut app = conn.appender(table)?;
    app.append_record_batch(batch)?;
    app.flush()
}

/// `v` reordered by `order` (indices into `v`).
fn permute<T: Copy>(v: Vec<T>, order: &[usize]) -> Vec<T> {
    order.iter().map(|&i| v[i]).collect()
}

/// Span columns in start order: time-sorted columns delta-compress, and
/// spans reach the writer in end order.
fn span_batch(c: super::encode::SpanColumns) -> Vec<ArrayRef> {
    let mut order: Vec<usize> = (0..c.start_ns.len()).collect();
    order.sort_by_key(|&i| (c.start_ns[i], c.span_id[i]));
    let o = order.as_slice();
    let c = super::encode::SpanColumns {
        start_ns: permute(c.start_ns, o),
        duration_ns: permute(c.duration_ns, o),
        protocol: permute(c.protocol, o),
        role: permute(c.role, o),
        status: permute(c.status, o),
        code: permute(c.code, o),
        code_text_id: permute(c.code_text_id, o),
        endpoint_id: permute(c.endpoint_id, o),
        process_id: permute(c.process_id, o),
        tid: permute(c.tid, o),
        local_id: permute(c.local_id, o),
        remote_id: permute(c.remote_id, o),
        req_bytes: permute(c.req_bytes, o),
        resp_bytes: permute(c.resp_bytes, o),
        trace_offset: permute(c.trace_offset, o),
        span_id: permute(c.span_id, o),
        parent_offset: permute(c.parent_offset, o),
    };
    vec![
        Arc::new(Int64Array::from(c.start_ns)),
        Arc::new(Int64Array::from(c.duration_ns)),
        Arc::new(UInt8Array::from(c.protocol)),
        Arc::new(UInt8Array::from(c.role)),
        Arc::new(UInt8Array::from(c.status)),
        Arc::new(Int32Array::from(c.code)),
        Arc::new(UInt32Array::from(c.code_text_id)),
        Arc::new(UInt32Array::from(c.endpoint_id)),
        Arc::new(UInt32Array::from(c.process_id)),
        Arc::new(UInt32Array::from(c.tid)),
        Arc::new(UInt32Array::from(c.local_id)),
        Arc::new(UInt32Array::from(c.remote_id)),
        Arc::new(UInt32Array::from(c.req_bytes)),
        Arc::new(UInt32Array::from(c.resp_bytes)),
        Arc::new(Int64Array::from(c.trace_offset)),
        Arc::new(UInt64Array::from(c.span_id)),
        Arc::new(Int64Array::from(c.parent_offset)),
    ]
}

fn flow_batch(c: super::encode::FlowColumns) -> Vec<ArrayRef> {
    vec![
        Arc::new(Int64Array::from(c.start_ns)),
        Arc::new(Int64Array::from(c.end_ns)),
        Arc::new(UInt32Array::from(c.process_id)),
        Arc::new(UInt32Array::from(c.local_id)),
        Arc::new(UInt32Array::from(c.remote_id)),
        Arc::new(UInt64Array::from(c.bytes_sent)),
        Arc::new(UInt64Array::from(c.bytes_received)),
        Arc::new(UInt32Array::from(c.rtt_us)),
        Arc::new(UInt32Array::from(c.retransmits)),
        Arc::new(UInt32Array::from(c.resets)),
        Arc::new(Int64Array::from(c.connect_ns)),
        Arc::new(BooleanArray::from(c.closed)),
    ]
}

fn sample_batch(c: super::encode::SampleColumns) -> Vec<ArrayRef> {
    vec![
        Arc::new(Int64Array::from(c.ts_ns)),
        Arc::new(UInt32Array::from(c.process_id)),
        Arc::new(UInt32Array::from(c.tid)),
        Arc::new(BooleanArray::from(c.off_cpu)),
        Arc::new(UInt32Array::from(c.stack_id)),
        Arc::new(UInt64Array::from(c.count)),
        Arc::new(UInt64Array::from(c.blocked_ns)),
    ]
}
