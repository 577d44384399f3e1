//! The `dflow` binary: parse, validate, run, and map errors to exit codes.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};
use dflow::cli::Cli;
use dflow::config::Config;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits 2 (0 for --help/--version).
    let matches = Cli::command().version(dflow::VERSION).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = Config::from_cli(cli)
        .map_err(anyhow::Error::from)
        .and_then(|config| dflow::cmd::run(&config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => dflow::exit::report(&err),
    }
}
