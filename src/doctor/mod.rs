//! `dflow doctor`: what this host offers dflow, measured rather than guessed.
//!
//! Host facts are read from /proc and /sys. Each program type is proven by
//! loading, attaching and firing a tiny probe (`ebpf/doctor.bpf.c`) that
//! counts hits of this very process; ring buffer delivery is proven end to
//! end with `ebpf/syscalls.bpf.c`. Features are then derived from those
//! results, so "available" means "dflow just did it here".

mod host;
mod programs;

use serde::Serialize;

pub use host::{HostFacts, MIN_KERNEL};
pub use programs::{ProgramTypes, RingBufferCheck};

use crate::privilege::Caps;

/// The `dflow doctor` report. Field names are the `--json` contract:
/// `kernel`, `program_types.<type>.{available,error}` and
/// `features.<feature>.{status,reason}` are relied on by scripts.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `uname -r`.
    pub kernel: String,
    #[serde(flatten)]
    pub host: HostFacts,
    pub ring_buffer: RingBufferCheck,
    pub program_types: ProgramTypes,
    pub features: Features,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Available,
    Degraded,
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feature {
    pub status: Status,
    /// Why it is degraded or unavailable; null when available.
    pub reason: Option<String>,
}

impl Feature {
    fn available() -> Feature {
        Feature {
            status: Status::Available,
            reason: None,
        }
    }

    fn degraded(reason: impl Into<String>) -> Feature {
        Feature {
            status: Status::Degraded,
            reason: Some(reason.into()),
        }
    }

    fn unavailable(reason: impl Into<String>) -> Feature {
        Feature {
            status: Status::Unavailable,
            reason: Some(reason.into()),
        }
    }

    /// Usable at all (available, or degraded with a stated loss).
    pub fn usable(&self) -> bool {
        self.status != Status::Unavailable
    }
}

/// The dflow features, in the order `--json` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Features {
    /// `dflow trace`: L7 calls from socket syscalls.
    pub l7_trace: Feature,
    /// Plaintext of TLS libraries (OpenSSL) through uprobes.
    pub tls_capture: Feature,
    /// `dflow flow`: per-connection L4 accounting.
    pub flow: Feature,
    /// `dflow profile`: on-CPU stack sampling.
    pub on_cpu: Feature,
    /// `dflow profile --off-cpu`: blocked time per stack.
    pub off_cpu: Feature,
}

impl Report {
    /// Runs every check. Never fails: what cannot be checked is reported as
    /// an error inside the report.
    pub fn gather() -> Report {
        let host = HostFacts::gather();
        let ring_buffer = RingBufferCheck::run();
        let program_types = ProgramTypes::probe();
        let features = Features::derive(&host, &ring_buffer, &program_types);
        Report {
            kernel: host.kernel_release.clone(),
            host,
            ring_buffer,
            program_types,
            features,
        }
    }

    /// The core of this dflow (trace, on-CPU profiling) can run here.
    pub fn ready(&self) -> bool {
        self.unusable_core().is_empty()
    }

    /// The core features that cannot run, with their reasons.
    pub fn unusable_core(&self) -> Vec<(&'static str, &Feature)> {
        [
            ("l7_trace", &self.features.l7_trace),
            ("on_cpu", &self.features.on_cpu),
        ]
        .into_iter()
        .filter(|(_, f)| !f.usable())
        .collect()
    }

    pub fn caps(&self) -> Caps {
        Caps::from_bits(self.host.capabilities.effective_bits)
    }
}

/// Tracepoints `dflow flow` reads, by what they give.
const FLOW_TRACEPOINTS: [(&str, &str, &str); 4] = [
    (
        "sock",
        "inet_sock_set_state",
        "connection lifecycle and connect latency",
    ),
    ("tcp", "tcp_retransmit_skb", "retransmits"),
    ("tcp", "tcp_receive_reset", "received resets"),
    ("tcp", "tcp_send_reset", "sent resets"),
];

