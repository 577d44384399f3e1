//! Building the eBPF objects reproducibly.
//!
//! Every `ebpf/*.bpf.c` is compiled with Debian's clang-19 from inside
//! `ebpf/`, with relative paths and fixed flags only, then `llvm-strip-19 -g`
//! drops DWARF and keeps BTF (CO-RE needs it). The same sources and tools
//! give byte-identical objects, which `--check` relies on.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

const CLANG: &str = "clang-19";
const STRIP: &str = "llvm-strip-19";

pub fn run(root: &Path, check: bool) -> anyhow::Result<()> {
    let src_dir = root.join("ebpf");
    let committed = src_dir.join("obj");
    let sources = sources(&src_dir)?;
    if sources.is_empty() {
        bail!("no ebpf/*.bpf.c sources");
    }
    for tool in [CLANG, STRIP] {
        Command::new(tool)
            .arg("--version")
            .output()
            .with_context(|| {
                format!(
                    "{tool} not found; install it with: apt-get install clang-19 llvm-19 libbpf-dev"
                )
            })?;
    }
    let out_dir = if check {
        let dir = std::env::temp_dir().join(format!("dflow-ebpf-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        dir
    } else {
        std::fs::create_dir_all(&committed)?;
        committed.clone()
    };
    let result = build_all(&src_dir, &sources, &out_dir).and_then(|built| {
        if check {
            compare(&committed, &out_dir, &built)
        } else {
            for obj in &built {
                println!("wrote ebpf/obj/{obj}");
            }
            Ok(())
        }
    });
    if check {
        let _ = std::fs::remove_dir_all(&out_dir);
    }
    result
}

fn sources(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".bpf.c") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Builds each source into `out_dir`; returns the object file names.
fn build_all(src_dir: &Path, sources: &[String], out_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut built = Vec::new();
    for source in sources {
        let obj = source.replace(".bpf.c", ".bpf.o");
        let out: PathBuf = out_dir.join(&obj);
        let status = Command::new(CLANG)
            .current_dir(src_dir)
            .args([
                "-O2",
                "-g",
                "-target",
                "bpf",
                "-D__TARGET_ARCH_x86",
                "-I.",
                // Reproducible: no absolute paths or build directory in the object.
                "-fdebug-compilation-dir=.",
                "-ffile-prefix-map=..=..",
                "-Wall",
                "-Werror",
                "-c",
                source,
                "-o",
            ])
            .arg(&out)
            .status()
            .with_context(|| format!("running {CLANG}"))?;
        if !status.success() {
            bail!("{CLANG} failed on ebpf/{source}");
        }
        let status = Command::new(STRIP)
            .arg("-g")
            .arg(&out)
            .status()
            .with_context(|| format!("running {STRIP}"))?;
        if !status.success() {
            bail!("{STRIP} failed on {}", out.display());
        }
        built.push(obj);
    }
    Ok(built)
}

fn compare(committed: &Path, fresh: &Path, built: &[String]) -> anyhow::Result<()> {
    let mut stale = Vec::new();
    for obj in built {
        let old = std::fs::read(committed.join(obj)).ok();
        let new = std::fs::read(fresh.join(obj))?;
        if old.as_deref() != Some(new.as_slice()) {
            stale.push(obj.clone());
        }
    }
    // Objects without a source are stale too.
    for entry in std::fs::read_dir(committed).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".bpf.o") && !built.contains(&name) {
            stale.push(format!("{name} (no source)"));
        }
    }
    if stale.is_empty() {
        println!("ebpf/obj is fresh ({} objects)", built.len());
        Ok(())
    } else {
        bail!(
            "ebpf/obj is stale: {}; run `cargo xtask ebpf` and commit the result",
            stale.join(", ")
        )
    }
}

pub fn vmlinux(root: &Path) -> anyhow::Result<()> {
    let out = Command::new("bpftool")
        .args([
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "c",
        ])
        .output()
        .context("running bpftool (apt-get install bpftool)")?;
    if !out.status.success() {
        bail!(
            "bpftool failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let path = root.join("ebpf/vmlinux.h");
    std::fs::write(&path, out.stdout)?;
    println!("wrote {}", path.display());
    Ok(())
}
