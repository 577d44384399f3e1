//! Progress bars on stderr for slow steps: shown only on a terminal, only
//! without `--quiet`, and only once the step has taken longer than
//! [`SHOW_AFTER`], so quick steps print nothing.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A step that takes longer than this gets a bar.
pub const SHOW_AFTER: Duration = Duration::from_millis(500);

/// The bar of `dflow profile`'s symbolization.
pub const SYMBOLIZING: &str = "symbolizing {bar:40} {pos}/{len} stacks {eta}";

/// The bar of a session's conversion into DuckDB at a capture's end.
pub const WRITING_SESSION: &str = "writing the session {bar:40} {bytes}/{total_bytes} {eta}";

pub struct Progress {
    bar: ProgressBar,
    template: &'static str,
    started: Instant,
    enabled: bool,
}

impl Progress {
    /// A bar drawn with the indicatif `template` once it shows.
    pub fn new(quiet: bool, template: &'static str) -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
            template,
            started: Instant::now(),
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    pub fn update(&self, done: u64, total: u64) {
        if !self.enabled || self.started.elapsed() < SHOW_AFTER {
            return;
        }
        if self.bar.is_hidden() {
            self.bar
                .set_style(ProgressStyle::with_template(self.template).expect("a valid template"));
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        self.bar.set_length(total);
        self.bar.set_position(done);
    }

    pub fn done(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bad template would panic only when a slow step first shows its
    /// bar, at the end of a long capture.
    #[test]
    fn the_templates_parse() {
        for template in [SYMBOLIZING, WRITING_SESSION] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
        // What the check catches: a width that is not a number.
        assert!(ProgressStyle::with_template("{bar:x}").is_err());
    }
}
