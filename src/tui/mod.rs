//! Full-screen terminal views. Each view is state → render: one
//! `update(msg)` changes its state, and rendering borrows the state into any
//! ratatui backend, so views run in tests on a `TestBackend` without a
//! terminal. [`terminal`] owns the real terminal around them, and [`pump`]
//! is the only code that reads the real terminal's events.

pub mod flame;
pub mod terminal;
pub mod trace;
pub mod widgets;

use std::io::{self, Write};
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Rect, Size};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::tui::terminal::Tui;

/// What the caller should do after a view's update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
}

/// How a key that every view treats alike was taken, or that it was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Common {
    /// Handled here: the view does this and nothing more.
    Done(Action),
    /// The view's text prompt takes the key (with Ctrl held or not).
    Prompt { ctrl: bool },
    /// The view's own key.
    Own,
}

/// The keys before a view's own: releases are ignored, Ctrl-C quits, an
/// open text prompt takes every other key, the help overlay closes on any
/// key (`q` quits), other Ctrl chords do nothing.
pub fn common_key(key: &KeyEvent, prompting: bool, help: &mut bool) -> Common {
    if key.kind == KeyEventKind::Release {
        return Common::Done(Action::None);
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Common::Done(Action::Quit);
    }
    if prompting {
        return Common::Prompt { ctrl };
    }
    if *help {
        // The overlay hides what other keys would act on: they only close it.
        *help = false;
        return Common::Done(if key.code == KeyCode::Char('q') {
            Action::Quit
        } else {
            Action::None
        });
    }
    if ctrl {
        return Common::Done(Action::None);
    }
    Common::Own
}

/// The terminal events a view takes: keys (not their releases) and resizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Key(KeyEvent),
    /// The terminal's size: paging, scrolling and moves need what is shown.
    Resize(Size),
}

impl Input {
    /// The input of a terminal event, if views care about it.
    pub fn from_event(event: Event) -> Option<Input> {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => Some(Input::Key(key)),
            Event::Resize(width, height) => Some(Input::Resize(Size::new(width, height))),
            _ => None,
        }
    }
}

/// A full-screen view [`pump`] can drive.
pub trait View {
    /// Handles a terminal event; true when the user quits.
    fn event(&mut self, event: Event) -> bool;
    /// The terminal's size, before the first event and after a resize.
    fn resize(&mut self, size: Size);
    fn render(&self, frame: &mut Frame);
}

impl View for flame::FlameState {
    fn event(&mut self, event: Event) -> bool {
        Input::from_event(event).is_some_and(|i| self.update(i.into()) == Action::Quit)
    }

    fn resize(&mut self, size: Size) {
        self.update(flame::Msg::Resize(size));
    }

    fn render(&self, frame: &mut Frame) {
        flame::render(self, frame);
    }
}

impl View for trace::TraceState {
    fn event(&mut self, event: Event) -> bool {
        Input::from_event(event).is_some_and(|i| self.update(i.into()) == Action::Quit)
    }

    fn resize(&mut self, size: Size) {
        self.update(trace::Msg::Resize(size));
    }

    fn render(&self, frame: &mut Frame) {
        trace::render(self, frame);
    }
}

/// Feeds the terminal's keys and resizes to `view` for up to `timeout`,
/// redrawing after each; true as soon as the user quits. The caller redraws
/// after sending new data, and calls this between polls.
pub fn pump<W: Write, V: View>(
    tui: &mut Tui<W>,
    view: &mut V,
    timeout: Duration,
) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    // Moves need the size the view is drawn at, and a resize while no view
    // was pumping is otherwise missed.
    view.resize(tui.size()?);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // Not crossterm's own wait, which never returns on a terminal that
        // hung up (see `terminal::input_ready`).
        if !terminal::input_ready(left)? {
            return Ok(false);
        }
        // What the input holds (one read may bring several keys).
        while event::poll(Duration::ZERO)? {
            if view.event(event::read()?) {
                return Ok(true);
            }
            tui.draw(|frame| view.render(frame))?;
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
    }
}

/// `12,345`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count and its noun, singular for one: `1 call`, `12,345 calls`.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", grouped(n), if n == 1 { one } else { many })
}

/// `00:12`, `1:02:03`.
pub fn clock(elapsed: Duration) -> String {
    let s = elapsed.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// The `?` overlay: a bordered box `width` columns wide, centred in `area`,
/// listing `keys` (bold, in a column `key_width` wide), then a blank line
/// and the `legend`.
pub fn render_help(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    width: u16,
    key_width: usize,
    keys: &[(&str, &str)],
    legend: &[&str],
) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                ratatui::text::Span::styled(format!(" {key:<key_width$}"), bold),
                ratatui::text::Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.extend(legend.iter().map(|l| Line::raw(*l)));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let box_area = area.centered(Constraint::Length(width), Constraint::Length(height));
    frame.render_widget(Clear, box_area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        box_area,
    );
}

/// `view` drawn on a `width`×`height` test terminal, for the views' tests.
#[cfg(test)]
pub fn draw<V: View>(view: &V, width: u16, height: u16) -> ratatui::buffer::Buffer {
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| view.render(f)).unwrap();
    terminal.backend().buffer().clone()
}
