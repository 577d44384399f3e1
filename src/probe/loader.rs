//! [`Probe`]: one loaded eBPF object, its attachments and its drains.

use std::path::Path;

use aya::maps::{HashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy};
use aya::programs::uprobe::{UProbeAttachLocation, UProbeScope};
use aya::programs::{
    BtfTracePoint, FEntry, KProbe, PerfEvent, Program, RawTracePoint, TracePoint, UProbe,
};
use aya::{Btf, Ebpf, EbpfLoader};

use super::drain::Drain;
use super::objects::Object;
use super::wire::{self, CommKey, Wire};
use super::{ProbeError, tracefs};

/// Which processes and ports a probe captures; empty means everything.
/// Applied in the kernel, so unrelated traffic costs a map lookup at most.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub ports: Vec<u16>,
}

impl Filters {
    /// The value of the `dflow_filter` .rodata constant.
    fn flags(&self) -> u32 {
        let mut flags = 0;
        if !self.pids.is_empty() {
            flags |= wire::FILTER_PIDS;
        }
        if !self.comms.is_empty() {
            flags |= wire::FILTER_COMMS;
        }
        if !self.ports.is_empty() {
            flags |= wire::FILTER_PORTS;
        }
        flags
    }
}

/// A `const volatile` value in an object's .rodata, of the C type's width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    U32(u32),
    U64(u64),
}

/// Where in an ELF file a uprobe goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UprobeAt<'a> {
    /// A symbol of the file's symbol tables.
    Symbol(&'a str),
    /// An offset in the file, which works for stripped binaries too.
    FileOffset(u64),
}

pub use crate::event::ProbeCounters;

/// The kernel's BTF, parsed: tens of ms, and ~15 MB of memory while it is
/// held, so callers drop it once their programs are attached (and
/// [`crate::process::release_freed_memory`]).
pub fn kernel_btf() -> Result<Btf, ProbeError> {
    Btf::from_sys_fs().map_err(|e| ProbeError::Btf(e.to_string()))
}

/// A loaded eBPF object. Programs are loaded into the kernel when attached;
/// dropping the probe detaches them, unloads them, and then stops its drains
/// after one last pass, so events already in a ring buffer are delivered.
pub struct Probe {
    object: &'static str,
    ebpf: Option<Ebpf>,
    /// Taken out of `ebpf` at load, so it can still be read after detaching.
    counters: PerCpuArray<MapData, u64>,
    drains: Vec<Drain>,
    program_ids: Vec<u32>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("object", &self.object)
            .field("program_ids", &self.program_ids)
            .finish_non_exhaustive()
    }
}

/// Comms a program compares in place at most (`DFLOW_COMM_LIST`).
const COMM_LIST: usize = 8;

/// `dflow_comm_count` and `dflow_comm_list` for `comms`: each as two
/// native-endian words of its 16-byte key; a count of 0 (the map is used)
/// when there are more than [`COMM_LIST`].
fn comm_list(comms: &[String]) -> (u32, [[u64; 2]; COMM_LIST]) {
    let mut list = [[0u64; 2]; COMM_LIST];
    if comms.len() > COMM_LIST {
        return (0, list);
    }
    for (slot, comm) in list.iter_mut().zip(comms) {
        let key = CommKey::new(comm).comm;
        for (word, bytes) in slot.iter_mut().zip(key.chunks_exact(8)) {
            *word = u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
        }
    }
    (comms.len() as u32, list)
}

impl Probe {
    /// Loads `object` with the filters set; `globals` are further `const
    /// volatile` values in its .rodata (a missing one is an error).
    pub fn load(
        object: Object,
        filters: &Filters,
        globals: &[(&str, Global)],
    ) -> Result<Probe, ProbeError> {
        Probe::load_sized(object, filters, globals, &[])
    }

