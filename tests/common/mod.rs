//! Helpers shared by the integration tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;

pub mod burn;
pub mod fixtures;
pub mod tracing;

/// Whether this test may load probes. Without root it is skipped, unless
/// DFLOW_REQUIRE_BPF=1 (set by `.ci/run`), under which it fails instead.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("DFLOW_REQUIRE_BPF").is_some_and(|v| v == "1") {
        panic!("{test} needs root to load eBPF programs, and DFLOW_REQUIRE_BPF=1 forbids skipping");
    }
    eprintln!("skipping {test}: not root (set DFLOW_REQUIRE_BPF=1 to make this a failure)");
    false
}

/// The dflow binary cargo built for these tests.
pub fn dflow_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dflow"))
}

/// Runs the dflow binary with `args`, colour decided by flags alone.
pub fn dflow(args: &[&str]) -> std::process::Output {
    std::process::Command::new(dflow_bin())
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run dflow")
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "dflow-test-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs dflow as nobody without capabilities: a copy of the binary in a
/// world-readable place, since the build directory may sit under root's
/// home (mode 0700).
pub fn dflow_as_nobody(args: &[&str]) -> std::process::Output {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("nobody");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.0.join("dflow");
    std::fs::copy(dflow_bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&bin)
        .args(args)
        .current_dir(&dir.0)
        .output()
        .expect("run setpriv (util-linux)")
}

/// Held by tests that measure where CPU time goes: the test harness runs a
/// binary's tests in parallel on 2 CPUs, and a second busy program would
/// take CPU time from the one being profiled.
pub fn cpu_measurement() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Compiles the C program `source` as `dir/name` with `flags` (-no-pie).
pub fn compile_c(dir: &std::path::Path, name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&src, source).unwrap();
    let status = std::process::Command::new("cc")
        .args(flags)
        .args(["-no-pie", "-o"])
        .arg(&bin)
        .arg(&src)
        .arg("-lpthread")
        .status()
        .expect("run cc");
    assert!(status.success(), "cc failed");
    bin
}

/// `dflow COMMAND -p PID` for a pid that cannot exist: a usage error (exit
/// 2) that names the pid.
pub fn assert_missing_pid_is_a_usage_error(command: &str) {
    let out = dflow(&[command, "-p", "4194304", "--no-session"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("4194304"), "the pid is not named: {stderr}");
}

/// `dflow COMMAND` as nobody: exit 77, naming the capability.
pub fn assert_no_privilege_exits_77(command: &str) {
    let out = dflow_as_nobody(&[command, "-d", "1s", "--no-session"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{stderr}");
    assert!(stderr.contains("CAP_BPF"), "{stderr}");
}
