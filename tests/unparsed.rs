//! Traffic dflow cannot parse is named at the end of a capture, so that
//! "0 calls" does not read as "no traffic": HTTPS (TLS) and plain-text
//! HTTP/2 between a real client and server, counted by kind, port and
//! process. Needs root (see `common::root_or_skip`).

mod common;

use std::io::{BufRead as _, BufReader, Lines, Write as _};
use std::process::{Child, ChildStdout, Command, Stdio};

use common::tracing::Tracer;

/// An HTTPS server and client in one process (a certificate made with the
/// openssl command), plus an h2c client that sends HTTP/2's preface to a
/// plain listener; prints the two ports, then does its calls once a line
/// comes on stdin.
const SERVICE: &str = r#"
import http.client, socket, ssl, subprocess, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer

d = sys.argv[1]
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=localhost", "-keyout", d + "/k.pem", "-out", d + "/c.pem"],
               check=True, capture_output=True)

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

# Servers listen below the ephemeral range, as real ones do: a connection
# between two ephemeral ports cannot tell its server's port from its client's.
def low_port(bind):
    import os
    for port in range(20000 + os.getpid() % 8000, 32000):
        try:
            return bind(port)
        except OSError:
            pass

srv = low_port(lambda p: HTTPServer(("127.0.0.1", p), H))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(d + "/c.pem", d + "/k.pem")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()

h2 = socket.socket()
low_port(lambda p: h2.bind(("127.0.0.1", p)))
h2.listen()
def h2_server():
    while True:
        c, _ = h2.accept()
        c.recv(4096)
        c.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # an empty SETTINGS frame
        c.close()
threading.Thread(target=h2_server, daemon=True).start()
print(srv.server_address[1], h2.getsockname()[1], flush=True)

sys.stdin.readline()
client = ssl.create_default_context()
client.check_hostname = False
client.verify_mode = ssl.CERT_NONE
for _ in range(2):
    c = http.client.HTTPSConnection("127.0.0.1", srv.server_address[1], context=client)
    for i in range(3):
        c.request("GET", f"/secret/{i}")
        c.getresponse().read()
    c.close()
s = socket.create_connection(("127.0.0.1", h2.getsockname()[1]))
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
s.recv(4096)
s.close()
print("done", flush=True)
sys.stdin.readline()
"#;

/// [`SERVICE`] started with its files in `dir`: the child, its stdout's
/// lines after the first, and the (TLS, h2c) ports that line named.
fn service(dir: &common::TempDir) -> (Child, Lines<BufReader<ChildStdout>>, (u64, u64)) {
    let mut child = Command::new("python3")
        .args(["-c", SERVICE])
        .arg(&dir.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ports = lines.next().unwrap().unwrap();
    let (tls, h2) = ports.split_once(' ').unwrap();
    (child, lines, (tls.parse().unwrap(), h2.parse().unwrap()))
}

#[test]
fn tls_and_h2c_connections_are_named_at_the_end() {
    if !common::root_or_skip("tls_and_h2c_connections_are_named_at_the_end") {
        return;
    }
    let dir = common::TempDir::new("unparsed");
    let (mut child, mut lines, (tls_port, h2_port)) = service(&dir);
    let pid = child.id().to_string();
    let tracer = Tracer::start(&["-p", &pid, "--no-session"]);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "done");
    let traced = tracer.stop();
    drop(stdin);
    let _ = child.wait();
    assert!(traced.status.success(), "{}", traced.stderr);
    // Nothing of it is a call dflow could read.
    assert!(traced.spans.is_empty(), "{:#?}", traced.spans);
    let unparsed = &traced.summary["summary"]["unparsed"];
    // Two HTTPS connections, each seen from the client and the server; the
    // h2c one from both ends too.
    assert_eq!(unparsed["tls"], 4, "{unparsed}");
    assert_eq!(unparsed["http2"], 2, "{unparsed}");
    assert_eq!(unparsed["connections"], 6, "{unparsed}");
    let top = unparsed["top"].as_array().unwrap();
    assert_eq!(top[0]["kind"], "tls", "{unparsed}");
    assert_eq!(top[0]["port"], tls_port, "{unparsed}");
    assert_eq!(top[0]["connections"], 4, "{unparsed}");
    assert!(
        top.iter()
            .any(|r| r["kind"] == "http2" && r["port"] == h2_port),
        "{unparsed}"
    );
}

/// The same capture without --json says it in words.
#[test]
fn the_text_summary_says_what_was_not_parsed() {
    if !common::root_or_skip("the_text_summary_says_what_was_not_parsed") {
        return;
    }
    let dir = common::TempDir::new("unparsed-text");
    let (mut child, mut lines, (tls_port, _)) = service(&dir);
    let pid = child.id().to_string();
    let mut dflow = Command::new(common::dflow_bin())
        .args(["trace", "--no-tui", "--no-session", "-p", &pid])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dflow trace");
    let mut err = BufReader::new(dflow.stderr.take().unwrap()).lines();
    loop {
        let line = err.next().expect("dflow said it traces").unwrap();
        if line.starts_with("dflow: tracing") {
            break;
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "done");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: kill(2) of our own child with a valid signal.
    assert_eq!(unsafe { libc::kill(dflow.id() as i32, libc::SIGINT) }, 0);
    let rest: Vec<String> = err.map_while(Result::ok).collect();
    assert!(dflow.wait().unwrap().success(), "{rest:?}");
    drop(stdin);
    let _ = child.wait();
    let line = rest
        .iter()
        .find(|l| l.contains("not parsed"))
        .unwrap_or_else(|| panic!("no word of the unparsed connections: {rest:?}"));
    assert!(
        line.starts_with("dflow: 6 connections not parsed (TLS 4, HTTP/2 2): ")
            && line.contains(&format!("TLS on port {tls_port} by python3 (4)"))
            && line.ends_with("dflow does not decrypt TLS or decode HTTP/2 yet"),
        "{line}"
    );
}
