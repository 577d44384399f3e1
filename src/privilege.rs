//! Effective capabilities, and the error for missing privilege (exit 77).
//!
//! dflow needs CAP_BPF to load programs and create maps, CAP_PERFMON for
//! tracing programs and perf events, and on kernels before 5.8 (which split
//! those out) CAP_SYS_ADMIN for both. Checking up front turns a bare EPERM
//! from the kernel into a message that names what is missing.

use std::fmt;

use crate::exit::Advice;

/// A Linux capability dflow cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    SysAdmin,
    Perfmon,
    Bpf,
}

impl Cap {
    pub const ALL: [Cap; 3] = [Cap::Bpf, Cap::Perfmon, Cap::SysAdmin];

    /// The capability's number in `linux/capability.h`.
    pub const fn number(self) -> u32 {
        match self {
            Cap::SysAdmin => 21,
            Cap::Perfmon => 38,
            Cap::Bpf => 39,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Cap::SysAdmin => "CAP_SYS_ADMIN",
            Cap::Perfmon => "CAP_PERFMON",
            Cap::Bpf => "CAP_BPF",
        }
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The effective capability set of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps(u64);

impl Caps {
    /// Reads `CapEff` from /proc/self/status.
    pub fn current() -> std::io::Result<Caps> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        Caps::from_status(&status).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "no CapEff line in /proc/self/status",
            )
        })
    }

    pub fn from_status(status: &str) -> Option<Caps> {
        let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
        u64::from_str_radix(hex.trim(), 16).ok().map(Caps)
    }

    pub const fn from_bits(bits: u64) -> Caps {
        Caps(bits)
    }

    pub const fn bits(self) -> u64 {
        self.0
    }

    pub fn has(self, cap: Cap) -> bool {
        self.0 & (1 << cap.number()) != 0
    }

    /// Whether programs and maps can be created: CAP_BPF, or CAP_SYS_ADMIN
    /// which implies it.
    pub fn can_bpf(self) -> bool {
        self.has(Cap::Bpf) || self.has(Cap::SysAdmin)
    }

    /// Whether tracing programs and perf events can be used.
    pub fn can_trace(self) -> bool {
        self.has(Cap::Perfmon) || self.has(Cap::SysAdmin)
    }

    /// The capabilities dflow's probes need that this set lacks, most
    /// fundamental first; empty when probes can load.
    pub fn missing_for_probes(self) -> Vec<Cap> {
        let mut missing = Vec::new();
        if !self.can_bpf() {
            missing.push(Cap::Bpf);
        }
        if !self.can_trace() {
            missing.push(Cap::Perfmon);
        }
        missing
    }

    /// Names of the capabilities dflow cares about that are present.
    pub fn names(self) -> Vec<&'static str> {
        Cap::ALL
            .into_iter()
            .filter(|&c| self.has(c))
            .map(Cap::name)
            .collect()
    }
}

/// dflow cannot load probes with the privileges it has: exit code 77.
#[derive(Debug, thiserror::Error)]
#[error("missing privilege: {what} needs {}, which this process lacks", join(.missing))]
pub struct MissingPrivilege {
    /// What was being attempted ("loading eBPF programs").
    pub what: &'static str,
    pub missing: Vec<Cap>,
}

/// How to get the capabilities dflow needs.
const GRANT: &str = "run as root (sudo dflow …), or grant the binary the capabilities: \
     sudo setcap cap_bpf,cap_perfmon,cap_sys_admin+ep \"$(command -v dflow)\"";

impl Advice for MissingPrivilege {
    fn exit_code(&self) -> u8 {
        crate::exit::NO_PERMISSION
    }

    fn hint(&self) -> Option<String> {
        Some(GRANT.to_owned())
    }
}

/// The hint for a kernel that said EPERM to a probe dflow had the
/// capabilities for, as far as it could tell.
pub fn permission_denied_hint() -> String {
    format!("the kernel said EPERM; {GRANT}")
}

fn join(caps: &[Cap]) -> String {
    caps.iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Fails with [`MissingPrivilege`] unless probes can be loaded.
pub fn require_probes(what: &'static str) -> anyhow::Result<()> {
    let caps = Caps::current()?;
    let missing = caps.missing_for_probes();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MissingPrivilege { what, missing }.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cap_eff() {
        let status = "Name:\tdflow\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        let caps = Caps::from_status(status).unwrap();
        assert!(caps.has(Cap::Bpf) && caps.has(Cap::Perfmon) && caps.has(Cap::SysAdmin));
        assert!(caps.missing_for_probes().is_empty());
    }

    #[test]
    fn names_what_is_missing() {
        let none = Caps::from_bits(0);
        assert_eq!(none.missing_for_probes(), vec![Cap::Bpf, Cap::Perfmon]);
        let err = MissingPrivilege {
            what: "loading eBPF programs",
            missing: none.missing_for_probes(),
        };
        assert_eq!(
            err.to_string(),
            "missing privilege: loading eBPF programs needs CAP_BPF and CAP_PERFMON, which this process lacks"
        );
        // CAP_SYS_ADMIN alone suffices on every kernel.
        let admin = Caps::from_bits(1 << Cap::SysAdmin.number());
        assert!(admin.missing_for_probes().is_empty());
        let bpf_only = Caps::from_bits(1 << Cap::Bpf.number());
        assert_eq!(bpf_only.missing_for_probes(), vec![Cap::Perfmon]);
    }
}
