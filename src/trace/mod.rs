//! `dflow trace`'s pipeline: socket syscalls → per-connection framing and
//! parsing (`crate::protocol`) → request/response pairing → spans → traces.

pub mod capture;
pub mod clock;
pub mod link;
pub mod pipeline;
pub mod unparsed;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// FxHash's multiply-rotate step, seeded per process, for dflow's own
/// numeric keys (pids, fds, kernel addresses, sequence numbers, span ids):
/// SipHash's resistance to chosen keys costs about a third of a lookup and
/// buys little for keys the kernel hands out. The seed keeps a peer that
/// chooses its ports and sequence numbers from aiming at one bucket. Keys
/// read off the wire as text (X-Request-ID) keep the standard hasher.
#[derive(Debug, Clone, Copy)]
pub struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail) ^ rest.len() as u64);
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`FastHasher`]s from one random seed per process.
#[derive(Debug, Clone, Copy)]
pub struct FastState(u64);

impl Default for FastState {
    fn default() -> Self {
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        FastState(*SEED.get_or_init(|| std::hash::RandomState::new().hash_one(0x5eed_u64)))
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

/// A HashMap over [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, FastState>;
