//! `dflow trace` benchmark (issue: trace). Run as root with
//!
//! ```text
//! cargo bench --bench trace                   # every part (~7 minutes)
//! cargo bench --bench trace -- pipeline --record-secs 3 --replays 5
//! cargo bench --bench trace -- events --rounds 10
//! cargo bench --bench trace -- overhead --rounds 10 --secs 5
//! ```
//!
//! 1. `pipeline`: records a real capture (trace.bpf.c attached in this
//!    process, for `--record-secs`, while a C HTTP/1.1 server of its own
//!    answers keep-alive requests from 8 client threads on loopback), then
//!    replays the recorded socket events, pinned to CPU 0, through the
//!    trace pipeline (detection, framing, parsing, pairing, linking) and
//!    the session writer (its capture log), `--replays` times; reports
//!    socket events per second (the ratio the issue names "messages") and
//!    spans per second, with and without the session, and the log's
//!    conversion into DuckDB at the end.
//! 2. `overhead`: nginx (its own config in a temp dir, one worker) under
//!    `wrk -t2 -c16 --latency` for `--secs`, in `--rounds` rounds of three
//!    runs in rotating order: without dflow, with `dflow trace --comm nginx`
//!    attached, and with `dflow trace --comm dflow-nothing` (the hooks
//!    alone: both tracepoints attached and every event filtered out in the
//!    kernel). Reports the ratios of the median requests/s, the p99
//!    latencies, dflow's CPU per request and peak RSS (VmHWM) during the
//!    run, and its end (conversion, whole-life peak).
//! 3. `events`: what one socket event costs the process that makes it. A C
//!    program pinned to CPU 1 writes 64 bytes on a TCP loopback connection
//!    to itself and reads them back, 200,000 times (`benches/pingpong.c`);
//!    the time per round trip (two events) without dflow, with the hooks
//!    alone (as in `overhead`) and with `dflow trace --comm pingpong`, in
//!    `--rounds` rounds of the three in rotating order, each the median of
//!    three runs.
//!
//! Progress goes to stderr, results to stdout; `DFLOW_BENCH_KEEP=1` keeps
//! the working directory.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dflow::event::{Process, SockEvent, Span};
use dflow::probe::Filters;
use dflow::protocol::Options as ParseOptions;
use dflow::store::{SessionKind, SessionMeta, SessionWriter};
use dflow::trace::capture::{self, CaptureConfig};
use dflow::trace::pipeline::{Pipeline, PipelineConfig};

const DFLOW: &str = env!("CARGO_BIN_EXE_dflow");

