//! How a capture ends when its surroundings fail: the disk under its
//! session fills, the ssh session (the terminal) that ran it hangs up, the
//! pipe it prints to closes. Each time the capture must lose nothing it
//! already has: its session is finished, and what it lacks is said.
//! Needs root (see `common::root_or_skip`).

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tracing::Tracer;
use serde_json::Value;

/// Held by each test: all trace this process (`-p`), so one test's calls
/// must not show up in another's capture.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `n` HTTP/1.1 requests on one keep-alive connection, both ends in this
/// process (so `-p <this pid>` sees a client and a server span of each).
fn http_calls(n: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut conn = conn;
        for _ in 0..n {
            let mut line = String::new();
            // The request line and headers, up to the blank line.
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap() == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
            }
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
        }
    });
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut reply = [0u8; 40];
    for i in 0..n {
        // One write: a request in pieces would wait on delayed ACKs (Nagle).
        let request = format!("GET /item/{i} HTTP/1.1\r\nHost: t\r\n\r\n");
        conn.write_all(request.as_bytes()).unwrap();
        conn.read_exact(&mut reply).unwrap();
    }
    drop(conn);
    server.join().unwrap();
}

/// Whether `path` is a DuckDB file (converted), not a capture log.
fn is_duckdb(path: &Path) -> bool {
    let head = std::fs::read(path).unwrap_or_default();
    head.get(8..12) == Some(b"DUCK".as_slice())
}

fn count_spans(path: &Path) -> u64 {
    let out = common::dflow(&[
        "query",
        "--json",
        path.to_str().unwrap(),
        "SELECT count(*) AS n FROM spans",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    rows[0]["n"].as_u64().unwrap()
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk(common::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = common::TempDir::new("small-disk");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir.0)
            .status()
            .expect("run mount");
        assert!(status.success(), "cannot mount a tmpfs");
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0.0).status();
    }
}

/// The session's disk fills during the capture: dflow says so at once, the
/// capture goes on printing calls, and at the end it says how many the
/// session lacks, exactly. Before, it said nothing and the log silently held
/// 6,748 of 15,463 spans.
#[test]
fn a_full_disk_is_reported_at_once_and_what_the_session_lacks_is_counted() {
    if !common::root_or_skip(
        "a_full_disk_is_reported_at_once_and_what_the_session_lacks_is_counted",
    ) {
        return;
    }
    let _serial = one_at_a_time();
    let disk = SmallDisk::mount("192k");
    let path = disk.0.0.join("s.duckdb");
    let me = std::process::id().to_string();
    let mut tracer = Tracer::start(&["-p", &me, "--session", path.to_str().unwrap()]);
    let started = Instant::now();
    let mut failed_at = None;
    // Calls until the disk is full (the log is written once a second), and
    // then for two seconds more, over several of those writes.
    let mut rounds = 0;
    while failed_at.is_none_or(|t: Instant| t.elapsed() < Duration::from_secs(2)) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no word of the full disk after {rounds} rounds in {:?}",
            started.elapsed()
        );
        http_calls(100);
        rounds += 1;
        if failed_at.is_none()
            && tracer
                .wait_stderr("cannot write the session", Duration::from_millis(20))
                .is_some()
        {
            failed_at = Some(Instant::now());
        }
    }
    let failed_after = failed_at.map(|t| t.duration_since(started));
    let traced = tracer.stop();
    let summary = &traced.summary["summary"];
    let printed = summary["printed"].as_u64().unwrap();
    let unwritten = summary["session_unwritten"].as_u64().unwrap();
    let error = summary["session_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("No space left on device") && error.contains("s.duckdb"),
        "{summary}"
    );
    assert!(
        traced.stderr.contains(&format!(
            "the session lacks {unwritten} calls that could not be written"
        )),
        "{}",
        traced.stderr
    );
    // The capture went on: calls were printed after the disk filled.
    assert_eq!(traced.spans.len() as u64, printed);
    assert!(unwritten > 0, "{failed_after:?} {unwritten} {summary}");
    // Whatever the end could do on a full disk (the conversion needs room
    // for the DuckDB file), the file holds exactly what was written: read
    // where there is room.
    let room = common::TempDir::new("room");
    let copy = room.0.join("copy.duckdb");
    std::fs::copy(&path, &copy).unwrap();
    let stored = count_spans(&copy);
    assert_eq!(
        stored + unwritten,
        printed,
        "stored {stored} + unwritten {unwritten} != printed {printed}"
    );
    if !traced.status.success() {
        assert!(traced.stderr.contains("stays in"), "{}", traced.stderr);
    }
}

