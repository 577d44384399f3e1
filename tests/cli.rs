//! The binary as a user meets it: `doctor` on this host, privilege, usage
//! errors, version, colour.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn doctor_json_reports_this_host() {
    if !common::root_or_skip("doctor_json_reports_this_host") {
        return;
    }
    let out = common::dflow(&["doctor", "--json"]);
    let stdout = text(&out.stdout);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("doctor --json printed invalid JSON ({e}):\n{stdout}"));

    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(report["kernel"], release.trim());

    let types = report["program_types"]
        .as_object()
        .expect("program_types object");
    let mut names: Vec<&str> = types.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "fentry",
            "kprobe",
            "perf_event",
            "raw_tp",
            "tp_btf",
            "tracepoint",
            "uprobe"
        ]
    );
    for (name, check) in types {
        let available = check["available"].as_bool().expect("available is a bool");
        let error = &check["error"];
        if available {
            assert!(
                error.is_null(),
                "{name} is available but has an error: {error}"
            );
        } else {
            let error = error
                .as_str()
                .expect("an unavailable type has an error string");
            assert!(!error.is_empty(), "{name}: empty error");
        }
    }
    // What dflow's core needs works on every kernel dflow supports.
    for name in ["tracepoint", "tp_btf", "raw_tp", "uprobe", "perf_event"] {
        assert_eq!(
            types[name]["available"], true,
            "{name}: {}",
            types[name]["error"]
        );
    }
    // kprobe works exactly when the kernel has the kprobe PMU (these
    // development machines have not: kprobes are not built).
    let kprobe_pmu = Path::new("/sys/bus/event_source/devices/kprobe").exists();
    assert_eq!(
        types["kprobe"]["available"], kprobe_pmu,
        "{}",
        types["kprobe"]["error"]
    );

    let features = report["features"].as_object().expect("features object");
    let mut names: Vec<&str> = features.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["flow", "l7_trace", "off_cpu", "on_cpu", "tls_capture"]
    );
    // These machines have BTF, tp_btf and the sock tracepoints (6.18).
    assert_eq!(
        features["l7_trace"]["status"], "available",
        "{}",
        features["l7_trace"]
    );
    for (name, f) in features {
        let status = f["status"].as_str().expect("status string");
        assert!(
            ["available", "degraded", "unavailable"].contains(&status),
            "{name}: status {status}"
        );
        assert_eq!(f["reason"].is_null(), status == "available", "{name}: {f}");
    }
    // What this build does not do is not reported as available, whatever
    // the host offers (`tls_capture` said available because uprobes work).
    for name in ["flow", "tls_capture"] {
        assert_eq!(features[name]["status"], "unavailable", "{name}");
        let reason = features[name]["reason"].as_str().unwrap();
        assert!(reason.contains("not in this build"), "{name}: {reason}");
    }
    assert_eq!(
        report["ring_buffer"]["available"], true,
        "{}",
        report["ring_buffer"]
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "doctor must exit 0 where trace and on-CPU work; stderr: {}",
        text(&out.stderr)
    );
}

