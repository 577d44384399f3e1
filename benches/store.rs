//! Session store benchmark (issue: session files). Run with
//!
//! ```text
//! cargo bench --bench store                       # 1M spans, then 10M for the query
//! cargo bench --bench store -- --spans 200000 --big 1000000   # a quick run
//! ```
//!
//! In one run it generates a realistic HTTP/SQL capture (spans over 10
//! minutes, 200 processes, 5,000 endpoints, 20,000 remote address:port
//! pairs, tag strings of 16–64 characters) and measures:
//!
//! 1. file bytes per span with SmartEncoding (the real `SessionWriter`)
//!    against the same rows in DuckDB with string tag columns;
//! 2. the append rate of the writer, which runs on one thread with DuckDB
//!    limited to one thread;
//! 3. at `--big` spans, the time of "top 10 endpoints by p99 latency" on the
//!    decoded view, plus the variants tried (see the README).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dflow::event::{Code, Process, Protocol, Role, Span, Status};
use dflow::store::{SessionKind, SessionMeta, SessionSet, SessionWriter};
use duckdb::arrow::array::{ArrayRef, Int64Array, StringArray, UInt32Array};
use duckdb::arrow::record_batch::RecordBatch;

/// splitmix64: deterministic, so every run measures the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A skewed pick in [0, n): a few values are hot, most are rare.
    fn skewed(&mut self, n: u64) -> u64 {
        let u = self.unit();
        ((u * u * u) * n as f64) as u64 % n
    }

    fn word(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    /// A tag string of 16–64 characters.
    fn tag(&mut self, prefix: &str) -> String {
        let len = 16 + self.below(49) as usize;
        let mut s = prefix.to_owned();
        while s.len() < len {
            s.push('/');
            let len = 3 + self.below(8) as usize;
            s.push_str(&self.word(len));
        }
        s.truncate(len);
        s
    }
}

struct World {
    processes: Vec<Arc<Process>>,
    endpoints: Vec<(Protocol, String)>,
    remotes: Vec<SocketAddr>,
    locals: Vec<SocketAddr>,
}

impl World {
    fn new(rng: &mut Rng) -> World {
        let processes = (0..200u32)
            .map(|i| {
                let comm = format!("svc{i:03}-{}", rng.word(8));
                Arc::new(Process {
                    pid: 1000 + i * 7,
                    start_ns: 5_000_000_000 + u64::from(i) * 1_000_000,
                    exe: rng.tag("/usr/local/bin"),
                    cmdline: rng.tag(&format!("{comm} --config")),
                    cgroup: rng.tag("/system.slice"),
                    container_id: (i % 3 == 0).then(|| rng.word(64)),
                    service: format!("service-{}", rng.word(12)),
                    comm,
                })
            })
            .collect();
        let endpoints = (0..5000)
            .map(|i| match i % 5 {
                0..=2 => {
                    let method = ["GET", "POST", "PUT", "DELETE"][rng.below(4) as usize];
                    (Protocol::Http1, rng.tag(&format!("{method} /api/v1")))
                }
                3 => (Protocol::Postgres, rng.tag("SELECT public.")),
                _ => (Protocol::Mysql, rng.tag("UPDATE shop.")),
            })
            .collect();
        let remotes = (0..20_000u32)
            .map(|i| {
                SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | (i / 50))),
                    20_000 + (i % 50) as u16 * 97,
                )
            })
            .collect();
        let locals = (0..200u32)
            .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, (i % 250) as u8)), 8080))
            .collect();
        World {
            processes,
            endpoints,
            remotes,
            locals,
        }
    }

    /// Span `i` of `n` spread over 10 minutes from `t0`.
    fn span(&self, rng: &mut Rng, i: u64, n: u64, t0: i64) -> Span {
        let span_every = 600_000_000_000 / n.max(1);
        let start_ns = t0 + (i * span_every) as i64 + rng.below(span_every.max(1)) as i64;
        let e = rng.skewed(self.endpoints.len() as u64) as usize;
        let (protocol, endpoint) = &self.endpoints[e];
        // Log-normal-ish latency: mostly ms, a tail to seconds.
        let duration_ns =
            (200_000.0 * (1.0 + 9.0 * rng.unit()).powf(1.0 + 3.0 * rng.unit().powi(4))) as i64;
        let roll = rng.below(100);
        let (status, code) = match (protocol, roll) {
            (Protocol::Http1, 0..=1) => (Status::ServerError, Some(Code::Num(500))),
            (Protocol::Http1, 2..=4) => (Status::ClientError, Some(Code::Num(404))),
            (Protocol::Http1, _) => (Status::Ok, Some(Code::Num(200))),
            (_, 0) => (Status::Error, Some(Code::Text("40001".into()))),
            _ => (Status::Ok, None),
        };
        let p = rng.skewed(self.processes.len() as u64) as usize;
        let process = Arc::clone(&self.processes[p]);
        let span_id = i + 1;
        let is_root = i.is_multiple_of(4);
        Span {
            start_ns,
            duration_ns,
            protocol: *protocol,
            role: if is_root { Role::Server } else { Role::Client },
            endpoint: endpoint.clone(),
            status,
            code,
            req_bytes: 200 + rng.below(2000) as u32,
            resp_bytes: 500 + rng.below(64_000) as u32,
            tid: process.pid + rng.below(16) as u32,
            local: self.locals[p],
            remote: self.remotes[rng.skewed(self.remotes.len() as u64) as usize],
            trace_id: i / 4 * 4 + 1,
            span_id,
            parent_span_id: (!is_root).then_some(i / 4 * 4 + 1),
            request: String::new(),
            response: String::new(),
            process,
        }
    }
}

