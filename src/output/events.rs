//! Spans, flows and samples as one line each: text for people, or one
//! JSON object per line (`--json`). The span fields are the contract of
//! `dflow trace --json` and `dflow replay --json`.

use std::io::{self, Write};
use std::net::SocketAddr;

use serde::Serialize;

use crate::event::{Code, Flow, Role, Sample, Span};
use crate::output::table::unix_ns_millis as unix_ns;
use crate::store::Replay;

/// A span as one JSON object (the fields of the contract), and a newline.
///
/// `dflow trace --json` prints tens of thousands of these a second, so the
/// line is written field by field, without `fmt`: numbers through itoa, ids
/// as hex digits, IPv4 addresses octet by octet, and free text (comm,
/// endpoint, a text code) as it is unless it needs escaping. Through a
/// derived `Serialize` and `Display`, this line cost more than parsing the
/// call it describes.
pub fn span_json(out: &mut impl Write, s: &Span) -> io::Result<()> {
    let mut num = itoa::Buffer::new();
    out.write_all(b"{\"start_ns\":")?;
    out.write_all(num.format(s.start_ns).as_bytes())?;
    out.write_all(b",\"duration_ns\":")?;
    out.write_all(num.format(s.duration_ns).as_bytes())?;
    out.write_all(b",\"pid\":")?;
    out.write_all(num.format(s.process.pid).as_bytes())?;
    out.write_all(b",\"tid\":")?;
    out.write_all(num.format(s.tid).as_bytes())?;
    out.write_all(b",\"comm\":")?;
    json_str(out, &s.process.comm)?;
    out.write_all(b",\"protocol\":\"")?;
    out.write_all(s.protocol.as_str().as_bytes())?;
    out.write_all(b"\",\"role\":\"")?;
    out.write_all(s.role.as_str().as_bytes())?;
    out.write_all(b"\",\"endpoint\":")?;
    json_str(out, &s.endpoint)?;
    out.write_all(b",\"status\":\"")?;
    out.write_all(s.status.as_str().as_bytes())?;
    out.write_all(b"\",\"code\":")?;
    match &s.code {
        None => out.write_all(b"null")?,
        Some(Code::Num(n)) => out.write_all(num.format(*n).as_bytes())?,
        Some(Code::Text(t)) => json_str(out, t)?,
    }
    out.write_all(b",\"req_bytes\":")?;
    out.write_all(num.format(s.req_bytes).as_bytes())?;
    out.write_all(b",\"resp_bytes\":")?;
    out.write_all(num.format(s.resp_bytes).as_bytes())?;
    out.write_all(b",\"local\":")?;
    json_addr(out, &s.local)?;
    out.write_all(b",\"remote\":")?;
    json_addr(out, &s.remote)?;
    out.write_all(b",\"trace_id\":")?;
    json_hex(out, s.trace_id)?;
    out.write_all(b",\"span_id\":")?;
    json_hex(out, s.span_id)?;
    out.write_all(b",\"parent_span_id\":")?;
    match s.parent_span_id {
        None => out.write_all(b"null")?,
        Some(p) => json_hex(out, p)?,
    }
    out.write_all(b"}\n")
}

/// `s` as a JSON string: between quotes as it is when nothing in it needs
/// escaping (comms and endpoints nearly always), else through serde_json.
fn json_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.write_all(b"\"")?;
        out.write_all(s.as_bytes())?;
        out.write_all(b"\"")
    } else {
        serde_json::to_writer(&mut *out, s).map_err(io::Error::from)
    }
}

/// An id as a JSON string of 16 hex digits.
fn json_hex(out: &mut impl Write, id: u64) -> io::Result<()> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = *b"\"0000000000000000\"";
    for (i, digit) in text[1..17].iter_mut().rev().enumerate() {
        *digit = DIGITS[(id >> (4 * i)) as usize & 0xf];
    }
    out.write_all(&text)
}

/// `ip:port` as a JSON string (`[ip]:port` for IPv6).
fn json_addr(out: &mut impl Write, addr: &SocketAddr) -> io::Result<()> {
    let SocketAddr::V4(v4) = addr else {
        return write!(out, "\"{addr}\"");
    };
    let mut num = itoa::Buffer::new();
    out.write_all(b"\"")?;
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            out.write_all(b".")?;
        }
        out.write_all(num.format(octet).as_bytes())?;
    }
    out.write_all(b":")?;
    out.write_all(num.format(v4.port()).as_bytes())?;
    out.write_all(b"\"")
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

/// Spans, a line each (a JSON object each with `json`).
pub fn spans(out: &mut impl Write, spans: &[Span], json: bool) -> io::Result<()> {
    for s in spans {
        if json {
            span_json(out, s)?;
        } else {
            span_text(out, s)?;
        }
    }
    Ok(())
}

/// Every fact, one per line (one JSON object each with --json), as the
/// live captures print them.
pub fn replay(out: &mut impl Write, replay: &Replay, json: bool) -> io::Result<()> {
    spans(out, &replay.spans, json)?;
    for f in &replay.flows {
        if json {
            flow_json(out, f)?;
        } else {
            flow_text(out, f)?;
        }
    }
    for s in &replay.samples {
        if json {
            sample_json(out, s)?;
        } else {
            sample_folded(out, s)?;
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::*;
    use crate::event::{Process, Protocol, Status};

    fn span(comm: &str, endpoint: &str, code: Option<Code>, parent: Option<u64>) -> Span {
        Span {
            start_ns: 1_795_000_000_123_456_789,
            duration_ns: 52_000_001,
            protocol: Protocol::Http1,
            role: Role::Server,
            endpoint: endpoint.to_owned(),
            status: Status::ServerError,
            code,
            req_bytes: 78,
            resp_bytes: u32::MAX,
            process: Arc::new(Process::bare(4242, comm)),
            tid: 4243,
            local: "[::1]:8080".parse().unwrap(),
            remote: "10.0.0.7:40001".parse().unwrap(),
            trace_id: 0xfeed,
            span_id: u64::MAX,
            parent_span_id: parent,
            request: "GET / HTTP/1.1".to_owned(),
            response: String::new(),
        }
    }

    fn line(s: &Span) -> Value {
        let mut out = Vec::new();
        span_json(&mut out, s).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(out.ends_with(b"}\n"));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn a_span_line_has_exactly_the_contract_fields() {
        let hostile = "GET /a\"b\\c\u{1}\n\u{7f}é";
        let got = line(&span(
            "we\"ird\tname",
            hostile,
            Some(Code::Num(-503)),
            Some(7),
        ));
        let want = json!({
            "start_ns": 1_795_000_000_123_456_789_i64,
            "duration_ns": 52_000_001,
            "pid": 4242,
            "tid": 4243,
            "comm": "we\"ird\tname",
            "protocol": "http1",
            "role": "server",
            "endpoint": hostile,
            "status": "server_error",
            "code": -503,
            "req_bytes": 78,
            "resp_bytes": u32::MAX,
            "local": "[::1]:8080",
            "remote": "10.0.0.7:40001",
            "trace_id": "000000000000feed",
            "span_id": "ffffffffffffffff",
            "parent_span_id": "0000000000000007",
        });
        assert_eq!(got, want);
    }

    #[test]
    fn null_code_and_parent_and_a_text_code() {
        let got = line(&span("redis-server", "GET", None, None));
        assert_eq!(got["code"], Value::Null);
        assert_eq!(got["parent_span_id"], Value::Null);
        let got = line(&span(
            "postgres",
            "SELECT t",
            Some(Code::Text("42P01".into())),
            None,
        ));
        assert_eq!(got["code"], json!("42P01"));
    }
}
