//! Running `dflow trace` from a test: started, waited on until its probes
//! are attached, stopped with Ctrl-C, and its JSON lines and summary read.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub struct Tracer {
    child: Option<Child>,
    /// stdout, read all along so dflow never blocks on a full pipe.
    stdout: Option<std::thread::JoinHandle<String>>,
    /// stderr lines after the "tracing" one.
    stderr: mpsc::Receiver<String>,
    /// Lines [`Tracer::wait_stderr`] took from `stderr` already.
    seen: Vec<String>,
}

/// What a finished `dflow trace --json` printed.
#[derive(Debug)]
pub struct Traced {
    pub spans: Vec<Value>,
    /// The summary object (`{"summary": {...}}`) from stderr.
    pub summary: Value,
    pub status: std::process::ExitStatus,
    pub stderr: String,
}

impl Tracer {
    /// Starts `dflow trace --json ARGS` and returns once it is tracing.
    pub fn start(args: &[&str]) -> Tracer {
        let mut child = Command::new(super::dflow_bin())
            .arg("trace")
            .arg("--json")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dflow trace");
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            out.read_to_string(&mut text).unwrap();
            text
        });
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.starts_with("dflow: tracing") => break,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    let out = child.wait_with_output().unwrap();
                    panic!("dflow trace did not start: {out:?}");
                }
            }
        }
        Tracer {
            child: Some(child),
            stdout: Some(stdout),
            stderr: rx,
            seen: Vec::new(),
        }
    }

    /// Waits up to `timeout` for a line on stderr containing `needle`,
    /// while dflow runs; the lines read on the way are kept for [`Traced`].
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.stderr.recv_timeout(left).ok()?;
            self.seen.push(line.clone());
            if line.contains(needle) {
                return Some(line);
            }
        }
    }

    /// Ctrl-C, then everything it printed.
    pub fn stop(self) -> Traced {
        // Let the last calls' events drain and their spans linger out.
        std::thread::sleep(Duration::from_millis(300));
        self.signal(&[libc::SIGINT])
    }

    /// Sends `signals` one after another at once, then everything it
    /// printed.
    pub fn signal(mut self, signals: &[i32]) -> Traced {
        let mut child = self.child.take().expect("stopped once");
        for &sig in signals {
            // SAFETY: kill(2) with a pid of our own child and a valid signal.
            assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        }
        let stdout = self.stdout.take().expect("stopped once").join().unwrap();
        let status = child.wait().unwrap();
        let mut stderr = std::mem::take(&mut self.seen);
        stderr.extend(self.stderr.iter());
        let summary = stderr
            .iter()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
            .unwrap_or(Value::Null);
        let spans = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        Traced {
            spans,
            summary,
            status,
            stderr: stderr.join("\n"),
        }
    }
}

/// A test that panics before `stop` leaves no dflow running.
impl Drop for Tracer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The HTTP/1.1 test server in C (`http_server.c`: a thread per connection,
/// keep-alive; 50 ms a request, 404 on `/missing/...`, 500 on `/fail/...`),
/// which reports its own latency per request, measured at the syscalls.
pub const HTTP_SERVER: &str = include_str!("http_server.c");

/// A free TCP port on loopback (bound and released; good enough for a test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_listening(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on port {port}");
}
