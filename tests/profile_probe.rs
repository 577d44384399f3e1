//! profile.bpf.c against the real kernel: on-CPU samples of a program built
//! here land in its functions in the proportion it burns CPU in them, and
//! off-CPU time adds up to how long it slept. Symbols come from `nm` on the
//! non-PIE test program, so this tests the probe, not a symbolizer.
//! Needs root and a C compiler.

mod common;

use common::burn;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use dflow::probe::wire::{StackKey, StackValue};
use dflow::probe::{Filters, Global, Probe, objects};
use dflow::process::ProcessMaps;
use dflow::profile::symbolize::Symbolizer;

/// Function name → [start, end) from `nm -S`.
fn symbols(bin: &Path) -> HashMap<String, (u64, u64)> {
    let out = Command::new("nm")
        .arg("-S")
        .arg(bin)
        .output()
        .expect("run nm");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() == 4 && (f[2] == "T" || f[2] == "t") {
                let start = u64::from_str_radix(f[0], 16).ok()?;
                let size = u64::from_str_radix(f[1], 16).ok()?;
                Some((f[3].to_owned(), (start, start + size)))
            } else {
                None
            }
        })
        .collect()
}

fn function_of(ip: u64, syms: &HashMap<String, (u64, u64)>) -> Option<&str> {
    syms.iter()
        .find(|(_, (start, end))| (*start..*end).contains(&ip))
        .map(|(name, _)| name.as_str())
}

