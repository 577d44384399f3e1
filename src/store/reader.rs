//! Reading sessions: read-only SQL over one or many files, session
//! metadata, and replay into the same domain events a live capture makes.
//!
//! Files are ATTACHed READ_ONLY to an in-memory database and external
//! access is switched off and locked, so no statement a user types can
//! change a session file or reach another one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use duckdb::Connection;
use duckdb::types::Value;

use super::encode::id_from_offset;
use super::schema::SCHEMA_VERSION;
use super::spool;
use super::{SessionKind, SessionMeta, StoreError};
use crate::event::{Code, Flow, Frame, Process, ProcessRef, Protocol, Role, Sample, Span, Status};

/// The views that several files union, with a leading `session` column.
const UNION_VIEWS: [&str; 8] = [
    "spans_v",
    "excerpts_v",
    "flows_v",
    "samples_v",
    "stacks_v",
    "labels_v",
    "session",
    "counters",
];

/// A query's result: column names and rows of DuckDB values.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// The tables every dflow session has had since schema version 1, which
/// the readers below rely on.
const SESSION_TABLES: [&str; 5] = ["session", "counters", "spans", "flows", "samples"];

/// The `session` columns the readers below rely on (all there since
/// schema version 1).
const SESSION_COLUMNS: [&str; 9] = [
    "schema_version",
    "kind",
    "dflow_version",
    "host",
    "kernel",
    "command_line",
    "started_ns",
    "ended_ns",
    "doctor",
];

/// One or more session files opened read-only.
pub struct SessionSet {
    conn: Connection,
    files: Vec<(PathBuf, String)>,
    /// DuckDB's memory limit in bytes when one was set (`dflow query`).
    memory_limit: Option<u64>,
}

impl std::fmt::Debug for SessionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSet")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Why a file could not be attached: locked by a running capture, or not
/// something DuckDB can read.
fn attach_error(path: &Path, e: &duckdb::Error) -> StoreError {
    let text = e.to_string();
    if !text.contains("Conflicting lock") {
        return StoreError::NotDuckDb {
            path: path.to_owned(),
            detail: format!("DuckDB cannot open it: {text}"),
        };
    }
    // DuckDB says "Conflicting lock is held in PROGRAM (PID N)".
    let detail = text
        .rsplit_once("(PID ")
        .and_then(|(_, rest)| rest.split(')').next())
        .map_or_else(
            || "the file is locked".to_owned(),
            |pid| format!("pid {pid}"),
        );
    StoreError::Locked {
        path: path.to_owned(),
        detail,
    }
}

/// Why the attached file `alias` is not a dflow session, if it is not:
/// a table or a `session` column the readers need is missing (a DuckDB
/// file of another program, which may have a `session` table of its own).
fn not_a_session(conn: &Connection, alias: &str) -> duckdb::Result<Option<String>> {
    let names = |sql: &str| -> duckdb::Result<Vec<String>> {
        let mut stmt = conn.prepare(sql)?;
        stmt.query_map([alias], |r| r.get(0))?.collect()
    };
    let tables = names("SELECT table_name FROM duckdb_tables() WHERE database_name = ?")?;
    if !tables.iter().any(|t| t == "session") {
        return Ok(Some("no session table".to_owned()));
    }
    let columns = names(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = 'session'",
    )?;
    let missing = |wanted: &[&str], have: &[String]| -> Vec<String> {
        wanted
            .iter()
            .filter(|w| !have.iter().any(|h| h == *w))
            .map(|w| (*w).to_owned())
            .collect()
    };
    let columns = missing(&SESSION_COLUMNS, &columns);
    if !columns.is_empty() {
        return Ok(Some(format!(
            "its session table has no {} column",
            columns.join(", ")
        )));
    }
    let tables = missing(&SESSION_TABLES, &tables);
    if !tables.is_empty() {
        return Ok(Some(format!("it has no {} table", tables.join(", "))));
    }
    Ok(None)
}

impl SessionSet {
    /// Opens `paths` read-only; checks each is a dflow session this dflow
    /// can read. With several files the views become unions with a
    /// `session` column naming the file. DuckDB's memory is its own
    /// default, 80% of RAM.
    pub fn open(paths: &[PathBuf]) -> Result<SessionSet, StoreError> {
        Self::open_with(paths, None)
    }

