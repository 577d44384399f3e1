//! The capture log's codec and what it encodes, free of DuckDB (dflow
//! re-exports its modules under `dflow::store`).
//!
//! - [`encode`]: facts to integer-encoded rows and dictionary entries;
//! - [`logfmt`]: those rows as the checksummed records of a capture log,
//!   and back;
//! - [`meta`]: a session's kind and its `session` row.
//!
//! The fuzz target `session_log` builds this crate alone.

pub mod encode;
pub mod logfmt;
pub mod meta;
#[doc(hidden)]
pub mod testing;
