//! Loading and attaching trace.bpf.c: the socket syscalls of the targets.

use std::sync::mpsc::Receiver;

use crate::event::SockEvent;
use crate::probe::wire::{DataRecord, MAX_SNAPLEN};
use crate::probe::{Filters, Global, Probe, ProbeError, objects};

/// Batches of socket events waiting for the pipeline at most.
const QUEUED_BATCHES: usize = 4;

/// How often the ring is drained: 5 ms of events at a million a second is
/// ~1 MB, a quarter of the ring; a shorter period costs dflow more
/// wake-ups (its own and the pipeline's) for nothing.
const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// The syscalls traced, by the entry program that reads their arguments
/// (the kernel refuses a program that reads past a tracepoint's record):
/// data in both directions and the socket lifecycle.
const ENTRIES: &[(&str, &[&str])] = &[
    ("dflow_tr_enter1", &["close"]), // reported at entry: at the exit the socket is gone
    (
        "dflow_tr_enter3",
        &[
            "read", "write", "readv", "writev", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
            "connect", "accept", "accept4",
        ],
    ),
    ("dflow_tr_enter6", &["sendto", "recvfrom"]),
];

/// What the capture copies and whom it leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    pub filters: Filters,
    /// Payload bytes copied per syscall (at most [`MAX_SNAPLEN`]).
    pub snaplen: u32,
    /// A process never traced (dflow itself); 0 for none.
    pub exclude_pid: u32,
}

/// Loads and attaches the capture; the receiver carries its events until
/// the probe is dropped or finished.
pub fn start(config: &CaptureConfig) -> Result<(Probe, Receiver<Vec<SockEvent>>), ProbeError> {
    let cpus = aya::util::nr_cpus().map_err(|(_, e)| ProbeError::Cpus(e))?;
    let mut probe = Probe::load_sized(
        objects::TRACE,
        &config.filters,
        &[
            (
                "dflow_snaplen",
                Global::U32(config.snaplen.min(MAX_SNAPLEN)),
            ),
            ("dflow_self", Global::U32(config.exclude_pid)),
        ],
        &[("dflow_tr_scratch", cpus as u32)],
    )?;
    // A batch of 4096 events with payloads is a few MB: a handful waiting
    // is enough to ride out a slow moment, and keeps dflow's memory small.
    let rx = probe.ring_bounded::<DataRecord>("dflow_tr_events", DRAIN_EVERY, QUEUED_BATCHES)?;
    let syscalls = ENTRIES.iter().flat_map(|(_, names)| names.iter());
    let exits: Vec<String> = syscalls
        .filter(|s| **s != "close")
        .map(|s| format!("sys_exit_{s}"))
        .collect();
    // Exits first: an entry recorded before its exit program is attached
    // would wait in the map until the thread's next traced syscall.
    probe.attach_tracepoints("dflow_tr_exit", &points(&exits))?;
    for (program, names) in ENTRIES {
        let enters: Vec<String> = names.iter().map(|s| format!("sys_enter_{s}")).collect();
        probe.attach_tracepoints(program, &points(&enters))?;
    }
    Ok((probe, rx))
}

fn points(names: &[String]) -> Vec<(&str, &str)> {
    names.iter().map(|n| ("syscalls", n.as_str())).collect()
}
