//! The command line as clap sees it: structs and value parsers, nothing else.
//!
//! No I/O happens here and nothing outside `clap`, `humantime` and `std` is
//! used, because `xtask` includes this file as it is (`#[path]`) to generate
//! completions and man pages without building the rest of dflow. The
//! validated form that commands receive is built in `crate::config`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  sudo dflow doctor            can this host run dflow? (kernel, BTF, program types, features)
  sudo dflow doctor --json     the same report as one JSON object
";

/// Zero-code eBPF troubleshooting for one Linux host.
///
/// dflow attaches eBPF probes on demand, with no change to the services it
/// watches and no server: L7 calls linked into traces, a live service map,
/// on- and off-CPU flame graphs, and per-connection network health. Every
/// capture is kept as a DuckDB session file that can be replayed or queried.
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

/// Target and session options shared by every capture command (`trace`,
/// `topo`, `profile`, `flow`); each flattens this into its own arguments.
#[derive(Debug, Clone, Args)]
pub struct CaptureArgs {
    /// Capture only this process (repeatable). With --comm, a process that
    /// matches either is captured.
    #[arg(short, long = "pid", value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pub pids: Vec<u32>,

    /// Capture only processes with this command name, as in /proc/PID/comm
    /// (at most 15 bytes; repeatable).
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
}

/// Longest comm the kernel keeps (TASK_COMM_LEN less the NUL).
pub const MAX_COMM_LEN: usize = 15;

/// Parses a human duration (`500ms`, `10s`, `2m`); zero is refused because it
/// would end a capture before it starts.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e}; expected a duration such as 500ms, 10s or 2m"))?;
    if d.is_zero() {
        return Err("a duration of zero would capture nothing; use e.g. 500ms".to_owned());
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
