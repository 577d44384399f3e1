//! Where session files go by default, and what they are called.
//!
//! `$XDG_DATA_HOME/dflow/sessions/` (else `~/.local/share/dflow/sessions/`),
//! created mode 0700, holding `<host>-<command>-<UTC timestamp>.duckdb`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{SessionKind, StoreError};

/// Where a capture's session goes: `--session PATH`, `--no-session`, or
/// neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionTarget {
    /// The default directory and file name ([`resolve`] decides them).
    Default,
    Path(PathBuf),
    Off,
}

/// The default sessions directory from the environment (not created here).
pub fn sessions_dir_from(xdg_data_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    match (xdg_data_home.filter(|s| s.starts_with('/')), home) {
        (Some(xdg), _) => Some(Path::new(xdg).join("dflow/sessions")),
        (None, Some(home)) if !home.is_empty() => {
            Some(Path::new(home).join(".local/share/dflow/sessions"))
        }
        _ => None,
    }
}

pub fn sessions_dir() -> Result<PathBuf, StoreError> {
    let xdg = std::env::var("XDG_DATA_HOME").ok();
    let home = std::env::var("HOME").ok();
    sessions_dir_from(xdg.as_deref(), home.as_deref()).ok_or(StoreError::NoHome)
}

/// `vm-trace-20261124T201256Z.duckdb`: host (made file-safe), command, time.
pub fn file_name(host: &str, kind: SessionKind, at: SystemTime) -> String {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let host = if host.is_empty() {
        "host".to_owned()
    } else {
        host
    };
    let stamp: String = humantime::format_rfc3339_seconds(at)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!("{host}-{kind}-{stamp}.duckdb")
}

/// The file a capture writes to, or None with `--no-session`. The default
/// directory is created (0700) and a name already taken gets a `-2`, `-3`...
pub fn resolve(
    target: &SessionTarget,
    kind: SessionKind,
    host: &str,
) -> Result<Option<PathBuf>, StoreError> {
    match target {
        SessionTarget::Off => Ok(None),
        SessionTarget::Path(path) => Ok(Some(path.clone())),
        SessionTarget::Default => {
            let dir = sessions_dir()?;
            create_private_dir(&dir)?;
            let name = file_name(host, kind, SystemTime::now());
            Ok(Some(free_name(&dir, &name)))
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })
}

fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let stem = name.trim_end_matches(".duckdb");
    (2..)
        .map(|n| dir.join(format!("{stem}-{n}.duckdb")))
        .find(|p| !p.exists())
        .expect("some suffix is free")
}

/// A session named on the command line: the path as given if it exists,
/// else the same name in the sessions directory.
pub fn find(given: &Path) -> PathBuf {
    if given.exists() || given.components().count() > 1 {
        return given.to_owned();
    }
    match sessions_dir() {
        Ok(dir) if dir.join(given).exists() => dir.join(given),
        _ => given.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn xdg_then_home() {
        assert_eq!(
            sessions_dir_from(Some("/data"), Some("/root")),
            Some(PathBuf::from("/data/dflow/sessions"))
        );
        // A relative XDG_DATA_HOME is invalid per the spec and ignored.
        assert_eq!(
            sessions_dir_from(Some("rel"), Some("/home/a")),
            Some(PathBuf::from("/home/a/.local/share/dflow/sessions"))
        );
        assert_eq!(sessions_dir_from(None, None), None);
    }

    #[test]
    fn names_carry_host_command_and_utc_time() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_638_776);
        assert_eq!(
            file_name("db-1.prod", SessionKind::Trace, at),
            "db-1.prod-trace-20261125T203256Z.duckdb"
        );
        assert_eq!(
            file_name("we/ird host", SessionKind::Profile, at),
            "we-ird-host-profile-20261125T203256Z.duckdb"
        );
    }

    #[test]
    fn taken_names_get_a_suffix() {
        let dir = std::env::temp_dir().join(format!("dflow-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.duckdb"), b"").unwrap();
        std::fs::write(dir.join("a-2.duckdb"), b"").unwrap();
        assert_eq!(free_name(&dir, "a.duckdb"), dir.join("a-3.duckdb"));
        assert_eq!(free_name(&dir, "b.duckdb"), dir.join("b.duckdb"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
