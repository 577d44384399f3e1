//! `dflow profile` benchmark (issue: profile). Run as root with
//!
//! ```text
//! cargo bench --bench profile                       # every part (~10 minutes)
//! cargo bench --bench profile -- overhead start postproc
//! cargo bench --bench profile -- postproc --postproc-secs 10 --postproc-runs 1   # quicker
//! ```
//!
//! It runs the release `dflow` binary cargo built next to it on small C
//! programs it compiles with `cc`, and measures, each against a baseline
//! taken in the same run (the machine this was written on is shared and
//! noisy, so runs alternate and medians are compared):
//!
//! 1. `overhead`: the wall time of a single-threaded CPU-bound loop pinned to
//!    CPU 0, with `dflow profile -p PID -F 99` (and 999) attached and
//!    without, alternating; the ratio of the medians. Two references run in
//!    the same rotation: dflow profiling another (idle) process, and
//!    `perf record -g -p PID` at the same rate;
//! 2. `start`: spawn to the `dflow: sampling` line; exit after `q` in the
//!    terminal view (under a pseudo-terminal); exit after SIGINT without it;
//! 3. `postproc`: a two-threaded workload with stacks 10–20 frames deep and
//!    a few thousand distinct stacks, sampled at 20 kHz for long enough for
//!    about 1M samples: dflow's time from SIGINT to exit (the SVG written) against
//!    `perf script | inferno-collapse-perf | inferno-flamegraph` on a
//!    `perf record` of the same length.
//!
//! Options: `--pairs N` (overhead rounds, 10), `--work-secs S` (overhead loop, 2),
//! `--runs N` (start, 10), `--tui-runs N` (5), `--postproc-samples N`
//! (1000000: the sampling time is set from the CPU share the workload gets,
//! 5–90 s), `--postproc-secs S` (instead), `--postproc-runs N` (3). Progress goes to stderr, results to stdout;
//! `DFLOW_BENCH_KEEP=1` keeps the working directory.

mod common;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const DFLOW: &str = env!("CARGO_BIN_EXE_dflow");
const PERF: &str = "/usr/bin/perf";
const SAMPLING: &str = "dflow: sampling";

/// The overhead workload: after a line on stdin, a fixed number of rounds
/// of a dependent xorshift chain (pure ALU work, no memory traffic), timed
/// by the program itself and printed as `seconds checksum`.
const BURN_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long long n = argc > 1 ? strtoull(argv[1], 0, 10) : 1000000000ull;
	unsigned long long x = 88172645463325252ull;
	char go[64];
	if (!fgets(go, sizeof go, stdin))
		return 1;
	double t0 = now();
	for (unsigned long long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	printf("%.9f %llu\n", now() - t0, x);
	fflush(stdout);
	return 0;
}
"#;

/// The post-processing workload: after a line on stdin, two threads (main
/// and one more) call through six mid-level functions, chosen per level
/// from one of 400 patterns, 6–16 levels deep, down to one of four leaves
/// that do the work. That is ~800 distinct leaf stacks of 10–20 frames
/// (two thread roots), plus the rarer samples inside the mid levels.
const DEEP_C: &str = r#"
#include <pthread.h>
#include <stdio.h>

typedef unsigned long long u64;
typedef u64 (*step_fn)(u64, unsigned, unsigned);
typedef u64 (*leaf_fn)(u64);

#define PATTERNS 400
static volatile u64 sink;

#define LEAF(name, rounds, mul)                                           \
	u64 name(u64 x);                                                  \
	__attribute__((noinline)) u64 name(u64 x)                         \
	{                                                                 \
		for (int i = 0; i < rounds; i++)                          \
			x = x * mul + 1442695040888963407ull;             \
		return x;                                                 \
	}
LEAF(checksum_block, 12000, 6364136223846793005ull)
LEAF(compress_chunk, 24000, 2862933555777941757ull)
LEAF(hash_key, 6000, 3202034522624059733ull)
LEAF(encode_row, 18000, 3935559000370003845ull)

#define STEP_DECL(name) u64 name(u64 x, unsigned p, unsigned d);
STEP_DECL(handle_request) STEP_DECL(route) STEP_DECL(parse_query)
STEP_DECL(plan_query) STEP_DECL(execute_plan) STEP_DECL(render_page)

static const step_fn steps[6] = { handle_request, route, parse_query,
				  plan_query, execute_plan, render_page };
static const leaf_fn leaves[4] = { checksum_block, compress_chunk, hash_key,
				   encode_row };

static inline unsigned pick(unsigned pattern, unsigned depth, unsigned n)
{
	unsigned h = pattern * 2654435761u ^ depth * 40503u;
	h ^= h >> 13;
	h *= 0x5bd1e995u;
	h ^= h >> 15;
	return h % n;
}

static inline __attribute__((always_inline)) u64 next(u64 x, unsigned p, unsigned d)
{
	if (d == 0)
		return leaves[pick(p, 99, 4)](x);
	return steps[pick(p, d, 6)](x, p, d - 1);
}

/* "+ 1" after the call: no tail call, so every level keeps its frame. */
#define STEP(name)                                                        \
	__attribute__((noinline)) u64 name(u64 x, unsigned p, unsigned d) \
	{                                                                 \
		return next(x ^ d, p, d) + 1;                             \
	}
