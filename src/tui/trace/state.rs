//! The view's state: the kept calls, the cursor and sort of each list,
//! the per-endpoint summary, the open trace; and how keys change it.

use super::*;

/// A kept call and the text the filter searches, lower-cased once.
#[derive(Debug, Clone)]
pub(super) struct Kept {
    pub(super) span: Span,
    pub(super) hay: String,
}

/// The open trace: its kept spans in drawing order.
#[derive(Debug, Clone)]
pub(super) struct Waterfall {
    pub(super) trace_id: u64,
    /// Sequence numbers (see [`TraceState`]) and depths, parents before
    /// their children, siblings by start.
    pub(super) rows: Vec<(u64, usize)>,
    pub(super) cursor: Cursor,
    /// The selected span's sequence number.
    pub(super) selected: u64,
    pub(super) start_ns: i64,
    pub(super) end_ns: i64,
}

/// What the trace view shows: the kept calls and where the user is in them.
/// Changed only by [`TraceState::update`].
///
/// Calls are named by sequence number, the count of spans received before
/// them, so a name stays valid while older calls are dropped from the front.
#[derive(Debug, Clone)]
pub struct TraceState {
    pub(super) kept: VecDeque<Kept>,
    pub(super) capacity: usize,
    /// The sequence number of `kept[0]`: also the calls dropped from view.
    pub(super) first: u64,
    /// Spans received: the next sequence number.
    pub(super) received: u64,
    pub(super) screen: Screen,
    pub(super) size: Size,
    pub(super) status: TraceStatus,
    pub(super) help: bool,
    /// A short answer to the last key (why it did nothing), until the next key.
    pub(super) flash: Option<&'static str>,

    /// The filter and its prompt.
    pub(super) filter: Prompt,
    /// The filter lower-cased, as the haystacks are.
    pub(super) needle: String,
    /// Only this endpoint's calls (chosen in the summary), matched exactly.
    pub(super) endpoint: Option<Endpoint>,
    pub(super) sort: SortKey,
    pub(super) reversed: bool,
    /// The calls matching the filters, in table order.
    pub(super) rows: Vec<u64>,
    pub(super) cursor: Cursor,
    pub(super) selected: Option<u64>,
    /// Keep the newest call selected, so on screen, as calls arrive.
    pub(super) follow: bool,

    pub(super) summary: Vec<EndpointStats>,
    pub(super) summary_sort: SummaryKey,
    pub(super) summary_reversed: bool,
    pub(super) summary_cursor: Cursor,
    pub(super) summary_selected: Option<Endpoint>,
    /// `summary` is older than the spans or the filter: rebuilt when shown,
    /// not on every batch, since grouping 50k spans costs milliseconds.
    pub(super) summary_stale: bool,

    pub(super) waterfall: Option<Waterfall>,
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
                capture: CaptureStatus {
                    live,
                    ..CaptureStatus::default()
                },
                ..TraceStatus::default()
            },
            help: false,
            flash: None,
            filter: Prompt::default(),
            needle: String::new(),
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
        self.filter.text()
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

    pub(super) fn span(&self, seq: u64) -> &Span {
        &self.kept[(seq - self.first) as usize].span
    }

    pub(super) fn kept(&self, seq: u64) -> &Kept {
        &self.kept[(seq - self.first) as usize]
    }

    /// Table or summary rows shown: all but the header, the info line and
    /// the status bar.
    pub(super) fn page(&self) -> usize {
        usize::from(self.size.height.saturating_sub(3))
    }

    pub(super) fn add(&mut self, spans: Vec<Span>) {
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
    pub(super) fn matches(&self, seq: u64) -> bool {
        let kept = self.kept(seq);
        kept.hay.contains(&self.needle)
            && self.endpoint.as_ref().is_none_or(|(p, r, e)| {
                kept.span.protocol == *p && kept.span.role == *r && kept.span.endpoint == *e
            })
    }

    pub(super) fn sort_rows(&mut self) {
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
    pub(super) fn sync_table(&mut self) {
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
    pub(super) fn newest_row(&self) -> Option<usize> {
        let newest = |i: &usize| {
            let seq = self.rows[*i];
            (self.span(seq).start_ns, seq)
        };
        (0..self.rows.len()).max_by_key(newest)
    }

    /// The filter changed; `narrowed`: only by a character typed at its end,
    /// so the rows shown are the only candidates.
    pub(super) fn refilter(&mut self, narrowed: bool) {
        self.needle = self.filter.text().to_lowercase();
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
    pub(super) fn refresh_shown(&mut self) {
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

    pub(super) fn rebuild_summary(&mut self) {
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

    pub(super) fn select_summary_row(&mut self) {
        self.summary_selected = self
            .summary
            .get(self.summary_cursor.at)
            .map(EndpointStats::key);
    }

    /// The kept spans of a trace, each under its parent (one missing from
    /// those kept makes a root), siblings and roots by start.
    pub(super) fn build_waterfall(
        &self,
        trace_id: u64,
        selected: u64,
        cursor: Cursor,
    ) -> Waterfall {
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

    pub(super) fn key(&mut self, key: KeyEvent) -> Action {
        if key.kind != KeyEventKind::Release {
            self.flash = None;
        }
        match crate::tui::common_key(&key, self.filter.is_open(), &mut self.help) {
            crate::tui::Common::Done(action) => return action,
            crate::tui::Common::Prompt { ctrl } => {
                self.filter_key(key.code, ctrl);
                return Action::None;
            }
            crate::tui::Common::Own => {}
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

    pub(super) fn filter_key(&mut self, code: KeyCode, ctrl: bool) {
        match self.filter.key(code, ctrl) {
            Edit::Cancelled { cleared: true } | Edit::Shortened => self.refilter(false),
            Edit::Extended => self.refilter(true),
            Edit::Cancelled { cleared: false } | Edit::Kept | Edit::Nothing => {}
        }
    }

    pub(super) fn table_key(&mut self, code: KeyCode) {
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
            KeyCode::Char('/') => self.filter.open(),
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

    pub(super) fn summary_key(&mut self, code: KeyCode) {
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
            KeyCode::Char('/') => self.filter.open(),
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

    pub(super) fn waterfall_key(&mut self, code: KeyCode) {
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
pub(super) fn haystack(s: &Span) -> String {
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
pub(super) fn compare(key: SortKey, a: &Span, b: &Span) -> Ordering {
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

pub(super) fn compare_stats(key: SummaryKey, a: &EndpointStats, b: &EndpointStats) -> Ordering {
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
pub(super) fn severity(status: Status) -> u8 {
    match status {
        Status::Ok => 0,
        Status::ClientError => 1,
        Status::Timeout => 2,
        Status::ServerError => 3,
        Status::Error => 4,
    }
}

pub(super) fn code_key(code: &Option<Code>) -> (i64, &str) {
    match code {
        None => (i64::MIN, ""),
        Some(Code::Num(n)) => (i64::from(*n), ""),
        Some(Code::Text(t)) => (i64::MAX, t.as_str()),
    }
}
