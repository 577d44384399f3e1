//! The one capture loop. Every capture command (`trace`, `profile`, and
//! `flow` and `topo` as they come) is a [`Capture`]; [`run`] drives it the
//! same way for all of them:
//!
//! 1. until Ctrl-C (or SIGTERM, SIGHUP), the deadline (`-d`), `q` in the
//!    terminal view, or an output that went away: wait for data (or keys),
//!    let the capture take in what arrived and hand out what completed
//!    (printed while the output is there, stored always), say at once when
//!    the session can no longer be written, and once a second check the
//!    targets and refresh the view's status;
//! 2. then, in this order: back to the normal screen, the capture drains
//!    and detaches ([`Capture::finish`]), the session is closed, and the
//!    capture's summary and the session's path are said.
//!
//! What the loop needs from outside (the clock, the stop signals, whether
//! the targets live, the terminal) comes through [`Io`] and [`Screen`], so
//! tests drive it with fakes and no root.

pub mod files;
pub mod profile;
pub mod session;
pub mod trace;

use std::io::{self, Write};
use std::time::{Duration, Instant};

pub use session::{all_targets_gone, close_session, duration_text, open_session, target_text};

pub use crate::store::Closed;
use crate::store::writer::WriteFailure;
pub use crate::tui::widgets::status::CaptureStatus;

/// How often the targets are checked and the view's status refreshed.
pub const STATUS_EVERY: Duration = Duration::from_secs(1);

/// The world around the loop.
pub trait Io {
    fn now(&self) -> Instant;
    /// Ctrl-C, SIGTERM or SIGHUP came.
    fn stop_requested(&self) -> bool;
    /// A note once every target is gone (with only pids as targets), else
    /// None: see [`all_targets_gone`].
    fn targets_gone(&mut self) -> Option<String>;
    /// dflow's own (CPU %, RSS bytes) since the last call.
    fn own_usage(&mut self) -> (f64, u64);
    /// Says a line to the user now (stderr).
    fn say(&mut self, line: &str);
}

/// A terminal view the loop drives, with the state of type `V` it shows.
pub trait Screen<V> {
    /// The view's state, for the capture to update.
    fn view(&mut self) -> &mut V;
    /// Handles keys for up to `timeout`; true when the user quits.
    fn wait_key(&mut self, timeout: Duration) -> io::Result<bool>;
    fn draw(&mut self) -> io::Result<()>;
}

/// One capture command, as [`run`] drives it.
pub trait Capture {
    /// The state of its terminal view.
    type View;

    /// The view's first state, before anything arrived.
    fn view(&self) -> Self::View;
    /// How long the loop may wait before the next [`Capture::absorb`].
    fn tick(&self) -> Duration;
    /// How often the view is drawn (keys redraw it at once besides).
    fn draw_every(&self) -> Duration;
    /// Without a view: waits up to `timeout` for data to arrive.
    fn wait(&mut self, timeout: Duration);
    /// Takes in what arrived and hands out what completed: to `view`,
    /// to `out` while printing (None once the output went away), and to
    /// the session always. An error is the printed output's.
    fn absorb(
        &mut self,
        now: Instant,
        view: Option<&mut Self::View>,
        out: Option<&mut dyn Write>,
    ) -> io::Result<()>;
    /// Why writing the session failed, once it has (a full disk).
    fn write_failure(&self) -> Option<WriteFailure>;
    /// The targets are gone: a capture that should stop taking in data
    /// (a profile keeps what it sampled) does so here. The view stays.
    fn targets_gone(&mut self) {}
    /// Refreshes the view's status bar.
    fn status(&mut self, view: &mut Self::View, status: CaptureStatus);
    /// After the loop, with the view gone: drains what the probes still
    /// hold, detaches them, and takes that in too (printed to `out` while
    /// printing).
    fn finish(&mut self, out: Option<&mut dyn Write>) -> anyhow::Result<()>;
    /// Closes the session (its counters, the log made a DuckDB file).
    fn close_session(&mut self) -> Closed;
    /// Says how the capture went (and writes its files): after the session
    /// is closed, so a failure to convert it comes after the numbers.
    fn summary(&mut self, ended: &Ended, closed: &Closed) -> anyhow::Result<()>;
}

