//! Finding, and if need be mounting, tracefs.
//!
//! Tracepoints are attached by their id under `tracefs/events/`. Minimal
//! hosts (containers, some VMs) boot without tracefs mounted; dflow then
//! mounts it at the standard place, as `perf` and the kernel docs do, since
//! every tracepoint probe depends on it. This needs CAP_SYS_ADMIN.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

const MOUNT_POINT: &str = "/sys/kernel/tracing";
const CANDIDATES: [&str; 2] = [MOUNT_POINT, "/sys/kernel/debug/tracing"];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tracefs {
    pub path: PathBuf,
    /// True when this process mounted it.
    pub mounted_by_dflow: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("tracefs is not mounted and mounting it at {MOUNT_POINT} failed")]
pub struct TracefsError(#[source] pub std::io::Error);

/// Where tracefs is mounted, if it is.
pub fn find() -> Option<PathBuf> {
    CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.join("events").is_dir())
        .map(Path::to_path_buf)
}

/// Finds tracefs, mounting it when it is absent. Must run before the first
/// tracepoint attach of the process: aya looks the mount up once and keeps
/// the answer.
pub fn ensure() -> Result<Tracefs, TracefsError> {
    static MOUNTED_HERE: Mutex<bool> = Mutex::new(false);
    let mut mounted_here = MOUNTED_HERE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = find() {
        return Ok(Tracefs {
            path,
            mounted_by_dflow: *mounted_here,
        });
    }
    let source = c"tracefs";
    let target = c"/sys/kernel/tracing";
    // SAFETY: all pointers are NUL-terminated literals; no data argument.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            source.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(TracefsError(std::io::Error::last_os_error()));
    }
    *mounted_here = true;
    Ok(Tracefs {
        path: PathBuf::from(MOUNT_POINT),
        mounted_by_dflow: true,
    })
}

/// Whether the tracepoint `category:name` exists on this kernel.
pub fn has_event(tracefs: &Path, category: &str, name: &str) -> bool {
    tracefs.join("events").join(category).join(name).is_dir()
}
