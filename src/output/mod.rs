//! Everything dflow prints to stdout goes through here: text tables, JSON,
//! and (with later issues) flame graphs and exports. Errors are printed once,
//! by `main`.

pub mod doctor;
pub mod events;
pub mod progress;
pub mod schema;
pub mod sessions;
pub mod table;

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

/// Styles for text output; all plain when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    pub ok: Style,
    pub warn: Style,
    pub bad: Style,
    pub heading: Style,
    pub dim: Style,
}

impl Palette {
    pub fn new(color: bool) -> Palette {
        if !color {
            let plain = Style::new();
            return Palette {
                ok: plain,
                warn: plain,
                bad: plain,
                heading: plain,
                dim: plain,
            };
        }
        Palette {
            ok: AnsiColor::Green.on_default(),
            warn: AnsiColor::Yellow.on_default(),
            bad: AnsiColor::Red.on_default().bold(),
            heading: Style::new().bold(),
            dim: Style::new().dimmed(),
        }
    }
}

/// Writes `text` in `style` (a no-op style writes the text alone).
pub fn paint(out: &mut impl Write, style: Style, text: &str) -> io::Result<()> {
    write!(out, "{style}{text}{style:#}")
}

/// Prints a value as one pretty JSON document and a newline.
pub fn json(out: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}
