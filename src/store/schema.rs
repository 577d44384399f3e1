//! The session file's tables and views, and what each view column means.
//!
//! Fact tables hold integers only; every tag is an id into a dictionary.
//! The `*_v` views decode them, so SQL users never see an id. Column
//! descriptions below are what `dflow query FILE` prints; a test checks
//! that they match the views column for column.

/// Bumped on any change a reader must know about. Readers refuse files
/// with a newer version; older versions stay readable.
pub const SCHEMA_VERSION: i32 = 1;

/// Tables, enum decoding tables and views, in creation order; the
/// `{*_case}` holes are filled by [`create_sql`].
const CREATE: &str = r#"
CREATE TABLE session (
    schema_version INTEGER NOT NULL,
    kind VARCHAR NOT NULL,
    dflow_version VARCHAR NOT NULL,
    host VARCHAR NOT NULL,
    kernel VARCHAR NOT NULL,
    command_line VARCHAR NOT NULL,
    started_ns BIGINT NOT NULL,
    ended_ns BIGINT,
    doctor VARCHAR,
    rolled_up_ns BIGINT
);
CREATE TABLE counters (source VARCHAR NOT NULL, delivered UBIGINT NOT NULL, lost UBIGINT NOT NULL);

CREATE TABLE strings (id UINTEGER NOT NULL, value VARCHAR NOT NULL);
CREATE TABLE services (id UINTEGER NOT NULL, name VARCHAR NOT NULL);
CREATE TABLE processes (
    id UINTEGER NOT NULL, pid UINTEGER NOT NULL, start_ns UBIGINT NOT NULL,
    comm VARCHAR NOT NULL, exe VARCHAR NOT NULL, cmdline VARCHAR NOT NULL,
    cgroup VARCHAR NOT NULL, container_id VARCHAR, service_id UINTEGER NOT NULL
);
CREATE TABLE endpoints (id UINTEGER NOT NULL, name VARCHAR NOT NULL);
CREATE TABLE addresses (id UINTEGER NOT NULL, addr VARCHAR NOT NULL, ip VARCHAR NOT NULL, port USMALLINT NOT NULL);
CREATE TABLE frames (id UINTEGER NOT NULL, function VARCHAR NOT NULL, module VARCHAR NOT NULL, kernel BOOLEAN NOT NULL);
CREATE TABLE stacks (id UINTEGER NOT NULL, depth USMALLINT NOT NULL, frame_id UINTEGER NOT NULL);
CREATE TABLE labels (resource VARCHAR NOT NULL, resource_id UINTEGER NOT NULL, key_id UINTEGER NOT NULL, value_id UINTEGER NOT NULL);

-- Calls, errors and exact latency percentiles per endpoint (AutoMetrics),
-- computed when a session ends for every span up to session.rolled_up_ns.
CREATE TABLE endpoint_stats (
    endpoint_id UINTEGER NOT NULL, calls UBIGINT NOT NULL, errors UBIGINT NOT NULL,
    p50_ns DOUBLE NOT NULL, p90_ns DOUBLE NOT NULL, p99_ns DOUBLE NOT NULL, max_ns BIGINT NOT NULL
);

CREATE TABLE protocols (id UTINYINT NOT NULL, name VARCHAR NOT NULL);
CREATE TABLE roles (id UTINYINT NOT NULL, name VARCHAR NOT NULL);
CREATE TABLE statuses (id UTINYINT NOT NULL, name VARCHAR NOT NULL);

