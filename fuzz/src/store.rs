//! The capture log's codec and what it encodes, from dflow's sources: none
//! of it uses DuckDB.

#[path = "../../src/store/encode.rs"]
pub mod encode;
#[path = "../../src/store/logfmt.rs"]
pub mod logfmt;
#[path = "../../src/store/meta.rs"]
pub mod meta;
