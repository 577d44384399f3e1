//! L7 protocol parsers: one module per protocol, one trait, one registry.
//!
//! The trace pipeline owns reassembly and pairing; a parser
//! only turns bytes into *units*. For every syscall's payload on a connection
//! the pipeline calls [`Parser::parse`] on the bytes not yet consumed, in
//! order, once per unit, and the parser says how long the unit at the start
//! is and what it means:
//!
//! - [`Parse::Begin`]: the unit begins a request or a response (an HTTP
//!   head, a Redis command, a PostgreSQL `Query` or `Parse`, a MySQL
//!   `COM_QUERY`, a DNS message). The call's timing comes from the syscall
//!   that carried it.
//! - [`Parse::More`]: the unit belongs to the message begun last in the same
//!   direction (an HTTP chunk, PostgreSQL's `Bind`/`Execute`/`Sync` after a
//!   `Parse`, MySQL result set rows); it may amend that message's outcome
//!   (PostgreSQL's `ErrorResponse` after `RowDescription`).
//! - [`Parse::Skip`]: the unit belongs to no call (handshakes, startup and
//!   authentication exchanges, server pushes).
//! - [`Parse::Abandon`]: the unit ends a response and tells that some
//!   requests still waiting will never be answered.
//!
//! `done` on a Begin or More says the message is complete, so the pipeline
//! need not wait for the next one to know it ended.
//!
//! A unit's `len` may run past the bytes given: dflow captures only the first
//! `--snaplen` bytes of each syscall, and bodies arrive in later syscalls.
//! The pipeline then skips that many bytes, captured or not, before calling
//! the parser again. When `cut` is set, the data stops where the capture was
//! cut and more bytes of the same syscall followed; a parser must then decide
//! with what it has (never [`Parse::Incomplete`]): usually a Begin with the
//! head it could read and `len` the framing length, or `data.len()` when the
//! framing is unknown, so the rest of the syscall counts as part of the unit.
//! Bytes of a syscall that no unit covered (past the capture, or after an
//! Invalid) are offered to [`Parser::unseen`], which may count them in the
//! message under way and must not trust where the next syscall starts.
//!
//! Parsers never panic, whatever the bytes (each has a `cargo fuzz` target
//! in `fuzz/`), never allocate in proportion to a length read off the wire,
//! and keep their per-connection state bounded.
//!
//! This crate uses nothing of dflow but `dflow-model`, so the fuzz targets
//! build it without the rest of dflow (and without building DuckDB under
//! the fuzzer's flags). dflow re-exports it as `dflow::protocol`.

pub mod dns;
#[cfg(test)]
pub mod fixture;
pub mod framer;
pub mod http1;
pub mod mysql;
pub mod opaque;
pub mod postgres;
pub mod redis;

use dflow_model::{Code, Protocol, Status};

pub use dflow_model::{Direction, Transport};

/// Whether a message asks or answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Request,
    Response,
}

/// A response's outcome: dflow's status and the protocol's own code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    /// HTTP status, DNS rcode, MySQL error number, SQLSTATE, Redis error
    /// prefix ("WRONGTYPE"), ...
    pub code: Option<Code>,
}

impl Outcome {
    pub const OK: Outcome = Outcome {
        status: Status::Ok,
        code: None,
    };
}

/// W3C `traceparent`: the caller's trace and span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    pub trace_id: u128,
    pub parent_id: u64,
}

/// Trace context a request carries in its headers, when it carries any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    pub traceparent: Option<TraceParent>,
    /// `X-Request-ID` (or `X-Request-Id`, any case).
    pub request_id: Option<String>,
}

/// The longest excerpt a message keeps, in bytes.
pub const EXCERPT_MAX: usize = 512;

/// What a parser read from a request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    /// The pairing key, for protocols whose responses name their request
    /// (the DNS id). None: responses answer requests in order.
    pub id: Option<u32>,
    /// Requests: HTTP method + templated path, SQL verb + table, Redis
    /// command, DNS name + type. Empty for responses.
    pub endpoint: String,
    /// Responses: the outcome so far. Requests: [`Outcome::OK`].
    pub outcome: Outcome,
    /// Requests: false when no response will come (MySQL
    /// `COM_STMT_CLOSE`, PostgreSQL `Terminate`); such a request makes no span.
    pub expects_response: bool,
    /// Requests: trace context headers.
    pub context: TraceContext,
    /// A short, printable excerpt for people (request line and headers, a
    /// query, a command), at most [`EXCERPT_MAX`] bytes, with secrets
    /// replaced by [`REDACTED`] unless [`Options::redact`] is off.
    pub excerpt: String,
}

impl Message {
    pub fn request(endpoint: String, excerpt: String) -> Message {
        Message {
            kind: Kind::Request,
            id: None,
            endpoint,
            outcome: Outcome::OK,
            expects_response: true,
            context: TraceContext::default(),
            excerpt,
        }
    }