CREATE TABLE spans (
    start_ns BIGINT NOT NULL, duration_ns BIGINT NOT NULL,
    protocol UTINYINT NOT NULL, role UTINYINT NOT NULL, status UTINYINT NOT NULL,
    code INTEGER, code_text_id UINTEGER,
    endpoint_id UINTEGER NOT NULL, process_id UINTEGER NOT NULL, tid UINTEGER NOT NULL,
    local_id UINTEGER NOT NULL, remote_id UINTEGER NOT NULL,
    req_bytes UINTEGER NOT NULL, resp_bytes UINTEGER NOT NULL,
    trace_offset BIGINT NOT NULL, span_id UBIGINT NOT NULL, parent_offset BIGINT
);
-- What a person reads of a call: the request's and the response's first
-- lines, headers or query (credentials redacted unless --no-redact). Only
-- for spans that have any; free text, so kept out of the fact table, and
-- each distinct text stored once (repeated calls repeat their excerpts).
-- Files written before these two tables have `excerpts (span_id, request,
-- response)` instead.
CREATE TABLE excerpt_texts (id UINTEGER NOT NULL, text VARCHAR NOT NULL);
CREATE TABLE span_excerpts (span_id UBIGINT NOT NULL, request_id UINTEGER NOT NULL, response_id UINTEGER NOT NULL);
CREATE TABLE flows (
    start_ns BIGINT NOT NULL, end_ns BIGINT NOT NULL,
    process_id UINTEGER NOT NULL, local_id UINTEGER NOT NULL, remote_id UINTEGER NOT NULL,
    bytes_sent UBIGINT NOT NULL, bytes_received UBIGINT NOT NULL,
    rtt_us UINTEGER, retransmits UINTEGER NOT NULL, resets UINTEGER NOT NULL,
    connect_ns BIGINT, closed BOOLEAN NOT NULL
);
CREATE TABLE samples (
    ts_ns BIGINT NOT NULL, process_id UINTEGER NOT NULL, tid UINTEGER,
    off_cpu BOOLEAN NOT NULL, stack_id UINTEGER NOT NULL,
    count UBIGINT NOT NULL, blocked_ns UBIGINT NOT NULL
);

-- Dictionaries as lists, read once per query: the views decode an id with
-- a list lookup instead of a join, so a column a query does not use costs
-- nothing and one it uses costs an array index. Ids are dense from 0.
CREATE VIEW dicts AS
SELECT
    (SELECT list(name ORDER BY id) FROM endpoints) AS endpoints,
    (SELECT list(addr ORDER BY id) FROM addresses) AS addrs,
    (SELECT list(value ORDER BY id) FROM strings) AS strings,
    (SELECT list(name ORDER BY id) FROM services) AS services,
    (SELECT list({pid: pid, comm: comm, exe: exe, container_id: container_id, service_id: service_id} ORDER BY id)
     FROM processes) AS procs;

CREATE VIEW spans_v AS
SELECT
    make_timestamp_ns(s.start_ns) AS start,
    s.start_ns,
    s.duration_ns,
    s.duration_ns / 1e6 AS duration_ms,
    {protocol_case} AS protocol,
    {role_case} AS role,
    d.endpoints[s.endpoint_id + 1] AS endpoint,
    {status_case} AS status,
    coalesce(CAST(s.code AS VARCHAR), d.strings[s.code_text_id + 1]) AS code,
    s.req_bytes,
    s.resp_bytes,
    d.procs[s.process_id + 1].pid AS pid,
    s.tid,
    d.procs[s.process_id + 1].comm AS comm,
    d.procs[s.process_id + 1].exe AS exe,
    d.services[d.procs[s.process_id + 1].service_id + 1] AS service,
    d.procs[s.process_id + 1].container_id AS container_id,
    d.addrs[s.local_id + 1] AS local,
    d.addrs[s.remote_id + 1] AS remote,
    printf('%016x', CAST(s.span_id::HUGEINT - s.trace_offset AS UBIGINT)) AS trace_id,
    printf('%016x', s.span_id) AS span_id,
    CASE WHEN s.parent_offset IS NULL THEN NULL
         ELSE printf('%016x', CAST(s.span_id::HUGEINT - s.parent_offset AS UBIGINT)) END AS parent_span_id
FROM spans s, dicts d;

CREATE VIEW excerpts_v AS
SELECT printf('%016x', e.span_id) AS span_id, rq.text AS request, rs.text AS response
FROM span_excerpts e
JOIN excerpt_texts rq ON rq.id = e.request_id
JOIN excerpt_texts rs ON rs.id = e.response_id;

