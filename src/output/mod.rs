//! Everything dflow prints to stdout goes through here: text tables, JSON,
//! and (with later issues) flame graphs and exports. Errors are printed once,
//! by `main`.

pub mod doctor;
pub mod events;
pub mod file;
pub mod progress;
pub mod schema;
pub mod sessions;
pub mod summary;
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

/// A line on stderr that cannot panic. `eprintln!` panics when stderr is
/// gone (a closed pipe, or the terminal of an ssh session that dropped),
/// and the end of a capture must still close its session then.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::say_line(format_args!($($arg)*))
    };
}

/// What [`say!`] writes; errors are dropped, as nobody is left to read them.
pub fn say_line(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// `1 call`, `2 calls`: a count and its noun, for lines that scripts may
/// read (no digit grouping, unlike the views' `tui::counted`).
pub fn plural(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Prints a value as one pretty JSON document and a newline.
pub fn json(out: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}
