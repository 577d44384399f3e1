//! Redis: RESP2 and RESP3 over TCP. Each command (an array of bulk strings,
//! or an inline line) is a request named by its command word, plus the
//! subcommand of container commands ("CONFIG GET"); each reply is a
//! response, its error prefix ("WRONGTYPE") the code. Pub/sub messages and
//! RESP3 pushes belong to no call.
//!
//! Written by hand: the parser walks values by their headers only, skipping
//! bulk payloads by arithmetic, so it reads replies and commands far larger
//! than what was captured, and keeps no more than a fixed-size stack of
//! element counts for a message that runs on into later syscalls.
//!
//! Both directions carry arrays, so which way commands go is learnt from the
//! traffic: inline commands and non-array replies say it for sure, an array
//! is a guess (a bulk string naming a command) until then.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Direction, Message, Options, Outcome, Parse, Parser, Spec, Transport};
use dflow_model::{Code, Protocol, Status};

pub const SPEC: Spec = Spec {
    protocol: Protocol::Redis,
    timeout: Duration::from_secs(30),
    check,
    new,
};

/// Nested aggregates a message may have; RESP sets no limit of its own.
const MAX_DEPTH: usize = 16;
/// The longest header line of a length-prefixed type: the type byte, a
/// sign, 18 digits and CRLF.
const MAX_LENGTH_LINE: usize = 22;
/// The bytes of one argument or value shown in an excerpt.
const ARG_MAX: usize = 64;
/// A message still unfinished when this many bytes of it are at hand is
/// reported in parts (a Begin, then More) rather than kept whole.
const STREAM_AFTER: usize = 4096;
/// SUBSCRIBE-family commands whose confirmations are tracked at once.
const MAX_CONFIRMS: usize = 16;

/// Commands whose second word names what they do.
const CONTAINERS: &[&str] = &[
    "ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "FUNCTION", "LATENCY", "MEMORY", "MODULE",
    "OBJECT", "PUBSUB", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO",
];
/// Commands answered by one confirmation per channel or pattern, the three
/// that subscribe first.
const SUBSCRIBES: &[&str] = &[
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "SSUBSCRIBE",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SUNSUBSCRIBE",
];
/// Inline commands `check` recognizes: what people type into telnet.
const INLINE: &[&str] = &[
    "PING", "QUIT", "INFO", "GET", "SET", "DEL", "EXISTS", "KEYS", "TTL", "INCR", "ECHO", "AUTH",
    "SELECT", "DBSIZE", "HELLO", "MONITOR", "CONFIG", "CLIENT", "COMMAND",
];
const CLIENT_ERRORS: &[&str] = &[
    "ERR",
    "WRONGTYPE",
    "NOAUTH",
    "WRONGPASS",
    "NOPERM",
    "EXECABORT",
    "NOSCRIPT",
    "NOPROTO",
    "CROSSSLOT",
    "BUSYKEY",
    "NOTBUSY",
];
const SERVER_ERRORS: &[&str] = &[
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "OOM",
    "READONLY",
    "CLUSTERDOWN",
    "MISCONF",
    "TRYAGAIN",
    "NOREPLICAS",
];

fn check(data: &[u8], transport: Transport) -> bool {
    transport == Transport::Tcp && (array_command(data) || inline_command(data))
}

/// `*<n>\r\n$<m>\r\n<name>`: 1 to 1M arguments, a name of 1 to 32 letters
/// (and dots, for modules' commands like `JSON.GET`).
fn array_command(data: &[u8]) -> bool {
    array_name(data).is_some_and(|name| {
        name[0].is_ascii_alphabetic() && name.iter().all(|&b| b.is_ascii_alphabetic() || b == b'.')
    })
}

/// The first element of an array of 1 to 1M bulk strings, when it is
/// captured and 1 to 32 bytes long.
fn array_name(data: &[u8]) -> Option<&[u8]> {
    let (n, rest) = number_line(data.strip_prefix(b"*")?)?;
    let (m, rest) = number_line(rest.strip_prefix(b"$")?)?;
    if !(1..=1 << 20).contains(&n) || !(1..=32).contains(&m) {
        return None;
    }
    rest.get(..m as usize)
}

/// A known command word, then a space or the end of the line, on a line
/// that is all there: an HTTP request written in pieces begins with `GET `
/// too, and is not a Redis command (`GET /` never is).
fn inline_command(data: &[u8]) -> bool {
    let Some(line_end) = data.iter().take(256).position(|&b| b == b'\n') else {
        return false;
    };
    if data[..line_end].windows(7).any(|w| w == b" HTTP/1") {
        return false;
    }
    let end = data
        .iter()
        .take(8)
        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'));
    let Some(end) = end else {
        return false;
    };
    let word = &data[..end];
    INLINE
        .iter()
        .any(|w| w.as_bytes().eq_ignore_ascii_case(word))
        && match &data[end..] {
            [b' ', b'/', ..] => false,
            [b' ', ..] | [b'\n', ..] | [b'\r', b'\n', ..] => true,
            _ => false,
        }
}

/// A non-negative decimal and its CRLF, and the bytes after them.
fn number_line(data: &[u8]) -> Option<(u64, &[u8])> {
    let end = data
        .iter()
        .take(MAX_LENGTH_LINE)
        .position(|&b| b == b'\r')?;
    let n = int(&data[..end]).and_then(|n| u64::try_from(n).ok())?;
    Some((n, data[end..].strip_prefix(b"\r\n")?))
}

fn int(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', digits)) => (true, digits),
        _ => (false, text),
    };
    // 18 digits cannot overflow an i64, and no real length has more.
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
    Some(if negative { -n } else { n })
}

fn new(options: Options, _: Transport) -> Box<dyn Parser> {
    Box::new(Redis {
        redact: options.redact,
        role: None,
        open: [None, None],
        confirms: VecDeque::new(),
        subscribed: false,
    })
}

