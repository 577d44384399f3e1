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

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind};
use ratatui::layout::{Constraint, Layout, Rect, Size};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span as Text};
use ratatui::widgets::Paragraph;

use crate::event::{Code, Protocol, Role, Span, Status};
use crate::stats::latency_quantile;

/// Spans kept for the table, the summary and the waterfalls: the most recent
/// ones. About 50 MB with full excerpts (512 bytes each way).
pub const KEEP: usize = 50_000;

/// What the status bar says about the capture. The command fills it: the
/// view knows the spans, not the probes or the clock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceStatus {
    /// Socket events read from the kernel per second, lately.
    pub events_per_s: f64,
    /// Events the kernel could not hand over (full ring buffer).
    pub lost: u64,
    /// Spans parsed so far (the view shows the spans it was sent if more).
    pub spans: u64,
    /// dflow's own cost, shown while live.
    pub self_cpu_pct: f64,
    pub self_rss_bytes: u64,
    /// Time captured so far, or the length of a replayed session.
    pub elapsed: Duration,
    /// False when replaying a session.
    pub live: bool,
    /// Something the user should know, such as `process 1234 exited`.
    pub note: Option<String>,
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

impl Msg {
    /// The message for a terminal event, if the view cares about it.
    pub fn from_event(event: Event) -> Option<Msg> {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => Some(Msg::Key(key)),
            Event::Resize(width, height) => Some(Msg::Resize(Size::new(width, height))),
            _ => None,
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

/// A kept call and the text the filter searches, lower-cased once.
#[derive(Debug, Clone)]
struct Kept {
    span: Span,
    hay: String,
}

/// The selected row of a list and the first row shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cursor {
    at: usize,
    top: usize,
}

impl Cursor {
    /// Within `len` rows, with `at` among the `page` rows shown and no blank
    /// rows at the end while rows above are hidden.
    fn fitted(self, len: usize, page: usize) -> Cursor {
        let page = page.max(1);
        let at = self.at.min(len.saturating_sub(1));
        let top = self
            .top
            .min(at)
            .max((at + 1).saturating_sub(page))
            .min(len.saturating_sub(page));
        Cursor { at, top }
    }

    fn moved(self, to: Move, len: usize, page: usize) -> Cursor {
        let at = match to {
            Move::Up(n) => self.at.saturating_sub(n),
            Move::Down(n) => self.at.saturating_add(n),
            Move::First => 0,
            Move::Last => len.saturating_sub(1),
        };
        Cursor { at, ..self }.fitted(len, page)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    Up(usize),
    Down(usize),
    First,
    Last,
}

/// The move a key asks for in a list showing `page` rows.
fn movement(code: KeyCode, page: usize) -> Option<Move> {
    let page = page.max(1);
    Some(match code {
        KeyCode::Up | KeyCode::Char('k') => Move::Up(1),
        KeyCode::Down | KeyCode::Char('j') => Move::Down(1),
        KeyCode::PageUp => Move::Up(page),
        KeyCode::PageDown => Move::Down(page),
        KeyCode::Home | KeyCode::Char('g') => Move::First,
        KeyCode::End | KeyCode::Char('G') => Move::Last,
        _ => return None,
    })
}

/// The open trace: its kept spans in drawing order.
#[derive(Debug, Clone)]
struct Waterfall {
    trace_id: u64,
    /// Sequence numbers (see [`TraceState`]) and depths, parents before
    /// their children, siblings by start.
    rows: Vec<(u64, usize)>,
    cursor: Cursor,
    /// The selected span's sequence number.
    selected: u64,
    start_ns: i64,
    end_ns: i64,
}

/// What the trace view shows: the kept calls and where the user is in them.
/// Changed only by [`TraceState::update`].
///
/// Calls are named by sequence number, the count of spans received before
/// them, so a name stays valid while older calls are dropped from the front.
#[derive(Debug, Clone)]
pub struct TraceState {
    kept: VecDeque<Kept>,
    capacity: usize,
    /// The sequence number of `kept[0]`: also the calls dropped from view.
    first: u64,
    /// Spans received: the next sequence number.
    received: u64,
    screen: Screen,
    size: Size,
    status: TraceStatus,
    help: bool,
    /// A short answer to the last key (why it did nothing), until the next key.
    flash: Option<&'static str>,

    filter: String,
    /// `filter` lower-cased, as the haystacks are.
    needle: String,
    /// The filter prompt is open: keys edit `filter`.
    typing: bool,
    /// Only this endpoint's calls (chosen in the summary), matched exactly.
    endpoint: Option<Endpoint>,
    sort: SortKey,
    reversed: bool,
    /// The calls matching the filters, in table order.
    rows: Vec<u64>,
    cursor: Cursor,
    selected: Option<u64>,
    /// Keep the newest call selected, so on screen, as calls arrive.
    follow: bool,

    summary: Vec<EndpointStats>,
    summary_sort: SummaryKey,
    summary_reversed: bool,
    summary_cursor: Cursor,
    summary_selected: Option<Endpoint>,
    /// `summary` is older than the spans or the filter: rebuilt when shown,
    /// not on every batch, since grouping 50k spans costs milliseconds.
    summary_stale: bool,

    waterfall: Option<Waterfall>,
}

impl TraceState {
    /// An empty view keeping [`KEEP`] spans; `live` picks what it says until
    /// spans arrive, and whether the table starts following new calls.
    pub fn new(live: bool) -> TraceState {
        TraceState::with_capacity(live, KEEP)
    }

    /// An empty view keeping the `capacity` most recent spans.
    pub fn with_capacity(live: bool, capacity: usize) -> TraceState {
        TraceState {
            kept: VecDeque::new(),
            capacity: capacity.max(1),
            first: 0,
            received: 0,
            screen: Screen::Table,
            size: Size::new(80, 24),
            status: TraceStatus {
                live,
                ..TraceStatus::default()
            },
            help: false,
            flash: None,
            filter: String::new(),
            needle: String::new(),
            typing: false,
            endpoint: None,
            sort: SortKey::Time,
            reversed: false,
            rows: Vec::new(),
            cursor: Cursor::default(),
            selected: None,
            follow: live,
            summary: Vec::new(),
            summary_sort: SummaryKey::Calls,
            summary_reversed: false,
            summary_cursor: Cursor::default(),
            summary_selected: None,
            summary_stale: true,
            waterfall: None,
        }
    }

    pub fn update(&mut self, msg: Msg) -> Action {
        match msg {
            Msg::Spans(spans) => self.add(spans),
            Msg::Status(status) => self.status = status,
            Msg::Resize(size) => {
                self.size = size;
                self.cursor = self.cursor.fitted(self.rows.len(), self.page());
                self.summary_cursor = self.summary_cursor.fitted(self.summary.len(), self.page());
            }
            Msg::Key(key) => return self.key(key),
        }
        Action::None
    }

    pub fn screen(&self) -> Screen {
        self.screen
    }

    /// The calls the table shows (after the filters), in its order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &Span> {
        self.rows.iter().map(|&seq| self.span(seq))
    }

    /// The call selected in the table.
    pub fn selected(&self) -> Option<&Span> {
        self.selected.map(|seq| self.span(seq))
    }

    /// The table keeps its newest call selected as calls arrive.
    pub fn following(&self) -> bool {
        self.follow
    }

