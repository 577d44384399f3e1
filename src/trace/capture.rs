//! Loading and attaching trace.bpf.c: the socket reads and writes of the
//! targets.

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

/// The tp_btf programs and their tracepoints: data both ways, and the TCP
/// state changes that show connect() and close().
const PROGRAMS: &[(&str, &str)] = &[
    ("dflow_tr_send", "sock_send_length"),
    ("dflow_tr_recv", "sock_recv_length"),
    ("dflow_tr_state", "inet_sock_set_state"),
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
    probe.attach_btf_tracepoints(PROGRAMS)?;
    Ok((probe, rx))
}