struct Redis {
    redact: bool,
    role: Option<Role>,
    /// Per direction: a message that runs on past the bytes parsed so far.
    open: [Option<Open>; 2],
    /// SUBSCRIBE-family commands whose confirmations are due, oldest first.
    confirms: VecDeque<Confirm>,
    /// Whether the connection is in pub/sub mode, where RESP2 delivers
    /// messages as plain arrays.
    subscribed: bool,
}

/// Which way commands go on this connection.
#[derive(Debug, Clone, Copy)]
struct Role {
    requests: Direction,
    /// Learnt from a unit that could be nothing else (not a guess from an
    /// array).
    sure: bool,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    /// Where the walk stands; None when the capture was cut inside the
    /// message, so that its end is unknown: everything that way belongs to
    /// it until traffic goes the other way.
    walk: Option<Walk>,
    /// The message is a push, so what remains of it is skipped too.
    skip: bool,
}

#[derive(Debug)]
struct Confirm {
    /// Confirmations still to come.
    left: u64,
    /// The first one came: it was the response, the others extend it.
    begun: bool,
}

impl Parser for Redis {
    fn parse(&mut self, data: &[u8], dir: Direction, cut: bool) -> Parse {
        // A message lost track of ends when the other side speaks.
        if self.open[dir.reverse().index()].is_some_and(|o| o.walk.is_none()) {
            self.open[dir.reverse().index()] = None;
        }
        if let Some(open) = self.open[dir.index()] {
            // Servers write replies whole: a syscall of exactly one reply
            // is that, even after a reply lost track of.
            let replies = self.role.is_some_and(|r| r.requests != dir);
            let whole =
                || Walk::new().run(data, false, &mut |_| {}) == Stop::End(data.len() as u64);
            if open.walk.is_some() || cut || !replies || !whole() {
                return self.resume(open, data, dir, cut);
            }
            self.open[dir.index()] = None;
        }
        let Some(&first) = data.first() else {
            return if cut {
                Parse::Invalid
            } else {
                Parse::Incomplete
            };
        };
        // Redis ignores blank lines between commands (redis-cli --pipe
        // sends one before its closing ECHO).
        if matches!(first, b'\r' | b'\n') {
            return self.inline(data, cut);
        }
        let (request, sure) = match first {
            b'*' => (command_like(data), false),
            // Text is more often the rest of a value lost track of than an
            // inline command: it must name a command telnet users type,
            // unless commands are known to go this way.
            b if b.is_ascii_alphabetic() => {
                if !inline_command(data) && self.role.is_none_or(|r| r.requests != dir) {
                    return Parse::Invalid;
                }
                (true, true)
            }
            _ => (false, true),
        };
        let seen = if request { dir } else { dir.reverse() };
        let role = match self.role {
            Some(known) if known.sure || !sure => known,
            _ => Role {
                requests: seen,
                sure,
            },
        };
        // A command byte the way replies go (or the reverse) once the role
        // is sure is debris of a message lost track of.
        if sure && role.requests != seen {
            return Parse::Invalid;
        }
        let unit = match first {
            b'*' if role.requests == dir => self.command(data, dir, cut),
            b if b.is_ascii_alphabetic() => self.inline(data, cut),
            _ => self.reply(data, dir, cut),
        };
        if !matches!(unit, Parse::Incomplete | Parse::Invalid) {
            self.role = Some(role);
        }
        unit
    }
}

/// Whether an array looks like a command rather than a reply (a guess for
/// when the role is not known yet).
fn command_like(data: &[u8]) -> bool {
    array_command(data)
        && array_name(data).is_some_and(|name| {
            !["message", "pmessage", "smessage", "pong"]
                .iter()
                .any(|w| name == w.as_bytes())
        })
}

impl Redis {
    fn command(&mut self, data: &[u8], dir: Direction, cut: bool) -> Parse {
        let mut walk = Walk::new();
        let mut command = Command::new(self.redact);
        let mut declared = 0;
        let mut bulk_strings = true;
        let stop = walk.run(data, cut, &mut |item| match item.depth {
            0 if item.kind == b'*' && item.size > 0 => declared = item.size as u64,
            1 if item.kind == b'$' && item.size >= 0 => command.arg(item.payload, item.size as u64),
            _ => bulk_strings = false,
        });
        if !bulk_strings {
            return Parse::Invalid;
        }
        // Cut before its name: a command, but not one to name.
        let skip = command.args == 0;
        let (len, done) = match self.frame(dir, walk, stop, data, cut, true, skip) {
            Ok(framed) => framed,
            Err(none) => return none.into(),
        };
        if skip {
            return Parse::Skip { len };
        }
        Parse::Begin {
            len,
            message: self.request(command, declared),
            done,
        }
    }

    /// A command as one line of words (RESP's inline form; no quoting).
    fn inline(&mut self, data: &[u8], cut: bool) -> Parse {
        let (line, len) = match data.iter().position(|&b| b == b'\n') {
            Some(nl) => (&data[..nl], nl + 1),
            None if cut => (data, data.len()),
            None => return Parse::Incomplete,
        };
        let mut command = Command::new(self.redact);
        for word in line.split(|&b| matches!(b, b' ' | b'\t' | b'\r')) {
            if !word.is_empty() {
                command.arg(word, word.len() as u64);
            }
        }
        if command.args == 0 {
            return Parse::Skip { len: len as u64 };
        }
        let declared = command.args as u64;
        Parse::Begin {
            len: len as u64,
            message: self.request(command, declared),
            done: true,
        }
    }

    fn request(&mut self, command: Command, declared: u64) -> Message {
        if SUBSCRIBES.contains(&command.endpoint.as_str()) {
            if self.confirms.len() == MAX_CONFIRMS {
                self.confirms.pop_front();
            }
            // UNSUBSCRIBE without arguments confirms every subscription:
            // its first confirmation is counted, others are pushes.
            self.confirms.push_back(Confirm {
                left: declared.saturating_sub(1).max(1),
                begun: false,
            });
        }
        Message::request(command.endpoint, command.excerpt)
    }

