//! How an error becomes one message, a hint and an exit code.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | runtime failure (and `doctor`: the host cannot run dflow's core) |
//! | 2 | usage error (clap's own, or a value that does not fit this host) |
//! | 77 | missing privilege (EX_NOPERM): the message names the capability |

use std::process::ExitCode;

use crate::config::UsageError;
use crate::privilege::{Cap, MissingPrivilege};
use crate::probe::ProbeError;
use crate::profile::session::SessionProfileError;
use crate::store::StoreError;

pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const NO_PERMISSION: u8 = 77;

/// The exit code and hint for an error, from the first cause that has one.
pub fn classify(err: &anyhow::Error) -> (u8, Option<String>) {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<MissingPrivilege>() {
            return (NO_PERMISSION, Some(e.hint()));
        }
        if let Some(e) = cause.downcast_ref::<UsageError>() {
            return (USAGE, Some(e.hint().to_owned()));
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return (FAILURE, e.hint().map(str::to_owned));
        }
        if let Some(e) = cause.downcast_ref::<SessionProfileError>() {
            return (FAILURE, e.hint().map(str::to_owned));
        }
        if let Some(e) = cause.downcast_ref::<ProbeError>()
            && e.is_permission_denied()
        {
            let hint = MissingPrivilege {
                what: "this probe",
                missing: vec![Cap::Bpf, Cap::Perfmon],
            }
            .hint();
            return (
                NO_PERMISSION,
                Some(format!("the kernel said EPERM; {hint}")),
            );
        }
    }
    (FAILURE, None)
}

/// Whether the error is stdout closing early (`dflow ... | head`), which
/// is how a pipeline says "enough", not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints `dflow: <message>` and, when there is one, `hint: <hint>` to
/// stderr, and returns the exit code. A broken pipe ends quietly with 0.
pub fn report(err: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    let (code, hint) = classify(err);
    let root: &(dyn std::error::Error + 'static) = err.as_ref();
    eprintln!("dflow: {}", crate::error_chain(root));
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
    ExitCode::from(code)
}