    /// [`Probe::load`], with the `max_entries` of some maps set at load
    /// (per-CPU buffers sized to the machine).
    pub fn load_sized(
        object: Object,
        filters: &Filters,
        globals: &[(&str, Global)],
        max_entries: &[(&str, u32)],
    ) -> Result<Probe, ProbeError> {
        let flags = filters.flags();
        let mut loader = EbpfLoader::new();
        for (map, n) in max_entries {
            loader.map_max_entries(map, *n);
        }
        loader.override_global("dflow_filter", &flags, true);
        // Few comms are compared in place rather than looked up (see
        // common.bpf.h); objects without the task filter lack the globals.
        let (comm_count, comm_list) = comm_list(&filters.comms);
        loader.override_global("dflow_comm_count", &comm_count, false);
        loader.override_global("dflow_comm_list", &comm_list, false);
        for (name, value) in globals {
            match value {
                Global::U32(v) => loader.override_global(name, v, true),
                Global::U64(v) => loader.override_global(name, v, true),
            };
        }
        let mut ebpf = loader
            .load(object.bytes)
            .map_err(|source| ProbeError::Object {
                object: object.name,
                source: Box::new(source),
            })?;
        let counters_map = ebpf
            .take_map("dflow_counters")
            .ok_or_else(|| ProbeError::NoMap {
                object: object.name,
                map: "dflow_counters".into(),
            })?;
        let counters = PerCpuArray::try_from(counters_map)
            .map_err(map_error(object.name, "dflow_counters"))?;
        let mut probe = Probe {
            object: object.name,
            ebpf: Some(ebpf),
            counters,
            drains: Vec::new(),
            program_ids: Vec::new(),
        };
        probe.fill_filters(filters)?;
        Ok(probe)
    }

    fn ebpf(&mut self) -> &mut Ebpf {
        self.ebpf.as_mut().expect("ebpf is only taken in drop")
    }

    fn map_error(&self, map: &str) -> impl FnOnce(aya::maps::MapError) -> ProbeError + use<> {
        map_error(self.object, map)
    }

    fn fill_filters(&mut self, filters: &Filters) -> Result<(), ProbeError> {
        if !filters.pids.is_empty() {
            self.insert_keys("dflow_pids", filters.pids.iter().copied())?;
        }
        if !filters.comms.is_empty() {
            self.insert_keys("dflow_comms", filters.comms.iter().map(|c| CommKey::new(c)))?;
        }
        if !filters.ports.is_empty() {
            self.insert_keys("dflow_ports", filters.ports.iter().copied())?;
        }
        Ok(())
    }

    /// Sets `key → 1` in the hash map `map` for every key.
    fn insert_keys<K: aya::Pod>(
        &mut self,
        map: &str,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<(), ProbeError> {
        self.insert(map, keys.into_iter().map(|k| (k, 1u8)))
    }

    /// Sets `key → value` in the hash map `map` for every pair.
    pub fn insert<K: aya::Pod, V: aya::Pod>(
        &mut self,
        map: &str,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), ProbeError> {
        let object = self.object;
        let found = self.ebpf().map_mut(map).ok_or_else(|| ProbeError::NoMap {
            object,
            map: map.to_owned(),
        })?;
        let mut hash: HashMap<_, K, V> =
            HashMap::try_from(found).map_err(map_error(object, map))?;
        for (key, value) in entries {
            hash.insert(key, value, 0).map_err(map_error(object, map))?;
        }
        Ok(())
    }

    /// Adds a process to the pid filter of a loaded probe (a child that
    /// started after the capture, say). The probe must have been loaded with
    /// at least one pid, or the filter is off.
    pub fn add_pid(&mut self, pid: u32) -> Result<(), ProbeError> {
        self.insert_keys("dflow_pids", [pid])
    }

    fn program<'p, T>(&'p mut self, name: &str) -> Result<&'p mut T, ProbeError>
    where
        &'p mut T: TryFrom<&'p mut Program, Error = aya::programs::ProgramError>,
    {
        let object = self.object;
        let program = self
            .ebpf
            .as_mut()
            .expect("ebpf is only taken in drop")
            .program_mut(name)
            .ok_or_else(|| ProbeError::NoProgram {
                object,
                program: name.to_owned(),
            })?;
        program.try_into().map_err(|source| ProbeError::WrongType {
            object,
            program: name.to_owned(),
            source: Box::new(source),
        })
    }