    fn reply(&mut self, data: &[u8], dir: Direction, cut: bool) -> Parse {
        let mut walk = Walk::new();
        let mut shape = Shape::default();
        let stop = walk.run(data, cut, &mut |item| shape.see(item));
        let kind = self.kind(&shape);
        let unexpected = matches!(kind, Reply::Confirm(_)) && self.confirms.is_empty();
        // Cut before its first header: a reply, but not one to read.
        let skip = kind == Reply::Push || unexpected || shape.top.is_none();
        let (len, done) = match self.frame(dir, walk, stop, data, cut, true, skip) {
            Ok(framed) => framed,
            Err(none) => return none.into(),
        };
        if let Reply::Confirm(subscribed) = kind {
            self.subscribed = subscribed;
        }
        let Some(top) = shape.top.filter(|_| !skip) else {
            return Parse::Skip { len };
        };
        let message = Message::response(outcome(&top), excerpt(&top));
        // What is left: responses, and confirmations of a command seen.
        let (Reply::Confirm(_), Some(confirm)) = (kind, self.confirms.front_mut()) else {
            return Parse::Begin { len, message, done };
        };
        let first = !confirm.begun;
        confirm.begun = true;
        confirm.left -= 1;
        let done = done && confirm.left == 0;
        if confirm.left == 0 {
            self.confirms.pop_front();
        }
        if first {
            Parse::Begin { len, message, done }
        } else {
            Parse::More {
                len,
                outcome: None,
                done,
            }
        }
    }

    /// What a reply of this shape is, on this connection.
    fn kind(&self, shape: &Shape) -> Reply {
        let Some(top) = shape.top.filter(|t| matches!(t.kind, b'*' | b'>')) else {
            return Reply::Response;
        };
        let push = top.kind == b'>';
        let word = shape.elements[0].map_or(&[][..], |e| e.text());
        let is = |words: &[&str]| {
            words
                .iter()
                .any(|w| w.as_bytes().eq_ignore_ascii_case(word))
        };
        let message = match top.size {
            3 => is(&["message", "smessage"]),
            4 => is(&["pmessage"]),
            _ => false,
        };
        if message && (push || self.subscribed) {
            return Reply::Push;
        }
        // [kind, channel, subscriptions left]; the count may not have been
        // captured.
        let count = shape.elements[2];
        if top.size == 3 && is(SUBSCRIBES) && count.is_none_or(|c| c.kind == b':') {
            let left = count.and_then(|c| int(c.line));
            return Reply::Confirm(left.map_or(is(&SUBSCRIBES[..3]), |n| n > 0));
        }
        if push { Reply::Push } else { Reply::Response }
    }

    fn resume(&mut self, open: Open, data: &[u8], dir: Direction, cut: bool) -> Parse {
        let Some(mut walk) = open.walk else {
            let len = data.len() as u64;
            return if open.skip {
                Parse::Skip { len }
            } else {
                Parse::More {
                    len,
                    outcome: None,
                    done: false,
                }
            };
        };
        let stop = walk.run(data, cut, &mut |_| {});
        match self.frame(dir, walk, stop, data, cut, false, open.skip) {
            Ok((len, _)) if open.skip => Parse::Skip { len },
            Ok((len, done)) => Parse::More {
                len,
                outcome: None,
                done,
            },
            Err(none) => none.into(),
        }
    }

    /// The length of the unit a walk ended or stopped in, and whether the
    /// message is whole; remembers where the walk stands when the message
    /// runs on.
    #[expect(
        clippy::too_many_arguments,
        reason = "what the walk found and the unit's circumstances, from three callers"
    )]
    fn frame(
        &mut self,
        dir: Direction,
        walk: Walk,
        stop: Stop,
        data: &[u8],
        cut: bool,
        fresh: bool,
        skip: bool,
    ) -> Result<(u64, bool), NoUnit> {
        let open = &mut self.open[dir.index()];
        match stop {
            Stop::Bad => {
                *open = None;
                Err(NoUnit::Invalid)
            }
            Stop::End(len) => {
                *open = None;
                Ok((len, true))
            }
            // Where the message goes on in the uncaptured bytes is unknown.
            Stop::At(at) if cut => {
                *open = Some(Open { walk: None, skip });
                Ok((at.max(data.len() as u64), false))
            }
            Stop::At(at) if at == 0 || (fresh && data.len() < STREAM_AFTER) => {
                Err(NoUnit::Incomplete)
            }
            Stop::At(at) => {
                *open = Some(Open {
                    walk: Some(walk),
                    skip,
                });
                Ok((at, false))
            }
        }
    }
}

/// Why `frame` found no unit.
#[derive(Debug)]
enum NoUnit {
    Incomplete,
    Invalid,
}

