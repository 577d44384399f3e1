//! Realistic spans, flows and samples for store tests.

use std::net::SocketAddr;
use std::sync::Arc;

use dflow::event::{Code, Flow, Frame, Process, Protocol, Role, Sample, Span, Status};

pub fn process(pid: u32, comm: &str) -> Arc<Process> {
    Arc::new(Process {
        pid,
        start_ns: 1_000_000 * u64::from(pid),
        comm: comm.to_owned(),
        exe: format!("/usr/sbin/{comm}"),
        cmdline: format!("{comm} -c /etc/{comm}.conf"),
        cgroup: format!("/system.slice/{comm}.service"),
        container_id: pid.is_multiple_of(2).then(|| format!("{pid:064x}")),
        service: format!("{comm}-svc"),
    })
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// `n` spans over two processes, with numeric and text codes, IPv4 and
/// IPv6 peers, roots and children.
pub fn spans(n: usize, base_ns: i64) -> Vec<Span> {
    let procs = [process(100, "nginx"), process(201, "api")];
    (0..n)
        .map(|i| {
            let p = &procs[i % 2];
            let (protocol, endpoint, code, status) = match i % 4 {
                0 => (
                    Protocol::Http1,
                    format!("GET /users/{{id}}/orders/{}", i % 7),
                    Some(Code::Num(200)),
                    Status::Ok,
                ),
                1 => (
                    Protocol::Http1,
                    "POST /login".to_owned(),
                    Some(Code::Num(404)),
                    Status::ClientError,
                ),
                2 => (
                    Protocol::Postgres,
                    "SELECT orders".to_owned(),
                    Some(Code::Text("42P01".into())),
                    Status::Error,
                ),
                _ => (Protocol::Redis, "GET".to_owned(), None, Status::Ok),
            };
            Span {
                start_ns: base_ns + i as i64 * 1_000_000,
                duration_ns: 50_000_000 + i as i64,
                protocol,
                role: if i % 3 == 0 {
                    Role::Server
                } else {
                    Role::Client
                },
                endpoint,
                status,
                code,
                req_bytes: 100 + i as u32,
                resp_bytes: 2000 + i as u32,
                process: Arc::clone(p),
                tid: p.pid + (i % 3) as u32,
                local: if i % 5 == 0 {
                    addr("[::1]:8080")
                } else {
                    addr("127.0.0.1:8080")
                },
                remote: addr(&format!("10.0.{}.{}:{}", i % 3, i % 250, 40000 + i % 100)),
                trace_id: (i / 3) as u64 + 1,
                span_id: i as u64 + 1,
                parent_span_id: (i % 3 != 0).then_some((i - i % 3) as u64 + 1),
                // Half the spans carry excerpts (stored in their own table).
                request: if i % 2 == 0 {
                    format!("GET /item/{i}")
                } else {
                    String::new()
                },
                response: if i % 4 == 0 {
                    "HTTP/1.1 200 OK".to_owned()
                } else {
                    String::new()
                },
            }
        })
        .collect()
}

pub fn flows(n: usize, base_ns: i64) -> Vec<Flow> {
    let p = process(100, "nginx");
    (0..n)
        .map(|i| Flow {
            start_ns: base_ns + i as i64 * 1_000_000_000,
            end_ns: base_ns + (i as i64 + 1) * 1_000_000_000,
            process: Arc::clone(&p),
            local: addr("127.0.0.1:8080"),
            remote: addr(&format!("127.0.0.1:{}", 50000 + i)),
            bytes_sent: 1000 * i as u64,
            bytes_received: 10 * i as u64,
            rtt_us: (i % 2 == 0).then_some(150 + i as u32),
            retransmits: (i % 4) as u32,
            resets: u32::from(i % 7 == 0),
            connect_ns: (i % 3 == 0).then_some(80_000),
            closed: i % 2 == 1,
        })
        .collect()
}

pub fn frame(name: &str, kernel: bool) -> Frame {
    Frame {
        function: name.to_owned(),
        module: if kernel {
            "kernel".into()
        } else {
            "/usr/bin/app".into()
        },
        kernel,
    }
}

pub fn samples(base_ns: i64) -> Vec<Sample> {
    let p = process(300, "app");
    let hot: Arc<[Frame]> = Arc::from(vec![frame("main", false), frame("hot_loop", false)]);
    let cold: Arc<[Frame]> = Arc::from(vec![frame("main", false), frame("cold_path", false)]);
    let sleep: Arc<[Frame]> = Arc::from(vec![
        frame("main", false),
        frame("nanosleep", false),
        frame("do_nanosleep", true),
    ]);
    vec![
        Sample {
            ts_ns: base_ns,
            process: Arc::clone(&p),
            tid: None,
            off_cpu: false,
            stack: Arc::clone(&hot),
            count: 70,
            blocked_ns: 0,
        },
        Sample {
            ts_ns: base_ns,
            process: Arc::clone(&p),
            tid: None,
            off_cpu: false,
            stack: cold,
            count: 30,
            blocked_ns: 0,
        },
        Sample {
            ts_ns: base_ns,
            process: Arc::clone(&p),
            tid: Some(301),
            off_cpu: true,
            stack: sleep,
            count: 100,
            blocked_ns: 1_000_000_000,
        },
        Sample {
            ts_ns: base_ns + 1_000_000_000,
            process: p,
            tid: Some(302),
            off_cpu: false,
            stack: hot,
            count: 5,
            blocked_ns: 0,
        },
    ]
}