    /// [`SessionSet::open`] for SQL a user types (`dflow query`): DuckDB
    /// may use at most `memory_limit` bytes, and a query that needs more
    /// fails with [`StoreError::OutOfMemory`]. This limit is for reading;
    /// the writer's conversion has its own (`writer.rs`).
    pub fn open_for_query(paths: &[PathBuf], memory_limit: u64) -> Result<SessionSet, StoreError> {
        Self::open_with(paths, Some(memory_limit))
    }

    fn open_with(paths: &[PathBuf], memory_limit: Option<u64>) -> Result<SessionSet, StoreError> {
        let mut config = duckdb::Config::default()
            .with("autoinstall_known_extensions", "false")
            .and_then(|c| c.with("autoload_known_extensions", "false"))
            .map_err(StoreError::Query)?;
        if let Some(bytes) = memory_limit {
            config = config
                .with("memory_limit", format!("{bytes}B"))
                .map_err(StoreError::Query)?;
        }
        let conn = Connection::open_in_memory_with_flags(config).map_err(StoreError::Query)?;
        let mut files = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            if !path.is_file() {
                return Err(StoreError::Missing(path.clone()));
            }
            let mut head = spool::read_head(path)?;
            if head.starts_with(super::logfmt::MAGIC) {
                spool::recover(path)?;
                head = spool::read_head(path)?;
            }
            // A DuckDB file has "DUCK" at byte 8.
            if head.get(8..12) != Some(b"DUCK".as_slice()) {
                return Err(StoreError::NotDuckDb {
                    path: path.clone(),
                    detail: "no DuckDB header".to_owned(),
                });
            }
            let alias = format!("s{i}");
            let sql = format!(
                "ATTACH {} AS {alias} (READ_ONLY)",
                quote_literal(&path.to_string_lossy())
            );
            conn.execute_batch(&sql)
                .map_err(|e| attach_error(path, &e))?;
            let not_session = |detail| StoreError::NotSession {
                path: path.clone(),
                detail,
            };
            if let Some(detail) =
                not_a_session(&conn, &alias).map_err(|e| attach_error(path, &e))?
            {
                return Err(not_session(detail));
            }
            let version: i32 = conn
                .query_row(
                    &format!("SELECT max(schema_version) FROM {alias}.session"),
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| not_session(crate::store::one_line(&e)))?;
            if version > SCHEMA_VERSION {
                return Err(StoreError::NewerSchema {
                    path: path.clone(),
                    found: version,
                    supported: SCHEMA_VERSION,
                });
            }
            files.push((path.clone(), alias));
        }
        let db_err = |source| StoreError::Db {
            path: paths[0].clone(),
            source,
        };
        if files.len() > 1 {
            for view in UNION_VIEWS {
                // A view that older files lack (excerpts_v came with
                // `dflow trace`) is left to the first file's.
                let everywhere: bool = conn
                    .query_row(
                        "SELECT count(DISTINCT database_name) = ? FROM duckdb_views() WHERE view_name = ?
                         UNION ALL SELECT count(DISTINCT database_name) = ? FROM duckdb_tables() WHERE table_name = ?
                         ORDER BY 1 DESC LIMIT 1",
                        duckdb::params![files.len() as i64, view, files.len() as i64, view],
                        |r| r.get(0),
                    )
                    .map_err(db_err)?;
                if !everywhere {
                    continue;
                }
                let parts: Vec<String> = files
                    .iter()
                    .map(|(path, alias)| {
                        let name = path.file_name().unwrap_or_default().to_string_lossy();
                        format!(
                            "SELECT {} AS session, * FROM {alias}.{view}",
                            quote_literal(&name)
                        )
                    })
                    .collect();
                let sql = format!("CREATE TEMP VIEW {view} AS {}", parts.join(" UNION ALL "));
                conn.execute_batch(&sql).map_err(db_err)?;
            }
        }
        // Unqualified names resolve in the first file, which is read-only,
        // so a CREATE TABLE or DELETE fails there instead of succeeding in
        // the scratch in-memory database.
        conn.execute_batch(
            "USE s0; SET enable_external_access = false; SET lock_configuration = true;",
        )
        .map_err(db_err)?;
        Ok(SessionSet {
            conn,
            files,
            memory_limit,
        })
    }

    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(p, _)| p.as_path())
    }

    /// Runs one SQL statement (of several, DuckDB would run them all and
    /// return the last: see [`statement_count`]). Statements that would
    /// change a file fail with [`StoreError::ReadOnly`]; one that needs
    /// more memory than the limit, with [`StoreError::OutOfMemory`]. A result with a column type the
    /// DuckDB bindings cannot decode (VARIANT, say) is retried with every
    /// column cast to text.
    pub fn query(&self, sql: &str) -> Result<Table, StoreError> {
        match self.query_values(sql) {
            Err(StoreError::Query(e)) if e.to_string().contains("Conversion error") => {
                let body = sql.trim().trim_end_matches(';');
                self.query_values(&format!("SELECT CAST(COLUMNS(*) AS VARCHAR) FROM ({body})"))
                    .map_err(|_| StoreError::Query(e))
            }
            other => other,
        }
    }

    fn query_values(&self, sql: &str) -> Result<Table, StoreError> {
        let classify = |e: duckdb::Error| {
            let text = e.to_string();
            if text.contains("read-only") || text.contains("read only") {
                StoreError::ReadOnly(e)
            } else if let Some(limit) = self.memory_limit
                && text.contains("Out of Memory Error")
            {
                StoreError::OutOfMemory { limit }
            } else {
                StoreError::Query(e)
            }
        };
        let mut stmt = self.conn.prepare(sql).map_err(classify)?;
        let mut rows = stmt.query([]).map_err(classify)?;
        let mut out = Vec::new();
        let mut width = None;
        while let Some(row) = rows.next().map_err(classify)? {
            let n = *width.get_or_insert_with(|| row.as_ref().column_count());
            let values = (0..n)
                .map(|i| row.get::<_, Value>(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(classify)?;
            out.push(values);
        }
        drop(rows);
        let columns = stmt.column_names();
        Ok(Table { columns, rows: out })
    }

    /// Session metadata and counts of every file.
    pub fn infos(&self) -> Result<Vec<SessionInfo>, StoreError> {
        self.files
            .iter()
            .map(|(path, alias)| SessionInfo::read(&self.conn, path, alias))
            .collect()
    }

    /// Replays the first file's facts as domain events, in time order.
    pub fn replay(&self) -> Result<Replay, StoreError> {
        self.facts(i64::MIN, i64::MAX)
    }

    /// The first file's facts that began in `[from_ns, to_ns)` (Unix epoch
    /// ns: a span's or flow's start, a sample's time), in time order: a
    /// window of a session read without the rest of it.
    pub fn facts(&self, from_ns: i64, to_ns: i64) -> Result<Replay, StoreError> {
        let (path, alias) = &self.files[0];
        Replay::read(&self.conn, path, alias, (from_ns, to_ns))
    }
}

/// How many statements `sql` holds: the `;`-separated pieces with more
/// than blanks and comments in them, a `;` inside a string, a quoted name,
/// a dollar-quoted string or a comment not counting.
///
/// By hand because DuckDB's own splitter (`duckdb_extract_statements`) is
/// not reachable through the `duckdb` crate, whose `prepare` runs every
/// statement but the last and returns that one. It follows DuckDB's
/// (PostgreSQL's) lexer: `'...'` and `"..."` with doubled quotes inside,
/// `E'...'` with backslash escapes, `$tag$...$tag$`, `-- ...` to the end of
/// the line and nested `/* ... */`. Unterminated quotes or comments end the
/// count, leaving DuckDB to report them.
pub fn statement_count(sql: &str) -> usize {
    let b = sql.as_bytes();
    let mut count = 0;
    // Whether the current statement has anything but blanks and comments.
    let mut open = false;
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let start = i;
        i = match rest[0] {
            b';' => {
                count += usize::from(open);
                open = false;
                i + 1
            }
            c if c.is_ascii_whitespace() => i + 1,
            b'-' if rest.starts_with(b"--") => rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n + 1),
            b'/' if rest.starts_with(b"/*") => {
                let mut depth = 0usize;
                let mut j = i;
                loop {
                    if j + 1 >= b.len() {
                        break b.len();
                    }
                    match &b[j..j + 2] {
                        b"/*" => {
                            depth += 1;
                            j += 2;
                        }
                        b"*/" => {
                            depth -= 1;
                            j += 2;
                            if depth == 0 {
                                break j;
                            }
                        }
                        _ => j += 1,
                    }
                }
            }
            quote @ (b'\'' | b'"') => {
                // E'...' (or e'...'): a backslash escapes the next byte.
                let escapes = quote == b'\''
                    && i > 0
                    && matches!(b[i - 1], b'E' | b'e')
                    && (i < 2 || !is_name_byte(b[i - 2]));
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        None => break b.len(),
                        Some(b'\\') if escapes => j += 2,
                        Some(&c) if c == quote && b.get(j + 1) == Some(&quote) => j += 2,
                        Some(&c) if c == quote => break j + 1,
                        Some(_) => j += 1,
                    }
                }
            }
            // A `$` inside a name (`a$b`) starts no dollar quote.
            b'$' if i == 0 || !is_name_byte(b[i - 1]) => match dollar_tag(rest) {
                Some(tag) => {
                    let body = &b[i + tag.len()..];
                    body.windows(tag.len())
                        .position(|w| w == tag)
                        .map_or(b.len(), |n| i + tag.len() + n + tag.len())
                }
                None => i + 1,
            },
            _ => i + 1,
        };
        if !b[start].is_ascii_whitespace() && b[start] != b';' && !is_comment(&b[start..]) {
            open = true;
        }
    }
    count + usize::from(open)
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn is_comment(s: &[u8]) -> bool {
    s.starts_with(b"--") || s.starts_with(b"/*")
}

