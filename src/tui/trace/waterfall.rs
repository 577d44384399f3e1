//! The waterfall screen: one trace's calls on a time axis, with the
//! selected call's request and response.

use super::*;

/// Rows of bars a waterfall gets on a terminal `height` rows high: half of
/// its body, the rest for the selected call's request and response.
pub(super) fn waterfall_rows(height: u16) -> usize {
    // The status bar, the info line and the title.
    usize::from(height.saturating_sub(3) / 2).max(1)
}

pub(super) fn render_waterfall(state: &TraceState, w: &Waterfall, buf: &mut Buffer, area: Rect) {
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
pub(super) fn render_axis(buf: &mut Buffer, x: u16, y: u16, width: u16, took_ns: i64) {
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
pub(super) fn render_excerpts(s: &Span, buf: &mut Buffer, area: Rect) {
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
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
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
