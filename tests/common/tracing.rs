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
        }
    }

    /// Ctrl-C, then everything it printed.
    pub fn stop(mut self) -> Traced {
        let mut child = self.child.take().expect("stopped once");
        // Let the last calls' events drain and their spans linger out.
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill(2) with a pid of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let stdout = self.stdout.take().expect("stopped once").join().unwrap();
        let status = child.wait().unwrap();
        let stderr: Vec<String> = self.stderr.iter().collect();
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

/// An HTTP/1.1 server in C (a thread per connection, keep-alive), so its
/// own measurement sits right at the syscalls: each request sleeps 50 ms;
/// `/missing/...` answers 404, `/fail/...` 500, anything else 200. It
/// prints its port, then per request a JSON line with the client's port,
/// the path, the code, and the ns from the read that completed the request
/// to the write of the response.
pub const HTTP_SERVER: &str = r#"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *serve(void *arg) {
    int fd = (int)(long)arg;
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    getpeername(fd, (struct sockaddr *)&peer, &len);
    char buf[8192];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0) break;
        have += n;
        buf[have] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) continue;
        long long t0 = now_ns();
        char path[512] = "";
        sscanf(buf, "%*s %511s", path);
        int code = strncmp(path, "/missing", 8) == 0 ? 404 : strncmp(path, "/fail", 5) == 0 ? 500 : 200;
        struct timespec nap = {0, 50000000};
        nanosleep(&nap, NULL);
        char resp[256];
        int m = snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\nhello", code);
        long long t1 = now_ns();
        if (write(fd, resp, m) != m) break;
        pthread_mutex_lock(&out);
        printf("{\"port\": %d, \"path\": \"%s\", \"code\": %d, \"ns\": %lld}\n", ntohs(peer.sin_port), path, code, t1 - t0);
        fflush(stdout);
        pthread_mutex_unlock(&out);
        size_t used = end + 4 - buf;
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    close(fd);
    return NULL;
}

int main(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof(a));
    listen(s, 128);
    socklen_t len = sizeof(a);
    getsockname(s, (struct sockaddr *)&a, &len);
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        pthread_t t;
        pthread_create(&t, NULL, serve, (void *)(long)c);
        pthread_detach(t);
    }
}
"#;

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
