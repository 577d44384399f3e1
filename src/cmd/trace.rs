//! `dflow trace`: capture socket syscalls, turn them into spans, print and
//! store them.
//!
//! One loop: every [`TICK`] the capture's batches go through the
//! [`Pipeline`]; the spans whose linger is over are filtered (latency,
//! status), printed (a line each, or a JSON object each with `--json`) and
//! appended to the session. At the end the pipeline is flushed, so nothing
//! that completed is lost, and a summary with the capture's counters (lost
//! events included) goes to stderr.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::config::{OutputConfig, TraceConfig};
use crate::event::{SockEvent, Span};
use crate::output::events;
use crate::probe::{Filters, ProbeCounters};
use crate::protocol::Options;
use crate::signal::Shutdown;
use crate::store::{SessionKind, SessionWriter};
use crate::trace::capture::{self, CaptureConfig as Capture};
use crate::trace::pipeline::{Pipeline, PipelineConfig, PipelineStats};
use crate::tui::terminal::Tui;
use crate::tui::trace::{Msg, TraceState, TraceStatus};

/// How often batches are taken in and lingering spans handed out.
const TICK: Duration = Duration::from_millis(50);
/// How often the terminal view's status bar is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// CLOCK_MONOTONIC now, in ns: the clock of the kernel's timestamps.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to a valid pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Unix epoch ns minus CLOCK_MONOTONIC ns, now.
pub fn epoch_offset_ns() -> i64 {
    clock_ns(libc::CLOCK_REALTIME) as i64 - monotonic_ns() as i64
}

/// Whether a span passes `--min-latency` and `--status`.
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