/// Opens a pseudo-terminal of 80x24: (master, slave).
fn pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors; the name pointer may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // Neither may leak into dflow: a master it held open would never hang up.
    for fd in [master, slave] {
        // SAFETY: fcntl on a descriptor just opened.
        assert_eq!(
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) },
            0
        );
    }
    // SAFETY: both were just opened and are owned from here.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// The ssh session drops: the terminal that runs `dflow trace`'s live view
/// hangs up (its master closes, the kernel sends SIGHUP). dflow must drain,
/// finish the session and exit 0; by SIGHUP's default action it died with
/// the session left as an unconverted log and its last second lost.
#[test]
fn a_terminal_that_hangs_up_ends_the_capture_with_its_session() {
    if !common::root_or_skip("a_terminal_that_hangs_up_ends_the_capture_with_its_session") {
        return;
    }
    let _serial = one_at_a_time();
    let dir = common::TempDir::new("hangup");
    let path = dir.0.join("s.duckdb");
    let (master, slave) = pty();
    let me = std::process::id().to_string();
    let mut command = Command::new(common::dflow_bin());
    command
        .args(["trace", "-p", &me, "--session", path.to_str().unwrap()])
        .env("TERM", "xterm-256color")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    // SAFETY: only async-signal-safe calls between fork and exec: a new
    // session whose controlling terminal is the pty, as sshd makes it.
    unsafe {
        command.pre_exec(move || {
            // stdin is the pty's slave by now.
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("spawn dflow trace");
    drop((command, slave));
    // Read the screen all along, as a terminal would. The reader owns the
    // only descriptor of the master: the terminal hangs up when it closes
    // it, told to by `hang_up` (a second descriptor left open would keep
    // the terminal up).
    let hang_up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = std::thread::spawn({
        let hang_up = std::sync::Arc::clone(&hang_up);
        move || {
            let mut screen = std::fs::File::from(master);
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !hang_up.load(std::sync::atomic::Ordering::Relaxed) {
                let mut fds = libc::pollfd {
                    fd: std::os::fd::AsRawFd::as_raw_fd(&screen),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: poll on one valid descriptor.
                if unsafe { libc::poll(&mut fds, 1, 50) } <= 0 {
                    continue;
                }
                match screen.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            seen
        }
    });
    // The session file appears once the probes are attached.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < deadline, "dflow trace did not start");
        assert!(child.try_wait().unwrap().is_none(), "dflow trace exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    http_calls(50);
    // Within the last second before the hang-up: lost before.
    std::thread::sleep(Duration::from_millis(300));
    hang_up.store(true, std::sync::atomic::Ordering::Relaxed);
    let screen = reader.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dflow kept running after its terminal hung up");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        (status.code(), status.signal()),
        (Some(0), None),
        "{status:?}; the screen: {}",
        String::from_utf8_lossy(&screen)
    );
    assert!(is_duckdb(&path), "the session was left unconverted");
    assert_eq!(
        count_spans(&path),
        100,
        "50 calls, each seen from both ends"
    );
    let out = common::dflow(&[
        "query",
        "--json",
        path.to_str().unwrap(),
        "SELECT ended_ns FROM session",
    ]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rows[0]["ended_ns"].is_number(), "{rows}");
}

/// `dflow trace --json | head -c 100`: once the pipe closes, dflow stops
/// printing and ends the capture as on Ctrl-C, its session finished and its
/// summary said. Before, it exited 0 at once, the session left as a log and
/// no summary.
#[test]
fn a_closed_pipe_ends_the_capture_with_its_session_and_summary() {
    if !common::root_or_skip("a_closed_pipe_ends_the_capture_with_its_session_and_summary") {
        return;
    }
    let _serial = one_at_a_time();
    let dir = common::TempDir::new("closed-pipe");
    let path = dir.0.join("s.duckdb");
    let me = std::process::id().to_string();
    let mut child = Command::new(common::dflow_bin())
        .args(["trace", "--json", "-p", &me, "--session"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        BufReader::new(stderr).read_to_string(&mut text).unwrap();
        text
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < deadline, "dflow trace did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    http_calls(20);
    // `head -c 100`: the first 100 bytes, then the pipe closes.
    let mut head = [0u8; 100];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    // More calls to print, into the closed pipe.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dflow kept running after its pipe closed");
        }
        http_calls(5);
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = stderr.join().unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    let summary: Value = stderr
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no summary: {stderr}"));
    assert!(
        is_duckdb(&path),
        "the session was left unconverted: {stderr}"
    );
    let printed = summary["summary"]["printed"].as_u64().unwrap();
    assert!(printed >= 40, "{summary}");
    assert_eq!(count_spans(&path), printed, "{summary}");
}
