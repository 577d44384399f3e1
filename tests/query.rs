//! `dflow query` end to end: what the aligned table prints, one statement
//! per call, the memory limit, and one-line errors for files and SQL it
//! cannot read.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::fixtures;
use dflow::probe::ProbeCounters;
use dflow::store::{SessionKind, SessionMeta, SessionWriter};
use serde_json::Value;

const BASE_NS: i64 = 1_795_000_000_000_000_000;

/// A finished trace session with `n` spans in `dir`.
fn session(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("s.duckdb");
    let meta = SessionMeta {
        started_ns: BASE_NS,
        ..SessionMeta::now(SessionKind::Trace, dflow::VERSION)
    };
    let writer = SessionWriter::create(&path, meta).unwrap();
    writer.spans(fixtures::spans(n, BASE_NS));
    let counters = vec![(
        "syscalls".to_owned(),
        ProbeCounters {
            delivered: 10,
            lost: 0,
        },
    )];
    writer.finish(counters).unwrap();
    path
}

fn query(args: &[&str]) -> Output {
    common::dflow(&[&["query"][..], args].concat())
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// dflow's form of an error: `dflow: <one line>` then `hint: <one line>`,
/// nothing else; returns the message.
fn one_line_and_a_hint(out: &Output) -> String {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "not one line and a hint:\n{err}");
    assert!(lines[0].starts_with("dflow: "), "{err}");
    assert!(lines[1].starts_with("hint: "), "{err}");
    assert!(out.stdout.is_empty(), "{}", stdout(out));
    lines[0].to_owned()
}

/// `format!("{name:<w$}")` panicked ("Formatting argument out of range")
/// on a column name of 65,536 characters.
#[test]
fn a_column_name_of_any_length_is_clipped() {
    let dir = common::TempDir::new("query-wide");
    let file = session(&dir.0, 3);
    let file = file.to_str().unwrap();
    let sql = format!("SELECT 1 AS \"{}\", 'x' AS b", "a".repeat(65_536));
    let out = query(&[file, &sql]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let header = text.lines().next().unwrap();
    assert_eq!(header, format!("{}…  b", "a".repeat(79)));
    assert!(text.ends_with("(1 row)\n"), "{text}");
    // CSV and JSON are for programs: the name stays whole.
    let json = query(&["--json", file, &sql]);
    let rows: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["a".repeat(65_536)], 1);
}

#[test]
fn floats_are_readable_in_the_table_and_whole_in_json() {
    let dir = common::TempDir::new("query-floats");
    let file = session(&dir.0, 3);
    let file = file.to_str().unwrap();
    let sql = "SELECT 44.548281399999915::DOUBLE AS p99_ms, [0.1::DOUBLE + 0.2::DOUBLE, 2.0] AS qs";
    let out = query(&[file, sql]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().nth(2), Some("44.5483  [0.3, 2]"), "{text}");
    let out = query(&["--json", file, sql]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["p99_ms"], 44.548281399999915);
    assert_eq!(rows[0]["qs"][0], 0.30000000000000004);
}

/// DuckDB ran each statement and printed only the last one's rows; now
/// nothing runs and the refusal says why.
#[test]
fn several_statements_are_refused_with_one_line_and_a_hint() {
    let dir = common::TempDir::new("query-several");
    let file = session(&dir.0, 3);
    let file = file.to_str().unwrap();
    let out = query(&[file, "SELECT 1 AS a; SELECT 2 AS b"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        one_line_and_a_hint(&out),
        "dflow: the SQL holds 2 statements; dflow query runs one"
    );
    // A trailing `;` and a `;` in a string are one statement.
    let out = query(&["--csv", file, "SELECT ';' AS a;"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "a\r\n;\r\n");
    let help = common::dflow(&["query", "--help"]);
    let help = stdout(&help);
    assert!(help.contains("One statement per call"), "{help}");
    assert!(help.contains("--memory-limit <SIZE>"), "{help}");
}

/// Nothing bounded DuckDB's memory but its own default, 80% of RAM.
#[test]
fn a_query_past_its_memory_limit_says_so_and_names_the_flag() {
    let dir = common::TempDir::new("query-memory");
    let file = session(&dir.0, 3);
    let file = file.to_str().unwrap();
    // 200 MB of text in one aggregate state, which cannot spill to disk.
    let sql = "SELECT length(string_agg(repeat('x', 1000), ',')) AS n FROM range(200000)";
    let out = query(&["--memory-limit", "50MB", file, sql]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = one_line_and_a_hint(&out);
    assert_eq!(
        message,
        "dflow: query ran out of memory: it needs more than the 50 MB that --memory-limit allows"
    );
    assert!(
        stderr(&out).contains("--memory-limit 8GB"),
        "{}",
        stderr(&out)
    );
    // Under the default limit (a quarter of this host's memory) it runs.
    let out = query(&["--json", file, sql]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["n"], 200_000 * 1001 - 1);
    // A size without a unit is a usage error.
    let out = query(&["--memory-limit", "2", file, "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a unit is needed"),
        "{}",
        stderr(&out)
    );
}

/// DuckDB's messages span lines (`Binder Error: ...`, then `LINE 1: ...`
/// and a caret); dflow's errors are one line and a hint.
#[test]
fn a_foreign_duckdb_file_fails_with_one_line_and_a_hint() {
    let dir = common::TempDir::new("query-foreign");
    // Another program's database, with a `session` table of its own.
    let foreign = dir.0.join("app.duckdb");
    duckdb::Connection::open(&foreign)
        .unwrap()
        .execute_batch(
            "CREATE TABLE session (id INTEGER, schema_version INTEGER, user_name VARCHAR);
             INSERT INTO session VALUES (1, 1, 'ann');
             CREATE TABLE spans (id INTEGER)",
        )
        .unwrap();
    let foreign = foreign.to_str().unwrap();
    for args in [
        &["query", foreign, "SELECT * FROM spans_v"][..],
        &["query", foreign],
        &["sessions", "show", foreign],
    ] {
        let out = common::dflow(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let message = one_line_and_a_hint(&out);
        assert!(
            message.ends_with(
                "app.duckdb is a DuckDB file but not a dflow session (its session table has no \
                 kind, dflow_version, host, kernel, command_line, started_ns, ended_ns, doctor column)"
            ),
            "{args:?}: {message}"
        );
    }
    // One without a `session` table at all.
    let other = dir.0.join("other.duckdb");
    duckdb::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (a INTEGER)")
        .unwrap();
    let out = query(&[other.to_str().unwrap(), "SELECT 1"]);
    assert!(
        one_line_and_a_hint(&out).ends_with("not a dflow session (no session table)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_query_fails_with_one_line_and_a_hint() {
    let dir = common::TempDir::new("query-bad");
    let file = session(&dir.0, 3);
    let file = file.to_str().unwrap();
    for (sql, expect) in [
        ("SELECT no_such_column FROM spans_v", "Binder Error"),
        ("SELECT * FROM no_such_view", "Catalog Error"),
        ("SELEC 1", "Parser Error"),
    ] {
        let out = query(&[file, sql]);
        assert_eq!(out.status.code(), Some(1), "{sql}: {}", stderr(&out));
        let message = one_line_and_a_hint(&out);
        assert!(
            message.starts_with(&format!("dflow: query failed: {expect}")),
            "{sql}: {message}"
        );
    }
}