/// Runs a whole capture: [`run`], then back to the normal screen (the
/// view dropped), [`Capture::finish`], [`Capture::close_session`],
/// [`Capture::summary`] and the session's path, in that order. The error
/// returned is the session's, else the view's or the output's, else the
/// summary's.
pub fn capture<C: Capture, S: Screen<C::View>>(
    capture: &mut C,
    mut screen: Option<S>,
    io: &mut impl Io,
    times: (Instant, Option<Instant>),
    quiet: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut ended = run(capture, screen.as_mut(), io, times, out);
    // A SIGHUP comes with a terminal that hung up: what is left to say goes
    // to /dev/null rather than failing.
    crate::tui::terminal::forget_hung_up();
    // Back to the normal screen before the end's progress and summary.
    drop(screen);
    let finished = capture.finish(ended.printing.then_some(&mut *out as &mut dyn Write));
    if let Err(e) = finished {
        // The probes' own error (their counters unreadable): the session
        // still closes with what it has.
        ended.failed = ended.failed.or(Some(e));
    }
    let closed = capture.close_session();
    let summary = capture.summary(&ended, &closed);
    if let (Some(path), None, false) = (&closed.path, &closed.error, quiet) {
        io.say(&format!("dflow: session saved to {}", path.display()));
    }
    match (closed.error, ended.failed) {
        (Some(e), _) | (None, Some(e)) => Err(e),
        (None, None) => summary,
    }
}

/// How the loop ended, for the capture's end.
#[derive(Debug, Default)]
pub struct Ended {
    /// Targets gone, as said (with only pids as targets).
    pub note: Option<String>,
    /// An error of the view or of the printed output, returned after the
    /// capture's end; None when the output only went away (a closed pipe,
    /// a terminal that hung up), which ends a capture as Ctrl-C does.
    pub failed: Option<anyhow::Error>,
    /// Whether the printed output is still there.
    pub printing: bool,
    /// The write failure said during the capture, as said.
    pub write_failed: Option<String>,
}

/// Runs the loop of `capture` until it should stop (see the module docs);
/// the caller then ends the capture. `screen` is the terminal view, None
/// without one; `out` the printed output.
pub fn run<C: Capture, S: Screen<C::View>>(
    capture: &mut C,
    mut screen: Option<&mut S>,
    io: &mut impl Io,
    (started, deadline): (Instant, Option<Instant>),
    out: &mut impl Write,
) -> Ended {
    let mut ended = Ended {
        printing: true,
        ..Ended::default()
    };
    let mut next_status = io.now() + STATUS_EVERY;
    // The view was drawn when it started (`Live::start`).
    let mut next_draw = io.now() + capture.draw_every();
    loop {
        if io.stop_requested() || deadline.is_some_and(|d| io.now() >= d) {
            break;
        }
        let tick = capture.tick();
        if let Some(screen) = screen.as_deref_mut() {
            match screen.wait_key(tick) {
                Ok(false) => {}
                Ok(true) => break,
                Err(e) => {
                    ended.failed = output_stopped(e.into());
                    break;
                }
            }
        } else {
            capture.wait(tick);
        }
        let now = io.now();
        let view = screen.as_deref_mut().map(|s| s.view());
        let printing = ended.printing.then_some(&mut *out as &mut dyn Write);
        if let Err(e) = capture.absorb(now, view, printing) {
            ended.printing = false;
            ended.failed = output_stopped(e.into());
            break;
        }
        if ended.write_failed.is_none()
            && let Some(failure) = capture.write_failure()
        {
            let text = write_failure_note(&failure);
            // The view's status bar says it at its next refresh.
            if screen.is_none() {
                io.say(&format!("dflow: {text}"));
            }
            ended.write_failed = Some(text);
        }
        if now >= next_status {
            next_status += STATUS_EVERY;
            if ended.note.is_none()
                && let Some(gone) = io.targets_gone()
            {
                ended.note = Some(gone);
                // Without a view the capture ends; with one, what was
                // captured stays up until q.
                if screen.is_none() {
                    break;
                }
                capture.targets_gone();
            }
            if let Some(screen) = screen.as_deref_mut() {
                let (self_cpu_pct, self_rss_bytes) = io.own_usage();
                let gone = ended.note.as_ref().map(|n| format!("{n}; q quits"));
                let notes: Vec<&str> = ended
                    .write_failed
                    .iter()
                    .map(String::as_str)
                    .chain(gone.as_deref())
                    .collect();
                let status = CaptureStatus {
                    elapsed: now.saturating_duration_since(started),
                    self_cpu_pct,
                    self_rss_bytes,
                    live: true,
                    // A session that cannot be written, targets gone.
                    note: (!notes.is_empty()).then(|| notes.join("; ")),
                    lost: 0,
                };
                capture.status(screen.view(), status);
            }
        }
        if let Some(screen) = screen.as_deref_mut()
            && now >= next_draw
        {
            next_draw = now + capture.draw_every();
            if let Err(e) = screen.draw() {
                ended.failed = output_stopped(e.into());
                break;
            }
        }
    }
    ended
}

