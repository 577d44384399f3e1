//! A capture's session: opened before the capture says it runs, closed
//! after its probes drain; and the targets a capture names.

use anyhow::Context as _;

use super::Closed;
use crate::config::CaptureConfig;
use crate::output::progress::{Progress, WRITING_SESSION, WRITING_SESSION_END};
use crate::store::{SessionKind, SessionWriter};

/// With only pids as targets (no --comm, which new processes can match),
/// a note once every one of them has exited.
pub fn all_targets_gone(capture: &CaptureConfig) -> Option<String> {
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
pub fn target_text(capture: &CaptureConfig) -> String {
    let mut parts: Vec<String> = capture.pids.iter().map(|p| format!("pid {p}")).collect();
    parts.extend(capture.comms.iter().map(|c| format!("comm {c}")));
    if parts.is_empty() {
        "all processes".to_owned()
    } else {
        parts.join(", ")
    }
}

/// ` for 30s` with `-d 30s`, else nothing: the end of a capture's first line.
pub fn duration_text(capture: &CaptureConfig) -> String {
    capture
        .duration
        .map(|d| format!(" for {}", humantime::format_duration(d)))
        .unwrap_or_default()
}

/// The capture's session, labelled with its `--tag`s; None with
/// `--no-session`.
pub fn open_session(
    capture: &CaptureConfig,
    kind: SessionKind,
) -> anyhow::Result<Option<SessionWriter>> {
    use crate::store::{SessionMeta, path};
    let meta = SessionMeta::now(kind, crate::VERSION);
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

/// Ends the capture's session, if it has one: the counters of each of its
/// probes under its source name (`trace`; a topo capture has two), and the
/// log converted into the DuckDB file, with a progress bar when that is
/// slow. An error is kept in [`Closed`], for the summary to come
/// first.
pub fn close_session(
    writer: Option<SessionWriter>,
    counters: &[(&str, crate::probe::ProbeCounters)],
    quiet: bool,
) -> Closed {
    let Some(writer) = writer else {
        return Closed::default();
    };
    let path = writer.path().to_owned();
    let health = writer.health();
    let progress = Progress::new(quiet, WRITING_SESSION).finishing(WRITING_SESSION_END);
    let counters = counters
        .iter()
        .map(|&(source, counters)| (source.to_owned(), counters))
        .collect();
    let result =
        writer.finish_with_progress(counters, &mut |done, total| progress.update(done, total));
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
