//! Loading and attaching trace.bpf.c: the socket reads and writes of the
//! targets.

use std::sync::mpsc::Receiver;

use crate::event::SockEvent;
use crate::probe::wire::{DataRecord, HintKey, MAX_SNAPLEN};
use crate::probe::{Filters, Global, Probe, ProbeError, objects};
use crate::trace::pipeline::Hint;

/// Batches of socket events waiting for the pipeline at most.
const QUEUED_BATCHES: usize = 4;

/// How often the ring is drained: 5 ms of events at a million a second is
/// ~1 MB, a quarter of the ring; a shorter period costs dflow more
/// wake-ups (its own and the pipeline's) for nothing ...
const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// ... except while hints are being given ([`hint`]): a hint must reach
/// the kernel before the download it is about reaches the next head, and
/// a 2 MB body passes in 7 ms at 300 MB/s (apt from a near mirror: with
/// 5 ms, 4 of 13 such heads were missed in one run of two; with 1 ms, none
/// in three). Idle, 1 ms costs dflow ~1.5% of a core more (debug build).
const DRAIN_EVERY_HINTING: std::time::Duration = std::time::Duration::from_millis(1);

/// How long after its last hint the drain stays at [`DRAIN_EVERY_HINTING`].
const HINTING_FOR: std::time::Duration = std::time::Duration::from_secs(1);

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

/// Tells the probe where connections' next messages begin (see [`Hint`]),
/// and drains it faster for [`HINTING_FOR`] after the last of them, or at
/// its normal pace from then on. A hint that cannot be set leaves the
/// capture as it is without one.
#[derive(Debug, Default)]
pub struct Hinter {
    last: Option<std::time::Instant>,
}

impl Hinter {
    /// Whether hints were given in the last [`HINTING_FOR`] (as of the
    /// last call of [`Hinter::hint`]).
    pub fn hinting(&self) -> bool {
        self.last.is_some()
    }

    pub fn hint(
        &mut self,
        probe: &mut Probe,
        hints: impl ExactSizeIterator<Item = Hint>,
    ) -> Result<(), ProbeError> {
        let now = std::time::Instant::now();
        if hints.len() > 0 {
            if self.last.is_none() {
                probe.set_drain_interval(DRAIN_EVERY_HINTING);
            }
            self.last = Some(now);
            probe.insert(
                "dflow_tr_hints",
                hints.map(|h| (HintKey::new(h.sock, h.direction), h.seq)),
            )?;
        } else if self.last.is_some_and(|t| now - t >= HINTING_FOR) {
            self.last = None;
            probe.set_drain_interval(DRAIN_EVERY);
        }
        Ok(())
    }
}
