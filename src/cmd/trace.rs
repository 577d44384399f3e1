//! `dflow trace`: capture socket syscalls, turn them into spans, print and
//! store them ([`crate::app::trace`] through [`crate::app`]'s loop).

use crate::app::{self, trace::TraceCapture};
use crate::config::{OutputConfig, TraceConfig};
use crate::event::Span;
use crate::tui::trace::{Msg, TraceState, TraceStatus};

pub fn run(config: &TraceConfig, output: &OutputConfig) -> anyhow::Result<()> {
    app::live(
        "trace",
        &config.capture,
        config.tui,
        output.quiet,
        |started| TraceCapture::start(config, output, started),
    )
}

/// The terminal view over a stored trace session, until the user quits.
pub fn trace_view(spans: Vec<Span>, status: TraceStatus) -> anyhow::Result<()> {
    let mut state = TraceState::new(false);
    state.update(Msg::Spans(spans));
    state.update(Msg::Status(status));
    app::view_stored(state)
}