impl From<NoUnit> for Parse {
    fn from(none: NoUnit) -> Parse {
        match none {
            NoUnit::Incomplete => Parse::Incomplete,
            NoUnit::Invalid => Parse::Invalid,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Response,
    /// A pub/sub message or a RESP3 push: no call's.
    Push,
    /// A (un)subscribe confirmation: whether subscriptions are left.
    Confirm(bool),
}

/// A command's endpoint and excerpt, built argument by argument.
struct Command {
    redact: bool,
    args: usize,
    endpoint: String,
    excerpt: String,
    /// Arguments still to redact, after a keyword that announces secrets.
    secrets: u32,
}

impl Command {
    fn new(redact: bool) -> Command {
        Command {
            redact,
            args: 0,
            endpoint: String::new(),
            excerpt: String::new(),
            secrets: 0,
        }
    }

    /// Takes the next argument: what was captured of it and its length.
    fn arg(&mut self, arg: &[u8], size: u64) {
        let index = self.args;
        self.args += 1;
        let word = || super::printable(&arg[..arg.len().min(32)]).to_ascii_uppercase();
        if index == 0 {
            self.endpoint = word();
        } else if index == 1
            && CONTAINERS.contains(&self.endpoint.as_str())
            && (1..=32).contains(&arg.len())
            && arg.iter().all(|&b| b.is_ascii_alphabetic() || b == b'-')
        {
            self.endpoint.push(' ');
            self.endpoint.push_str(&word());
        }
        let secret = self.secret(index, arg);
        if index > 0 {
            super::push_excerpt(&mut self.excerpt, " ");
        }
        if secret && self.redact {
            super::push_excerpt(&mut self.excerpt, super::REDACTED);
        } else {
            super::push_excerpt(&mut self.excerpt, &value(arg, size));
        }
    }

    /// Whether argument `index` is a credential: AUTH's arguments, HELLO's
    /// and MIGRATE's after AUTH/AUTH2, CONFIG SET's passwords, ACL SETUSER's
    /// password rules (`>pass`, `<pass`, `#hash`, `!hash`).
    fn secret(&mut self, index: usize, arg: &[u8]) -> bool {
        if self.secrets > 0 {
            self.secrets -= 1;
            return true;
        }
        let is = |keyword: &str| arg.eq_ignore_ascii_case(keyword.as_bytes());
        let announced = match self.endpoint.as_str() {
            "AUTH" => return index > 0,
            "ACL SETUSER" => {
                return index > 2 && matches!(arg.first(), Some(b'>' | b'<' | b'#' | b'!'));
            }
            "HELLO" if is("AUTH") => 2,
            "MIGRATE" if is("AUTH") => 1,
            "MIGRATE" if is("AUTH2") => 2,
            "CONFIG SET" if index.is_multiple_of(2) && (is("requirepass") || is("masterauth")) => 1,
            _ => 0,
        };
        self.secrets = announced;
        false
    }
}

/// A value for an excerpt: its first bytes, printable, and "…" when there
/// was more.
fn value(bytes: &[u8], size: u64) -> String {
    let shown = &bytes[..bytes.len().min(ARG_MAX)];
    let mut text = super::printable(shown);
    if size > shown.len() as u64 {
        text.push('…');
    }
    text
}

fn outcome(top: &Item) -> Outcome {
    if !matches!(top.kind, b'-' | b'!') {
        return Outcome::OK;
    }
    let text = top.text();
    let word = &text[..text.iter().position(|&b| b == b' ').unwrap_or(text.len())];
    let code = super::printable(&word[..word.len().min(32)]);
    let status = if CLIENT_ERRORS.contains(&code.as_str()) {
        Status::ClientError
    } else if SERVER_ERRORS.contains(&code.as_str()) {
        Status::ServerError
    } else {
        Status::Error
    };
    Outcome {
        status,
        code: (!code.is_empty()).then_some(Code::Text(code)),
    }
}

/// A reply's short form: "+OK", ":42", "$5 hello", "*3 [...]", or the
/// error text.
fn excerpt(top: &Item) -> String {
    let kind = char::from(top.kind);
    let size = top.size;
    let mut text = String::new();
    let short = match top.kind {
        b'-' => super::printable(top.line),
        b'!' => value(top.payload, size as u64),
        b'$' | b'=' if size >= 0 => format!("{kind}{size} {}", value(top.payload, size as u64)),
        b'*' | b'~' | b'>' if size > 0 => format!("{kind}{size} [...]"),
        b'%' | b'|' if size > 0 => format!("{kind}{size} {{...}}"),
        _ => format!("{kind}{}", super::printable(top.line)),
    };
    super::push_excerpt(&mut text, &short);
    text
}

/// What a reply's walk saw that says what the reply is.
#[derive(Default)]
struct Shape<'a> {
    /// The reply's own header: the first top-level value after any
    /// attributes (or the attribute, when nothing after it was captured).
    top: Option<Item<'a>>,
    /// The first elements of a top-level aggregate, as far as captured.
    elements: [Option<Item<'a>>; 3],
    seen: usize,
}

impl<'a> Shape<'a> {
    fn see(&mut self, item: &Item<'a>) {
        let reply = self.top.filter(|t| t.kind != b'|');
        match item.depth {
            0 if reply.is_none() => self.top = Some(*item),
            1 if reply.is_some() && self.seen < self.elements.len() => {
                self.elements[self.seen] = Some(*item);
                self.seen += 1;
            }
            _ => {}
        }
    }
}

/// One value's header, as a walk read it.
#[derive(Debug, Clone, Copy)]
struct Item<'a> {
    /// 0 for the message itself, 1 for its elements, ...
    depth: usize,
    /// The RESP type byte.
    kind: u8,
    /// The header line after the type byte, without CRLF.
    line: &'a [u8],
    /// Bulk types: what was captured of the payload.
    payload: &'a [u8],
    /// Bulk types: the payload's length; aggregates: the element count
    /// (-1 for RESP2's nulls).
    size: i64,
}

impl<'a> Item<'a> {
    /// The value as text, for the types that are text.
    fn text(&self) -> &'a [u8] {
        match self.kind {
            b'$' | b'!' | b'=' => self.payload,
            _ => self.line,
        }
    }
}

/// Where a walk over RESP values stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// The message ends here, possibly past the data.
    End(u64),
    /// The data ends first; the walk goes on at this offset (past the data
    /// when a payload runs on).
    At(u64),
    /// Not RESP.
    Bad,
}

/// Where a walk over a message's values stands: the values still to read
/// at each open level, the message itself at the bottom. Fixed size, so a
/// message of any length or count costs the same.
#[derive(Debug, Clone, Copy)]
struct Walk {
    todo: [u64; MAX_DEPTH + 1],
    depth: usize,
}

impl Walk {
    fn new() -> Walk {
        let mut todo = [0; MAX_DEPTH + 1];
        todo[0] = 1;
        Walk { todo, depth: 1 }
    }

