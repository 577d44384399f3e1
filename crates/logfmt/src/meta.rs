//! What a session is: its kind and the metadata of its `session` row.
//! Free of DuckDB, so the capture log's codec (and its fuzz target) can use
//! it.

/// What a session captured; decides the view `dflow replay` opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    Trace,
    Topo,
    Profile,
    Flow,
}

impl SessionKind {
    pub const ALL: [SessionKind; 4] = [
        SessionKind::Trace,
        SessionKind::Topo,
        SessionKind::Profile,
        SessionKind::Flow,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SessionKind::Trace => "trace",
            SessionKind::Topo => "topo",
            SessionKind::Profile => "profile",
            SessionKind::Flow => "flow",
        }
    }

    pub fn from_name(name: &str) -> Option<SessionKind> {
        SessionKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for SessionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the `session` row says about a capture.
#[derive(Debug, Clone)]
pub struct SessionMeta {
    pub kind: SessionKind,
    pub dflow_version: String,
    pub host: String,
    pub kernel: String,
    pub command_line: String,
    /// Unix epoch ns.
    pub started_ns: i64,
    /// The doctor report as JSON, when the capture has one.
    pub doctor: Option<String>,
}

impl SessionMeta {
    /// Metadata for a capture of `kind` starting now on this host, written
    /// by `dflow_version` (dflow's `VERSION`: the package and its commit).
    pub fn now(kind: SessionKind, dflow_version: &str) -> SessionMeta {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        SessionMeta {
            kind,
            dflow_version: dflow_version.to_owned(),
            host: read("/proc/sys/kernel/hostname"),
            kernel: read("/proc/sys/kernel/osrelease"),
            command_line: std::env::args().collect::<Vec<_>>().join(" "),
            started_ns: unix_ns_now(),
            doctor: None,
        }
    }
}

pub fn unix_ns_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
