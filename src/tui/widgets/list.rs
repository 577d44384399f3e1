//! A scrolling list's cursor: the selected row and the first row shown,
//! kept on screen as rows come and go and the terminal resizes.

use ratatui::crossterm::event::KeyCode;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The selected row.
    pub at: usize,
    /// The first row shown.
    pub top: usize,
}

impl Cursor {
    /// Within `len` rows, with `at` among the `page` rows shown and no blank
    /// rows at the end while rows above are hidden.
    pub fn fitted(self, len: usize, page: usize) -> Cursor {
        let page = page.max(1);
        let at = self.at.min(len.saturating_sub(1));
        let top = self
            .top
            .min(at)
            .max((at + 1).saturating_sub(page))
            .min(len.saturating_sub(page));
        Cursor { at, top }
    }

    pub fn moved(self, to: Move, len: usize, page: usize) -> Cursor {
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
pub enum Move {
    Up(usize),
    Down(usize),
    First,
    Last,
}

/// The move a key asks for in a list showing `page` rows.
pub fn movement(code: KeyCode, page: usize) -> Option<Move> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_stays_on_screen() {
        let c = Cursor::default().moved(Move::Last, 100, 10);
        assert_eq!(c, Cursor { at: 99, top: 90 });
        // The list shrinks under it: the cursor follows, no blank rows.
        assert_eq!(c.fitted(50, 10), Cursor { at: 49, top: 40 });
        // A taller terminal shows more rows above.
        assert_eq!(c.fitted(100, 30), Cursor { at: 99, top: 70 });
        let up = c.moved(Move::Up(15), 100, 10);
        assert_eq!(up, Cursor { at: 84, top: 84 });
        assert_eq!(up.moved(Move::First, 100, 10), Cursor { at: 0, top: 0 });
        assert_eq!(Cursor::default().fitted(0, 10), Cursor { at: 0, top: 0 });
        assert_eq!(movement(KeyCode::PageDown, 0), Some(Move::Down(1)));
        assert_eq!(movement(KeyCode::Char('x'), 10), None);
    }
}