/// `$$` or `$tag$` at the start of `s` (a tag is a letter or `_`, then
/// letters, digits or `_`); `$1`, a parameter, is none.
fn dollar_tag(s: &[u8]) -> Option<&[u8]> {
    let end = s[1..].iter().position(|&c| c == b'$')? + 2;
    let tag = &s[1..end - 1];
    let valid = tag
        .first()
        .is_none_or(|c| c.is_ascii_alphabetic() || *c == b'_')
        && tag.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    valid.then(|| &s[..end])
}

/// What `dflow sessions` shows of a file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SessionInfo {
    pub path: PathBuf,
    pub kind: String,
    pub schema_version: i32,
    pub dflow_version: String,
    pub host: String,
    pub kernel: String,
    pub command_line: String,
    pub started_ns: i64,
    /// None when the capture did not end cleanly.
    pub ended_ns: Option<i64>,
    /// Bytes of the file and its write-ahead log.
    pub size_bytes: u64,
    pub spans: u64,
    pub flows: u64,
    /// On-CPU stack samples (the rows of `samples` aggregate them: their
    /// `count`s are summed, as the capture's own summary counts them).
    pub samples: u64,
    /// Off-CPU blocking episodes, and the time blocked in them.
    pub off_cpu_episodes: u64,
    pub blocked_ns: u64,
    /// Events lost by probes plus facts dropped by the writer.
    pub lost: u64,
    pub counters: Vec<Counter>,
    /// The pid of the capture still writing the file (its log): its counts
    /// are not known until it ends.
    pub running_pid: Option<u32>,
    #[serde(skip)]
    pub doctor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Counter {
    pub source: String,
    pub delivered: u64,
    pub lost: u64,
}