impl Features {
    fn derive(host: &HostFacts, ring: &RingBufferCheck, types: &ProgramTypes) -> Features {
        // Without privilege every probe fails for that one reason; say it once
        // per feature instead of repeating the kernel's EPERM.
        if !host.capabilities.missing.is_empty() {
            let reason = format!("dflow lacks {}", host.capabilities.missing.join(" and "));
            let f = || Feature::unavailable(reason.clone());
            return Features {
                l7_trace: f(),
                tls_capture: f(),
                flow: f(),
                on_cpu: f(),
                off_cpu: f(),
            };
        }
        Features {
            l7_trace: l7_trace(host, ring, types),
            tls_capture: tls_capture(types),
            flow: flow(host, ring, types),
            on_cpu: match &types.perf_event.error {
                None => Feature::available(),
                Some(e) => Feature::unavailable(format!(
                    "software cpu-clock perf events do not work here: {e}"
                )),
            },
            off_cpu: match (&types.tp_btf.error, &types.tracepoint.error) {
                (None, _) => Feature::available(),
                // The plain tracepoint gives the same switch data (prev/next
                // tid and state), so the fallback loses nothing.
                (Some(_), None) if host.has_tracepoint("sched", "sched_switch") => {
                    Feature::available()
                }
                (Some(btf), Some(tp)) => Feature::unavailable(format!(
                    "neither tp_btf/sched_switch ({btf}) nor the sched:sched_switch tracepoint ({tp}) works"
                )),
                (Some(btf), None) => Feature::unavailable(format!(
                    "tp_btf does not work ({btf}) and there is no sched:sched_switch tracepoint"
                )),
            },
        }
    }
}

/// trace.bpf.c: tp_btf programs on sock:sock_send_length and
/// sock:sock_recv_length (6.3+) for the data, sock:inet_sock_set_state for
/// connect and close.
fn l7_trace(host: &HostFacts, ring: &RingBufferCheck, types: &ProgramTypes) -> Feature {
    if !host.btf.available {
        return Feature::unavailable(
            "no kernel BTF (/sys/kernel/btf/vmlinux): the capture is tp_btf programs",
        );
    }
    if let Some(e) = &types.tp_btf.error {
        return Feature::unavailable(format!("tp_btf programs do not work here: {e}"));
    }
    if let Some(e) = &ring.error {
        return Feature::unavailable(format!("events do not reach userspace: {e}"));
    }
    let data = ["sock_send_length", "sock_recv_length"];
    if !data.iter().all(|name| host.has_tracepoint("sock", name)) {
        return Feature::unavailable(
            "the kernel has no sock:sock_send_length/sock_recv_length tracepoints (Linux 6.3+)",
        );
    }
    if !host.has_tracepoint("sock", "inet_sock_set_state") {
        return Feature::degraded(
            "no sock:inet_sock_set_state: connect and close are not seen, so a closed \
             connection's unanswered requests end by timeout",
        );
    }
    Feature::available()
}

/// What this build does with TLS: nothing yet. The report said
/// "available" because uprobes work, though nothing captured TLS; a
/// capture counts the connections it could not parse (TLS among them).
fn tls_capture(types: &ProgramTypes) -> Feature {
    let uprobes = match &types.uprobe.error {
        None => "uprobes, which it needs, work here".to_owned(),
        Some(e) => format!("uprobes, which it needs, do not work here: {e}"),
    };
    Feature::unavailable(format!(
        "not in this build of dflow: TLS traffic is counted as unparsed, not decrypted ({uprobes})"
    ))
}

/// `dflow flow` is not in this build: unavailable, with what the host
/// offers it (the tracepoints it will read).
fn flow(host: &HostFacts, ring: &RingBufferCheck, types: &ProgramTypes) -> Feature {
    let host_side = flow_on_this_host(host, ring, types);
    let on_host = match &host_side.reason {
        None => "this host has what it needs".to_owned(),
        Some(reason) => format!("on this host: {reason}"),
    };
    Feature::unavailable(format!(
        "`dflow flow` is not in this build of dflow ({on_host})"
    ))
}

fn flow_on_this_host(host: &HostFacts, ring: &RingBufferCheck, types: &ProgramTypes) -> Feature {
    if let Some(e) = &types.tracepoint.error {
        return Feature::unavailable(format!("tracepoints do not work here: {e}"));
    }
    if let Some(e) = &ring.error {
        return Feature::unavailable(format!("events do not reach userspace: {e}"));
    }
    let missing: Vec<String> = FLOW_TRACEPOINTS
        .iter()
        .filter(|(cat, name, _)| !host.has_tracepoint(cat, name))
        .map(|(cat, name, what)| format!("{cat}:{name} ({what})"))
        .collect();
    if missing.len() == FLOW_TRACEPOINTS.len() {
        return Feature::unavailable("none of the sock/tcp tracepoints exist on this kernel");
    }
    if !missing.is_empty() {
        return Feature::degraded(format!("missing tracepoints: {}", missing.join(", ")));
    }
    if !host.btf.available {
        return Feature::degraded("no kernel BTF: RTT cannot be read from tcp_sock");
    }
    Feature::available()
}
