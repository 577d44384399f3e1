//! The real terminal for the full-screen views: raw mode, the alternate
//! screen and a hidden cursor while a view runs, and the user's terminal
//! given back afterwards whatever happens.
//!
//! [`TerminalGuard`] restores on drop, and a panic hook (installed once,
//! chained to the previous one) restores before the panic message is
//! printed, so a crash neither leaves the shell in raw mode nor hides its
//! message on the alternate screen. The views themselves never see this
//! module: they render into any ratatui backend (see `super::flame`).

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Stdout, Write};
use std::ops::{Deref, DerefMut};
use std::os::fd::AsFd;
use std::sync::{Mutex, MutexGuard, Once, TryLockError};
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::{cursor, execute, terminal};

/// Why the terminal could not be set up for a full-screen view.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("the interactive view needs a terminal, and its output is not one")]
    NotATerminal,
    #[error("cannot switch the terminal to raw mode")]
    RawMode(#[source] io::Error),
    #[error("cannot switch to the terminal's alternate screen")]
    Screen(#[source] io::Error),
}

/// The output the active guard restores: a duplicate of the descriptor the
/// view draws on, so the panic hook can write to it without the `Terminal`
/// that owns the writer.
static ACTIVE: Mutex<Option<File>> = Mutex::new(None);
static HOOK: Once = Once::new();

/// The terminal in raw mode on the alternate screen, until dropped.
#[derive(Debug)]
#[must_use = "the terminal is restored when the guard is dropped"]
pub struct TerminalGuard {
    _private: (),
}

impl TerminalGuard {
    /// Enters raw mode, the alternate screen and hides the cursor on `out`
    /// (stdout, or `/dev/tty` when stdout is redirected).
    pub fn enter(out: &impl AsFd) -> Result<TerminalGuard, TerminalError> {
        let fd = out.as_fd();
        if !fd.is_terminal() {
            return Err(TerminalError::NotATerminal);
        }
        let mut restore = File::from(fd.try_clone_to_owned().map_err(TerminalError::Screen)?);
        install_panic_hook();
        terminal::enable_raw_mode().map_err(TerminalError::RawMode)?;
        if let Err(err) = execute!(restore, terminal::EnterAlternateScreen, cursor::Hide) {
            // Half entered: give back what was taken before failing.
            let _ = execute!(restore, terminal::LeaveAlternateScreen, cursor::Show);
            let _ = terminal::disable_raw_mode();
            return Err(TerminalError::Screen(err));
        }
        *lock_active() = Some(restore);
        Ok(TerminalGuard { _private: () })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// A ratatui terminal on stdout or `/dev/tty`, entered for as long as it
/// lives: it derefs to the ratatui `Terminal` to draw.
pub struct Tui<W: Write = Stdout> {
    // Dropped in this order: ratatui's own clean-up writes before the guard
    // leaves the alternate screen.
    terminal: Terminal<CrosstermBackend<W>>,
    _guard: TerminalGuard,
}

impl Tui<Stdout> {
    /// On stdout.
    pub fn enter() -> Result<Tui, TerminalError> {
        let out = io::stdout();
        let guard = TerminalGuard::enter(&out)?;
        Tui::with(out, guard)
    }
}

impl Tui<BufWriter<File>> {
    /// On the controlling terminal, for when stdout is a pipe or a file.
    pub fn tty() -> Result<Tui<BufWriter<File>>, TerminalError> {
        let tty = File::options()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(|_| TerminalError::NotATerminal)?;
        let guard = TerminalGuard::enter(&tty)?;
        Tui::with(BufWriter::new(tty), guard)
    }
}

impl<W: Write> Tui<W> {
    fn with(out: W, guard: TerminalGuard) -> Result<Tui<W>, TerminalError> {
        Ok(Tui {
            terminal: terminal(out).map_err(TerminalError::Screen)?,
            _guard: guard,
        })
    }
}

impl<W: Write> Deref for Tui<W> {
    type Target = Terminal<CrosstermBackend<W>>;

    fn deref(&self) -> &Self::Target {
        &self.terminal
    }
}

impl<W: Write> DerefMut for Tui<W> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.terminal
    }
}

/// A ratatui terminal drawing on `out`. Pass a buffered writer for a file
/// such as `/dev/tty`: ratatui writes a frame in many small pieces.
pub fn terminal<W: Write>(out: W) -> io::Result<Terminal<CrosstermBackend<W>>> {
    Terminal::new(CrosstermBackend::new(out))
}

/// Gives the terminal back: main screen, cursor shown, cooked mode. Does
/// nothing when no guard is active, so calling it twice is harmless.
pub fn restore() {
    let active = lock_active().take();
    restore_from(active);
}

fn restore_from(active: Option<File>) {
    if let Some(mut out) = active {
        // Errors are ignored: this runs while leaving, and possibly while
        // panicking, when nothing better can be done about them.
        let _ = execute!(out, terminal::LeaveAlternateScreen, cursor::Show);
        let _ = terminal::disable_raw_mode();
    }
}

/// Points each standard descriptor whose terminal hung up at /dev/null;
/// true when one had. A terminal hangs up when the ssh session or the
/// window that ran dflow goes away: from then on the kernel fails every
/// read and write on it with EIO, and ratatui's clean-up and anything that
/// prints with `eprintln!` would panic on that before the capture's session
/// is closed. Nobody is left to read what goes to /dev/null.
pub fn forget_hung_up() -> bool {
    let mut any = false;
    for fd in 0..=2 {
        let mut termios = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr writes one termios to a valid pointer.
        if unsafe { libc::tcgetattr(fd, termios.as_mut_ptr()) } == 0 {
            continue;
        }
        // Only a hung-up terminal says EIO (anything else says ENOTTY).
        if io::Error::last_os_error().raw_os_error() != Some(libc::EIO) {
            continue;
        }
        // SAFETY: open of a NUL-terminated path; dup2 and close of
        // descriptors this process owns.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
            if null < 0 {
                continue;
            }
            libc::dup2(null, fd);
            libc::close(null);
        }
        any = true;
    }
    if any {
        // The guard's copy of the terminal has nothing left to restore.
        lock_active().take();
    }
    any
}

