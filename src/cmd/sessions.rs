//! `dflow sessions [list | show FILE | rm FILE...]`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{OutputConfig, SessionsConfig};
use crate::output;
use crate::store::{SessionInfo, SessionSet, StoreError, path, spool};

pub fn run(
    config: &SessionsConfig,
    output: &OutputConfig,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match config {
        SessionsConfig::List => list(output, out),
        SessionsConfig::Show(file) => {
            let info = describe(file)?;
            output::sessions::show(out, &info, output.json, output.color)?;
            Ok(())
        }
        SessionsConfig::Rm(files) => rm(files, output, out),
    }
}

fn read_one(file: &Path) -> Result<SessionInfo, StoreError> {
    let set = SessionSet::open(&[file.to_owned()])?;
    Ok(set.infos()?.remove(0))
}

/// A session file's details; a running capture's from its log's metadata.
fn describe(file: &Path) -> Result<SessionInfo, StoreError> {
    match read_one(file) {
        Err(e @ StoreError::Locked { .. }) => match spool::running(file) {
            Ok(Some((meta, pid, size))) => Ok(SessionInfo::running(file, meta, pid, size)),
            _ => Err(e),
        },
        other => other,
    }
}

fn list(output: &OutputConfig, out: &mut impl Write) -> anyhow::Result<()> {
    let dir = path::sessions_dir()?;
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "duckdb"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(StoreError::Io { path: dir, source }.into()),
    };
    files.sort();
    let mut infos = Vec::new();
    let mut unreadable = Vec::new();
    for file in files {
        match describe(&file) {
            Ok(info) => infos.push(info),
            Err(e) => unreadable.push((file, e)),
        }
    }
    output::sessions::list(out, &dir, &infos, output.json, output.color)?;
    if !output.quiet {
        for (file, e) in unreadable {
            crate::say!(
                "dflow: skipped {}: {}",
                file.display(),
                crate::error_chain(&e)
            );
        }
    }
    Ok(())
}

/// Checks every file first, so a typo deletes nothing.
fn rm(files: &[PathBuf], output: &OutputConfig, out: &mut impl Write) -> anyhow::Result<()> {
    for file in files {
        read_one(file)?;
    }
    for file in files {
        let wal = PathBuf::from(format!("{}.wal", file.display()));
        std::fs::remove_file(file).map_err(|source| StoreError::Io {
            path: file.clone(),
            source,
        })?;
        if wal.exists() {
            std::fs::remove_file(&wal).map_err(|source| StoreError::Io { path: wal, source })?;
        }
        if !output.quiet {
            writeln!(out, "removed {}", file.display())?;
        }
    }
    Ok(())
}