/// The trace tests' HTTP/1.1 server (a thread per connection, keep-alive),
/// run with no sleep and no reports: a small 200 per request, as fast as it
/// goes. Prints its port.
const SERVER_C: &str = include_str!("../tests/common/http_server.c");

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Killed on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its workers (SIGKILL
        // would leave them running).
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------- 1. pipeline

/// Socket events of `secs` of keep-alive HTTP traffic, captured for real.
fn record(dir: &Path, secs: f64) -> Result<Vec<SockEvent>, String> {
    let server = common::build_c(dir, "server", SERVER_C, &[])?;
    let mut child = Command::new(&server)
        .arg("0")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let port: u16 = line.trim().parse().map_err(|_| "no port".to_owned())?;
    let guard = Guard(child);
    let (probe, rx) = capture::start(&CaptureConfig {
        filters: Filters {
            pids: vec![guard.0.id()],
            ..Filters::default()
        },
        snaplen: 1024,
        exclude_pid: 0,
    })
    .map_err(|e| dflow::error_chain(&e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut buf = [0u8; 256];
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let req = format!("GET /users/{i}{n} HTTP/1.1\r\nHost: bench\r\n\r\n");
                    conn.write_all(req.as_bytes()).unwrap();
                    let mut got = 0;
                    while got < 43 {
                        got += conn.read(&mut buf[got..]).unwrap();
                    }
                    n += 1;
                }
            })
        })
        .collect();
    let mut events = Vec::new();
    let until = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < until {
        if let Ok(batch) = rx.recv_timeout(Duration::from_millis(50)) {
            events.extend(batch);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    let counters = probe.finish().map_err(|e| dflow::error_chain(&e))?;
    events.extend(rx.try_iter().flatten());
    eprintln!(
        "    recorded {} socket events ({} lost in the kernel)",
        events.len(),
        counters.lost
    );
    Ok(events)
}

fn pin_to_cpu0() {
    // SAFETY: a zeroed cpu_set_t with one bit set, for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// One replay of `events`; returns (seconds, spans, seconds the session's
/// conversion into DuckDB took after it).
fn replay(events: &[SockEvent], session: Option<&Path>) -> Result<(f64, usize, f64), String> {
    let process = Arc::new(Process::bare(1, "server"));
    let writer = match session {
        Some(path) => Some(
            SessionWriter::create(path, SessionMeta::now(SessionKind::Trace, dflow::VERSION))
                .map_err(|e| dflow::error_chain(&e))?,
        ),
        None => None,
    };
    let started = Instant::now();
    let mut pipeline = Pipeline::new(
        PipelineConfig {
            protocols: Vec::new(),
            options: ParseOptions::default(),
            epoch_offset_ns: 0,
        },
        Box::new(move |_, _| Arc::clone(&process)),
    );
    let mut spans: Vec<Span> = Vec::new();
    let mut total = 0;
    for chunk in events.chunks(4096) {
        for e in chunk {
            pipeline.feed(e);
        }
        let now = chunk.last().map_or(0, |e| e.exit_ns);
        pipeline.tick(now, &mut spans);
        total += spans.len();
        if let Some(w) = &writer {
            w.spans_wait(std::mem::take(&mut spans))
                .map_err(|e| dflow::error_chain(&e))?;
        } else {
            spans.clear();
        }
    }
    pipeline.flush(&mut spans);
    total += spans.len();
    if let Some(w) = writer {
        w.spans_wait(spans).map_err(|e| dflow::error_chain(&e))?;
        w.flush().map_err(|e| dflow::error_chain(&e))?;
        let secs = started.elapsed().as_secs_f64();
        let converting = Instant::now();
        w.finish(Vec::new()).map_err(|e| dflow::error_chain(&e))?;
        return Ok((secs, total, converting.elapsed().as_secs_f64()));
    }
    Ok((started.elapsed().as_secs_f64(), total, 0.0))
}

fn pipeline(dir: &Path, opts: &Options) -> Result<Vec<String>, String> {
    let events = record(dir, opts.record_secs)?;
    if events.is_empty() {
        return Err("the capture recorded nothing".to_owned());
    }
    // On a thread of its own, pinned (with the session writer it starts),
    // so the parts after this one are not pinned too.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                pin_to_cpu0();
                replays(dir, opts, &events)
            })
            .join()
            .map_err(|_| "the replay thread panicked".to_owned())?
    })
}

fn replays(dir: &Path, opts: &Options, events: &[SockEvent]) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    for with_session in [false, true] {
        let mut rates = Vec::new();
        let mut conversions = Vec::new();
        let mut spans = 0;
        for i in 0..opts.replays {
            let path = dir.join(format!("replay-{i}.duckdb"));
            let (secs, n, converting) = replay(events, with_session.then_some(path.as_path()))?;
            let _ = std::fs::remove_file(&path);
            rates.push(events.len() as f64 / secs);
            conversions.push(converting);
            spans = n;
            eprintln!(
                "    replay {i} {}: {:.3} s",
                if with_session {
                    "with session"
                } else {
                    "pipeline only"
                },
                secs
            );
        }
        let events_per_s = median(&mut rates);
        let spans_per_s = events_per_s * spans as f64 / events.len() as f64;
        let what = if with_session {
            "pipeline + session log"
        } else {
            "pipeline alone"
        };
        lines.push(format!(
            "{what}: {:.2} M events/s, {:.2} M spans/s on one core (median of {}; {} events → {} spans){}",
            events_per_s / 1e6,
            spans_per_s / 1e6,
            opts.replays,
            events.len(),
            spans,
            if with_session {
                let converting = median(&mut conversions);
                format!(
                    " — target ≥ 1 M/s: {}; then converted into DuckDB in {converting:.2} s \
                     ({:.2} M spans/s), {:.2} M events/s counting the conversion",
                    if events_per_s >= 1e6 { "met" } else { "NOT met" },
                    spans as f64 / converting / 1e6,
                    events.len() as f64 / (events.len() as f64 / events_per_s + converting) / 1e6,
                )
            } else {
                String::new()
            }
        ));
    }
    Ok(lines)
}