impl SessionInfo {
    fn read(conn: &Connection, path: &Path, alias: &str) -> Result<SessionInfo, StoreError> {
        let db_err = |source| StoreError::Db {
            path: path.to_owned(),
            source,
        };
        let sql = format!(
            "SELECT kind, schema_version, dflow_version, host, kernel, command_line, started_ns, ended_ns, doctor,
                    (SELECT count(*) FROM {alias}.spans), (SELECT count(*) FROM {alias}.flows),
                    (SELECT coalesce(sum(count) FILTER (NOT off_cpu), 0)::UBIGINT FROM {alias}.samples),
                    (SELECT coalesce(sum(count) FILTER (off_cpu), 0)::UBIGINT FROM {alias}.samples),
                    (SELECT coalesce(sum(blocked_ns) FILTER (off_cpu), 0)::UBIGINT FROM {alias}.samples)
             FROM {alias}.session LIMIT 1"
        );
        let mut info = conn
            .query_row(&sql, [], |r| {
                Ok(SessionInfo {
                    path: path.to_owned(),
                    kind: r.get(0)?,
                    schema_version: r.get(1)?,
                    dflow_version: r.get(2)?,
                    host: r.get(3)?,
                    kernel: r.get(4)?,
                    command_line: r.get(5)?,
                    started_ns: r.get(6)?,
                    ended_ns: r.get(7)?,
                    doctor: r.get(8)?,
                    spans: r.get(9)?,
                    flows: r.get(10)?,
                    samples: r.get(11)?,
                    off_cpu_episodes: r.get(12)?,
                    blocked_ns: r.get(13)?,
                    size_bytes: 0,
                    lost: 0,
                    counters: Vec::new(),
                    running_pid: None,
                })
            })
            .map_err(db_err)?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT source, delivered, lost FROM {alias}.counters ORDER BY source"
            ))
            .map_err(db_err)?;
        info.counters = stmt
            .query_map([], |r| {
                Ok(Counter {
                    source: r.get(0)?,
                    delivered: r.get(1)?,
                    lost: r.get(2)?,
                })
            })
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        info.lost = info.counters.iter().map(|c| c.lost).sum();
        let wal = PathBuf::from(format!("{}.wal", path.display()));
        info.size_bytes = [path, wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        Ok(info)
    }

    /// A file a running capture is writing, from its log's metadata:
    /// `pid`'s capture, `size_bytes` so far.
    pub fn running(path: &Path, meta: SessionMeta, pid: u32, size_bytes: u64) -> SessionInfo {
        SessionInfo {
            path: path.to_owned(),
            kind: meta.kind.as_str().to_owned(),
            schema_version: SCHEMA_VERSION,
            dflow_version: meta.dflow_version,
            host: meta.host,
            kernel: meta.kernel,
            command_line: meta.command_line,
            started_ns: meta.started_ns,
            ended_ns: None,
            size_bytes,
            spans: 0,
            flows: 0,
            samples: 0,
            off_cpu_episodes: 0,
            blocked_ns: 0,
            lost: 0,
            counters: Vec::new(),
            running_pid: Some(pid),
            doctor: meta.doctor,
        }
    }

    pub fn kind(&self) -> Option<SessionKind> {
        SessionKind::from_name(&self.kind)
    }
}

