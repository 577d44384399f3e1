//! Full-screen terminal views. Each view is state → render: one
//! `update(msg)` changes its state, and rendering borrows the state into any
//! ratatui backend, so views run in tests on a `TestBackend` without a
//! terminal. [`terminal`] owns the real terminal around them, and [`pump`]
//! is the only code that reads the real terminal's events.

pub mod flame;
pub mod terminal;
pub mod trace;

use std::io::{self, Write};
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::crossterm::event::{self, Event};
use ratatui::layout::Size;

use crate::tui::terminal::Tui;

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
        flame::Msg::from_event(event).is_some_and(|m| self.update(m) == flame::Action::Quit)
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
        trace::Msg::from_event(event).is_some_and(|m| self.update(m) == trace::Action::Quit)
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
        if !event::poll(left)? {
            return Ok(false);
        }
        if view.event(event::read()?) {
            return Ok(true);
        }
        tui.draw(|frame| view.render(frame))?;
    }
}
