//! The `dflow` binary: parse, validate, run, and map errors to exit codes.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};
use dflow::cli::Cli;
use dflow::config::Config;

fn main() -> ExitCode {
    let matches = match Cli::command().version(dflow::VERSION).try_get_matches() {
        Ok(matches) => matches,
        Err(e) => return dflow::exit::usage(&e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return dflow::exit::usage(&e),
    };
    let result = Config::from_cli(cli)
        .map_err(anyhow::Error::from)
        .and_then(|config| dflow::cmd::run(&config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => dflow::exit::report(&err, dflow::cmd::advice),
    }
}