#[test]
fn doctor_text_report_names_every_check() {
    if !common::root_or_skip("doctor_text_report_names_every_check") {
        return;
    }
    let out = common::dflow(&["doctor", "--color", "never"]);
    let stdout = text(&out.stdout);
    for word in [
        "kernel",
        "BTF",
        "lockdown",
        "tracefs",
        "perf_event_paranoid",
        "capabilities",
        "tracepoint",
        "tp_btf",
        "raw_tp",
        "kprobe",
        "fentry",
        "uprobe",
        "perf_event",
        "L7 trace",
        "TLS capture",
        "flow",
        "on-CPU",
        "off-CPU",
    ] {
        assert!(stdout.contains(word), "'{word}' missing from:\n{stdout}");
    }
    assert!(!stdout.contains('\x1b'), "--color never printed escapes");
    let coloured = common::dflow(&["doctor", "--color", "always"]);
    assert!(
        text(&coloured.stdout).contains("\x1b["),
        "--color always printed none"
    );
    // NO_COLOR turns colour off when the choice is automatic.
    let plain = Command::new(common::dflow_bin())
        .args(["doctor"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!text(&plain.stdout).contains('\x1b'));
}

#[test]
fn doctor_without_privilege_exits_77_naming_cap_bpf() {
    if !common::root_or_skip("doctor_without_privilege_exits_77_naming_cap_bpf") {
        return;
    }
    let out = common::dflow_as_nobody(&["doctor", "--json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "stderr: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("dflow: "), "{stderr}");
    assert!(
        first.contains("CAP_BPF"),
        "the message does not name CAP_BPF: {stderr}"
    );
    assert!(stderr.contains("sudo"), "no hint to use sudo: {stderr}");
    // The report is still printed, and says what is missing.
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report on stdout");
    assert_eq!(report["program_types"]["tracepoint"]["available"], false);
    assert!(
        report["capabilities"]["missing"]
            .as_array()
            .unwrap()
            .contains(&Value::from("CAP_BPF"))
    );
}

/// Distribution packages strip binaries; the uprobe check must not depend
/// on dflow's own symbol table.
#[test]
fn doctor_checks_uprobes_from_a_stripped_binary() {
    if !common::root_or_skip("doctor_checks_uprobes_from_a_stripped_binary") {
        return;
    }
    let dir = common::TempDir::new("stripped");
    let bin = dir.0.join("dflow");
    std::fs::copy(common::dflow_bin(), &bin).unwrap();
    let strip = Command::new("strip")
        .arg(&bin)
        .status()
        .expect("run strip (binutils)");
    assert!(strip.success());
    let out = Command::new(&bin)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(
        report["program_types"]["uprobe"]["available"], true,
        "{}",
        report["program_types"]["uprobe"]["error"]
    );
}

#[test]
fn version_names_the_commit() {
    let out = common::dflow(&["--version"]);
    assert!(out.status.success());
    let line = text(&out.stdout);
    assert!(
        line.starts_with(&format!("dflow {} (", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    let commit = line
        .trim()
        .rsplit('(')
        .next()
        .unwrap()
        .trim_end_matches(')');
    assert!(!commit.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["doctor", "--no-such-flag"][..],
        &["no-such-command"],
        &[],
        &["--color", "sometimes", "doctor"],
    ] {
        let out = common::dflow(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "dflow {args:?}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).is_empty(), "dflow {args:?} said nothing");
    }
}

/// Every refused command line reads like dflow's other errors: one
/// `dflow:` line and one `hint:` line, exit 2; and a duration too long to
/// represent is refused there instead of panicking mid-capture.
#[test]
fn usage_errors_are_one_line_and_a_hint() {
    for args in [
        &["replay"][..],
        &["trace", "-d", "2"],
        &["trace", "-d", "18446744073709551615s", "--no-session"],
        &["profile", "-d", "18446744073709551615s", "--no-session"],
        &["trace", "--min-latency", "18446744073709551615s"],
        &["doctor", "--no-such-flag"],
        &["--color", "sometimes", "doctor"],
    ] {
        let out = common::dflow(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "dflow {args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "dflow {args:?}: {stderr}");
        assert!(lines[0].starts_with("dflow: "), "dflow {args:?}: {stderr}");
        assert!(lines[1].starts_with("hint: "), "dflow {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "dflow {args:?}: {stderr}");
    }
    let out = common::dflow(&["trace", "-d", "18446744073709551615s"]);
    assert!(text(&out.stderr).contains("at most 3650 days"));
}

#[test]
fn help_has_examples() {
    for args in [&["--help"][..], &["doctor", "--help"]] {
        let out = common::dflow(args);
        assert!(out.status.success());
        assert!(text(&out.stdout).contains("Examples:"), "dflow {args:?}");
    }
}
