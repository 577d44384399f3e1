//! The command line as clap sees it: structs and value parsers, nothing else
//! (dflow re-exports this crate as `dflow::cli`).
//!
//! No I/O happens here and nothing but `clap`, `humantime` and the stored
//! enums of `dflow-model` is used, so `xtask` builds it alone to generate
//! completions and man pages without building the rest of dflow. The
//! validated form that commands receive is built in dflow's `config`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dflow_model::{Protocol, Status};

const EXAMPLES: &str = "\
Examples:
  sudo dflow doctor                      can this host run dflow? (kernel, BTF, program types, features)
  sudo dflow doctor --json               the same report as one JSON object
  sudo dflow trace -p 1234 --json        every L7 call of process 1234, one JSON object per line
  sudo dflow profile -p 1234             a live flame graph of process 1234 (q to stop)
  sudo dflow profile -d 30s -o cpu.svg   every process for 30 s, written as an SVG flame graph
  dflow sessions                         the captures kept on this host
  dflow query S.duckdb                   the views of a session and what each column means
  dflow query S.duckdb 'SELECT endpoint, count(*) FROM spans_v GROUP BY ALL'
  dflow replay S.duckdb --json           a session's events again, one JSON object per line
";

/// Zero-code eBPF troubleshooting for one Linux host.
///
/// dflow attaches eBPF probes on demand, with no change to the services it
/// watches and no server: L7 calls (HTTP/1, DNS, Redis, PostgreSQL, MySQL)
/// linked into traces, and on- and off-CPU flame graphs. Every capture is
/// kept as a DuckDB session file that can be replayed or queried.
#[derive(Debug, Parser)]
#[command(name = "dflow", after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command, before or after its name.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Print nothing but results and errors (no progress, no notes).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// When to colour the output. NO_COLOR in the environment means never,
    /// unless --color=always is given.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// Colour when writing to a terminal and NO_COLOR is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Doctor(DoctorArgs),
    Trace(Box<TraceArgs>),
    Profile(Box<ProfileArgs>),
    Query(QueryArgs),
    Sessions(SessionsArgs),
    Replay(ReplayArgs),
}

const DOCTOR_EXAMPLES: &str = "\
Examples:
  sudo dflow doctor
  sudo dflow doctor --json | jq '.features'

Exit status: 0 when L7 trace, flow and on-CPU profiling can run here, 1 when one
of them cannot, 77 when dflow lacks the privilege to load eBPF programs.
";

/// Check whether this host can run dflow's probes.
///
/// Reports the kernel, BTF, lockdown mode, tracefs, perf_event_paranoid and
/// the effective capabilities; then loads, attaches and fires a tiny probe of
/// each program type (tracepoint, tp_btf, raw_tp, kprobe, fentry, uprobe,
/// perf_event), and says which dflow features are available, degraded or
/// unavailable, and why.
#[derive(Debug, Args)]
#[command(after_help = DOCTOR_EXAMPLES)]
pub struct DoctorArgs {}

const TRACE_EXAMPLES: &str = "\
Examples:
  sudo dflow trace
      every HTTP/1, DNS, Redis, PostgreSQL and MySQL call on this host; Ctrl-C stops
  sudo dflow trace -p 1234 --json
      one JSON object per call of process 1234 (start_ns, duration_ns, endpoint,
      status, code, trace_id, span_id, parent_span_id, ...)
  sudo dflow trace --comm nginx --port 8080 --status server_error --min-latency 100ms
      only slow or failing calls of nginx on port 8080
  sudo dflow trace --protocol redis --protocol postgres -d 30s --session db.duckdb
      30 s of database calls, kept as a session for `dflow query` and `dflow replay`

