//! Progress bars on stderr for slow steps: shown only on a terminal, only
//! without `--quiet`, and only once the step has taken longer than
//! [`SHOW_AFTER`], so quick steps print nothing. A step whose count is
//! complete before its work is (a conversion's statistics and commit after
//! the last record) turns its bar into a spinner that names what it does.

use std::cell::Cell;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A step that takes longer than this gets a bar.
pub const SHOW_AFTER: Duration = Duration::from_millis(500);

/// The bar of `dflow profile`'s symbolization.
pub const SYMBOLIZING: &str = "symbolizing {bar:40} {pos}/{len} stacks {eta}";

/// The bar of a session's conversion into DuckDB at a capture's end.
pub const WRITING_SESSION: &str = "writing the session {bar:40} {bytes}/{total_bytes} {eta}";

/// What the session's conversion does once its log is read.
pub const WRITING_SESSION_END: &str = "writing the session: statistics and commit";

/// A complete bar whose step is still at work: its message and the time.
const FINISHING: &str = "{msg} {spinner} {elapsed}";

pub struct Progress {
    bar: ProgressBar,
    template: &'static str,
    /// Said by the spinner once the count is complete; None: no spinner.
    finishing: Option<&'static str>,
    started: Instant,
    enabled: bool,
    drawn: Cell<bool>,
}

impl Progress {
    /// A bar drawn with the indicatif `template` once it shows.
    pub fn new(quiet: bool, template: &'static str) -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
            template,
            finishing: None,
            started: Instant::now(),
            enabled: !quiet && std::io::stderr().is_terminal(),
            drawn: Cell::new(false),
        }
    }

    /// Once the count is complete, a spinner saying `message` until
    /// [`Progress::done`].
    pub fn finishing(mut self, message: &'static str) -> Progress {
        self.finishing = Some(message);
        self
    }

    pub fn update(&self, done: u64, total: u64) {
        if !self.enabled || self.started.elapsed() < SHOW_AFTER {
            return;
        }
        self.show(ProgressDrawTarget::stderr);
        if let Some(message) = self.finishing
            && done >= total
        {
            if self.bar.message().is_empty() {
                self.bar
                    .set_style(ProgressStyle::with_template(FINISHING).expect("a valid template"));
                self.bar.set_message(message);
                self.bar.enable_steady_tick(Duration::from_millis(100));
            }
            return;
        }
        self.bar.set_length(total);
        self.bar.set_position(done);
    }

    /// Draws the bar on `target` from now on, if it is not drawn yet.
    fn show(&self, target: fn() -> ProgressDrawTarget) {
        if !self.drawn.replace(true) {
            self.bar
                .set_style(ProgressStyle::with_template(self.template).expect("a valid template"));
            self.bar.set_draw_target(target());
        }
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
        for template in [SYMBOLIZING, WRITING_SESSION, FINISHING] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
        // What the check catches: a width that is not a number.
        assert!(ProgressStyle::with_template("{bar:x}").is_err());
    }

    /// A bar that may show now, drawn nowhere.
    fn shown(finishing: Option<&'static str>) -> Progress {
        let progress = Progress {
            bar: ProgressBar::hidden(),
            template: WRITING_SESSION,
            finishing,
            started: Instant::now() - SHOW_AFTER,
            enabled: true,
            drawn: Cell::new(false),
        };
        progress.show(ProgressDrawTarget::hidden);
        progress
    }

    #[test]
    fn a_complete_count_turns_into_the_finishing_spinner() {
        let progress = shown(Some(WRITING_SESSION_END));
        progress.update(10, 100);
        assert_eq!(progress.bar.position(), 10);
        assert_eq!(progress.bar.message(), "");
        progress.update(100, 100);
        assert_eq!(progress.bar.message(), WRITING_SESSION_END);
        // The spinner stays until done, whatever is reported after.
        progress.update(100, 100);
        assert_eq!(progress.bar.message(), WRITING_SESSION_END);
        progress.done();
        assert!(progress.bar.is_finished());

        // Without a finishing message, a complete count is only a full bar.
        let plain = shown(None);
        plain.update(100, 100);
        assert_eq!(
            (plain.bar.position(), plain.bar.message()),
            (100, String::new())
        );
    }
}
