//! Full-screen terminal views. Each view is state → render: one
//! `update(msg)` changes its state, and rendering borrows the state into any
//! ratatui backend, so views run in tests on a `TestBackend` without a
//! terminal. [`terminal`] owns the real terminal around them, and [`pump`]
//! is the only code that reads the real terminal's events.

pub mod flame;
pub mod terminal;

use std::io::{self, Write};
use std::time::{Duration, Instant};

use ratatui::crossterm::event;

use crate::tui::flame::{Action, FlameState, Msg};
use crate::tui::terminal::Tui;

/// Feeds the terminal's keys and resizes to the flame view for up to
/// `timeout`, redrawing after each; true as soon as the user quits. The
/// caller redraws after sending new data, and calls this between polls.
pub fn pump<W: Write>(
    tui: &mut Tui<W>,
    state: &mut FlameState,
    timeout: Duration,
) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    // Moves need the width the view is drawn at, and a resize while no
    // view was pumping is otherwise missed.
    state.update(Msg::Resize(tui.size()?));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if !event::poll(left)? {
            return Ok(false);
        }
        let Some(msg) = Msg::from_event(event::read()?) else {
            continue;
        };
        if state.update(msg) == Action::Quit {
            return Ok(true);
        }
        tui.draw(|frame| flame::render(state, frame))?;
    }
}
