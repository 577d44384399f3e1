//! What the benchmark binaries share: running their parts with the load
//! average around each, the summary, the working directory, and building
//! their C workloads.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The 1-minute load average, for the figures' context.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Compiles the C program `source` as `dir/name` (-O2 -Wall -lpthread, plus
/// `extra`).
pub fn build_c(dir: &Path, name: &str, source: &str, extra: &[&str]) -> Result<PathBuf, String> {
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&src, source).map_err(|e| format!("cannot write {}: {e}", src.display()))?;
    let out = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&bin)
        .arg(&src)
        .args(extra)
        .arg("-lpthread")
        .output()
        .map_err(|e| format!("cannot run cc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cc failed on {name}.c: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(bin)
}

/// Runs each of `parts` in a fresh working directory named after `tag`:
/// prints each part's lines (indented lines are details) with the load
/// average before and after, then, for several parts, the headlines again.
/// `DFLOW_BENCH_KEEP=1` keeps the directory.
pub fn run_parts(
    tag: &str,
    parts: &[String],
    mut run: impl FnMut(&str, &Path) -> Result<Vec<String>, String>,
) {
    let dir = std::env::temp_dir().join(format!("dflow-bench-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut headlines = Vec::new();
    for part in parts {
        let load_before = load_average();
        match run(part, &dir) {
            Ok(mut lines) => {
                // Other work on the machine shows here, and in the spreads.
                lines.push(format!(
                    "    load average       {load_before} at the start, {} at the end (1 min)",
                    load_average()
                ));
                for line in &lines {
                    println!("  {line}");
                }
                headlines.extend(lines.into_iter().filter(|l| !l.starts_with(' ')));
            }
            Err(why) => {
                let line = format!("{part}: skipped: {why}");
                println!("  {line}");
                headlines.push(line);
            }
        }
    }
    if parts.len() > 1 {
        println!("summary");
        for line in &headlines {
            println!("  {line}");
        }
    }
    if std::env::var_os("DFLOW_BENCH_KEEP").is_some() {
        eprintln!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The benchmark's command line: the parts named (all of `parts` when none
/// is), and each flag of `numeric` with its number, handed to `set`. Other
/// flags are ignored: `cargo bench` passes `--bench`.
pub fn parse_args(parts: &[&str], numeric: &[&str], mut set: impl FnMut(&str, f64)) -> Vec<String> {
    let mut chosen = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if numeric.contains(&arg.as_str()) {
            let value = args
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{arg} needs a number"));
            set(&arg, value);
        } else if parts.contains(&arg.as_str()) {
            chosen.push(arg);
        } else if !arg.starts_with("--") {
            panic!("unknown part {arg:?}; the parts are {parts:?}");
        }
    }
    if chosen.is_empty() {
        chosen = parts.iter().map(|s| (*s).to_owned()).collect();
    }
    chosen
}
