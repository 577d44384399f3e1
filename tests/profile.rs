//! `dflow profile` end to end, as a user runs it: the real binary, real
//! probes, a program built here, and the files it writes. Needs root.

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::burn;

/// Starts `dflow args...` and returns once it says it is sampling.
fn start_dflow(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(common::dflow_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dflow");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("dflow said nothing");
    assert!(
        first.starts_with("dflow: sampling"),
        "unexpected first line: {first}"
    );
    (child, rx)
}

/// Waits for dflow and returns its status, stdout and the rest of stderr.
fn finish(mut child: Child, rx: mpsc::Receiver<String>) -> (Output, String) {
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    let stderr: Vec<String> = rx.iter().collect();
    (
        Output {
            status,
            stdout,
            stderr: Vec::new(),
        },
        stderr.join("\n"),
    )
}

/// Sum of the folded values of lines whose frames include `function`.
fn value_through(folded: &str, function: &str) -> u64 {
    folded
        .lines()
        .filter(|l| {
            let (frames, _) = l.rsplit_once(' ').unwrap();
            frames.split(';').any(|f| f == function)
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum()
}

#[test]
fn on_cpu_shares_svg_pprof_session_and_replay() {
    if !common::root_or_skip("on_cpu_shares_svg_pprof_session_and_replay") {
        return;
    }
    let _cpu = common::cpu_measurement();
    let dir = common::TempDir::new("profile-oncpu");
    let bin = burn::build(&dir.0);
    let mut target = burn::spawn(&bin, &["burn", "6"]);
    let pid = target.id().to_string();
    let folded_path = dir.0.join("live.folded");
    let svg_path = dir.0.join("live.svg");
    let pprof_path = dir.0.join("live.pb.gz");
    let session = dir.0.join("s.duckdb");
    let (dflow, rx) = start_dflow(&[
        "profile",
        "-p",
        &pid,
        "-d",
        "5s",
        "-F",
        "999",
        "--folded",
        folded_path.to_str().unwrap(),
        "-o",
        svg_path.to_str().unwrap(),
        "--pprof",
        pprof_path.to_str().unwrap(),
        "--session",
        session.to_str().unwrap(),
    ]);
    burn::go(&mut target);
    let (out, stderr) = finish(dflow, rx);
    assert!(out.status.success(), "dflow failed: {stderr}");
    let truth = burn::measured_hot_share(target);

    let folded = std::fs::read_to_string(&folded_path).unwrap();
    let hot = value_through(&folded, "hot") as f64;
    let cold = value_through(&folded, "cold") as f64;
    let share = hot / (hot + cold);
    eprintln!(
        "hot {hot} cold {cold} share {share:.3}, measured by the program {truth:.3}\n{stderr}"
    );
    assert!(hot + cold > 2000.0, "too few samples:\n{folded}");
    assert!(
        (0.6..=0.8).contains(&truth),
        "the program did not split ~70/30 ({truth:.3}): a loaded machine?"
    );
    assert!(
        (share - truth).abs() <= 0.03,
        "hot share {share:.3}, the program measured {truth:.3} (want ± 0.03):\n{folded}"
    );
    // Every stack hangs from the process, through main.
    let root = format!("burn-{pid};");
    assert!(folded.lines().all(|l| l.starts_with(&root)), "{folded}");
    assert!(value_through(&folded, "main") as f64 >= 0.95 * (hot + cold));
    assert!(stderr.contains("samples at 999 Hz"), "no summary: {stderr}");
    assert!(
        stderr.contains("session "),
        "session path not printed: {stderr}"
    );

    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<?xml"), "not an SVG");
    for name in ["hot", "cold", "main"] {
        assert!(svg.contains(&format!(">{name} (")), "{name} not in the SVG");
    }
    // The pprof holds the same samples as the folded file.
    let mut pprof = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&pprof_path).unwrap())
        .read_to_end(&mut pprof)
        .expect("pprof is gzipped");
    let pprof = <dflow::profile::output::pprof::Profile as prost::Message>::decode(&pprof[..])
        .expect("pprof decodes as profile.proto");
    let folded_total: i64 = folded
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<i64>().unwrap())
        .sum();
    let pprof_total: i64 = pprof.sample.iter().map(|s| s.value[0]).sum();
    assert_eq!(pprof_total, folded_total);

    // The stored session folds to the same stacks, via --from and replay.
    let from_path = dir.0.join("from.folded");
    let out = common::dflow(&[
        "profile",
        "--from",
        session.to_str().unwrap(),
        "--folded",
        from_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&from_path).unwrap(), folded);
    let out = common::dflow(&["replay", session.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), folded);

    // One number of samples everywhere: the capture's summary, the folded
    // values, and `dflow sessions show` (which counted aggregate rows).
    let said: u64 = stderr
        .split(" samples at 999 Hz")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no sample count in: {stderr}"));
    assert_eq!(said, folded_total as u64, "{stderr}");
    let out = common::dflow(&["sessions", "show", "--json", session.to_str().unwrap()]);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert_eq!(info["samples"].as_u64(), Some(said), "{info}");
}