    fn record_id(&mut self, name: &str) {
        let id = self
            .ebpf()
            .program(name)
            .and_then(|p| p.info().ok())
            .map(|info| info.id());
        if let Some(id) = id
            && !self.program_ids.contains(&id)
        {
            self.program_ids.push(id);
        }
    }

    fn loaded(name: &str) -> impl FnOnce(aya::programs::ProgramError) -> ProbeError {
        let program = name.to_owned();
        move |source| ProbeError::Load {
            program,
            source: Box::new(source),
        }
    }

    fn attached(
        name: &str,
        target: String,
    ) -> impl FnOnce(aya::programs::ProgramError) -> ProbeError {
        let program = name.to_owned();
        move |source| ProbeError::Attach {
            program,
            target,
            source: Box::new(source),
        }
    }

    /// Attaches a `tracepoint/CATEGORY/NAME` program (kernel 4.7+).
    pub fn attach_tracepoint(
        &mut self,
        program: &str,
        category: &str,
        name: &str,
    ) -> Result<(), ProbeError> {
        tracefs::ensure()?;
        let prog: &mut TracePoint = self.program(program)?;
        prog.load().map_err(Self::loaded(program))?;
        prog.attach(category, name).map_err(Self::attached(
            program,
            format!("tracepoint {category}:{name}"),
        ))?;
        self.record_id(program);
        Ok(())
    }

    /// Attaches one `tracepoint/...` program to several tracepoints
    /// (`CATEGORY`, `NAME`), loading it once.
    pub fn attach_tracepoints(
        &mut self,
        program: &str,
        points: &[(&str, &str)],
    ) -> Result<(), ProbeError> {
        tracefs::ensure()?;
        let prog: &mut TracePoint = self.program(program)?;
        prog.load().map_err(Self::loaded(program))?;
        for (category, name) in points {
            prog.attach(category, name).map_err(Self::attached(
                program,
                format!("tracepoint {category}:{name}"),
            ))?;
        }
        self.record_id(program);
        Ok(())
    }

    /// Attaches a `tp_btf/NAME` program (kernel 5.5+ with BTF).
    pub fn attach_btf_tracepoint(&mut self, program: &str, name: &str) -> Result<(), ProbeError> {
        self.attach_btf_tracepoints(&[(program, name)])
    }

    /// Attaches `tp_btf` programs, each to its tracepoint (`PROGRAM`,
    /// `NAME`), reading the kernel's BTF once.
    pub fn attach_btf_tracepoints(&mut self, points: &[(&str, &str)]) -> Result<(), ProbeError> {
        let btf = kernel_btf()?;
        for (program, name) in points {
            let prog: &mut BtfTracePoint = self.program(program)?;
            prog.load(name, &btf).map_err(Self::loaded(program))?;
            prog.attach()
                .map_err(Self::attached(program, format!("tp_btf {name}")))?;
            self.record_id(program);
        }
        drop(btf);
        crate::process::release_freed_memory();
        Ok(())
    }

    /// Attaches a `raw_tracepoint/NAME` program (kernel 4.17+).
    pub fn attach_raw_tracepoint(&mut self, program: &str, name: &str) -> Result<(), ProbeError> {
        let prog: &mut RawTracePoint = self.program(program)?;
        prog.load().map_err(Self::loaded(program))?;
        prog.attach(name)
            .map_err(Self::attached(program, format!("raw_tp {name}")))?;
        self.record_id(program);
        Ok(())
    }

    /// Attaches a kprobe to a kernel function (needs CONFIG_KPROBES).
    pub fn attach_kprobe(&mut self, program: &str, function: &str) -> Result<(), ProbeError> {
        tracefs::ensure()?;
        let prog: &mut KProbe = self.program(program)?;
        prog.load().map_err(Self::loaded(program))?;
        prog.attach(function, 0)
            .map_err(Self::attached(program, format!("kprobe {function}")))?;
        self.record_id(program);
        Ok(())
    }