// ---------------------------------------------------------------- 2. overhead

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_nginx(dir: &Path) -> Result<(Guard, u16), String> {
    let port = free_port();
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).map_err(|e| e.to_string())?;
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes 1;\nerror_log stderr error;\npid {}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off;\n  client_body_temp_path {p}/tmp;\n  proxy_temp_path {p}/tmp;\n  fastcgi_temp_path {p}/tmp;\n  uwsgi_temp_path {p}/tmp;\n  scgi_temp_path {p}/tmp;\n\
             server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"hello\\n\"; }} }} }}\n",
            prefix.display(),
            p = prefix.display(),
        ),
    )
    .map_err(|e| e.to_string())?;
    let child = Command::new("nginx")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("nginx (apt-get install nginx): {e}"))?;
    let guard = Guard(child);
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((guard, port));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err("nginx did not start".to_owned())
}

/// Requests/s and p99 latency (ms) of one wrk run.
fn wrk(port: u16, secs: f64) -> Result<(f64, f64), String> {
    let out = Command::new("wrk")
        .args(["-t2", "-c16", "--latency"])
        .arg(format!("-d{}s", secs.round().max(1.0)))
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .map_err(|e| format!("wrk (apt-get install wrk): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Requests/sec in {text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(str::trim)
        .and_then(duration_ms)
        .ok_or_else(|| format!("no 99% latency in {text}"))?;
    Ok((rps, p99))
}

/// wrk's `1.23ms`, `456.00us`, `1.02s`.
fn duration_ms(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1e3,
        "ms" => n,
        "s" => n * 1e3,
        _ => return None,
    })
}

/// `dflow trace --comm COMM`, running until dropped; its peak RSS.
struct Tracer {
    child: Guard,
}

/// What runs beside nginx in one run of the overhead part.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Arm {
    Alone,
    Traced,
    /// `dflow trace` selecting no process: what attaching its programs to
    /// the two socket tracepoints costs nginx and wrk before any work.
    Hooks,
}

/// A comm no process has: the [`Arm::Hooks`] filter.
const NO_COMM: &str = "dflow-nothing";

/// Arms in the order of round `round`: rotating, so that drift hits each
/// alike.
fn rotated(round: usize) -> impl Iterator<Item = Arm> {
    const ARMS: [Arm; 3] = [Arm::Alone, Arm::Traced, Arm::Hooks];
    (0..ARMS.len()).map(move |k| ARMS[(round + k) % ARMS.len()])
}

impl Tracer {
    fn start(comm: &str, session: &Path) -> Result<Tracer, String> {
        let mut child = Command::new(DFLOW)
            .args(["trace", "--json", "--comm", comm, "--session"])
            .arg(session)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.starts_with("dflow: tracing") {
            line.clear();
            if err.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("dflow trace exited before tracing".to_owned());
            }
        }
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
        });
        Ok(Tracer {
            child: Guard(child),
        })
    }

    /// VmHWM in bytes.
    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.0.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// CPU seconds (user + system) so far.
    fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.0.id()))
            .unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime is
        // the 12th, stime the 13th.
        let rest = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        (ticks(11) + ticks(12)) / hz
    }

    /// Stops the capture; how long its end took (the session's conversion
    /// into DuckDB) and its peak RSS over its whole life, in bytes: VmHWM
    /// read until it exits (`ru_maxrss` would count the pages this process
    /// had when it forked the child).
    fn stop(mut self) -> (f64, u64) {
        let stopping = Instant::now();
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.0.id() as i32, libc::SIGINT) };
        let mut peak = 0;
        while matches!(self.child.0.try_wait(), Ok(None)) {
            peak = peak.max(self.peak_rss());
            std::thread::sleep(Duration::from_millis(2));
        }
        (stopping.elapsed().as_secs_f64(), peak)
    }
}