/// The child's mappings once its exec has mapped `bin` (spawn returns
/// while the kernel may still be building the new address space).
fn captured_maps(pid: u32, bin: &Path) -> ProcessMaps {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        if text.contains(bin.to_str().unwrap()) {
            return ProcessMaps::parse(&text);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never mapped",
            bin.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn on_cpu_samples_land_where_the_cpu_time_goes() {
    if !common::root_or_skip("on_cpu_samples_land_where_the_cpu_time_goes") {
        return;
    }
    let _cpu = common::cpu_measurement();
    let dir = common::TempDir::new("oncpu");
    let bin = burn::build(&dir.0);
    let syms = symbols(&bin);
    let mut child = burn::spawn(&bin, &[]);
    // What symbolization needs, taken while the process is alive.
    let maps = captured_maps(child.id(), &bin);
    let filters = Filters {
        pids: vec![child.id()],
        ..Filters::default()
    };
    let mut probe = Probe::load(
        objects::PROFILE,
        &filters,
        &[("dflow_per_thread", Global::U32(0))],
    )
    .unwrap();
    let cpus = aya::util::online_cpus().unwrap();
    let scopes: Vec<PerfEventScope> = cpus
        .iter()
        .map(|&cpu| PerfEventScope::AllProcessesOneCpu { cpu })
        .collect();
    probe
        .attach_perf_event(
            "dflow_on_cpu",
            PerfEventConfig::Software(SoftwareEvent::CpuClock),
            &scopes,
            SamplePolicy::Frequency(999),
        )
        .unwrap();
    let pid = child.id();
    burn::go(&mut child);
    let truth = burn::measured_hot_share(child);

    let counts: Vec<(StackKey, StackValue)> = probe.read_hash("dflow_oncpu").unwrap();
    assert!(
        counts.iter().all(|(k, _)| k.pid == pid),
        "the pid filter leaked"
    );
    let mut by_leaf: HashMap<&str, u64> = HashMap::new();
    let mut by_symbolized_leaf: HashMap<String, u64> = HashMap::new();
    let symbolizer = Symbolizer::default();
    let mut total = 0;
    for (key, value) in &counts {
        total += value.count;
        assert!(key.kernel_stack_id >= 0 || key.kernel_stack_id == -libc::EFAULT);
        if key.user_stack_id < 0 {
            continue;
        }
        let ips = probe
            .stack_trace("dflow_stacks", key.user_stack_id as u32)
            .unwrap()
            .unwrap();
        let leaf = ips
            .first()
            .and_then(|ip| function_of(*ip, &syms))
            .unwrap_or("other");
        *by_leaf.entry(leaf).or_default() += value.count;
        // blazesym, from the maps captured before the process exited, agrees.
        let frames = symbolizer.user(&maps, &ips);
        let named = frames
            .last()
            .map_or("other".to_owned(), |f| f.function.clone());
        *by_symbolized_leaf.entry(named).or_default() += value.count;
    }
    // ~2 s of one busy thread at 999 Hz.
    assert!(total > 1200, "only {total} samples: {by_leaf:?}");
    let hot = by_leaf.get("hot").copied().unwrap_or(0) as f64;
    let cold = by_leaf.get("cold").copied().unwrap_or(0) as f64;
    let share = hot / (hot + cold);
    eprintln!(
        "on-CPU: {total} samples, hot share {share:.3} (measured {truth:.3}), by leaf {by_leaf:?}"
    );
    assert!(
        (share - truth).abs() <= 0.05,
        "hot share {share:.3}, the program measured {truth:.3}: {by_leaf:?}"
    );
    assert_eq!(probe.counters().unwrap().lost, 0);
    for name in ["hot", "cold"] {
        assert_eq!(
            by_symbolized_leaf.get(name).copied(),
            by_leaf.get(name).copied(),
            "blazesym and nm disagree on {name}: {by_symbolized_leaf:?} vs {by_leaf:?}"
        );
    }
}

#[test]
fn off_cpu_time_adds_up_to_the_sleep() {
    if !common::root_or_skip("off_cpu_time_adds_up_to_the_sleep") {
        return;
    }
    let _cpu = common::cpu_measurement();
    off_cpu_through(|probe| probe.attach_btf_tracepoint("dflow_off_btf", "sched_switch"));
}

/// The fallback for kernels without tp_btf gives the same answer.
#[test]
fn off_cpu_tracepoint_fallback_agrees() {
    if !common::root_or_skip("off_cpu_tracepoint_fallback_agrees") {
        return;
    }
    let _cpu = common::cpu_measurement();
    off_cpu_through(|probe| probe.attach_tracepoint("dflow_off_tp", "sched", "sched_switch"));
}

fn off_cpu_through(attach: impl FnOnce(&mut Probe) -> Result<(), dflow::probe::ProbeError>) {
    let dir = common::TempDir::new("offcpu");
    let bin = burn::build(&dir.0);
    let syms = symbols(&bin);
    let mut child = burn::spawn(&bin, &["nap"]);
    let filters = Filters {
        pids: vec![child.id()],
        ..Filters::default()
    };
    let mut probe = Probe::load(
        objects::PROFILE,
        &filters,
        &[("dflow_min_block_ns", Global::U64(1000))],
    )
    .unwrap();
    attach(&mut probe).unwrap();
    let pid = child.id();
    burn::go(&mut child);
    let napped = burn::measured_nap_seconds(child);

    let counts: Vec<(StackKey, StackValue)> = probe.read_hash("dflow_offcpu").unwrap();
    let mut total_ns = 0u64;
    let mut in_program_ns = 0u64;
    let mut kernel_frames = Vec::new();
    for (key, value) in &counts {
        assert_eq!(key.pid, pid);
        total_ns += value.total_ns;
        if key.kernel_stack_id >= 0 {
            let ips = probe
                .stack_trace("dflow_stacks", key.kernel_stack_id as u32)
                .unwrap()
                .unwrap_or_default();
            kernel_frames.extend(Symbolizer::default().kernel(&ips));
        }
        if key.user_stack_id >= 0 {
            let ips = probe
                .stack_trace("dflow_stacks", key.user_stack_id as u32)
                .unwrap()
                .unwrap_or_default();
            if ips
                .iter()
                .any(|ip| matches!(function_of(*ip, &syms), Some("nap" | "main")))
            {
                in_program_ns += value.total_ns;
            }
        }
    }
    let secs = total_ns as f64 / 1e9;
    eprintln!("off-CPU: {secs:.4} s blocked, {in_program_ns} ns through nap/main");
    // 100 naps of 10 ms (late wake-ups included, as the program measured
    // them), plus the wait for "go".
    assert!(
        (secs / napped - 1.0).abs() <= 0.05,
        "blocked {secs:.3} s, the program napped {napped:.3} s: {counts:?}"
    );
    assert!(
        in_program_ns as f64 >= 0.95 * total_ns as f64,
        "only {in_program_ns} of {total_ns} ns on stacks through nap/main"
    );
    // Blocked threads leave the CPU through the scheduler; kallsyms names it.
    assert!(
        kernel_frames
            .iter()
            .any(|f| f.kernel && f.function.contains("schedule")),
        "no scheduler frame in the kernel stacks: {kernel_frames:?}"
    );
}

/// The sampler's stacks: with frame pointers they reach the program's
/// entry point; built without them they are marked truncated and the
/// summary names the binary.
#[test]
fn sampler_marks_stacks_without_frame_pointers_truncated() {
    if !common::root_or_skip("sampler_marks_stacks_without_frame_pointers_truncated") {
        return;
    }
    let _cpu = common::cpu_measurement();
    use dflow::config::{Mode, SamplerConfig};
    use dflow::profile::fold::Profile;
    use dflow::profile::sampler::Sampler;

    let dir = common::TempDir::new("truncated");
    let with = burn::build(&dir.0);
    let without = burn::build_without_frame_pointers(&dir.0);
    for (bin, want_truncated) in [(&with, false), (&without, true)] {
        let mut child = burn::spawn(bin, &["burn", "1"]);
        let mut sampler = Sampler::start(SamplerConfig {
            pids: vec![child.id()],
            comms: Vec::new(),
            mode: Mode::ON_CPU,
            hz: 999,
            min_block: std::time::Duration::from_micros(1),
            kernel_stacks: true,
            per_thread: false,
        })
        .unwrap();
        burn::go(&mut child);
        assert!(child.wait().unwrap().success());
        let samples = sampler.poll(&mut |_, _| {}).unwrap();
        let mut profile = Profile::new(Mode::ON_CPU, 999);
        profile.extend(&samples);
        let summary = profile.summary();
        let roots: std::collections::BTreeSet<String> = samples
            .iter()
            .filter_map(|s| s.stack.first().map(|f| f.function.clone()))
            .collect();
        eprintln!("{}: {summary:?}, roots {roots:?}", bin.display());
        assert!(summary.samples > 500, "{summary:?}");
        if want_truncated {
            assert!(
                summary.truncated_pct() > 50.0,
                "{summary:?} roots {roots:?}"
            );
            assert!(
                summary
                    .lacking_frame_pointers
                    .contains(&bin.display().to_string()),
                "{summary:?}"
            );
        } else {
            assert!(summary.truncated_pct() < 5.0, "{summary:?} roots {roots:?}");
        }
        let name = bin.file_name().unwrap().to_str().unwrap();
        assert_eq!(samples[0].process.comm, name);
        sampler.finish().unwrap();
    }
}
