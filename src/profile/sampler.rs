//! The sample stage: profile.bpf.c's kernel-aggregated stack counts, read
//! periodically and turned into symbolized [`Sample`]s.
//!
//! The kernel counts samples per (pid, tid, user stack, kernel stack) and
//! userspace reads the maps about once a second, so dflow's cost does not
//! grow with the sample rate. The maps hold running totals; each poll hands
//! out the difference since the previous one. A process is announced on a
//! ring buffer the first time it is sampled and its /proc entries (name,
//! executable mappings) are read right then, so a process that exits
//! before the next poll is still named and symbolized.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};

use crate::config::SamplerConfig;
use crate::event::{Frame, ProcessRef, Sample, Stack};
use crate::probe::wire::{NO_STACK, NewPid, NewPidRecord, StackKey, StackValue};
use crate::probe::{Filters, Global, Probe, ProbeCounters, ProbeError, objects};
use crate::process::ProcessMaps;
use crate::profile::fold::{DFLOW_MODULE, TRUNCATED, pseudo_frame, stack};
use crate::profile::symbolize::Symbolizer;

const STACKS: &str = "dflow_stacks";
const ON_CPU: &str = "dflow_oncpu";
const OFF_CPU: &str = "dflow_offcpu";

/// Functions a complete user stack starts from. A stack whose outermost
/// frame is none of these was cut short, most likely by a function built
/// without frame pointers.
const ENTRY_POINTS: &[&str] = &[
    "_start",
    "__libc_start_main",
    "__libc_start_call_main",
    "start_thread",
    "clone",
    "clone3",
    "__clone",
    "__clone3",
    "__GI___clone3",
    "thread_start",
    "runtime.goexit",
    "runtime.goexit.abi0",
    "runtime.main",
    "runtime.mstart",
    "runtime.mstart.abi0",
];

struct Known {
    process: ProcessRef,
    maps: ProcessMaps,
    /// The mappings were read again after an address fell outside them
    /// (a library loaded later); once per process.
    refreshed: bool,
}

pub struct Sampler {
    probe: Probe,
    config: SamplerConfig,
    new_pids: Receiver<Vec<NewPid>>,
    /// Running totals at the previous poll.
    seen: HashMap<(bool, StackKey), StackValue>,
    procs: HashMap<u32, Known>,
    stacks: HashMap<(u32, i32, i32), Stack>,
    symbolizer: Symbolizer,
    last_poll_ns: i64,
}

impl Sampler {
    /// Loads profile.bpf.c, snapshots the named targets, and starts
    /// sampling on every online CPU.
    pub fn start(config: SamplerConfig) -> Result<Sampler, ProbeError> {
        let filters = Filters {
            pids: config.pids.clone(),
            comms: config.comms.clone(),
            ports: Vec::new(),
        };
        let mut probe = Probe::load(
            objects::PROFILE,
            &filters,
            &[
                ("dflow_per_thread", Global::U32(config.per_thread.into())),
                (
                    "dflow_kernel_stacks",
                    Global::U32(config.kernel_stacks.into()),
                ),
                (
                    "dflow_min_block_ns",
                    Global::U64(u64::try_from(config.min_block.as_nanos()).unwrap_or(u64::MAX)),
                ),
            ],
        )?;
        // A few events a second at most: 10 ms keeps dflow mostly asleep,
        // and a new process is still read well within its first second.
        let new_pids =
            probe.ring_every::<NewPidRecord>("dflow_new_pids", Duration::from_millis(10))?;
        let mut sampler = Sampler {
            probe,
            new_pids,
            seen: HashMap::new(),
            procs: HashMap::new(),
            stacks: HashMap::new(),
            symbolizer: Symbolizer::default(),
            last_poll_ns: crate::store::writer::unix_ns_now(),
            config,
        };
        for pid in sampler.config.pids.clone() {
            sampler.know(pid, None);
        }
        if sampler.config.mode.off_cpu {
            // tp_btf where the kernel has it, else the tracepoint: the same
            // program body and result.
            let btf = sampler
                .probe
                .attach_btf_tracepoint("dflow_off_btf", "sched_switch");
            if btf.is_err() {
                sampler
                    .probe
                    .attach_tracepoint("dflow_off_tp", "sched", "sched_switch")?;
            }
        }
        if sampler.config.mode.on_cpu {
            let cpus = aya::util::online_cpus().map_err(|(_, e)| ProbeError::Cpus(e))?;
            let scopes: Vec<PerfEventScope> = cpus
                .iter()
                .map(|&cpu| PerfEventScope::AllProcessesOneCpu { cpu })
                .collect();
            sampler.probe.attach_perf_event(
                "dflow_on_cpu",
                PerfEventConfig::Software(SoftwareEvent::CpuClock),
                &scopes,
                SamplePolicy::Frequency(u64::from(sampler.config.hz)),
            )?;
        }
        Ok(sampler)
    }

    fn know(&mut self, pid: u32, comm: Option<&str>) {
        if self.procs.contains_key(&pid) {
            return;
        }
        // Profiles keep no payloads, and no credentials on command lines.
        let process = crate::process::describe(pid, comm, true);
        let maps = ProcessMaps::capture(pid).unwrap_or_default();
        self.procs.insert(
            pid,
            Known {
                process,
                maps,
                refreshed: false,
            },
        );
    }

