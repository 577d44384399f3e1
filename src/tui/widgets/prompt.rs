//! The one-line prompt opened with `/`: the trace view's filter and the
//! flame view's search edit their text in it alike.

use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The prompt's text, kept when it closes, and whether it is open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompt {
    text: String,
    open: bool,
}

/// What a key did to the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Enter: closed, the text kept.
    Kept,
    /// Esc: closed, the text cleared (`cleared`: there was some).
    Cancelled { cleared: bool },
    /// A character typed at the end: what matches can only narrow.
    Extended,
    /// Backspace or Ctrl-U took text away.
    Shortened,
    /// Nothing changed.
    Nothing,
}

impl Prompt {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Whether keys edit the text.
    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn open(&mut self) {
        self.open = true;
    }

    pub fn clear(&mut self) {
        self.text.clear();
    }

    /// Takes a key while open: Enter keeps the text, Esc clears it (both
    /// close), Backspace and Ctrl-U delete, a character is typed.
    pub fn key(&mut self, code: KeyCode, ctrl: bool) -> Edit {
        match code {
            KeyCode::Esc => {
                self.open = false;
                let cleared = !self.text.is_empty();
                self.text.clear();
                Edit::Cancelled { cleared }
            }
            KeyCode::Enter => {
                self.open = false;
                Edit::Kept
            }
            KeyCode::Backspace if self.text.pop().is_some() => Edit::Shortened,
            KeyCode::Char('u') if ctrl => {
                self.text.clear();
                Edit::Shortened
            }
            KeyCode::Char(c) if !ctrl => {
                self.text.push(c);
                Edit::Extended
            }
            _ => Edit::Nothing,
        }
    }

    /// Draws `/text   {what} · Enter keeps · Esc clears` on `area`'s first
    /// line, the terminal's cursor after the text.
    pub fn render(&self, frame: &mut Frame, area: Rect, what: &str) {
        let prompt = format!("/{}", self.text);
        let line = Line::from(vec![
            Span::raw(prompt.clone()),
            Span::styled(
                format!("   {what} · Enter keeps · Esc clears"),
                Style::new().add_modifier(Modifier::DIM),
            ),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        let end = u16::try_from(Span::raw(prompt).width()).unwrap_or(u16::MAX);
        frame.set_cursor_position((area.x.saturating_add(end).min(area.right()), area.y));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_edit_keep_and_clear() {
        let mut p = Prompt::default();
        p.open();
        assert!(p.is_open());
        assert_eq!(p.key(KeyCode::Char('a'), false), Edit::Extended);
        assert_eq!(p.key(KeyCode::Char('b'), false), Edit::Extended);
        assert_eq!(p.key(KeyCode::Char('x'), true), Edit::Nothing);
        assert_eq!(p.key(KeyCode::Backspace, false), Edit::Shortened);
        assert_eq!(p.text(), "a");
        assert_eq!(p.key(KeyCode::Enter, false), Edit::Kept);
        assert!(!p.is_open() && p.text() == "a");
        p.open();
        assert_eq!(p.key(KeyCode::Char('u'), true), Edit::Shortened);
        assert_eq!(p.key(KeyCode::Backspace, false), Edit::Nothing);
        assert_eq!(
            p.key(KeyCode::Esc, false),
            Edit::Cancelled { cleared: false }
        );
        p.open();
        p.key(KeyCode::Char('z'), false);
        assert_eq!(
            p.key(KeyCode::Esc, false),
            Edit::Cancelled { cleared: true }
        );
        assert!(p.is_empty() && !p.is_open());
    }
}