Calls are read from the socket syscalls of the traced processes (read, write,
send*, recv* and their vector forms): nothing is instrumented or restarted.
Encrypted traffic (TLS) is not readable this way. Spans link into traces by
thread (a server's outbound calls while it handles a request), by TCP
sequence numbers (a client and server on this host) and by traceparent and
X-Request-ID headers. Credentials (Authorization, Proxy-Authorization,
Cookie, Set-Cookie, database passwords) are redacted unless --no-redact.
";

/// Which requests are slow or failing, and where in the call chain.
///
/// Captures the socket syscalls of the target processes with eBPF, parses
/// HTTP/1.x, DNS, Redis, PostgreSQL and MySQL from them, pairs requests with
/// responses into spans (latency, status, protocol code, sizes), links spans
/// into traces, and prints one line per call (one JSON object with --json).
/// The spans are stored as a session.
#[derive(Debug, Args)]
#[command(after_help = TRACE_EXAMPLES)]
pub struct TraceArgs {
    #[command(flatten)]
    pub capture: CaptureArgs,

    /// Only connections with this local or remote port (repeatable).
    #[arg(long = "port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub ports: Vec<u16>,

    /// Only this protocol (repeatable); default: all.
    #[arg(long = "protocol", value_name = "PROTOCOL", value_enum)]
    pub protocols: Vec<Protocol>,

    /// Only calls that took at least this long (e.g. 100ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub min_latency: Option<Duration>,

    /// Only calls with this status (repeatable).
    #[arg(long = "status", value_name = "STATUS", value_enum)]
    pub statuses: Vec<Status>,

    /// Payload bytes copied per syscall for parsing (64 to 16384).
    #[arg(long, value_name = "BYTES", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(64..=16384))]
    pub snaplen: u32,

    /// Show and store credentials as they are (off by default: Authorization,
    /// Proxy-Authorization, Cookie and Set-Cookie values and database
    /// authentication are replaced by [redacted]).
    #[arg(long)]
    pub no_redact: bool,

    #[command(flatten)]
    pub view: ViewArgs,
}

const PROFILE_EXAMPLES: &str = "\
Examples:
  sudo dflow profile -p 1234
      live flame graph of process 1234 in the terminal; q or Ctrl-C stops
  sudo dflow profile -d 30s -o cpu.svg
      every process for 30 s, then an SVG flame graph (open it in a browser)
  sudo dflow profile --off-cpu -p 1234 -d 10s --folded wait.folded
      where its threads block, in microseconds per stack
  sudo dflow profile --comm nginx -F 999 --per-thread --pprof nginx.pb.gz
      pprof for `go tool pprof` or Pyroscope
  dflow profile --from S.duckdb -o cpu.svg
      export a stored profile session without sampling again

Stacks are unwound with frame pointers: code built without them (most
distribution libraries, Rust release builds unless -C force-frame-pointers=yes)
shows up under [truncated], and the summary names those binaries.
Without a terminal, and without -o/--folded/--pprof, the folded stacks are
printed on stdout at the end (with --json, one JSON object per stack sample
as it is read).
";

/// Where processes spend CPU time, and where their threads block.
///
/// Samples stacks on every CPU with a software cpu-clock event (on-CPU) or
/// measures time blocked per stack at each context switch (off-CPU), counts
/// them in the kernel, and shows a live flame graph in the terminal. The
/// profile is stored as a session, and can be written as an SVG flame graph,
/// folded stacks or pprof.
#[derive(Debug, Args)]
#[command(after_help = PROFILE_EXAMPLES)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub capture: CaptureArgs,

    /// Profile every process (the default when neither -p nor --comm is given).
    #[arg(long, conflicts_with_all = ["pids", "comms"])]
    pub all: bool,

    /// On-CPU samples per second per CPU.
    #[arg(short = 'F', long = "frequency", value_name = "HZ", default_value_t = 99,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub frequency: u32,

    /// Sample where CPU time goes (the default).
    #[arg(long, group = "kind")]
    pub on_cpu: bool,

    /// Measure where threads block, and for how long, instead.
    #[arg(long, group = "kind")]
    pub off_cpu: bool,

    /// Both, in one flame graph under [on-cpu] and [off-cpu], in microseconds.
    #[arg(long, group = "kind")]
    pub both: bool,

    /// Ignore blocks shorter than this (off-CPU).
    #[arg(long, value_name = "DURATION", default_value = "1us", value_parser = parse_min_block)]
    pub min_block: Duration,

    /// Leave out kernel frames.
    #[arg(long)]
    pub no_kernel: bool,

    /// Keep threads apart (each thread its own root; `t` toggles in the view).
    #[arg(long)]
    pub per_thread: bool,

    /// Write an SVG flame graph to this file at the end.
    #[arg(short = 'o', long = "output", value_name = "FILE.svg")]
    pub svg: Option<PathBuf>,

    /// Write folded stacks (`frame;frame;... value` per line) at the end.
    #[arg(long, value_name = "FILE")]
    pub folded: Option<PathBuf>,

    /// Write a gzipped pprof profile at the end.
    #[arg(long, value_name = "FILE")]
    pub pprof: Option<PathBuf>,

    #[command(flatten)]
    pub view: ViewArgs,

    /// Export a stored profile session instead of sampling.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["pids", "comms", "all", "duration", "session", "no_session", "tags"])]
    pub from: Option<PathBuf>,
}

