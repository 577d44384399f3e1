//! `dflow profile`'s stages: samples (`crate::probe`, profile.bpf.c) →
//! symbolize → fold → output. This module owns symbolization so far.

pub mod symbolize;
