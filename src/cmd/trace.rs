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

/// How often the terminal view's loop takes batches in while the capture
/// is being given hints: a hint that waits a tick can come after the
/// download it is about has passed the next head. The view is still drawn
/// every [`TICK`].
const HINT_TICK: Duration = Duration::from_millis(2);

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
    let (mut probe, rx) = capture::start(&Capture {
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
        crate::say!(
            "dflow: tracing {}{}; Ctrl-C stops",
            target_text(config),
            config
                .capture
                .duration
                .map(|d| format!(" for {}", humantime::format_duration(d)))
                .unwrap_or_default(),
        );
    }
    let mut hinter = capture::Hinter::default();
    let mut pipeline = Pipeline::new(
        PipelineConfig {
            protocols: config.protocols.clone(),
            options: Options {
                redact: config.redact,
            },
            epoch_offset_ns: epoch_offset_ns(),
        },
        Box::new({
            let redact = config.redact;
            move |pid, comm| crate::process::describe(pid, Some(comm), redact)
        }),
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
    let mut next_draw = Instant::now();
    let mut events_then = 0u64;
    let mut note = None;
    // Once the output is gone (a closed pipe, a terminal that hung up) the
    // calls are still stored, and the capture ends as on Ctrl-C.
    let mut printing = true;
    let mut failed = None;
    // Said once, at once, when writing the session fails (a full disk).
    let mut write_failed: Option<String> = None;
    loop {
        let stop = shutdown.requested() || deadline.is_some_and(|d| Instant::now() >= d);
        if stop {
            break;
        }
        let hinting = hinter.hinting();
        if let Some(view) = &mut view {
            match view.wait_key(if hinting { HINT_TICK } else { TICK }) {
                Ok(false) => {}
                Ok(true) => break,
                Err(e) => {
                    failed = super::output_stopped(e.into());
                    break;
                }
            }
        } else {
            match rx.recv_timeout(TICK) {
                Ok(batch) => batch.iter().for_each(|e| pipeline.feed(e)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        take_in(&rx, &mut pipeline);
        // Soon, so the capture of a download's next head is set before the
        // download reaches it. Without a hint the capture is as before.
        let _ = hinter.hint(&mut probe, pipeline.take_hints());
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
                    note: status_note(write_failed.as_deref(), note.as_deref()),
                });
                events_then = stats.events;
                next_status += STATUS_EVERY;
            }
            if !hinting || Instant::now() >= next_draw {
                next_draw = Instant::now() + TICK;
                if let Err(e) = view.draw() {
                    failed = super::output_stopped(e.into());
                    break;
                }
            }
        } else if Instant::now() >= next_status {
            // Without a view, the capture ends once the targets are gone
            // (with a view, the calls stay up until q).
            next_status += STATUS_EVERY;
            note = super::all_targets_gone(&config.capture);
            if note.is_some() {
                break;
            }
        }
        let w = writer.as_ref();
        if let Err(e) = emit(
            config, output, &mut spans, w, printing, &mut shown, &mut out,
        ) {
            printing = false;
            failed = super::output_stopped(e.into());
            break;
        }
        if write_failed.is_none()
            && let Some(failure) = w.and_then(SessionWriter::failure)
        {
            let text = super::write_failure_note(&failure);
            // The view's status bar says it at its next refresh.
            if view.is_none() {
                crate::say!("dflow: {text}");
            }
            write_failed = Some(text);
        }
    }
    // A SIGHUP comes with a terminal that hung up: what is left to say goes
    // to /dev/null rather than failing.
    crate::tui::terminal::forget_hung_up();
    // Back to the normal screen before the summary.
    drop(view);
    // Take in what is queued, detach (the drains make a last pass), take in
    // that too, and hand out every call that completed.
    take_in(&rx, &mut pipeline);
    let counters = probe.finish()?;
    take_in(&rx, &mut pipeline);
    pipeline.flush(&mut spans);
    let w = writer.as_ref();
    if let Err(e) = emit(
        config, output, &mut spans, w, printing, &mut shown, &mut out,
    ) {
        failed = failed.or(super::output_stopped(e.into()));
    }
    let stats = pipeline.stats();
    let waiting = pipeline.waiting();
    let unparsed = pipeline.unparsed();
    let closed = super::close_session(writer, "trace", counters, output.quiet);
    if !output.quiet {
        if let Some(note) = &note {
            crate::say!("dflow: {note}; the calls traced until then are above");
        }
        // Nobody may be left to read it: a failure to say it is no failure
        // of the capture.
        let end = End {
            counters: &counters,
            stats: &stats,
            shown,
            waiting,
            elapsed: started.elapsed(),
            closed: &closed,
            unparsed: &unparsed,
        };
        let _ = summary(output, &end);
        if let (Some(path), None) = (&closed.path, &closed.error) {
            crate::say!("dflow: session saved to {}", path.display());
        }
    } else if let Some(text) = super::unwritten_note(&closed, "calls") {
        crate::say!("dflow: {text}");
    }
    match (closed.error, failed) {
        (Some(e), _) | (None, Some(e)) => Err(e),
        (None, None) => Ok(()),
    }
}