/// `--min-block`: a duration, zero allowed (count every block).
pub fn parse_min_block(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{e}; expected a duration such as 1us, 50us or 1ms"))
        .and_then(within_bounds)
}

const QUERY_EXAMPLES: &str = "\
Examples:
  dflow query S.duckdb
      list the views (spans_v, flows_v, samples_v, ...) and their columns
  dflow query S.duckdb 'SELECT endpoint, count(*) AS n, quantile_cont(duration_ms, 0.99) AS p99_ms
                        FROM spans_v GROUP BY endpoint ORDER BY p99_ms DESC LIMIT 10'
  dflow query --csv S.duckdb 'SELECT * FROM flows_v' > flows.csv
  dflow query a.duckdb b.duckdb 'SELECT session, count(*) FROM spans_v GROUP BY session'
  dflow query --memory-limit 8GB S.duckdb 'SELECT * FROM spans_v ORDER BY duration_ms DESC LIMIT 20'

Files are opened read-only: a statement that would change one fails and the
file stays byte-identical. With several files every view is the union of the
files' views, with a leading `session` column naming the file.

One statement per call: SQL with several (`SELECT 1; SELECT 2`) is refused
rather than run with only the last one's result shown; a trailing `;` is
fine. The table shows floats to 6 significant digits and clips cells and
column names to the terminal's width (at most 80 characters); --csv and
--json keep every value whole.
";

/// Ask a session file (or several) questions in SQL.
///
/// The views decode SmartEncoding, so no knowledge of dictionary ids is
/// needed: spans_v (L7 calls), flows_v (connections), samples_v (stack
/// samples), stacks_v, labels_v, plus the session and counters tables.
#[derive(Debug, Args)]
#[command(after_help = QUERY_EXAMPLES)]
pub struct QueryArgs {
    /// Session files, then optionally one SQL statement. Without SQL the
    /// views and their columns are listed.
    #[arg(value_name = "FILE... [SQL]", required = true, num_args = 1..)]
    pub args: Vec<String>,

    /// Print CSV (RFC 4180) instead of an aligned table.
    #[arg(long)]
    pub csv: bool,

    /// The most memory DuckDB may use for the query, e.g. 512MB or 8GB (KB,
    /// MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024). A query
    /// that needs more fails and says so. Default: a quarter of this host's
    /// memory (or of the cgroup's limit when lower).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,
}

/// `--memory-limit`: a number and a unit as DuckDB reads them (`512MB`,
/// `1.5GiB`, `2 GB`; KB, MB, GB, TB and K, M, G, T are powers of 1000, KiB
/// to TiB of 1024); at least 1 MB, since DuckDB can run nothing in less.
pub fn parse_size(s: &str) -> Result<u64, String> {
    const EXPECTED: &str = "expected a size such as 512MB, 2GB or 1.5GiB";
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a size; {EXPECTED}"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" => return Err(format!("a unit is needed; {EXPECTED}")),
        "b" | "bytes" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => return Err(format!("unknown unit '{other}'; {EXPECTED}")),
    };
    let bytes = number * multiplier as f64;
    if bytes < 1e6 {
        return Err(format!("DuckDB needs at least 1MB; {EXPECTED}"));
    }
    if bytes >= u64::MAX as f64 {
        return Err(format!("'{s}' is more than any host has; {EXPECTED}"));
    }
    Ok(bytes as u64)
}

const SESSIONS_EXAMPLES: &str = "\
Examples:
  dflow sessions                          list the sessions in the default directory
  dflow sessions show vm-trace-20261124T201256Z.duckdb
  dflow sessions rm old.duckdb other.duckdb
  dflow sessions --json | jq '.[] | select(.lost > 0)'

Sessions are kept in $XDG_DATA_HOME/dflow/sessions (else ~/.local/share/dflow/sessions).
";

/// List, inspect and delete session files.
#[derive(Debug, Args)]
#[command(after_help = SESSIONS_EXAMPLES)]
pub struct SessionsArgs {
    #[command(subcommand)]
    pub action: Option<SessionsAction>,
}