/// A session's facts decoded back into domain events, each kind in time
/// order: what a live capture would have handed its pipelines.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replay {
    pub spans: Vec<Span>,
    pub flows: Vec<Flow>,
    pub samples: Vec<Sample>,
}

/// A stored value that does not decode (a file written by a buggy or
/// hostile writer); reported instead of guessed.
fn bad(what: &str) -> duckdb::Error {
    duckdb::Error::InvalidParameterName(format!("session holds an invalid {what}"))
}

impl Replay {
    fn read(
        conn: &Connection,
        path: &Path,
        alias: &str,
        window: (i64, i64),
    ) -> Result<Replay, StoreError> {
        let db_err = |source| StoreError::Db {
            path: path.to_owned(),
            source,
        };
        let dicts = Dicts::read(conn, alias).map_err(db_err)?;
        let addr = |id: u32| {
            dicts
                .addresses
                .get(&id)
                .copied()
                .ok_or_else(|| bad("address id"))
        };
        let process = |id: u32| {
            dicts
                .processes
                .get(&id)
                .cloned()
                .ok_or_else(|| bad("process id"))
        };

        // Excerpts came with `dflow trace`, first one row of text per span
        // (`excerpts`), then each distinct text once (`span_excerpts`).
        let has_table = |table: &str| -> Result<bool, StoreError> {
            conn.query_row(
                "SELECT count(*) > 0 FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
                [alias, table],
                |r| r.get(0),
            )
            .map_err(db_err)
        };
        let (excerpt_columns, excerpt_join) = if has_table("span_excerpts")? {
            (
                "rq.text, rs.text",
                format!(
                    "LEFT JOIN {alias}.span_excerpts e USING (span_id)
                     LEFT JOIN {alias}.excerpt_texts rq ON rq.id = e.request_id
                     LEFT JOIN {alias}.excerpt_texts rs ON rs.id = e.response_id"
                ),
            )
        } else if has_table("excerpts")? {
            (
                "e.request, e.response",
                format!("LEFT JOIN {alias}.excerpts e USING (span_id)"),
            )
        } else {
            ("NULL, NULL", String::new())
        };
        let mut stmt = conn
            .prepare(&format!(
                "SELECT start_ns, duration_ns, protocol, role, status, code, code_text_id, endpoint_id,
                        process_id, tid, local_id, remote_id, req_bytes, resp_bytes, trace_offset, span_id,
                        parent_offset, {excerpt_columns}
                 FROM {alias}.spans {excerpt_join}
                 WHERE start_ns >= ? AND start_ns < ?
                 ORDER BY start_ns, span_id"
            ))
            .map_err(db_err)?;
        let spans = stmt
            .query_and_then([window.0, window.1], |r| -> duckdb::Result<Span> {
                let code = match (r.get::<_, Option<i32>>(5)?, r.get::<_, Option<u32>>(6)?) {
                    (Some(n), _) => Some(Code::Num(n)),
                    (None, Some(id)) => Some(Code::Text(
                        dicts.strings.get(&id).cloned().ok_or_else(|| bad("code"))?,
                    )),
                    (None, None) => None,
                };
                let endpoint_id: u32 = r.get(7)?;
                let span_id: u64 = r.get(15)?;
                Ok(Span {
                    start_ns: r.get(0)?,
                    duration_ns: r.get(1)?,
                    protocol: Protocol::from_code(r.get(2)?).ok_or_else(|| bad("protocol"))?,
                    role: Role::from_code(r.get(3)?).ok_or_else(|| bad("role"))?,
                    status: Status::from_code(r.get(4)?).ok_or_else(|| bad("status"))?,
                    code,
                    endpoint: dicts
                        .endpoints
                        .get(&endpoint_id)
                        .cloned()
                        .ok_or_else(|| bad("endpoint id"))?,
                    process: process(r.get(8)?)?,
                    tid: r.get(9)?,
                    local: addr(r.get(10)?)?,
                    remote: addr(r.get(11)?)?,
                    req_bytes: r.get(12)?,
                    resp_bytes: r.get(13)?,
                    trace_id: id_from_offset(span_id, r.get(14)?),
                    span_id,
                    parent_span_id: r
                        .get::<_, Option<i64>>(16)?
                        .map(|offset| id_from_offset(span_id, offset)),
                    request: r.get::<_, Option<String>>(17)?.unwrap_or_default(),
                    response: r.get::<_, Option<String>>(18)?.unwrap_or_default(),
                })
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;

        let mut stmt = conn
            .prepare(&format!(
                "SELECT start_ns, end_ns, process_id, local_id, remote_id, bytes_sent, bytes_received,
                        rtt_us, retransmits, resets, connect_ns, closed
                 FROM {alias}.flows
                 WHERE start_ns >= ? AND start_ns < ?
                 ORDER BY start_ns, process_id, local_id, remote_id"
            ))
            .map_err(db_err)?;
        let flows = stmt
            .query_and_then([window.0, window.1], |r| -> duckdb::Result<Flow> {
                Ok(Flow {
                    start_ns: r.get(0)?,
                    end_ns: r.get(1)?,
                    process: process(r.get(2)?)?,
                    local: addr(r.get(3)?)?,
                    remote: addr(r.get(4)?)?,
                    bytes_sent: r.get(5)?,
                    bytes_received: r.get(6)?,
                    rtt_us: r.get(7)?,
                    retransmits: r.get(8)?,
                    resets: r.get(9)?,
                    connect_ns: r.get(10)?,
                    closed: r.get(11)?,
                })
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;

        let mut stmt = conn
            .prepare(&format!(
                "SELECT ts_ns, process_id, tid, off_cpu, stack_id, count, blocked_ns
                 FROM {alias}.samples
                 WHERE ts_ns >= ? AND ts_ns < ?
                 ORDER BY ts_ns, process_id, tid, stack_id"
            ))
            .map_err(db_err)?;
        let samples = stmt
            .query_and_then([window.0, window.1], |r| -> duckdb::Result<Sample> {
                let stack_id: u32 = r.get(4)?;
                Ok(Sample {
                    ts_ns: r.get(0)?,
                    process: process(r.get(1)?)?,
                    tid: r.get(2)?,
                    off_cpu: r.get(3)?,
                    stack: dicts
                        .stacks
                        .get(&stack_id)
                        .cloned()
                        .ok_or_else(|| bad("stack id"))?,
                    count: r.get(5)?,
                    blocked_ns: r.get(6)?,
                })
            })
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        Ok(Replay {
            spans,
            flows,
            samples,
        })
    }
}

/// A session's dictionaries, decoded.
struct Dicts {
    strings: HashMap<u32, String>,
    endpoints: HashMap<u32, String>,
    addresses: HashMap<u32, SocketAddr>,
    processes: HashMap<u32, ProcessRef>,
    stacks: HashMap<u32, Arc<[Frame]>>,
}

impl Dicts {
    fn read(conn: &Connection, alias: &str) -> duckdb::Result<Dicts> {
        let pairs = |table: &str, column: &str| -> duckdb::Result<HashMap<u32, String>> {
            let mut stmt = conn.prepare(&format!("SELECT id, {column} FROM {alias}.{table}"))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        };
        let strings = pairs("strings", "value")?;
        let endpoints = pairs("endpoints", "name")?;

        let mut stmt = conn.prepare(&format!("SELECT id, addr FROM {alias}.addresses"))?;
        let addresses = stmt
            .query_and_then([], |r| -> duckdb::Result<(u32, SocketAddr)> {
                let text: String = r.get(1)?;
                Ok((r.get(0)?, text.parse().map_err(|_| bad("address"))?))
            })?
            .collect::<duckdb::Result<_>>()?;

        let mut stmt = conn.prepare(&format!(
            "SELECT p.id, p.pid, p.start_ns, p.comm, p.exe, p.cmdline, p.cgroup, p.container_id, s.name
             FROM {alias}.processes p JOIN {alias}.services s ON s.id = p.service_id"
        ))?;
        let processes = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    Arc::new(Process {
                        pid: r.get(1)?,
                        start_ns: r.get(2)?,
                        comm: r.get(3)?,
                        exe: r.get(4)?,
                        cmdline: r.get(5)?,
                        cgroup: r.get(6)?,
                        container_id: r.get(7)?,
                        service: r.get(8)?,
                    }),
                ))
            })?
            .collect::<duckdb::Result<_>>()?;

        let mut stmt = conn.prepare(&format!(
            "SELECT k.id, f.function, f.module, f.kernel
             FROM {alias}.stacks k JOIN {alias}.frames f ON f.id = k.frame_id
             ORDER BY k.id, k.depth"
        ))?;
        let mut stacks: HashMap<u32, Vec<Frame>> = HashMap::new();
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                Frame {
                    function: r.get(1)?,
                    module: r.get(2)?,
                    kernel: r.get(3)?,
                },
            ))
        })?;
        for row in rows {
            let (id, frame) = row?;
            stacks.entry(id).or_default().push(frame);
        }
        Ok(Dicts {
            strings,
            endpoints,
            addresses,
            processes,
            stacks: stacks
                .into_iter()
                .map(|(id, f)| (id, Arc::from(f)))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_counted_as_duckdb_splits_them() {
        for (sql, want) in [
            ("SELECT 1", 1),
            ("SELECT 1;", 1),
            ("  SELECT 1 ;  \n", 1),
            ("SELECT 1; SELECT 2", 2),
            ("SELECT 1;;SELECT 2;", 2),
            ("SELECT 1; SELECT 2; SELECT 3", 3),
            ("", 0),
            (";;", 0),
            ("SELECT ';'", 1),
            ("SELECT 'it''s; fine'", 1),
            ("SELECT 1 AS \"a;b\"", 1),
            ("SELECT 1 AS \"a\"\";b\"", 1),
            ("SELECT E'\\';' AS x", 1),
            ("SELECT 'a\\'; SELECT 2", 2),
            ("SELECT 1; -- and; more\n", 1),
            ("-- a; b\nSELECT 1", 1),
            ("/* a; /* b; */ c; */ SELECT 1", 1),
            ("SELECT 1 /* ; */; /* x */", 1),
            ("SELECT $$a;b$$", 1),
            ("SELECT $t$ ; $$ ; $t$; SELECT 2", 2),
            ("SELECT a$b$c FROM t; SELECT 2", 2),
            ("SELECT $1; SELECT $2", 2),
            ("SELECT 10-1; SELECT 4/2", 2),
            ("SELECT 'unterminated; SELECT 2", 1),
            ("SELECT 'ünïcode;' ; SELECT '…'", 2),
        ] {
            assert_eq!(statement_count(sql), want, "{sql}");
        }
    }
}