    pub fn sort(&self) -> (SortKey, bool) {
        (self.sort, self.reversed)
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Calls no longer kept (beyond the capacity), counted since the start.
    pub fn dropped(&self) -> u64 {
        self.first
    }

    /// The per-endpoint summary, current while the summary is shown.
    pub fn summary(&self) -> &[EndpointStats] {
        &self.summary
    }

    /// The open trace's calls in drawing order, with their depths, and the
    /// selected one.
    pub fn waterfall(&self) -> Option<(Vec<(&Span, usize)>, &Span)> {
        let w = self.waterfall.as_ref()?;
        let rows = w.rows.iter().map(|&(s, d)| (self.span(s), d)).collect();
        Some((rows, self.span(w.selected)))
    }

    fn span(&self, seq: u64) -> &Span {
        &self.kept[(seq - self.first) as usize].span
    }

    fn kept(&self, seq: u64) -> &Kept {
        &self.kept[(seq - self.first) as usize]
    }

    /// Table or summary rows shown: all but the header, the info line and
    /// the status bar.
    fn page(&self) -> usize {
        usize::from(self.size.height.saturating_sub(3))
    }

    fn add(&mut self, spans: Vec<Span>) {
        if spans.is_empty() {
            return;
        }
        let (new_from, old_first) = (self.received, self.first);
        // Only the last `capacity` of a batch could be kept.
        let skip = spans.len().saturating_sub(self.capacity);
        self.received += skip as u64;
        for span in spans.into_iter().skip(skip) {
            let hay = haystack(&span);
            self.kept.push_back(Kept { span, hay });
            self.received += 1;
        }
        let excess = self.kept.len().saturating_sub(self.capacity);
        self.kept.drain(..excess);
        self.first = self.received - self.kept.len() as u64;
        if self.first > old_first {
            let first = self.first;
            self.rows.retain(|&seq| seq >= first);
        }
        let fresh: Vec<u64> = (new_from.max(self.first)..self.received)
            .filter(|&seq| self.matches(seq))
            .collect();
        self.rows.extend(fresh);
        self.sort_rows();
        self.sync_table();
        self.summary_stale = true;
        self.refresh_shown();
    }

    /// The filter and the chosen endpoint both match.
    fn matches(&self, seq: u64) -> bool {
        let kept = self.kept(seq);
        kept.hay.contains(&self.needle)
            && self.endpoint.as_ref().is_none_or(|(p, r, e)| {
                kept.span.protocol == *p && kept.span.role == *r && kept.span.endpoint == *e
            })
    }

    fn sort_rows(&mut self) {
        let mut rows = std::mem::take(&mut self.rows);
        let (key, descending) = (self.sort, self.sort.descending() != self.reversed);
        // Stable and adaptive: a sorted list plus a batch sorts in about
        // linear time. Ties go by arrival, in the same direction.
        rows.sort_by(|&a, &b| {
            let order = compare(key, self.span(a), self.span(b)).then(a.cmp(&b));
            if descending { order.reverse() } else { order }
        });
        self.rows = rows;
    }

    /// After the rows changed: the selection follows the newest call, or
    /// stays on its call at the same place on screen, or on its row number
    /// when the call is gone.
    fn sync_table(&mut self) {
        let len = self.rows.len();
        let found = || {
            let seq = self.selected?;
            self.rows.iter().position(|&r| r == seq)
        };
        let at = if self.follow {
            self.newest_row().unwrap_or(0)
        } else {
            found().unwrap_or(self.cursor.at)
        };
        let above = self.cursor.at.saturating_sub(self.cursor.top);
        let top = at.saturating_sub(above);
        self.cursor = Cursor { at, top }.fitted(len, self.page());
        self.selected = self.rows.get(self.cursor.at).copied();
    }

    /// The row of the newest call, the latest to start (the later received
    /// of equals), as the time order puts it: the last row oldest first, the
    /// first newest first, and somewhere in between in other orders.
    fn newest_row(&self) -> Option<usize> {
        let newest = |i: &usize| {
            let seq = self.rows[*i];
            (self.span(seq).start_ns, seq)
        };
        (0..self.rows.len()).max_by_key(newest)
    }

    /// The filter changed; `narrowed`: only by a character typed at its end,
    /// so the rows shown are the only candidates.
    fn refilter(&mut self, narrowed: bool) {
        self.needle = self.filter.to_lowercase();
        if narrowed {
            let mut rows = std::mem::take(&mut self.rows);
            rows.retain(|&seq| self.matches(seq));
            self.rows = rows;
        } else {
            self.rows = (self.first..self.received)
                .filter(|&seq| self.matches(seq))
                .collect();
            self.sort_rows();
        }
        self.sync_table();
        self.summary_stale = true;
        self.refresh_shown();
    }

    /// Brings what is on screen up to date with the spans and the filter.
    fn refresh_shown(&mut self) {
        match self.screen {
            Screen::Summary if self.summary_stale => self.rebuild_summary(),
            Screen::Waterfall => {
                if let Some(w) = &self.waterfall {
                    self.waterfall = Some(self.build_waterfall(w.trace_id, w.selected, w.cursor));
                }
            }
            _ => {}
        }
    }

    fn rebuild_summary(&mut self) {
        let mut groups: HashMap<(Protocol, Role, &str), (u64, Vec<i64>)> = HashMap::new();
        let (mut from, mut to) = (i64::MAX, i64::MIN);
        for kept in &self.kept {
            let s = &kept.span;
            from = from.min(s.start_ns);
            to = to.max(s.start_ns.saturating_add(s.duration_ns));
            if !kept.hay.contains(&self.needle) {
                continue;
            }
            let group = groups
                .entry((s.protocol, s.role, s.endpoint.as_str()))
                .or_default();
            group.0 += u64::from(s.status != Status::Ok);
            group.1.push(s.duration_ns);
        }
        // Over the time all kept calls cover, not each endpoint's own: a
        // call made once in a minute is 1/60 per second, not one per its
        // duration. At least a second, so a first burst is not a huge rate.
        let window_s = (to.saturating_sub(from) as f64 / 1e9).max(1.0);
        let mut stats: Vec<EndpointStats> = groups
            .into_iter()
            .map(|((protocol, role, endpoint), (errors, mut latencies))| {
                latencies.sort_unstable();
                EndpointStats {
                    protocol,
                    role,
                    endpoint: endpoint.to_owned(),
                    calls: latencies.len() as u64,
                    errors,
                    rate: latencies.len() as f64 / window_s,
                    p50_ns: latency_quantile(&latencies, 0.5),
                    p99_ns: latency_quantile(&latencies, 0.99),
                    max_ns: latencies.last().copied().unwrap_or(0),
                }
            })
            .collect();
        let (key, descending) = (
            self.summary_sort,
            self.summary_sort.descending() != self.summary_reversed,
        );
        stats.sort_by(|a, b| {
            let order = compare_stats(key, a, b);
            if descending { order.reverse() } else { order }
        });
        self.summary = stats;
        self.summary_stale = false;
        let found = self
            .summary_selected
            .as_ref()
            .and_then(|chosen| self.summary.iter().position(|s| s.key() == *chosen));
        let at = found.unwrap_or(self.summary_cursor.at);
        self.summary_cursor = Cursor {
            at,
            ..self.summary_cursor
        }
        .fitted(self.summary.len(), self.page());
        self.select_summary_row();
    }

    fn select_summary_row(&mut self) {
        self.summary_selected = self
            .summary
            .get(self.summary_cursor.at)
            .map(EndpointStats::key);
    }

    /// The kept spans of a trace, each under its parent (one missing from
    /// those kept makes a root), siblings and roots by start.
    fn build_waterfall(&self, trace_id: u64, selected: u64, cursor: Cursor) -> Waterfall {
        let members: Vec<u64> = (self.first..self.received)
            .filter(|&seq| self.span(seq).trace_id == trace_id)
            .collect();
        let by_id: HashMap<u64, u64> = members
            .iter()
            .map(|&seq| (self.span(seq).span_id, seq))
            .collect();
        let mut children: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut roots = Vec::new();
        for &seq in &members {
            let parent = self.span(seq).parent_span_id.and_then(|p| by_id.get(&p));
            match parent {
                Some(&p) if p != seq => children.entry(p).or_default().push(seq),
                _ => roots.push(seq),
            }
        }
        let by_start = |seqs: &mut Vec<u64>| seqs.sort_by_key(|&s| (self.span(s).start_ns, s));
        by_start(&mut roots);
        for list in children.values_mut() {
            by_start(list);
        }
        let mut rows = Vec::with_capacity(members.len());
        let mut seen = HashSet::new();
        // Spans in a parent cycle have no root: they are drawn as roots
        // after the others rather than lost.
        for root in roots.iter().chain(members.iter()) {
            let mut todo = vec![(*root, 0)];
            while let Some((seq, depth)) = todo.pop() {
                if !seen.insert(seq) {
                    continue;
                }
                rows.push((seq, depth));
                if let Some(kids) = children.get(&seq) {
                    todo.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
                }
            }
        }
        let start_ns = rows
            .iter()
            .map(|&(s, _)| self.span(s).start_ns)
            .min()
            .unwrap_or(0);
        let end_ns = rows
            .iter()
            .map(|&(s, _)| {
                let s = self.span(s);
                s.start_ns.saturating_add(s.duration_ns)
            })
            .max()
            .unwrap_or(0);
        let at = rows
            .iter()
            .position(|&(s, _)| s == selected)
            .unwrap_or(cursor.at);
        let page = waterfall_rows(self.size.height);
        let cursor = Cursor { at, ..cursor }.fitted(rows.len(), page);
        let selected = rows.get(cursor.at).map_or(selected, |&(s, _)| s);
        Waterfall {
            trace_id,
            rows,
            cursor,
            selected,
            start_ns,
            end_ns,
        }
    }

    fn key(&mut self, key: KeyEvent) -> Action {
        if key.kind != KeyEventKind::Release {
            self.flash = None;
        }
        match super::common_key(&key, self.typing, &mut self.help) {
            super::Common::Done(action) => return action,
            super::Common::Prompt { ctrl } => {
                self.filter_key(key.code, ctrl);
                return Action::None;
            }
            super::Common::Own => {}
        }
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Tab | KeyCode::BackTab => {
                self.screen = if self.screen == Screen::Summary {
                    Screen::Table
                } else {
                    Screen::Summary
                };
                self.waterfall = None;
                self.refresh_shown();
            }
            code => match self.screen {
                Screen::Table => self.table_key(code),
                Screen::Summary => self.summary_key(code),
                Screen::Waterfall => self.waterfall_key(code),
            },
        }
        Action::None
    }

    fn filter_key(&mut self, code: KeyCode, ctrl: bool) {
        match code {
            KeyCode::Esc => {
                self.typing = false;
                if !self.filter.is_empty() {
                    self.filter.clear();
                    self.refilter(false);
                }
            }
            KeyCode::Enter => self.typing = false,
            KeyCode::Backspace if !self.filter.is_empty() => {
                self.filter.pop();
                self.refilter(false);
            }
            KeyCode::Char('u') if ctrl => {
                self.filter.clear();
                self.refilter(false);
            }
            KeyCode::Char(c) if !ctrl => {
                self.filter.push(c);
                self.refilter(true);
            }
            _ => {}
        }
    }

    fn table_key(&mut self, code: KeyCode) {
        // The newest call rather than the last row: the two differ when
        // sorted newest first or by anything but time.
        if matches!(code, KeyCode::End | KeyCode::Char('G')) {
            self.follow = true;
            self.sync_table();
            return;
        }
        if let Some(to) = movement(code, self.page()) {
            self.cursor = self.cursor.moved(to, self.rows.len(), self.page());
            self.selected = self.rows.get(self.cursor.at).copied();
            self.follow = false;
            return;
        }
        match code {
            KeyCode::Enter => match self.selected {
                Some(seq) => {
                    let trace_id = self.span(seq).trace_id;
                    self.waterfall = Some(self.build_waterfall(trace_id, seq, Cursor::default()));
                    self.screen = Screen::Waterfall;
                }
                None => self.flash = Some("no call selected"),
            },
            KeyCode::Char('/') => self.typing = true,
            KeyCode::Char('s') => {
                let shown: Vec<SortKey> = columns(self.size.width)
                    .iter()
                    .filter_map(|&(column, _)| column_sort(column))
                    .collect();
                self.sort = self.sort.next(&shown);
                self.reversed = false;
                self.sort_rows();
                self.sync_table();
            }
            KeyCode::Char('S' | 'r') => {
                self.reversed = !self.reversed;
                self.sort_rows();
                self.sync_table();
            }
            KeyCode::Esc | KeyCode::Backspace => {
                if self.filter.is_empty() && self.endpoint.is_none() {
                    self.flash = Some("no filter to clear");
                    return;
                }
                self.filter.clear();
                self.endpoint = None;
                self.refilter(false);
            }
            _ => {}
        }
    }

    fn summary_key(&mut self, code: KeyCode) {
        if let Some(to) = movement(code, self.page()) {
            self.summary_cursor = self
                .summary_cursor
                .moved(to, self.summary.len(), self.page());
            self.select_summary_row();
            return;
        }
        match code {
            KeyCode::Enter => {
                let Some(chosen) = self.summary_selected.clone() else {
                    self.flash = Some("no endpoint selected");
                    return;
                };
                self.endpoint = Some(chosen);
                self.screen = Screen::Table;
                // Its most recent calls first in view, like End.
                self.follow = true;
                self.refilter(false);
            }
            KeyCode::Char('/') => self.typing = true,
            KeyCode::Char('s') => {
                self.summary_sort = self.summary_sort.next();
                self.summary_reversed = false;
                self.rebuild_summary();
            }
            KeyCode::Char('S' | 'r') => {
                self.summary_reversed = !self.summary_reversed;
                self.rebuild_summary();
            }
            KeyCode::Esc | KeyCode::Backspace if !self.filter.is_empty() => {
                self.filter.clear();
                self.refilter(false);
            }
            _ => {}
        }
    }

