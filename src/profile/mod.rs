//! `dflow profile`'s stages with typed boundaries: samples
//! (`crate::probe`, profile.bpf.c) → symbolize → fold → output (SVG,
//! folded, pprof, the terminal view), live and from a session alike.

pub mod fold;
pub mod output;
pub mod sampler;
pub mod session;
pub mod symbolize;
pub mod tree;