CREATE VIEW flows_v AS
SELECT
    make_timestamp_ns(f.start_ns) AS start,
    make_timestamp_ns(f.end_ns) AS "end",
    f.start_ns,
    f.end_ns,
    d.procs[f.process_id + 1].pid AS pid,
    d.procs[f.process_id + 1].comm AS comm,
    d.services[d.procs[f.process_id + 1].service_id + 1] AS service,
    d.addrs[f.local_id + 1] AS local,
    d.addrs[f.remote_id + 1] AS remote,
    f.bytes_sent,
    f.bytes_received,
    f.rtt_us,
    f.retransmits,
    f.resets,
    f.connect_ns,
    f.closed
FROM flows f, dicts d;

-- Computed from spans while a session is written (and in one that never
-- ended); a clean end replaces it with ENDPOINTS_STORED.
CREATE VIEW endpoints_v AS
SELECT {endpoints_v_columns}
FROM (SELECT {endpoint_stats_columns} FROM spans GROUP BY endpoint_id) x
JOIN endpoints e ON e.id = x.endpoint_id;

CREATE VIEW stacks_v AS
SELECT k.id AS stack_id,
       string_agg(fr.function, ';' ORDER BY k.depth) AS folded,
       max(k.depth) + 1 AS depth
FROM stacks k JOIN frames fr ON fr.id = k.frame_id
GROUP BY k.id;

CREATE VIEW samples_v AS
SELECT
    make_timestamp_ns(s.ts_ns) AS ts,
    s.ts_ns,
    d.procs[s.process_id + 1].pid AS pid,
    s.tid,
    d.procs[s.process_id + 1].comm AS comm,
    d.services[d.procs[s.process_id + 1].service_id + 1] AS service,
    CASE WHEN s.off_cpu THEN 'off_cpu' ELSE 'on_cpu' END AS kind,
    k.folded AS stack,
    s.count,
    s.blocked_ns
FROM samples s
CROSS JOIN dicts d
JOIN stacks_v k ON k.stack_id = s.stack_id;

CREATE VIEW labels_v AS
SELECT l.resource, l.resource_id, k.value AS key, v.value AS value
FROM labels l JOIN strings k ON k.id = l.key_id JOIN strings v ON v.id = l.value_id;
"#;

/// A view a person queries, with a line on what each column means.
pub struct ViewDoc {
    pub name: &'static str,
    pub about: &'static str,
    pub columns: &'static [(&'static str, &'static str)],
}

