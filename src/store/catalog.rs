//! The session files of this host: each one's details, the list of them,
//! and their removal.

use std::path::{Path, PathBuf};

use super::{SessionInfo, SessionSet, StoreError, path, spool};

fn read_one(file: &Path) -> Result<SessionInfo, StoreError> {
    let set = SessionSet::open(&[file.to_owned()])?;
    Ok(set.infos()?.remove(0))
}

/// A session file's details; a running capture's from its log's metadata.
pub fn describe(file: &Path) -> Result<SessionInfo, StoreError> {
    match read_one(file) {
        Err(e @ StoreError::Locked { .. }) => match spool::running(file) {
            Ok(Some((meta, pid, size))) => Ok(SessionInfo::running(file, meta, pid, size)),
            _ => Err(e),
        },
        other => other,
    }
}

/// The sessions directory's files, by name.
#[derive(Debug)]
pub struct Listing {
    pub dir: PathBuf,
    pub infos: Vec<SessionInfo>,
    /// Files that are not readable sessions, and why.
    pub unreadable: Vec<(PathBuf, StoreError)>,
}

/// Every `*.duckdb` file of the sessions directory (none when it does not
/// exist yet).
pub fn list() -> Result<Listing, StoreError> {
    let dir = path::sessions_dir()?;
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "duckdb"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(StoreError::Io { path: dir, source }),
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
    Ok(Listing {
        dir,
        infos,
        unreadable,
    })
}

/// Removes each session file and its WAL, calling `removed` after each.
/// Every file is checked first, so a typo deletes nothing.
pub fn remove(
    files: &[PathBuf],
    mut removed: impl FnMut(&Path) -> std::io::Result<()>,
) -> anyhow::Result<()> {
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
        removed(file)?;
    }
    Ok(())
}
