//! What dflow knows about a process, read from /proc (with `procfs`) while
//! it is alive, so events stay nameable after it exits.

use std::sync::Arc;

use crate::event::{Process, ProcessRef};

/// Reads /proc/PID; `fallback_comm` names the process when it is already
/// gone (the kernel told dflow its comm when it sampled it).
pub fn describe(pid: u32, fallback_comm: Option<&str>) -> ProcessRef {
    Arc::new(read(pid).unwrap_or_else(|| Process::bare(pid, fallback_comm.unwrap_or("[exited]"))))
}

fn read(pid: u32) -> Option<Process> {
    let p = procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?;
    let stat = p.stat().ok()?;
    let ticks = procfs::ticks_per_second().max(1);
    let start_ns = stat.starttime.saturating_mul(1_000_000_000 / ticks);
    let exe = p.exe().map(|e| e.display().to_string()).unwrap_or_default();
    let cmdline = p.cmdline().map(|c| c.join(" ")).unwrap_or_default();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_usage_is_read() {
        let (_, rss) = own_usage().unwrap();
        assert!(rss > 1 << 20, "rss {rss}");
    }

    #[test]
    fn this_process() {
        let me = describe(std::process::id(), None);
        assert_eq!(me.pid, std::process::id());
        assert!(!me.comm.is_empty());
        assert!(me.start_ns > 0);
        assert!(me.exe.starts_with('/'));
    }

    #[test]
    fn a_gone_process_keeps_the_kernel_comm() {
        // pid_max is at most 2^22: this pid cannot exist.
        let gone = describe(u32::MAX - 1, Some("worker"));
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
