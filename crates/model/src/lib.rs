//! dflow's model: the rich domain events every pipeline consumes (dflow
//! re-exports this crate as `dflow::event`).
//!
//! The kernel's wire structs are converted into these at the edge of
//! `probe/` and nowhere else: owned strings, named fields, no padding or
//! NUL-terminated arrays. This crate uses nothing of dflow's: the types
//! every layer shares (directions, transports, probe counters) live here.

use std::net::SocketAddr;
use std::sync::Arc;

/// Which way bytes went, seen from the traced process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Written or sent by the process.
    Egress,
    /// Read or received by the process.
    Ingress,
}

impl Direction {
    pub const fn index(self) -> usize {
        match self {
            Direction::Egress => 0,
            Direction::Ingress => 1,
        }
    }

    pub const fn reverse(self) -> Direction {
        match self {
            Direction::Egress => Direction::Ingress,
            Direction::Ingress => Direction::Egress,
        }
    }
}

/// The socket's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
}

/// Events a probe delivered to userspace and events it had to drop (in the
/// kernel when a ring buffer was full, or at stop when the consumer stalled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProbeCounters {
    pub delivered: u64,
    pub lost: u64,
}

/// One system call entry of a target task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallEvent {
    /// CLOCK_MONOTONIC nanoseconds at entry.
    pub ts_ns: u64,
    /// Process id (tgid).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// System call number (x86-64 numbering here).
    pub nr: i64,
    /// The task's command name.
    pub comm: String,
}

/// A task's command name as the kernel keeps it (at most 15 bytes,
/// NUL-padded), held inline: every socket event carries one, and a String
/// each was an allocation per event.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Comm([u8; 16]);

impl Comm {
    /// `name`, cut to 15 bytes.
    pub fn new(name: &str) -> Comm {
        let mut bytes = [0u8; 16];
        let n = name.len().min(15);
        bytes[..n].copy_from_slice(&name.as_bytes()[..n]);
        Comm(bytes)
    }

    /// The kernel's `char comm[16]`.
    pub fn from_kernel(bytes: [u8; 16]) -> Comm {
        Comm(bytes)
    }

    /// As the kernel keeps it.
    pub fn bytes(self) -> [u8; 16] {
        self.0
    }

    /// The name as text (bytes that are not UTF-8 replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        String::from_utf8_lossy(&self.0[..end])
    }
}

impl std::fmt::Debug for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.text())
    }
}

/// One socket syscall of a target process (trace.bpf.c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SockEvent {
    /// CLOCK_MONOTONIC nanoseconds at the syscall's entry and exit. The
    /// capture sees the moment the data has moved, near the exit, and
    /// gives it as both.
    pub enter_ns: u64,
    pub exit_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub fd: u32,
    /// The kernel's socket address: with the pid, the connection's
    /// identity (a socket reused after its close is announced by the close).
    pub sock: u64,
    pub transport: Transport,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub comm: Comm,
    pub what: SockWhat,
}

/// What happened on the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockWhat {
    /// Bytes moved by a read/write-family syscall.
    Data {
        direction: Direction,
        /// TCP: the sequence number of the first byte; 0 for UDP.
        seq: u32,
        /// Bytes the syscall moved.
        bytes: u64,
        /// Where in them the payload begins: 0, or past a body's end where
        /// the trace pipeline's hint said the next message begins.
        offset: u64,
        /// Up to a snaplen of them, from `offset` on.
        payload: Vec<u8>,
    },
    /// connect() sent its SYN: this process is the client.
    Connect,
    /// The socket's last close(), a shutdown() after the peer's FIN (which
    /// ends the connection both ways), or its process's exit (`fd` is then
    /// `u32::MAX`).
    Close,
}

/// A process as dflow identifies it: pid plus start time, since pids are
/// reused. Captured while the process is alive, so it stays nameable after
/// it exits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Process {
    pub pid: u32,
    /// Start time, ns after boot (from /proc/PID/stat).
    pub start_ns: u64,
    pub comm: String,
    pub exe: String,
    pub cmdline: String,
    /// The cgroup path (cgroup v2) or the first v1 hierarchy's path.
    pub cgroup: String,
    /// The container id found in the cgroup path, if any.
    pub container_id: Option<String>,
    /// The service name: a user label, else the container or comm.
    pub service: String,
}

