//! `dflow trace` as a [`Capture`]: socket events through the [`Pipeline`]
//! into spans, which are filtered (`--min-latency`, `--status`, `--port`),
//! shown, printed (a line each, or a JSON object each with `--json`) and
//! stored. At the end the pipeline is flushed, so nothing that completed is
//! lost, and a summary with the capture's counters goes to stderr.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::app::{self, Capture, CaptureStatus, Closed, Ended};
use crate::config::{OutputConfig, TraceConfig};
use crate::event::{SockEvent, Span};
use crate::output::events;
use crate::probe::{Filters, Probe, ProbeCounters};
use crate::protocol::Options;
use crate::store::writer::WriteFailure;
use crate::store::{SessionKind, SessionWriter};
use crate::trace::capture::{self, CaptureConfig, Hinter};
use crate::trace::clock::{epoch_offset_ns, monotonic_ns};
use crate::trace::pipeline::{Pipeline, PipelineConfig};
use crate::tui::trace::{Msg, TraceState, TraceStatus};

/// How often batches are taken in and lingering spans handed out.
const TICK: Duration = Duration::from_millis(50);

/// How often batches are taken in while the capture is being given hints:
/// a hint that waits a tick can come after the download it is about has
/// passed the next head. The view is still drawn every [`TICK`].
const HINT_TICK: Duration = Duration::from_millis(2);

/// Whether a span passes `--min-latency` and `--status` (and `--port`).
pub fn wanted(config: &TraceConfig, span: &Span) -> bool {
    let slow_enough = config
        .min_latency
        .is_none_or(|min| span.duration_ns >= min.as_nanos() as i64);
    let status = config.statuses.is_empty() || config.statuses.contains(&span.status);
    // The kernel applies --port, except to a datagram received on an
    // unconnected socket, whose sender it cannot see.
    let port = config.ports.is_empty()
        || config.ports.contains(&span.local.port())
        || config.ports.contains(&span.remote.port());
    slow_enough && status && port
}

/// A running trace capture.
pub struct TraceCapture<'a> {
    config: &'a TraceConfig,
    output: &'a OutputConfig,
    /// None once finished.
    probe: Option<Probe>,
    rx: Receiver<Vec<SockEvent>>,
    /// The probe's events stopped coming (its drain ended early).
    disconnected: bool,
    pipeline: Pipeline,
    hinter: Hinter,
    writer: Option<SessionWriter>,
    /// Spans handed out and not yet printed and stored.
    spans: Vec<Span>,
    /// Spans printed (or shown) and stored so far.
    shown: u64,
    /// Socket events at the last status, for the rate.
    events_then: u64,
    lost: u64,
    counters: ProbeCounters,
    started: Instant,
}

