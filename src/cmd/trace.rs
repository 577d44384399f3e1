//! `dflow trace`: capture socket syscalls, turn them into spans, print and
//! store them ([`crate::app::trace`] through [`crate::app`]'s loop).

use std::time::Instant;

use anyhow::Context as _;

use crate::app::trace::TraceCapture;
use crate::app::{self, Live, RealIo};
use crate::config::{OutputConfig, TraceConfig};
use crate::event::Span;
use crate::signal::Shutdown;
use crate::tui::trace::{Msg, TraceState, TraceStatus};

pub fn run(config: &TraceConfig, output: &OutputConfig) -> anyhow::Result<()> {
    crate::privilege::require_probes("trace")?;
    let shutdown = Shutdown::install().context("cannot handle Ctrl-C")?;
    let started = Instant::now();
    let mut capture = TraceCapture::start(config, output, started)?;
    let screen = config
        .tui
        .then(|| Live::start(TraceState::new(true)))
        .transpose()?;
    let mut io = RealIo {
        shutdown: &shutdown,
        capture: &config.capture,
        usage: crate::process::Usage::start(),
    };
    let deadline = config.capture.duration.map(|d| started + d);
    // Buffered, and flushed once per tick: stdout is line-buffered, and a
    // write per span (tens of thousands a second) costs more than the rest
    // of the pipeline.
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let times = (started, deadline);
    app::capture(&mut capture, screen, &mut io, times, output.quiet, &mut out)
}

/// The terminal view over a stored trace session, until the user quits.
pub fn trace_view(spans: Vec<Span>, status: TraceStatus) -> anyhow::Result<()> {
    let mut state = TraceState::new(false);
    state.update(Msg::Spans(spans));
    state.update(Msg::Status(status));
    app::view_stored(state)
}