fn overhead(dir: &Path, opts: &Options) -> Result<Vec<String>, String> {
    let (_nginx, port) = start_nginx(dir)?;
    // Warm up nginx and the page cache.
    wrk(port, 1.0)?;
    let (mut alone, mut traced, mut hooks) = (Vec::new(), Vec::new(), Vec::new());
    let (mut p99_alone, mut p99_traced) = (Vec::new(), Vec::new());
    let mut rss: u64 = 0;
    let (mut rss_life, mut ends) = (0u64, Vec::new());
    let mut cpu_per_request = Vec::new();
    for round in 0..opts.rounds {
        for arm in rotated(round) {
            if arm == Arm::Alone {
                let (rps, p99) = wrk(port, opts.secs)?;
                alone.push(rps);
                p99_alone.push(p99);
                eprintln!("    round {round} without dflow: {rps:.0} req/s, p99 {p99:.3} ms");
                continue;
            }
            let session = dir.join(format!("overhead-{round}-{arm:?}.duckdb"));
            let comm = if arm == Arm::Traced { "nginx" } else { NO_COMM };
            let tracer = Tracer::start(comm, &session)?;
            let cpu_before = tracer.cpu_secs();
            let (rps, p99) = wrk(port, opts.secs)?;
            let cpu = tracer.cpu_secs() - cpu_before;
            let peak = tracer.peak_rss();
            let (end_secs, life_peak) = tracer.stop();
            let _ = std::fs::remove_file(&session);
            if arm == Arm::Hooks {
                hooks.push(rps);
                eprintln!("    round {round} hooks alone:   {rps:.0} req/s, p99 {p99:.3} ms");
                continue;
            }
            cpu_per_request.push(cpu / (rps * opts.secs.round().max(1.0)) * 1e6);
            rss = rss.max(peak);
            rss_life = rss_life.max(life_peak);
            ends.push(end_secs);
            traced.push(rps);
            p99_traced.push(p99);
            eprintln!("    round {round} with dflow:    {rps:.0} req/s, p99 {p99:.3} ms");
        }
    }
    let per_round = |arm: &[f64]| {
        let mut r: Vec<f64> = arm.iter().zip(&alone).map(|(x, a)| x / a).collect();
        median(&mut r)
    };
    let (round_traced, round_hooks) = (per_round(&traced), per_round(&hooks));
    let (a, t, h) = (median(&mut alone), median(&mut traced), median(&mut hooks));
    let ratio = t / a;
    let (pa, pt) = (median(&mut p99_alone), median(&mut p99_traced));
    Ok(vec![
        format!(
            "overhead: nginx req/s with dflow trace ÷ without = {ratio:.3} (medians {t:.0} / {a:.0}; per-round median {round_traced:.3}; {} rounds of {} s) — target ≥ 0.95: {}",
            opts.rounds,
            opts.secs,
            if ratio >= 0.95 { "met" } else { "NOT met" }
        ),
        format!(
            "the hooks alone (dflow trace --comm {NO_COMM}: every event filtered out in the kernel) ÷ without = {:.3} (median {h:.0}; per-round median {round_hooks:.3}); tracing ÷ hooks alone = {:.3}",
            h / a,
            t / h
        ),
        format!(
            "p99 latency: {pt:.3} ms with dflow, {pa:.3} ms without (+{:.3} ms)",
            pt - pa
        ),
        format!(
            "dflow's CPU per traced request: {:.2} µs (user + system, median; 2 socket events, a span, its JSON line and its session row)",
            median(&mut cpu_per_request)
        ),
        format!(
            "dflow trace peak RSS during the run: {:.1} MB — target ≤ 64 MB: {}",
            rss as f64 / 1e6,
            if rss <= 64_000_000 { "met" } else { "NOT met" }
        ),
        format!(
            "at its end: the session converted into DuckDB in {:.2} s (median), peak RSS over its whole life {:.1} MB",
            median(&mut ends),
            rss_life as f64 / 1e6
        ),
    ])
}

