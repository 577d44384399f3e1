//! What dflow knows about a process, read from /proc (with `procfs`) while
//! it is alive, so events stay nameable after it exits.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::event::{Process, ProcessRef};

/// Reads /proc/PID; `fallback_comm` names the process when it is already
/// gone (the kernel told dflow its comm when it sampled it). With `redact`
/// the command line's credentials are replaced ([`redact_cmdline`]).
/// Whether process `pid` exists now (pid 0, the scheduler, never counts).
/// A zombie still does: its pid is not free until it is reaped.
pub fn exists(pid: u32) -> bool {
    pid != 0 && std::path::Path::new("/proc").join(pid.to_string()).exists()
}

pub fn describe(pid: u32, fallback_comm: Option<&str>, redact: bool) -> ProcessRef {
    Arc::new(
        read(pid, redact)
            .unwrap_or_else(|| Process::bare(pid, fallback_comm.unwrap_or("[exited]"))),
    )
}

/// What replaces a credential.
const REDACTED: &str = "[redacted]";

/// Words that make an option's value a credential (`--db-password=x`,
/// `--api-token x`, `--client-secret=x`, `--access-key x`).
const SECRET_WORDS: [&str; 7] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
];

/// Whether an option (or `NAME=value` argument) named `name` holds a
/// credential: a secret word in its name, unless it names where one is
/// kept (`--password-file`, `--key-path`), which is no secret.
fn secret_option(name: &str) -> bool {
    let name = name.trim_start_matches('-').to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| name.contains(w))
        && !["file", "path", "dir"].iter().any(|w| name.contains(w))
}

/// The command line with its credentials replaced by `[redacted]`:
/// values of options whose names say password, secret, token or key
/// (`--db-password=x`, `--password x`, `PASSWORD=x`), a MySQL client's
/// `-px`, `user:password@` in URLs, and SQL's `PASSWORD 'x'` and
/// `IDENTIFIED BY 'x'` in arguments such as `psql -c` or `mariadb -e` —
/// the same statements' excerpts are redacted by their protocol's parser.
pub fn redact_cmdline(argv: &[String]) -> String {
    let mysql_client = argv.first().is_some_and(|a| {
        let name = a.rsplit('/').next().unwrap_or(a);
        name.starts_with("mysql") || name.starts_with("mariadb")
    });
    let mut out = Vec::with_capacity(argv.len());
    let mut value_is_secret = false;
    for (i, arg) in argv.iter().enumerate() {
        if std::mem::take(&mut value_is_secret) && !arg.starts_with('-') {
            out.push(REDACTED.to_owned());
            continue;
        }
        let arg = redact_url_password(arg);
        let arg = redact_sql_password(&arg);
        if let Some((name, _)) = arg.split_once('=')
            && !name.contains(char::is_whitespace)
            && secret_option(name)
        {
            out.push(format!("{name}={REDACTED}"));
            continue;
        }
        if i > 0 && mysql_client && arg.len() > 2 && arg.starts_with("-p") {
            out.push(format!("-p{REDACTED}"));
            continue;
        }
        if i > 0 && arg.starts_with('-') && secret_option(&arg) {
            value_is_secret = true;
        }
        out.push(arg);
    }
    out.join(" ")
}

