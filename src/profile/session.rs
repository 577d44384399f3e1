//! Profiles in session files: the settings a profile session records next
//! to its samples, and reading one back into a [`Profile`] (for `dflow
//! replay` and `dflow profile --from`), through the same fold as live.

use std::path::Path;

use crate::config::Mode;
use crate::exit::Advice;
use crate::profile::fold::Profile;
use crate::store::{SessionKind, SessionSet, SessionWriter, StoreError};

/// Session labels (resource `session` 0) a profile session carries.
const HZ_LABEL: &str = "dflow.profile.hz";
const MODE_LABEL: &str = "dflow.profile.mode";

/// Records how the samples were taken, so a replay folds them alike.
pub fn label(writer: &SessionWriter, mode: Mode, hz: u32) {
    writer.label("session", 0, HZ_LABEL, &hz.to_string());
    writer.label("session", 0, MODE_LABEL, mode.name());
}

/// A profile read back from a session file.
#[derive(Debug, Clone)]
pub struct StoredProfile {
    pub profile: Profile,
    pub started_ns: i64,
    pub ended_ns: Option<i64>,
    pub lost: u64,
}

impl StoredProfile {
    /// How long the capture ran (0 when it never ended cleanly).
    pub fn duration_ns(&self) -> i64 {
        (self.ended_ns.unwrap_or(self.started_ns) - self.started_ns).max(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionProfileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path} is a {kind} session, not a profile")]
    NotProfile { path: String, kind: String },
    #[error(
        "{path} says its profile was taken with {key} = '{value}', which this dflow cannot read"
    )]
    BadSetting {
        path: String,
        key: &'static str,
        value: String,
    },
}

impl Advice for SessionProfileError {
    fn hint(&self) -> Option<String> {
        match self {
            SessionProfileError::Store(e) => e.hint(),
            SessionProfileError::NotProfile { .. } => Some(
                "`dflow sessions` lists each file's kind; `dflow replay FILE` shows any kind"
                    .to_owned(),
            ),
            SessionProfileError::BadSetting { .. } => Some("upgrade dflow".to_owned()),
        }
    }
}

pub fn load(file: &Path) -> Result<StoredProfile, SessionProfileError> {
    let set = SessionSet::open(&[file.to_owned()])?;
    let info = set.infos()?.remove(0);
    if info.kind() != Some(SessionKind::Profile) {
        return Err(SessionProfileError::NotProfile {
            path: file.display().to_string(),
            kind: info.kind,
        });
    }
    let labels = set.query(&format!(
        "SELECT key, value FROM labels_v WHERE resource = 'session' AND key IN ('{HZ_LABEL}', '{MODE_LABEL}')"
    ))?;
    let mut mode = Mode::ON_CPU;
    let mut hz = 99;
    for row in &labels.rows {
        let key = label_text(&row[0]);
        let value = label_text(&row[1]);
        let bad = |key| SessionProfileError::BadSetting {
            path: file.display().to_string(),
            key,
            value: value.clone(),
        };
        if key == HZ_LABEL {
            hz = value.parse().map_err(|_| bad(HZ_LABEL))?;
        } else {
            mode = Mode::from_name(&value).ok_or_else(|| bad(MODE_LABEL))?;
        }
    }
    let mut profile = Profile::new(mode, hz);
    profile.extend(&set.replay()?.samples);
    Ok(StoredProfile {
        profile,
        started_ns: info.started_ns,
        ended_ns: info.ended_ns,
        lost: info.lost,
    })
}

/// A label's key or value: text in `labels_v`.
fn label_text(value: &duckdb::types::Value) -> String {
    match value {
        duckdb::types::Value::Text(text) => text.clone(),
        _ => String::new(),
    }
}
