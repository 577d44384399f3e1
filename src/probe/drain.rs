//! Draining one ring buffer on a timer into owned batches.
//!
//! Programs submit with BPF_RB_NO_WAKEUP: a wake-up per event caps delivery
//! at ~0.23M events/s on the development machines, so instead a thread reads
//! whatever is in the buffer every [`DRAIN_INTERVAL`]. At 1 ms that costs a
//! few thousand cheap wake-ups a second in total, whatever the event rate.
//!
//! Backpressure: the batch channel is bounded. When the consumer falls
//! behind, the drain waits, the ring buffer fills, and the kernel side drops
//! new events and counts them as lost; the traced processes never wait for
//! dflow. Memory is bounded by the ring size plus the channel's batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use aya::maps::{MapData, RingBuf};

use super::wire::Wire;

/// How often a drain thread empties its ring buffer.
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(1);

/// Largest batch sent in one message, so a burst is handed over in pieces.
const MAX_BATCH: usize = 4096;

/// Batches in flight before the drain waits for the consumer, unless the
/// probe asks for fewer (large events: the memory they hold counts).
pub const CHANNEL_BATCHES: usize = 256;

/// After a stop is requested, how long the drain waits for a consumer that
/// holds its channel but does not read before it drops (and counts) the rest.
const STOP_GRACE: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// The pause between passes, in ns: see [`Drain::set_interval`].
    interval_ns: AtomicU64,
    delivered: AtomicU64,
    /// Events dropped in userspace: only at stop, with a stalled consumer.
    dropped: AtomicU64,
}

pub struct Drain {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drain {
    /// Drains `ring` every `interval` (normally [`DRAIN_INTERVAL`]), with up
    /// to `batches` batches waiting for the consumer.
    pub(super) fn start<W: Wire>(
        name: &str,
        ring: RingBuf<MapData>,
        interval: Duration,
        batches: usize,
    ) -> std::io::Result<(Drain, Receiver<Vec<W::Event>>)> {
        let (tx, rx) = sync_channel(batches);
        let shared = Arc::new(Shared::default());
        shared
            .interval_ns
            .store(interval.as_nanos() as u64, Ordering::Relaxed);
        let thread = std::thread::Builder::new()
            .name(format!("drain-{name}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || run::<W>(ring, &tx, &shared)
            })?;
        Ok((
            Drain {
                shared,
                thread: Some(thread),
            },
            rx,
        ))
    }

    /// Events handed to the consumer.
    /// Changes the pause between passes, from the next one on.
    pub fn set_interval(&self, interval: Duration) {
        self.shared
            .interval_ns
            .store(interval.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }

    /// Events read from the ring but dropped because the consumer stalled
    /// while the probe was stopping.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Asks for one last pass and waits for it; idempotent.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            // A panic in the drain has already been reported by the hook;
            // there is nothing more to do with it here.
            let _ = thread.join();
        }
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run<W: Wire>(mut ring: RingBuf<MapData>, tx: &SyncSender<Vec<W::Event>>, shared: &Shared) {
    loop {
        // Read the flag before the pass: a stop requested during the pass
        // still gets one more, so nothing submitted before it is left behind.
        let stopping = shared.stop.load(Ordering::Acquire);
        let mut batch = Vec::new();
        while let Some(record) = ring.next() {
            if let Some(event) = W::decode(&record) {
                batch.push(event);
            }
            if batch.len() >= MAX_BATCH {
                let full = std::mem::take(&mut batch);
                if !send(tx, full, shared) {
                    return;
                }
            }
        }
        if !batch.is_empty() && !send(tx, batch, shared) {
            return;
        }
        if stopping {
            return;
        }
        std::thread::sleep(Duration::from_nanos(
            shared.interval_ns.load(Ordering::Relaxed),
        ));
    }
}

/// Hands a batch to the consumer, waiting while the channel is full; false
/// when the consumer has gone away.
fn send<E>(tx: &SyncSender<Vec<E>>, mut batch: Vec<E>, shared: &Shared) -> bool {
    let n = batch.len() as u64;
    let mut stalled_since_stop = Duration::ZERO;
    loop {
        match tx.try_send(batch) {
            Ok(()) => {
                shared.delivered.fetch_add(n, Ordering::Relaxed);
                return true;
            }
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => batch = back,
        }
        if shared.stop.load(Ordering::Acquire) {
            if stalled_since_stop >= STOP_GRACE {
                shared.dropped.fetch_add(n, Ordering::Relaxed);
                return true;
            }
            stalled_since_stop += DRAIN_INTERVAL;
        }
        std::thread::sleep(DRAIN_INTERVAL);
    }
}