#[derive(Debug, Subcommand)]
pub enum SessionsAction {
    /// List sessions: kind, host, time span, size, events and losses (the default).
    List,
    /// Everything a session file says about itself.
    Show {
        /// A session file (a bare name is looked up in the sessions directory).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete session files (each with its write-ahead log).
    Rm {
        /// Session files; each must be a dflow session, or nothing is deleted.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
}

const REPLAY_EXAMPLES: &str = "\
Examples:
  dflow replay S.duckdb
  dflow replay S.duckdb --json | jq 'select(.status != \"ok\")'
";

/// Show a stored session again, as the live capture showed it.
///
/// Spans, flows and samples are read back into the same events a live
/// capture produces. Until a session kind's terminal view lands, and
/// whenever output is not a terminal or --json is given, each event is
/// printed as one line (one JSON object per line with --json).
#[derive(Debug, Args)]
#[command(after_help = REPLAY_EXAMPLES)]
pub struct ReplayArgs {
    /// The session file (a bare name is looked up in the sessions directory).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// The terminal view's option, shared by every capture command.
#[derive(Debug, Clone, Args)]
pub struct ViewArgs {
    /// Do not start the terminal view even on a terminal: print lines (or
    /// write files) as without one.
    #[arg(long)]
    pub no_tui: bool,
}

impl ViewArgs {
    /// Whether the terminal view starts: stdin and stdout are terminals
    /// (`terminal`), and neither --no-tui nor --json says otherwise.
    pub fn wanted(&self, terminal: bool, json: bool) -> bool {
        terminal && !self.no_tui && !json
    }
}

/// Target and session options shared by every capture command (`trace`,
/// `topo`, `profile`, `flow`); each flattens this into its own arguments.
#[derive(Debug, Clone, Args)]
pub struct CaptureArgs {
    /// Capture only this process (repeatable). With --comm, a process that
    /// matches either is captured.
    #[arg(short, long = "pid", value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pub pids: Vec<u32>,

    /// Capture only processes with this command name, as in /proc/PID/comm
    /// of the process (its main thread's name: every thread of dig matches
    /// `--comm dig`, though its I/O threads are named isc-net-0000; at most
    /// 15 bytes; repeatable).
    #[arg(long = "comm", value_name = "NAME", value_parser = parse_comm)]
    pub comms: Vec<String>,

    /// Stop after this long (500ms, 10s, 2m, 1h30m); default: until q or Ctrl-C.
    #[arg(short, long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Write the session to this file instead of the default directory.
    #[arg(long, value_name = "PATH", conflicts_with = "no_session")]
    pub session: Option<PathBuf>,

    /// Do not write a session file.
    #[arg(long)]
    pub no_session: bool,

    /// Label the session (repeatable), e.g. --tag ticket=INC-42; stored in
    /// the session's labels table.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
}

/// `key=value` with a non-empty key.
pub fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err("expected KEY=VALUE, e.g. ticket=INC-42".to_owned()),
    }
}

/// Longest comm the kernel keeps (TASK_COMM_LEN less the NUL).
pub const MAX_COMM_LEN: usize = 15;

/// The longest duration any flag takes. Longer ones are surely typos, and
/// past ~292 years a duration no longer fits the nanosecond counts and
/// deadlines dflow computes from it (`-d 18446744073709551615s` overflowed
/// `Instant + Duration` and panicked).
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Parses a human duration (`500ms`, `10s`, `2m`); zero is refused because it
/// would end a capture before it starts.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e}; expected a duration such as 500ms, 10s or 2m"))?;
    if d.is_zero() {
        return Err("a duration of zero would capture nothing; use e.g. 500ms".to_owned());
    }
    within_bounds(d)
}

fn within_bounds(d: Duration) -> Result<Duration, String> {
    if d > MAX_DURATION {
        return Err("longer than dflow takes: at most 3650 days (10 years)".to_owned());
    }
    Ok(d)
}

/// Accepts a command name the kernel can match: non-empty, no NUL, at most 15 bytes.
pub fn parse_comm(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a command name cannot be empty".to_owned());
    }
    if s.contains('\0') {
        return Err("a command name cannot contain NUL".to_owned());
    }
    if s.len() > MAX_COMM_LEN {
        return Err(format!(
            "the kernel keeps only the first {MAX_COMM_LEN} bytes of a command name; use '{}'",
            truncate_comm(s)
        ));
    }
    Ok(s.to_owned())
}

fn truncate_comm(s: &str) -> &str {
    let mut end = MAX_COMM_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