    pub fn response(outcome: Outcome, excerpt: String) -> Message {
        Message {
            kind: Kind::Response,
            id: None,
            endpoint: String::new(),
            outcome,
            expects_response: false,
            context: TraceContext::default(),
            excerpt,
        }
    }
}

/// What the unit at the start of the data is; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    Begin {
        len: u64,
        message: Message,
        done: bool,
    },
    More {
        len: u64,
        outcome: Option<Outcome>,
        done: bool,
    },
    Skip {
        len: u64,
    },
    /// The unit ends the message begun last in its direction, as a More
    /// with `done` would, and says that the `requests` oldest requests still
    /// waiting will get no response: PostgreSQL skips the rest of a
    /// pipelined batch after an error. They end as `error`.
    Abandon {
        len: u64,
        requests: u32,
    },
    /// The data ends inside a unit's head; the pipeline keeps it and calls
    /// again with the next syscall's bytes appended. Never when `cut`.
    Incomplete,
    /// No unit of this protocol starts here; the pipeline drops the rest of
    /// the syscall and resynchronizes on the next one.
    Invalid,
}

impl Parse {
    /// The unit's length; None for Incomplete and Invalid.
    pub fn unit_len(&self) -> Option<u64> {
        match self {
            Parse::Begin { len, .. }
            | Parse::More { len, .. }
            | Parse::Skip { len }
            | Parse::Abandon { len, .. } => Some(*len),
            Parse::Incomplete | Parse::Invalid => None,
        }
    }
}

/// What the user chose that parsers must honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Replace the values of credentials (Authorization, Proxy-Authorization,
    /// Cookie, Set-Cookie headers; database passwords) by [`REDACTED`]
    /// before anything is stored or shown. On unless `--no-redact`.
    pub redact: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { redact: true }
    }
}

/// What stands for a redacted value.
pub const REDACTED: &str = "[redacted]";

/// One connection's parser for one protocol: it sees both directions of
/// that connection, in the order the syscalls happened.
pub trait Parser: Send {
    fn parse(&mut self, data: &[u8], dir: Direction, cut: bool) -> Parse;

    /// The last `len` bytes of the syscall just fed in `dir` came after the
    /// last unit and were never parsed: the snaplen cut them off, or they
    /// followed an [`Parse::Invalid`]. Units may begin anywhere in them, so
    /// the next syscall in `dir` may start inside one. Returns true when
    /// they belong to the message being assembled in `dir`, which then
    /// counts them (the framer hands them out as a [`Parse::More`] that
    /// does not end it); by default they count for nothing.
    fn unseen(&mut self, dir: Direction, len: u64) -> bool {
        let _ = (dir, len);
        false
    }
}

/// A protocol as the registry knows it.
pub struct Spec {
    pub protocol: Protocol,
    /// How long a request may wait for its response before its call ends
    /// as `timeout`.
    pub timeout: std::time::Duration,
    /// Cheap: whether `data` (the first bytes of a syscall) looks like the
    /// start of a request of this protocol. Decides a connection's protocol,
    /// so it must rarely say yes to another protocol's bytes.
    pub check: fn(data: &[u8], transport: Transport) -> bool,
    /// A parser for one new connection.
    pub new: fn(options: Options, transport: Transport) -> Box<dyn Parser>,
}

/// Every protocol, in the order detection tries them: the strictest checks
/// first, DNS's (twelve bytes of header) last.
pub const REGISTRY: &[Spec] = &[
    http1::SPEC,
    redis::SPEC,
    postgres::SPEC,
    mysql::SPEC,
    dns::SPEC,
];

/// The registry entry of `protocol`.
pub fn spec(protocol: Protocol) -> &'static Spec {
    REGISTRY
        .iter()
        .find(|s| s.protocol == protocol)
        .expect("every protocol is registered")
}

/// The protocol whose request `data` starts with, if any; `allowed` limits
/// the candidates (`--protocol`).
pub fn detect(data: &[u8], transport: Transport, allowed: &[Protocol]) -> Option<&'static Spec> {
    REGISTRY
        .iter()
        .filter(|s| allowed.is_empty() || allowed.contains(&s.protocol))
        .find(|s| (s.check)(data, transport))
}

/// Bytes as excerpt text: printable ASCII kept, anything else as `.`,
/// stopped at [`EXCERPT_MAX`] bytes (on a char boundary).
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().min(EXCERPT_MAX));
    push_printable(&mut out, bytes);
    out
}

/// Appends `bytes` as [`printable`] text to an excerpt, keeping it within
/// [`EXCERPT_MAX`] bytes; no allocation beyond the excerpt's own.
pub fn push_printable(out: &mut String, bytes: &[u8]) {
    let room = EXCERPT_MAX.saturating_sub(out.len());
    let bytes = &bytes[..bytes.len().min(room)];
    // Byte for byte, in one pass the compiler vectorizes: a char at a time
    // cost a tenth of the pipeline (every request and response has one).
    // SAFETY: every byte pushed is ASCII, so `out` stays UTF-8.
    unsafe { out.as_mut_vec() }.extend(bytes.iter().map(|&b| printable_byte(b)));
}

