//! `dflow replay FILE`: a stored session shown again as its live capture
//! showed it: a trace session in the trace view on a terminal, a profile
//! session as its flame graph (the view, or folded stacks), and every
//! kind's facts one per line (`--json`: one object each) otherwise.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::app::profile::status_of;
use crate::config::OutputConfig;
use crate::output::events;
use crate::profile::session::StoredProfile;
use crate::store::{SessionInfo, SessionKind, SessionSet};
use crate::tui::flame::{FlameState, Msg};
use crate::tui::trace::TraceStatus;
use crate::tui::widgets::status::CaptureStatus;

pub fn run(
    file: &Path,
    output: &OutputConfig,
    terminal: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let set = SessionSet::open(&[file.to_owned()])?;
    let info = set.infos()?.remove(0);
    let Some(kind) = info.kind() else {
        return Err(anyhow::anyhow!(
            "{} is a session of unknown kind '{}'; upgrade dflow",
            file.display(),
            info.kind
        ));
    };
    match kind {
        // Through the same fold as the live run, read once.
        SessionKind::Profile if !output.json => {
            drop(set);
            let stored = crate::profile::session::load(file)?;
            if terminal {
                return flame_view(&stored);
            }
            crate::cmd::profile::print_folded(&stored.profile, out).map_err(Into::into)
        }
        SessionKind::Trace if terminal && !output.json => {
            let spans = set.replay()?.spans;
            let status = stored_status(&info, spans.len() as u64);
            crate::cmd::trace::trace_view(spans, status)
        }
        _ => Ok(events::replay(out, &set.replay()?, output.json)?),
    }
}

/// The trace view's status bar for a stored session of `spans` spans.
fn stored_status(info: &SessionInfo, spans: u64) -> TraceStatus {
    let elapsed_ns = info.ended_ns.unwrap_or(info.started_ns) - info.started_ns;
    TraceStatus {
        spans,
        capture: CaptureStatus::replay(info.lost, Duration::from_nanos(elapsed_ns.max(0) as u64)),
        ..TraceStatus::default()
    }
}

/// The flame graph view over a stored profile, until the user quits.
pub fn flame_view(stored: &StoredProfile) -> anyhow::Result<()> {
    let elapsed = Duration::from_nanos(stored.duration_ns() as u64);
    let status = status_of(&stored.profile, CaptureStatus::replay(stored.lost, elapsed));
    let mut state = FlameState::new(false);
    state.update(Msg::Profile(stored.profile.clone()));
    state.update(Msg::Status(status));
    crate::app::view_stored(state)
}
