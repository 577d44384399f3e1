//! `dflow trace` end to end: real servers on loopback, real probes, the
//! binary's JSON lines checked against what the servers measured.
//! Needs root (see `common::root_or_skip`).

mod common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::tracing::{HTTP_SERVER, Tracer};
use serde_json::Value;

/// A program started with its stdout read line by line.
struct Script {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Script {
    fn start(program: &std::path::Path) -> Script {
        let mut child = Command::new(program)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Script { child, lines }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a line from the script")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `paths` one after another on one keep-alive connection; returns
/// the local port.
fn get_all(port: u16, paths: &[String]) -> u16 {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let local = conn.local_addr().unwrap().port();
    let mut buf = Vec::new();
    for path in paths {
        write!(conn, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        // Head, then the 5-byte body.
        buf.clear();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            conn.read_exact(&mut byte).unwrap();
            buf.push(byte[0]);
        }
        conn.read_exact(&mut [0u8; 5]).unwrap();
    }
    local
}

/// Runs 200 requests at `concurrency` against the server and checks that
/// dflow reported each one as a server span with the right status code and
/// the server's own latency ±1 ms.
fn http_round(server: &std::path::Path, concurrency: usize) {
    let server = Script::start(server);
    let port: u16 = server.line().parse().unwrap();
    let pid = server.pid().to_string();
    let tracer = Tracer::start(&["-p", &pid, "--no-session"]);

    let clients: Vec<_> = (0..concurrency)
        .map(|c| {
            let paths: Vec<String> = (c..200)
                .step_by(concurrency)
                .map(|i| match i % 10 {
                    3 => format!("/missing/{i}"),
                    7 => format!("/fail/{i}"),
                    _ => format!("/items/{i}"),
                })
                .collect();
            std::thread::spawn(move || get_all(port, &paths))
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let traced = tracer.stop();
    assert!(traced.status.success(), "{}", traced.stderr);

    // The server's measurements, per client port in order.
    let mut measured: HashMap<u64, Vec<Value>> = HashMap::new();
    for _ in 0..200 {
        let m: Value = serde_json::from_str(&server.line()).unwrap();
        measured.entry(m["port"].as_u64().unwrap()).or_default().push(m);
    }
    let mut reported: HashMap<u64, Vec<&Value>> = HashMap::new();
    for s in &traced.spans {
        assert_eq!(s["protocol"], "http1");
        assert_eq!(s["role"], "server", "{s}");
        assert_eq!(s["pid"].as_u64(), Some(u64::from(server.pid())));
        let remote: std::net::SocketAddr = s["remote"].as_str().unwrap().parse().unwrap();
        reported.entry(u64::from(remote.port())).or_default().push(s);
    }
    assert_eq!(
        traced.spans.len(),
        200,
        "one span per request at concurrency {concurrency}; summary {}; codes {:?}",
        traced.summary,
        traced.spans.iter().fold(HashMap::<String, usize>::new(), |mut m, s| {
            *m.entry(format!("{}/{}", s["code"], s["endpoint"])).or_default() += 1;
            m
        })
    );
    for (port, ms) in &measured {
        let mut spans = reported.remove(port).unwrap_or_default();
        spans.sort_by_key(|s| s["start_ns"].as_i64());
        assert_eq!(spans.len(), ms.len(), "spans of client port {port}");
        for (s, m) in spans.iter().zip(ms) {
            assert_eq!(s["code"], m["code"], "{s} vs {m}");
            let expected_status = match m["code"].as_u64().unwrap() {
                200 => "ok",
                404 => "client_error",
                _ => "server_error",
            };
            assert_eq!(s["status"], expected_status);
            let endpoint = s["endpoint"].as_str().unwrap();
            let path = m["path"].as_str().unwrap();
            let prefix = &path[..path[1..].find('/').unwrap() + 1];
            assert_eq!(endpoint, format!("GET {prefix}/{{id}}"));
            let ours = s["duration_ns"].as_i64().unwrap();
            let theirs = m["ns"].as_i64().unwrap();
            assert!(
                (ours - theirs).abs() <= 1_000_000,
                "latency {ours} ns vs the server's {theirs} ns (concurrency {concurrency})"
            );
            assert_eq!(s["parent_span_id"], Value::Null);
        }
    }
}

#[test]
fn http_server_spans_match_the_servers_own_latency_and_codes() {
    if !common::root_or_skip("http_server_spans_match_the_servers_own_latency_and_codes") {
        return;
    }
    let dir = common::TempDir::new("http");
    let server = common::compile_c(&dir.0, "http-server", HTTP_SERVER, &["-O1"]);
    http_round(&server, 1);
    http_round(&server, 16);
}