/// An error from a capture's terminal view or its printed output, which
/// stops the capture's loop but not its clean end (drain, session closed,
/// summary): the error, to be returned after that end; None when it only
/// says that nobody reads any more, a closed pipe (`dflow trace | head`) or
/// a terminal that hung up (the ssh session dropped), which end a capture
/// as Ctrl-C does.
pub fn output_stopped(err: anyhow::Error) -> Option<anyhow::Error> {
    let hung_up = crate::tui::terminal::forget_hung_up();
    (!hung_up && !crate::exit::is_broken_pipe(&err)).then_some(err)
}

/// The line that says at once that the session can no longer be written.
pub fn write_failure_note(failure: &WriteFailure) -> String {
    format!(
        "cannot write the session ({}); the capture goes on, but the session keeps only what came before",
        failure.reason
    )
}

/// The real world: the signals `shutdown` watches, the clock, /proc.
pub struct RealIo<'a> {
    pub shutdown: &'a crate::signal::Shutdown,
    pub capture: &'a crate::config::CaptureConfig,
    pub usage: crate::process::Usage,
}

impl Io for RealIo<'_> {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn stop_requested(&self) -> bool {
        self.shutdown.requested()
    }

    fn targets_gone(&mut self) -> Option<String> {
        all_targets_gone(self.capture)
    }

    fn own_usage(&mut self) -> (f64, u64) {
        self.usage.sample()
    }

    fn say(&mut self, line: &str) {
        crate::say!("{line}");
    }
}

/// The real terminal with a view's state: restores the terminal when
/// dropped.
pub struct Live<V> {
    terminal: crate::tui::terminal::Tui,
    state: V,
}

impl<V: crate::tui::View> Live<V> {
    /// Enters the terminal's full-screen mode and draws `state` once.
    pub fn start(state: V) -> anyhow::Result<Live<V>> {
        use anyhow::Context as _;
        let terminal =
            crate::tui::terminal::Tui::enter().context("cannot start the terminal view")?;
        let mut live = Live { terminal, state };
        live.draw()?;
        Ok(live)
    }
}

/// A live capture from start to end: the privilege check, Ctrl-C handling,
/// the capture started now (`start` gets that instant), its view on the
/// terminal when `tui`, then [`capture`] with the real terminal, signals,
/// clock and stdout. `command` names the capture in a missing-privilege
/// error.
pub fn live<C>(
    command: &'static str,
    config: &crate::config::CaptureConfig,
    tui: bool,
    quiet: bool,
    start: impl FnOnce(Instant) -> anyhow::Result<C>,
) -> anyhow::Result<()>
where
    C: Capture,
    C::View: crate::tui::View,
{
    use anyhow::Context as _;
    crate::privilege::require_probes(command)?;
    let shutdown = crate::signal::Shutdown::install().context("cannot handle Ctrl-C")?;
    let started = Instant::now();
    let mut running = start(started)?;
    let screen = tui.then(|| Live::start(running.view())).transpose()?;
    let mut io = RealIo {
        shutdown: &shutdown,
        capture: config,
        usage: crate::process::Usage::start(),
    };
    let deadline = config.duration.map(|d| started + d);
    // Buffered, and flushed once per tick: stdout is line-buffered, and a
    // write per event (tens of thousands a second) costs more than the
    // rest of a pipeline.
    let stdout = std::io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    capture(
        &mut running,
        screen,
        &mut io,
        (started, deadline),
        quiet,
        &mut out,
    )
}

