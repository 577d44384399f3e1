//! `dflow trace` end to end against real databases: a throwaway PostgreSQL
//! cluster and a throwaway MariaDB server, each in its own temporary
//! directory on a free loopback port, and both sides of their connections
//! traced. Each query the test sends must come out exactly once per role
//! with its endpoint, status and code. Real load generators (`pgbench`,
//! `mysqlslap`) check that calls are counted exactly and sized truly at
//! the default snaplen. Needs root (see `common::root_or_skip`) and the apt
//! packages postgresql, mariadb-server and mariadb-client (`.ci/run`
//! installs them): a missing one fails the test.

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;
use common::tracing::{Traced, Tracer};
use serde_json::Value;

/// A credential the tests set inside a traced call: it must never reach
/// the output or the session.
const SECRET: &str = "db-s3cr3t-pw";

/// Where `name` is installed: the PATH, then the sbin directories a root
/// shell has (mariadbd is in /usr/sbin). Fails naming the apt package.
fn program(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: apt-get install {package} (.ci/run installs it)")
        })
}

/// The uid and gid of a system user.
fn user_ids(user: &std::ffi::CStr, package: &str) -> (u32, u32) {
    // SAFETY: getpwnam with a NUL-terminated name; the entry is read at
    // once, before any other getpw* call.
    let entry = unsafe { libc::getpwnam(user.as_ptr()) };
    assert!(
        !entry.is_null(),
        "no user {user:?}: apt-get install {package} creates it"
    );
    // SAFETY: not null, so a valid passwd entry.
    unsafe { ((*entry).pw_uid, (*entry).pw_gid) }
}

/// Waits for `child` to exit after `signal`, then kills it if it has not
/// within 5 s.
fn stop(child: &mut Child, signal: i32) {
    // SAFETY: kill(2) with the pid of our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The spans of `protocol` on connections to `port` (dflow traces by
/// command name, so another test's server of the same kind must not count).
fn spans_on_port<'a>(traced: &'a Traced, protocol: &str, port: u16) -> Vec<&'a Value> {
    let ours = format!(":{port}");
    traced
        .spans
        .iter()
        .filter(|s| s["protocol"] == protocol)
        .filter(|s| {
            [&s["local"], &s["remote"]]
                .iter()
                .any(|a| a.as_str().unwrap().ends_with(&ours))
        })
        .collect()
}

/// The spans of `role`, in the order the calls started.
fn of_role<'a>(spans: &[&'a Value], role: &str) -> Vec<&'a Value> {
    let mut out: Vec<&Value> = spans
        .iter()
        .copied()
        .filter(|s| s["role"] == role)
        .collect();
    out.sort_by_key(|s| s["start_ns"].as_i64());
    out
}

