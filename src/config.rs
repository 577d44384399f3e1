//! The validated configuration that commands run from (ripgrep's `HiArgs`).
//!
//! `crate::cli` holds what clap parsed; this module checks it against the
//! host (does the pid exist?) and resolves defaults (colour, session path),
//! so `cmd/*` never sees a clap type and never re-validates.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{CaptureArgs, Cli, ColorWhen, Command, ProfileArgs, SessionsAction, TraceArgs};
use crate::event::{Protocol, Status};
use crate::exit::Advice;
use crate::store::path::{self as store_path, SessionTarget};
use crate::store::reader::statement_count;

/// A command line that parsed but cannot be run as given: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("no process with pid {0}")]
    NoSuchPid(u32),
    #[error("--csv and --json cannot be combined")]
    CsvAndJson,
    #[error("'{0}' is not a session file")]
    SqlWithoutFile(String),
    #[error("the SQL holds {0} statements; dflow query runs one")]
    SeveralStatements(usize),
}

impl Advice for UsageError {
    fn exit_code(&self) -> u8 {
        crate::exit::USAGE
    }

    fn hint(&self) -> Option<String> {
        let hint = match self {
            UsageError::NoSuchPid(_) => "list processes with `ps -e` and pass a live pid to -p",
            UsageError::CsvAndJson => "choose one output format",
            UsageError::SqlWithoutFile(_) => {
                "name the session file first: dflow query FILE 'SELECT ...' (list files with `dflow sessions`)"
            }
            UsageError::SeveralStatements(_) => {
                "run each statement with its own dflow query, or make them one (WITH ..., UNION ALL); a trailing ; is fine"
            }
        };
        Some(hint.to_owned())
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub output: OutputConfig,
    pub command: CommandConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputConfig {
    pub json: bool,
    pub quiet: bool,
    /// Whether stdout gets ANSI colours.
    pub color: bool,
}

#[derive(Debug, Clone)]
pub enum CommandConfig {
    Doctor,
    Trace(Box<TraceConfig>),
    Profile(Box<ProfileConfig>),
    Query(QueryConfig),
    Sessions(SessionsConfig),
    Replay {
        file: PathBuf,
        /// Whether a terminal view can start (stdin and stdout are terminals).
        terminal: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Aligned,
    Csv,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConfig {
    pub files: Vec<PathBuf>,
    /// None: describe the views instead. Never more than one statement.
    pub sql: Option<String>,
    pub format: TableFormat,
    /// DuckDB's memory limit in bytes: `--memory-limit`, else
    /// [`default_query_memory`].
    pub memory_limit: u64,
}

/// The memory `dflow query` lets DuckDB use when `--memory-limit` is not
/// given: a quarter of what this process may use (RAM, or its cgroup's
/// `memory.max` when lower). DuckDB's own default is 80% of that, which let
/// one `string_agg` reach 8.4 GB beside the services dflow is there to
/// troubleshoot. Without /proc/meminfo, [`FALLBACK_QUERY_MEMORY`].
pub fn default_query_memory() -> u64 {
    use procfs::Current as _;
    let ram = procfs::Meminfo::current().map(|m| m.mem_total).ok();
    match ram.into_iter().chain(cgroup_memory_max()).min() {
        Some(bytes) => (bytes / 4).max(MIN_QUERY_MEMORY),
        None => FALLBACK_QUERY_MEMORY,
    }
}

/// The query memory limit on a host whose memory cannot be read.
const FALLBACK_QUERY_MEMORY: u64 = 2_000_000_000;
/// The least default limit: below this DuckDB fails simple queries.
const MIN_QUERY_MEMORY: u64 = 256_000_000;

/// The lowest `memory.max` of this process's cgroup (v2) and its
/// ancestors; None when unlimited, or under cgroup v1 (not read: v2 is
/// what current distributions and container runtimes use).
fn cgroup_memory_max() -> Option<u64> {
    let cgroups = procfs::process::Process::myself().ok()?.cgroups().ok()?;
    let unified = cgroups.0.iter().find(|c| c.hierarchy == 0)?;
    let mut dir =
        std::path::Path::new("/sys/fs/cgroup").join(unified.pathname.trim_start_matches('/'));
    let mut lowest: Option<u64> = None;
    loop {
        let max = std::fs::read_to_string(dir.join("memory.max")).ok();
        if let Some(bytes) = max.and_then(|m| m.trim().parse::<u64>().ok()) {
            lowest = Some(lowest.map_or(bytes, |l| l.min(bytes)));
        }
        if dir == std::path::Path::new("/sys/fs/cgroup") || !dir.pop() {
            return lowest;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionsConfig {
    List,
    Show(PathBuf),
    Rm(Vec<PathBuf>),
}

/// `dflow trace`: capture, parse, pair, link, show and store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceConfig {
    pub capture: CaptureConfig,
    pub ports: Vec<u16>,
    /// Empty: every protocol.
    pub protocols: Vec<Protocol>,
    pub min_latency: Option<Duration>,
    /// Empty: every status.
    pub statuses: Vec<Status>,
    pub snaplen: u32,
    pub redact: bool,
    /// Show the terminal view (a terminal on stdin and stdout, no --no-tui,
    /// no --json).
    pub tui: bool,
}

impl TraceConfig {
    /// `terminal`: whether stdin and stdout are both terminals.
    pub fn from_args(
        args: TraceArgs,
        output: &OutputConfig,
        terminal: bool,
    ) -> Result<TraceConfig, UsageError> {
        let mut ports = args.ports;
        ports.sort_unstable();
        ports.dedup();
        let mut protocols = args.protocols;
        protocols.dedup();
        let statuses = args.statuses;
        Ok(TraceConfig {
            capture: CaptureConfig::from_args(args.capture)?,
            ports,
            protocols,
            min_latency: args.min_latency,
            statuses,
            snaplen: args.snaplen,
            redact: !args.no_redact,
            tui: args.view.wanted(terminal, output.json),
        })
    }
}

/// `dflow profile`: sample (or read a session), then show and write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileConfig {
    pub source: ProfileSource,
    pub outputs: ProfileOutputs,
    /// Show the terminal view (a terminal on stdin and stdout, no --no-tui,
    /// no --json).
    pub tui: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSource {
    Sample {
        capture: CaptureConfig,
        sampler: SamplerConfig,
    },
    /// `--from FILE`: a stored profile session.
    Session(PathBuf),
}

/// Files written at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileOutputs {
    pub svg: Option<PathBuf>,
    pub folded: Option<PathBuf>,
    pub pprof: Option<PathBuf>,
}

impl ProfileOutputs {
    pub fn any(&self) -> bool {
        self.svg.is_some() || self.folded.is_some() || self.pprof.is_some()
    }
}

impl ProfileConfig {
    /// `terminal`: whether stdin and stdout are both terminals.
    pub fn from_args(
        args: ProfileArgs,
        output: &OutputConfig,
        terminal: bool,
    ) -> Result<ProfileConfig, UsageError> {
        let outputs = ProfileOutputs {
            svg: args.svg,
            folded: args.folded,
            pprof: args.pprof,
        };
        let tui = args.view.wanted(terminal, output.json);
        let source = match args.from {
            Some(file) => ProfileSource::Session(store_path::find(&file)),
            None => {
                let capture = CaptureConfig::from_args(args.capture)?;
                let mode = match (args.off_cpu, args.both) {
                    (true, _) => Mode::OFF_CPU,
                    (_, true) => Mode::BOTH,
                    _ => Mode::ON_CPU,
                };
                let sampler = SamplerConfig {
                    pids: capture.pids.clone(),
                    comms: capture.comms.clone(),
                    mode,
                    hz: args.frequency,
                    min_block: args.min_block,
                    kernel_stacks: !args.no_kernel,
                    per_thread: args.per_thread,
                };
                ProfileSource::Sample { capture, sampler }
            }
        };
        Ok(ProfileConfig {
            source,
            outputs,
            tui,
        })
    }
}

/// What a capture targets and where it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub duration: Option<Duration>,
    pub session: SessionTarget,
    /// User labels for the session (`--tag key=value`).
    pub tags: Vec<(String, String)>,
}

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config, UsageError> {
        let output = OutputConfig {
            json: cli.global.json,
            quiet: cli.global.quiet,
            color: resolve_color(
                cli.global.color,
                std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
                std::io::stdout().is_terminal(),
            ),
        };
        let command = match cli.command {
            Command::Doctor(_) => CommandConfig::Doctor,
            Command::Trace(args) => CommandConfig::Trace(Box::new(TraceConfig::from_args(
                *args,
                &output,
                stdio_is_terminal(),
            )?)),
            Command::Profile(args) => {
                let profile = ProfileConfig::from_args(*args, &output, stdio_is_terminal())?;
                CommandConfig::Profile(Box::new(profile))
            }
            Command::Query(args) => {
                let format = match (args.csv, output.json) {
                    (true, true) => return Err(UsageError::CsvAndJson),
                    (true, false) => TableFormat::Csv,
                    (false, true) => TableFormat::Json,
                    (false, false) => TableFormat::Aligned,
                };
                let (files, sql) = split_query_args(args.args, |p| p.exists())?;
                if let Some(n) = sql.as_deref().map(statement_count).filter(|&n| n > 1) {
                    return Err(UsageError::SeveralStatements(n));
                }
                CommandConfig::Query(QueryConfig {
                    files,
                    sql,
                    format,
                    memory_limit: args.memory_limit.unwrap_or_else(default_query_memory),
                })
            }
            Command::Sessions(args) => CommandConfig::Sessions(match args.action {
                None | Some(SessionsAction::List) => SessionsConfig::List,
                Some(SessionsAction::Show { file }) => {
                    SessionsConfig::Show(store_path::find(&file))
                }
                Some(SessionsAction::Rm { files }) => {
                    SessionsConfig::Rm(files.iter().map(|f| store_path::find(f)).collect())
                }
            }),
            Command::Replay(args) => CommandConfig::Replay {
                file: store_path::find(&args.file),
                terminal: stdio_is_terminal(),
            },
        };
        Ok(Config { output, command })
    }
}

impl CaptureConfig {
    /// Validates the shared capture options; a pid that does not exist is a
    /// usage error naming it, so a typo is caught before any probe loads.
    pub fn from_args(args: CaptureArgs) -> Result<CaptureConfig, UsageError> {
        let mut pids = args.pids;
        pids.sort_unstable();
        pids.dedup();
        if let Some(&missing) = pids.iter().find(|&&pid| !crate::process::exists(pid)) {
            return Err(UsageError::NoSuchPid(missing));
        }
        let mut comms = args.comms;
        comms.sort_unstable();
        comms.dedup();
        let session = match (args.session, args.no_session) {
            (_, true) => SessionTarget::Off,
            (Some(path), false) => SessionTarget::Path(path),
            (None, false) => SessionTarget::Default,
        };
        Ok(CaptureConfig {
            pids,
            comms,
            duration: args.duration,
            session,
            tags: args.tags,
        })
    }
}

/// `FILE... [SQL]`: the last argument is SQL when there are several and it
/// names no existing file and does not end in `.duckdb`. A lone argument that
/// looks like SQL (it has a space) is a usage error, not a missing file.
pub fn split_query_args(
    mut args: Vec<String>,
    exists: impl Fn(&std::path::Path) -> bool,
) -> Result<(Vec<PathBuf>, Option<String>), UsageError> {
    let looks_like_file = |a: &str| a.ends_with(".duckdb") || exists(std::path::Path::new(a));
    let sql = match args.last() {
        Some(last) if args.len() > 1 && !looks_like_file(last) => args.pop(),
        Some(only)
            if args.len() == 1 && !looks_like_file(only) && only.contains(char::is_whitespace) =>
        {
            return Err(UsageError::SqlWithoutFile(only.clone()));
        }
        _ => None,
    };
    let files = args
        .iter()
        .map(|a| store_path::find(std::path::Path::new(a)))
        .collect();
    Ok((files, sql))
}

/// Whether a terminal view can start: stdin and stdout are both terminals.
fn stdio_is_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// `--color` wins over NO_COLOR only when it says `always` (no-color.org).
pub fn resolve_color(when: ColorWhen, no_color_env: bool, is_tty: bool) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => is_tty && !no_color_env,
    }
}

/// What the profile samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub on_cpu: bool,
    pub off_cpu: bool,
}