/// A stored capture's view, shown until the user quits.
pub fn view_stored<V: crate::tui::View>(state: V) -> anyhow::Result<()> {
    let mut live = Live::start(state)?;
    while !live.wait_key(Duration::from_secs(3600))? {}
    Ok(())
}

impl<V: crate::tui::View> Screen<V> for Live<V> {
    fn view(&mut self) -> &mut V {
        &mut self.state
    }

    fn wait_key(&mut self, timeout: Duration) -> io::Result<bool> {
        crate::tui::pump(&mut self.terminal, &mut self.state, timeout)
    }

    fn draw(&mut self) -> io::Result<()> {
        let state = &self.state;
        self.terminal.draw(|frame| state.render(frame))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use super::*;

    const TICK: Duration = Duration::from_millis(50);

    /// What happened, in order, across the fakes.
    type Log = Rc<RefCell<Vec<String>>>;

    fn log(log: &Log, what: impl Into<String>) {
        log.borrow_mut().push(what.into());
    }

    /// A clock that moves only when the loop waits; signals, targets and
    /// lines said as scripted.
    struct FakeIo {
        t0: Instant,
        now: Rc<Cell<Instant>>,
        /// Ctrl-C comes at this time past t0.
        stop_at: Option<Duration>,
        /// The targets are gone from this time past t0.
        gone_at: Option<Duration>,
        log: Log,
    }

    impl Io for FakeIo {
        fn now(&self) -> Instant {
            self.now.get()
        }

        fn stop_requested(&self) -> bool {
            self.stop_at
                .is_some_and(|at| self.now.get() >= self.t0 + at)
        }

        fn targets_gone(&mut self) -> Option<String> {
            let gone = self
                .gone_at
                .is_some_and(|at| self.now.get() >= self.t0 + at);
            gone.then(|| "process 42 exited".to_owned())
        }

        fn own_usage(&mut self) -> (f64, u64) {
            (1.5, 1 << 20)
        }

        fn say(&mut self, line: &str) {
            log(&self.log, format!("say {line}"));
        }
    }

    /// A capture that takes in one fact per absorb and prints it.
    struct FakeCapture {
        now: Rc<Cell<Instant>>,
        log: Log,
        absorbed: u64,
        /// The printed output fails at this absorb.
        print_fails_at: Option<(u64, io::ErrorKind)>,
        /// Writing the session fails from this absorb on.
        write_fails_at: Option<u64>,
        statuses: Vec<CaptureStatus>,
        gone: u32,
    }

    #[derive(Default)]
    struct FakeView {
        facts: u64,
    }

    impl Capture for FakeCapture {
        type View = FakeView;

        fn view(&self) -> FakeView {
            FakeView::default()
        }
        fn tick(&self) -> Duration {
            TICK
        }

        fn draw_every(&self) -> Duration {
            TICK
        }

        fn wait(&mut self, timeout: Duration) {
            self.now.set(self.now.get() + timeout);
        }

        fn absorb(
            &mut self,
            _: Instant,
            view: Option<&mut FakeView>,
            out: Option<&mut dyn Write>,
        ) -> io::Result<()> {
            self.absorbed += 1;
            if let Some(view) = view {
                view.facts += 1;
            }
            match (out, self.print_fails_at) {
                (Some(_), Some((n, kind))) if n == self.absorbed => Err(kind.into()),
                (Some(out), _) => writeln!(out, "fact {}", self.absorbed),
                (None, _) => Ok(()),
            }
        }

        fn write_failure(&self) -> Option<WriteFailure> {
            self.write_fails_at
                .filter(|&n| self.absorbed >= n)
                .map(|_| WriteFailure {
                    unwritten: 3,
                    reason: "No space left on device".to_owned(),
                })
        }

        fn targets_gone(&mut self) {
            self.gone += 1;
        }

        fn status(&mut self, _: &mut FakeView, status: CaptureStatus) {
            self.statuses.push(status);
        }

        fn finish(&mut self, out: Option<&mut dyn Write>) -> anyhow::Result<()> {
            log(&self.log, format!("finish printing={}", out.is_some()));
            Ok(())
        }

        fn close_session(&mut self) -> Closed {
            log(&self.log, "close session");
            Closed {
                path: Some("/tmp/s.duckdb".into()),
                ..Closed::default()
            }
        }

        fn summary(&mut self, ended: &Ended, _: &Closed) -> anyhow::Result<()> {
            log(&self.log, format!("summary note={:?}", ended.note));
            Ok(())
        }
    }

    /// A terminal whose keys come at scripted times; waiting moves the
    /// clock.
    struct FakeScreen {
        now: Rc<Cell<Instant>>,
        t0: Instant,
        view: FakeView,
        /// `q` is pressed at this time past t0.
        quit_at: Option<Duration>,
        draws: u32,
        log: Log,
    }

    impl Screen<FakeView> for FakeScreen {
        fn view(&mut self) -> &mut FakeView {
            &mut self.view
        }

        fn wait_key(&mut self, timeout: Duration) -> io::Result<bool> {
            let now = self.now.get() + timeout;
            self.now.set(now);
            Ok(self.quit_at.is_some_and(|at| now >= self.t0 + at))
        }

        fn draw(&mut self) -> io::Result<()> {
            self.draws += 1;
            Ok(())
        }
    }

    impl Drop for FakeScreen {
        fn drop(&mut self) {
            log(&self.log, "view closed");
        }
    }

    struct World {
        io: FakeIo,
        capture: FakeCapture,
        t0: Instant,
        log: Log,
    }

    fn world() -> World {
        let t0 = Instant::now();
        let now = Rc::new(Cell::new(t0));
        let log = Log::default();
        World {
            io: FakeIo {
                t0,
                now: Rc::clone(&now),
                stop_at: None,
                gone_at: None,
                log: Rc::clone(&log),
            },
            capture: FakeCapture {
                now,
                log: Rc::clone(&log),
                absorbed: 0,
                print_fails_at: None,
                write_fails_at: None,
                statuses: Vec::new(),
                gone: 0,
            },
            t0,
            log,
        }
    }

    fn screen(w: &World, quit_at: Option<Duration>) -> FakeScreen {
        FakeScreen {
            now: Rc::clone(&w.capture.now),
            t0: w.t0,
            view: FakeView::default(),
            quit_at,
            draws: 0,
            log: Rc::clone(&w.log),
        }
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// [`run`] without a view, until `deadline` (past t0) if any.
    fn headless(w: &mut World, deadline: Option<f64>, out: &mut Vec<u8>) -> Ended {
        let deadline = deadline.map(|d| w.t0 + secs(d));
        run::<_, FakeScreen>(&mut w.capture, None, &mut w.io, (w.t0, deadline), out)
    }

    #[test]
    fn the_deadline_ends_the_loop_after_a_tick_per_absorb() {
        let mut w = world();
        let mut out = Vec::new();
        let ended = headless(&mut w, Some(2.0), &mut out);
        // 2 s of 50 ms ticks, each followed by an absorb.
        assert_eq!(w.capture.absorbed, 40);
        assert_eq!(w.io.now(), w.t0 + secs(2.0));
        assert!(ended.printing && ended.failed.is_none() && ended.note.is_none());
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 40);
    }

    #[test]
    fn ctrl_c_ends_the_loop_at_the_next_tick() {
        let mut w = world();
        w.io.stop_at = Some(secs(0.5));
        let ended = headless(&mut w, None, &mut Vec::new());
        assert_eq!(w.capture.absorbed, 10);
        assert!(ended.failed.is_none());
    }

    /// Without a view the capture ends once the targets are gone (checked
    /// once a second); with one it goes on until q, the note on the status
    /// bar, and the capture told once.
    #[test]
    fn targets_gone_end_the_capture_or_wait_for_q() {
        let mut w = world();
        w.io.gone_at = Some(secs(1.2));
        let ended = headless(&mut w, None, &mut Vec::new());
        assert_eq!(ended.note.as_deref(), Some("process 42 exited"));
        assert_eq!(w.io.now(), w.t0 + secs(2.0), "at the second check");
        assert_eq!(w.capture.gone, 0);

        let mut w = world();
        w.io.gone_at = Some(secs(1.2));
        let mut view = screen(&w, Some(secs(4.0)));
        let ended = run(
            &mut w.capture,
            Some(&mut view),
            &mut w.io,
            (w.t0, None),
            &mut Vec::new(),
        );
        assert_eq!(w.io.now(), w.t0 + secs(4.0), "until q");
        assert_eq!(ended.note.as_deref(), Some("process 42 exited"));
        assert_eq!(w.capture.gone, 1);
        let notes: Vec<Option<&str>> = w
            .capture
            .statuses
            .iter()
            .map(|s| s.note.as_deref())
            .collect();
        assert_eq!(
            notes,
            [
                None,
                Some("process 42 exited; q quits"),
                Some("process 42 exited; q quits")
            ]
        );
    }

    /// The view's status comes once a second with the elapsed time and
    /// dflow's own usage; the view is drawn every tick and fed each absorb.
    #[test]
    fn the_status_ticks_once_a_second() {
        let mut w = world();
        let mut view = screen(&w, None);
        let ended = run(
            &mut w.capture,
            Some(&mut view),
            &mut w.io,
            (w.t0, Some(w.t0 + secs(3.5))),
            &mut Vec::new(),
        );
        assert!(ended.failed.is_none());
        let elapsed: Vec<Duration> = w.capture.statuses.iter().map(|s| s.elapsed).collect();
        assert_eq!(elapsed, [secs(1.0), secs(2.0), secs(3.0)]);
        assert_eq!(w.capture.statuses[0].self_rss_bytes, 1 << 20);
        assert_eq!(view.view.facts, 70);
        assert_eq!(view.draws, 70);
    }

    /// A closed pipe stops the printing and the loop, and is no error; any
    /// other output error is, after the end.
    #[test]
    fn an_output_that_goes_away_ends_the_loop_quietly() {
        let mut w = world();
        w.capture.print_fails_at = Some((3, io::ErrorKind::BrokenPipe));
        let ended = headless(&mut w, None, &mut Vec::new());
        assert!(!ended.printing);
        assert!(ended.failed.is_none());
        assert_eq!(w.capture.absorbed, 3);

        let mut w = world();
        w.capture.print_fails_at = Some((2, io::ErrorKind::PermissionDenied));
        let ended = headless(&mut w, None, &mut Vec::new());
        assert!(ended.failed.is_some());
    }

    /// A session that cannot be written is said once, at once, and the
    /// capture goes on.
    #[test]
    fn a_write_failure_is_said_once_and_the_capture_goes_on() {
        let mut w = world();
        w.capture.write_fails_at = Some(5);
        let ended = headless(&mut w, Some(1.0), &mut Vec::new());
        assert_eq!(w.capture.absorbed, 20);
        assert_eq!(
            *w.log.borrow(),
            [
                "say dflow: cannot write the session (No space left on device); the capture goes on, but the session keeps only what came before"
            ]
        );
        assert!(ended.write_failed.is_some());
    }

    /// The end, in order: the view closes, the probes drain and detach,
    /// the session closes, the summary, then the session's path.
    #[test]
    fn the_end_comes_in_order() {
        let mut w = world();
        let view = screen(&w, Some(secs(0.2)));
        let result = capture(
            &mut w.capture,
            Some(view),
            &mut w.io,
            (w.t0, None),
            false,
            &mut Vec::new(),
        );
        assert!(result.is_ok());
        assert_eq!(
            *w.log.borrow(),
            [
                "view closed",
                "finish printing=true",
                "close session",
                "summary note=None",
                "say dflow: session saved to /tmp/s.duckdb",
            ]
        );
        // A closed pipe: the end still comes, without printing.
        let mut w = world();
        w.capture.print_fails_at = Some((1, io::ErrorKind::BrokenPipe));
        let result = capture::<_, FakeScreen>(
            &mut w.capture,
            None,
            &mut w.io,
            (w.t0, None),
            true,
            &mut Vec::new(),
        );
        assert!(result.is_ok());
        assert_eq!(
            *w.log.borrow(),
            [
                "finish printing=false",
                "close session",
                "summary note=None"
            ]
        );
    }
}
