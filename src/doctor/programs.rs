//! Proving each program type, and ring buffer delivery, by doing it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use serde::Serialize;

use crate::error_chain;
use crate::probe::wire::{SyscallRecord, doctor_slot};
use crate::probe::{Filters, Global, Probe, ProbeError, UprobeAt, objects};
use crate::process::ProcessMaps;

/// How long a probe may take to fire after its trigger.
const FIRE_TIMEOUT: Duration = Duration::from_millis(500);

/// Present when the kernel can create kprobes through perf_event_open.
const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe";

/// Syscalls made to prove delivery through the ring buffer.
const DELIVERY_SYSCALLS: usize = 100;

/// Whether a program type loads, attaches and fires here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeCheck {
    pub available: bool,
    /// The kernel's (or aya's) error when not available.
    pub error: Option<String>,
}

impl TypeCheck {
    fn ok() -> TypeCheck {
        TypeCheck {
            available: true,
            error: None,
        }
    }

    fn failed(error: String) -> TypeCheck {
        TypeCheck {
            available: false,
            error: Some(error),
        }
    }
}

/// One entry per program type, in the order `--json` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgramTypes {
    pub tracepoint: TypeCheck,
    pub tp_btf: TypeCheck,
    pub raw_tp: TypeCheck,
    pub kprobe: TypeCheck,
    pub fentry: TypeCheck,
    pub uprobe: TypeCheck,
    pub perf_event: TypeCheck,
}

/// The function the uprobe check attaches to, in dflow's own binary. It is
/// found by address, not by symbol, so a stripped dflow checks uprobes too.
#[inline(never)]
pub extern "C" fn dflow_doctor_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_add(1)
}

/// The file and file offset of the code at `addr` in this process, from
/// /proc/self/maps. Unlike a symbol lookup this works on a stripped binary.
fn own_file_offset(addr: u64) -> std::io::Result<(PathBuf, u64)> {
    ProcessMaps::capture(std::process::id())?
        .locate(addr)
        .map(|(path, offset)| (path.to_owned(), offset))
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no file mapping holds {addr:#x}"),
            )
        })
}

impl ProgramTypes {
    /// Loads `doctor.bpf.o`, attaches each program, fires each, and reads
    /// back its hit counter.
    pub fn probe() -> ProgramTypes {
        let tgid = std::process::id();
        let mut probe = match Probe::load(
            objects::DOCTOR,
            &Filters::default(),
            &[("dflow_dr_tgid", Global::U32(tgid))],
        ) {
            Ok(p) => p,
            Err(e) => return ProgramTypes::all_failed(&error_chain(&e)),
        };
        let getppid = kernel_syscall_symbol("getppid");
        let getppid_btf = btf_function(&[
            "__x64_sys_getppid",
            "__arm64_sys_getppid",
            "__do_sys_getppid",
        ]);
        let own = own_file_offset(dflow_doctor_uprobe_target as *const () as u64);
        let attached = [
            (
                doctor_slot::TRACEPOINT,
                probe
                    .attach_tracepoint("dflow_dr_tp", "syscalls", "sys_enter_getppid")
                    .map_err(|e| error_chain(&e)),
            ),
            (
                doctor_slot::TP_BTF,
                probe
                    .attach_btf_tracepoint("dflow_dr_tp_btf", "sys_enter")
                    .map_err(|e| error_chain(&e)),
            ),
            (
                doctor_slot::RAW_TP,
                probe
                    .attach_raw_tracepoint("dflow_dr_raw_tp", "sys_enter")
                    .map_err(|e| error_chain(&e)),
            ),
            (
                doctor_slot::KPROBE,
                probe
                    .attach_kprobe("dflow_dr_kprobe", &getppid)
                    .map_err(|e| match Path::new(KPROBE_PMU).exists() {
                        true => error_chain(&e),
                        false => format!(
                            "{} (no kprobe PMU: the kernel is built without CONFIG_KPROBES)",
                            error_chain(&e)
                        ),
                    }),
            ),
            (
                doctor_slot::FENTRY,
                probe
                    .attach_fentry("dflow_dr_fentry", getppid_btf.unwrap_or(&getppid))
                    .map_err(|e| error_chain(&e)),
            ),
            (
                doctor_slot::UPROBE,
                match &own {
                    Ok((file, offset)) => probe
                        .attach_uprobe(
                            "dflow_dr_uprobe",
                            file,
                            UprobeAt::FileOffset(*offset),
                            Some(tgid),
                        )
                        .map_err(|e| error_chain(&e)),
                    Err(e) => Err(format!(
                        "cannot locate dflow's own code in /proc/self/maps: {e}"
                    )),
                },
            ),
            (
                doctor_slot::PERF_EVENT,
                probe
                    .attach_perf_event(
                        "dflow_dr_perf",
                        PerfEventConfig::Software(SoftwareEvent::CpuClock),
                        &[PerfEventScope::CallingProcess { cpu: None }],
                        SamplePolicy::Frequency(1000),
                    )
                    .map_err(|e| error_chain(&e)),
            ),
        ];
        let results = attached.map(|(slot, attach)| match attach {
            Err(e) => TypeCheck::failed(e),
            Ok(()) => match wait_for_hit(&probe, slot) {
                Ok(true) => TypeCheck::ok(),
                Ok(false) => TypeCheck::failed(format!(
                    "attached, but did not fire within {} ms",
                    FIRE_TIMEOUT.as_millis()
                )),
                Err(e) => TypeCheck::failed(error_chain(&e)),
            },
        });
        ProgramTypes::from_slots(results)
    }