impl Mode {
    pub const ON_CPU: Mode = Mode {
        on_cpu: true,
        off_cpu: false,
    };
    pub const OFF_CPU: Mode = Mode {
        on_cpu: false,
        off_cpu: true,
    };
    pub const BOTH: Mode = Mode {
        on_cpu: true,
        off_cpu: true,
    };

    /// The name stored in sessions and shown in the status bar.
    pub fn name(self) -> &'static str {
        match (self.on_cpu, self.off_cpu) {
            (true, true) => "both",
            (false, true) => "off-cpu",
            _ => "on-cpu",
        }
    }

    pub fn from_name(name: &str) -> Option<Mode> {
        match name {
            "on-cpu" => Some(Mode::ON_CPU),
            "off-cpu" => Some(Mode::OFF_CPU),
            "both" => Some(Mode::BOTH),
            _ => None,
        }
    }
}

/// What to sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplerConfig {
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub mode: Mode,
    pub hz: u32,
    pub min_block: Duration,
    pub kernel_stacks: bool,
    pub per_thread: bool,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// A stand-in capture command, as `trace` or `profile` will flatten it.
    #[derive(Debug, Parser)]
    struct Capture {
        #[command(flatten)]
        capture: CaptureArgs,
    }

    fn capture(args: &[&str]) -> Result<CaptureArgs, clap::Error> {
        let argv = std::iter::once("capture").chain(args.iter().copied());
        Capture::try_parse_from(argv).map(|c| c.capture)
    }

    #[test]
    fn capture_options_parse_and_validate() {
        let me = std::process::id().to_string();
        let args = capture(&[
            "-p",
            &me,
            "--pid",
            &me,
            "--comm",
            "nginx",
            "-d",
            "2m",
            "--session",
            "/tmp/x.duckdb",
            "--tag",
            "ticket=INC-42",
        ])
        .unwrap();
        let config = CaptureConfig::from_args(args).unwrap();
        assert_eq!(config.pids, vec![std::process::id()]);
        assert_eq!(config.comms, vec!["nginx".to_owned()]);
        assert_eq!(config.duration, Some(Duration::from_secs(120)));
        assert_eq!(config.session, SessionTarget::Path("/tmp/x.duckdb".into()));
        assert_eq!(
            config.tags,
            vec![("ticket".to_owned(), "INC-42".to_owned())]
        );
        assert!(capture(&["--tag", "novalue"]).is_err());
    }

    #[test]
    fn durations_are_human() {
        for (text, want) in [
            ("500ms", Duration::from_millis(500)),
            ("10s", Duration::from_secs(10)),
            ("2m", Duration::from_secs(120)),
            ("1h30m", Duration::from_secs(5400)),
            ("3650days", crate::cli::MAX_DURATION),
        ] {
            let args = capture(&["-d", text]).unwrap();
            assert_eq!(args.duration, Some(want), "{text}");
        }
        // Past the bound: what overflowed `Instant + Duration` is refused.
        for bad in [
            "10",
            "abc",
            "0s",
            "-1s",
            "3651days",
            "18446744073709551615s",
        ] {
            let err = capture(&[&format!("--duration={bad}")]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
        }
    }

    #[test]
    fn session_flags() {
        let off = CaptureConfig::from_args(capture(&["--no-session"]).unwrap()).unwrap();
        assert_eq!(off.session, SessionTarget::Off);
        let default = CaptureConfig::from_args(capture(&[]).unwrap()).unwrap();
        assert_eq!(default.session, SessionTarget::Default);
        let both = capture(&["--no-session", "--session", "x.duckdb"]).unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn missing_pid_is_named() {
        // pid_max is at most 2^22 on Linux, so this pid cannot exist.
        let err = CaptureConfig::from_args(capture(&["-p", "4194305"]).unwrap()).unwrap_err();
        assert_eq!(err.to_string(), "no process with pid 4194305");
        assert!(capture(&["-p", "0"]).is_err());
    }

    #[test]
    fn comm_longer_than_the_kernel_keeps_is_refused() {
        assert!(capture(&["--comm", "exactly15bytes_"]).is_ok());
        let err = capture(&["--comm", "a-much-longer-command"]).unwrap_err();
        assert!(err.to_string().contains("a-much-longer-c"), "{err}");
    }

    #[test]
    fn query_args_split_files_from_sql() {
        let exists = |p: &std::path::Path| p.to_str() == Some("plain-name");
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (files, sql) = split_query_args(args(&["a.duckdb", "SELECT 1"]), exists).unwrap();
        assert_eq!(files, vec![PathBuf::from("a.duckdb")]);
        assert_eq!(sql.as_deref(), Some("SELECT 1"));
        let (files, sql) = split_query_args(args(&["a.duckdb", "b.duckdb"]), exists).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(sql, None);
        let (files, sql) = split_query_args(args(&["a.duckdb", "plain-name"]), exists).unwrap();
        assert_eq!((files.len(), sql), (2, None));
        let (files, sql) = split_query_args(args(&["a.duckdb"]), exists).unwrap();
        assert_eq!((files.len(), sql), (1, None));
        assert!(matches!(
            split_query_args(args(&["SELECT 1"]), exists),
            Err(UsageError::SqlWithoutFile(_))
        ));
    }

    fn query_config(args: &[&str]) -> Result<QueryConfig, UsageError> {
        let argv = ["dflow", "query"].into_iter().chain(args.iter().copied());
        match Config::from_cli(Cli::try_parse_from(argv).unwrap())?.command {
            CommandConfig::Query(q) => Ok(q),
            other => panic!("not a query: {other:?}"),
        }
    }

    /// DuckDB ran every statement and returned the last one's rows.
    #[test]
    fn several_statements_are_refused_before_any_runs() {
        let err = query_config(&["a.duckdb", "SELECT 1; SELECT 2; SELECT 3"]).unwrap_err();
        assert!(matches!(err, UsageError::SeveralStatements(3)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the SQL holds 3 statements; dflow query runs one"
        );
        for one in ["SELECT 1", "SELECT 1;", "SELECT ';' AS x; -- done"] {
            let config = query_config(&["a.duckdb", one]).unwrap();
            assert_eq!(config.sql.as_deref(), Some(one));
        }
    }

    #[test]
    fn query_memory_is_bounded_by_default_and_by_flag() {
        let given = query_config(&["--memory-limit", "512MB", "a.duckdb", "SELECT 1"]).unwrap();
        assert_eq!(given.memory_limit, 512_000_000);
        use procfs::Current as _;
        let ram = procfs::Meminfo::current().unwrap().mem_total;
        let default = query_config(&["a.duckdb", "SELECT 1"])
            .unwrap()
            .memory_limit;
        assert!(
            default <= (ram / 4).max(MIN_QUERY_MEMORY) && default >= MIN_QUERY_MEMORY,
            "{default} of {ram}"
        );
    }

    #[test]
    fn sizes_read_as_duckdb_reads_them() {
        use crate::cli::parse_size;
        for (text, want) in [
            ("2GB", 2_000_000_000),
            ("512MB", 512_000_000),
            ("512mb", 512_000_000),
            ("1.5GiB", 3 << 29),
            ("2 GB", 2_000_000_000),
            ("4G", 4_000_000_000),
            ("1TiB", 1 << 40),
            ("1000000B", 1_000_000),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in [
            "", "2", "GB", "-1GB", "2XB", "1KB", "0MB", "1e30TB", "1.2.3GB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn color_honours_no_color() {
        assert!(resolve_color(ColorWhen::Auto, false, true));
        assert!(!resolve_color(ColorWhen::Auto, true, true));
        assert!(!resolve_color(ColorWhen::Auto, false, false));
        assert!(resolve_color(ColorWhen::Always, true, false));
        assert!(!resolve_color(ColorWhen::Never, false, true));
    }
}
