//! Credentials never reach `dflow trace`'s output or its session unless
//! `--no-redact` asks for them: not in a traced process's command line
//! (`processes.cmdline`), not in headers named like secrets. Needs root
//! (see `common::root_or_skip`).

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use common::tracing::Tracer;
use serde_json::Value;

/// Serves one HTTP/1.1 request on loopback and makes it itself, carrying
/// secret headers; prints its port first, then waits for stdin to close.
/// The header values are built at run time: the script itself is on the
/// command line, which is stored, and must not carry them whole.
const SERVICE: &str = r#"
import http.client, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

srv = HTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()
c = http.client.HTTPConnection("127.0.0.1", srv.server_address[1])
c.request("GET", "/x", headers={"X-Api-Key": "k3y" + "-one", "X-Auth-Token": "t0k" + "-two"})
c.getresponse().read()
print("done", flush=True)
sys.stdin.readline()
"#;

/// What a session and the printed spans say of a traced process started
/// with secrets on its command line, with and without --no-redact.
fn traced(no_redact: bool) -> (String, String) {
    let dir = common::TempDir::new("redaction");
    let session = dir.0.join("s.duckdb");
    let mut child = Command::new("python3")
        .args(["-c", SERVICE])
        .args([
            "--db-password=hunter2-a",
            "--api-token",
            "hunter2-b",
            "postgres://app:hunter2-c@db/x",
            "alter role app password 'hunter2-d'",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let pid = child.id().to_string();
    let mut args = vec!["-p", &pid, "--session", session.to_str().unwrap()];
    if no_redact {
        args.push("--no-redact");
    }
    let tracer = Tracer::start(&args);
    let mut stdin = child.stdin.take().unwrap();
    use std::io::Write as _;
    writeln!(stdin).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "done");
    let traced = tracer.stop();
    drop(stdin);
    let _ = child.wait();
    assert!(traced.status.success(), "{}", traced.stderr);
    assert_eq!(traced.spans.len(), 2, "{:#?}", traced.spans);
    let out = common::dflow(&[
        "query",
        "--json",
        session.to_str().unwrap(),
        "SELECT (SELECT string_agg(cmdline, ' ') FROM processes) AS cmdlines, request FROM excerpts_v",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored = String::from_utf8_lossy(&out.stdout).into_owned();
    let printed = Value::Array(traced.spans).to_string();
    (stored, printed)
}

#[test]
fn command_lines_and_secret_headers_are_redacted_unless_asked_not_to() {
    if !common::root_or_skip("command_lines_and_secret_headers_are_redacted_unless_asked_not_to") {
        return;
    }
    let secrets = [
        "hunter2-a",
        "hunter2-b",
        "hunter2-c",
        "hunter2-d",
        "k3y-one",
        "t0k-two",
    ];
    let (stored, printed) = traced(false);
    for secret in secrets {
        assert!(!stored.contains(secret), "{secret} stored: {stored}");
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
    assert!(
        stored.contains("--db-password=[redacted]") && stored.contains("X-Api-Key: [redacted]"),
        "{stored}"
    );
    let (stored, _) = traced(true);
    for secret in secrets {
        assert!(
            stored.contains(secret),
            "--no-redact lost {secret}: {stored}"
        );
    }
}
