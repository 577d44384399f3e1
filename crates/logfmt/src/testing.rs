//! A small session for tests: its metadata and one chunk with two spans
//! and a label. dflow's spool tests write it too.

use dflow_model::{Code, Process};

use crate::encode::Chunk;
use crate::meta::{SessionKind, SessionMeta};

pub fn meta() -> SessionMeta {
    SessionMeta {
        kind: SessionKind::Trace,
        dflow_version: "0.1".into(),
        host: "h".into(),
        kernel: "6.18".into(),
        command_line: "dflow trace".into(),
        started_ns: 1_700_000_000_000_000_000,
        doctor: Some("{}".into()),
    }
}

fn span() -> dflow_model::Span {
    let process = std::sync::Arc::new(Process {
        pid: 7,
        start_ns: 99,
        comm: "nginx".into(),
        exe: "/usr/sbin/nginx".into(),
        cmdline: "nginx -g daemon off;".into(),
        cgroup: "/system.slice/nginx.service".into(),
        container_id: None,
        service: "nginx".into(),
    });
    dflow_model::Span {
        start_ns: 1_700_000_000_000_000_000,
        duration_ns: 1_500_000,
        protocol: dflow_model::Protocol::Http1,
        role: dflow_model::Role::Server,
        endpoint: "GET /users/{id}".into(),
        status: dflow_model::Status::Ok,
        code: None,
        req_bytes: 120,
        resp_bytes: 4000,
        process,
        tid: 8,
        local: "127.0.0.1:80".parse().unwrap(),
        remote: "[::1]:40000".parse().unwrap(),
        trace_id: 1000,
        span_id: 1003,
        parent_span_id: Some(1000),
        request: String::new(),
        response: "HTTP/1.1 200 OK".into(),
    }
}

pub fn chunk() -> Chunk {
    let mut enc = crate::encode::Encoder::default();
    let mut span = span();
    span.code = Some(Code::Text("NOERROR".into()));
    span.request = "GET / HTTP/1.1".into();
    enc.span(span.clone());
    span.span_id += 7;
    span.parent_span_id = None;
    span.code = Some(Code::Num(-3));
    span.start_ns -= 1_000;
    enc.span(span);
    enc.label("session", 0, "env", "prod");
    enc.take_chunk()
}
