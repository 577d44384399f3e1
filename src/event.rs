//! The rich domain events every pipeline consumes.
//!
//! Wire structs from the kernel (`crate::probe::wire`) are converted into
//! these at the edge of `probe/` and nowhere else: owned strings, named
//! fields, no padding or NUL-terminated arrays.

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
