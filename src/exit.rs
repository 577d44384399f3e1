//! How an error becomes one message, a hint and an exit code.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | runtime failure (and `doctor`: the host cannot run dflow's core) |
//! | 2 | usage error (clap's own, or a value that does not fit this host) |
//! | 77 | missing privilege (EX_NOPERM): the message names the capability |

use std::error::Error;
use std::process::ExitCode;

pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const NO_PERMISSION: u8 = 77;

/// An error that knows how dflow ends on it: the exit code, and a hint that
/// names the fix. Each module implements it for its own errors; the first
/// cause in a chain that gives advice decides.
pub trait Advice: Error {
    fn exit_code(&self) -> u8 {
        FAILURE
    }

    /// What to do about it, one line; `None` when the message says it all.
    fn hint(&self) -> Option<String>;
}

/// Finds the advice of one cause: the types that implement [`Advice`], as
/// `cmd::advice` lists them (this module depends on none of them).
pub type Advisor = for<'a> fn(&'a (dyn Error + 'static)) -> Option<&'a dyn Advice>;

/// The [`Advisor`] of one type: the cause as `&dyn Advice` when it is a `T`.
pub fn advice_of<'a, T: Advice + 'static>(
    cause: &'a (dyn Error + 'static),
) -> Option<&'a dyn Advice> {
    cause.downcast_ref::<T>().map(|e| e as &dyn Advice)
}

/// The exit code and hint for an error, from the first cause with advice.
pub fn classify(err: &anyhow::Error, advisor: Advisor) -> (u8, Option<String>) {
    err.chain()
        .find_map(advisor)
        .map_or((FAILURE, None), |advice| {
            (advice.exit_code(), advice.hint())
        })
}

/// A command line clap refused, in dflow's own form: `dflow: <message>`
/// and a `hint:` naming the command's help, exit 2. Help and version
/// requests (and a bare `dflow`, which shows the help) print as clap
/// prints them.
pub fn usage(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        err.exit()
    }
    let (message, hint) = clap_message(&err.render().to_string());
    crate::say!("dflow: {message}");
    crate::say!("hint: {hint}");
    ExitCode::from(USAGE)
}

/// clap's rendered error (`error: ...`, a tip, `Usage: ...`, "For more
/// information...") as one message and one hint.
fn clap_message(rendered: &str) -> (String, String) {
    let paragraphs: Vec<String> = rendered
        .split("\n\n")
        .map(|p| {
            p.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|p| !p.is_empty())
        .collect();
    let message = paragraphs
        .first()
        .map(|p| p.strip_prefix("error: ").unwrap_or(p).to_owned())
        .unwrap_or_else(|| "invalid command line".to_owned());
    let tip = paragraphs
        .iter()
        .find_map(|p| p.strip_prefix("tip: "))
        .map(|t| format!("{t}; "))
        .unwrap_or_default();
    // `Usage: dflow replay <FILE>` names the command whose help to read.
    let usage = paragraphs.iter().find_map(|p| p.strip_prefix("Usage: "));
    let command = usage
        .map(|u| {
            u.split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "dflow".to_owned());
    let hint = match usage {
        Some(usage) => {
            format!("{tip}usage: {usage}; `{command} --help` shows every flag with examples")
        }
        None => format!("{tip}`{command} --help` shows every flag with examples"),
    };
    (message, hint)
}

/// Whether the error is stdout closing early (`dflow ... | head`), which
/// is how a pipeline says "enough", not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints `dflow: <message>` and, when there is one, `hint: <hint>` to
/// stderr, and returns the exit code. A broken pipe ends quietly with 0.
pub fn report(err: &anyhow::Error, advisor: Advisor) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    let (code, hint) = classify(err, advisor);
    let root: &(dyn std::error::Error + 'static) = err.as_ref();
    crate::say!("dflow: {}", crate::error_chain(root));
    if let Some(hint) = hint {
        crate::say!("hint: {hint}");
    }
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::Cli;

    fn refused(args: &[&str]) -> (String, String) {
        let argv = std::iter::once("dflow").chain(args.iter().copied());
        let err = Cli::try_parse_from(argv).unwrap_err();
        clap_message(&err.render().to_string())
    }

    /// Each refusal is one line and a hint naming the command's help
    /// (clap's own text spanned four to eight lines).
    #[test]
    fn clap_errors_become_one_line_and_a_hint() {
        let (message, hint) = refused(&["replay"]);
        assert_eq!(
            message,
            "the following required arguments were not provided: <FILE>"
        );
        assert_eq!(
            hint,
            "usage: dflow replay <FILE>; `dflow replay --help` shows every flag with examples"
        );
        let (message, hint) = refused(&["trace", "-d", "2"]);
        assert!(
            message.starts_with("invalid value '2' for '--duration <DURATION>': time unit needed"),
            "{message}"
        );
        assert!(hint.contains("--help` shows every flag"), "{hint}");
        let (message, hint) = refused(&["doctor", "--no-such-flag"]);
        assert_eq!(message, "unexpected argument '--no-such-flag' found");
        assert!(hint.contains("`dflow doctor --help`"), "{hint}");
        for args in [&["replay"][..], &["trace", "-d", "2"], &["doctor", "--x"]] {
            let (message, hint) = refused(args);
            assert!(!message.contains('\n') && !hint.contains('\n'), "{args:?}");
        }
    }
}
