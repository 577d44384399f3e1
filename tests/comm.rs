//! `--comm NAME` selects processes by their name, the name of their main
//! thread (as `ps` and /proc/PID/comm show it), not by the name of the
//! thread that happens to do the work: dig does its I/O in threads named
//! `isc-net-0000`, so `--comm dig` captured nothing while the output named
//! the process `dig`. Needs root (see `common::root_or_skip`).

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};

use common::tracing::Tracer;

/// Names itself `argv[1]` (its main thread, the process's name), then
/// works in a thread named `argv[2]`: an HTTP/1.1 server and `argv[3]`
/// requests to it, one each time a line comes on stdin (the CPU burnt in
/// between, for the profile).
const WORKER: &str = r#"
import ctypes, http.client, sys, threading, time
from http.server import BaseHTTPRequestHandler, HTTPServer

libc = ctypes.CDLL(None)
def name_thread(name):
    libc.prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

name_thread(sys.argv[1])
srv = HTTPServer(("127.0.0.1", 0), H)
calls, burn = int(sys.argv[3]), float(sys.argv[4])

def work():
    name_thread(sys.argv[2])
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("ready", flush=True)
    while sys.stdin.readline():
        c = http.client.HTTPConnection("127.0.0.1", srv.server_address[1])
        for i in range(calls):
            c.request("GET", f"/work/{i}")
            c.getresponse().read()
        c.close()
        end = time.monotonic() + burn
        while time.monotonic() < end:
            pass
        print("done", flush=True)

t = threading.Thread(target=work)
t.start()
t.join()
"#;

struct Worker {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Worker {
    fn start(name: &str, thread: &str, calls: u32, burn_s: f64) -> Worker {
        let mut child = Command::new("python3")
            .args(["-c", WORKER, name, thread])
            .arg(calls.to_string())
            .arg(burn_s.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap();
        assert_eq!(comm.trim(), name, "the process renamed itself");
        Worker { child, lines }
    }

    /// One round of calls (and CPU), waited for.
    fn round(&mut self) {
        writeln!(self.child.stdin.as_mut().unwrap()).unwrap();
        assert_eq!(self.lines.next().unwrap().unwrap(), "done");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn comm_matches_the_process_name_not_the_working_thread() {
    if !common::root_or_skip("comm_matches_the_process_name_not_the_working_thread") {
        return;
    }
    let mut worker = Worker::start("dflow-comm-app", "io-thread-0", 5, 0.0);
    let pid = worker.child.id();
    // The thread's name, which matched before, must no longer select it.
    for (comm, want) in [("dflow-comm-app", 10), ("io-thread-0", 0)] {
        let tracer = Tracer::start(&["--comm", comm, "--no-session"]);
        worker.round();
        let traced = tracer.stop();
        assert!(traced.status.success(), "{}", traced.stderr);
        let ours: Vec<_> = traced
            .spans
            .iter()
            .filter(|s| s["pid"].as_u64() == Some(u64::from(pid)))
            .collect();
        assert_eq!(ours.len(), want, "--comm {comm}: {:#?}", traced.spans);
        // Every span names the process by its name, as --comm does.
        for span in &ours {
            assert_eq!(span["comm"], "dflow-comm-app", "{span}");
        }
    }
}

/// The same for `dflow profile`: CPU burnt in a thread named otherwise is
/// the process's, and `--comm` names the process.
#[test]
fn profile_comm_matches_the_process_name_not_the_burning_thread() {
    if !common::root_or_skip("profile_comm_matches_the_process_name_not_the_burning_thread") {
        return;
    }
    let dir = common::TempDir::new("comm-profile");
    let mut worker = Worker::start("dflow-comm-cpu", "cpu-thread-0", 1, 1.5);
    let pid = worker.child.id();
    for (comm, matched) in [("dflow-comm-cpu", true), ("cpu-thread-0", false)] {
        let folded_path = dir.0.join(format!("{comm}.folded"));
        let dflow = Command::new(common::dflow_bin())
            .args([
                "profile",
                "--no-tui",
                "--no-session",
                "-d",
                "3s",
                "--comm",
                comm,
            ])
            .arg("--folded")
            .arg(&folded_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dflow profile");
        // Sampling starts within the first second; the burn takes 1.5 s.
        std::thread::sleep(std::time::Duration::from_millis(1000));
        worker.round();
        let out = dflow.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let folded = std::fs::read_to_string(&folded_path).unwrap_or_default();
        let ours: u64 = folded
            .lines()
            .filter(|l| l.starts_with(&format!("dflow-comm-cpu-{pid};")))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
            .sum();
        if matched {
            // 1.5 s at the default rate (49 Hz or more) gives dozens.
            assert!(
                ours >= 20,
                "--comm {comm}: {ours} samples\n{folded}\n{stderr}"
            );
        } else {
            assert_eq!(ours, 0, "--comm {comm}:\n{folded}");
        }
    }
}