/// A byte of excerpt text: printable ASCII, tab and newline kept, CR as a
/// space, anything else as `.`.
const fn printable_byte(b: u8) -> u8 {
    match b {
        b'\t' | b'\n' | b' '..=b'~' => b,
        b'\r' => b' ',
        _ => b'.',
    }
}

/// Appends `piece` to an excerpt, keeping it within [`EXCERPT_MAX`] bytes.
pub fn push_excerpt(excerpt: &mut String, piece: &str) {
    let room = EXCERPT_MAX.saturating_sub(excerpt.len());
    let mut end = piece.len().min(room);
    while !piece.is_char_boundary(end) {
        end -= 1;
    }
    excerpt.push_str(&piece[..end]);
}

/// Feeds arbitrary bytes to `protocol`'s parser as a capture would, through
/// the [`framer::Framer`]: the first byte picks the directions, syscall sizes
/// and snaplen cuts of the chunks that follow. For the fuzz targets and the
/// no-panic tests; returns the units parsed. Panics when a parser breaks the
/// contract (Incomplete on cut data).
pub fn exercise(protocol: Protocol, transport: Transport, data: &[u8]) -> usize {
    let spec = spec(protocol);
    let _ = (spec.check)(data, transport);
    let Some((&shape, mut rest)) = data.split_first() else {
        return 0;
    };
    let mut parser = (spec.new)(Options::default(), transport);
    let mut framer = framer::Framer::new(transport);
    let mut units = Vec::new();
    let mut total_units = 0;
    let mut round = 0usize;
    // Per direction: bytes until the next unit, as the framer's last hint
    // said (see `Framer::take_hint`), counted down syscall by syscall.
    let mut hints: [Option<u64>; 2] = [None, None];
    while !rest.is_empty() {
        let bit = |i: usize| shape >> ((round + i) % 8) & 1 == 1;
        let dir = if bit(0) {
            Direction::Ingress
        } else {
            Direction::Egress
        };
        let size = (usize::from(shape) * 7 + round * 13) % 97 + 1;
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        let len = chunk.len() as u64;
        // Sometimes the capture began where a hint said, as the probe does
        // (or, rarely, somewhere no hint said).
        let hint = &mut hints[dir.index()];
        let offset = match *hint {
            Some(h) if h > 0 && h < len && bit(2) => h,
            _ if bit(3) && bit(4) && bit(5) => len / 3,
            _ => 0,
        };
        *hint = hint.and_then(|h| h.checked_sub(len)).filter(|&h| h > 0);
        let seen = &chunk[offset as usize..];
        // Sometimes only a prefix was captured of a longer syscall.
        let captured = if bit(1) && seen.len() > 1 {
            &seen[..seen.len() / 2]
        } else {
            seen
        };
        units.clear();
        let _ = framer.feed_at(parser.as_mut(), dir, captured, offset, len, &mut units);
        if let Some(skip) = framer.take_hint(dir) {
            hints[dir.index()] = Some(skip);
        }
        for u in &units {
            assert!(
                !matches!(u, Parse::Incomplete | Parse::Invalid),
                "{protocol}: the framer hands out units only"
            );
        }
        total_units += units.len();
        rest = tail;
        round += 1;
    }
    total_units
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The excerpt text of `bytes`, a char at a time: what
    /// [`push_printable`] must match.
    fn reference(prefix: &str, bytes: &[u8]) -> String {
        let mut out = prefix.to_owned();
        let room = EXCERPT_MAX.saturating_sub(out.len());
        out.extend(bytes.iter().take(room).map(|&b| match b {
            b'\t' | b'\n' | b' '..=b'~' => b as char,
            b'\r' => ' ',
            _ => '.',
        }));
        out
    }

    #[test]
    fn printable_keeps_ascii_and_marks_the_rest_within_the_limit() {
        let mut next = fixture::xorshift(0x9e37_79b9);
        for round in 0..2000 {
            let len = (next() % 700) as usize;
            // Mostly text, with control bytes, CRs and high bytes mixed in.
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 10 {
                    0 => (next() % 32) as u8,
                    1 => b'\r',
                    2 => 0x80 | (next() % 128) as u8,
                    _ => b' ' + (next() % 95) as u8,
                })
                .collect();
            let prefix = "x".repeat(round % 600);
            let mut got = prefix.clone();
            push_printable(&mut got, &bytes);
            assert_eq!(got, reference(&prefix, &bytes), "round {round}");
            assert!(got.len() <= EXCERPT_MAX.max(prefix.len()));
        }
        assert_eq!(printable(b"GET /\r\n\x00\xff"), "GET / \n..");
    }
}
