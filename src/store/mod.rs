//! Session files: every capture as one self-contained DuckDB file.
//!
//! # Layout (schema version 1)
//!
//! SmartEncoding, after DeepFlow: fact tables hold integers, never tag
//! strings. Each tag is an id into a dictionary table, so a tag costs its
//! string once per session and a few bits per fact.
//!
//! | table | holds |
//! |---|---|
//! | `session` | one row: schema version, kind, dflow version, host, kernel, command line, start/end (Unix ns; end NULL after a crash), the doctor report (JSON) |
//! | `counters` | per probe: events delivered and lost; source `store`: facts written and facts the writer dropped |
//! | `processes` | id → pid, start time, comm, exe, cmdline, cgroup, container id, service id |
//! | `services`, `endpoints`, `strings` | id → name |
//! | `addresses` | id → `ip:port`, ip, port |
//! | `frames` | id → function, module, kernel? |
//! | `stacks` | (stack id, depth from the root, frame id) |
//! | `labels` | (resource, resource id, key id, value id): custom labels, keys and values in `strings` |
//! | `protocols`, `roles`, `statuses` | the enum numbers of `crate::event` → names |
//! | `spans` | L7 calls: times, enum codes, code, ids of endpoint/process/addresses, sizes, session-local trace/span ids |
//! | `flows` | per-connection L4 intervals |
//! | `samples` | (interval, process, thread, on/off CPU, stack id, count, blocked ns) |
//! | `endpoint_stats` | per endpoint: calls, errors, exact p50/p90/p99/max ns; written at a clean end for spans up to `session.rolled_up_ns` |
//!
//! The views `spans_v`, `flows_v`, `samples_v`, `endpoints_v`, `stacks_v`
//! and `labels_v` decode everything into human names (by list lookups in the
//! `dicts` view, not joins, so unused columns cost nothing); someone with the `duckdb` CLI or
//! Python needs nothing else. `dflow query FILE` lists them with a line per
//! column ([`schema::VIEWS`]).
//!
//! # Versions
//!
//! [`schema::SCHEMA_VERSION`] is stored in `session`. Readers accept every
//! version up to their own and refuse newer files with a message to upgrade.
//!
//! # Durability
//!
//! While its capture runs, a session file is a capture log
//! ([`spool`]): the writer appends to it at least once a second, so after
//! a `kill -9` it holds everything up to the last second. A clean end
//! converts the log into the DuckDB file at the same path (written beside
//! it and renamed over it), with `endpoint_stats`; a log left by a capture
//! that did not end is converted by the first reader that opens it, with
//! its end NULL. Appending to DuckDB during the capture cost a third of
//! dflow's CPU and half its memory.

pub mod catalog;
pub mod path;
pub mod reader;
pub mod schema;
pub mod spool;
pub mod writer;

use std::path::PathBuf;

pub use dflow_logfmt::{encode, logfmt, meta};
pub use meta::{SessionKind, SessionMeta};
pub use reader::{Replay, SessionInfo, SessionSet};
pub use writer::{Closed, SessionWriter, WriteSummary};

/// Errors of the session store. Each names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("{} already exists; choose another --session path", .0.display())]
    Exists(PathBuf),
    #[error("{} is not a readable DuckDB file: {detail}", .path.display())]
    NotDuckDb { path: PathBuf, detail: String },
    #[error("{} is being written by a running capture ({detail})", .path.display())]
    Locked { path: PathBuf, detail: String },
    #[error("{} is a DuckDB file but not a dflow session ({detail})", .path.display())]
    NotSession { path: PathBuf, detail: String },
    #[error(
        "{} was written by a newer dflow (schema version {found}; this dflow reads up to {supported})",
        .path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: i32,
        supported: i32,
    },
    #[error("{}", .path.display())]
    Db {
        path: PathBuf,
        #[source]
        source: duckdb::Error,
    },
    #[error("{}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    // DuckDB's own text, made one line, is part of the message rather than
    // a source: its messages span lines (a "LINE 1: ..." excerpt and a
    // caret under it), and dflow prints an error as one line and a hint.
    #[error(
        "query is read-only; it cannot run a statement that changes a session: {}",
        one_line(.0)
    )]
    ReadOnly(duckdb::Error),
    #[error("query failed: {}", one_line(.0))]
    Query(duckdb::Error),
    /// The query needed more than `dflow query --memory-limit` (bytes).
    #[error(
        "query ran out of memory: it needs more than the {} that --memory-limit allows",
        decimal_bytes(*.limit)
    )]
    OutOfMemory { limit: u64 },
    #[error(
        "cannot find a directory for sessions: set XDG_DATA_HOME or HOME, or pass --session PATH"
    )]
    NoHome,
    #[error("cannot start the session writer thread")]
    Thread(#[source] std::io::Error),
    #[error("the session writer stopped after an error")]
    WriterGone,
    #[error("the session writer panicked")]
    WriterPanicked,
}

/// A DuckDB error as one line: its lines joined, without the excerpt of
/// the statement (`LINE 1: ...`) and the caret under it that follow.
pub(crate) fn one_line(e: &duckdb::Error) -> String {
    e.to_string()
        .lines()
        .take_while(|l| !l.starts_with("LINE "))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Bytes in the units `--memory-limit` takes: `2 GB`, `512 MB`, `6.3 GB`.
pub fn decimal_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "TB"),
        (1_000_000_000, "GB"),
        (1_000_000, "MB"),
        (1_000, "KB"),
    ];
    UNITS.iter().find(|(size, _)| n >= *size).map_or_else(
        || format!("{n} bytes"),
        |(size, unit)| {
            let tenths = (n as f64 / *size as f64 * 10.0).round() / 10.0;
            format!("{tenths} {unit}")
        },
    )
}

impl crate::exit::Advice for StoreError {
    fn hint(&self) -> Option<String> {
        let hint = match self {
            StoreError::Missing(_) => Some("list sessions with `dflow sessions`"),
            StoreError::Locked { .. } => Some(
                "query it when the capture ends, or query a copy now (it holds everything but the last second): cp FILE /tmp/copy.duckdb",
            ),
            StoreError::NewerSchema { .. } => Some("upgrade dflow to read this file"),
            StoreError::ReadOnly(_) => Some(
                "copy the file and open the copy with the duckdb CLI to change it: cp FILE copy.duckdb && duckdb copy.duckdb",
            ),
            StoreError::Query(_) => {
                Some("run `dflow query FILE` without SQL to list views and columns")
            }
            StoreError::NotSession { .. } => Some(
                "dflow reads the session files its captures write; open other DuckDB files with the duckdb CLI",
            ),
            StoreError::OutOfMemory { .. } => Some(
                "raise it, e.g. --memory-limit 8GB (the default is a quarter of this host's memory), or ask for less: filter with WHERE, aggregate, LIMIT",
            ),
            _ => None,
        };
        hint.map(str::to_owned)
    }
}
