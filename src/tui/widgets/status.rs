//! The status bar at the foot of every view, and what every capture tells
//! it: the view's own numbers come with the view's status.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// What every capture's status bar says, live or replayed. The runtime
/// fills it (`app::run`: the clock, dflow's own cost, notes), the capture
/// adds what its probe lost; a replay fills it from the session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptureStatus {
    /// Events (or samples) the kernel could not hand over.
    pub lost: u64,
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

impl CaptureStatus {
    /// A replayed session's: what it lost and how long it ran.
    pub fn replay(lost: u64, elapsed: Duration) -> CaptureStatus {
        CaptureStatus {
            lost,
            elapsed,
            ..CaptureStatus::default()
        }
    }

    /// dflow's own cost (`dflow 0.4% CPU 38 MiB`), while live.
    pub fn own_usage(&self) -> Option<String> {
        self.live
            .then(|| own_usage(self.self_cpu_pct, self.self_rss_bytes))
    }
}

#[cfg(test)]
impl CaptureStatus {
    /// A live capture 12 s in, costing 0.4% CPU and 38 MiB: the views'
    /// snapshots show it.
    pub fn example() -> CaptureStatus {
        CaptureStatus {
            lost: 0,
            self_cpu_pct: 0.4,
            self_rss_bytes: 38 << 20,
            elapsed: Duration::from_secs(12),
            live: true,
            note: None,
        }
    }
}

/// dflow's own cost, as a live status bar shows it.
pub fn own_usage(cpu_pct: f64, rss_bytes: u64) -> String {
    let mib = rss_bytes as f64 / (1024.0 * 1024.0);
    format!("dflow {cpu_pct:.1}% CPU {mib:.0} MiB")
}

/// Draws a status bar in reverse video from (importance, part) pairs: the
/// least important parts (the rightmost of equals) go until the rest fits,
/// joined by ` · `.
pub fn render_status_bar(frame: &mut Frame, area: Rect, mut parts: Vec<(u8, Span<'static>)>) {
    let fits = |parts: &[(u8, Span)]| {
        let text: usize = parts.iter().map(|(_, p)| p.width()).sum();
        1 + text + 3 * parts.len().saturating_sub(1) <= usize::from(area.width)
    };
    while parts.len() > 1 && !fits(&parts) {
        let lowest = parts.iter().map(|(p, _)| *p).min().unwrap_or(0);
        let drop = parts.iter().rposition(|(p, _)| *p == lowest).unwrap_or(0);
        parts.remove(drop);
    }
    let mut spans = vec![Span::raw(" ")];
    for (i, (_, part)) in parts.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" · "));
        }
        spans.push(part);
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
    );
}