    /// Attaches an fentry program to a kernel function (5.5+, BTF, and a
    /// kernel that allows BPF trampolines).
    pub fn attach_fentry(&mut self, program: &str, function: &str) -> Result<(), ProbeError> {
        let btf = kernel_btf()?;
        let prog: &mut FEntry = self.program(program)?;
        prog.load(function, &btf).map_err(Self::loaded(program))?;
        prog.attach()
            .map_err(Self::attached(program, format!("fentry {function}")))?;
        self.record_id(program);
        Ok(())
    }

    /// Attaches a uprobe at `at` in the ELF file `target`, for one process
    /// (`pid`) or all of them.
    pub fn attach_uprobe(
        &mut self,
        program: &str,
        target: &Path,
        at: UprobeAt<'_>,
        pid: Option<u32>,
    ) -> Result<(), ProbeError> {
        tracefs::ensure()?;
        let scope = match pid.and_then(std::num::NonZeroU32::new) {
            Some(pid) => UProbeScope::OneProcess(pid),
            None => UProbeScope::AllProcesses,
        };
        let prog: &mut UProbe = self.program(program)?;
        prog.load().map_err(Self::loaded(program))?;
        let (location, name) = match at {
            UprobeAt::Symbol(symbol) => (UProbeAttachLocation::Symbol(symbol), symbol.to_owned()),
            UprobeAt::FileOffset(offset) => (
                UProbeAttachLocation::AbsoluteOffset(offset),
                format!("{offset:#x}"),
            ),
        };
        prog.attach(location, target, scope)
            .map_err(Self::attached(
                program,
                format!("uprobe {}:{name}", target.display()),
            ))?;
        self.record_id(program);
        Ok(())
    }

    /// Attaches a perf_event program to a software or hardware event.
    pub fn attach_perf_event(
        &mut self,
        program: &str,
        config: PerfEventConfig,
        scopes: &[PerfEventScope],
        sample: SamplePolicy,
    ) -> Result<(), ProbeError> {
        let prog: &mut PerfEvent = self.program(program)?;
        prog.load().map_err(Self::loaded(program))?;
        for &scope in scopes {
            prog.attach(config, scope, sample, false)
                .map_err(Self::attached(
                    program,
                    format!("perf event {config:?} {scope:?}"),
                ))?;
        }
        self.record_id(program);
        Ok(())
    }

    /// Starts draining the ring buffer `map` on its own thread: records are
    /// decoded as `W` and sent as owned batches on the returned channel,
    /// which closes when the probe is dropped.
    pub fn ring<W: Wire>(
        &mut self,
        map: &str,
    ) -> Result<std::sync::mpsc::Receiver<Vec<W::Event>>, ProbeError> {
        self.ring_every::<W>(map, super::DRAIN_INTERVAL)
    }

    /// [`Probe::ring`] drained every `interval`, for a ring that carries
    /// few events (fewer wake-ups of dflow).
    pub fn ring_every<W: Wire>(
        &mut self,
        map: &str,
        interval: std::time::Duration,
    ) -> Result<std::sync::mpsc::Receiver<Vec<W::Event>>, ProbeError> {
        self.ring_bounded::<W>(map, interval, super::drain::CHANNEL_BATCHES)
    }

    /// [`Probe::ring_every`] with at most `batches` batches (of up to 4096
    /// events) waiting for the consumer: for large events, whose memory
    /// counts. Past that the ring fills and the kernel drops, and counts.
    pub fn ring_bounded<W: Wire>(
        &mut self,
        map: &str,
        interval: std::time::Duration,
        batches: usize,
    ) -> Result<std::sync::mpsc::Receiver<Vec<W::Event>>, ProbeError> {
        let object = self.object;
        let taken = self.ebpf().take_map(map).ok_or_else(|| ProbeError::NoMap {
            object,
            map: map.to_owned(),
        })?;
        let ring = RingBuf::try_from(taken).map_err(self.map_error(map))?;
        let (drain, rx) =
            Drain::start::<W>(map, ring, interval, batches).map_err(ProbeError::Thread)?;
        self.drains.push(drain);
        Ok(rx)
    }

