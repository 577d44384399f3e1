//! What a capture says when it ends: its numbers, on stderr.

use std::io::{self, Write};
use std::time::Duration;

use crate::config::Mode;
use crate::config::OutputConfig;
use crate::event::ProbeCounters;
use crate::profile::fold::Summary;
use crate::store::Closed;
use crate::trace::pipeline::PipelineStats;
use crate::trace::unparsed::UnparsedSummary;

#[derive(serde::Serialize)]
struct TraceJson<'a> {
    summary: TraceFields<'a>,
}

#[derive(serde::Serialize)]
struct TraceFields<'a> {
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
    unparsed: &'a UnparsedSummary,
}

/// What the end of a trace capture reports.
pub struct TraceEnd<'a> {
    pub counters: &'a ProbeCounters,
    pub stats: &'a PipelineStats,
    /// Spans printed (or shown) and stored.
    pub shown: u64,
    /// Requests still waiting for a response.
    pub waiting: usize,
    pub elapsed: Duration,
    pub closed: &'a Closed,
    pub unparsed: &'a UnparsedSummary,
}

/// A trace capture's summary on stderr: one JSON object with --json.
pub fn trace(output: &OutputConfig, end: &TraceEnd) -> io::Result<()> {
    let TraceEnd {
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
    if let Some(text) = closed.unwritten_note("calls") {
        writeln!(err, "dflow: {text}")?;
    }
    if output.json {
        let json = TraceJson {
            summary: TraceFields {
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

/// A profile capture's summary on stderr: what was sampled, and how many
/// stacks were cut short and why.
pub fn profile(s: &Summary, mode: Mode, lost: u64, hz: u32, elapsed: Duration) {
    let mut what = Vec::new();
    if mode.on_cpu {
        what.push(format!(
            "{} at {hz} Hz",
            crate::output::plural(s.samples, "sample")
        ));
    }
    if mode.off_cpu {
        what.push(format!("{:.3} s blocked", s.blocked_ns as f64 / 1e9));
    }
    let mut line = format!(
        "dflow: {} of {} process{} in {:.1} s",
        what.join(" and "),
        s.processes,
        if s.processes == 1 { "" } else { "es" },
        elapsed.as_secs_f64()
    );
    line.push_str(&format!(", {lost} lost"));
    crate::say!("{line}");
    if s.truncated > 0 {
        let mut line = format!(
            "dflow: {:.1}% of stacks truncated (unwound with frame pointers)",
            s.truncated_pct()
        );
        // The first few; the session and --folded output keep every stack.
        const SHOWN: usize = 4;
        let lacking = &s.lacking_frame_pointers;
        if !lacking.is_empty() {
            line.push_str(&format!(
                "; built without them: {}",
                lacking[..lacking.len().min(SHOWN)].join(", ")
            ));
            if lacking.len() > SHOWN {
                line.push_str(&format!(" and {} more", lacking.len() - SHOWN));
            }
        }
        crate::say!("{line}");
    }
}
