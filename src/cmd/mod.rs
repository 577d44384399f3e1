//! One module per subcommand: each takes the validated config and the
//! output stream, never a clap type.

pub mod doctor;
pub mod profile;
pub mod query;
pub mod replay;
pub mod sessions;
pub mod trace;

use anyhow::Context as _;

use crate::config::{CommandConfig, Config};
use crate::output::progress::{Progress, WRITING_SESSION, WRITING_SESSION_END};

pub fn run(config: &Config) -> anyhow::Result<()> {
    match &config.command {
        CommandConfig::Doctor => doctor::run(&config.output, &mut std::io::stdout().lock()),
        CommandConfig::Trace(t) => trace::run(t, &config.output),
        CommandConfig::Profile(p) => profile::run(p, &config.output),
        CommandConfig::Query(q) => query::run(q, &config.output, &mut std::io::stdout().lock()),
        CommandConfig::Sessions(s) => {
            sessions::run(s, &config.output, &mut std::io::stdout().lock())
        }
        CommandConfig::Replay { file, terminal } => replay::run(
            file,
            &config.output,
            *terminal,
            &mut std::io::stdout().lock(),
        ),
    }
}

/// An error from a capture's terminal view or its printed output, which
/// stops the capture's loop but not its clean end (drain, session closed,
/// summary): the error, to be returned after that end; None when it only
/// says that nobody reads any more, a closed pipe (`dflow trace | head`) or
/// a terminal that hung up (the ssh session dropped), which end a capture
/// as Ctrl-C does.
pub(crate) fn output_stopped(err: anyhow::Error) -> Option<anyhow::Error> {
    let hung_up = crate::tui::terminal::forget_hung_up();
    (!hung_up && !crate::exit::is_broken_pipe(&err)).then_some(err)
}

/// With only pids as targets (no --comm, which new processes can match),
/// a note once every one of them has exited.
pub(crate) fn all_targets_gone(capture: &crate::config::CaptureConfig) -> Option<String> {
    if capture.pids.is_empty() || !capture.comms.is_empty() {
        return None;
    }
    let alive = capture.pids.iter().any(|&pid| crate::process::exists(pid));
    (!alive).then(|| match capture.pids.as_slice() {
        [one] => format!("process {one} exited"),
        many => format!("all {} processes exited", many.len()),
    })
}

/// `pid 42, comm nginx`, or `all processes`.
pub(crate) fn target_text(capture: &crate::config::CaptureConfig) -> String {
    let mut parts: Vec<String> = capture.pids.iter().map(|p| format!("pid {p}")).collect();
    parts.extend(capture.comms.iter().map(|c| format!("comm {c}")));
    if parts.is_empty() {
        "all processes".to_owned()
    } else {
        parts.join(", ")
    }
}

/// The capture's session, labelled with its `--tag`s; None with
/// `--no-session`.
pub(crate) fn open_session(
    capture: &crate::config::CaptureConfig,
    kind: crate::store::SessionKind,
) -> anyhow::Result<Option<crate::store::SessionWriter>> {
    use crate::store::{SessionMeta, SessionWriter, path};
    let meta = SessionMeta::now(kind);
    let Some(file) = path::resolve(&capture.session, kind, &meta.host)? else {
        return Ok(None);
    };
    let writer = SessionWriter::create(&file, meta)?;
    crate::signal::note_session(&file);
    for (key, value) in &capture.tags {
        writer.label("session", 0, key, value);
    }
    Ok(Some(writer))
}

/// How a capture's session ended.
#[derive(Debug, Default)]
pub(crate) struct Closed {
    /// The session file; None with `--no-session`.
    pub path: Option<std::path::PathBuf>,
    /// Writing it failed during the capture: what it lacks.
    pub failure: Option<crate::store::writer::WriteFailure>,
    /// It could not be finished: it stays a log (this says where).
    pub error: Option<anyhow::Error>,
}

/// Ends the capture's session, if it has one: its counters under `source`,
/// and the log converted into the DuckDB file, with a progress bar when
/// that is slow. An error is kept in [`Closed`], for the summary to come
/// first.
pub(crate) fn close_session(
    writer: Option<crate::store::SessionWriter>,
    source: &str,
    counters: crate::probe::ProbeCounters,
    quiet: bool,
) -> Closed {
    let Some(writer) = writer else {
        return Closed::default();
    };
    let path = writer.path().to_owned();
    let health = writer.health();
    let progress = Progress::new(quiet, WRITING_SESSION).finishing(WRITING_SESSION_END);
    let result = writer
        .finish_with_progress(vec![(source.to_owned(), counters)], &mut |done, total| {
            progress.update(done, total)
        });
    progress.done();
    let error = result
        .with_context(|| {
            format!(
                "the capture stays in {} as a log, converted when `dflow replay` or `dflow query` first opens it",
                path.display()
            )
        })
        .err();
    Closed {
        path: Some(path),
        failure: health.failure(),
        error,
    }
}

/// The line that says at once that the session can no longer be written.
pub(crate) fn write_failure_note(failure: &crate::store::writer::WriteFailure) -> String {
    format!(
        "cannot write the session ({}); the capture goes on, but the session keeps only what came before",
        failure.reason
    )
}

/// The end's line about a session that lacks facts, or None.
pub(crate) fn unwritten_note(closed: &Closed, what: &str) -> Option<String> {
    let failure = closed.failure.as_ref()?;
    Some(format!(
        "the session lacks {} {what} that could not be written ({})",
        failure.unwritten, failure.reason
    ))
}