impl<'a> TraceCapture<'a> {
    /// Loads and attaches the probe, opens the session, and says that the
    /// capture runs.
    pub fn start(
        config: &'a TraceConfig,
        output: &'a OutputConfig,
        started: Instant,
    ) -> anyhow::Result<TraceCapture<'a>> {
        let (probe, rx) = capture::start(&CaptureConfig {
            filters: Filters {
                pids: config.capture.pids.clone(),
                comms: config.capture.comms.clone(),
                ports: config.ports.clone(),
            },
            snaplen: config.snaplen,
            exclude_pid: std::process::id(),
        })?;
        // Before the line that says the capture runs: its session is open.
        let writer = app::open_session(&config.capture, SessionKind::Trace)?;
        if !output.quiet {
            crate::say!(
                "dflow: tracing {}{}; Ctrl-C stops",
                target_text(config),
                app::duration_text(&config.capture),
            );
        }
        let redact = config.redact;
        let pipeline = Pipeline::new(
            PipelineConfig {
                protocols: config.protocols.clone(),
                options: Options { redact },
                epoch_offset_ns: epoch_offset_ns(),
            },
            Box::new(move |pid, comm| crate::process::describe(pid, Some(comm), redact)),
        );
        Ok(TraceCapture {
            config,
            output,
            probe: Some(probe),
            rx,
            disconnected: false,
            pipeline,
            hinter: Hinter::default(),
            writer,
            spans: Vec::new(),
            shown: 0,
            events_then: 0,
            lost: 0,
            counters: ProbeCounters::default(),
            started,
        })
    }

    /// Feeds the pipeline every batch the capture has queued, without
    /// waiting.
    fn take_in(&mut self) {
        for batch in self.rx.try_iter() {
            batch.iter().for_each(|e| self.pipeline.feed(e));
        }
    }

    /// Shows (in `view`), prints (to `out`, when given and there is no
    /// view) and stores the spans handed out that pass the filters. They
    /// are stored also when printing fails.
    fn emit(
        &mut self,
        view: Option<&mut TraceState>,
        out: Option<&mut dyn Write>,
    ) -> io::Result<()> {
        let config = self.config;
        self.spans.retain(|s| wanted(config, s));
        if self.spans.is_empty() {
            return Ok(());
        }
        // Filtered like the lines would be: what the view shows is what the
        // session keeps.
        if let Some(view) = view {
            view.update(Msg::Spans(self.spans.clone()));
        }
        // The terminal view shows them instead.
        let printed = match out {
            Some(mut out) if !config.tui => {
                events::spans(&mut out, &self.spans, self.output.json).and_then(|()| out.flush())
            }
            _ => Ok(()),
        };
        self.shown += self.spans.len() as u64;
        let batch = std::mem::take(&mut self.spans);
        if let Some(w) = &self.writer {
            w.spans(batch);
        }
        printed
    }
}

impl Capture for TraceCapture<'_> {
    type View = TraceState;

    fn view(&self) -> TraceState {
        TraceState::new(true)
    }

    fn tick(&self) -> Duration {
        if self.hinter.hinting() {
            HINT_TICK
        } else {
            TICK
        }
    }

    fn draw_every(&self) -> Duration {
        TICK
    }

    fn wait(&mut self, timeout: Duration) {
        match self.rx.recv_timeout(timeout) {
            Ok(batch) => batch.iter().for_each(|e| self.pipeline.feed(e)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => self.disconnected = true,
        }
    }

    fn absorb(
        &mut self,
        _: Instant,
        view: Option<&mut TraceState>,
        out: Option<&mut dyn Write>,
    ) -> io::Result<()> {
        if self.disconnected {
            return Err(io::Error::other("the probe's events stopped coming"));
        }
        self.take_in();
        // Soon, so the capture of a download's next head is set before the
        // download reaches it. Without a hint the capture is as before.
        if let Some(probe) = &mut self.probe {
            let _ = self.hinter.hint(probe, self.pipeline.take_hints());
        }
        self.pipeline.tick(monotonic_ns(), &mut self.spans);
        self.emit(view, out)
    }

    fn write_failure(&self) -> Option<WriteFailure> {
        self.writer.as_ref().and_then(SessionWriter::failure)
    }

    fn status(&mut self, view: &mut TraceState, status: CaptureStatus) {
        let stats = self.pipeline.stats();
        if let Some(counters) = self.probe.as_ref().and_then(|p| p.counters().ok()) {
            self.lost = counters.lost;
        }
        let per_s = app::STATUS_EVERY.as_secs_f64();
        view.update(Msg::Status(TraceStatus {
            events_per_s: (stats.events - self.events_then) as f64 / per_s,
            spans: stats.spans,
            capture: CaptureStatus {
                lost: self.lost,
                ..status
            },
        }));
        self.events_then = stats.events;
    }

    fn finish(&mut self, out: Option<&mut dyn Write>) -> anyhow::Result<()> {
        // Take in what is queued, detach (the drains make a last pass),
        // take in that too, and hand out every call that completed.
        self.take_in();
        let finished = self.probe.take().map(Probe::finish).transpose();
        self.take_in();
        self.pipeline.flush(&mut self.spans);
        let emitted = self.emit(None, out);
        if let Some(counters) = finished? {
            self.counters = counters;
        }
        if let Err(e) = emitted {
            return app::output_stopped(e.into()).map_or(Ok(()), Err);
        }
        Ok(())
    }

    fn close_session(&mut self) -> Closed {
        app::close_session(
            self.writer.take(),
            &[("trace", self.counters)],
            self.output.quiet,
        )
    }

    fn summary(&mut self, ended: &Ended, closed: &Closed) -> anyhow::Result<()> {
        if self.output.quiet {
            if let Some(text) = closed.unwritten_note("calls") {
                crate::say!("dflow: {text}");
            }
            return Ok(());
        }
        if let Some(note) = &ended.note {
            crate::say!("dflow: {note}; the calls traced until then are above");
        }
        // Nobody may be left to read it: a failure to say it is no failure
        // of the capture.
        let _ = crate::output::summary::trace(
            self.output,
            &crate::output::summary::TraceEnd {
                counters: &self.counters,
                stats: &self.pipeline.stats(),
                shown: self.shown,
                waiting: self.pipeline.waiting(),
                elapsed: self.started.elapsed(),
                closed,
                unparsed: &self.pipeline.unparsed(),
            },
        );
        Ok(())
    }
}

