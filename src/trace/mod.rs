//! `dflow trace`'s pipeline: socket syscalls → per-connection framing and
//! parsing (`crate::protocol`) → request/response pairing → spans → traces.

pub mod capture;
pub mod link;
pub mod pipeline;
