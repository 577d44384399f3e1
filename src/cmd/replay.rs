//! `dflow replay FILE`: a stored session's events, as the live capture
//! would have produced them.

use std::io::Write;
use std::path::Path;

use crate::config::OutputConfig;
use crate::output::events;
use crate::profile::session::StoredProfile;
use crate::store::{SessionKind, SessionSet};
use crate::tui::flame::{FlameState, Msg};
use crate::tui::trace::TraceStatus;

pub fn run(
    file: &Path,
    output: &OutputConfig,
    terminal: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let set = SessionSet::open(&[file.to_owned()])?;
    let info = set.infos()?.remove(0);
    let replay = set.replay()?;
    // The capture commands' terminal views arrive with their issues, and
    // dispatch on the kind then; until then, and for --json and pipes,
    // every kind prints its events one per line, as its live capture does.
    if info.kind().is_none() {
        return Err(anyhow::anyhow!(
            "{} is a session of unknown kind '{}'; upgrade dflow",
            file.display(),
            info.kind
        ));
    }
    // A trace session on a terminal opens the same view as the live run.
    if info.kind() == Some(SessionKind::Trace) && terminal && !output.json {
        let elapsed_ns = info.ended_ns.unwrap_or(info.started_ns) - info.started_ns;
        let status = TraceStatus {
            events_per_s: 0.0,
            lost: info.lost,
            spans: replay.spans.len() as u64,
            self_cpu_pct: 0.0,
            self_rss_bytes: 0,
            elapsed: std::time::Duration::from_nanos(elapsed_ns.max(0) as u64),
            live: false,
            note: None,
        };
        return crate::cmd::trace::trace_view(replay.spans, status);
    }
    for s in &replay.spans {
        if output.json {
            events::span_json(out, s)?;
        } else {
            events::span_text(out, s)?;
        }
    }
    for f in &replay.flows {
        if output.json {
            events::flow_json(out, f)?;
        } else {
            events::flow_text(out, f)?;
        }
    }
    // A profile session replays as its flame graph: the terminal view on a
    // terminal, else the folded stacks, both through the same fold as the
    // live run. --json keeps one object per stored sample.
    if info.kind() == Some(SessionKind::Profile) && !output.json {
        let stored = crate::profile::session::load(file)?;
        if terminal {
            return flame_view(&stored);
        }
        return crate::cmd::profile::print_folded(&stored.profile, out).map_err(Into::into);
    }
    for s in &replay.samples {
        if output.json {
            events::sample_json(out, s)?;
        } else {
            events::sample_folded(out, s)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The flame graph view over a stored profile, until the user quits.
pub fn flame_view(stored: &StoredProfile) -> anyhow::Result<()> {
    let elapsed = std::time::Duration::from_nanos(stored.duration_ns() as u64);
    let status = crate::cmd::profile::replay_status(&stored.profile, stored.lost, elapsed);
    let mut state = FlameState::new(false);
    state.update(Msg::Profile(stored.profile.clone()));
    state.update(Msg::Status(status));
    crate::app::view_stored(state)
}
