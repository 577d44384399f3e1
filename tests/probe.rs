//! The loader against the real kernel: filters apply in the kernel, events
//! arrive, loss is counted, and nothing stays loaded after any exit.
//! Needs root (see `common::root_or_skip`).

mod common;

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::symlink;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use dflow::event::SyscallEvent;
use dflow::probe::wire::SyscallRecord;
use dflow::probe::{Filters, Probe, objects};

/// A shell that waits for a line on stdin, then runs a few commands: its
/// system calls after the line are the ones a probe attached meanwhile sees.
fn gated_shell(program: &str) -> Child {
    Command::new(program)
        .args([
            "-c",
            "read _; for i in 1 2 3; do /bin/true; done; echo done",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn /bin/sh")
}

fn release(child: &mut Child) {
    writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
}

/// Loads syscalls.bpf.o with `filters`, starts its drain and attaches it.
fn attach_syscalls(filters: Filters) -> (Probe, Receiver<Vec<SyscallEvent>>) {
    let mut probe = Probe::load(objects::SYSCALLS, &filters, &[]).unwrap();
    let rx = probe.ring::<SyscallRecord>("dflow_sys_events").unwrap();
    probe
        .attach_tracepoint("dflow_sys_enter", "raw_syscalls", "sys_enter")
        .unwrap();
    (probe, rx)
}

/// Collects events until `quiet` passes without a batch.
fn collect(rx: &Receiver<Vec<SyscallEvent>>, quiet: Duration) -> Vec<SyscallEvent> {
    let mut all = Vec::new();
    while let Ok(batch) = rx.recv_timeout(quiet) {
        all.extend(batch);
    }
    all
}

/// Waits until none of `ids` is a loaded program (the kernel frees them
/// after an RCU grace period, so not always at once).
fn assert_unloaded(ids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let loaded: HashSet<u32> = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .map(|p| p.id())
            .collect();
        let left: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|id| loaded.contains(id))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "programs {left:?} are still loaded after their probe went away"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_loaded(ids: &[u32]) {
    let loaded: HashSet<u32> = aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .map(|p| p.id())
        .collect();
    assert!(!ids.is_empty(), "the probe recorded no program id");
    for id in ids {
        assert!(
            loaded.contains(id),
            "program {id} is not loaded while attached"
        );
    }
}

#[test]
fn pid_filter_sees_the_target_and_not_another_process() {
    if !common::root_or_skip("pid_filter_sees_the_target_and_not_another_process") {
        return;
    }
    let mut target = gated_shell("/bin/sh");
    let mut other = gated_shell("/bin/sh");
    let (probe, rx) = attach_syscalls(Filters {
        pids: vec![target.id()],
        ..Filters::default()
    });
    let ids = probe.program_ids().to_vec();
    assert_loaded(&ids);

    release(&mut target);
    release(&mut other);
    assert!(target.wait().unwrap().success());
    assert!(other.wait().unwrap().success());
    let counters = probe.finish().unwrap();
    let events = collect(&rx, Duration::from_millis(200));

    let pids: HashSet<u32> = events.iter().map(|e| e.pid).collect();
    assert!(
        pids.contains(&target.id()),
        "no event from the target pid {}",
        target.id()
    );
    assert!(
        !pids.contains(&other.id()),
        "events from pid {} leaked through the pid filter",
        other.id()
    );
    assert_eq!(
        pids.len(),
        1,
        "events from pids other than the target: {pids:?}"
    );
    // The shell forks once per /bin/true (clone, clone3 or vfork, as the
    // shell likes), waits for each, and writes "done".
    let nrs: HashSet<i64> = events.iter().map(|e| e.nr).collect();
    let forks = [
        libc::SYS_clone,
        libc::SYS_clone3,
        libc::SYS_vfork,
        libc::SYS_fork,
    ];
    assert!(
        forks.iter().any(|nr| nrs.contains(nr)),
        "no fork of the target: {nrs:?}"
    );
    for nr in [libc::SYS_wait4, libc::SYS_write] {
        assert!(
            nrs.contains(&nr),
            "syscall {nr} of the target is missing: {nrs:?}"
        );
    }
    assert!(
        events.iter().all(|e| e.comm == "sh"),
        "comm decoded wrongly"
    );
    assert_eq!(counters.delivered, events.len() as u64);
    assert_eq!(counters.lost, 0);
    assert_unloaded(&ids);
}

#[test]
fn comm_filter_selects_by_command_name() {
    if !common::root_or_skip("comm_filter_selects_by_command_name") {
        return;
    }
    let dir = common::TempDir::new("comm");
    let renamed = dir.0.join("dflowcommtest");
    symlink("/bin/sh", &renamed).unwrap();
    // One comm is compared in place by the program; past eight the comms
    // are looked up in a map instead: both must select the same.
    let decoys = (0..8).map(|i| format!("decoy{i}"));
    for comms in [
        vec!["dflowcommtest".to_owned()],
        decoys.chain(["dflowcommtest".to_owned()]).collect(),
    ] {
        let (probe, rx) = attach_syscalls(Filters {
            comms: comms.clone(),
            ..Filters::default()
        });
        let mut target = gated_shell(renamed.to_str().unwrap());
        let mut other = gated_shell("/bin/sh");
        release(&mut target);
        release(&mut other);
        assert!(target.wait().unwrap().success());
        assert!(other.wait().unwrap().success());
        drop(probe);
        let events = collect(&rx, Duration::from_millis(200));

        assert!(
            events.iter().any(|e| e.pid == target.id()),
            "no event from the renamed shell with {} comms",
            comms.len()
        );
        assert!(
            events.iter().all(|e| e.comm == "dflowcommtest"),
            "events from other commands leaked through the comm filter of {} comms",
            comms.len()
        );
        assert!(!events.iter().any(|e| e.pid == other.id()));
    }
}

#[test]
fn overload_drops_and_counts_without_stalling_the_target() {
    if !common::root_or_skip("overload_drops_and_counts_without_stalling_the_target") {
        return;
    }
    // dd with 1-byte blocks makes two system calls per byte: 2M of them,
    // far more than the 1 MiB ring and the channel hold while nobody reads.
    // It starts (exec'd by the shell, same pid) once the probe is attached:
    // started before, its first tens of thousands of calls went unseen.
    let mut dd = Command::new("sh")
        .args([
            "-c",
            "read go; exec dd if=/dev/zero of=/dev/null bs=1 count=1000000",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (probe, rx) = attach_syscalls(Filters {
        pids: vec![dd.id()],
        ..Filters::default()
    });
    {
        use std::io::Write as _;
        let mut go = dd.stdin.take().unwrap();
        writeln!(go, "go").unwrap();
    }
    let start = Instant::now();
    let status = dd.wait().unwrap();
    let ran = start.elapsed();
    assert!(status.success());
    // Nobody has read `rx` so far: the drain has waited and the kernel dropped.
    let live = probe.counters().unwrap();
    assert!(live.lost > 0, "no loss counted under overload: {live:?}");
    let counters = probe.finish().unwrap();
    let mut received = 0u64;
    while let Ok(batch) = rx.try_recv() {
        received += batch.len() as u64;
    }
    assert_eq!(
        received, counters.delivered,
        "delivered count disagrees with what arrived"
    );
    // Every syscall of dd after attach was either delivered or counted lost.
    assert!(
        counters.delivered + counters.lost >= 1_000_000,
        "events vanished uncounted: {counters:?}"
    );
    assert!(
        ran < Duration::from_secs(60),
        "the traced process was stalled: dd took {ran:?}"
    );
}

#[test]
fn probes_detach_when_a_panic_unwinds() {
    if !common::root_or_skip("probes_detach_when_a_panic_unwinds") {
        return;
    }
    let ids = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        let (probe, _rx) = attach_syscalls(Filters {
            pids: vec![std::process::id()],
            ..Filters::default()
        });
        ids.lock().unwrap().extend_from_slice(probe.program_ids());
        assert_loaded(probe.program_ids());
        panic!("deliberate panic while a probe is attached");
    });
    assert!(result.is_err());
    assert_unloaded(&ids.into_inner().unwrap());
}

/// Run in a child process by `probes_detach_when_the_holder_is_killed`:
/// attaches a probe, prints its program ids, and waits to be killed.
#[test]
#[ignore = "a helper that `probes_detach_when_the_holder_is_killed` runs in a child"]
fn child_holding_a_probe() {
    let filters = Filters {
        pids: vec![std::process::id()],
        ..Filters::default()
    };
    let mut probe = Probe::load(objects::SYSCALLS, &filters, &[]).unwrap();
    probe
        .attach_tracepoint("dflow_sys_enter", "raw_syscalls", "sys_enter")
        .unwrap();
    let ids: Vec<String> = probe.program_ids().iter().map(u32::to_string).collect();
    println!("PROGRAM_IDS {}", ids.join(","));
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn probes_detach_when_the_holder_is_killed() {
    if !common::root_or_skip("probes_detach_when_the_holder_is_killed") {
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holding_a_probe",
            "--ignored",
            "--nocapture",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ids = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest may print "test child_holding_a_probe ... " on the same line.
        if let Some((_, list)) = line.split_once("PROGRAM_IDS ") {
            ids = list.split(',').map(|s| s.parse::<u32>().unwrap()).collect();
            break;
        }
    }
    assert!(!ids.is_empty(), "the child printed no program ids");
    assert_loaded(&ids);
    child.kill().unwrap(); // SIGKILL: no destructor runs in the child
    child.wait().unwrap();
    assert_unloaded(&ids);
}