const T0: i64 = 1_795_000_000_000_000_000;
const BATCH: usize = 4096;

fn generate(world: &World, seed: u64, n: u64) -> Vec<Vec<Span>> {
    let mut rng = Rng(seed);
    let mut batches = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..n {
        batch.push(world.span(&mut rng, i, n, T0));
        if batch.len() == BATCH {
            batches.push(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

fn file_bytes(path: &Path) -> u64 {
    let wal = PathBuf::from(format!("{}.wal", path.display()));
    [path.to_path_buf(), wal]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Writes through the real session writer; returns (seconds to write the
/// capture log, the log's bytes, the DuckDB file's bytes).
fn write_smart(path: &Path, batches: Vec<Vec<Span>>) -> (f64, u64, u64) {
    let writer =
        SessionWriter::create(path, SessionMeta::now(SessionKind::Trace, dflow::VERSION)).unwrap();
    let start = Instant::now();
    for batch in batches {
        writer.spans_wait(batch).unwrap();
    }
    // Written: everything is in the capture log and would survive a
    // kill -9. `finish` then converts it into DuckDB, with statistics.
    writer.flush().unwrap();
    let secs = start.elapsed().as_secs_f64();
    let log_bytes = file_bytes(path);
    let end = Instant::now();
    let summary = writer.finish(Vec::new()).unwrap();
    FINISH_SECS.with(|f| f.set(end.elapsed().as_secs_f64()));
    assert_eq!(summary.dropped, 0);
    (secs, log_bytes, file_bytes(path))
}

thread_local! {
    static FINISH_SECS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// The same rows with every tag as a string column; returns bytes.
fn write_strings(path: &Path, batches: &[Vec<Span>]) -> u64 {
    let conn = duckdb::Connection::open(path).unwrap();
    conn.execute_batch(
        "SET threads = 1;
         CREATE TABLE spans (
            start_ns BIGINT, duration_ns BIGINT, protocol VARCHAR, role VARCHAR, status VARCHAR,
            code VARCHAR, endpoint VARCHAR, pid UINTEGER, tid UINTEGER, comm VARCHAR, exe VARCHAR,
            cmdline VARCHAR, service VARCHAR, container_id VARCHAR, local VARCHAR, remote VARCHAR,
            req_bytes UINTEGER, resp_bytes UINTEGER, trace_id VARCHAR, span_id VARCHAR,
            parent_span_id VARCHAR)",
    )
    .unwrap();
    let hex = |v: u64| format!("{v:016x}");
    for batch in batches {
        let strs = |f: &dyn Fn(&Span) -> Option<String>| -> ArrayRef {
            Arc::new(batch.iter().map(f).collect::<StringArray>())
        };
        let cols: Vec<ArrayRef> = vec![
            Arc::new(batch.iter().map(|s| s.start_ns).collect::<Int64Array>()),
            Arc::new(batch.iter().map(|s| s.duration_ns).collect::<Int64Array>()),
            strs(&|s| Some(s.protocol.to_string())),
            strs(&|s| Some(s.role.to_string())),
            strs(&|s| Some(s.status.to_string())),
            strs(&|s| {
                s.code.as_ref().map(|c| match c {
                    Code::Num(n) => n.to_string(),
                    Code::Text(t) => t.clone(),
                })
            }),
            strs(&|s| Some(s.endpoint.clone())),
            Arc::new(batch.iter().map(|s| s.process.pid).collect::<UInt32Array>()),
            Arc::new(batch.iter().map(|s| s.tid).collect::<UInt32Array>()),
            strs(&|s| Some(s.process.comm.clone())),
            strs(&|s| Some(s.process.exe.clone())),
            strs(&|s| Some(s.process.cmdline.clone())),
            strs(&|s| Some(s.process.service.clone())),
            strs(&|s| s.process.container_id.clone()),
            strs(&|s| Some(s.local.to_string())),
            strs(&|s| Some(s.remote.to_string())),
            Arc::new(batch.iter().map(|s| s.req_bytes).collect::<UInt32Array>()),
            Arc::new(batch.iter().map(|s| s.resp_bytes).collect::<UInt32Array>()),
            strs(&|s| Some(hex(s.trace_id))),
            strs(&|s| Some(hex(s.span_id))),
            strs(&|s| s.parent_span_id.map(hex)),
        ];
        let rb = RecordBatch::try_from_iter(
            cols.into_iter()
                .enumerate()
                .map(|(i, c)| (format!("c{i}"), c)),
        )
        .unwrap();
        let mut app = conn.appender("spans").unwrap();
        app.append_record_batch(rb).unwrap();
        app.flush().unwrap();
    }
    conn.execute_batch("CHECKPOINT").unwrap();
    drop(conn);
    file_bytes(path)
}

/// Median wall time of `runs` runs of `sql` after one warm-up.
fn time_query(set: &SessionSet, sql: &str, runs: usize) -> (Duration, usize) {
    let rows = set.query(sql).unwrap().rows.len();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            set.query(sql).unwrap();
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[runs / 2], rows)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = arg("--spans", 1_000_000);
    let big = arg("--big", 10_000_000);
    let dir = std::env::temp_dir().join(format!("dflow-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(42);
    let world = World::new(&mut rng);

    eprintln!("generating {n} spans...");
    let batches = generate(&world, 7, n);
    let strings_path = dir.join("strings.duckdb");
    let string_bytes = write_strings(&strings_path, &batches);
    let smart_path = dir.join("smart.duckdb");
    let (secs, log_bytes, smart_bytes) = write_smart(&smart_path, batches);
    let rate = n as f64 / secs;
    let per_span = smart_bytes as f64 / n as f64;
    let string_per_span = string_bytes as f64 / n as f64;

    eprintln!("generating and writing {big} spans...");
    let big_path = dir.join("big.duckdb");
    let writer = SessionWriter::create(
        &big_path,
        SessionMeta::now(SessionKind::Trace, dflow::VERSION),
    )
    .unwrap();
    let mut rng = Rng(11);
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..big {
        batch.push(world.span(&mut rng, i, big, T0));
        if batch.len() == BATCH {
            writer
                .spans_wait(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .unwrap();
        }
    }
    writer.spans_wait(batch).unwrap();
    writer.finish(Vec::new()).unwrap();
    let big_bytes = file_bytes(&big_path);

    let set = SessionSet::open(std::slice::from_ref(&big_path)).unwrap();
    let queries = [
        (
            "endpoints_v (statistics stored at the end)",
            "SELECT endpoint, p99_ms FROM endpoints_v ORDER BY p99_ms DESC LIMIT 10",
        ),
        (
            "view, exact p99 (quantile_cont)",
            "SELECT endpoint, quantile_cont(duration_ns, 0.99) AS p99 FROM spans_v
             GROUP BY endpoint ORDER BY p99 DESC LIMIT 10",
        ),
        (
            "view, approx_quantile",
            "SELECT endpoint, approx_quantile(duration_ns, 0.99) AS p99 FROM spans_v
             GROUP BY endpoint ORDER BY p99 DESC LIMIT 10",
        ),
        (
            "table by id, exact p99, names joined after",
            "SELECT e.name AS endpoint, t.p99 FROM (
                SELECT endpoint_id, quantile_cont(duration_ns, 0.99) AS p99 FROM spans
                GROUP BY endpoint_id ORDER BY p99 DESC LIMIT 10) t
             JOIN endpoints e ON e.id = t.endpoint_id ORDER BY t.p99 DESC",
        ),
    ];
    let results: Vec<(&str, Duration, usize)> = queries
        .iter()
        .map(|(name, sql)| {
            let (t, rows) = time_query(&set, sql, 5);
            (*name, t, rows)
        })
        .collect();

    println!(
        "session store benchmark ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("  spans                          {n}");
    println!("  SmartEncoding file             {smart_bytes} bytes, {per_span:.1} bytes/span");
    println!(
        "  string tag columns file        {string_bytes} bytes, {string_per_span:.1} bytes/span"
    );
    println!(
        "  size ratio (strings / smart)   {:.1}x",
        string_bytes as f64 / smart_bytes as f64
    );
    println!(
        "  capture log (writer, 1 thread) {:.2} M spans/s ({secs:.2} s), {log_bytes} bytes, {:.1} bytes/span",
        rate / 1e6,
        log_bytes as f64 / n as f64
    );
    let finish = FINISH_SECS.with(|f| f.get());
    println!(
        "  conversion into DuckDB + stats {finish:.2} s ({:.2} M spans/s)",
        n as f64 / finish / 1e6
    );
    println!(
        "  big session                    {big} spans, {big_bytes} bytes ({:.1} bytes/span)",
        big_bytes as f64 / big as f64
    );
    for (name, t, rows) in &results {
        println!(
            "  top 10 endpoints by p99: {name:<42} {:>8.1} ms ({rows} rows, median of 5)",
            t.as_secs_f64() * 1e3
        );
    }
    if std::env::var_os("DFLOW_BENCH_KEEP").is_some() {
        eprintln!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