/// `scheme://user:password@host` → `scheme://user:[redacted]@host`.
fn redact_url_password(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', '?', '#', ' ']).unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority
            .rfind('@')
            .and_then(|a| Some((a, authority[..a].find(':')?)))
        {
            Some((at_sign, colon)) => {
                out.push_str(&authority[..=colon]);
                out.push_str(REDACTED);
                out.push_str(&authority[at_sign..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// The quoted literal after SQL's `PASSWORD` or `IDENTIFIED BY` (with or
/// without `=`) → `'[redacted]'`.
fn redact_sql_password(arg: &str) -> String {
    let lower = arg.to_ascii_lowercase();
    let mut out = String::with_capacity(arg.len());
    let mut from = 0;
    let mut search = 0;
    while let Some((start, len)) = ["password", "identified by"]
        .iter()
        .filter_map(|w| lower[search..].find(w).map(|at| (search + at, w.len())))
        .min()
    {
        let after = start + len;
        let gap = arg[after..].len() - arg[after..].trim_start_matches([' ', '\t', '=', '(']).len();
        let value = after + gap;
        search = value.max(after);
        let Some(quote) = arg[value..]
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')
        else {
            continue;
        };
        let Some(close) = arg[value + 1..].find(quote) else {
            continue;
        };
        out.push_str(&arg[from..=value]);
        out.push_str(REDACTED);
        from = value + 1 + close;
        search = from;
    }
    out.push_str(&arg[from..]);
    out
}

fn read(pid: u32, redact: bool) -> Option<Process> {
    let p = procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?;
    let stat = p.stat().ok()?;
    let ticks = procfs::ticks_per_second().max(1);
    let start_ns = stat.starttime.saturating_mul(1_000_000_000 / ticks);
    let exe = p.exe().map(|e| e.display().to_string()).unwrap_or_default();
    let cmdline = p
        .cmdline()
        .map(|c| {
            if redact {
                redact_cmdline(&c)
            } else {
                c.join(" ")
            }
        })
        .unwrap_or_default();
    let cgroup = p
        .cgroups()
        .ok()
        .and_then(|groups| {
            let groups = groups.0;
            groups
                .iter()
                .find(|g| g.hierarchy == 0)
                .or(groups.first())
                .map(|g| g.pathname.clone())
        })
        .unwrap_or_default();
    let container_id = container_id(&cgroup);
    let service = container_id
        .as_ref()
        .map_or_else(|| stat.comm.clone(), |id| id[..12].to_owned());
    Some(Process {
        pid,
        start_ns,
        comm: stat.comm,
        exe,
        cmdline,
        cgroup,
        container_id,
        service,
    })
}

/// The 64-hex-digit id of a container runtime's cgroup
/// (`/system.slice/docker-<id>.scope`, `/docker/<id>`,
/// `/kubepods/.../cri-containerd-<id>.scope`), if the path has one.
pub fn container_id(cgroup: &str) -> Option<String> {
    cgroup.split('/').rev().find_map(|part| {
        let part = part.strip_suffix(".scope").unwrap_or(part);
        let id = part.rsplit(['-', ':']).next()?;
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
    })
}

/// Gives the heap's free pages back to the kernel. Without it the pages of
/// something large and dropped (a parsed BTF at attach, the capture's
/// buffers before a session's conversion) stay in dflow's RSS.
pub fn release_freed_memory() {
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
}

/// dflow's own CPU time (user + system) and resident memory, for the
/// status bars.
pub fn own_usage() -> Option<(std::time::Duration, u64)> {
    let me = procfs::process::Process::myself().ok()?;
    let stat = me.stat().ok()?;
    let ticks = procfs::ticks_per_second().max(1);
    let cpu = std::time::Duration::from_nanos((stat.utime + stat.stime) * (1_000_000_000 / ticks));
    let rss = stat.rss * procfs::page_size();
    Some((cpu, rss))
}

/// dflow's own CPU share since the previous reading, and its RSS.
pub struct Usage {
    at: std::time::Instant,
    cpu: std::time::Duration,
}

impl Usage {
    /// Starts measuring from now.
    pub fn start() -> Usage {
        Usage {
            at: std::time::Instant::now(),
            cpu: own_usage().map_or(std::time::Duration::ZERO, |(cpu, _)| cpu),
        }
    }

    /// (CPU %, RSS bytes).
    pub fn sample(&mut self) -> (f64, u64) {
        let Some((cpu, rss)) = own_usage() else {
            return (0.0, 0);
        };
        let wall = self.at.elapsed().as_secs_f64();
        let pct = if wall > 0.0 {
            100.0 * cpu.saturating_sub(self.cpu).as_secs_f64() / wall
        } else {
            0.0
        };
        self.at = std::time::Instant::now();
        self.cpu = cpu;
        (pct, rss)
    }
}

/// One executable file mapping of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// Offset in the file of `start`.
    pub offset: u64,
    pub path: PathBuf,
}

/// The executable file mappings of a process at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessMaps(Vec<Mapping>);

impl ProcessMaps {
    /// Reads /proc/PID/maps. Right after a fork+exec the new image may not
    /// be mapped yet: take the snapshot when the process is first sampled.
    pub fn capture(pid: u32) -> std::io::Result<ProcessMaps> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
        Ok(ProcessMaps::parse(&text))
    }

    /// Keeps the executable mappings backed by a file.
    pub fn parse(text: &str) -> ProcessMaps {
        let maps = text
            .lines()
            .filter_map(|line| {
                let mut f = line.split_whitespace();
                let (start, end) = f.next()?.split_once('-')?;
                let perms = f.next()?;
                let offset = u64::from_str_radix(f.next()?, 16).ok()?;
                let path = f.nth(2)?;
                if !perms.contains('x') || !path.starts_with('/') {
                    return None;
                }
                Some(Mapping {
                    start: u64::from_str_radix(start, 16).ok()?,
                    end: u64::from_str_radix(end, 16).ok()?,
                    offset,
                    path: PathBuf::from(path),
                })
            })
            .collect();
        ProcessMaps(maps)
    }

    /// The file and file offset of `addr`.
    pub fn locate(&self, addr: u64) -> Option<(&Path, u64)> {
        self.0
            .iter()
            .find(|m| (m.start..m.end).contains(&addr))
            .map(|m| (m.path.as_path(), addr - m.start + m.offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_keep_executable_file_mappings() {
        let text = "\
00400000-00401000 r--p 00000000 fd:00 123 /tmp/burn
00401000-00402000 r-xp 00001000 fd:00 123 /tmp/burn
7f0000000000-7f0000100000 r-xp 00028000 fd:00 456 /usr/lib/x86_64-linux-gnu/libc.so.6
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0 [vdso]
";
        let maps = ProcessMaps::parse(text);
        assert_eq!(maps.0.len(), 2);
        assert_eq!(
            maps.locate(0x401010),
            Some((Path::new("/tmp/burn"), 0x1010))
        );
        assert_eq!(
            maps.locate(0x7f0000000100),
            Some((Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6"), 0x28100))
        );
        assert_eq!(maps.locate(0x400010), None, "not executable");
        assert_eq!(maps.locate(0x7ffd00100010), None, "not a file");
    }

    fn redacted(argv: &[&str]) -> String {
        let argv: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
        redact_cmdline(&argv)
    }

    /// The command lines the issue found stored with their secrets.
    #[test]
    fn command_line_credentials_are_redacted() {
        for (argv, want) in [
            (
                &["app", "--db-password=hunter2", "--port=80"][..],
                "app --db-password=[redacted] --port=80",
            ),
            (
                &["app", "--api-token", "tok", "--client-secret", "s", "-v"],
                "app --api-token [redacted] --client-secret [redacted] -v",
            ),
            (
                &[
                    "app",
                    "--password-file",
                    "/etc/pw",
                    "PASSWORD=x",
                    "--access-key=K",
                ],
                "app --password-file /etc/pw PASSWORD=[redacted] --access-key=[redacted]",
            ),
            (
                &["psql", "-c", "alter role app password 'pw1'"],
                "psql -c alter role app password '[redacted]'",
            ),
            (
                &[
                    "mariadb",
                    "-psecret",
                    "-e",
                    "create user u identified by 'pw2'; set password = password(\"pw3\")",
                ],
                "mariadb -p[redacted] -e create user u identified by '[redacted]'; set password = password(\"[redacted]\")",
            ),
            (
                &[
                    "worker",
                    "postgres://app:pw4@db:5432/x?sslmode=off",
                    "redis://cache:6379",
                ],
                "worker postgres://app:[redacted]@db:5432/x?sslmode=off redis://cache:6379",
            ),
            // -p is a port to most programs; a lone --password asks.
            (&["nc", "-p", "80", "--password"], "nc -p 80 --password"),
        ] {
            assert_eq!(redacted(argv), want, "{argv:?}");
        }
        for argv in [&["a", "--x=1", "b c", "d'e"][..], &["ünï", "--kéy=ü"]] {
            let _ = redacted(argv);
        }
    }

    #[test]
    fn own_usage_is_read() {
        let (_, rss) = own_usage().unwrap();
        assert!(rss > 1 << 20, "rss {rss}");
    }

    #[test]
    fn this_process() {
        let me = describe(std::process::id(), None, true);
        assert_eq!(me.pid, std::process::id());
        assert!(!me.comm.is_empty());
        assert!(me.start_ns > 0);
        assert!(me.exe.starts_with('/'));
    }

    #[test]
    fn a_gone_process_keeps_the_kernel_comm() {
        // pid_max is at most 2^22: this pid cannot exist.
        let gone = describe(u32::MAX - 1, Some("worker"), true);
        assert_eq!((gone.comm.as_str(), gone.start_ns), ("worker", 0));
    }

    #[test]
    fn container_ids() {
        let id = "a".repeat(64);
        assert_eq!(
            container_id(&format!("/system.slice/docker-{id}.scope")),
            Some(id.clone())
        );
        assert_eq!(container_id(&format!("/docker/{id}")), Some(id.clone()));
        assert_eq!(
            container_id(&format!("/kubepods/burstable/pod1/cri-containerd:{id}")),
            Some(id)
        );
        assert_eq!(
            container_id("/user.slice/user-0.slice/session-1.scope"),
            None
        );
    }
}