pub const VIEWS: &[ViewDoc] = &[
    ViewDoc {
        name: "spans_v",
        about: "one L7 call (request and response) seen from one side",
        columns: &[
            ("start", "time of the request's first byte (timestamp)"),
            ("start_ns", "the same, Unix epoch nanoseconds"),
            ("duration_ns", "request start to response end, ns"),
            ("duration_ms", "the same in milliseconds"),
            ("protocol", "http1, dns, redis, postgres, mysql"),
            ("role", "client or server: which side this process was"),
            (
                "endpoint",
                "HTTP method + templated path, SQL verb + table, Redis command, DNS name + type",
            ),
            ("status", "ok, client_error, server_error, timeout, error"),
            (
                "code",
                "the protocol's own status code (HTTP status, DNS rcode, SQLSTATE); NULL when none",
            ),
            ("req_bytes", "request size in bytes"),
            ("resp_bytes", "response size in bytes"),
            ("pid", "process id"),
            ("tid", "thread id that handled the call"),
            ("comm", "process command name"),
            ("exe", "process executable path"),
            ("service", "service name (label, container or command)"),
            (
                "container_id",
                "container id from the cgroup, NULL outside containers",
            ),
            ("local", "this side's ip:port"),
            ("remote", "the peer's ip:port"),
            ("trace_id", "trace the span belongs to (hex)"),
            ("span_id", "this span (hex)"),
            (
                "parent_span_id",
                "the calling span (hex); NULL for a trace's root",
            ),
        ],
    },
    ViewDoc {
        name: "excerpts_v",
        about: "what a person reads of a call: its request and response, credentials redacted",
        columns: &[
            ("span_id", "the span, as in spans_v (join on it)"),
            (
                "request",
                "the request's first line and headers, the query or the command",
            ),
            (
                "response",
                "the response's status line and headers, or its outcome",
            ),
        ],
    },
    ViewDoc {
        name: "flows_v",
        about: "one connection's L4 counters over an interval",
        columns: &[
            ("start", "interval start (timestamp)"),
            ("end", "interval end (timestamp)"),
            ("start_ns", "interval start, Unix epoch ns"),
            ("end_ns", "interval end, Unix epoch ns"),
            ("pid", "process id"),
            ("comm", "process command name"),
            ("service", "service name"),
            ("local", "this side's ip:port"),
            ("remote", "the peer's ip:port"),
            ("bytes_sent", "bytes sent in the interval"),
            ("bytes_received", "bytes received in the interval"),
            (
                "rtt_us",
                "smoothed round-trip time at the interval's end, µs; NULL when unknown",
            ),
            ("retransmits", "segments retransmitted in the interval"),
            ("resets", "resets sent or received in the interval"),
            (
                "connect_ns",
                "connect() to established, ns, for connections opened in the interval",
            ),
            (
                "closed",
                "whether the connection closed within the interval",
            ),
        ],
    },
    ViewDoc {
        name: "samples_v",
        about: "stack samples aggregated per interval (on-CPU counts, off-CPU blocked time)",
        columns: &[
            ("ts", "interval start (timestamp)"),
            ("ts_ns", "interval start, Unix epoch ns"),
            ("pid", "process id"),
            ("tid", "thread id with --per-thread; NULL when per process"),
            ("comm", "process command name"),
            ("service", "service name"),
            ("kind", "on_cpu or off_cpu"),
            (
                "stack",
                "frames from root to leaf, ';'-separated (the folded format)",
            ),
            ("count", "samples (on-CPU) or blocking episodes (off-CPU)"),
            ("blocked_ns", "time blocked, ns (off-CPU; 0 on-CPU)"),
        ],
    },
    ViewDoc {
        name: "endpoints_v",
        about: "per endpoint over the session: calls, errors, exact latency percentiles",
        columns: &[
            ("endpoint", "the endpoint, as in spans_v"),
            ("calls", "spans of this endpoint"),
            ("errors", "spans whose status is not ok"),
            ("error_pct", "errors as a percentage of calls"),
            ("p50_ms", "median latency, ms"),
            ("p90_ms", "90th percentile latency, ms"),
            ("p99_ms", "99th percentile latency, ms"),
            ("max_ms", "slowest call, ms"),
        ],
    },
    ViewDoc {
        name: "stacks_v",
        about: "each distinct stack once, folded",
        columns: &[
            ("stack_id", "the stack's id in samples"),
            ("folded", "frames from root to leaf, ';'-separated"),
            ("depth", "number of frames"),
        ],
    },
    ViewDoc {
        name: "labels_v",
        about: "custom labels (--tag key=value, container labels) of a resource",
        columns: &[
            ("resource", "what is labelled: session, process or service"),
            ("resource_id", "its id (0 for the session)"),
            ("key", "label key"),
            ("value", "label value"),
        ],
    },
    ViewDoc {
        name: "session",
        about: "the capture itself (one row)",
        columns: &[
            ("schema_version", "layout version of this file"),
            ("kind", "trace, topo, profile or flow"),
            (
                "dflow_version",
                "dflow version and commit that wrote the file",
            ),
            ("host", "host name"),
            ("kernel", "kernel release"),
            ("command_line", "the dflow command line"),
            ("started_ns", "capture start, Unix epoch ns"),
            (
                "ended_ns",
                "capture end, Unix epoch ns; NULL if dflow did not end cleanly",
            ),
            (
                "doctor",
                "the host's `dflow doctor --json` report at capture time",
            ),
            (
                "rolled_up_ns",
                "spans up to this start time are in endpoint_stats; NULL: none yet",
            ),
        ],
    },
    ViewDoc {
        name: "counters",
        about: "per-probe events delivered and lost, and what the session writer dropped",
        columns: &[
            (
                "source",
                "a probe, or 'store' for events the writer could not keep up with",
            ),
            ("delivered", "events delivered"),
            ("lost", "events lost"),
        ],
    },
];