/// Checks the spans of one role against the calls sent, in order:
/// endpoint, status, and code (only errors carry one).
fn check_calls(role: &str, spans: &[&Value], expected: &[(&str, Option<Value>)], all: &[&Value]) {
    let endpoints: Vec<&str> = spans
        .iter()
        .map(|s| s["endpoint"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = expected.iter().map(|(e, _)| *e).collect();
    assert_eq!(endpoints, want, "{role} spans: {all:#?}");
    for (s, (_, code)) in spans.iter().zip(expected) {
        match code {
            Some(code) => {
                assert_eq!(s["status"], "client_error", "{s}");
                assert_eq!(&s["code"], code, "{s}");
            }
            None => {
                assert_eq!(s["status"], "ok", "{s}");
                assert_eq!(s["code"], Value::Null, "{s}");
            }
        }
    }
}

/// The two ends of each call meet by TCP sequence number: every server
/// span's parent is the client span of the same call.
fn check_links(clients: &[&Value], servers: &[&Value]) {
    for (c, s) in clients.iter().zip(servers) {
        assert_eq!(s["parent_span_id"], c["span_id"], "{s} under {c}");
        assert_eq!(s["trace_id"], c["trace_id"], "{s} under {c}");
    }
}

/// Calls on concurrent connections, whose spans start in any order: each
/// server span's parent is a client span, which agrees with it on the
/// endpoint and on the sizes, though each end's syscalls cut the bytes in
/// their own way.
fn check_parents(clients: &[&Value], servers: &[&Value]) {
    assert_eq!(clients.len(), servers.len());
    let by_id: BTreeMap<&str, &Value> = clients
        .iter()
        .map(|c| (c["span_id"].as_str().unwrap(), *c))
        .collect();
    for s in servers {
        let c = by_id
            .get(s["parent_span_id"].as_str().unwrap_or_default())
            .unwrap_or_else(|| panic!("no client span for {s}"));
        for field in ["endpoint", "req_bytes", "resp_bytes"] {
            assert_eq!(s[field], c[field], "{s}\n{c}");
        }
    }
}

/// The credential set in a traced call is neither printed nor stored, and
/// the `n` stored excerpts of that call say it was redacted.
fn check_redacted(traced: &Traced, session: &Path, endpoint: &str, n: usize) {
    let printed = serde_json::to_string(&traced.spans).unwrap() + &traced.stderr;
    assert!(!printed.contains(SECRET), "the output holds the secret");
    let stored = std::fs::read(session).unwrap();
    assert!(
        !stored.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the session file holds the secret"
    );
    let sql = format!(
        "SELECT e.request FROM excerpts_v e JOIN spans_v s USING (span_id) \
         WHERE s.endpoint = '{endpoint}'"
    );
    let out = common::dflow(&["query", "--json", session.to_str().unwrap(), &sql]);
    assert!(out.status.success(), "{out:?}");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), n, "{rows:?}");
    for row in rows {
        let request = row["request"].as_str().unwrap();
        assert!(request.contains("[redacted]"), "{request}");
    }
}

// ---------------------------------------------------------------- PostgreSQL

/// A throwaway PostgreSQL cluster: initdb'd into a temporary directory and
/// run as the postgres user (neither runs as root), trust authentication,
/// listening on a free loopback port; shut down (immediately) on drop.
struct Postgres {
    postmaster: Child,
    port: u16,
    dir: TempDir,
}