    /// Builds the report from checks indexed by `doctor_slot`.
    fn from_slots(checks: [TypeCheck; 7]) -> ProgramTypes {
        let [
            tracepoint,
            tp_btf,
            raw_tp,
            kprobe,
            fentry,
            uprobe,
            perf_event,
        ] = checks;
        ProgramTypes {
            tracepoint,
            tp_btf,
            raw_tp,
            kprobe,
            fentry,
            uprobe,
            perf_event,
        }
    }

    fn all_failed(error: &str) -> ProgramTypes {
        ProgramTypes::from_slots(std::array::from_fn(|_| TypeCheck::failed(error.to_owned())))
    }

    /// (name, check) pairs in report order.
    pub fn entries(&self) -> [(&'static str, &TypeCheck); 7] {
        [
            ("tracepoint", &self.tracepoint),
            ("tp_btf", &self.tp_btf),
            ("raw_tp", &self.raw_tp),
            ("kprobe", &self.kprobe),
            ("fentry", &self.fentry),
            ("uprobe", &self.uprobe),
            ("perf_event", &self.perf_event),
        ]
    }
}

/// The kernel's symbol for a system call's entry on this architecture
/// (`__x64_sys_getppid` here), as kprobes and fentry need it.
fn kernel_syscall_symbol(name: &str) -> String {
    const PREFIXES: [&str; 4] = ["__x64_sys_", "__arm64_sys_", "__s390x_sys_", "sys_"];
    let symbols = aya::util::kernel_symbols().unwrap_or_default();
    PREFIXES
        .iter()
        .map(|prefix| format!("{prefix}{name}"))
        .find(|wanted| symbols.values().any(|s| s == wanted))
        .unwrap_or_else(|| format!("{}{name}", PREFIXES[0]))
}

/// The first of `candidates` that the kernel's BTF describes as a function:
/// fentry attaches by BTF id, and syscall wrappers are not in BTF everywhere.
fn btf_function(candidates: &[&'static str]) -> Option<&'static str> {
    let btf = crate::probe::kernel_btf().ok()?;
    candidates.iter().copied().find(|name| {
        btf.id_by_type_name_kind(name, aya_obj::btf::BtfKind::Func)
            .is_ok()
    })
}

/// Triggers the probe in `slot` until its counter moves or time runs out.
fn wait_for_hit(probe: &Probe, slot: u32) -> Result<bool, ProbeError> {
    let start = Instant::now();
    loop {
        trigger(slot);
        if probe.read_u64("dflow_dr_hits", slot)? > 0 {
            return Ok(true);
        }
        if start.elapsed() > FIRE_TIMEOUT {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn trigger(slot: u32) {
    match slot {
        doctor_slot::UPROBE => {
            std::hint::black_box(dflow_doctor_uprobe_target(std::hint::black_box(1)));
        }
        doctor_slot::PERF_EVENT => {
            // Burn ~5 ms of CPU so the 1 kHz cpu-clock event fires.
            let until = Instant::now() + Duration::from_millis(5);
            let mut x = 0u64;
            while Instant::now() < until {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        _ => {
            // SAFETY: getppid has no arguments and cannot fail.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
    }
}

/// Whether events travel kernel → ring buffer → drain → consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RingBufferCheck {
    pub available: bool,
    /// Events of this process the probe delivered during the check.
    pub delivered: u64,
    pub lost: u64,
    pub error: Option<String>,
}

impl RingBufferCheck {
    /// Attaches `syscalls.bpf.o` filtered to this process, makes
    /// [`DELIVERY_SYSCALLS`] getppid calls and counts how many arrive.
    pub fn run() -> RingBufferCheck {
        match deliver() {
            Ok((seen, counters)) if seen >= DELIVERY_SYSCALLS => RingBufferCheck {
                available: true,
                delivered: counters.delivered,
                lost: counters.lost,
                error: None,
            },
            Ok((seen, counters)) => RingBufferCheck {
                available: false,
                delivered: counters.delivered,
                lost: counters.lost,
                error: Some(format!(
                    "{seen} of {DELIVERY_SYSCALLS} system calls arrived within {} ms",
                    FIRE_TIMEOUT.as_millis()
                )),
            },
            Err(e) => RingBufferCheck {
                available: false,
                delivered: 0,
                lost: 0,
                error: Some(error_chain(&e)),
            },
        }
    }
}

fn deliver() -> Result<(usize, crate::probe::ProbeCounters), ProbeError> {
    let filters = Filters {
        pids: vec![std::process::id()],
        ..Filters::default()
    };
    let mut probe = Probe::load(objects::SYSCALLS, &filters, &[])?;
    let rx = probe.ring::<SyscallRecord>("dflow_sys_events")?;
    probe.attach_tracepoint("dflow_sys_enter", "raw_syscalls", "sys_enter")?;
    for _ in 0..DELIVERY_SYSCALLS {
        // SAFETY: getppid has no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    let mut seen = 0;
    let deadline = Instant::now() + FIRE_TIMEOUT;
    while seen < DELIVERY_SYSCALLS {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(batch) => seen += batch.iter().filter(|e| e.nr == libc::SYS_getppid).count(),
            Err(_) => break,
        }
    }
    let counters = probe.finish()?;
    Ok((seen, counters))
}
