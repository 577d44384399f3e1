//! Shell completions and man pages from dflow's clap definition.
//!
//! The definition is its own crate (`crates/cli`), so generating these does
//! not build dflow itself (aya and the bundled DuckDB).

use dflow_cli as cli;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use clap::CommandFactory;
use clap_complete::Shell;

pub fn run(root: &Path, check: bool) -> anyhow::Result<()> {
    let files = generate()?;
    let mut stale = Vec::new();
    for (rel, bytes) in &files {
        let path = root.join(rel);
        let current = std::fs::read(&path).ok();
        if current.as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        if check {
            stale.push(rel.clone());
        } else {
            std::fs::create_dir_all(path.parent().expect("generated files live in a directory"))?;
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {rel}");
        }
    }
    // Files left over from a removed command are stale as well.
    for dir in ["completions", "man"] {
        for entry in std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let rel = format!("{dir}/{}", entry.file_name().to_string_lossy());
            if !files.contains_key(&rel) {
                if check {
                    stale.push(format!("{rel} (no longer generated)"));
                } else {
                    std::fs::remove_file(entry.path())?;
                    println!("removed {rel}");
                }
            }
        }
    }
    if !stale.is_empty() {
        bail!(
            "generated files are stale: {}; run `cargo xtask gen` and commit the result",
            stale.join(", ")
        );
    }
    if check {
        println!("completions/ and man/ are fresh ({} files)", files.len());
    }
    Ok(())
}

/// Every generated file, by path relative to the project root.
fn generate() -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    let mut cmd = command();
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, "dflow", &mut buf);
        let name = match shell {
            Shell::Bash => "dflow.bash".to_owned(),
            Shell::Zsh => "_dflow".to_owned(),
            Shell::Fish => "dflow.fish".to_owned(),
            Shell::Elvish => "dflow.elv".to_owned(),
            Shell::PowerShell => "_dflow.ps1".to_owned(),
            _ => unreachable!("only the shells listed above"),
        };
        files.insert(format!("completions/{name}"), buf);
    }
    let cmd = command();
    man_pages(&cmd, "dflow", &mut files)?;
    Ok(files)
}

/// The clap command as the binary builds it, minus the commit: man pages
/// must not change with every commit.
fn command() -> clap::Command {
    cli::Cli::command().version(dflow_version())
}

fn dflow_version() -> &'static str {
    // The version of the dflow package, read from its manifest at build time
    // of xtask, so both stay in step without xtask depending on dflow.
    const MANIFEST: &str = include_str!("../../Cargo.toml");
    MANIFEST
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("Cargo.toml has a version line")
}

/// One page for the command and each subcommand: `dflow.1`, `dflow-doctor.1`, ...
fn man_pages(
    cmd: &clap::Command,
    name: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> anyhow::Result<()> {
    let mut cmd = cmd.clone().name(name.to_owned()).version(dflow_version());
    cmd.build();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    files.insert(format!("man/{name}.1"), buf);
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let sub_name = format!("{name}-{}", sub.get_name());
        man_pages(sub, &sub_name, files)?;
    }
    Ok(())
}
