//! Ctrl-C, SIGTERM and SIGHUP: the first asks the capture to stop cleanly
//! (drain the probes, flush and close the session, exit 0); a second ends
//! the process at once with 128 + the signal, saying where the capture
//! stays, and the kernel still detaches every probe.
//!
//! SIGHUP is what an ssh session that drops sends; by its default action
//! it killed dflow with the session unconverted and its last second lost.
//! The terminal it came from is gone by then: see
//! `tui::terminal::forget_hung_up`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// What a second signal prints: set once the capture has a session file.
static STOPPED_NOTE: OnceLock<Box<[u8]>> = OnceLock::new();

const STOPPED: &[u8] = b"\ndflow: stopped at once (second signal)\n";

/// Whether a stop was requested.
#[derive(Debug, Clone)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    pub fn install() -> std::io::Result<Shutdown> {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            // Registered first, so it runs when the flag is already set.
            let set = Arc::clone(&flag);
            // SAFETY: the action only loads an atomic, reads a OnceLock
            // that is never written again once set, and calls write(2) and
            // _exit(2), all async-signal-safe.
            unsafe {
                signal_hook::low_level::register(sig, move || {
                    if set.load(Ordering::SeqCst) {
                        stop_now(sig);
                    }
                })?;
            }
            signal_hook::flag::register(sig, Arc::clone(&flag))?;
        }
        Ok(Shutdown(flag))
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Tells a second signal where the capture stays: the session at `path`,
/// as a log until something opens it.
pub fn note_session(path: &Path) {
    let note = format!(
        "\ndflow: stopped at once (second signal); the capture stays in {} as a log, converted when `dflow replay` or `dflow query` first opens it\n",
        path.display()
    );
    let _ = STOPPED_NOTE.set(note.into_bytes().into_boxed_slice());
}

/// Ends the process from a signal handler: the note, then exit code 128 +
/// `sig`, as a shell reports a process killed by it.
fn stop_now(sig: i32) -> ! {
    let note: &[u8] = STOPPED_NOTE.get().map_or(STOPPED, |n| n);
    // SAFETY: write(2) from a valid buffer of its length; _exit(2) ends
    // the process without running anything else.
    unsafe {
        let _ = libc::write(2, note.as_ptr().cast(), note.len());
        libc::_exit(128 + sig)
    }
}