    /// Walks values from the start of `data`, showing each header to
    /// `visit`, up to the message's end or the data's. `cut`: the capture
    /// was cut there, so a simple string or error cut short is shown as far
    /// as it goes.
    fn run<'a>(&mut self, data: &'a [u8], cut: bool, visit: &mut dyn FnMut(&Item<'a>)) -> Stop {
        let mut at = 0u64;
        loop {
            while self.depth > 0 && self.todo[self.depth - 1] == 0 {
                self.depth -= 1;
            }
            if self.depth == 0 {
                return Stop::End(at);
            }
            let rest = usize::try_from(at).ok().and_then(|at| data.get(at..));
            let Some(rest) = rest.filter(|r| !r.is_empty()) else {
                return Stop::At(at);
            };
            let kind = rest[0];
            let counted = matches!(kind, b'$' | b'!' | b'=' | b'*' | b'~' | b'>' | b'%' | b'|');
            if !counted && !matches!(kind, b'+' | b'-' | b':' | b',' | b'#' | b'(' | b'_') {
                return Stop::Bad;
            }
            // A length line is short: a long one is not RESP.
            let window = if counted {
                &rest[..rest.len().min(MAX_LENGTH_LINE)]
            } else {
                rest
            };
            let Some(nl) = window.iter().position(|&b| b == b'\n') else {
                if counted && window.len() == MAX_LENGTH_LINE {
                    return Stop::Bad;
                }
                if cut && !counted {
                    let line = &rest[1..];
                    visit(&Item {
                        depth: self.depth - 1,
                        kind,
                        line: line.strip_suffix(b"\r").unwrap_or(line),
                        payload: &[],
                        size: 0,
                    });
                }
                return Stop::At(at);
            };
            let Some(line) = rest[1..nl].strip_suffix(b"\r") else {
                return Stop::Bad;
            };
            let head = nl + 1;
            let level = self.depth - 1;
            let mut item = Item {
                depth: level,
                kind,
                line,
                payload: &[],
                size: 0,
            };
            if counted {
                match int(line) {
                    Some(-1) if matches!(kind, b'$' | b'*') => item.size = -1,
                    Some(size) if size >= 0 => item.size = size,
                    _ => return Stop::Bad,
                }
            }
            at += head as u64;
            match kind {
                b'$' | b'!' | b'=' if item.size >= 0 => {
                    let size = item.size as u64;
                    let payload = &rest[head..];
                    let end = usize::try_from(size).unwrap_or(usize::MAX);
                    item.payload = &payload[..payload.len().min(end)];
                    // The CRLF after the payload, where captured, is all
                    // that says the length was right.
                    let tail = payload.iter().skip(end).take(2);
                    if !tail.zip(b"\r\n").all(|(a, b)| a == b) {
                        return Stop::Bad;
                    }
                    at = at.saturating_add(size + 2);
                    self.todo[level] -= 1;
                }
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    // An attribute comes before the value it describes.
                    if kind != b'|' {
                        self.todo[level] -= 1;
                    }
                    let count = match kind {
                        b'%' | b'|' => item.size * 2,
                        _ => item.size,
                    };
                    if count > 0 {
                        if self.depth > MAX_DEPTH {
                            return Stop::Bad;
                        }
                        self.todo[self.depth] = count as u64;
                        self.depth += 1;
                    }
                }
                _ => self.todo[level] -= 1,
            }
            visit(&item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, Side};
    use crate::{Kind, REDACTED};

    const OUT: Direction = Direction::Egress;
    const IN: Direction = Direction::Ingress;

    /// One connection seen through the framer, units printed one a line.
    struct Conn;

    impl Conn {
        #[expect(
            clippy::new_ret_no_self,
            reason = "builds the shared fixture::Conn with this module's format"
        )]
        fn new() -> fixture::Conn {
            Conn::with(Options::default())
        }

