//! dflow: zero-code eBPF troubleshooting for one Linux host.
//!
//! The data path (see `../shared/DESIGN.md`): `ebpf/*.bpf.c` → [`probe`]
//! (load, filter, attach, drain, detach) → [`event`] → pipelines → stores,
//! views and [`output`]. [`cli`] is what clap parses, [`config`] what
//! commands run from, [`cmd`] one module per subcommand, and [`exit`] how
//! errors become a message and an exit code.

pub mod app;
pub mod cmd;
pub mod config;
pub mod doctor;
pub mod exit;
pub mod output;
pub mod privilege;
pub mod probe;
pub mod process;
pub mod profile;
pub mod signal;
pub mod stats;
pub mod store;
pub mod trace;
pub mod tui;

pub use dflow_cli as cli;
pub use dflow_model as event;
pub use dflow_protocol as protocol;

/// `dflow --version`: the package version and the git commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("DFLOW_GIT_COMMIT"),
    ")"
);

/// An error and its causes on one line, `outer: inner: innermost`.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let piece = inner.to_string();
        // Some errors repeat their source in their own message; DuckDB's
        // carry a generic code ("Error code 1: Unknown error code") that
        // says nothing.
        if !text.contains(&piece) && !piece.ends_with("Unknown error code") {
            text.push_str(": ");
            text.push_str(&piece);
        }
        cause = inner.source();
    }
    // aya ends a load error with "Verifier output: " and the log, which is
    // empty when the kernel refused before verifying.
    let trimmed = text.trim_end().trim_end_matches(['.', ':']).trim_end();
    trimmed
        .strip_suffix("Verifier output")
        .map_or(trimmed, str::trim_end)
        .trim_end_matches('.')
        .to_owned()
}
