//! Http1: placeholder until its parser lands (this session).

use super::{Direction, Options, Parse, Parser, Spec, Transport};
use crate::event::Protocol;

pub const SPEC: Spec = Spec {
    protocol: Protocol::Http1,
    check: |_, _| false,
    new,
};

struct Placeholder;

impl Parser for Placeholder {
    fn parse(&mut self, _: &[u8], _: Direction, _: bool) -> Parse {
        Parse::Invalid
    }
}

fn new(_: Options, _: Transport) -> Box<dyn Parser> {
    Box::new(Placeholder)
}
