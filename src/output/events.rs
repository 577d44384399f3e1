//! Spans, flows and samples as one line each: text for people, or one
//! JSON object per line (`--json`). The span fields are the contract of
//! `dflow trace --json` and `dflow replay --json`.

use std::io::{self, Write};

use serde::Serialize;

use crate::event::{Code, Flow, Protocol, Role, Sample, Span, Status};
use crate::output::table::unix_ns_millis as unix_ns;

/// A span as `--json` prints it.
#[derive(Serialize)]
struct SpanJson<'a> {
    start_ns: i64,
    duration_ns: i64,
    pid: u32,
    tid: u32,
    comm: &'a str,
    protocol: Protocol,
    role: Role,
    endpoint: &'a str,
    status: Status,
    code: Option<&'a Code>,
    req_bytes: u32,
    resp_bytes: u32,
    local: Shown<&'a std::net::SocketAddr>,
    remote: Shown<&'a std::net::SocketAddr>,
    trace_id: Shown<Hex>,
    span_id: Shown<Hex>,
    parent_span_id: Option<Shown<Hex>>,
}

/// A value serialized as its `Display` text, without a String in between
/// (`--json` prints tens of thousands of spans a second).
struct Shown<T>(T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// An id as 16 hex digits.
struct Hex(u64);

impl std::fmt::Display for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

pub fn span_json(out: &mut impl Write, s: &Span) -> io::Result<()> {
    let json = SpanJson {
        start_ns: s.start_ns,
        duration_ns: s.duration_ns,
        pid: s.process.pid,
        tid: s.tid,
        comm: &s.process.comm,
        protocol: s.protocol,
        role: s.role,
        endpoint: &s.endpoint,
        status: s.status,
        code: s.code.as_ref(),
        req_bytes: s.req_bytes,
        resp_bytes: s.resp_bytes,
        local: Shown(&s.local),
        remote: Shown(&s.remote),
        trace_id: Shown(Hex(s.trace_id)),
        span_id: Shown(Hex(s.span_id)),
        parent_span_id: s.parent_span_id.map(|p| Shown(Hex(p))),
    };
    serde_json::to_writer(&mut *out, &json)?;
    writeln!(out)
}

pub fn span_text(out: &mut impl Write, s: &Span) -> io::Result<()> {
    let code = match &s.code {
        Some(Code::Num(n)) => n.to_string(),
        Some(Code::Text(t)) => t.clone(),
        None => "-".to_owned(),
    };
    let arrow = match s.role {
        Role::Server => "←",
        Role::Client => "→",
    };
    writeln!(
        out,
        "{} {:>10.3}ms {:<8} {:<6} {:<12} {:<4} {}[{}] {} {arrow} {} {}",
        unix_ns(s.start_ns),
        s.duration_ns as f64 / 1e6,
        s.protocol,
        s.role,
        s.status,
        code,
        s.process.comm,
        s.process.pid,
        s.local,
        s.remote,
        s.endpoint,
    )
}

#[derive(Serialize)]
struct FlowJson<'a> {
    start_ns: i64,
    end_ns: i64,
    pid: u32,
    comm: &'a str,
    local: String,
    remote: String,
    bytes_sent: u64,
    bytes_received: u64,
    rtt_us: Option<u32>,
    retransmits: u32,
    resets: u32,
    connect_ns: Option<i64>,
    closed: bool,
}

pub fn flow_json(out: &mut impl Write, f: &Flow) -> io::Result<()> {
    let json = FlowJson {
        start_ns: f.start_ns,
        end_ns: f.end_ns,
        pid: f.process.pid,
        comm: &f.process.comm,
        local: f.local.to_string(),
        remote: f.remote.to_string(),
        bytes_sent: f.bytes_sent,
        bytes_received: f.bytes_received,
        rtt_us: f.rtt_us,
        retransmits: f.retransmits,
        resets: f.resets,
        connect_ns: f.connect_ns,
        closed: f.closed,
    };
    serde_json::to_writer(&mut *out, &json)?;
    writeln!(out)
}

pub fn flow_text(out: &mut impl Write, f: &Flow) -> io::Result<()> {
    let rtt = f
        .rtt_us
        .map_or("-".to_owned(), |r| format!("{:.3}ms", f64::from(r) / 1e3));
    writeln!(
        out,
        "{} {}[{}] {} ⇄ {} sent {} recv {} rtt {} retrans {} resets {}{}",
        unix_ns(f.start_ns),
        f.process.comm,
        f.process.pid,
        f.local,
        f.remote,
        f.bytes_sent,
        f.bytes_received,
        rtt,
        f.retransmits,
        f.resets,
        if f.closed { " closed" } else { "" },
    )
}

#[derive(Serialize)]
struct SampleJson<'a> {
    ts_ns: i64,
    pid: u32,
    tid: Option<u32>,
    comm: &'a str,
    kind: &'static str,
    stack: Vec<&'a str>,
    count: u64,
    blocked_ns: u64,
}

pub fn sample_json(out: &mut impl Write, s: &Sample) -> io::Result<()> {
    let json = SampleJson {
        ts_ns: s.ts_ns,
        pid: s.process.pid,
        tid: s.tid,
        comm: &s.process.comm,
        kind: if s.off_cpu { "off_cpu" } else { "on_cpu" },
        stack: s.stack.iter().map(|f| f.function.as_str()).collect(),
        count: s.count,
        blocked_ns: s.blocked_ns,
    };
    serde_json::to_writer(&mut *out, &json)?;
    writeln!(out)
}

/// The folded format: `comm;frame;frame value` (value: samples on-CPU,
/// blocked ns off-CPU).
pub fn sample_folded(out: &mut impl Write, s: &Sample) -> io::Result<()> {
    write!(out, "{}", s.process.comm)?;
    for f in s.stack.iter() {
        write!(out, ";{}", f.function)?;
    }
    let value = if s.off_cpu { s.blocked_ns } else { s.count };
    writeln!(out, " {value}")
}