    fn waterfall_key(&mut self, code: KeyCode) {
        match code {
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Char('h') | KeyCode::Left => {
                self.screen = Screen::Table;
                self.waterfall = None;
            }
            code => {
                let page = waterfall_rows(self.size.height);
                let (Some(to), Some(w)) = (movement(code, page), &mut self.waterfall) else {
                    return;
                };
                w.cursor = w.cursor.moved(to, w.rows.len(), page);
                if let Some(&(seq, _)) = w.rows.get(w.cursor.at) {
                    w.selected = seq;
                }
            }
        }
    }
}

/// The text the filter looks in: what the table shows of a call, and its
/// peer's address.
fn haystack(s: &Span) -> String {
    let code = s.code.as_ref().map(code_text).unwrap_or_default();
    format!(
        "{}\n{}[{}]\n{} {}\n{}\n{}\n{}",
        s.endpoint,
        s.process.comm,
        s.process.pid,
        s.protocol,
        short_protocol(s.protocol),
        s.status,
        code,
        s.remote
    )
    .to_lowercase()
}

/// Calls in a key's natural (ascending) order.
fn compare(key: SortKey, a: &Span, b: &Span) -> Ordering {
    match key {
        SortKey::Time => a.start_ns.cmp(&b.start_ns),
        SortKey::Process => (&a.process.comm, a.process.pid).cmp(&(&b.process.comm, b.process.pid)),
        // By the names shown, so the column reads in alphabetical order.
        SortKey::Protocol => a.protocol.as_str().cmp(b.protocol.as_str()),
        SortKey::Endpoint => {
            (&a.endpoint, a.protocol.as_str()).cmp(&(&b.endpoint, b.protocol.as_str()))
        }
        SortKey::Status => severity(a.status)
            .cmp(&severity(b.status))
            .then_with(|| code_key(&a.code).cmp(&code_key(&b.code))),
        SortKey::Latency => a.duration_ns.cmp(&b.duration_ns),
        SortKey::Req => a.req_bytes.cmp(&b.req_bytes),
        SortKey::Resp => a.resp_bytes.cmp(&b.resp_bytes),
    }
}

fn compare_stats(key: SummaryKey, a: &EndpointStats, b: &EndpointStats) -> Ordering {
    let name = |s: &EndpointStats| (s.protocol.code(), s.endpoint.clone(), s.role.code());
    let by_key = match key {
        SummaryKey::Calls => a.calls.cmp(&b.calls),
        SummaryKey::Errors => a
            .error_pct()
            .total_cmp(&b.error_pct())
            .then(a.errors.cmp(&b.errors)),
        SummaryKey::P50 => a.p50_ns.cmp(&b.p50_ns),
        SummaryKey::P99 => a.p99_ns.cmp(&b.p99_ns),
        SummaryKey::Max => a.max_ns.cmp(&b.max_ns),
        SummaryKey::Endpoint => Ordering::Equal,
    };
    // Equal rows by name, which reads in the same direction either way.
    by_key.then_with(|| {
        let names = name(a).cmp(&name(b));
        if key.descending() {
            names.reverse()
        } else {
            names
        }
    })
}

/// How bad a status is, for sorting.
fn severity(status: Status) -> u8 {
    match status {
        Status::Ok => 0,
        Status::ClientError => 1,
        Status::Timeout => 2,
        Status::ServerError => 3,
        Status::Error => 4,
    }
}

fn code_key(code: &Option<Code>) -> (i64, &str) {
    match code {
        None => (i64::MIN, ""),
        Some(Code::Num(n)) => (i64::from(*n), ""),
        Some(Code::Text(t)) => (i64::MAX, t.as_str()),
    }
}

// ---------------------------------------------------------------- render --

/// Draws the view. Takes the state by reference: drawing changes nothing.
pub fn render(state: &TraceState, frame: &mut Frame) {
    let area = frame.area();
    let [body, info, status] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    match (state.screen, &state.waterfall) {
        (Screen::Waterfall, Some(w)) => render_waterfall(state, w, frame.buffer_mut(), body),
        (Screen::Summary, _) => render_summary(state, frame.buffer_mut(), body),
        _ => render_table(state, frame.buffer_mut(), body),
    }
    render_info(state, frame, info);
    super::render_status_bar(frame, status, status_parts(state));
    if state.help {
        render_help(frame, area);
    }
}

/// The call table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Time,
    Process,
    Role,
    Protocol,
    Endpoint,
    Status,
    Latency,
    Req,
    Resp,
}

/// The columns at `width` and their widths. The endpoint takes what the
/// others leave; narrower than 78 columns, sizes, then the time, then the
/// protocol go, so the endpoint keeps 16. The narrow process column holds
/// a 5-digit pid and a name cut to 4 (`pyth…[24817]`), or `worker[5150]`.
fn columns(width: u16) -> Vec<(Column, u16)> {
    let wide = width >= 110;
    let mut cols = vec![
        (Column::Time, 12),
        (Column::Process, if wide { 18 } else { 12 }),
        (Column::Role, 1),
        (Column::Protocol, if wide { 8 } else { 5 }),
        (Column::Endpoint, 0),
        (Column::Status, 8),
        (Column::Latency, 8),
        (Column::Req, if wide { 5 } else { 4 }),
        (Column::Resp, if wide { 5 } else { 4 }),
    ];
    let fixed =
        |cols: &[(Column, u16)]| cols.iter().map(|c| c.1 + 1).sum::<u16>().saturating_sub(1);
    for drop in [Column::Req, Column::Resp, Column::Time, Column::Protocol] {
        if fixed(&cols) + 16 <= width {
            break;
        }
        cols.retain(|c| c.0 != drop);
    }
    let endpoint = width.saturating_sub(fixed(&cols));
    for c in &mut cols {
        if c.0 == Column::Endpoint {
            c.1 = endpoint;
        }
    }
    cols
}

fn column_title(column: Column) -> &'static str {
    match column {
        Column::Time => "time UTC",
        Column::Process => "process",
        Column::Role => "",
        Column::Protocol => "proto",
        Column::Endpoint => "endpoint",
        Column::Status => "status",
        Column::Latency => "latency",
        Column::Req => "req",
        Column::Resp => "resp",
    }
}

/// The order by a column; the role arrow, which has no title, has none.
fn column_sort(column: Column) -> Option<SortKey> {
    match column {
        Column::Time => Some(SortKey::Time),
        Column::Process => Some(SortKey::Process),
        Column::Role => None,
        Column::Protocol => Some(SortKey::Protocol),
        Column::Endpoint => Some(SortKey::Endpoint),
        Column::Status => Some(SortKey::Status),
        Column::Latency => Some(SortKey::Latency),
        Column::Req => Some(SortKey::Req),
        Column::Resp => Some(SortKey::Resp),
    }
}

fn right_aligned(column: Column) -> bool {
    matches!(column, Column::Latency | Column::Req | Column::Resp)
}

fn arrow(descending: bool) -> &'static str {
    if descending { "▼" } else { "▲" }
}

const HEADER: Style = Style::new().add_modifier(Modifier::BOLD);
const DIM: Style = Style::new().add_modifier(Modifier::DIM);

fn render_table(state: &TraceState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let cols = columns(area.width);
    let descending = state.sort.descending() != state.reversed;
    let mut x = area.x;
    for &(column, width) in &cols {
        let mut title = column_title(column).to_owned();
        if column_sort(column) == Some(state.sort) {
            // The title is cut rather than the arrow (`res▼`). Titles are
            // ASCII: a character is a column.
            title.truncate(usize::from(width).saturating_sub(1));
            title.push_str(arrow(descending));
        }
        put(buf, x, area.y, width, &title, HEADER, right_aligned(column));
        x += width + 1;
    }
    let Some(list) = list_body(state, buf, area, state.rows.is_empty()) else {
        return;
    };
    let page = usize::from(list.height);
    let cursor = state.cursor.fitted(state.rows.len(), page);
    let shown = state.rows.iter().skip(cursor.top).take(page);
    for (i, &seq) in shown.enumerate() {
        let y = list.y + i as u16; // i < list.height, a u16
        let selected = cursor.top + i == cursor.at;
        draw_call(buf, &cols, area.x, y, state.span(seq), selected);
    }
}

fn draw_call(buf: &mut Buffer, cols: &[(Column, u16)], x: u16, y: u16, s: &Span, selected: bool) {
    let row = Rect::new(x, y, cols.iter().map(|c| c.1 + 1).sum::<u16>(), 1);
    if selected {
        buf.set_style(
            row.intersection(buf.area),
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        );
    }
    let mut x = x;
    for &(column, width) in cols {
        let plain = Style::new();
        let (text, style) = match column {
            Column::Time => (clock_utc(s.start_ns), plain),
            Column::Process => {
                put_process(buf, x, y, width, &s.process.comm, s.process.pid);
                x += width + 1;
                continue;
            }
            Column::Role => (role_arrow(s.role).to_owned(), DIM),
            Column::Protocol => (protocol_name(s.protocol, width).to_owned(), plain),
            Column::Endpoint => (s.endpoint.clone(), plain),
            Column::Status => (status_text(s), Style::new().fg(status_colour(s.status))),
            Column::Latency => (latency(s.duration_ns), plain),
            Column::Req => (size(s.req_bytes.into()), plain),
            Column::Resp => (size(s.resp_bytes.into()), plain),
        };
        put(buf, x, y, width, &text, style, right_aligned(column));
        x += width + 1;
    }
}

/// `comm[pid]` in `width` columns. A long name is cut before the pid rather
/// than the pid (`pyth…[24817]`): the pid tells apart processes of one name.
fn put_process(buf: &mut Buffer, x: u16, y: u16, width: u16, comm: &str, pid: u32) {
    let full = format!("{comm}[{pid}]");
    let pid = format!("[{pid}]");
    let pid_width = pid.len() as u16; // digits and brackets: at most 12
    // The pid and `…` at least, or the whole cut as any text.
    if Text::raw(full.as_str()).width() <= usize::from(width) || width <= pid_width {
        put(buf, x, y, width, &full, Style::new(), false);
        return;
    }
    put(buf, x, y, width - pid_width, comm, Style::new(), false);
    put(
        buf,
        x + width - pid_width,
        y,
        pid_width,
        &pid,
        Style::new(),
        false,
    );
}

