//! Arbitrary bytes, split into syscalls both ways, through the Dns parser
//! and the framer: no panic, no contract broken (see `protocol::exercise`).
#![no_main]

use dflow_model::Protocol;
use dflow_protocol::{self as protocol, Transport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the transport: DNS runs over both.
    let Some((&t, rest)) = data.split_first() else {
        return;
    };
    let transport = if t & 1 == 0 {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    protocol::exercise(Protocol::Dns, transport, rest);
});