#[test]
fn off_cpu_time_of_naps_and_the_target_exiting() {
    if !common::root_or_skip("off_cpu_time_of_naps_and_the_target_exiting") {
        return;
    }
    let _cpu = common::cpu_measurement();
    let dir = common::TempDir::new("profile-offcpu");
    let bin = burn::build(&dir.0);
    let mut target = burn::spawn(&bin, &["nap"]);
    let pid = target.id().to_string();
    // No -d: dflow stops when the process exits.
    let (dflow, rx) = start_dflow(&["profile", "--off-cpu", "-p", &pid, "--no-session"]);
    burn::go(&mut target);
    let napped_us = burn::measured_nap_seconds(target) * 1e6;
    let (out, stderr) = finish(dflow, rx);
    assert!(out.status.success(), "dflow failed: {stderr}");
    assert!(
        stderr.contains(&format!("process {pid} exited")),
        "no note about the exit: {stderr}"
    );
    let folded = String::from_utf8(out.stdout).unwrap();
    // The sleep path: libc's and the kernel's nanosleep, then the
    // scheduler. (`nap` itself is skipped by frame-pointer unwinding: libc's
    // clock_nanosleep keeps no frame, so the walk returns straight to main.)
    let sleep_us: f64 = folded
        .lines()
        .filter(|l| l.contains("nanosleep") && l.contains(";schedule"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum();
    eprintln!("blocked in nanosleep: {sleep_us} µs, the program napped {napped_us} µs\n{stderr}");
    // 100 naps of 10 ms: 1 s, and more when wake-ups come late on a
    // loaded machine, which the program measures.
    assert!(
        (1_000_000.0..=1_100_000.0).contains(&napped_us),
        "the program napped {napped_us} µs: machine overloaded?"
    );
    assert!(
        (sleep_us / napped_us - 1.0).abs() <= 0.05,
        "{sleep_us} µs blocked in nanosleep, the program napped {napped_us} µs (want ± 5%):\n{folded}"
    );
    assert!(
        !folded.contains("bpf_prog_"),
        "dflow's own probe shows in the stacks:\n{folded}"
    );
}

#[test]
fn a_missing_pid_is_a_usage_error() {
    common::assert_missing_pid_is_a_usage_error("profile");
}

#[test]
fn without_privilege_exit_77() {
    if !common::root_or_skip("without_privilege_exit_77") {
        return;
    }
    common::assert_no_privilege_exits_77("profile");
}

#[test]
fn from_a_file_that_is_not_a_session() {
    let dir = common::TempDir::new("profile-from-bad");
    let bad = dir.0.join("bad.duckdb");
    std::fs::write(&bad, b"not a database").unwrap();
    let out = common::dflow(&[
        "profile",
        "--from",
        bad.to_str().unwrap(),
        "--folded",
        "/dev/null",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("dflow:")).count(),
        1,
        "{stderr}"
    );
    let _ = Path::new(&bad);
}