    /// Reads /proc for the processes announced since the last call. Cheap:
    /// call it often (every few tens of ms) so short-lived processes are
    /// caught alive.
    pub fn discover(&mut self) {
        while let Ok(batch) = self.new_pids.try_recv() {
            for p in batch {
                self.know(p.pid, Some(&p.comm));
            }
        }
    }

    /// Samples since the previous poll, symbolized. `progress(done, total)`
    /// is called while new stacks are symbolized.
    pub fn poll(
        &mut self,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Sample>, ProbeError> {
        self.discover();
        let now = crate::store::writer::unix_ns_now();
        let ts_ns = std::mem::replace(&mut self.last_poll_ns, now);
        let mut deltas: Vec<(bool, StackKey, StackValue)> = Vec::new();
        for (off_cpu, map) in [(false, ON_CPU), (true, OFF_CPU)] {
            if (off_cpu && !self.config.mode.off_cpu) || (!off_cpu && !self.config.mode.on_cpu) {
                continue;
            }
            for (key, value) in self.probe.read_hash::<StackKey, StackValue>(map)? {
                let before = self.seen.insert((off_cpu, key), value).unwrap_or_default();
                let delta = StackValue {
                    count: value.count.saturating_sub(before.count),
                    total_ns: value.total_ns.saturating_sub(before.total_ns),
                };
                if delta.count > 0 {
                    deltas.push((off_cpu, key, delta));
                }
            }
        }
        let fresh: HashSet<(u32, i32, i32)> = deltas
            .iter()
            .map(|(_, k, _)| (k.pid, k.user_stack_id, k.kernel_stack_id))
            .filter(|k| !self.stacks.contains_key(k))
            .collect();
        let total = fresh.len();
        for (done, key) in fresh.into_iter().enumerate() {
            progress(done, total);
            let stack = self.symbolize(key)?;
            self.stacks.insert(key, stack);
        }
        progress(total, total);
        Ok(deltas
            .into_iter()
            .map(|(off_cpu, k, v)| Sample {
                ts_ns,
                process: self.procs[&k.pid].process.clone(),
                tid: self.config.per_thread.then_some(k.tid),
                off_cpu,
                stack: self.stacks[&(k.pid, k.user_stack_id, k.kernel_stack_id)].clone(),
                count: v.count,
                blocked_ns: v.total_ns,
            })
            .collect())
    }

    fn symbolize(&mut self, (pid, user, kernel): (u32, i32, i32)) -> Result<Stack, ProbeError> {
        self.know(pid, None);
        let mut frames: Vec<Frame> = Vec::new();
        let lost = |what: &str| pseudo_frame(&format!("[{what} stack lost]"), DFLOW_MODULE);
        if user >= 0 {
            match self.probe.stack_trace(STACKS, user as u32)? {
                Some(ips) => {
                    let known = self.procs.get_mut(&pid).expect("known above");
                    if !known.refreshed && ips.iter().any(|&ip| known.maps.locate(ip).is_none()) {
                        known.refreshed = true;
                        if let Ok(maps) = ProcessMaps::capture(pid) {
                            known.maps = maps;
                        }
                    }
                    let user_frames = self.symbolizer.user(&known.maps, &ips);
                    let complete = user_frames
                        .first()
                        .is_some_and(|f| ENTRY_POINTS.contains(&f.function.as_str()))
                        || user_frames.len() >= crate::probe::wire::STACK_DEPTH;
                    if !complete {
                        frames.push(pseudo_frame(TRUNCATED, DFLOW_MODULE));
                    }
                    frames.extend(user_frames);
                }
                None => frames.push(lost("user")),
            }
        } else if user != -libc::EFAULT {
            // -EFAULT: no user stack (a kernel thread). Anything else: the
            // stack map was full or two stacks hashed alike.
            frames.push(pseudo_frame(TRUNCATED, DFLOW_MODULE));
            frames.push(lost("user"));
        }
        if kernel >= 0 {
            match self.probe.stack_trace(STACKS, kernel as u32)? {
                Some(ips) => {
                    let mut kernel = self.symbolizer.kernel(&ips);
                    // Off-CPU stacks are taken inside dflow's own program:
                    // its frames and the tracepoint glue are not the task's.
                    while kernel.last().is_some_and(|f| is_probe_frame(&f.function)) {
                        kernel.pop();
                    }
                    frames.extend(kernel);
                }
                None => frames.push(lost("kernel")),
            }
        } else if kernel != -libc::EFAULT && kernel != NO_STACK {
            frames.push(lost("kernel"));
        }
        Ok(stack(frames))
    }

    /// Delivered and lost counts so far (lost: samples the kernel could not
    /// count because a map was full).
    pub fn counters(&self) -> Result<ProbeCounters, ProbeError> {
        self.probe.counters()
    }

    /// Detaches every program and returns the final counters.
    pub fn finish(self) -> Result<ProbeCounters, ProbeError> {
        self.probe.finish()
    }
}

/// A kernel frame of the BPF program that took the stack, or of the
/// tracepoint machinery that ran it.
fn is_probe_frame(function: &str) -> bool {
    function.starts_with("bpf_prog_")
        || function.starts_with("bpf_trace_run")
        || function.starts_with("__bpf_trace_")
        || function.starts_with("perf_trace_")
        || function == "bpf_get_stackid_raw_tp"
}
