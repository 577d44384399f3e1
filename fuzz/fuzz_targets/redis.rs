//! Arbitrary bytes, split into syscalls both ways, through the Redis parser
//! and the framer: no panic, no contract broken (see `protocol::exercise`).
#![no_main]

use dflow_model::Protocol;
use dflow_protocol::{self as protocol, Transport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    protocol::exercise(Protocol::Redis, Transport::Tcp, data);
});
