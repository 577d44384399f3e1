//! `dflow trace`'s terminal view: a live table of calls that sorts and
//! filters as you type, a summary per endpoint, one trace as a waterfall with
//! each call's request and response, and a status bar about the capture.
//!
//! Collection → state → render: the command sends [`Msg`]s (a batch of
//! spans, a new [`TraceStatus`], a key, a resize) into
//! [`TraceState::update`], and [`render`] draws a `&TraceState` into any
//! ratatui frame, so the view runs in tests on a `TestBackend`.
//!
//! The state stays bounded: it keeps the [`KEEP`] most recent spans and only
//! counts the older ones. What is costly is derived in `update` and kept
//! until the next change (the filtered and sorted rows, the per-endpoint
//! summary, the open trace), so a render formats only the rows on screen.
//!
//! Times are UTC (`HH:MM:SS.mmm`): the same on every host, like most server
//! logs they are compared with, and snapshots do not depend on the zone.

mod render;
mod state;
mod summary;
#[cfg(test)]
mod tests;
mod waterfall;

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use ratatui::layout::{Constraint, Layout, Rect, Size};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span as Text};
use ratatui::widgets::Paragraph;

use crate::event::{Code, Protocol, Role, Span, Status};
use crate::stats::latency_quantile;
use crate::tui::Input;
use crate::tui::widgets::list::{Cursor, movement};
use crate::tui::widgets::prompt::{Edit, Prompt};
use crate::tui::widgets::status::{CaptureStatus, render_status_bar};

pub use render::render;
use render::*;
pub use state::TraceState;
use state::*;
use summary::*;
use waterfall::*;

/// Spans kept for the table, the summary and the waterfalls: the most recent
/// ones. About 50 MB with full excerpts (512 bytes each way).
pub const KEEP: usize = 50_000;

/// What the status bar says about the capture. The command fills it: the
/// view knows the spans, not the probes or the clock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceStatus {
    /// Socket events read from the kernel per second, lately.
    pub events_per_s: f64,
    /// Spans parsed so far (the view shows the spans it was sent if more).
    pub spans: u64,
    /// Lost events (full ring buffer), the clock, dflow's cost, notes.
    pub capture: CaptureStatus,
}

/// Everything that changes the view.
#[derive(Debug)]
pub enum Msg {
    /// New spans (a delta, in any order): appended to those kept.
    Spans(Vec<Span>),
    Status(TraceStatus),
    Key(KeyEvent),
    /// The terminal's size: paging and scrolling need the rows shown.
    Resize(Size),
}

impl From<Input> for Msg {
    fn from(input: Input) -> Msg {
        match input {
            Input::Key(key) => Msg::Key(key),
            Input::Resize(size) => Msg::Resize(size),
        }
    }
}

pub use super::Action;
use super::{clock, counted, grouped};

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// One row per call.
    Table,
    /// One row per endpoint.
    Summary,
    /// One trace, opened from the table.
    Waterfall,
}

/// Orders of the call table, one per titled column, in the columns' order
/// left to right. `s` moves to the next column shown; each has a natural
/// direction (the worst, the slowest, the biggest first), `S` reverses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Oldest first: new calls arrive at the bottom (at the top reversed).
    Time,
    Process,
    Protocol,
    Endpoint,
    /// Errors first.
    Status,
    Latency,
    Req,
    Resp,
}

impl SortKey {
    const ALL: [SortKey; 8] = [
        SortKey::Time,
        SortKey::Process,
        SortKey::Protocol,
        SortKey::Endpoint,
        SortKey::Status,
        SortKey::Latency,
        SortKey::Req,
        SortKey::Resp,
    ];

    /// The next key after this one (wrapping) among those `shown`.
    fn next(self, shown: &[SortKey]) -> SortKey {
        let at = SortKey::ALL.iter().position(|&k| k == self).unwrap_or(0);
        SortKey::ALL
            .iter()
            .cycle()
            .skip(at + 1)
            .take(SortKey::ALL.len())
            .copied()
            .find(|k| shown.contains(k))
            .unwrap_or(self)
    }

    fn descending(self) -> bool {
        matches!(
            self,
            SortKey::Status | SortKey::Latency | SortKey::Req | SortKey::Resp
        )
    }

    fn name(self) -> &'static str {
        match self {
            SortKey::Time => "time",
            SortKey::Process => "process",
            SortKey::Protocol => "proto",
            SortKey::Endpoint => "endpoint",
            SortKey::Status => "status",
            SortKey::Latency => "latency",
            SortKey::Req => "req",
            SortKey::Resp => "resp",
        }
    }
}

/// Orders of the summary. The default is by calls, busiest first: where the
/// traffic is comes first, and `s` reaches p99 (the slow ones) in two keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryKey {
    Calls,
    /// By error share, then error count.
    Errors,
    P50,
    P99,
    Max,
    Endpoint,
}

impl SummaryKey {
    fn next(self) -> SummaryKey {
        match self {
            SummaryKey::Calls => SummaryKey::Errors,
            SummaryKey::Errors => SummaryKey::P50,
            SummaryKey::P50 => SummaryKey::P99,
            SummaryKey::P99 => SummaryKey::Max,
            SummaryKey::Max => SummaryKey::Endpoint,
            SummaryKey::Endpoint => SummaryKey::Calls,
        }
    }

    fn descending(self) -> bool {
        self != SummaryKey::Endpoint
    }

    fn name(self) -> &'static str {
        match self {
            SummaryKey::Calls => "calls",
            SummaryKey::Errors => "err%",
            SummaryKey::P50 => "p50",
            SummaryKey::P99 => "p99",
            SummaryKey::Max => "max",
            SummaryKey::Endpoint => "endpoint",
        }
    }
}

/// An endpoint as the summary groups calls: by side too, since the client
/// and the server of one call both show up when both are traced, and their
/// latencies differ by the network between them.
pub type Endpoint = (Protocol, Role, String);

/// One endpoint's calls among those kept (and matching the filter).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointStats {
    pub protocol: Protocol,
    pub role: Role,
    pub endpoint: String,
    pub calls: u64,
    /// Calls whose status is not ok.
    pub errors: u64,
    /// Calls per second over the time the kept spans cover.
    pub rate: f64,
    /// Percentiles of the latency, as the store computes them
    /// ([`crate::stats::quantile_cont`]).
    pub p50_ns: i64,
    pub p99_ns: i64,
    pub max_ns: i64,
}

impl EndpointStats {
    pub fn key(&self) -> Endpoint {
        (self.protocol, self.role, self.endpoint.clone())
    }

    pub fn error_pct(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            100.0 * self.errors as f64 / self.calls as f64
        }
    }
}