/// The targets and ports, for the start line.
fn target_text(config: &TraceConfig) -> String {
    let mut text = app::target_text(&config.capture);
    if !config.ports.is_empty() {
        let ports: Vec<String> = config.ports.iter().map(u16::to_string).collect();
        text.push_str(&format!(" on port {}", ports.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use clap::Parser as _;

    use super::*;
    use crate::config::{CommandConfig, Config};
    use crate::event::{Process, Protocol, Role, Status};

    fn config(args: &[&str]) -> TraceConfig {
        let cli =
            crate::cli::Cli::try_parse_from(["dflow", "trace", "--no-tui"].iter().chain(args))
                .unwrap();
        match Config::from_cli(cli).unwrap().command {
            CommandConfig::Trace(c) => *c,
            other => panic!("{other:?}"),
        }
    }

    fn span(local: &str, remote: &str, status: Status, duration_ns: i64) -> Span {
        Span {
            start_ns: 0,
            duration_ns,
            protocol: Protocol::Dns,
            role: Role::Server,
            endpoint: "example.com A".into(),
            status,
            code: None,
            req_bytes: 30,
            resp_bytes: 46,
            process: Arc::new(Process::bare(7, "dns")),
            tid: 7,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            trace_id: 1,
            span_id: 1,
            parent_span_id: None,
            request: String::new(),
            response: String::new(),
        }
    }

    /// --port is judged again here: the kernel lets through datagrams of
    /// unconnected sockets whose sender it cannot see.
    #[test]
    fn ports_statuses_and_latency_filter_spans() {
        let any = config(&[]);
        let on_53 = config(&["--port", "53"]);
        let on_server = span("127.0.0.1:53", "127.0.0.1:40000", Status::Ok, 1_000);
        let on_client = span("127.0.0.1:40000", "127.0.0.1:53", Status::Ok, 1_000);
        let elsewhere = span("127.0.0.1:5353", "127.0.0.1:40000", Status::Ok, 1_000);
        assert!(wanted(&any, &elsewhere));
        assert!(wanted(&on_53, &on_server));
        assert!(wanted(&on_53, &on_client));
        assert!(!wanted(&on_53, &elsewhere));

        let failing = config(&["--status", "client_error", "--min-latency", "1ms"]);
        assert!(!wanted(&failing, &on_server), "ok, and fast");
        let slow_error = span(
            "127.0.0.1:53",
            "127.0.0.1:1",
            Status::ClientError,
            2_000_000,
        );
        assert!(wanted(&failing, &slow_error));
        let fast_error = span("127.0.0.1:53", "127.0.0.1:1", Status::ClientError, 999_999);
        assert!(!wanted(&failing, &fast_error));
    }
}