fn summary_columns(width: u16) -> [(&'static str, u16, Option<SummaryKey>); 9] {
    let mut cols = [
        ("proto", if width >= 110 { 8 } else { 5 }, None),
        ("", 1, None),
        ("endpoint", 0, Some(SummaryKey::Endpoint)),
        ("calls", 6, Some(SummaryKey::Calls)),
        ("rate/s", 6, None),
        ("err%", 6, Some(SummaryKey::Errors)),
        ("p50", 7, Some(SummaryKey::P50)),
        ("p99", 7, Some(SummaryKey::P99)),
        ("max", 7, Some(SummaryKey::Max)),
    ];
    let fixed = cols.iter().map(|c| c.1 + 1).sum::<u16>() - 1;
    cols[2].1 = width.saturating_sub(fixed);
    cols
}

fn render_summary(state: &TraceState, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    let cols = summary_columns(area.width);
    let descending = state.summary_sort.descending() != state.summary_reversed;
    let mut x = area.x;
    for (i, &(title, width, key)) in cols.iter().enumerate() {
        let mut title = title.to_owned();
        if key == Some(state.summary_sort) {
            title.push_str(arrow(descending));
        }
        put(buf, x, area.y, width, &title, HEADER, i >= 3);
        x += width + 1;
    }
    let Some(list) = list_body(state, buf, area, state.summary.is_empty()) else {
        return;
    };
    let page = usize::from(list.height);
    let cursor = state.summary_cursor.fitted(state.summary.len(), page);
    for (i, stats) in state.summary.iter().skip(cursor.top).take(page).enumerate() {
        let y = list.y + i as u16; // i < list.height
        if cursor.top + i == cursor.at {
            buf.set_style(
                Rect::new(area.x, y, area.width, 1),
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            );
        }
        let errors = if stats.errors > 0 {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        };
        let cells = [
            (
                protocol_name(stats.protocol, cols[0].1).to_owned(),
                Style::new(),
            ),
            (role_arrow(stats.role).to_owned(), DIM),
            (stats.endpoint.clone(), Style::new()),
            (grouped(stats.calls), Style::new()),
            (rate(stats.rate), Style::new()),
            (percent(stats.error_pct()), errors),
            (latency(stats.p50_ns), Style::new()),
            (latency(stats.p99_ns), Style::new()),
            (latency(stats.max_ns), Style::new()),
        ];
        let mut x = area.x;
        for (i, ((text, style), &(_, width, _))) in cells.iter().zip(&cols).enumerate() {
            put(buf, x, y, width, text, *style, i >= 3);
            x += width + 1;
        }
    }
}

/// Rows of bars a waterfall gets on a terminal `height` rows high: half of
/// its body, the rest for the selected call's request and response.
fn waterfall_rows(height: u16) -> usize {
    // The status bar, the info line and the title.
    usize::from(height.saturating_sub(3) / 2).max(1)
}

fn render_waterfall(state: &TraceState, w: &Waterfall, buf: &mut Buffer, area: Rect) {
    if area.height == 0 {
        return;
    }
    if w.rows.is_empty() {
        centered(
            buf,
            area,
            "this trace's calls are no longer kept (Esc: back)",
        );
        return;
    }
    let took = w.end_ns.saturating_sub(w.start_ns);
    let title = format!(
        "trace {:#x} · {} · {} from {} UTC",
        w.trace_id,
        counted(w.rows.len() as u64, "call", "calls"),
        latency(took),
        clock_utc(w.start_ns),
    );
    put(buf, area.x, area.y, area.width, &title, HEADER, false);

    // Label, bar, latency and status, like the table's columns.
    let label_w = (area.width * 35 / 100).clamp(12, 50);
    let (latency_w, status_w) = (8, 7);
    let bar_w = area
        .width
        .saturating_sub(label_w + latency_w + status_w + 3)
        .max(1);
    let bar_x = area.x + label_w + 1;
    let body = area.height - 1;
    let rows = waterfall_rows(body + 3)
        .min(w.rows.len())
        .min(usize::from(body));
    let cursor = w.cursor.fitted(w.rows.len(), rows);
    let span_ns = took.max(1) as u128;
    let column = |ns: i64| {
        let offset = ns.saturating_sub(w.start_ns).max(0) as u128;
        (offset * u128::from(bar_w) / span_ns).min(u128::from(bar_w)) as u16
    };
    for (i, &(seq, depth)) in w.rows.iter().skip(cursor.top).take(rows).enumerate() {
        let y = area.y + 1 + i as u16; // i < rows ≤ body
        let s = state.span(seq);
        let selected = cursor.top + i == cursor.at;
        let indent = "  ".repeat(depth.min(8));
        let label = format!(
            "{indent}{} {} {} {}",
            s.process.comm,
            role_arrow(s.role),
            short_protocol(s.protocol),
            s.endpoint
        );
        let label_style = if selected {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new()
        };
        if selected {
            buf.set_style(Rect::new(area.x, y, label_w, 1), label_style);
        }
        put(buf, area.x, y, label_w, &label, label_style, false);
        let x0 = column(s.start_ns).min(bar_w - 1);
        let x1 = column(s.start_ns.saturating_add(s.duration_ns)).max(x0 + 1);
        let bar = "█".repeat(usize::from(x1 - x0));
        buf.set_string(bar_x + x0, y, bar, Style::new().fg(status_colour(s.status)));
        let x = bar_x + bar_w + 1;
        put(
            buf,
            x,
            y,
            latency_w,
            &latency(s.duration_ns),
            Style::new(),
            true,
        );
        put(
            buf,
            x + latency_w + 1,
            y,
            status_w,
            &status_text(s),
            Style::new().fg(status_colour(s.status)),
            false,
        );
    }
    let below = Rect {
        y: area.y + 1 + rows as u16, // rows ≤ body, a u16
        height: body - rows as u16,
        ..area
    };
    if below.height > 0 {
        render_axis(buf, bar_x, below.y, bar_w, took);
    }
    render_excerpts(state.span(w.selected), buf, below);
}

/// The time axis under a waterfall's bars, on the line that parts them
/// from the details: the trace's start, middle and end, each under its
/// column (the middle when there is room for it).
fn render_axis(buf: &mut Buffer, x: u16, y: u16, width: u16, took_ns: i64) {
    let style = Style::new().add_modifier(Modifier::DIM);
    let (mid, end) = (latency(took_ns / 2), latency(took_ns));
    let len = |t: &str| t.chars().count() as u16;
    let mut marks = vec![(x, "0".to_owned())];
    if width >= len(&mid) + len(&end) + 6 {
        marks.push((x + width / 2 - len(&mid) / 2, mid));
    }
    if width > len(&end) + 2 {
        marks.push((x + width - len(&end), end));
    }
    for (at, text) in marks {
        put(buf, at, y, len(&text), &text, style, false);
    }
}

/// The selected call's details, request and response, each as many lines
/// as fit, the request at most half when both are long.
fn render_excerpts(s: &Span, buf: &mut Buffer, area: Rect) {
    if area.height < 2 {
        return;
    }
    // What matters most first: the end of a long line is cut.
    let detail = format!(
        "{}[{}] {} {} {} · {} · {} · {} {} {} · tid {}",
        s.process.comm,
        s.process.pid,
        role_arrow(s.role),
        s.protocol,
        s.role,
        status_text(s),
        latency(s.duration_ns),
        s.local,
        role_arrow(s.role),
        s.remote,
        s.tid,
    );
    // A blank line parts the bars from the details.
    put(buf, area.x, area.y + 1, area.width, &detail, HEADER, false);
    let width = usize::from(area.width);
    let request = wrap(&s.request, width);
    let response = wrap(&s.response, width);
    // Two titles and the blank and detail lines.
    let room = usize::from(area.height).saturating_sub(4);
    let request_lines = request
        .len()
        .max(1)
        .min(room.saturating_sub(response.len().max(1)).max(room / 2));
    let response_lines = room.saturating_sub(request_lines);
    let mut y = area.y + 2;
    let parts = [
        ("request", s.req_bytes, request, request_lines),
        ("response", s.resp_bytes, response, response_lines),
    ];
    for (title, bytes, lines, fit) in parts {
        if y >= area.bottom() {
            return;
        }
        let title = Line::from(vec![
            Text::styled(title, Style::new().add_modifier(Modifier::UNDERLINED)),
            Text::styled(format!(" {}", size(bytes.into())), DIM),
        ]);
        buf.set_line(area.x, y, &title, area.width);
        y += 1;
        let mut shown: Vec<String> = lines.iter().take(fit).cloned().collect();
        if lines.len() > fit && fit > 0 {
            let more = (lines.len() - fit + 1) as u64;
            shown[fit - 1] = format!("… {}", counted(more, "more line", "more lines"));
        }
        if lines.is_empty() && fit > 0 {
            shown.push("(none seen)".to_owned());
        }
        for line in shown {
            if y >= area.bottom() {
                return;
            }
            let style = if line.starts_with('…') || line == "(none seen)" {
                DIM
            } else {
                Style::new()
            };
            put(buf, area.x, y, area.width, &line, style, false);
            y += 1;
        }
    }
}

/// An excerpt as lines of at most `width` characters, long lines (a query)
/// wrapped rather than cut. Excerpts are printable ASCII (the parsers turn
/// other bytes into `.`), so characters are columns; anything else that
/// slipped through is shown as `.` too, since a control character would
/// move the terminal's cursor.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for line in text.lines() {
        let chars: Vec<char> = line
            .chars()
            .map(|c| if c.is_control() { '.' } else { c })
            .collect();
        if chars.is_empty() {
            out.push(String::new());
        }
        for piece in chars.chunks(width) {
            out.push(piece.iter().collect());
        }
    }
    // A trailing blank line (the end of HTTP headers) says nothing.
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