/// The view's note: a session that cannot be written, targets gone.
fn status_note(write_failed: Option<&str>, targets_gone: Option<&str>) -> Option<String> {
    let gone = targets_gone.map(|n| format!("{n}; q quits"));
    let parts: Vec<&str> = write_failed.into_iter().chain(gone.as_deref()).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Feeds the pipeline every batch the capture has queued, without waiting.
fn take_in(rx: &Receiver<Vec<SockEvent>>, pipeline: &mut Pipeline) {
    for batch in rx.try_iter() {
        batch.iter().for_each(|e| pipeline.feed(e));
    }
}

/// Prints (while `printing`) and stores the spans that pass the filters,
/// adding how many to `shown`. They are stored also when printing failed.
fn emit(
    config: &TraceConfig,
    output: &OutputConfig,
    spans: &mut Vec<Span>,
    writer: Option<&SessionWriter>,
    printing: bool,
    shown: &mut u64,
    out: &mut impl Write,
) -> io::Result<()> {
    spans.retain(|s| wanted(config, s));
    if spans.is_empty() {
        return Ok(());
    }
    // The terminal view shows them instead.
    let printed = if printing && !config.tui {
        print_spans(output, spans, out)
    } else {
        Ok(())
    };
    *shown += spans.len() as u64;
    let batch = std::mem::take(spans);
    if let Some(w) = writer {
        w.spans(batch);
    }
    printed
}

fn print_spans(output: &OutputConfig, spans: &[Span], out: &mut impl Write) -> io::Result<()> {
    for s in spans {
        if output.json {
            events::span_json(out, s)?;
        } else {
            events::span_text(out, s)?;
        }
    }
    out.flush()
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
    /// Spans the session lacks because writing it failed (a full disk).
    session_unwritten: u64,
    /// Why writing the session failed, or why it could not be finished.
    session_error: Option<String>,
    #[serde(flatten)]
    pipeline: &'a PipelineStats,
    /// Connections not parsed (TLS, HTTP/2, unknown), with the top
    /// (kind, port, process) rows.
    unparsed: &'a crate::trace::unparsed::UnparsedSummary,
}

/// What the end-of-capture summary reports.
struct End<'a> {
    counters: &'a ProbeCounters,
    stats: &'a PipelineStats,
    shown: u64,
    waiting: usize,
    elapsed: Duration,
    closed: &'a super::Closed,
    unparsed: &'a crate::trace::unparsed::UnparsedSummary,
}

/// The end-of-capture summary on stderr: one JSON object with --json.
fn summary(output: &OutputConfig, end: &End) -> io::Result<()> {
    let End {
        counters,
        stats,
        shown,
        waiting,
        elapsed,
        closed,
        unparsed,
    } = *end;
    let mut err = io::stderr().lock();
    // Said in words also with --json, as the failure itself was.
    if let Some(text) = super::unwritten_note(closed, "calls") {
        writeln!(err, "dflow: {text}")?;
    }
    if output.json {
        let json = SummaryJson {
            summary: SummaryFields {
                elapsed_s: elapsed.as_secs_f64(),
                delivered: counters.delivered,
                lost: counters.lost,
                printed: shown,
                unanswered: waiting,
                session_unwritten: closed.failure.as_ref().map_or(0, |f| f.unwritten),
                session_error: closed
                    .failure
                    .as_ref()
                    .map(|f| f.reason.clone())
                    .or_else(|| closed.error.as_ref().map(|e| format!("{e:#}"))),
                pipeline: stats,
                unparsed,
            },
        };
        serde_json::to_writer(&mut err, &json)?;
        return writeln!(err);
    }
    writeln!(
        err,
        "dflow: {} in {:.1} s from {} ({} lost{}){}",
        crate::output::plural(shown, "call"),
        elapsed.as_secs_f64(),
        crate::output::plural(counters.delivered, "socket event"),
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
    )?;
    if let Some(line) = unparsed.line() {
        writeln!(err, "dflow: {line}")?;
    }
    Ok(())
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
