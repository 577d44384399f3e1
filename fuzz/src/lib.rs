//! dflow's protocol parsers and its capture log codec, compiled on their
//! own for the fuzz targets.
//!
//! `protocol` uses nothing of dflow but `crate::event`, and the codec
//! nothing but that and `crate::VERSION`, so they are included here from
//! dflow's sources as they are.

#[path = "../../src/event.rs"]
pub mod event;
#[path = "../../src/protocol/mod.rs"]
pub mod protocol;
pub mod store;

/// What session metadata names as the writer's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