fn render_info(state: &TraceState, frame: &mut Frame, area: Rect) {
    let summary = state.screen == Screen::Summary;
    let (shown, one, many) = if summary {
        (state.summary.len() as u64, "endpoint", "endpoints")
    } else {
        (state.rows.len() as u64, "call", "calls")
    };
    if state.typing {
        let prompt = format!("/{}", state.filter);
        let matching = if shown == 1 {
            format!("1 {one} matches")
        } else {
            format!("{} {many} match", grouped(shown))
        };
        let line = Line::from(vec![
            Text::raw(prompt.clone()),
            Text::styled(format!("   {matching} · Enter keeps · Esc clears"), DIM),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        let end = u16::try_from(Text::raw(prompt).width()).unwrap_or(u16::MAX);
        frame.set_cursor_position((area.x.saturating_add(end).min(area.right()), area.y));
        return;
    }
    let mut parts: Vec<Text> = Vec::new();
    if let Some(flash) = state.flash {
        parts.push(Text::styled(flash, Style::new().fg(Color::Yellow)));
    }
    match state.screen {
        Screen::Waterfall => {
            parts.push(Text::raw("↑↓ select a call"));
            parts.push(Text::raw("Esc back to the table"));
        }
        _ => {
            let kept = state.kept.len() as u64;
            let filtered = !state.filter.is_empty() || (!summary && state.endpoint.is_some());
            parts.push(Text::raw(if filtered && !summary {
                // `1 of 45 calls`, `1 of 1 call`: the noun goes with the total.
                format!("{} of {}", grouped(shown), counted(kept, "call", "calls"))
            } else {
                counted(shown, one, many)
            }));
            if !state.filter.is_empty() {
                parts.push(Text::styled(
                    format!("/{}", state.filter),
                    Style::new().fg(Color::Cyan),
                ));
            }
            if let (Some((p, r, e)), false) = (&state.endpoint, summary) {
                parts.push(Text::styled(
                    format!("{} {} {e}", short_protocol(*p), role_arrow(*r)),
                    Style::new().fg(Color::Cyan),
                ));
            }
            let (name, descending) = if summary {
                (
                    state.summary_sort.name(),
                    state.summary_sort.descending() != state.summary_reversed,
                )
            } else {
                (state.sort.name(), state.sort.descending() != state.reversed)
            };
            parts.push(Text::raw(format!("sort {name}{}", arrow(descending))));
            if !summary && state.follow && !state.rows.is_empty() {
                parts.push(Text::styled("following", Style::new().fg(Color::Green)));
            }
        }
    }
    let mut spans = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            spans.push(Text::styled(" · ", DIM));
        }
        spans.push(part);
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// `1,234 ev/s · 56,789 spans · 0 lost · …`, by importance: what does not
/// fit goes, the least telling first.
fn status_parts(state: &TraceState) -> Vec<(u8, Text<'static>)> {
    let s = &state.status;
    let mut parts: Vec<(u8, Text<'static>)> = Vec::new();
    if let Some(note) = &s.note {
        parts.push((9, Text::raw(note.clone())));
    }
    parts.push((
        6,
        Text::raw(format!("{} ev/s", grouped(s.events_per_s as u64))),
    ));
    let spans = s.spans.max(state.received);
    parts.push((8, Text::raw(counted(spans, "span", "spans"))));
    if s.lost > 0 {
        // Not reversed like the rest of the bar: it must stand out.
        let alarm = Style::new()
            .fg(Color::White)
            .bg(Color::Red)
            .add_modifier(Modifier::BOLD);
        parts.push((9, Text::styled(format!("{} lost", grouped(s.lost)), alarm)));
    } else {
        parts.push((2, Text::raw("0 lost")));
    }
    if state.first > 0 {
        parts.push((
            5,
            Text::raw(format!("{} older not kept", grouped(state.first))),
        ));
    }
    if s.live {
        let own = super::own_usage(s.self_cpu_pct, s.self_rss_bytes);
        parts.push((4, Text::raw(own)));
    }
    let mode = if s.live { "live" } else { "replay" };
    parts.push((7, Text::raw(format!("{mode} {}", clock(s.elapsed)))));
    parts.push((3, Text::raw("? help")));
    parts.push((1, Text::raw("q quit")));
    parts
}

fn render_help(frame: &mut Frame, area: Rect) {
    let keys = [
        ("q  Ctrl-C", "quit"),
        ("?", "close this help"),
        ("Tab", "calls / summary per endpoint"),
        ("↑ k  ↓ j", "previous / next row"),
        ("PgUp  PgDn", "a page up / down"),
        ("Home g", "first row"),
        ("End G", "the newest call; follow new calls"),
        ("Enter", "calls: the call's trace as a waterfall"),
        ("", "summary: the calls of that endpoint"),
        ("Esc  Bksp", "waterfall: back to the calls"),
        ("", "calls, summary: clear the filter"),
        ("/", "filter; Enter keeps it, Esc clears it"),
        ("s", "sort by the next column"),
        ("S  r", "reverse the sort"),
    ];
    super::render_help(
        frame,
        area,
        " dflow trace: keys ",
        54,
        12,
        &keys,
        &[
            " → calls out (client) · ← serves (server)",
            " ok green · 4xx yellow · 5xx, error red",
            " timeout magenta · times UTC",
        ],
    );
}

/// The rows of a list below its header line; None when the list is empty,
/// after saying there why.
fn list_body(state: &TraceState, buf: &mut Buffer, area: Rect, empty: bool) -> Option<Rect> {
    let list = Rect {
        y: area.y + 1,
        height: area.height - 1,
        ..area
    };
    if !empty {
        return Some(list);
    }
    let text = if !state.kept.is_empty() {
        "no calls match the filter (Esc clears it)"
    } else if state.status.live {
        "waiting for calls…"
    } else {
        "no calls"
    };
    centered(buf, list, text);
    None
}

/// `text` in `width` columns from `x`: cut with `…` when longer, to the
/// right edge when `right`. Written into the buffer directly: a render
/// touches only the visible rows, with no widget per cell.
fn put(buf: &mut Buffer, x: u16, y: u16, width: u16, text: &str, style: Style, right: bool) {
    if width == 0 || !buf.area.contains((x, y).into()) {
        return;
    }
    let room = usize::from(width.min(buf.area.right() - x));
    let shown = Text::raw(text).width();
    if shown <= room {
        let pad = if right { (room - shown) as u16 } else { 0 };
        buf.set_stringn(x + pad, y, text, room, style);
    } else {
        let (end, _) = buf.set_stringn(x, y, text, room - 1, style);
        buf.set_string(end, y, "…", style);
    }
}

fn centered(buf: &mut Buffer, area: Rect, text: &str) {
    if area.height == 0 {
        return;
    }
    let shown = u16::try_from(Text::raw(text).width()).unwrap_or(u16::MAX);
    let x = area.x + area.width.saturating_sub(shown) / 2;
    put(
        buf,
        x,
        area.y + area.height / 2,
        area.width,
        text,
        DIM,
        false,
    );
}

fn role_arrow(role: Role) -> &'static str {
    match role {
        Role::Client => "→",
        Role::Server => "←",
    }
}

/// Protocol names within five columns.
fn short_protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Http1 => "http",
        Protocol::Postgres => "pg",
        other => other.as_str(),
    }
}

fn protocol_name(p: Protocol, width: u16) -> &'static str {
    if usize::from(width) >= p.as_str().len() {
        p.as_str()
    } else {
        short_protocol(p)
    }
}

fn code_text(code: &Code) -> String {
    match code {
        Code::Num(n) => n.to_string(),
        Code::Text(t) => t.clone(),
    }
}

/// The protocol's own code (`404`, `ERR`, `23505`) when it has one, which
/// says more than the status; the status otherwise.
fn status_text(s: &Span) -> String {
    match &s.code {
        Some(Code::Num(rcode)) if s.protocol == Protocol::Dns => dns_rcode(*rcode),
        Some(code) => code_text(code),
        None => match s.status {
            Status::Ok => "ok",
            Status::ClientError => "cli err",
            Status::ServerError => "srv err",
            Status::Timeout => "timeout",
            Status::Error => "error",
        }
        .to_owned(),
    }
}

/// DNS response codes by name, as `dig` shows them. The parser's own table
/// is private to it; the common ones are enough here.
fn dns_rcode(rcode: i32) -> String {
    match rcode {
        0 => "NOERROR".to_owned(),
        1 => "FORMERR".to_owned(),
        2 => "SERVFAIL".to_owned(),
        3 => "NXDOMAIN".to_owned(),
        4 => "NOTIMP".to_owned(),
        5 => "REFUSED".to_owned(),
        n => format!("rcode {n}"),
    }
}

fn status_colour(status: Status) -> Color {
    match status {
        Status::Ok => Color::Green,
        Status::ClientError => Color::Yellow,
        Status::ServerError | Status::Error => Color::Red,
        Status::Timeout => Color::Magenta,
    }
}