    /// Changes how often this probe's drains empty their ring buffers.
    pub fn set_drain_interval(&self, interval: std::time::Duration) {
        for drain in &self.drains {
            drain.set_interval(interval);
        }
    }

    /// Events delivered by this probe's drains and lost on the way, so far.
    pub fn counters(&self) -> Result<ProbeCounters, ProbeError> {
        let delivered = self.drains.iter().map(Drain::delivered).sum();
        let dropped: u64 = self.drains.iter().map(Drain::dropped).sum();
        let in_kernel: u64 = self
            .counters
            .get(&wire::CTR_LOST, 0)
            .map_err(self.map_error("dflow_counters"))?
            .iter()
            .sum();
        Ok(ProbeCounters {
            delivered,
            lost: in_kernel + dropped,
        })
    }

    /// Detaches and unloads every program, drains what the ring buffers
    /// still hold, and returns the final counts.
    pub fn finish(mut self) -> Result<ProbeCounters, ProbeError> {
        self.detach_and_drain();
        self.counters()
    }

    fn detach_and_drain(&mut self) {
        // Detach first, so no event is produced after the drains' last pass.
        drop(self.ebpf.take());
        for drain in &mut self.drains {
            drain.stop();
        }
    }

    /// A map of the loaded object, by name.
    fn map(&self, map: &str) -> Result<&aya::maps::Map, ProbeError> {
        let ebpf = self.ebpf.as_ref().expect("ebpf is only taken in drop");
        ebpf.map(map).ok_or_else(|| ProbeError::NoMap {
            object: self.object,
            map: map.to_owned(),
        })
    }

    /// Reads slot `index` of a `u64` array map (doctor's hit counters).
    pub fn read_u64(&self, map: &str, index: u32) -> Result<u64, ProbeError> {
        let m = self.map(map)?;
        let array: aya::maps::Array<_, u64> =
            aya::maps::Array::try_from(m).map_err(self.map_error(map))?;
        array.get(&index, 0).map_err(self.map_error(map))
    }

    /// Every (key, value) of a hash map the kernel aggregates into.
    pub fn read_hash<K: aya::Pod, V: aya::Pod>(
        &self,
        map: &str,
    ) -> Result<Vec<(K, V)>, ProbeError> {
        let m = self.map(map)?;
        let hash: HashMap<_, K, V> = HashMap::try_from(m).map_err(self.map_error(map))?;
        // An entry deleted during the walk is skipped, not an error.
        Ok(hash.iter().filter_map(Result::ok).collect())
    }

    /// The instruction pointers of stack `id` in the stack trace map `map`,
    /// innermost first; None when the kernel no longer holds it.
    pub fn stack_trace(&self, map: &str, id: u32) -> Result<Option<Vec<u64>>, ProbeError> {
        let m = self.map(map)?;
        let traces = aya::maps::StackTraceMap::try_from(m).map_err(self.map_error(map))?;
        match traces.get(&id, 0) {
            Ok(trace) => Ok(Some(trace.frames().iter().map(|f| f.ip).collect())),
            Err(aya::maps::MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(self.map_error(map)(e)),
        }
    }

    /// Kernel ids of the programs attached so far (for `bpftool prog show id N`).
    pub fn program_ids(&self) -> &[u32] {
        &self.program_ids
    }
}

fn map_error(
    object: &'static str,
    map: &str,
) -> impl FnOnce(aya::maps::MapError) -> ProbeError + use<> {
    let map = map.to_owned();
    move |source| ProbeError::Map {
        object,
        map,
        source: Box::new(source),
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.detach_and_drain();
    }
}
