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

/// With only pids as targets (no --comm, which new processes can match),
/// a note once every one of them has exited.
pub(crate) fn all_targets_gone(capture: &crate::config::CaptureConfig) -> Option<String> {
    if capture.pids.is_empty() || !capture.comms.is_empty() {
        return None;
    }
    let alive = capture
        .pids
        .iter()
        .any(|pid| std::path::Path::new("/proc").join(pid.to_string()).exists());
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

/// Ends the capture's session, if it has one: its counters under `source`,
/// and the log converted into the DuckDB file, with a progress bar when
/// that is slow. The file's path.
pub(crate) fn close_session(
    writer: Option<crate::store::SessionWriter>,
    source: &str,
    counters: crate::probe::ProbeCounters,
    quiet: bool,
) -> anyhow::Result<Option<std::path::PathBuf>> {
    let Some(writer) = writer else {
        return Ok(None);
    };
    let path = writer.path().to_owned();
    let progress = Progress::new(quiet, WRITING_SESSION).finishing(WRITING_SESSION_END);
    let result = writer
        .finish_with_progress(vec![(source.to_owned(), counters)], &mut |done, total| {
            progress.update(done, total)
        });
    progress.done();
    result.with_context(|| {
        format!(
            "the capture stays in {} as a log, converted when `dflow replay` or `dflow query` first opens it",
            path.display()
        )
    })?;
    Ok(Some(path))
}