/// `HH:MM:SS.mmm` in UTC of a Unix time in ns.
fn clock_utc(ns: i64) -> String {
    let ms = ns.div_euclid(1_000_000).rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// `850ns`, `950µs`, `12.3ms`, `123ms`, `1.20s`: three significant digits
/// at most, within seven columns. The bounds are where rounding would carry
/// into the next unit.
fn latency(ns: i64) -> String {
    let v = ns.max(0) as f64;
    if v < 999.5 {
        format!("{v:.0}ns")
    } else if v < 999_500.0 {
        format!("{:.0}µs", v / 1e3)
    } else if v < 99_950_000.0 {
        format!("{:.1}ms", v / 1e6)
    } else if v < 999_500_000.0 {
        format!("{:.0}ms", v / 1e6)
    } else if v < 99_995_000_000.0 {
        format!("{:.2}s", v / 1e9)
    } else {
        format!("{:.0}s", v / 1e9)
    }
}

/// `512B`, `4.1K`, `41K`, `1.2M`: within four columns up to 999 GiB.
fn size(n: u64) -> String {
    if n < 1000 {
        return format!("{n}B");
    }
    let mut v = n as f64 / 1024.0;
    for unit in ["K", "M", "G"] {
        if v < 9.95 {
            return format!("{v:.1}{unit}");
        }
        if v < 999.5 {
            return format!("{v:.0}{unit}");
        }
        v /= 1024.0;
    }
    format!("{v:.0}T")
}

/// Calls per second: `0.25`, `12.5`, `340`.
fn rate(per_s: f64) -> String {
    if per_s < 9.995 {
        format!("{per_s:.2}")
    } else if per_s < 99.95 {
        format!("{per_s:.1}")
    } else {
        format!("{per_s:.0}")
    }
}

fn percent(pct: f64) -> String {
    if pct >= 99.95 {
        "100%".to_owned()
    } else {
        format!("{pct:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use ratatui::crossterm::event::KeyModifiers;

    use super::*;
    use crate::event::{Process, ProcessRef};

    /// 2024-05-01T12:00:00Z.
    const T0: i64 = 1_714_564_800_000_000_000;
    const US: i64 = 1_000;
    const MS: i64 = 1_000_000;

    fn process(pid: u32, comm: &str) -> ProcessRef {
        Arc::new(Process::bare(pid, comm))
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// An ok call without code, excerpts or trace.
    fn call(
        p: &ProcessRef,
        protocol: Protocol,
        role: Role,
        endpoint: &str,
        at_us: i64,
        took_us: i64,
    ) -> Span {
        Span {
            start_ns: T0 + at_us * US,
            duration_ns: took_us * US,
            protocol,
            role,
            endpoint: endpoint.to_owned(),
            status: Status::Ok,
            code: None,
            req_bytes: 0,
            resp_bytes: 0,
            process: p.clone(),
            tid: p.pid,
            local: addr("10.0.0.2:41000"),
            remote: addr("10.0.0.3:6379"),
            trace_id: 0,
            span_id: 0,
            parent_span_id: None,
            request: String::new(),
            response: String::new(),
        }
    }

    /// Twelve requests 250 ms apart from `web` to `api`, seen from both
    /// sides, each with the Redis lookup `api` makes for it, every other one
    /// with a Postgres query too, and a DNS lookup of `worker`'s every
    /// fourth; some fail. Sent children first, as spans end.
    fn calls() -> Vec<Span> {
        let web = process(311, "web");
        let api = process(4242, "api");
        let worker = process(5150, "worker");
        let mut out = Vec::new();
        let mut next_id = 0;
        let mut id = || {
            next_id += 1;
            next_id
        };
        for i in 0..12_i64 {
            let at = i * 250_000;
            let took = 3_000 + i * 1_337 % 7_000;
            let (status, code) = match i {
                5 => (Status::ServerError, 500),
                8 => (Status::ClientError, 404),
                _ => (Status::Ok, 200),
            };
            let (client, server, lookup) = (id(), id(), id());
            let request = format!(
                "GET /users/{i} HTTP/1.1\nHost: api:8080\nUser-Agent: web/2.1\nAccept: application/json\nAuthorization: [redacted]"
            );
            let response = format!(
                "HTTP/1.1 {code} {}\nContent-Type: application/json\nContent-Length: 2048\nCache-Control: no-store\n",
                if code == 200 { "OK" } else { "Oops" }
            );
            let http = |p: &ProcessRef, role, at, took, span_id, parent| Span {
                status,
                code: Some(Code::Num(code)),
                req_bytes: 180,
                resp_bytes: if code == 200 { 2_150 } else { 96 },
                local: if role == Role::Client {
                    addr("10.0.0.1:40100")
                } else {
                    addr("10.0.0.2:8080")
                },
                remote: if role == Role::Client {
                    addr("10.0.0.2:8080")
                } else {
                    addr("10.0.0.1:40100")
                },
                trace_id: client,
                span_id,
                parent_span_id: parent,
                request: request.clone(),
                response: response.clone(),
                ..call(p, Protocol::Http1, role, "GET /users/:id", at, took)
            };
            let redis = Span {
                req_bytes: 31,
                resp_bytes: 2_060,
                trace_id: client,
                span_id: lookup,
                parent_span_id: Some(server),
                request: format!("GET user:{i}"),
                response: format!(
                    "$2041 {{\"id\":{i},\"name\":\"user {i}\",\"email\":\"[redacted]\"}}"
                ),
                status: if i == 3 { Status::Timeout } else { Status::Ok },
                ..call(
                    &api,
                    Protocol::Redis,
                    Role::Client,
                    "GET",
                    at + 400,
                    took / 3,
                )
            };
            out.push(redis);
            if i % 2 == 0 {
                let failed = i == 6;
                out.push(Span {
                    req_bytes: 88,
                    resp_bytes: if failed { 120 } else { 410 },
                    remote: addr("10.0.0.4:5432"),
                    trace_id: client,
                    span_id: id(),
                    parent_span_id: Some(server),
                    status: if failed { Status::Error } else { Status::Ok },
                    code: failed.then(|| Code::Text("57014".to_owned())),
                    request: "SELECT id, name, email FROM users WHERE id = $1".to_owned(),
                    response: if failed {
                        "ERROR 57014 canceling statement due to statement timeout".to_owned()
                    } else {
                        "SELECT 1".to_owned()
                    },
                    ..call(
                        &api,
                        Protocol::Postgres,
                        Role::Client,
                        "SELECT users",
                        at + 500 + took / 3,
                        took / 4,
                    )
                });
            }
            out.push(http(
                &api,
                Role::Server,
                at + 200,
                took - 400,
                server,
                Some(client),
            ));
            out.push(http(&web, Role::Client, at, took, client, None));
            if i % 4 == 1 {
                let dns_id = id();
                out.push(Span {
                    req_bytes: 29,
                    resp_bytes: 45,
                    remote: addr("10.0.0.53:53"),
                    trace_id: dns_id,
                    span_id: dns_id,
                    status: if i == 9 { Status::Timeout } else { Status::Ok },
                    code: (i != 9).then_some(Code::Num(0)),
                    request: "query db.internal A id=0x1a2b".to_owned(),
                    response: "NOERROR db.internal A 10.0.0.4".to_owned(),
                    ..call(
                        &worker,
                        Protocol::Dns,
                        Role::Client,
                        "db.internal A",
                        at + 90_000,
                        850 + i * 3_000,
                    )
                });
            }
        }
        out
    }

    fn status() -> TraceStatus {
        TraceStatus {
            events_per_s: 1_234.0,
            lost: 0,
            spans: 0,
            self_cpu_pct: 0.4,
            self_rss_bytes: 38 << 20,
            elapsed: Duration::from_secs(12),
            live: true,
            note: None,
        }
    }

    fn state(width: u16, height: u16) -> TraceState {
        let mut s = TraceState::new(true);
        s.update(Msg::Resize(Size::new(width, height)));
        s.update(Msg::Spans(calls()));
        s.update(Msg::Status(status()));
        s
    }

    fn press(s: &mut TraceState, code: KeyCode) -> Action {
        s.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    fn keys(s: &mut TraceState, codes: &[KeyCode]) {
        for &code in codes {
            assert_eq!(press(s, code), Action::None, "{code:?}");
        }
    }

    fn typed(s: &mut TraceState, text: &str) {
        for c in text.chars() {
            assert_eq!(press(s, KeyCode::Char(c)), Action::None);
        }
    }

    fn draw(s: &TraceState, width: u16, height: u16) -> Buffer {
        crate::tui::draw(s, width, height)
    }

    fn text(buf: &Buffer) -> String {
        let mut out = String::new();
        for y in 0..buf.area.height {
            let mut line = String::new();
            for x in 0..buf.area.width {
                line.push_str(buf[(x, y)].symbol());
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn screen(s: &TraceState, width: u16, height: u16) -> String {
        text(&draw(s, width, height))
    }

    /// The screen row (from the top) drawn selected.
    fn selected_row(buf: &Buffer) -> Option<u16> {
        (0..buf.area.height - 1).find(|&y| buf[(0, y)].modifier.contains(Modifier::REVERSED))
    }

    /// Selects the first table row `pick` accepts.
    fn select(s: &mut TraceState, pick: impl Fn(&Span) -> bool) {
        press(s, KeyCode::Home);
        let len = s.rows().len();
        for _ in 0..len {
            if s.selected().is_some_and(&pick) {
                return;
            }
            press(s, KeyCode::Down);
        }
        panic!("no such row");
    }

    const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

    /// Credentials never reach the screen: bytes with an Authorization
    /// header and a Cookie go through the real parser and pipeline into
    /// the view, whose waterfall shows the request's excerpt.
    #[test]
    fn credentials_are_redacted_on_screen() {
        use crate::event::{SockEvent, SockWhat};
        use crate::protocol::{Direction, Options, Transport};
        use crate::trace::pipeline::{Pipeline, PipelineConfig};
        const SECRET: &str = "s3cr3t-t0ken";
        let event = |dir, t: u64, bytes: &[u8]| SockEvent {
            enter_ns: t,
            exit_ns: t + 1000,
            pid: 7,
            tid: 7,
            fd: 3,
            sock: 1,
            transport: Transport::Tcp,
            local: addr("127.0.0.1:8080"),
            remote: addr("127.0.0.1:40000"),
            comm: crate::event::Comm::new("api"),
            what: SockWhat::Data {
                direction: dir,
                seq: 0,
                bytes: bytes.len() as u64,
                offset: 0,
                payload: bytes.to_vec(),
            },
        };
        let request = format!(
            "GET /me?access_token={SECRET} HTTP/1.1\r\nAuthorization: Bearer {SECRET}\r\nCookie: sid={SECRET}\r\n\r\n"
        );
        let response =
            format!("HTTP/1.1 200 OK\r\nSet-Cookie: sid={SECRET}\r\nContent-Length: 0\r\n\r\n");
        let mut pipeline = Pipeline::new(
            PipelineConfig {
                protocols: Vec::new(),
                options: Options::default(),
                epoch_offset_ns: 0,
            },
            Box::new(|pid, comm| Arc::new(Process::bare(pid, comm))),
        );
        pipeline.feed(&event(Direction::Ingress, 1_000, request.as_bytes()));
        pipeline.feed(&event(Direction::Egress, 5_000, response.as_bytes()));
        let mut spans = Vec::new();
        pipeline.flush(&mut spans);
        assert_eq!(spans.len(), 1);
        let mut s = TraceState::new(true);
        s.update(Msg::Resize(Size::new(120, 40)));
        s.update(Msg::Spans(spans));
        press(&mut s, KeyCode::Enter);
        let shown = screen(&s, 120, 40);
        assert!(shown.contains("Authorization: [redacted]"), "{shown}");
        assert!(shown.contains("Set-Cookie: [redacted]"), "{shown}");
        assert!(!shown.contains(SECRET), "{shown}");
    }

    #[test]
    fn table() {
        for (w, h) in SIZES {
            let s = state(w, h);
            let buf = draw(&s, w, h);
            // Following: the newest call, at the bottom, is selected.
            assert_eq!(selected_row(&buf), Some(h - 3));
            insta::assert_snapshot!(format!("table_{w}x{h}"), text(&buf));
        }
    }

    #[test]
    fn statuses_have_colours() {
        let s = state(120, 40);
        let buf = draw(&s, 120, 40);
        let shown = text(&buf);
        let colour_of = |word: &str| {
            let (y, line) = shown
                .lines()
                .enumerate()
                .find(|(_, l)| l.contains(word))
                .unwrap();
            // The cell after the leading space.
            let x = line[..line.find(word).unwrap()].chars().count() as u16 + 1;
            buf[(x, y as u16)].fg
        };
        assert_eq!(colour_of(" 500 "), Color::Red);
        assert_eq!(colour_of(" 404 "), Color::Yellow);
        assert_eq!(colour_of(" timeout "), Color::Magenta);
        assert_eq!(colour_of(" 57014 "), Color::Red);
        assert_eq!(colour_of(" 200 "), Color::Green);
    }

    #[test]
    fn filter_narrows_as_you_type() {
        let mut s = state(80, 24);
        assert_eq!(s.rows().len(), 45);
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "RE");
        // redis, and "refused"-free others: `re` is also in no other field.
        assert!(s.rows().len() < 45);
        typed(&mut s, "dis");
        assert_eq!(s.rows().len(), 12);
        assert!(s.rows().all(|r| r.protocol == Protocol::Redis));
        let shown = screen(&s, 80, 24);
        assert!(shown.contains("/REdis   12 calls match"), "{shown}");
        press(&mut s, KeyCode::Backspace);
        assert_eq!(s.filter(), "REdi");
        assert_eq!(s.rows().len(), 12);
        press(&mut s, KeyCode::Esc);
        assert_eq!(s.filter(), "");
        assert_eq!(s.rows().len(), 45);

        // q is a character while typing; Enter keeps the filter.
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "q");
        assert_eq!(s.filter(), "q");
        press(&mut s, KeyCode::Backspace);
        typed(&mut s, "10.0.0.53");
        press(&mut s, KeyCode::Enter);
        assert_eq!(s.rows().len(), 3, "by remote address");
        assert_eq!(press(&mut s, KeyCode::Char('q')), Action::Quit);
        // By code and by process.
        press(&mut s, KeyCode::Esc);
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "57014");
        assert_eq!(s.rows().len(), 1);
        press(&mut s, KeyCode::Esc);
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "web[311]");
        assert_eq!(s.rows().len(), 12);
    }

    #[test]
    fn filtered() {
        let mut s = state(80, 24);
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "users");
        press(&mut s, KeyCode::Enter);
        let shown = screen(&s, 80, 24);
        assert!(shown.contains("30 of 45 calls · /users"), "{shown}");
        insta::assert_snapshot!("filtered_80x24", shown);
        // Esc out of the prompt clears the kept filter too.
        press(&mut s, KeyCode::Esc);
        assert_eq!(s.rows().len(), 45);
    }

    /// Presses `s` until the table is sorted by `key`.
    fn sort_by(s: &mut TraceState, key: SortKey) {
        for _ in 0..SortKey::ALL.len() {
            if s.sort().0 == key {
                return;
            }
            press(s, KeyCode::Char('s'));
        }
        panic!("{key:?} is not shown");
    }

    #[test]
    fn sorting() {
        let mut s = state(80, 24);
        let header = |s: &TraceState| screen(s, 80, 24).lines().next().unwrap().to_owned();
        let starts: Vec<i64> = s.rows().map(|r| r.start_ns).collect();
        assert!(starts.is_sorted(), "by time, oldest first");
        assert!(header(&s).contains("time UTC▲"));
        // `s` walks the columns left to right; the title is cut, not the arrow.
        let walk = [
            (SortKey::Process, "process▲"),
            (SortKey::Protocol, "prot▲"),
            (SortKey::Endpoint, "endpoint▲"),
            (SortKey::Status, "status▼"),
            (SortKey::Latency, "latency▼"),
            (SortKey::Req, "req▼"),
            (SortKey::Resp, "res▼"),
            (SortKey::Time, "time UTC▲"),
        ];
        for (key, title) in walk {
            press(&mut s, KeyCode::Char('s'));
            assert_eq!(s.sort(), (key, false));
            let header = header(&s);
            assert!(header.contains(title), "{key:?}: {header}");
            assert_eq!(header.matches(['▲', '▼']).count(), 1, "{header}");
        }

        sort_by(&mut s, SortKey::Process);
        let comms: Vec<&str> = s.rows().map(|r| r.process.comm.as_str()).collect();
        assert!(comms.is_sorted());
        sort_by(&mut s, SortKey::Protocol);
        let protocols: Vec<&str> = s.rows().map(|r| r.protocol.as_str()).collect();
        assert!(protocols.is_sorted(), "{protocols:?}");
        sort_by(&mut s, SortKey::Endpoint);
        let endpoints: Vec<&str> = s.rows().map(|r| r.endpoint.as_str()).collect();
        assert!(endpoints.is_sorted(), "{endpoints:?}");
        sort_by(&mut s, SortKey::Status);
        let worst = s.rows().next().unwrap();
        assert_eq!(worst.status, Status::Error, "errors first");
        sort_by(&mut s, SortKey::Latency);
        let took: Vec<i64> = s.rows().map(|r| r.duration_ns).collect();
        assert!(took.is_sorted_by(|a, b| a >= b), "slowest first");
        press(&mut s, KeyCode::Char('S'));
        let took: Vec<i64> = s.rows().map(|r| r.duration_ns).collect();
        assert!(took.is_sorted(), "reversed");
        assert!(header(&s).contains("latency▲"));
        sort_by(&mut s, SortKey::Req);
        assert_eq!(s.sort(), (SortKey::Req, false), "a new column, unreversed");
        let sizes: Vec<u32> = s.rows().map(|r| r.req_bytes).collect();
        assert!(sizes.is_sorted_by(|a, b| a >= b), "biggest first");
        sort_by(&mut s, SortKey::Resp);
        let sizes: Vec<u32> = s.rows().map(|r| r.resp_bytes).collect();
        assert!(sizes.is_sorted_by(|a, b| a >= b), "biggest first");
    }

    #[test]
    fn sorting_skips_the_columns_not_shown() {
        // 60 columns leave out the time and the sizes.
        let mut s = state(60, 24);
        let mut seen = Vec::new();
        for _ in 0..6 {
            press(&mut s, KeyCode::Char('s'));
            seen.push(s.sort().0);
        }
        use SortKey::*;
        assert_eq!(
            seen,
            [Process, Protocol, Endpoint, Status, Latency, Process]
        );
    }

    #[test]
    fn selection_stays_on_its_call_when_sorted() {
        let mut s = state(80, 24);
        select(&mut s, |r| r.status == Status::ClientError);
        press(&mut s, KeyCode::Char('s'));
        assert_eq!(s.selected().unwrap().status, Status::ClientError);
    }

    #[test]
    fn follow_until_moved() {
        let mut s = state(80, 24);
        assert!(s.following());
        let later = |n: i64| {
            let p = process(9, "late");
            (0..n)
                .map(|i| call(&p, Protocol::Redis, Role::Client, "PING", 10_000_000 + i, 5))
                .collect::<Vec<_>>()
        };
        s.update(Msg::Spans(later(3)));
        assert_eq!(s.selected().unwrap().start_ns, T0 + (10_000_000 + 2) * US);
        press(&mut s, KeyCode::Up);
        assert!(!s.following());
        let chosen = s.selected().unwrap().clone();
        let row = selected_row(&draw(&s, 80, 24));
        s.update(Msg::Spans(later(5)));
        assert_eq!(s.selected(), Some(&chosen), "stays on its call");
        assert_eq!(
            selected_row(&draw(&s, 80, 24)),
            row,
            "at the same place on screen"
        );
        press(&mut s, KeyCode::End);
        assert!(s.following());
        s.update(Msg::Spans(later(1)));
        assert_eq!(s.selected().unwrap().process.comm, "late");
        assert_eq!(s.selected(), s.rows().last());
        // Home and a page down leave follow.
        keys(&mut s, &[KeyCode::Char('g'), KeyCode::PageDown]);
        assert!(!s.following());
        assert_eq!(s.selected(), s.rows().nth(21));
        keys(&mut s, &[KeyCode::Char('G')]);
        assert!(s.following());
    }

    /// Following keeps the newest call selected, so on screen, in either
    /// direction of the time order and in other orders, and End / G come
    /// back to it.
    #[test]
    fn following_newest_first() {
        let later = |at_us: i64| {
            let p = process(9, "late");
            vec![call(&p, Protocol::Redis, Role::Client, "PING", at_us, 5)]
        };
        for (w, h) in SIZES {
            let mut s = state(w, h);
            press(&mut s, KeyCode::Char('S'));
            assert!(s.following());
            let newest = s.rows().next().unwrap().clone();
            assert_eq!(Some(newest.start_ns), s.rows().map(|r| r.start_ns).max());
            assert_eq!(s.selected(), Some(&newest));
            let buf = draw(&s, w, h);
            assert_eq!(selected_row(&buf), Some(1), "the top row");
            insta::assert_snapshot!(format!("newest_first_{w}x{h}"), text(&buf));

            s.update(Msg::Spans(later(10_000_000)));
            assert_eq!(s.selected().unwrap().process.comm, "late");
            assert_eq!(selected_row(&draw(&s, w, h)), Some(1));
            keys(&mut s, &[KeyCode::Down, KeyCode::Down]);
            assert!(!s.following());
            press(&mut s, KeyCode::Char('G'));
            assert!(s.following());
            assert_eq!(s.selected().unwrap().process.comm, "late");
            assert_eq!(selected_row(&draw(&s, w, h)), Some(1));

            // By latency the newest call sorts anywhere: it is still selected.
            sort_by(&mut s, SortKey::Latency);
            s.update(Msg::Spans(later(10_000_001)));
            assert_eq!(s.selected().unwrap().start_ns, T0 + 10_000_001 * US);
            assert!(selected_row(&draw(&s, w, h)).is_some());
            assert!(screen(&s, w, h).contains("following"));
        }
    }

    #[test]
    fn replay_starts_at_the_first_call() {
        let mut s = TraceState::new(false);
        s.update(Msg::Spans(calls()));
        assert!(!s.following());
        assert_eq!(s.selected(), s.rows().next());
    }

    #[test]
    fn waterfall() {
        for (w, h) in SIZES {
            let mut s = state(w, h);
            s.update(Msg::Status(TraceStatus {
                note: Some("process 311 exited".to_owned()),
                ..status()
            }));
            // The server side of the second request: no Postgres query.
            select(&mut s, |r| {
                r.role == Role::Server && r.request.starts_with("GET /users/1 ")
            });
            press(&mut s, KeyCode::Enter);
            assert_eq!(s.screen(), Screen::Waterfall);
            let (rows, selected) = s.waterfall().unwrap();
            let shape: Vec<(&str, usize)> = rows
                .iter()
                .map(|(r, d)| (r.process.comm.as_str(), *d))
                .collect();
            assert_eq!(shape, [("web", 0), ("api", 1), ("api", 2)]);
            assert_eq!(selected.role, Role::Server);
            let buf = draw(&s, w, h);
            assert_eq!(selected_row(&buf), Some(2));
            insta::assert_snapshot!(format!("waterfall_{w}x{h}"), text(&buf));

            press(&mut s, KeyCode::Down);
            assert_eq!(s.waterfall().unwrap().1.protocol, Protocol::Redis);
            press(&mut s, KeyCode::Down);
            assert_eq!(s.waterfall().unwrap().1.protocol, Protocol::Redis, "last");
            let shown = screen(&s, w, h);
            assert!(shown.contains("GET user:1"), "{shown}");
            press(&mut s, KeyCode::Esc);
            assert_eq!(s.screen(), Screen::Table);
            assert_eq!(
                s.selected().unwrap().role,
                Role::Server,
                "back where it was"
            );
        }
    }

    #[test]
    fn a_missing_parent_makes_a_root() {
        let p = process(1, "app");
        let span = |id, parent, at| Span {
            trace_id: 7,
            span_id: id,
            parent_span_id: parent,
            ..call(&p, Protocol::Http1, Role::Server, "GET /", at, 100)
        };
        let mut s = TraceState::new(false);
        s.update(Msg::Spans(vec![
            span(3, Some(99), 20),
            span(1, None, 10),
            span(2, Some(1), 15),
            // A cycle: neither is a root, both are still drawn.
            span(5, Some(6), 30),
            span(6, Some(5), 40),
        ]));
        press(&mut s, KeyCode::Enter);
        let (rows, _) = s.waterfall().unwrap();
        let shape: Vec<(u64, usize)> = rows.iter().map(|(r, d)| (r.span_id, *d)).collect();
        assert_eq!(shape, [(1, 0), (2, 1), (3, 0), (5, 0), (6, 1)]);
    }

    #[test]
    fn long_excerpts_are_cut_to_fit() {
        let p = process(1, "app");
        let mut long = call(
            &p,
            Protocol::Postgres,
            Role::Client,
            "SELECT orders",
            0,
            100,
        );
        long.request = format!(
            "SELECT {} FROM orders",
            vec!["a_rather_long_column"; 30].join(", ")
        );
        long.response = (0..40).map(|i| format!("row {i}\n")).collect();
        let mut s = TraceState::new(false);
        s.update(Msg::Resize(Size::new(80, 24)));
        s.update(Msg::Spans(vec![long]));
        press(&mut s, KeyCode::Enter);
        let shown = screen(&s, 80, 24);
        assert!(
            shown.contains("SELECT a_rather_long_column, a_rather"),
            "{shown}"
        );
        assert!(shown.contains("more lines"), "{shown}");
        assert!(shown.contains("row 0"), "{shown}");
        assert!(!shown.contains("row 39"), "{shown}");
    }

    #[test]
    fn summary() {
        let mut s = state(80, 24);
        press(&mut s, KeyCode::Tab);
        assert_eq!(s.screen(), Screen::Summary);
        let shown = screen(&s, 80, 24);
        insta::assert_snapshot!("summary_80x24", shown);
        let first = &s.summary()[0];
        assert_eq!(
            (first.protocol, first.calls),
            (Protocol::Http1, 12),
            "busiest first"
        );
        assert_eq!(first.role, Role::Client, "then by name, client first");

        // Enter: that endpoint's calls.
        select_summary(&mut s, "SELECT users");
        press(&mut s, KeyCode::Enter);
        assert_eq!(s.screen(), Screen::Table);
        assert_eq!(s.rows().len(), 6);
        assert!(s.rows().all(|r| r.endpoint == "SELECT users"));
        assert!(screen(&s, 80, 24).contains("6 of 45 calls · pg → SELECT users"));
        press(&mut s, KeyCode::Esc);
        assert_eq!(s.rows().len(), 45);
    }

    fn select_summary(s: &mut TraceState, endpoint: &str) {
        press(s, KeyCode::Home);
        for _ in 0..s.summary().len() {
            if s.summary_selected
                .as_ref()
                .is_some_and(|(_, _, e)| e == endpoint)
            {
                return;
            }
            press(s, KeyCode::Down);
        }
        panic!("no {endpoint}");
    }

    #[test]
    fn summary_numbers() {
        let p = process(1, "app");
        // 1..=100 ms, one every 100 ms over exactly 10 s; 5 errors.
        let spans: Vec<Span> = (0..100)
            .map(|i| Span {
                status: if i % 20 == 0 {
                    Status::ServerError
                } else {
                    Status::Ok
                },
                ..call(
                    &p,
                    Protocol::Http1,
                    Role::Server,
                    "GET /",
                    i * 100_000,
                    (i + 1) * 1_000,
                )
            })
            .collect();
        let mut s = TraceState::new(false);
        s.update(Msg::Spans(spans));
        s.update(Msg::Spans(vec![call(
            &p,
            Protocol::Redis,
            Role::Client,
            "GET",
            0,
            1,
        )]));
        press(&mut s, KeyCode::Tab);
        let get = &s.summary()[0];
        assert_eq!(get.endpoint, "GET /");
        assert_eq!(get.calls, 100);
        assert_eq!(get.errors, 5);
        assert_eq!(get.error_pct(), 5.0);
        // As `endpoints_v` computes them (quantile_cont): 1..=100 ms.
        assert_eq!(get.p50_ns, 50 * MS + MS / 2);
        assert_eq!(get.p99_ns, 99 * MS + MS / 100);
        assert_eq!(get.max_ns, 100 * MS);
        assert!((get.rate - 10.0).abs() < 1e-9, "{}", get.rate);
        assert_eq!(s.summary()[1].rate, 0.1);

        // The filter applies; sorting by p99 puts Redis (1 µs) last.
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "redis");
        assert_eq!(s.summary().len(), 1);
        press(&mut s, KeyCode::Esc);
        keys(
            &mut s,
            &[KeyCode::Char('s'), KeyCode::Char('s'), KeyCode::Char('s')],
        );
        assert_eq!(s.summary_sort, SummaryKey::P99);
        assert_eq!(s.summary()[1].protocol, Protocol::Redis);
        press(&mut s, KeyCode::Char('r'));
        assert_eq!(s.summary()[0].protocol, Protocol::Redis);
    }

    #[test]
    fn help() {
        for (w, h) in SIZES {
            let mut s = state(w, h);
            press(&mut s, KeyCode::Char('?'));
            insta::assert_snapshot!(format!("help_{w}x{h}"), screen(&s, w, h));
            press(&mut s, KeyCode::Char('j'));
            assert!(!s.help);
            assert!(s.following(), "the key only closed the help");
        }
    }

    #[test]
    fn quit() {
        let mut s = state(80, 24);
        assert_eq!(press(&mut s, KeyCode::Char('q')), Action::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(s.update(Msg::Key(ctrl_c)), Action::Quit);
        press(&mut s, KeyCode::Char('/'));
        assert_eq!(s.update(Msg::Key(ctrl_c)), Action::Quit);
        press(&mut s, KeyCode::Esc);
        press(&mut s, KeyCode::Enter);
        assert_eq!(
            press(&mut s, KeyCode::Char('q')),
            Action::Quit,
            "from the waterfall"
        );
    }

    #[test]
    fn only_the_most_recent_are_kept() {
        let p = process(1, "app");
        let batch = |from: i64, n: i64| -> Vec<Span> {
            (from..from + n)
                .map(|i| {
                    call(
                        &p,
                        Protocol::Redis,
                        Role::Client,
                        &format!("GET k{i}"),
                        i,
                        1,
                    )
                })
                .collect()
        };
        let mut s = TraceState::with_capacity(true, 10);
        s.update(Msg::Spans(batch(0, 6)));
        s.update(Msg::Spans(batch(6, 6)));
        assert_eq!(s.dropped(), 2);
        s.update(Msg::Spans(batch(12, 25)));
        assert_eq!(s.dropped(), 27);
        assert_eq!(s.kept.len(), 10);
        let names: Vec<&str> = s.rows().map(|r| r.endpoint.as_str()).collect();
        assert_eq!(names.first(), Some(&"GET k27"));
        assert_eq!(names.last(), Some(&"GET k36"));
        let shown = screen(&s, 80, 24);
        assert!(shown.contains("37 spans · "), "{shown}");
        assert!(shown.contains(" · 27 older not kept · "), "{shown}");
        // A filtered view loses its old rows too.
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "k3");
        assert_eq!(s.rows().len(), 7);
        s.update(Msg::Spans(batch(37, 5)));
        assert_eq!(s.rows().len(), 8, "k32..k39 of k32..k41");
    }

    #[test]
    fn lost_events_stand_out() {
        let mut s = state(80, 24);
        s.update(Msg::Status(TraceStatus {
            lost: 1_234,
            ..status()
        }));
        let buf = draw(&s, 80, 24);
        let shown = text(&buf);
        let last = shown.lines().nth(23).unwrap();
        assert!(last.contains("1,234 lost"), "{last}");
        let x = last[..last.find("1,234 lost").unwrap()].chars().count() as u16;
        assert_eq!(buf[(x, 23)].bg, Color::Red);
        // Replay: no dflow cost, says replay.
        s.update(Msg::Status(TraceStatus {
            live: false,
            ..status()
        }));
        let last = screen(&s, 80, 24).lines().nth(23).unwrap().to_owned();
        assert!(
            last.contains("replay 00:12") && !last.contains("CPU"),
            "{last}"
        );
    }

    #[test]
    fn empty() {
        let live = TraceState::new(true);
        assert!(screen(&live, 80, 24).contains("waiting for calls…"));
        let replay = TraceState::new(false);
        assert!(screen(&replay, 80, 24).contains("no calls"));
        let mut s = state(80, 24);
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "nothing like this");
        assert!(screen(&s, 80, 24).contains("no calls match the filter"));
        press(&mut s, KeyCode::Enter);
        press(&mut s, KeyCode::Enter);
        assert_eq!(s.screen(), Screen::Table, "no call to open");
    }

    #[test]
    fn narrow_terminals_keep_the_endpoint() {
        for width in [40, 50, 60, 79, 80, 109, 110, 200] {
            let cols = columns(width);
            let total: u16 = cols.iter().map(|c| c.1 + 1).sum::<u16>() - 1;
            assert_eq!(total, width, "{cols:?}");
            if width < 50 {
                // Too narrow for the rest to leave 16.
                continue;
            }
            let endpoint = cols.iter().find(|c| c.0 == Column::Endpoint).unwrap().1;
            assert!(endpoint >= 16, "{width}: {cols:?}");
        }
        let s = state(50, 12);
        let shown = screen(&s, 50, 12);
        assert!(shown.contains("api[4242]"), "{shown}");
    }

    /// A long process name is cut before its pid, which tells apart
    /// processes of one name.
    #[test]
    fn process_names() {
        let names = [
            (24817, "python3"),
            (812, "systemd-resolve"),
            (4194303, "postgres"),
            (7, "nginx"),
        ];
        let spans: Vec<Span> = names
            .iter()
            .enumerate()
            .map(|(i, &(pid, comm))| {
                let at = i as i64 * 1_000;
                call(
                    &process(pid, comm),
                    Protocol::Http1,
                    Role::Server,
                    "GET /",
                    at,
                    100,
                )
            })
            .collect();
        for (w, h) in SIZES {
            let mut s = TraceState::new(false);
            s.update(Msg::Resize(Size::new(w, h)));
            s.update(Msg::Spans(spans.clone()));
            let shown = screen(&s, w, h);
            let expected: &[&str] = if w < 110 {
                &[
                    "pyth…[24817] ",
                    "system…[812] ",
                    "po…[4194303] ",
                    "nginx[7] ",
                ]
            } else {
                &[
                    "python3[24817] ",
                    "systemd-reso…[812] ",
                    "postgres[4194303] ",
                ]
            };
            for name in expected {
                assert!(shown.contains(name), "{name}: {shown}");
            }
            insta::assert_snapshot!(format!("process_names_{w}x{h}"), shown);
        }
    }

    #[test]
    fn counts_agree_with_their_numbers() {
        let p = process(1, "app");
        let mut s = TraceState::new(false);
        s.update(Msg::Spans(vec![call(
            &p,
            Protocol::Redis,
            Role::Client,
            "PING",
            0,
            5,
        )]));
        let shown = screen(&s, 80, 24);
        assert!(shown.contains("\n1 call · sort"), "{shown}");
        assert!(shown.contains(" 1 span · "), "{shown}");
        press(&mut s, KeyCode::Char('/'));
        typed(&mut s, "ping");
        let shown = screen(&s, 80, 24);
        assert!(shown.contains("/ping   1 call matches"), "{shown}");
        press(&mut s, KeyCode::Enter);
        let shown = screen(&s, 80, 24);
        assert!(shown.contains("1 of 1 call · /ping"), "{shown}");
        press(&mut s, KeyCode::Tab);
        let shown = screen(&s, 80, 24);
        assert!(shown.contains("\n1 endpoint · "), "{shown}");
        press(&mut s, KeyCode::Char('/'));
        let shown = screen(&s, 80, 24);
        assert!(shown.contains("1 endpoint matches"), "{shown}");
        assert!(!shown.contains(" 1 calls") && !shown.contains(" 1 spans"));
        assert_eq!(counted(2, "call", "calls"), "2 calls");
        assert_eq!(counted(1_000, "call", "calls"), "1,000 calls");
        assert_eq!(counted(0, "call", "calls"), "0 calls");
    }

    #[test]
    fn numbers() {
        assert_eq!(latency(850), "850ns");
        assert_eq!(latency(950_000), "950µs");
        assert_eq!(latency(999_499), "999µs");
        assert_eq!(latency(999_500), "1.0ms");
        assert_eq!(latency(12_345_678), "12.3ms");
        assert_eq!(latency(99_949_999), "99.9ms");
        assert_eq!(latency(99_950_000), "100ms");
        assert_eq!(latency(1_200_000_000), "1.20s");
        assert_eq!(latency(120_000_000_000), "120s");
        assert_eq!(size(512), "512B");
        assert_eq!(size(1_000), "1.0K");
        assert_eq!(size(4_200), "4.1K");
        assert_eq!(size(41_000), "40K");
        assert_eq!(size(1_023_000), "999K");
        assert_eq!(size(1_024_000), "1.0M");
        assert_eq!(size(u64::from(u32::MAX)), "4.0G");
        assert_eq!(clock_utc(T0 + 3_723_045 * MS), "13:02:03.045");
        assert_eq!(clock_utc(-1), "23:59:59.999");
        assert_eq!(rate(0.1), "0.10");
        assert_eq!(rate(12.34), "12.3");
        assert_eq!(rate(340.2), "340");
        assert_eq!(percent(5.0), "5.0%");
        assert_eq!(percent(100.0), "100%");
    }
}