pub fn run(config: &TraceConfig, output: &OutputConfig) -> anyhow::Result<()> {
    crate::privilege::require_probes("trace")?;
    let shutdown = Shutdown::install().context("cannot handle Ctrl-C")?;
    let started = Instant::now();
    let (probe, rx) = capture::start(&Capture {
        filters: Filters {
            pids: config.capture.pids.clone(),
            comms: config.capture.comms.clone(),
            ports: config.ports.clone(),
        },
        snaplen: config.snaplen,
        exclude_pid: std::process::id(),
    })?;
    // Before the line that says the capture runs: its session is open.
    let writer = super::open_session(&config.capture, SessionKind::Trace)?;
    if !output.quiet {
        eprintln!(
            "dflow: tracing {}{}; Ctrl-C stops",
            target_text(config),
            config
                .capture
                .duration
                .map(|d| format!(" for {}", humantime::format_duration(d)))
                .unwrap_or_default(),
        );
    }
    let mut pipeline = Pipeline::new(
        PipelineConfig {
            protocols: config.protocols.clone(),
            options: Options {
                redact: config.redact,
            },
            epoch_offset_ns: epoch_offset_ns(),
        },
        Box::new(|pid, comm| crate::process::describe(pid, Some(comm))),
    );
    let deadline = config.capture.duration.map(|d| started + d);
    // Buffered, and flushed once per tick: stdout is line-buffered, and a
    // write per span (tens of thousands a second) costs more than the rest
    // of the pipeline.
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut spans = Vec::new();
    let mut shown = 0u64;
    let mut view = config.tui.then(LiveView::start).transpose()?;
    let mut usage = crate::process::Usage::start();
    let mut next_status = Instant::now() + STATUS_EVERY;
    let mut events_then = 0u64;
    let mut note = None;
    loop {
        let stop = shutdown.requested() || deadline.is_some_and(|d| Instant::now() >= d);
        if stop {
            break;
        }
        if let Some(view) = &mut view {
            if view.wait_key(TICK)? {
                break;
            }
        } else {
            match rx.recv_timeout(TICK) {
                Ok(batch) => batch.iter().for_each(|e| pipeline.feed(e)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        take_in(&rx, &mut pipeline);
        pipeline.tick(monotonic_ns(), &mut spans);
        spans.retain(|s| wanted(config, s));
        if let Some(view) = &mut view {
            if !spans.is_empty() {
                view.spans(spans.clone());
            }
            if Instant::now() >= next_status {
                if note.is_none() {
                    note = super::all_targets_gone(&config.capture);
                }
                let stats = pipeline.stats();
                let (self_cpu_pct, self_rss_bytes) = usage.sample();
                view.status(TraceStatus {
                    events_per_s: (stats.events - events_then) as f64 / STATUS_EVERY.as_secs_f64(),
                    lost: probe.counters()?.lost,
                    spans: stats.spans,
                    self_cpu_pct,
                    self_rss_bytes,
                    elapsed: started.elapsed(),
                    live: true,
                    note: note.as_ref().map(|n| format!("{n}; q quits")),
                });
                events_then = stats.events;
                next_status += STATUS_EVERY;
            }
            view.draw()?;
        } else if Instant::now() >= next_status {
            // Without a view, the capture ends once the targets are gone
            // (with a view, the calls stay up until q).
            next_status += STATUS_EVERY;
            note = super::all_targets_gone(&config.capture);
            if note.is_some() {
                break;
            }
        }
        shown += emit(config, output, &mut spans, writer.as_ref(), &mut out)?;
    }
    // Back to the normal screen before the summary.
    drop(view);
    // Take in what is queued, detach (the drains make a last pass), take in
    // that too, and hand out every call that completed.
    take_in(&rx, &mut pipeline);
    let counters = probe.finish()?;
    take_in(&rx, &mut pipeline);
    pipeline.flush(&mut spans);
    shown += emit(config, output, &mut spans, writer.as_ref(), &mut out)?;
    let stats = pipeline.stats();
    let waiting = pipeline.waiting();
    let session = super::close_session(writer, "trace", counters, output.quiet)?;
    if !output.quiet {
        if let Some(note) = &note {
            eprintln!("dflow: {note}; the calls traced until then are above");
        }
        summary(output, &counters, &stats, shown, waiting, started.elapsed())?;
        if let Some(path) = session {
            eprintln!("dflow: session saved to {}", path.display());
        }
    }
    Ok(())
}

/// Feeds the pipeline every batch the capture has queued, without waiting.
fn take_in(rx: &Receiver<Vec<SockEvent>>, pipeline: &mut Pipeline) {
    for batch in rx.try_iter() {
        batch.iter().for_each(|e| pipeline.feed(e));
    }
}

/// Prints and stores the spans that pass the filters; returns how many.
fn emit(
    config: &TraceConfig,
    output: &OutputConfig,
    spans: &mut Vec<Span>,
    writer: Option<&SessionWriter>,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    spans.retain(|s| wanted(config, s));
    if spans.is_empty() {
        return Ok(0);
    }
    // The terminal view shows them instead.
    if !config.tui {
        for s in spans.iter() {
            if output.json {
                events::span_json(out, s)?;
            } else {
                events::span_text(out, s)?;
            }
        }
        out.flush()?;
    }
    let n = spans.len() as u64;
    let batch = std::mem::take(spans);
    if let Some(w) = writer {
        w.spans(batch);
    }
    Ok(n)
}

#[derive(serde::Serialize)]
struct SummaryJson<'a> {
    summary: SummaryFields<'a>,
}

#[derive(serde::Serialize)]
struct SummaryFields<'a> {
    elapsed_s: f64,
    delivered: u64,
    lost: u64,
    /// Spans printed and stored (after --min-latency and --status).
    printed: u64,
    unanswered: usize,
    #[serde(flatten)]
    pipeline: &'a PipelineStats,
}

/// The end-of-capture summary on stderr: one JSON object with --json.
fn summary(
    output: &OutputConfig,
    counters: &ProbeCounters,
    stats: &PipelineStats,
    shown: u64,
    waiting: usize,
    elapsed: Duration,
) -> io::Result<()> {
    let mut err = io::stderr().lock();
    if output.json {
        let json = SummaryJson {
            summary: SummaryFields {
                elapsed_s: elapsed.as_secs_f64(),
                delivered: counters.delivered,
                lost: counters.lost,
                printed: shown,
                unanswered: waiting,
                pipeline: stats,
            },
        };
        serde_json::to_writer(&mut err, &json)?;
        return writeln!(err);
    }
    writeln!(
        err,
        "dflow: {shown} calls in {:.1} s from {} socket events ({} lost{}){}",
        elapsed.as_secs_f64(),
        counters.delivered,
        counters.lost,
        if counters.lost > 0 {
            "; the ring buffer was full: narrow the targets with -p/--comm/--port"
        } else {
            ""
        },
        match waiting {
            0 => String::new(),
            1 => "; 1 request was still waiting for a response".to_owned(),
            n => format!("; {n} requests were still waiting for a response"),
        },
    )
}

/// The targets and ports, for the start line.
fn target_text(config: &TraceConfig) -> String {
    let mut text = super::target_text(&config.capture);
    if !config.ports.is_empty() {
        let ports: Vec<String> = config.ports.iter().map(u16::to_string).collect();
        text.push_str(&format!(" on port {}", ports.join(", ")));
    }
    text
}

/// The live terminal view: restores the terminal when dropped.
struct LiveView {
    terminal: Tui,
    state: TraceState,
}

impl LiveView {
    fn start() -> anyhow::Result<LiveView> {
        let terminal = Tui::enter().context("cannot start the terminal view")?;
        let mut view = LiveView {
            terminal,
            state: TraceState::new(true),
        };
        view.draw()?;
        Ok(view)
    }

    fn spans(&mut self, spans: Vec<Span>) {
        // Filtered like the lines would be: what the view shows is what
        // the session keeps.
        self.state.update(Msg::Spans(spans));
    }

    fn status(&mut self, status: TraceStatus) {
        self.state.update(Msg::Status(status));
    }

    fn draw(&mut self) -> io::Result<()> {
        let state = &self.state;
        self.terminal
            .draw(|frame| crate::tui::trace::render(state, frame))?;
        Ok(())
    }

    /// Handles keys for up to `timeout`; true when the user quits.
    fn wait_key(&mut self, timeout: Duration) -> io::Result<bool> {
        crate::tui::pump(&mut self.terminal, &mut self.state, timeout)
    }
}

/// The terminal view over a stored trace session, until the user quits.
pub fn trace_view(spans: Vec<Span>, status: TraceStatus) -> anyhow::Result<()> {
    let mut tui = Tui::enter().context("cannot start the terminal view")?;
    let mut state = TraceState::new(false);
    state.update(Msg::Spans(spans));
    state.update(Msg::Status(status));
    tui.draw(|frame| crate::tui::trace::render(&state, frame))?;
    while !crate::tui::pump(&mut tui, &mut state, Duration::from_secs(3600))? {}
    Ok(())
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
