//! Loading, filtering, attaching, draining and detaching eBPF programs.
//!
//! This is the one place that talks to the kernel through aya:
//! [`Probe::load`] loads an embedded object with its `.rodata` filter flags
//! set and fills the pid/comm/port filter maps; the `attach_*` methods attach
//! its programs; [`Probe::ring`] starts draining a ring buffer into owned
//! batches of rich events; [`Probe::counters`] reports delivered and lost
//! events. Dropping a [`Probe`] detaches and unloads everything.
//!
//! Detaching on every exit path: dflow never pins programs, maps or links, so
//! everything it attached is held by file descriptors of its own process.
//! Drop closes them on a normal return, Ctrl-C and a panic (unwinding); on
//! `kill -9` or an abort the kernel closes them as the process dies. Either
//! way no dflow program outlives dflow (tested in `tests/probe.rs`).

mod drain;
mod loader;
pub mod objects;
pub mod tracefs;
pub mod wire;

use std::io;

pub use drain::{DRAIN_INTERVAL, Drain};
pub use loader::{Filters, Global, Probe, ProbeCounters, UprobeAt, kernel_btf};

/// What went wrong loading or attaching a probe (aya's errors are boxed:
/// they are large, and this travels up every call). Messages name the object,
/// program and target; the source carries the kernel's error and, for a
/// rejected program, the verifier log.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot load eBPF object {object}")]
    Object {
        object: &'static str,
        #[source]
        source: Box<aya::EbpfError>,
    },
    #[error("eBPF object {object} has no program {program}")]
    NoProgram {
        object: &'static str,
        program: String,
    },
    #[error("program {program} of {object} is not of the expected type")]
    WrongType {
        object: &'static str,
        program: String,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    #[error("the kernel refused to load program {program}")]
    Load {
        program: String,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    #[error("cannot attach program {program} to {target}")]
    Attach {
        program: String,
        target: String,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    #[error("eBPF object {object} has no map {map}")]
    NoMap { object: &'static str, map: String },
    #[error("map {map} of {object}")]
    Map {
        object: &'static str,
        map: String,
        #[source]
        source: Box<aya::maps::MapError>,
    },
    #[error("cannot read the kernel's BTF from /sys/kernel/btf/vmlinux: {0}")]
    Btf(String),
    #[error(transparent)]
    Tracefs(#[from] tracefs::TracefsError),
    #[error("cannot start the ring buffer drain thread")]
    Thread(#[source] io::Error),
    #[error("cannot list the online CPUs")]
    Cpus(#[source] io::Error),
}

/// When the kernel said EPERM or EACCES somewhere down the chain, dflow
/// exits 77 and names the capabilities; other probe errors say it all.
impl crate::exit::Advice for ProbeError {
    fn exit_code(&self) -> u8 {
        if self.is_permission_denied() {
            crate::exit::NO_PERMISSION
        } else {
            crate::exit::FAILURE
        }
    }

    fn hint(&self) -> Option<String> {
        self.is_permission_denied()
            .then(crate::privilege::permission_denied_hint)
    }
}

impl ProbeError {
    /// Whether the kernel said EPERM or EACCES somewhere down the chain.
    pub fn is_permission_denied(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(err) = cause {
            if let Some(io) = err.downcast_ref::<io::Error>()
                && matches!(io.raw_os_error(), Some(libc::EPERM | libc::EACCES))
            {
                return true;
            }
            cause = err.source();
        }
        false
    }
}
