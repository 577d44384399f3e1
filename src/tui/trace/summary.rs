//! The summary screen: one row per endpoint.

use super::*;

pub(super) fn summary_columns(width: u16) -> [(&'static str, u16, Option<SummaryKey>); 9] {
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

pub(super) fn render_summary(state: &TraceState, buf: &mut Buffer, area: Rect) {
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
