//! Facts about the host read from /proc and /sys: no probe is loaded here.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::privilege::{Cap, Caps};
use crate::probe::tracefs;

/// Oldest kernel dflow supports: BPF ring buffers arrived in 5.8.
pub const MIN_KERNEL: (u32, u32) = (5, 8);

const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";
const LOCKDOWN: &str = "/sys/kernel/security/lockdown";

#[derive(Debug, Clone, Serialize)]
pub struct HostFacts {
    #[serde(skip)]
    pub kernel_release: String,
    /// Whether the kernel is at least 5.8 (BPF ring buffers).
    pub kernel_supported: bool,
    pub hostname: String,
    pub btf: Btf,
    /// The active lockdown mode (`none`, `integrity`, `confidentiality`);
    /// null when securityfs is not mounted or no lockdown LSM is built.
    pub lockdown: Option<String>,
    pub tracefs: Tracefs,
    /// kernel.perf_event_paranoid; null when unreadable.
    pub perf_event_paranoid: Option<i32>,
    pub capabilities: Capabilities,
}

#[derive(Debug, Clone, Serialize)]
pub struct Btf {
    pub available: bool,
    pub path: &'static str,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tracefs {
    pub path: Option<PathBuf>,
    pub mounted_by_dflow: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Capabilities {
    /// The capabilities dflow uses that this process has.
    pub effective: Vec<&'static str>,
    /// The ones probes need that it lacks.
    pub missing: Vec<&'static str>,
    #[serde(skip)]
    pub effective_bits: u64,
}

impl HostFacts {
    pub fn gather() -> HostFacts {
        let kernel_release =
            read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(|_| "unknown".to_owned());
        let kernel_supported = parse_version(&kernel_release).is_some_and(|v| v >= MIN_KERNEL);
        let btf = match std::fs::metadata(VMLINUX_BTF) {
            Ok(_) => Btf {
                available: true,
                path: VMLINUX_BTF,
                error: None,
            },
            Err(e) => Btf {
                available: false,
                path: VMLINUX_BTF,
                error: Some(format!(
                    "{VMLINUX_BTF}: {e} (kernel built without CONFIG_DEBUG_INFO_BTF)"
                )),
            },
        };
        let lockdown = std::fs::read_to_string(LOCKDOWN)
            .ok()
            .and_then(|s| parse_lockdown(&s));
        let tracefs = match tracefs::ensure() {
            Ok(t) => Tracefs {
                path: Some(t.path),
                mounted_by_dflow: t.mounted_by_dflow,
                error: None,
            },
            Err(e) => Tracefs {
                path: None,
                mounted_by_dflow: false,
                error: Some(crate::error_chain(&e)),
            },
        };
        let perf_event_paranoid = read_trimmed("/proc/sys/kernel/perf_event_paranoid")
            .ok()
            .and_then(|s| s.parse().ok());
        let caps = Caps::current().unwrap_or(Caps::from_bits(0));
        let capabilities = Capabilities {
            effective: caps.names(),
            missing: caps
                .missing_for_probes()
                .into_iter()
                .map(Cap::name)
                .collect(),
            effective_bits: caps.bits(),
        };
        HostFacts {
            kernel_release,
            kernel_supported,
            hostname: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_default(),
            btf,
            lockdown,
            tracefs,
            perf_event_paranoid,
            capabilities,
        }
    }

    /// Whether the tracepoint `category:name` exists (false without tracefs).
    pub fn has_tracepoint(&self, category: &str, name: &str) -> bool {
        self.tracefs
            .path
            .as_deref()
            .is_some_and(|p| tracefs::has_event(p, category, name))
    }
}

fn read_trimmed(path: impl AsRef<Path>) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(path)?.trim().to_owned())
}

/// `6.18.44-fc-v657` → (6, 18).
pub fn parse_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// `none [integrity] confidentiality` → `integrity`.
pub fn parse_lockdown(s: &str) -> Option<String> {
    let start = s.find('[')?;
    let end = start + s[start..].find(']')?;
    Some(s[start + 1..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_version("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_version("5.8.0"), Some((5, 8)));
        assert_eq!(parse_version("4.19.0-23-amd64"), Some((4, 19)));
        assert!(parse_version("4.19.0").unwrap() < MIN_KERNEL);
        assert_eq!(parse_version("weird"), None);
    }

    #[test]
    fn lockdown_modes() {
        assert_eq!(
            parse_lockdown("[none] integrity confidentiality\n").as_deref(),
            Some("none")
        );
        assert_eq!(
            parse_lockdown("none integrity [confidentiality]").as_deref(),
            Some("confidentiality")
        );
        assert_eq!(parse_lockdown(""), None);
    }
}