/// Waits up to `timeout` for input on the terminal the views read keys
/// from (stdin when it is one, else /dev/tty, as crossterm picks): true
/// when there is some; an error when the terminal hung up. A signal
/// (Ctrl-C's SIGINT, SIGHUP) ends the wait early with false.
///
/// Asked before crossterm reads: on a terminal that hung up (an ssh session
/// that dropped), crossterm 0.29's event reader loops forever on the
/// zero-byte reads it gets, so the capture never reached its end. The
/// window between this check and crossterm's read remains, a few
/// microseconds against the whole time spent waiting here.
pub fn input_ready(timeout: Duration) -> io::Result<bool> {
    use std::os::fd::AsRawFd as _;
    static DEV_TTY: std::sync::OnceLock<Option<File>> = std::sync::OnceLock::new();
    let fd = if io::stdin().is_terminal() {
        0
    } else {
        match DEV_TTY.get_or_init(|| File::open("/dev/tty").ok()) {
            Some(tty) => tty.as_raw_fd(),
            None => return Err(io::Error::from_raw_os_error(libc::ENXIO)),
        }
    };
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: poll on one pollfd that lives through the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        return Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the terminal hung up",
        ));
    }
    Ok(n > 0)
}

fn lock_active() -> MutexGuard<'static, Option<File>> {
    // A panic while the lock was held left nothing half-written in it.
    ACTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // `try_lock`: the panic may come from a thread holding the lock,
            // and waiting for it here would hang instead of crashing.
            let active = match ACTIVE.try_lock() {
                Ok(mut active) => active.take(),
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner().take(),
                Err(TryLockError::WouldBlock) => None,
            };
            restore_from(active);
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_output_that_is_not_a_terminal() {
        let null = File::open("/dev/null").expect("/dev/null");
        assert!(matches!(
            TerminalGuard::enter(&null),
            Err(TerminalError::NotATerminal)
        ));
        // Nothing was entered, so there is nothing to give back.
        assert!(lock_active().is_none());
    }
}
