//! The validated configuration that commands run from (ripgrep's `HiArgs`).
//!
//! `crate::cli` holds what clap parsed; this module checks it against the
//! host (does the pid exist?) and resolves defaults (colour, session path),
//! so `cmd/*` never sees a clap type and never re-validates.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{CaptureArgs, Cli, ColorWhen, Command};

/// A command line that parsed but cannot be run as given: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("no process with pid {0}")]
    NoSuchPid(u32),
}

impl UsageError {
    pub fn hint(&self) -> &'static str {
        match self {
            UsageError::NoSuchPid(_) => "list processes with `ps -e` and pass a live pid to -p",
        }
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
}

/// What a capture targets and where it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub duration: Option<Duration>,
    pub session: SessionTarget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionTarget {
    /// The default directory and file name (decided by the session store).
    Default,
    Path(PathBuf),
    Off,
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
        if let Some(&missing) = pids.iter().find(|&&pid| !process_exists(pid)) {
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
        })
    }
}

fn process_exists(pid: u32) -> bool {
    std::path::Path::new("/proc").join(pid.to_string()).exists()
}

/// `--color` wins over NO_COLOR only when it says `always` (no-color.org).
pub fn resolve_color(when: ColorWhen, no_color_env: bool, is_tty: bool) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => is_tty && !no_color_env,
    }
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
        ])
        .unwrap();
        let config = CaptureConfig::from_args(args).unwrap();
        assert_eq!(config.pids, vec![std::process::id()]);
        assert_eq!(config.comms, vec!["nginx".to_owned()]);
        assert_eq!(config.duration, Some(Duration::from_secs(120)));
        assert_eq!(config.session, SessionTarget::Path("/tmp/x.duckdb".into()));
    }

    #[test]
    fn durations_are_human() {
        for (text, want) in [
            ("500ms", Duration::from_millis(500)),
            ("10s", Duration::from_secs(10)),
            ("2m", Duration::from_secs(120)),
            ("1h30m", Duration::from_secs(5400)),
        ] {
            let args = capture(&["-d", text]).unwrap();
            assert_eq!(args.duration, Some(want), "{text}");
        }
        for bad in ["10", "abc", "0s", "-1s"] {
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
    fn color_honours_no_color() {
        assert!(resolve_color(ColorWhen::Auto, false, true));
        assert!(!resolve_color(ColorWhen::Auto, true, true));
        assert!(!resolve_color(ColorWhen::Auto, false, false));
        assert!(resolve_color(ColorWhen::Always, true, false));
        assert!(!resolve_color(ColorWhen::Never, false, true));
    }
}
