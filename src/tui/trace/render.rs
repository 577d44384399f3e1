//! Drawing the state: the table of calls, the info line, the status bar,
//! help, and the formatting they share.

use super::*;

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
    render_status_bar(frame, status, status_parts(state));
    if state.help {
        render_help(frame, area);
    }
}

/// The call table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
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
pub(super) fn columns(width: u16) -> Vec<(Column, u16)> {
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

pub(super) fn column_title(column: Column) -> &'static str {
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
pub(super) fn column_sort(column: Column) -> Option<SortKey> {
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

pub(super) fn right_aligned(column: Column) -> bool {
    matches!(column, Column::Latency | Column::Req | Column::Resp)
}

pub(super) fn arrow(descending: bool) -> &'static str {
    if descending { "▼" } else { "▲" }
}

pub(super) const HEADER: Style = Style::new().add_modifier(Modifier::BOLD);
pub(super) const DIM: Style = Style::new().add_modifier(Modifier::DIM);

pub(super) fn render_table(state: &TraceState, buf: &mut Buffer, area: Rect) {
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

pub(super) fn draw_call(
    buf: &mut Buffer,
    cols: &[(Column, u16)],
    x: u16,
    y: u16,
    s: &Span,
    selected: bool,
) {
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
pub(super) fn put_process(buf: &mut Buffer, x: u16, y: u16, width: u16, comm: &str, pid: u32) {
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

pub(super) fn render_info(state: &TraceState, frame: &mut Frame, area: Rect) {
    let summary = state.screen == Screen::Summary;
    let (shown, one, many) = if summary {
        (state.summary.len() as u64, "endpoint", "endpoints")
    } else {
        (state.rows.len() as u64, "call", "calls")
    };
    if state.filter.is_open() {
        let matching = if shown == 1 {
            format!("1 {one} matches")
        } else {
            format!("{} {many} match", grouped(shown))
        };
        state.filter.render(frame, area, &matching);
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
                    format!("/{}", state.filter.text()),
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
pub(super) fn status_parts(state: &TraceState) -> Vec<(u8, Text<'static>)> {
    let s = &state.status.capture;
    let mut parts: Vec<(u8, Text<'static>)> = Vec::new();
    if let Some(note) = &s.note {
        parts.push((9, Text::raw(note.clone())));
    }
    parts.push((
        6,
        Text::raw(format!(
            "{} ev/s",
            grouped(state.status.events_per_s as u64)
        )),
    ));
    let spans = state.status.spans.max(state.received);
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
    if let Some(own) = s.own_usage() {
        parts.push((4, Text::raw(own)));
    }
    let mode = if s.live { "live" } else { "replay" };
    parts.push((7, Text::raw(format!("{mode} {}", clock(s.elapsed)))));
    parts.push((3, Text::raw("? help")));
    parts.push((1, Text::raw("q quit")));
    parts
}

pub(super) fn render_help(frame: &mut Frame, area: Rect) {
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
    crate::tui::render_help(
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
pub(super) fn list_body(
    state: &TraceState,
    buf: &mut Buffer,
    area: Rect,
    empty: bool,
) -> Option<Rect> {
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
    } else if state.status.capture.live {
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
pub(super) fn put(
    buf: &mut Buffer,
    x: u16,
    y: u16,
    width: u16,
    text: &str,
    style: Style,
    right: bool,
) {
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

pub(super) fn centered(buf: &mut Buffer, area: Rect, text: &str) {
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

pub(super) fn role_arrow(role: Role) -> &'static str {
    match role {
        Role::Client => "→",
        Role::Server => "←",
    }
}

/// Protocol names within five columns.
pub(super) fn short_protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Http1 => "http",
        Protocol::Postgres => "pg",
        other => other.as_str(),
    }
}

pub(super) fn protocol_name(p: Protocol, width: u16) -> &'static str {
    if usize::from(width) >= p.as_str().len() {
        p.as_str()
    } else {
        short_protocol(p)
    }
}

pub(super) fn code_text(code: &Code) -> String {
    match code {
        Code::Num(n) => n.to_string(),
        Code::Text(t) => t.clone(),
    }
}

/// The protocol's own code (`404`, `ERR`, `23505`) when it has one, which
/// says more than the status; the status otherwise.
pub(super) fn status_text(s: &Span) -> String {
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
pub(super) fn dns_rcode(rcode: i32) -> String {
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

pub(super) fn status_colour(status: Status) -> Color {
    match status {
        Status::Ok => Color::Green,
        Status::ClientError => Color::Yellow,
        Status::ServerError | Status::Error => Color::Red,
        Status::Timeout => Color::Magenta,
    }
}

/// `HH:MM:SS.mmm` in UTC of a Unix time in ns.
pub(super) fn clock_utc(ns: i64) -> String {
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
pub(super) fn latency(ns: i64) -> String {
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
pub(super) fn size(n: u64) -> String {
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
pub(super) fn rate(per_s: f64) -> String {
    if per_s < 9.995 {
        format!("{per_s:.2}")
    } else if per_s < 99.95 {
        format!("{per_s:.1}")
    } else {
        format!("{per_s:.0}")
    }
}

pub(super) fn percent(pct: f64) -> String {
    if pct >= 99.95 {
        "100%".to_owned()
    } else {
        format!("{pct:.1}%")
    }
}