STEP(handle_request) STEP(route) STEP(parse_query)
STEP(plan_query) STEP(execute_plan) STEP(render_page)

void *worker(void *arg);
__attribute__((noinline)) void *worker(void *arg)
{
	unsigned t = (unsigned)(unsigned long)arg;
	u64 x = t + 1;
	for (unsigned long i = 0;; i++) {
		unsigned p = (unsigned)((i * 7919 + t * 104729) % PATTERNS);
		x = next(x, p, 6 + p % 11);
		sink = x;
	}
	return 0;
}

int main(void)
{
	char go[64];
	pthread_t thread;
	if (!fgets(go, sizeof go, stdin))
		return 1;
	pthread_create(&thread, 0, worker, (void *)1ul);
	worker(0);
	return 0;
}
"#;

// ---------------------------------------------------------------- helpers

/// Median, min and max of a set of measurements.
#[derive(Clone, Copy)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
    n: usize,
}

fn stats(values: &[f64]) -> Stats {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Stats {
        median,
        min: v.first().copied().unwrap_or(f64::NAN),
        max: v.last().copied().unwrap_or(f64::NAN),
        n,
    }
}

impl Stats {
    /// `median 1.234 (min 1.2, max 1.3; n=10)` with `scale` and `unit`.
    fn show(&self, scale: f64, unit: &str, digits: usize) -> String {
        format!(
            "median {:.d$}{unit} (min {:.d$}, max {:.d$}; n={})",
            self.median * scale,
            self.min * scale,
            self.max * scale,
            self.n,
            d = digits
        )
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a pid this process spawned and has not reaped.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// Has the child get `sig` when the benchmark exits, so that a killed
/// benchmark leaves no busy loop pinned to a CPU behind.
fn die_with_parent(command: &mut Command, sig: libc::c_int) {
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// How a waited-for process ended.
struct Exit {
    at: Instant,
    /// The exit code, or minus the signal that killed it.
    code: i32,
    /// User + system CPU time of the process and its waited-for children.
    cpu: Duration,
}

/// Waits for `pid` with wait4, polling every millisecond (so exit times
/// are at most 1 ms late); kills it after `timeout`.
fn wait_exit(pid: u32, timeout: Duration) -> Option<Exit> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut status = 0;
        // SAFETY: plain libc call with valid pointers.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut usage) };
        let at = Instant::now();
        if rc == pid as libc::pid_t {
            let tv = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
            };
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -libc::WTERMSIG(status)
            };
            return Some(Exit {
                at,
                code,
                cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
            });
        }
        if rc < 0 {
            return None;
        }
        if at >= deadline {
            signal(pid, libc::SIGKILL);
            // SAFETY: reaps the child just killed.
            unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A process whose stderr lines are read by a thread and timestamped.
struct Running {
    child: Child,
    lines: Receiver<(Instant, String)>,
    seen: Vec<String>,
}

impl Running {
    fn spawn(program: &str, args: &[String]) -> io::Result<Running> {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // A clean stop (SIGINT) if the benchmark itself is killed.
        die_with_parent(&mut command, libc::SIGINT);
        let mut child = command.spawn()?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(Running {
            child,
            lines,
            seen: Vec::new(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When the first line starting with `prefix` was read, if within `timeout`.
    fn wait_for(&mut self, prefix: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => {
                    let hit = line.starts_with(prefix);
                    self.seen.push(line);
                    if hit {
                        return Some(at);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Every stderr line, once the process has exited (the pipe closes).
    fn all_lines(&mut self) -> &[String] {
        while let Ok((_, line)) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Stops it if it is still running (after a failed measurement).
    fn kill(&mut self) {
        signal(self.pid(), libc::SIGKILL);
        let _ = wait_exit(self.pid(), Duration::from_secs(5));
    }
}

fn dflow_args(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// The `N` of dflow's `dflow: N samples at ...` summary line.
fn dflow_samples(lines: &[String]) -> Option<u64> {
    lines.iter().find_map(|l| {
        l.strip_prefix("dflow: ")?
            .split_once(" samples at ")?
            .0
            .parse()
            .ok()
    })
}

fn summary_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains(" samples at ") || l.contains("truncated"))
        .cloned()
        .collect()
}

/// A workload process waiting for its "go" line.
struct Workload {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Workload {
    /// Spawns `program args`, pinned to `cpu` if given (what `taskset -c`
    /// does, without depending on it).
    fn spawn(program: &Path, args: &[String], cpu: Option<usize>) -> io::Result<Workload> {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // The start part's target never ends by itself.
        die_with_parent(&mut command, libc::SIGKILL);
        if let Some(cpu) = cpu {
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu, &mut set);
                    if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Workload {
            child,
            stdin,
            stdout,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn go(&mut self) {
        self.stdin.write_all(b"go\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The seconds the burn loop reported.
    fn result_secs(&mut self) -> f64 {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let secs = line.split_whitespace().next().and_then(|s| s.parse().ok());
        self.child.wait().unwrap();
        secs.unwrap_or_else(|| panic!("the workload printed {line:?}"))
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn max_sample_rate() -> String {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate")
        .map_or_else(|_| "?".to_owned(), |s| s.trim().to_owned())
}

// ---------------------------------------------------------------- 1. overhead

/// What runs beside the overhead workload.
#[derive(Clone, Copy, PartialEq)]
enum Arm {
    /// Nothing: the baseline.
    Alone,
    /// `dflow profile -p WORKLOAD`: what is measured.
    Dflow,
    /// Reference: `dflow profile -p` of another, idle process. dflow's
    /// cpu-clock events are per CPU for all processes, filtered by pid in
    /// the kernel, so this shows what the sampling costs a process that is
    /// not a target.
    DflowElsewhere,
    /// Reference: `perf record -e cpu-clock -g -p WORKLOAD` at the same rate.
    Perf,
}

impl Arm {
    fn label(self) -> &'static str {
        match self {
            Arm::Alone => "without dflow     ",
            Arm::Dflow => "with dflow        ",
            Arm::DflowElsewhere => "dflow -p OTHER    ",
            Arm::Perf => "perf record -g -p ",
        }
    }
}

/// One run of the overhead workload beside `arm` at `hz`; returns the
/// loop's seconds, and dflow's sample count and CPU seconds.
fn overhead_run(
    dir: &Path,
    burn: &Path,
    rounds: u64,
    arm: Arm,
    hz: u32,
) -> Result<(f64, Option<u64>, f64), String> {
    let mut work = Workload::spawn(burn, &[rounds.to_string()], Some(0)).unwrap();
    // Never told to go: an idle process for DflowElsewhere to target.
    let idle = (arm == Arm::DflowElsewhere)
        .then(|| Workload::spawn(burn, &["1".to_owned()], None).unwrap());
    let target = idle.as_ref().map_or(work.pid(), Workload::pid).to_string();
    let hz = hz.to_string();
    let mut beside = match arm {
        Arm::Alone => None,
        Arm::Dflow | Arm::DflowElsewhere => {
            let args = dflow_args(&[
                "profile",
                "-p",
                &target,
                "-F",
                &hz,
                "--no-tui",
                "--no-session",
            ]);
            let mut d =
                Running::spawn(DFLOW, &args).map_err(|e| format!("cannot run dflow: {e}"))?;
            if d.wait_for(SAMPLING, Duration::from_secs(30)).is_none() {
                d.kill();
                work.stop();
                return Err(format!("dflow did not start sampling: {:?}", d.all_lines()));
            }
            Some(d)
        }
        Arm::Perf => {
            let data = dir.join("overhead.data").display().to_string();
            let args = dflow_args(&[
                "record",
                "-F",
                &hz,
                "-e",
                "cpu-clock",
                "-g",
                "-p",
                &target,
                "-o",
                &data,
            ]);
            let p = Running::spawn(PERF, &args).map_err(|e| format!("cannot run perf: {e}"))?;
            // perf says nothing once attached; it takes a few ms.
            std::thread::sleep(Duration::from_millis(300));
            Some(p)
        }
    };
    work.go();
    let secs = work.result_secs();
    let (mut samples, mut cpu) = (None, 0.0);
    if let Some(d) = &mut beside {
        // dflow and perf stop on their own once their target is gone.
        if let Some(idle) = idle {
            idle.stop();
        }
        let exit = wait_exit(d.pid(), Duration::from_secs(30));
        let lines = d.all_lines().to_vec();
        match exit {
            Some(e) if e.code == 0 => {
                samples = dflow_samples(&lines).or_else(|| perf_record_samples(&lines));
                cpu = e.cpu.as_secs_f64();
            }
            Some(e) => return Err(format!("{} exited with {}: {lines:?}", arm.label(), e.code)),
            None => {
                return Err(format!(
                    "{} did not exit after its target: {lines:?}",
                    arm.label()
                ));
            }
        }
    }
    Ok((secs, samples, cpu))
}

fn overhead(dir: &Path, opts: &Options) -> Result<Vec<String>, String> {
    let burn = common::build_c(dir, "burn", BURN_C, &[])?;
    // Calibrate the fixed round count to about --work-secs.
    let probe_rounds = 300_000_000u64;
    let (secs, _, _) = overhead_run(dir, &burn, probe_rounds, Arm::Alone, 99)?;
    let rounds = (probe_rounds as f64 * opts.work_secs / secs) as u64;
    eprintln!(
        "overhead: {rounds} rounds ≈ {:.1} s per run",
        opts.work_secs
    );
    let mut arms = vec![Arm::Alone, Arm::Dflow, Arm::DflowElsewhere];
    match perf_problem(dir) {
        None => arms.push(Arm::Perf),
        Some(why) => eprintln!("overhead: no perf reference: {why}"),
    }
    let mut out = Vec::new();
    for hz in [99u32, 999] {
        eprintln!(
            "overhead at {hz} Hz: {} rounds of {} alternating runs...",
            opts.pairs,
            arms.len()
        );
        overhead_run(dir, &burn, rounds, Arm::Dflow, hz)?; // warm-up: page cache, BTF
        let mut secs = vec![Vec::new(); arms.len()];
        let mut ratios = vec![Vec::new(); arms.len()];
        let (mut samples, mut cpu) = (Vec::new(), Vec::new());
        for i in 0..opts.pairs {
            // Each round starts with the next arm: A B C D, B C D A, ...
            let mut round = vec![0.0; arms.len()];
            for k in 0..arms.len() {
                let a = (i + k) % arms.len();
                let (s, n, used) = overhead_run(dir, &burn, rounds, arms[a], hz)?;
                round[a] = s;
                if arms[a] == Arm::Dflow {
                    samples.extend(n);
                    cpu.push(used);
                }
            }
            let line: Vec<String> = arms
                .iter()
                .zip(&round)
                .map(|(arm, s)| format!("{} {s:.4} s", arm.label().trim()))
                .collect();
            eprintln!("  round {i}: {}", line.join(", "));
            for (a, s) in round.iter().enumerate() {
                secs[a].push(*s);
                ratios[a].push(s / round[0]);
            }
        }
        let alone = stats(&secs[0]);
        let ratio = stats(&secs[1]).median / alone.median;
        let target = if hz == 99 {
            format!("target ≤ 1.005: {}", verdict(ratio <= 1.005))
        } else {
            "no target".to_owned()
        };
        out.push(format!(
            "overhead at {hz} Hz: {ratio:.4}x wall time (median with dflow / median without; {target})"
        ));
        for (a, arm) in arms.iter().enumerate() {
            let s = stats(&secs[a]);
            let mut line = format!("    {} {}", arm.label(), s.show(1.0, " s", 4));
            if a > 0 {
                line.push_str(&format!(
                    "; ratio {:.4}, per-round ratios {}",
                    s.median / alone.median,
                    stats(&ratios[a]).show(1.0, "", 4)
                ));
            }
            out.push(line);
        }
        let s = stats(&samples.iter().map(|&n| n as f64).collect::<Vec<_>>());
        out.push(format!(
            "    dflow's samples    {} per run (one thread pinned to CPU 0; dflow not pinned)",
            s.show(1.0, "", 0)
        ));
        out.push(format!(
            "    dflow's own CPU    {} per run (start to exit)",
            stats(&cpu).show(1e3, " ms", 1)
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------- 2. start and exit

/// A pseudo-terminal of 120×40.
struct Pty {
    master: File,
    slave: File,
}

fn open_pty() -> io::Result<Pty> {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors; null name, termios and size.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let size = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: both descriptors were just opened and are owned below.
    unsafe {
        libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(slave, libc::F_SETFD, libc::FD_CLOEXEC);
        if libc::ioctl(master, libc::TIOCSWINSZ, &size) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Pty {
            master: File::from_raw_fd(master),
            slave: File::from_raw_fd(slave),
        })
    }
}

/// dflow's terminal view under a pseudo-terminal: the time from `q` to
/// its exit, and the bytes it had drawn before.
fn tui_quit(target: u32, session: Option<&Path>) -> Result<(f64, usize), String> {
    let pty = open_pty().map_err(|e| format!("cannot open a pseudo-terminal: {e}"))?;
    let stdio = || -> Result<Stdio, String> {
        Ok(Stdio::from(
            pty.slave.try_clone().map_err(|e| e.to_string())?,
        ))
    };
    let mut args = vec!["profile".to_owned(), "-p".to_owned(), target.to_string()];
    match session {
        Some(path) => args.extend(["--session".to_owned(), path.display().to_string()]),
        None => args.push("--no-session".to_owned()),
    }
    let mut command = Command::new(DFLOW);
    command
        .args(&args)
        .env("TERM", "xterm-256color")
        .stdin(stdio()?)
        .stdout(stdio()?)
        .stderr(stdio()?);
    // SAFETY: setsid and ioctl are async-signal-safe; stdio is in place
    // when pre_exec runs, so fd 0 is the slave.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    die_with_parent(&mut command, libc::SIGINT);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot run dflow: {e}"))?;
    let pid = child.id();
    drop(command);
    let Pty { mut master, slave } = pty;
    drop(slave);
    // Keep reading the master so dflow never blocks on output.
    let drawn = Arc::new(AtomicUsize::new(0));
    let mut reader = master.try_clone().map_err(|e| e.to_string())?;
    let counter = Arc::clone(&drawn);
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        // EIO once the last slave descriptor closes.
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    });
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500)
        || (drawn.load(Ordering::Relaxed) == 0 && started.elapsed() < Duration::from_secs(20))
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = drawn.load(Ordering::Relaxed);
    master.write_all(b"q").map_err(|e| e.to_string())?;
    let sent = Instant::now();
    let exit = wait_exit(pid, Duration::from_secs(30));
    drop(master);
    let _ = thread.join();
    match exit {
        Some(e) if e.code == 0 => Ok(((e.at - sent).as_secs_f64(), before)),
        Some(e) => Err(format!("dflow's terminal view exited with {}", e.code)),
        None => Err("dflow's terminal view did not exit within 30 s of q".to_owned()),
    }
}

/// One `--no-tui` run: (spawn → sampling line, SIGINT → exit) in seconds.
fn start_run(target: u32) -> Result<(f64, f64), String> {
    let args = dflow_args(&[
        "profile",
        "--no-tui",
        "--no-session",
        "-p",
        &target.to_string(),
    ]);
    let spawned = Instant::now();
    let mut d = Running::spawn(DFLOW, &args).map_err(|e| format!("cannot run dflow: {e}"))?;
    let Some(at) = d.wait_for(SAMPLING, Duration::from_secs(30)) else {
        d.kill();
        return Err(format!("dflow did not start sampling: {:?}", d.all_lines()));
    };
    let start = (at - spawned).as_secs_f64();
    // A second of samples, so the exit has something to read and symbolize.
    std::thread::sleep(Duration::from_secs(1));
    signal(d.pid(), libc::SIGINT);
    let sent = Instant::now();
    match wait_exit(d.pid(), Duration::from_secs(30)) {
        Some(e) if e.code == 0 => Ok((start, (e.at - sent).as_secs_f64())),
        Some(e) => Err(format!("dflow exited with {}: {:?}", e.code, d.all_lines())),
        None => Err("dflow did not exit within 30 s of SIGINT".to_owned()),
    }
}

fn start(dir: &Path, opts: &Options) -> Result<Vec<String>, String> {
    let burn = common::build_c(dir, "burn", BURN_C, &[])?;
    // A busy target on CPU 0 for the whole part.
    let mut target = Workload::spawn(&burn, &[u64::MAX.to_string()], Some(0)).unwrap();
    target.go();
    let pid = target.pid();
    let result = (|| {
        eprintln!("start: {} runs of --no-tui (start, SIGINT)...", opts.runs);
        let (cold_start, cold_exit) = start_run(pid)?;
        let (mut starts, mut exits) = (Vec::new(), Vec::new());
        for i in 0..opts.runs {
            let (s, e) = start_run(pid)?;
            eprintln!("  run {i}: start {:.1} ms, exit {:.1} ms", s * 1e3, e * 1e3);
            starts.push(s);
            exits.push(e);
        }
        eprintln!("start: {} runs of the terminal view (q)...", opts.tui_runs);
        let (mut quits, mut quits_session, mut drawn) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..opts.tui_runs {
            let (q, bytes) = tui_quit(pid, None)?;
            let session = dir.join(format!("tui-{i}.duckdb"));
            let (qs, _) = tui_quit(pid, Some(&session))?;
            eprintln!(
                "  run {i}: q → exit {:.1} ms ({bytes} bytes drawn), with a session file {:.1} ms",
                q * 1e3,
                qs * 1e3
            );
            quits.push(q);
            quits_session.push(qs);
            drawn.push(bytes as f64);
        }
        let (s, e, q, qs) = (
            stats(&starts),
            stats(&exits),
            stats(&quits),
            stats(&quits_session),
        );
        Ok(vec![
            format!(
                "start: {:.1} ms from spawn to `dflow: sampling` (median; target ≤ 150 ms: {})",
                s.median * 1e3,
                verdict(s.median <= 0.150)
            ),
            format!("    --no-tui -p PID    {}", s.show(1e3, " ms", 1)),
            format!(
                "    first run          {:.1} ms (not counted; its exit {:.1} ms)",
                cold_start * 1e3,
                cold_exit * 1e3
            ),
            format!(
                "exit after q: {:.1} ms from `q` to exit, terminal view, --no-session (median; target ≤ 300 ms: {})",
                q.median * 1e3,
                verdict(q.median <= 0.300)
            ),
            format!("    --no-session       {}", q.show(1e3, " ms", 1)),
            format!("    with --session F   {}", qs.show(1e3, " ms", 1)),
            format!(
                "    drawn before q     {} (120×40 pseudo-terminal, q after ≥ 1.5 s)",
                stats(&drawn).show(1.0, " bytes", 0)
            ),
            format!(
                "exit after SIGINT: {:.1} ms, --no-tui --no-session, after 1 s of sampling (median)",
                e.median * 1e3
            ),
            format!("    --no-tui           {}", e.show(1e3, " ms", 1)),
        ])
    })();
    target.stop();
    result
}

// ---------------------------------------------------------------- 3. post-processing

struct DflowRound {
    post: f64,
    cpu: f64,
    samples: Option<u64>,
    notes: Vec<String>,
}

struct PerfRound {
    pipeline: f64,
    pipeline_cpu: f64,
    record_exit: f64,
    record_cpu: f64,
    samples: Option<u64>,
    bytes: u64,
}

fn svg_check(path: &Path, what: &str) -> Option<String> {
    let svg = std::fs::read_to_string(path).unwrap_or_default();
    let mut notes = Vec::new();
    if !svg.contains("compress_chunk") {
        notes.push(format!(
            "{what}: the leaf functions are not named in the SVG"
        ));
    }
    // dflow marks stacks the kernel could not store (stack map full or a
    // hash collision) with a pseudo-frame.
    if let Some(i) = svg.find("[user stack lost]") {
        let title = &svg[i..];
        let title = &title[..title.find('<').unwrap_or(title.len()).min(120)];
        notes.push(format!("{what}: {title}"));
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

fn dflow_round(deep: &Path, dir: &Path, secs: f64) -> Result<DflowRound, String> {
    let mut work = Workload::spawn(deep, &[], None).unwrap();
    work.go();
    std::thread::sleep(Duration::from_millis(300));
    let svg = dir.join("dflow.svg");
    let args = dflow_args(&[
        "profile",
        "-p",
        &work.pid().to_string(),
        "-F",
        "20000",
        "--no-tui",
        "--no-session",
        "-o",
        &svg.display().to_string(),
    ]);
    let mut d = Running::spawn(DFLOW, &args).map_err(|e| format!("cannot run dflow: {e}"))?;
    if d.wait_for(SAMPLING, Duration::from_secs(30)).is_none() {
        d.kill();
        work.stop();
        return Err(format!("dflow did not start sampling: {:?}", d.all_lines()));
    }
    std::thread::sleep(Duration::from_secs_f64(secs));
    // Stopped, not killed (dflow would see it exit): both tools then
    // post-process on an otherwise idle machine, as perf script does.
    signal(work.pid(), libc::SIGSTOP);
    signal(d.pid(), libc::SIGINT);
    let sent = Instant::now();
    let exit = wait_exit(d.pid(), Duration::from_secs(600));
    work.stop();
    let lines = d.all_lines().to_vec();
    let exit = match exit {
        Some(e) if e.code == 0 => e,
        Some(e) => return Err(format!("dflow exited with {}: {lines:?}", e.code)),
        None => return Err("dflow did not exit within 600 s of SIGINT".to_owned()),
    };
    let mut notes = summary_lines(&lines);
    notes.extend(svg_check(&svg, "dflow"));
    Ok(DflowRound {
        post: (exit.at - sent).as_secs_f64(),
        cpu: exit.cpu.as_secs_f64(),
        samples: dflow_samples(&lines),
        notes,
    })
}

/// `(N samples)` in perf record's `Captured and wrote` line.
fn perf_record_samples(lines: &[String]) -> Option<u64> {
    lines.iter().find_map(|l| {
        let rest = &l[l.find("Captured and wrote")?..];
        let open = rest.rfind('(')?;
        rest[open + 1..].split_whitespace().next()?.parse().ok()
    })
}

fn perf_round(deep: &Path, dir: &Path, secs: f64, inferno: &Path) -> Result<PerfRound, String> {
    let data = dir.join("perf.data");
    let mut work = Workload::spawn(deep, &[], None).unwrap();
    work.go();
    std::thread::sleep(Duration::from_millis(300));
    let args: Vec<String> = ["record", "-F", "20000", "-e", "cpu-clock", "-g", "-p"]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([
            work.pid().to_string(),
            "-o".to_owned(),
            data.display().to_string(),
        ])
        .collect();
    let mut p = Running::spawn(PERF, &args).map_err(|e| format!("cannot run perf: {e}"))?;
    std::thread::sleep(Duration::from_secs_f64(secs));
    signal(work.pid(), libc::SIGSTOP);
    signal(p.pid(), libc::SIGINT);
    let sent = Instant::now();
    let exit = wait_exit(p.pid(), Duration::from_secs(600));
    work.stop();
    let lines = p.all_lines().to_vec();
    let exit = match exit {
        Some(e) if e.code == 0 || e.code == -libc::SIGINT => e,
        Some(e) => return Err(format!("perf record exited with {}: {lines:?}", e.code)),
        None => return Err("perf record did not exit within 600 s of SIGINT".to_owned()),
    };
    let bytes = std::fs::metadata(&data).map_or(0, |m| m.len());
    if bytes == 0 {
        return Err(format!("perf record wrote nothing: {lines:?}"));
    }
    let mut samples = perf_record_samples(&lines);
    let pipeline = format!(
        "{PERF} script -i '{}' | '{}/inferno-collapse-perf' | '{}/inferno-flamegraph' > '{}'",
        data.display(),
        inferno.display(),
        inferno.display(),
        dir.join("perf.svg").display()
    );
    let errors = dir.join("pipeline.err");
    let started = Instant::now();
    let child = Command::new("sh")
        .args(["-c", &pipeline])
        .stdin(Stdio::null())
        .stderr(File::create(&errors).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    // wait4's usage of sh includes the pipeline it waited for.
    let done = wait_exit(child.id(), Duration::from_secs(1800))
        .ok_or("the perf script pipeline did not finish within 30 min")?;
    if done.code != 0 {
        return Err(format!(
            "the perf script pipeline failed ({}): {}",
            done.code,
            std::fs::read_to_string(&errors).unwrap_or_default()
        ));
    }
    if samples.is_none() {
        let stats = Command::new(PERF)
            .args(["report", "--stats", "-i"])
            .arg(&data)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        samples = stats.lines().find_map(|l| {
            l.trim()
                .strip_prefix("SAMPLE events:")
                .and_then(|n| n.trim().parse().ok())
        });
    }
    if let Some(note) = svg_check(&dir.join("perf.svg"), "perf") {
        eprintln!("  {note}");
    }
    let _ = std::fs::remove_file(&data);
    Ok(PerfRound {
        pipeline: (done.at - started).as_secs_f64(),
        pipeline_cpu: done.cpu.as_secs_f64(),
        record_exit: (exit.at - sent).as_secs_f64(),
        record_cpu: exit.cpu.as_secs_f64(),
        samples,
        bytes,
    })
}

/// How long to sample at 20 kHz for about `samples` samples: the machine
/// is shared, so the workload's CPU share is measured for two seconds
/// first. Between 5 and 90 s.
fn postproc_secs(deep: &Path, samples: f64) -> f64 {
    let cpu = |pid: u32| -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // utime and stime: fields 14 and 15, counted after the ")" of comm.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let ticks: f64 = after
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|t| t.parse::<f64>().ok())
            .sum();
        // SAFETY: sysconf cannot fail for _SC_CLK_TCK.
        ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    };
    let mut work = Workload::spawn(deep, &[], None).unwrap();
    work.go();
    std::thread::sleep(Duration::from_millis(300));
    let (c0, t0) = (cpu(work.pid()), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let share = (cpu(work.pid()) - c0) / t0.elapsed().as_secs_f64();
    work.stop();
    let secs = (samples / (20_000.0 * share.max(0.01))).clamp(5.0, 90.0);
    eprintln!(
        "postproc: the workload gets {share:.2} CPUs here: {secs:.0} s at 20 kHz for ~{samples:.0} samples"
    );
    secs.round()
}

/// Why perf cannot record here, if it cannot: a one-second trial.
fn perf_problem(dir: &Path) -> Option<String> {
    if !Path::new(PERF).exists() {
        return Some(format!("{PERF} not found"));
    }
    let out = Command::new(PERF)
        .args(["record", "-F", "20000", "-e", "cpu-clock", "-g", "-o"])
        .arg(dir.join("trial.data"))
        .args(["--", "sleep", "0.2"])
        .output();
    let _ = std::fs::remove_file(dir.join("trial.data"));
    match out {
        Err(e) => Some(format!("cannot run {PERF}: {e}")),
        Ok(o) if !o.status.success() => Some(format!(
            "perf record failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// inferno's command-line tools, installed once under ~/.cache/dflow/tools.
fn inferno_bin() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    let root = PathBuf::from(home).join(".cache/dflow/tools");
    let bin = root.join("bin");
    if bin.join("inferno-flamegraph").exists() && bin.join("inferno-collapse-perf").exists() {
        return Ok(bin);
    }
    eprintln!(
        "postproc: installing inferno's command-line tools in {}...",
        root.display()
    );
    let status = Command::new("cargo")
        .args(["install", "inferno", "--root"])
        .arg(&root)
        .status()
        .map_err(|e| format!("cannot run cargo install inferno: {e}"))?;
    if status.success() {
        Ok(bin)
    } else {
        Err(format!(
            "cargo install inferno --root {} failed",
            root.display()
        ))
    }
}

fn postproc(dir: &Path, opts: &Options) -> Result<Vec<String>, String> {
    let deep = common::build_c(
        dir,
        "deep",
        DEEP_C,
        &[
            // Frame pointers everywhere (leaf functions too): both dflow and
            // perf -g unwind with them.
            "-fno-omit-frame-pointer",
            "-mno-omit-leaf-frame-pointer",
            "-fno-optimize-sibling-calls",
            "-pthread",
        ],
    )?;
    let perf = match perf_problem(dir) {
        Some(why) => Err(why),
        None => inferno_bin(),
    };
    if let Err(why) = &perf {
        eprintln!("postproc: no perf baseline: {why}");
    }
    let rate_before = max_sample_rate();
    let secs = match opts.postproc_secs {
        Some(secs) => secs,
        None => postproc_secs(&deep, opts.postproc_samples),
    };
    let (mut dflow, mut perfs) = (Vec::new(), Vec::new());
    for r in 0..opts.postproc_runs {
        // Alternate which tool goes first.
        let order = if r % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_dflow in order {
            if is_dflow {
                eprintln!("postproc round {r}: dflow at 20 kHz for {secs} s...");
                let d = dflow_round(&deep, dir, secs)?;
                eprintln!(
                    "  dflow: {} samples, SIGINT → exit {:.3} s, {:.2} s CPU in all",
                    d.samples.map_or("?".to_owned(), |n| n.to_string()),
                    d.post,
                    d.cpu
                );
                dflow.push(d);
            } else if let Ok(inferno) = &perf {
                eprintln!(
                    "postproc round {r}: perf record at 20 kHz for {secs} s, then perf script | inferno..."
                );
                let p = perf_round(&deep, dir, secs, inferno)?;
                eprintln!(
                    "  perf: {} samples ({} MB), pipeline {:.2} s ({:.2} s CPU), perf record's own exit {:.2} s",
                    p.samples.map_or("?".to_owned(), |n| n.to_string()),
                    p.bytes / 1_000_000,
                    p.pipeline,
                    p.pipeline_cpu,
                    p.record_exit
                );
                perfs.push(p);
            }
        }
    }
    let d_post = stats(&dflow.iter().map(|d| d.post).collect::<Vec<_>>());
    let d_cpu = stats(&dflow.iter().map(|d| d.cpu).collect::<Vec<_>>());
    let d_samples = stats(
        &dflow
            .iter()
            .filter_map(|d| d.samples)
            .map(|n| n as f64)
            .collect::<Vec<_>>(),
    );
    let mut out = Vec::new();
    match &perf {
        Ok(_) => {
            let p_pipe = stats(&perfs.iter().map(|p| p.pipeline).collect::<Vec<_>>());
            let ratio = p_pipe.median / d_post.median;
            let rounds: Vec<f64> = dflow
                .iter()
                .zip(&perfs)
                .map(|(d, p)| p.pipeline / d.post)
                .collect();
            out.push(format!(
                "post-processing: {ratio:.0}x faster than perf script | inferno ({:.2} s / {:.3} s, medians; target ≥ 10x: {})",
                p_pipe.median,
                d_post.median,
                verdict(ratio >= 10.0)
            ));
            out.push(format!(
                "    per-round ratios   {}",
                stats(&rounds).show(1.0, "x", 1)
            ));
            out.push(format!(
                "    perf pipeline      {}",
                p_pipe.show(1.0, " s", 2)
            ));
            out.push(format!(
                "    its CPU time       {}",
                stats(&perfs.iter().map(|p| p.pipeline_cpu).collect::<Vec<_>>()).show(1.0, " s", 2)
            ));
            out.push(format!(
                "    perf samples       {} ({} MB perf.data)",
                stats(
                    &perfs
                        .iter()
                        .filter_map(|p| p.samples)
                        .map(|n| n as f64)
                        .collect::<Vec<_>>()
                )
                .show(1.0, "", 0),
                perfs.iter().map(|p| p.bytes).max().unwrap_or(0) / 1_000_000
            ));
            out.push(format!(
                "    perf record exit   {} (SIGINT → exit, build-ids; not counted above)",
                stats(&perfs.iter().map(|p| p.record_exit).collect::<Vec<_>>()).show(1.0, " s", 2)
            ));
            out.push(format!(
                "    perf record CPU    {}",
                stats(&perfs.iter().map(|p| p.record_cpu).collect::<Vec<_>>()).show(1.0, " s", 2)
            ));
        }
        Err(why) => out.push(format!(
            "post-processing: no perf baseline ({why}); dflow's side below"
        )),
    }
    out.push(format!(
        "    dflow SIGINT→exit  {}",
        d_post.show(1.0, " s", 3)
    ));
    out.push(format!(
        "    dflow samples      {}",
        d_samples.show(1.0, "", 0)
    ));
    out.push(format!(
        "    dflow CPU in all   {} (sampling {secs} s with a read every second, then the end)",
        d_cpu.show(1.0, " s", 2)
    ));
    if let Some(last) = dflow.last() {
        for note in &last.notes {
            out.push(format!("    dflow said         {note}"));
        }
    }
    let rate_after = max_sample_rate();
    out.push(format!(
        "    kernel max rate    perf_event_max_sample_rate {rate_before} before, {rate_after} after"
    ));
    Ok(out)
}

// ---------------------------------------------------------------- main

struct Options {
    parts: Vec<String>,
    pairs: usize,
    work_secs: f64,
    runs: usize,
    tui_runs: usize,
    postproc_secs: Option<f64>,
    postproc_samples: f64,
    postproc_runs: usize,
}

const PARTS: [&str; 3] = ["overhead", "start", "postproc"];

fn options() -> Options {
    let mut opts = Options {
        parts: Vec::new(),
        pairs: 10,
        work_secs: 2.0,
        runs: 10,
        tui_runs: 5,
        postproc_secs: None,
        postproc_samples: 1e6,
        postproc_runs: 3,
    };
    let flags = [
        "--pairs",
        "--work-secs",
        "--runs",
        "--tui-runs",
        "--postproc-secs",
        "--postproc-samples",
        "--postproc-runs",
    ];
    opts.parts = common::parse_args(&PARTS, &flags, |flag, value| match flag {
        "--pairs" => opts.pairs = value as usize,
        "--work-secs" => opts.work_secs = value,
        "--runs" => opts.runs = value as usize,
        "--tui-runs" => opts.tui_runs = value as usize,
        "--postproc-secs" => opts.postproc_secs = Some(value),
        "--postproc-samples" => opts.postproc_samples = value,
        _ => opts.postproc_runs = value as usize,
    });
    opts
}

/// Why nothing can run here, if so.
fn missing_prerequisite() -> Option<String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (dflow profile loads eBPF programs)".to_owned());
    }
    if Command::new("cc").arg("--version").output().is_err() {
        return Some("no C compiler (cc) for the workloads".to_owned());
    }
    let help = Command::new(DFLOW).args(["profile", "--help"]).output();
    match help {
        Ok(o) if o.status.success() => None,
        _ => Some(format!("{DFLOW} has no working `profile` command")),
    }
}

fn main() {
    let opts = options();
    println!(
        "dflow profile benchmark ({} cores, perf_event_max_sample_rate {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        max_sample_rate()
    );
    if let Some(why) = missing_prerequisite() {
        println!("  skipped every part: {why}");
        return;
    }
    common::run_parts("profile", &opts.parts, |part, dir| match part {
        "overhead" => overhead(dir, &opts),
        "start" => start(dir, &opts),
        _ => postproc(dir, &opts),
    });
}