        fn with(options: Options) -> fixture::Conn {
            fixture::Conn::new(&SPEC, options, Transport::Tcp, show)
        }
    }

    fn show(unit: &Parse) -> String {
        let end = |done: bool| if done { "" } else { " (open)" };
        match unit {
            Parse::Begin { len, message, done } if message.kind == Kind::Request => {
                format!(
                    "request {len}{} {} | {}",
                    end(*done),
                    message.endpoint,
                    message.excerpt
                )
            }
            Parse::Begin { len, message, done } => format!(
                "response {len}{} {}{} | {}",
                end(*done),
                message.outcome.status,
                match &message.outcome.code {
                    Some(Code::Text(code)) => format!(" {code}"),
                    _ => String::new(),
                },
                message.excerpt
            ),
            Parse::More { len, done, .. } => format!("more {len}{}", end(*done)),
            Parse::Skip { len } => format!("skip {len}"),
            other => panic!("the framer hands out units only, not {other:?}"),
        }
    }

    fn resp(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    #[test]
    fn check_takes_commands_only() {
        let yes: &[&[u8]] = &[
            b"*1\r\n$4\r\nPING\r\n",
            b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n",
            b"*2\r\n$8\r\nJSON.GET\r\n$1\r\nk\r\n",
            b"*2\r\n$3\r\nGET",
            b"PING\r\n",
            b"get key\r\n",
        ];
        let no: &[&[u8]] = &[
            b"+OK\r\n",
            b"*0\r\n",
            b"*2\r\n$3\r\nGE",
            b"*1\r\n$33\r\nABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG\r\n",
            b"*1\r\n$4\r\nPI1G\r\n",
            b"*2\r\n:1\r\n:2\r\n",
            b"GET / HTTP/1.1\r\n",
            b"GET ",
            b"GET users HTTP/1.1\r\n",
            b"GETX\r\n",
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00",
        ];
        for data in yes {
            assert!(
                check(data, Transport::Tcp),
                "{:?}",
                super::super::printable(data)
            );
        }
        for data in no {
            assert!(
                !check(data, Transport::Tcp),
                "{:?}",
                super::super::printable(data)
            );
        }
        assert!(!check(b"*1\r\n$4\r\nPING\r\n", Transport::Udp));
    }

    #[test]
    fn commands_are_named_by_word_and_subcommand() {
        let mut c = Conn::new();
        let long = [b'v'; 100];
        let units = [
            resp(&[b"set", b"user:1", &long]),
            resp(&[b"CONFIG", b"get", b"maxmemory"]),
            resp(&[b"client", b"setname", b"api"]),
            resp(&[b"GET", b"bin\x00\xff"]),
            resp(&[b"CLIENT", b"12345"]),
        ]
        .concat();
        assert_eq!(
            c.feed(OUT, &units),
            [
                format!("request 133 SET | set user:1 {}…", "v".repeat(64)),
                "request 40 CONFIG GET | CONFIG get maxmemory".to_owned(),
                "request 38 CLIENT SETNAME | client setname api".to_owned(),
                "request 24 GET | GET bin..".to_owned(),
                "request 27 CLIENT | CLIENT 12345".to_owned(),
            ]
        );
    }

    #[test]
    fn inline_commands() {
        let mut c = Conn::new();
        assert_eq!(
            c.feed(OUT, b"ping\r\nset  k v\n"),
            ["request 6 PING | ping", "request 9 SET | set k v"]
        );
        assert_eq!(
            c.feed(IN, b"+PONG\r\n+OK\r\n"),
            ["response 7 ok | +PONG", "response 5 ok | +OK"]
        );
        assert!(
            c.feed(OUT, b"GET ").is_empty(),
            "a line split across syscalls waits"
        );
        assert_eq!(c.feed(OUT, b"k\r\n"), ["request 7 GET | GET k"]);
        // Any word, once commands are known to go this way; text the other
        // way is the rest of a value.
        assert_eq!(
            c.feed(OUT, b"hgetall h\r\n"),
            ["request 11 HGETALL | hgetall h"]
        );
        assert!(c.feed(IN, b"ping pong\r\n").is_empty());
        assert_eq!(c.framer.desyncs, 1);
        let mut fresh = Conn::new();
        assert!(fresh.feed(OUT, b"good morning\r\n").is_empty());
    }

    #[test]
    fn credentials_are_redacted() {
        let cases: [(&[&[u8]], &str); 6] = [
            (&[b"AUTH", b"s3cret"], "AUTH %"),
            (&[b"auth", b"admin", b"s3cret"], "auth % %"),
            (
                &[
                    b"HELLO", b"3", b"AUTH", b"admin", b"s3cret", b"SETNAME", b"x",
                ],
                "HELLO 3 AUTH % % SETNAME x",
            ),
            (
                &[
                    b"MIGRATE", b"h", b"6379", b"", b"0", b"5000", b"AUTH2", b"u", b"s3cret",
                    b"KEYS", b"a",
                ],
                "MIGRATE h 6379  0 5000 AUTH2 % % KEYS a",
            ),
            (
                &[
                    b"CONFIG",
                    b"SET",
                    b"maxmemory",
                    b"1gb",
                    b"masterauth",
                    b"s3cret",
                ],
                "CONFIG SET maxmemory 1gb masterauth %",
            ),
            (
                &[
                    b"ACL", b"SETUSER", b"bob", b"on", b">s3cret", b"#abcd", b"~keys:*", b"+get",
                ],
                "ACL SETUSER bob on % % ~keys:* +get",
            ),
        ];
        for (args, redacted) in cases {
            let mut c = Conn::new();
            let [unit] = &c.feed(OUT, &resp(args))[..] else {
                panic!()
            };
            let excerpt = unit.split(" | ").nth(1).unwrap();
            assert_eq!(excerpt, redacted.replace('%', REDACTED));
            let mut open = Conn::with(Options { redact: false });
            let [unit] = &open.feed(OUT, &resp(args))[..] else {
                panic!()
            };
            assert!(unit.contains("s3cret"), "{unit}");
        }
        let mut c = Conn::new();
        assert_eq!(
            c.feed(OUT, b"AUTH s3cret\r\n"),
            [format!("request 13 AUTH | AUTH {REDACTED}")]
        );
    }

    #[test]
    fn replies_of_every_type() {
        let mut c = Conn::new();
        c.feed(OUT, &resp(&[b"PING"]));
        let replies: &[(&[u8], &str)] = &[
            (b"+OK\r\n", "ok | +OK"),
            (b":42\r\n", "ok | :42"),
            (b"$5\r\nhello\r\n", "ok | $5 hello"),
            (b"$-1\r\n", "ok | $-1"),
            (b"*-1\r\n", "ok | *-1"),
            (b"*0\r\n", "ok | *0"),
            (b"*3\r\n:1\r\n*1\r\n$1\r\na\r\n_\r\n", "ok | *3 [...]"),
            (b"_\r\n", "ok | _"),
            (b",3.14\r\n", "ok | ,3.14"),
            (b"#t\r\n", "ok | #t"),
            (
                b"(3492890328409238509324850943850943825024385\r\n",
                "ok | (3492890328409238509324850943850943825024385",
            ),
            (b"=15\r\ntxt:Some string\r\n", "ok | =15 txt:Some string"),
            (b"%1\r\n+key\r\n~2\r\n:1\r\n:2\r\n", "ok | %1 {...}"),
            (b"|1\r\n+ttl\r\n:3600\r\n+OK\r\n", "ok | +OK"),
            (
                b"-ERR unknown command 'FOO'\r\n",
                "client_error ERR | ERR unknown command 'FOO'",
            ),
            (
                b"-WRONGTYPE Operation against a key\r\n",
                "client_error WRONGTYPE | WRONGTYPE Operation against a key",
            ),
            (
                b"-NOAUTH Authentication required.\r\n",
                "client_error NOAUTH | NOAUTH Authentication required.",
            ),
            (
                b"-LOADING Redis is loading\r\n",
                "server_error LOADING | LOADING Redis is loading",
            ),
            (
                b"-READONLY You can't write\r\n",
                "server_error READONLY | READONLY You can't write",
            ),
            (
                b"-MOVED 3999 127.0.0.1:6381\r\n",
                "error MOVED | MOVED 3999 127.0.0.1:6381",
            ),
            (
                b"!21\r\nSYNTAX invalid syntax\r\n",
                "error SYNTAX | SYNTAX invalid syntax",
            ),
        ];
        for (reply, shown) in replies {
            assert_eq!(
                c.feed(IN, reply),
                [format!("response {} {shown}", reply.len())]
            );
        }
        // Pushes belong to no call.
        assert_eq!(
            c.feed(IN, b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"),
            ["skip 32"]
        );
    }

    #[test]
    fn pipelined_commands_and_replies() {
        let mut c = Conn::new();
        let commands = [
            resp(&[b"SET", b"a", b"1"]),
            resp(&[b"INCR", b"a"]),
            resp(&[b"GET", b"a"]),
        ]
        .concat();
        assert_eq!(
            c.feed(OUT, &commands),
            [
                "request 27 SET | SET a 1",
                "request 21 INCR | INCR a",
                "request 20 GET | GET a"
            ]
        );
        assert_eq!(
            c.feed(IN, b"+OK\r\n:2\r\n$1\r\n2\r\n"),
            [
                "response 5 ok | +OK",
                "response 4 ok | :2",
                "response 7 ok | $1 2"
            ]
        );
    }

    #[test]
    fn a_message_split_across_syscalls_is_joined() {
        let mut c = Conn::new();
        let command = resp(&[b"HSET", b"h", b"field", b"value"]);
        for cut in [3, 10, 20] {
            assert!(c.feed(OUT, &command[..cut]).is_empty());
            assert_eq!(
                c.feed(OUT, &command[cut..]),
                ["request 43 HSET | HSET h field value"]
            );
        }
        // Only the last byte missing: the length is known, the byte skipped.
        assert_eq!(
            c.feed(OUT, &command[..42]),
            ["request 43 HSET | HSET h field value"]
        );
        assert!(c.feed(OUT, b"\n").is_empty());
        assert!(c.feed(IN, b"*2\r\n$1\r\na\r").is_empty());
        assert_eq!(c.feed(IN, b"\n$1\r\nb\r\n"), ["response 18 ok | *2 [...]"]);
    }

    #[test]
    fn bulk_payloads_past_the_capture_are_skipped() {
        let mut c = Conn::new();
        let value = vec![b'x'; 5000];
        let set = [resp(&[b"SET", b"big", &value]), resp(&[b"GET", b"big"])].concat();
        // The whole length from the bulk headers, the next command found.
        assert_eq!(
            c.feed_cut(OUT, &set[..64], 5000),
            [format!("request 5031 SET | SET big {}…", "x".repeat(35))]
        );
        assert_eq!(c.feed(OUT, &set[5000..]), ["request 22 GET | GET big"]);
        let reply = [b"$5000\r\n".as_slice(), &value, b"\r\n"].concat();
        assert_eq!(
            c.feed_cut(IN, &reply[..64], reply.len()),
            [format!("response 5009 ok | $5000 {}…", "x".repeat(57))]
        );
        assert_eq!(c.framer.desyncs, 0);
    }

    #[test]
    fn a_cut_inside_a_header_takes_the_rest_of_the_syscall() {
        let mut c = Conn::new();
        let mset = resp(&[b"MSET", b"a", b"1", b"b", b"2"]);
        assert_eq!(
            c.feed_cut(OUT, &mset[..23], 4000),
            ["request 23 (open) MSET | MSET a"]
        );
        // The end is unknown: this way, all is the same command's until the
        // server answers.
        assert_eq!(c.feed(OUT, b"$1\r\n2\r\n"), ["more 7 (open)"]);
        assert_eq!(c.feed(IN, b"+OK\r\n"), ["response 5 ok | +OK"]);
        assert_eq!(
            c.feed(OUT, &resp(&[b"GET", b"a"])),
            ["request 20 GET | GET a"]
        );
        // Cut before a command's name: a unit, but none to name.
        assert_eq!(c.feed_cut(OUT, b"*2\r", 100), ["skip 3"]);
        // A reply lost track of takes what follows, but a syscall of one
        // whole reply is one.
        assert_eq!(
            c.feed_cut(IN, b"*2\r\n$1\r\na\r\n$1", 30),
            ["response 13 (open) ok | *2 [...]"]
        );
        assert_eq!(c.feed(IN, b"\r\nb\r\n$1\r\n"), ["more 9 (open)"]);
        assert_eq!(c.feed(IN, b"+OK\r\n"), ["response 5 ok | +OK"]);
        // An error line cut short still has its code.
        assert_eq!(
            c.feed_cut(IN, b"-WRONGTYPE Operation", 68),
            ["response 20 (open) client_error WRONGTYPE | WRONGTYPE Operation"]
        );
    }

    #[test]
    fn a_long_reply_is_streamed_across_syscalls() {
        let mut c = Conn::new();
        c.feed(OUT, &resp(&[b"LRANGE", b"l", b"0", b"-1"]));
        let mut reply = b"*3000\r\n".to_vec();
        for i in 0..3000 {
            reply.extend_from_slice(format!("$6\r\nv{i:05}\r\n").as_bytes());
        }
        let chunks: Vec<&[u8]> = reply.chunks(7000).collect();
        let mut units = Vec::new();
        for chunk in &chunks {
            units.extend(c.feed(IN, chunk));
        }
        assert_eq!(
            units.first().unwrap(),
            "response 7003 (open) ok | *3000 [...]"
        );
        assert_eq!(units.last().unwrap(), "more 1008");
        assert_eq!(units.len(), chunks.len());
        assert_eq!(c.framer.desyncs, 0);
        assert_eq!(c.feed(IN, b"+OK\r\n"), ["response 5 ok | +OK"]);
    }

    #[test]
    fn attached_mid_connection() {
        // A reply first says which way commands go; the rest of a lost
        // message is dropped.
        let mut c = Conn::new();
        assert_eq!(
            c.feed(IN, b"$3\r\nfoo\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
            ["response 9 ok | $3 foo", "response 18 ok | *2 [...]"]
        );
        assert_eq!(c.feed(OUT, b"$5\r\nvalue\r\n"), Vec::<String>::new());
        assert_eq!(c.framer.desyncs, 1);
        assert_eq!(
            c.feed(OUT, &resp(&[b"GET", b"k"])),
            ["request 20 GET | GET k"]
        );
        // An array the other way first: a guess from its first element.
        let mut c = Conn::new();
        assert_eq!(
            c.feed(IN, &resp(&[b"GET", b"k"])),
            ["request 20 GET | GET k"]
        );
        assert_eq!(
            c.feed(OUT, &resp(&[b"a", b"b"])),
            ["response 18 ok | *2 [...]"]
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut c = Conn::new();
        c.feed(OUT, &resp(&[b"PING"]));
        let deep = [b"*1\r\n".repeat(17), b":1\r\n".to_vec()].concat();
        assert!(c.feed(IN, &deep).is_empty());
        assert_eq!(c.framer.desyncs, 1);
        let ok = [b"*1\r\n".repeat(16), b":1\r\n".to_vec()].concat();
        assert_eq!(c.feed(IN, &ok), ["response 68 ok | *1 [...]"]);
        // Counts beyond any capture cost nothing.
        assert_eq!(
            c.feed_cut(IN, b"*99999999999999\r\n$3\r\nabc\r\n", 1 << 30),
            ["response 26 (open) ok | *99999999999999 [...]"]
        );
    }

    #[test]
    fn subscriptions_resp2_and_resp3() {
        for push in ['*', '>'] {
            let mut c = Conn::new();
            let subscribe = resp(&[b"SUBSCRIBE", b"a", b"b"]);
            assert_eq!(
                c.feed(OUT, &subscribe),
                ["request 33 SUBSCRIBE | SUBSCRIBE a b"]
            );
            // One confirmation per channel: the first is the response, the
            // others extend it; messages in between belong to no call.
            let confirm = |ch, n| format!("{push}3\r\n$9\r\nsubscribe\r\n$1\r\n{ch}\r\n:{n}\r\n");
            let message = format!("{push}3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n");
            assert_eq!(
                c.feed(IN, confirm("a", 1).as_bytes()),
                [format!("response 30 (open) ok | {push}3 [...]")]
            );
            assert_eq!(c.feed(IN, message.as_bytes()), ["skip 32"]);
            assert_eq!(c.feed(IN, confirm("b", 2).as_bytes()), ["more 30"]);
            assert_eq!(c.feed(IN, message.as_bytes()), ["skip 32"]);
        }
        // RESP2 answers PING in pub/sub mode with an array.
        let mut c = Conn::new();
        c.feed(OUT, &resp(&[b"SUBSCRIBE", b"a"]));
        c.feed(IN, b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(c.feed(OUT, &resp(&[b"PING"])), ["request 14 PING | PING"]);
        assert_eq!(
            c.feed(IN, b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
            ["response 20 ok | *2 [...]"]
        );
        // Unsubscribed, "message" first in an array is a reply again.
        c.feed(OUT, &resp(&[b"UNSUBSCRIBE"]));
        assert_eq!(
            c.feed(IN, b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n"),
            ["response 33 ok | *3 [...]"]
        );
        c.feed(OUT, &resp(&[b"LRANGE", b"l", b"0", b"-1"]));
        assert_eq!(
            c.feed(IN, b"*1\r\n$7\r\nmessage\r\n"),
            ["response 17 ok | *1 [...]"]
        );
    }

    #[test]
    fn fixtures() {
        for (name, records) in fixture::all("redis") {
            let mut text = String::new();
            for (title, snaplen, side) in [
                ("client", usize::MAX, Side::Client),
                ("server", usize::MAX, Side::Server),
                ("client, snaplen 64", 64, Side::Client),
            ] {
                let replay = fixture::replay(
                    &SPEC,
                    Transport::Tcp,
                    &records,
                    snaplen,
                    side,
                    Options::default(),
                );
                text.push_str(&format!("-- {title}\n{replay}"));
            }
            insta::assert_snapshot!(name, text);
        }
    }

    #[test]
    fn no_panic_on_any_bytes() {
        let seeds: Vec<Vec<u8>> = fixture::all("redis")
            .into_iter()
            .map(|(_, records)| {
                records
                    .into_iter()
                    .flat_map(|r| r.bytes)
                    .take(2000)
                    .collect()
            })
            .collect();
        let mut next = fixture::xorshift(0x2545_f491_4f6c_dd1du64);
        const ALPHABET: &[u8] = b"*$:+-%~>|!=_,#(\r\n0123456789-abcPING ";
        for i in 0..4000 {
            let mut bytes: Vec<u8> = match i % 3 {
                0 => seeds[i / 3 % seeds.len()].clone(),
                1 => (0..next() % 300)
                    .map(|_| ALPHABET[next() as usize % ALPHABET.len()])
                    .collect(),
                _ => (0..next() % 300).map(|_| next() as u8).collect(),
            };
            for _ in 0..next() % 8 {
                if !bytes.is_empty() {
                    let at = next() as usize % bytes.len();
                    bytes[at] = ALPHABET[next() as usize % ALPHABET.len()];
                }
            }
            super::super::exercise(Protocol::Redis, Transport::Tcp, &bytes);
        }
    }
}
