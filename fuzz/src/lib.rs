//! dflow's protocol parsers, compiled on their own for the fuzz targets.
//!
//! `protocol` uses nothing of dflow but `crate::event`, so both are
//! included here from dflow's sources as they are.

#[path = "../../src/event.rs"]
pub mod event;
#[path = "../../src/protocol/mod.rs"]
pub mod protocol;
