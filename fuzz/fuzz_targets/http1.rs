//! Arbitrary bytes, split into syscalls both ways, through the Http1 parser
//! and the framer: no panic, no contract broken (see `protocol::exercise`).
#![no_main]

use dflow_fuzz::event::Protocol;
use dflow_fuzz::protocol::{self, Transport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    protocol::exercise(Protocol::Http1, Transport::Tcp, data);
});