// ---------------------------------------------------------------- 3. events

const PINGPONG_C: &str = include_str!("pingpong.c");

/// Round trips per run of the ping-pong program.
const ROUND_TRIPS: u32 = 200_000;

/// Nanoseconds per round trip of `pingpong`, pinned to CPU 1: the median of
/// three runs.
fn pingpong(bin: &Path) -> Result<f64, String> {
    let mut runs = Vec::new();
    for _ in 0..3 {
        let out = Command::new("taskset")
            .args(["-c", "1"])
            .arg(bin)
            .arg(ROUND_TRIPS.to_string())
            .output()
            .map_err(|e| format!("taskset: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        runs.push(text.trim().parse::<f64>().map_err(|_| {
            format!(
                "pingpong printed {text:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?);
    }
    Ok(median(&mut runs))
}

fn events(dir: &Path, opts: &Options) -> Result<Vec<String>, String> {
    let bin = common::build_c(dir, "pingpong", PINGPONG_C, &[])?;
    pingpong(&bin)?; // warm up
    let (mut added_hooks, mut added_traced) = (Vec::new(), Vec::new());
    let mut alone = Vec::new();
    for round in 0..opts.rounds {
        let mut times = [0.0; 3];
        for arm in rotated(round) {
            let session = dir.join(format!("events-{round}-{arm:?}.duckdb"));
            let tracer = match arm {
                Arm::Alone => None,
                Arm::Traced => Some(Tracer::start("pingpong", &session)?),
                Arm::Hooks => Some(Tracer::start(NO_COMM, &session)?),
            };
            times[arm as usize] = pingpong(&bin)?;
            if let Some(tracer) = tracer {
                tracer.stop();
                let _ = std::fs::remove_file(&session);
            }
        }
        let [a, t, h] = times;
        eprintln!("    round {round}: {a:.0} ns alone, {h:.0} with the hooks, {t:.0} traced");
        alone.push(a);
        added_hooks.push(h - a);
        added_traced.push(t - a);
    }
    let (h, t) = (median(&mut added_hooks), median(&mut added_traced));
    Ok(vec![format!(
        "events: a 64-byte send and receive on loopback take {:.0} ns; the hooks alone add {h:.0} ns ({:.0} per event), tracing both adds {t:.0} ns ({:.0} per event; medians of {} rounds)",
        median(&mut alone),
        h / 2.0,
        t / 2.0,
        opts.rounds
    )])
}

// ---------------------------------------------------------------- main

struct Options {
    parts: Vec<String>,
    record_secs: f64,
    replays: usize,
    rounds: usize,
    secs: f64,
}

const PARTS: [&str; 3] = ["pipeline", "events", "overhead"];

fn options() -> Options {
    let mut opts = Options {
        parts: Vec::new(),
        record_secs: 3.0,
        replays: 5,
        rounds: 10,
        secs: 5.0,
    };
    let flags = ["--record-secs", "--replays", "--rounds", "--secs"];
    opts.parts = common::parse_args(&PARTS, &flags, |flag, value| match flag {
        "--record-secs" => opts.record_secs = value,
        "--replays" => opts.replays = value as usize,
        "--rounds" => opts.rounds = value as usize,
        _ => opts.secs = value,
    });
    opts
}

fn main() {
    let opts = options();
    println!(
        "dflow trace benchmark ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("  skipped every part: not root (dflow trace loads eBPF programs)");
        return;
    }
    common::run_parts("trace", &opts.parts, |part, dir| match part {
        "pipeline" => pipeline(dir, &opts),
        "events" => events(dir, &opts),
        _ => overhead(dir, &opts),
    });
}