/// Per-endpoint statistics over `spans`, as `endpoint_stats` holds them.
const ENDPOINT_STATS_COLUMNS: &str = "endpoint_id, count(*) AS calls,
    count(*) FILTER (WHERE status <> 0) AS errors,
    quantile_cont(duration_ns, 0.5) AS p50_ns, quantile_cont(duration_ns, 0.9) AS p90_ns,
    quantile_cont(duration_ns, 0.99) AS p99_ns, max(duration_ns) AS max_ns";

/// `endpoints_v`'s columns over `x`, a relation with `endpoint_stats`' layout.
const ENDPOINTS_V_COLUMNS: &str = "e.name AS endpoint,
    x.calls, x.errors, round(100.0 * x.errors / x.calls, 2) AS error_pct,
    round(x.p50_ns / 1e6, 3) AS p50_ms, round(x.p90_ns / 1e6, 3) AS p90_ms,
    round(x.p99_ns / 1e6, 3) AS p99_ms, round(x.max_ns / 1e6, 3) AS max_ms";

/// Computes `endpoint_stats` over every span, moves the watermark, and
/// points `endpoints_v` at the result; run when a session ends, so the view
/// answers from a few thousand rows instead of every span.
pub fn rollup_sql() -> String {
    format!(
        "DELETE FROM endpoint_stats;
         INSERT INTO endpoint_stats SELECT {ENDPOINT_STATS_COLUMNS} FROM spans GROUP BY endpoint_id;
         UPDATE session SET rolled_up_ns = (SELECT max(start_ns) FROM spans);
         CREATE OR REPLACE VIEW endpoints_v AS
         SELECT {ENDPOINTS_V_COLUMNS} FROM endpoint_stats x JOIN endpoints e ON e.id = x.endpoint_id;"
    )
}

/// The DDL of a new session file, with the stored enums' names spelled out
/// in the views (a CASE costs less per row than a join).
pub fn create_sql() -> String {
    use crate::event::{Protocol, Role, Status};
    fn case(column: &str, pairs: &[(u8, &str)]) -> String {
        let arms: String = pairs
            .iter()
            .map(|(id, name)| format!(" WHEN {id} THEN '{name}'"))
            .collect();
        format!("CASE {column}{arms} END")
    }
    let protocols: Vec<(u8, &str)> = Protocol::ALL
        .iter()
        .map(|p| (p.code(), p.as_str()))
        .collect();
    let roles: Vec<(u8, &str)> = Role::ALL.iter().map(|p| (p.code(), p.as_str())).collect();
    let statuses: Vec<(u8, &str)> = Status::ALL.iter().map(|p| (p.code(), p.as_str())).collect();
    CREATE
        .replace("{endpoint_stats_columns}", ENDPOINT_STATS_COLUMNS)
        .replace("{endpoints_v_columns}", ENDPOINTS_V_COLUMNS)
        .replace("{protocol_case}", &case("s.protocol", &protocols))
        .replace("{role_case}", &case("s.role", &roles))
        .replace("{status_case}", &case("s.status", &statuses))
}

/// Rows of the enum decoding tables.
pub fn enum_rows() -> String {
    use crate::event::{Protocol, Role, Status};
    let mut sql = String::new();
    let mut insert = |table: &str, rows: Vec<(u8, &str)>| {
        let values: Vec<String> = rows
            .iter()
            .map(|(id, name)| format!("({id}, '{name}')"))
            .collect();
        sql.push_str(&format!(
            "INSERT INTO {table} VALUES {};\n",
            values.join(", ")
        ));
    };
    insert(
        "protocols",
        Protocol::ALL
            .iter()
            .map(|p| (p.code(), p.as_str()))
            .collect(),
    );
    insert(
        "roles",
        Role::ALL.iter().map(|p| (p.code(), p.as_str())).collect(),
    );
    insert(
        "statuses",
        Status::ALL.iter().map(|p| (p.code(), p.as_str())).collect(),
    );
    sql
}