impl Process {
    /// A process known only by pid and comm (one that exited before /proc
    /// could be read, or a test's).
    pub fn bare(pid: u32, comm: &str) -> Process {
        Process {
            pid,
            start_ns: 0,
            comm: comm.to_owned(),
            exe: String::new(),
            cmdline: String::new(),
            cgroup: String::new(),
            container_id: None,
            service: comm.to_owned(),
        }
    }
}

/// Shared, so millions of spans can point at a few hundred processes.
pub type ProcessRef = Arc<Process>;

/// An L7 protocol dflow parses. The discriminants are stored in session
/// files: never renumber, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Protocol {
    Http1 = 1,
    Dns = 2,
    Redis = 3,
    Postgres = 4,
    Mysql = 5,
}

/// Which side of a call this process is. Stored: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    Client = 1,
    Server = 2,
}

/// A call's outcome. Stored: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    Ok = 0,
    ClientError = 1,
    ServerError = 2,
    Timeout = 3,
    Error = 4,
}

/// Implements the stable name and number of a stored enum, both ways.
macro_rules! stored_enum {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }

            pub const fn code(self) -> u8 {
                self as u8
            }

            pub fn from_code(code: u8) -> Option<$ty> {
                Self::ALL.iter().copied().find(|v| v.code() == code)
            }

            pub fn from_name(name: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// The stored names are the command line's values too.
        #[cfg(feature = "clap")]
        impl clap::ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                Self::ALL
            }

            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.as_str()))
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

stored_enum!(Protocol {
    Http1 => "http1",
    Dns => "dns",
    Redis => "redis",
    Postgres => "postgres",
    Mysql => "mysql",
});
stored_enum!(Role { Client => "client", Server => "server" });
stored_enum!(Status {
    Ok => "ok",
    ClientError => "client_error",
    ServerError => "server_error",
    Timeout => "timeout",
    Error => "error",
});

/// A protocol's own status code: HTTP 404, a DNS rcode, a SQLSTATE string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum Code {
    Num(i32),
    Text(String),
}

/// One L7 call (request and response) seen from one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Unix epoch ns of the request's first byte.
    pub start_ns: i64,
    pub duration_ns: i64,
    pub protocol: Protocol,
    pub role: Role,
    /// HTTP method + templated path, SQL verb + table, Redis command, ...
    pub endpoint: String,
    pub status: Status,
    pub code: Option<Code>,
    pub req_bytes: u32,
    pub resp_bytes: u32,
    pub process: ProcessRef,
    pub tid: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Session-local ids: sequential, so they compress to almost nothing.
    pub trace_id: u64,
    pub span_id: u64,
    pub parent_span_id: Option<u64>,
    /// Excerpts of the request and the response (first line, headers, the
    /// query, ...), credentials redacted unless `--no-redact`; may be empty.
    pub request: String,
    pub response: String,
}

/// One connection's L4 counters over an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Unix epoch ns of the interval's start and end.
    pub start_ns: i64,
    pub end_ns: i64,
    pub process: ProcessRef,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Smoothed RTT at the interval's end, when known.
    pub rtt_us: Option<u32>,
    pub retransmits: u32,
    pub resets: u32,
    /// connect() to established, for connections opened in the interval.
    pub connect_ns: Option<i64>,
    /// The connection closed within the interval.
    pub closed: bool,
}

/// A stack frame after symbolization.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Frame {
    pub function: String,
    /// The binary or library (or "kernel").
    pub module: String,
    pub kernel: bool,
}

/// Frames from the root (outermost caller) to the leaf.
pub type Stack = Arc<[Frame]>;

/// Aggregated stack samples of one thread or process over an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Unix epoch ns of the interval's start.
    pub ts_ns: i64,
    pub process: ProcessRef,
    /// The thread, with `--per-thread`; None when aggregated per process.
    pub tid: Option<u32>,
    pub off_cpu: bool,
    pub stack: Stack,
    /// Samples (on-CPU) or blocking episodes (off-CPU).
    pub count: u64,
    /// Time blocked (off-CPU); 0 on-CPU.
    pub blocked_ns: u64,
}