impl Postgres {
    /// The binaries of the newest installed version.
    fn bin_dir() -> PathBuf {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
            .collect();
        dirs.sort_by_key(|bin| {
            let version = bin.parent().unwrap().file_name().unwrap().to_string_lossy();
            version.parse::<u32>().unwrap_or(0)
        });
        dirs.pop().unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server in /usr/lib/postgresql/*/bin: \
                 apt-get install postgresql (.ci/run installs it)"
            )
        })
    }

    fn start() -> Postgres {
        let bin = Postgres::bin_dir();
        let (uid, gid) = user_ids(c"postgres", "postgresql");
        let dir = TempDir::new("postgres");
        std::os::unix::fs::chown(&dir.0, Some(uid), Some(gid)).unwrap();
        let data = dir.0.join("data");
        let as_postgres = |program: &str| {
            let mut cmd = Command::new(bin.join(program));
            cmd.uid(uid)
                .gid(gid)
                .current_dir(&dir.0)
                .env("LC_ALL", "C")
                .stdin(Stdio::null());
            cmd
        };
        let init = as_postgres("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"])
            .output()
            .expect("run initdb");
        assert!(init.status.success(), "initdb: {init:?}");
        let port = common::tracing::free_port();
        let log = dir.0.join("postgres.log");
        let postmaster = as_postgres("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&dir.0)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("run postgres");
        let mut pg = Postgres {
            postmaster,
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match PgConn::connect(port) {
                Ok(conn) => {
                    conn.terminate();
                    break;
                }
                Err(e) => {
                    let exited = pg.postmaster.try_wait().unwrap();
                    if exited.is_some() || Instant::now() > deadline {
                        panic!(
                            "postgres did not start ({e}; {exited:?}): {}",
                            std::fs::read_to_string(&log).unwrap_or_default()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        pg
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown; the postmaster ends its children.
        stop(&mut self.postmaster, libc::SIGQUIT);
    }
}

/// A PostgreSQL client speaking the v3 protocol over a raw socket, so the
/// test process is the client and sends exactly what the test says.
struct PgConn {
    stream: TcpStream,
    /// The pid of the backend the postmaster forked for this connection.
    backend: u32,
}

impl PgConn {
    /// Connects as postgres to the database postgres (trust auth) and waits
    /// for the first ReadyForQuery; the error says why not.
    fn connect(port: u16) -> Result<PgConn, String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut conn = PgConn { stream, backend: 0 };
        let mut body = 196_608u32.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0postgres\0database\0postgres\0\0");
        let mut startup = (body.len() as u32 + 4).to_be_bytes().to_vec();
        startup.extend_from_slice(&body);
        conn.stream.write_all(&startup).map_err(|e| e.to_string())?;
        loop {
            let (ty, body) = conn.read().map_err(|e| e.to_string())?;
            match ty {
                b'R' if body[..4] != [0, 0, 0, 0] => return Err("asks for a password".into()),
                b'K' => conn.backend = u32::from_be_bytes(body[..4].try_into().unwrap()),
                b'E' => return Err(format!("error {:?}", sqlstate(&body))),
                b'Z' => return Ok(conn),
                _ => {}
            }
        }
    }

    fn read(&mut self) -> std::io::Result<(u8, Vec<u8>)> {
        let mut head = [0u8; 5];
        self.stream.read_exact(&mut head)?;
        let len = u32::from_be_bytes(head[1..].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len - 4];
        self.stream.read_exact(&mut body)?;
        Ok((head[0], body))
    }

    /// Reads up to ReadyForQuery; the SQLSTATE of an error on the way.
    fn until_ready(&mut self) -> Option<String> {
        let mut error = None;
        loop {
            let (ty, body) = self.read().expect("a message from postgres");
            match ty {
                b'E' => error = sqlstate(&body),
                b'Z' => return error,
                _ => {}
            }
        }
    }

    /// A simple-protocol Query.
    fn query(&mut self, sql: &str) -> Option<String> {
        let out = message(b'Q', &[sql.as_bytes(), b"\0"].concat());
        self.stream.write_all(&out).unwrap();
        self.until_ready()
    }

    /// An extended-protocol call in one write: Parse (when `sql` is given)
    /// of the statement `name`, Bind of `param` to it, Execute, Sync.
    fn extended(&mut self, name: &str, sql: Option<&str>, param: &str) -> Option<String> {
        let mut out = Vec::new();
        if let Some(sql) = sql {
            let body = [name.as_bytes(), b"\0", sql.as_bytes(), b"\0", &[0, 0]].concat();
            out.extend(message(b'P', &body));
        }
        let mut bind = [b"\0", name.as_bytes(), b"\0", &[0, 0, 0, 1]].concat();
        bind.extend_from_slice(&(param.len() as u32).to_be_bytes());
        bind.extend_from_slice(param.as_bytes());
        bind.extend_from_slice(&[0, 0]);
        out.extend(message(b'B', &bind));
        out.extend(message(b'E', b"\0\0\0\0\0"));
        out.extend(message(b'S', b""));
        self.stream.write_all(&out).unwrap();
        self.until_ready()
    }

    fn terminate(mut self) {
        let _ = self.stream.write_all(&message(b'X', b""));
    }
}

/// A typed message: type, length (counting itself), body.
fn message(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![ty];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The `C` (SQLSTATE) field of an ErrorResponse body.
fn sqlstate(body: &[u8]) -> Option<String> {
    body.split(|&b| b == 0)
        .find_map(|field| field.strip_prefix(b"C"))
        .map(|code| String::from_utf8_lossy(code).into_owned())
}

#[test]
fn postgres_queries_are_reported_once_per_side() {
    if !common::root_or_skip("postgres_queries_are_reported_once_per_side") {
        return;
    }
    let pg = Postgres::start();
    let session = pg.dir.0.join("postgres.duckdb");
    let me = std::process::id().to_string();
    // A backend per connection, forked by the postmaster: by command name.
    let tracer = Tracer::start(&[
        "--comm",
        "postgres",
        "-p",
        &me,
        "--session",
        session.to_str().unwrap(),
    ]);
    let mut conn = PgConn::connect(pg.port).expect("connect to postgres");
    let client_addr = conn.stream.local_addr().unwrap().to_string();
    let by_id = "SELECT name FROM users WHERE id = $1";
    let errors = [
        conn.query("CREATE TABLE users (id int PRIMARY KEY, name text)"),
        conn.query("INSERT INTO users (id, name) VALUES (1, 'ada'), (2, 'bob')"),
        conn.query("SELECT id, name FROM users ORDER BY id"),
        conn.query("UPDATE users SET name = 'eve' WHERE id = 2"),
        conn.extended("by_id", Some(by_id), "1"),
        conn.extended("by_id", None, "2"),
        conn.query("DELETE FROM users WHERE id = 1"),
        conn.query("SELECT * FROM missing_table"),
        conn.query(&format!("ALTER USER postgres PASSWORD '{SECRET}'")),
        conn.query("DROP TABLE users"),
    ];
    let backend = conn.backend;
    conn.terminate();
    let traced = tracer.stop();
    assert!(traced.status.success(), "{}", traced.stderr);
    let failed: Vec<_> = errors.iter().flatten().collect();
    assert_eq!(failed, ["42P01"], "only the missing table fails");

    let code = || Some(Value::from("42P01"));
    let expected = [
        ("CREATE TABLE users", None),
        ("INSERT users", None),
        ("SELECT users", None),
        ("UPDATE users", None),
        // Parse/Bind/Execute/Sync, then Bind/Execute/Sync of the statement
        // the first one prepared.
        ("SELECT users", None),
        ("SELECT users", None),
        ("DELETE users", None),
        ("SELECT missing_table", code()),
        ("ALTER USER postgres", None),
        ("DROP TABLE users", None),
    ];
    let spans = spans_on_port(&traced, "postgres", pg.port);
    let clients = of_role(&spans, "client");
    let servers = of_role(&spans, "server");
    check_calls("client", &clients, &expected, &spans);
    check_calls("server", &servers, &expected, &spans);
    let server_addr = format!("127.0.0.1:{}", pg.port);
    for s in &clients {
        assert_eq!(
            s["pid"].as_u64(),
            Some(u64::from(std::process::id())),
            "{s}"
        );
        assert_eq!(s["local"], client_addr, "{s}");
        assert_eq!(s["remote"], server_addr, "{s}");
    }
    for s in &servers {
        assert_eq!(s["pid"].as_u64(), Some(u64::from(backend)), "{s}");
        assert_eq!(s["comm"], "postgres", "{s}");
        assert_eq!(s["local"], server_addr, "{s}");
        assert_eq!(s["remote"], client_addr, "{s}");
    }
    check_links(&clients, &servers);
    check_redacted(&traced, &session, "ALTER USER postgres", 2);
}

/// The statements of pgbench's default (TPC-B-like) script as endpoints,
/// in the order each transaction runs them.
const PGBENCH_SCRIPT: [&str; 7] = [
    "BEGIN",
    "UPDATE pgbench_accounts",
    "SELECT pgbench_accounts",
    "UPDATE pgbench_tellers",
    "UPDATE pgbench_branches",
    "INSERT pgbench_history",
    "END",
];

/// How many spans of each endpoint.
fn count_endpoints(spans: &[&Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for s in spans {
        *counts
            .entry(s["endpoint"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

/// `pgbench -M prepared` prepares each statement once per connection
/// (Parse, Sync), then runs it with Bind/Describe/Execute/Sync: the
/// prepares are reported as `PREPARE ...`, and each statement's executions
/// are exactly the transactions pgbench ran.
#[test]
fn pgbench_prepared_executions_are_counted_exactly() {
    if !common::root_or_skip("pgbench_prepared_executions_are_counted_exactly") {
        return;
    }
    const CLIENTS: usize = 3;
    const TRANSACTIONS: usize = 20;
    let pg = Postgres::start();
    let pgbench = Postgres::bin_dir().join("pgbench");
    let port = pg.port.to_string();
    let connect = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres"];
    let init = Command::new(&pgbench)
        .args(connect)
        .args(["-i", "-s", "1", "postgres"])
        .output()
        .expect("run pgbench -i");
    assert!(init.status.success(), "{init:?}");
    let tracer = Tracer::start(&["--comm", "pgbench", "--comm", "postgres"]);
    let run = Command::new(&pgbench)
        .args(connect)
        .args(["-n", "-M", "prepared"])
        .args(["-c", &CLIENTS.to_string(), "-t", &TRANSACTIONS.to_string()])
        .arg("postgres")
        .output()
        .expect("run pgbench");
    let traced = tracer.stop();
    assert!(traced.status.success(), "{}", traced.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let total = CLIENTS * TRANSACTIONS;
    assert!(
        run.status.success()
            && stdout.contains(&format!(
                "number of transactions actually processed: {total}/{total}"
            )),
        "{run:?}"
    );
    assert_eq!(traced.summary["summary"]["desyncs"], 0, "{}", traced.stderr);

    let spans = spans_on_port(&traced, "postgres", pg.port);
    for role in ["client", "server"] {
        let mine = of_role(&spans, role);
        let counts = count_endpoints(&mine);
        for statement in PGBENCH_SCRIPT {
            assert_eq!(
                counts.get(statement),
                Some(&total),
                "{role} {statement}: {counts:?}"
            );
            let prepare = format!("PREPARE {statement}");
            assert_eq!(
                counts.get(&prepare),
                Some(&CLIENTS),
                "{role} {prepare}: {counts:?}"
            );
        }
        // Besides those, only pgbench's own set-up queries on its first
        // connection (simple Query messages).
        let script = mine
            .iter()
            .filter(|s| {
                let e = s["endpoint"].as_str().unwrap();
                PGBENCH_SCRIPT
                    .iter()
                    .any(|p| e == *p || e == format!("PREPARE {p}"))
            })
            .count();
        assert!(mine.len() - script <= 4, "{role}: {counts:?}");
        for s in &mine {
            assert_eq!(s["status"], "ok", "{s}");
        }
    }
    check_parents(&of_role(&spans, "client"), &of_role(&spans, "server"));
}

// ------------------------------------------------------------------- MariaDB

/// A throwaway MariaDB server: a data directory installed in a temporary
/// directory, a user `dflow` with a password reachable on a free loopback
/// port; killed on drop.
struct Mariadb {
    server: Child,
    port: u16,
    client: PathBuf,
    socket: PathBuf,
    dir: TempDir,
}

/// The password of the user the traced client logs in as.
const MARIADB_PASSWORD: &str = "dflow-login-pw";

impl Mariadb {
    fn start() -> Mariadb {
        let install = program("mariadb-install-db", "mariadb-server");
        let mariadbd = program("mariadbd", "mariadb-server");
        let client = program("mariadb", "mariadb-server");
        let dir = TempDir::new("mariadb");
        let data = dir.0.join("data");
        let socket = dir.0.join("sock");
        let out = Command::new(install)
            .args(["--no-defaults", "--user=root", "--skip-test-db"])
            .arg("--auth-root-authentication-method=normal")
            .arg(format!("--datadir={}", data.display()))
            .output()
            .expect("run mariadb-install-db");
        assert!(out.status.success(), "mariadb-install-db: {out:?}");
        let port = common::tracing::free_port();
        let log = dir.0.join("error.log");
        let server = Command::new(mariadbd)
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1"])
            .args(["--skip-name-resolve", "--innodb-buffer-pool-size=16M"])
            .arg(format!("--port={port}"))
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.0.join("pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run mariadbd");
        let mut db = Mariadb {
            server,
            port,
            client,
            socket,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = db.admin("SELECT 1");
            if out.status.success() {
                break;
            }
            let exited = db.server.try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "mariadbd did not start ({out:?}; {exited:?}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = db.admin(&format!(
            "CREATE USER 'dflow'@'127.0.0.1' IDENTIFIED BY '{MARIADB_PASSWORD}'; \
             GRANT ALL ON *.* TO 'dflow'@'127.0.0.1'"
        ));
        assert!(out.status.success(), "{out:?}");
        db
    }

    /// Runs `sql` as root over the socket (no password, no TCP: never on
    /// the port the tests look at), tab-separated without column names.
    fn admin(&self, sql: &str) -> std::process::Output {
        Command::new(&self.client)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-u", "root", "-N", "-B", "-e", sql])
            .output()
            .expect("run mariadb")
    }

    /// The server's global status counters named `names`.
    fn status(&self, names: &[&str]) -> BTreeMap<String, u64> {
        let list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        let out = self.admin(&format!(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ({})",
            list.join(", ")
        ));
        assert!(out.status.success(), "{out:?}");
        let counters: BTreeMap<String, u64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
            .collect();
        assert_eq!(counters.len(), names.len(), "{out:?}");
        counters
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        // The data directory is thrown away: no need for a clean shutdown.
        stop(&mut self.server, libc::SIGKILL);
    }
}

#[test]
fn mariadb_queries_are_reported_once_per_side() {
    if !common::root_or_skip("mariadb_queries_are_reported_once_per_side") {
        return;
    }
    let db = Mariadb::start();
    let session = db.dir.0.join("mariadb.duckdb");
    let tracer = Tracer::start(&[
        "--comm",
        "mariadb",
        "--comm",
        "mariadbd",
        "--session",
        session.to_str().unwrap(),
    ]);
    // One statement a line, --force past the failing one: the text
    // protocol, COM_QUERY, and COM_INIT_DB for USE.
    let script = format!(
        "CREATE DATABASE shop;\n\
         USE shop;\n\
         CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20));\n\
         INSERT INTO items VALUES (1, 'ada'), (2, 'bob');\n\
         SELECT id, name FROM items ORDER BY id;\n\
         UPDATE items SET name = 'eve' WHERE id = 2;\n\
         DELETE FROM items WHERE id = 1;\n\
         SELECT * FROM missing_table;\n\
         ALTER USER 'dflow'@'127.0.0.1' IDENTIFIED BY '{SECRET}';\n\
         DROP DATABASE shop;\n"
    );
    let mut client = Command::new(&db.client)
        .args(["--no-defaults", "--force", "-h", "127.0.0.1", "-u", "dflow"])
        .arg(format!("--port={}", db.port))
        .arg(format!("--password={MARIADB_PASSWORD}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mariadb");
    let client_pid = client.id();
    client
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = client.wait_with_output().unwrap();
    let traced = tracer.stop();
    assert!(traced.status.success(), "{}", traced.stderr);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR 1146") && !stderr.contains("ERROR 1064"),
        "{out:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "id\tname\n1\tada\n2\tbob\n"
    );

    let code = || Some(Value::from(1146));
    let expected = [
        ("CREATE DATABASE shop", None),
        ("USE", None),
        ("CREATE TABLE items", None),
        ("INSERT items", None),
        ("SELECT items", None),
        ("UPDATE items", None),
        ("DELETE items", None),
        ("SELECT missing_table", code()),
        ("ALTER USER", None),
        ("DROP DATABASE shop", None),
    ];
    let spans = spans_on_port(&traced, "mysql", db.port);
    // The CLI's own queries (`SELECT DATABASE()` after USE, and the like):
    // plain SELECTs without a table, which the script never sends.
    let own = |s: &&Value| s["endpoint"] != "SELECT";
    let clients = of_role(&spans, "client");
    let servers = of_role(&spans, "server");
    let mine: Vec<&Value> = clients.iter().copied().filter(own).collect();
    check_calls("client", &mine, &expected, &spans);
    let mine: Vec<&Value> = servers.iter().copied().filter(own).collect();
    check_calls("server", &mine, &expected, &spans);
    let server_addr = format!("127.0.0.1:{}", db.port);
    for s in &clients {
        assert_eq!(s["pid"].as_u64(), Some(u64::from(client_pid)), "{s}");
        assert_eq!(s["comm"], "mariadb", "{s}");
        assert_eq!(s["remote"], server_addr, "{s}");
    }
    let client_addr = &clients[0]["local"];
    for s in &servers {
        assert_eq!(s["pid"].as_u64(), Some(u64::from(db.server.id())), "{s}");
        assert_eq!(s["comm"], "mariadbd", "{s}");
        assert_eq!(s["local"], server_addr, "{s}");
        assert_eq!(&s["remote"], client_addr, "{s}");
    }
    // The CLI's own calls too: each once per side, the sides linked.
    assert_eq!(clients.len(), servers.len(), "{spans:#?}");
    check_links(&clients, &servers);
    check_redacted(&traced, &session, "ALTER USER", 2);
}

/// `mysqlslap --auto-generate-sql` reads result sets of 15 KB and more,
/// most of which the default snaplen (1 KiB) does not capture: each span
/// still reports the bytes the server sent, no call is lost to a parser
/// gone out of step, and the counts agree with the server's own.
#[test]
fn mysqlslap_result_sets_keep_their_size() {
    if !common::root_or_skip("mysqlslap_result_sets_keep_their_size") {
        return;
    }
    let db = Mariadb::start();
    let mysqlslap = program("mysqlslap", "mariadb-client");
    const COUNTERS: [&str; 5] = [
        "Com_select",
        "Com_insert",
        "Bytes_sent",
        "Bytes_received",
        "Connections",
    ];
    let tracer = Tracer::start(&["--comm", "mysqlslap", "--comm", "mariadbd"]);
    let before = db.status(&COUNTERS);
    let out = Command::new(&mysqlslap)
        .args(["--no-defaults", "-h", "127.0.0.1", "-u", "dflow"])
        .arg(format!("--port={}", db.port))
        .arg(format!("--password={MARIADB_PASSWORD}"))
        .args(["--auto-generate-sql", "--concurrency=4", "--iterations=3"])
        .arg("--number-of-queries=200")
        .output()
        .expect("run mysqlslap");
    let after = db.status(&COUNTERS);
    let traced = tracer.stop();
    assert!(out.status.success(), "{out:?}");
    assert!(traced.status.success(), "{}", traced.stderr);
    let summary = &traced.summary["summary"];
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_eq!(summary["desyncs"], 0, "{summary}");
    let delta = |name: &str| after[name] - before[name];

    let spans = spans_on_port(&traced, "mysql", db.port);
    let clients = of_role(&spans, "client");
    let servers = of_role(&spans, "server");
    assert_eq!(
        clients.len(),
        servers.len(),
        "{:?}",
        count_endpoints(&spans)
    );
    check_parents(&clients, &servers);
    for s in &spans {
        // mysqlslap stops at the first error: the server returned none.
        assert_eq!(s["status"], "ok", "{s}");
        let resp = s["resp_bytes"].as_u64().unwrap();
        match s["endpoint"].as_str().unwrap() {
            // At least the 100 rows written first, of about 140 bytes each.
            "SELECT t1" => assert!((14_000..1_000_000).contains(&resp), "{s}"),
            // An OK packet.
            _ => assert!((11..100).contains(&resp), "{s}"),
        }
    }
    // The server's own counts: statements, and bytes, of which the spans
    // hold all but each connection's handshake.
    let counts = count_endpoints(&servers);
    let selects: usize = counts
        .iter()
        .filter(|(e, _)| e.starts_with("SELECT"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(selects as u64, delta("Com_select"), "{counts:?}");
    assert_eq!(
        counts.get("INSERT t1").copied().unwrap_or(0) as u64,
        delta("Com_insert"),
        "{counts:?}"
    );
    // Measured: 150 bytes sent per connection (greeting and OK), 215
    // received (handshake response).
    let handshakes = delta("Connections") * 256;
    for (counter, field) in [
        ("Bytes_sent", "resp_bytes"),
        ("Bytes_received", "req_bytes"),
    ] {
        let traced: u64 = servers.iter().map(|s| s[field].as_u64().unwrap()).sum();
        let outside = delta(counter).checked_sub(traced);
        assert!(
            outside.is_some_and(|b| b <= handshakes),
            "{counter}: {} by the server, {traced} in spans",
            delta(counter)
        );
    }
}
