//! HTTP/1.0 and HTTP/1.1 over TCP: requests and responses, their body
//! framing (RFC 9112 §6.3), templated endpoints and W3C trace context.
//!
//! Heads are read with `httparse`. A head cut by the snaplen only makes
//! httparse say `Partial`, so then the first line and the header lines that
//! arrived whole are read by hand: a cut head still names its endpoint.
//!
//! Per connection the parser keeps, for each direction, whether a chunked or
//! close-delimited body is under way (or the unknown rest of a message whose
//! head was cut, skipped up to the next head), and the methods of requests
//! not yet answered (up to [`MAX_OUTSTANDING`]), because a response to HEAD
//! has no body and one to CONNECT turns the connection into a tunnel.

use std::collections::VecDeque;
use std::time::Duration;

use httparse::{EMPTY_HEADER, Header, Status as Progress};

use super::{
    Direction, EXCERPT_MAX, Kind, Message, Options, Outcome, Parse, Parser, REDACTED, Spec,
    TraceContext, TraceParent, Transport, printable, push_excerpt, push_printable,
};
use dflow_model::{Code, Protocol, Status};

pub const SPEC: Spec = Spec {
    protocol: Protocol::Http1,
    timeout: Duration::from_secs(60),
    check,
    new,
};

/// The methods detection accepts; parsing takes any upper-case token
/// (WebDAV's PROPFIND, ...) once the connection is known to be HTTP.
const METHODS: [&[u8]; 9] = [
    b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
];

/// Header fields read per head: hyper's default limit. A head with more is
/// taken for garbage.
const MAX_HEADERS: usize = 100;
const MAX_TRAILERS: usize = 16;
/// Requests whose response has not been seen yet. Beyond it the oldest is
/// forgotten: pipelines this deep do not happen, a lost response does.
const MAX_OUTSTANDING: usize = 64;
/// A chunk-size line longer than this (extensions included) is garbage.
const CHUNK_LINE_MAX: usize = 1024;
const ENDPOINT_MAX: usize = 128;
const REQUEST_ID_MAX: usize = 128;
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Whether a header's value is a credential: the [`SECRET_HEADERS`], and
/// any named like one (`X-Api-Key`, `X-Auth-Token`, `X-Client-Secret`).
fn secret_header(name: &[u8]) -> bool {
    SECRET_HEADERS
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s.as_bytes()))
        || [b"-token".as_slice(), b"-key", b"-secret"]
            .iter()
            .any(|end| {
                name.len() >= end.len() && name[name.len() - end.len()..].eq_ignore_ascii_case(end)
            })
}

/// A request line's start: a known method, a space, and a target in origin,
/// absolute or asterisk form (authority form for CONNECT); when the line is
/// complete, it must end with the HTTP/1 version.
fn check(data: &[u8], transport: Transport) -> bool {
    if transport != Transport::Tcp {
        return false;
    }
    let Some((method, target)) = METHODS
        .iter()
        .find_map(|&m| Some((m, data.strip_prefix(m)?.strip_prefix(b" ")?)))
    else {
        return false;
    };
    let form = target.starts_with(b"/")
        || target.starts_with(b"http")
        || target.starts_with(b"*")
        || (method == b"CONNECT" && target.first().is_some_and(u8::is_ascii_alphanumeric));
    form && match data.iter().position(|&b| b == b'\n') {
        None => true,
        Some(end) => {
            let line = trim_cr(&data[..end]);
            line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0")
        }
    }
}

fn new(options: Options, _: Transport) -> Box<dyn Parser> {
    Box::new(Http1 {
        redact: options.redact,
        body: [Body::None; 2],
        asked: VecDeque::new(),
        tunnel: false,
    })
}

/// What the next unit in one direction is, besides a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    /// A chunk (size line, data, CRLF) or the last chunk and trailers.
    Chunked,
    /// Anything but a status line: a response body delimited by the close.
    UntilClose,
    /// Anything but a head: the rest of a message whose head was cut, so
    /// its framing is unknown.
    Unknown,
}

/// What a response needs to know of the request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Head,
    Connect,
    Other,
}

/// How a message's body is delimited.
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

struct Http1 {
    redact: bool,
    body: [Body; 2],
    asked: VecDeque<Asked>,
    /// A 101 or a 2xx to CONNECT: the rest of the connection is another
    /// protocol.
    tunnel: bool,
}

impl Parser for Http1 {
    fn parse(&mut self, data: &[u8], dir: Direction, cut: bool) -> Parse {
        if self.tunnel {
            return Parse::Skip {
                len: data.len() as u64,
            };
        }
        let side = dir.index();
        match self.body[side] {
            Body::Chunked => match self.chunk(data, side, cut) {
                // Lost chunk framing: maybe a new head starts here.
                Parse::Invalid => {}
                unit => return unit,
            },
            Body::UntilClose if !data.starts_with(b"HTTP/1.") => {
                return Parse::More {
                    len: data.len() as u64,
                    outcome: None,
                    done: false,
                };
            }
            Body::Unknown if !data.starts_with(b"HTTP/1.") && !check(data, Transport::Tcp) => {
                return Parse::Skip {
                    len: data.len() as u64,
                };
            }
            _ => self.body[side] = Body::None,
        }
        // Stray empty lines between messages (RFC 9112 §2.2).
        let blank = data
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if blank > 0 {
            return Parse::Skip { len: blank as u64 };
        }
        if data.starts_with(b"HTTP/") {
            self.response(data, side, cut)
        } else {
            self.request(data, side, cut)
        }
    }
}

impl Http1 {
    fn request(&mut self, data: &[u8], side: usize, cut: bool) -> Parse {
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(data) {
            Ok(Progress::Complete(head)) => {
                let (Some(method), Some(target)) = (req.method, req.path) else {
                    return Parse::Invalid;
                };
                let Some(framing) = framing(req.headers, Kind::Request) else {
                    return Parse::Invalid;
                };
                if !is_method(method.as_bytes()) {
                    return Parse::Invalid;
                }
                let (line, _) = split_line(data);
                let message = self.request_message(
                    line,
                    method.as_bytes(),
                    target.as_bytes(),
                    true,
                    fields(req.headers),
                );
                self.begin(side, head, framing, data, message)
            }
            Ok(Progress::Partial) if cut => {
                let (line, rest) = split_line(data);
                let mut parts = line.splitn(3, |&b| b == b' ');
                let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
                    return Parse::Invalid;
                };
                if !is_method(method) || target.is_empty() {
                    return Parse::Invalid;
                }
                // Unless a space followed it, the target may go on.
                let whole = parts.next().is_some();
                let message =
                    self.request_message(line, method, target, whole, complete_fields(rest));
                self.body[side] = Body::Unknown;
                Parse::Begin {
                    len: data.len() as u64,
                    message,
                    done: true,
                }
            }
            // Only an upper-case token can grow into a request line: a body
            // seen after attaching mid-connection is dropped at once rather
            // than kept to spoil the next head.
            Ok(Progress::Partial) => {
                let token = data.split(|&b| b == b' ').next().unwrap_or_default();
                if is_method(token) {
                    Parse::Incomplete
                } else {
                    Parse::Invalid
                }
            }
            Err(_) => Parse::Invalid,
        }
    }

    fn response(&mut self, data: &[u8], side: usize, cut: bool) -> Parse {
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(data) {
            Ok(Progress::Complete(head)) => {
                let code = res.code.unwrap_or_default();
                if is_interim(code) {
                    return Parse::Skip { len: head as u64 };
                }
                let asked = self.asked.pop_front().unwrap_or(Asked::Other);
                let framing = if code == 101 || (asked == Asked::Connect && is_success(code)) {
                    // RFC 9110 §15.2.2 and §9.3.6: HTTP ends here.
                    self.tunnel = true;
                    Framing::Length(0)
                } else if asked == Asked::Head || code == 204 || code == 304 {
                    Framing::Length(0)
                } else {
                    match framing(res.headers, Kind::Response) {
                        Some(framing) => framing,
                        None => return Parse::Invalid,
                    }
                };
                let (line, _) = split_line(data);
                let message = self.response_message(line, code, fields(res.headers));
                self.begin(side, head, framing, data, message)
            }
            Ok(Progress::Partial) if cut => {
                let (line, rest) = split_line(data);
                let Some(code) = status_code(line) else {
                    return Parse::Invalid;
                };
                if is_interim(code) {
                    return Parse::Skip {
                        len: data.len() as u64,
                    };
                }
                self.asked.pop_front();
                let message = self.response_message(line, code, complete_fields(rest));
                self.body[side] = Body::Unknown;
                Parse::Begin {
                    len: data.len() as u64,
                    message,
                    done: true,
                }
            }
            Ok(Progress::Partial) => Parse::Incomplete,
            Err(_) => Parse::Invalid,
        }
    }

    fn chunk(&mut self, data: &[u8], side: usize, cut: bool) -> Parse {
        self.body[side] = Body::None;
        // httparse reads an empty size line as 0.
        if !data.first().is_some_and(u8::is_ascii_hexdigit) {
            return Parse::Invalid;
        }
        match httparse::parse_chunk_size(data) {
            Ok(Progress::Complete((line, 0))) => {
                // The last chunk: trailer fields up to an empty line.
                let mut trailers = [EMPTY_HEADER; MAX_TRAILERS];
                let end = match httparse::parse_headers(&data[line..], &mut trailers) {
                    Ok(Progress::Complete((end, _))) => line + end,
                    Ok(Progress::Partial) if cut => data.len(),
                    Ok(Progress::Partial) => {
                        self.body[side] = Body::Chunked;
                        return Parse::Incomplete;
                    }
                    Err(_) => return Parse::Invalid,
                };
                Parse::More {
                    len: end as u64,
                    outcome: None,
                    done: true,
                }
            }
            Ok(Progress::Complete((line, size))) => {
                self.body[side] = Body::Chunked;
                Parse::More {
                    len: (line as u64).saturating_add(size).saturating_add(2),
                    outcome: None,
                    done: false,
                }
            }
            Ok(Progress::Partial) if !cut && data.len() <= CHUNK_LINE_MAX => {
                self.body[side] = Body::Chunked;
                Parse::Incomplete
            }
            _ => Parse::Invalid,
        }
    }

    /// The Begin of a message whose head is `head` bytes of `data`.
    fn begin(
        &mut self,
        side: usize,
        head: usize,
        framing: Framing,
        data: &[u8],
        message: Message,
    ) -> Parse {
        let head = head as u64;
        let (len, done, body) = match framing {
            Framing::Length(n) => (head.saturating_add(n), true, Body::None),
            Framing::Chunked => (head, false, Body::Chunked),
            Framing::UntilClose => (data.len() as u64, false, Body::UntilClose),
        };
        self.body[side] = body;
        Parse::Begin { len, message, done }
    }

    fn request_message<'h>(
        &mut self,
        line: &[u8],
        method: &[u8],
        target: &[u8],
        whole: bool,
        fields: impl Iterator<Item = (&'h [u8], &'h [u8])>,
    ) -> Message {
        if self.asked.len() == MAX_OUTSTANDING {
            self.asked.pop_front();
        }
        self.asked.push_back(match method {
            b"HEAD" => Asked::Head,
            b"CONNECT" => Asked::Connect,
            _ => Asked::Other,
        });
        let (excerpt, context) = self.describe(line, fields);
        let mut message = Message::request(endpoint(method, target, whole), excerpt);
        message.context = context;
        message
    }

    fn response_message<'h>(
        &self,
        line: &[u8],
        code: u16,
        fields: impl Iterator<Item = (&'h [u8], &'h [u8])>,
    ) -> Message {
        let status = match code {
            101 | 200..=399 => Status::Ok,
            400..=499 => Status::ClientError,
            500..=599 => Status::ServerError,
            _ => Status::Error,
        };
        let outcome = Outcome {
            status,
            code: Some(Code::Num(i32::from(code))),
        };
        Message::response(outcome, self.describe(line, fields).0)
    }

    /// The excerpt (first line, then one header field a line, credentials
    /// redacted) and the trace context of a head.
    fn describe<'h>(
        &self,
        line: &[u8],
        fields: impl Iterator<Item = (&'h [u8], &'h [u8])>,
    ) -> (String, TraceContext) {
        let mut excerpt = String::with_capacity(256);
        push_line(&mut excerpt, line, self.redact);
        let mut context = TraceContext::default();
        for (name, value) in fields {
            if name.eq_ignore_ascii_case(b"traceparent") {
                context.traceparent = traceparent(value);
            } else if name.eq_ignore_ascii_case(b"x-request-id") && !value.is_empty() {
                context.request_id = Some(printable(&value[..value.len().min(REQUEST_ID_MAX)]));
            }
            if excerpt.len() < EXCERPT_MAX {
                let secret = self.redact && secret_header(name);
                push_excerpt(&mut excerpt, "\n");
                push_printable(&mut excerpt, name);
                push_excerpt(&mut excerpt, ": ");
                if secret {
                    push_excerpt(&mut excerpt, REDACTED);
                } else {
                    push_printable(&mut excerpt, value);
                }
            }
        }
        (excerpt, context)
    }
}

/// Whether a query parameter's name says its value is a credential
/// (`access_token`, `api_key`, `password`, `X-Amz-Signature`, ...).
fn secret_param(name: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"token",
        b"password",
        b"passwd",
        b"secret",
        b"key",
        b"auth",
        b"signature",
        b"sig",
        b"session",
        b"credential",
    ];
    let lower = name.to_ascii_lowercase();
    WORDS
        .iter()
        .any(|w| lower.windows(w.len()).any(|part| part == *w))
}

/// A request or status line into the excerpt; with `redact`, the values of
/// query parameters that hold credentials are replaced.
fn push_line(excerpt: &mut String, line: &[u8], redact: bool) {
    let query = line.iter().position(|&b| b == b'?');
    let (Some(q), true) = (query, redact) else {
        push_printable(excerpt, line);
        return;
    };
    let end = line[q..]
        .iter()
        .position(|&b| b == b' ' || b == b'#')
        .map_or(line.len(), |e| q + e);
    push_printable(excerpt, &line[..=q]);
    for (i, pair) in line[q + 1..end].split(|&b| b == b'&').enumerate() {
        if i > 0 {
            push_excerpt(excerpt, "&");
        }
        match pair.iter().position(|&b| b == b'=') {
            Some(eq) if secret_param(&pair[..eq]) => {
                push_printable(excerpt, &pair[..=eq]);
                push_excerpt(excerpt, REDACTED);
            }
            _ => push_printable(excerpt, pair),
        }
    }
    push_printable(excerpt, &line[end..]);
}

/// The body framing headers announce (RFC 9112 §6.3); None when they
/// contradict each other or a request's body cannot be delimited.
fn framing(headers: &[Header], kind: Kind) -> Option<Framing> {
    let mut chunked = None;
    let mut length = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let value = h.value.trim_ascii();
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n = std::str::from_utf8(value).ok()?.parse().ok()?;
            if length.is_some_and(|l| l != n) {
                return None;
            }
            length = Some(n);
        }
    }
    // Transfer-Encoding overrides Content-Length; only a final "chunked"
    // delimits a body, and requests without either have none.
    match (chunked, length, kind) {
        (Some(true), _, _) => Some(Framing::Chunked),
        (Some(false), _, Kind::Request) => None,
        (None, Some(n), _) => Some(Framing::Length(n)),
        (None, None, Kind::Request) => Some(Framing::Length(0)),
        (_, _, Kind::Response) => Some(Framing::UntilClose),
    }
}

fn fields<'h>(headers: &'h [Header<'h>]) -> impl Iterator<Item = (&'h [u8], &'h [u8])> {
    headers.iter().map(|h| (h.name.as_bytes(), h.value))
}

/// The header fields of a cut head that arrived whole: lines ended by LF.
fn complete_fields(rest: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let whole = rest
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(&rest[..0], |end| &rest[..end]);
    whole.split(|&b| b == b'\n').filter_map(|line| {
        let line = trim_cr(line);
        // An obsolete line folding continues the previous field.
        if line.first().is_some_and(u8::is_ascii_whitespace) {
            return None;
        }
        let colon = line.iter().position(|&b| b == b':')?;
        Some((&line[..colon], line[colon + 1..].trim_ascii()))
    })
}

/// The first line without its line end, and what follows it (empty when
/// the line is not complete).
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(end) => (trim_cr(&data[..end]), &data[end + 1..]),
        None => (data, &[]),
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn is_method(token: &[u8]) -> bool {
    (1..=20).contains(&token.len())
        && token
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
}

/// The code of a status line as far as it arrived: `HTTP/1.x NNN`.
fn status_code(line: &[u8]) -> Option<u16> {
    let (version, rest) = line.split_at_checked(9)?;
    let code = rest.get(..3)?;
    let valid = matches!(version, b"HTTP/1.0 " | b"HTTP/1.1 ")
        && code.iter().all(u8::is_ascii_digit)
        && rest.get(3).is_none_or(|&b| b == b' ');
    valid.then(|| code.iter().fold(0, |n, &d| n * 10 + u16::from(d - b'0')))
}

/// 1xx but 101: a response that is not the final one.
fn is_interim(code: u16) -> bool {
    (100..200).contains(&code) && code != 101
}

fn is_success(code: u16) -> bool {
    (200..300).contains(&code)
}

/// `METHOD /path` without query or fragment, ids as `{id}`; an
/// absolute-form target keeps its path only. When the capture cut the
/// target before its query, its last segment is partial: `...` replaces it,
/// so that cuts at different places make one endpoint.
fn endpoint(method: &[u8], target: &[u8], whole: bool) -> String {
    let mut path = target;
    if !target.starts_with(b"/")
        && let Some(at) = target.windows(3).position(|w| w == b"://")
    {
        let rest = &target[at + 3..];
        path = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?' || b == b'#')
            .map_or(b"/", |p| &rest[p..]);
    }
    let mut path = path
        .split(|&b| b == b'?' || b == b'#')
        .next()
        .unwrap_or_default();
    let cut = !whole && path.len() == target.len();
    if cut {
        path = &path[..path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)];
    }
    let mut out = String::with_capacity(method.len() + path.len() + 8);
    push_printable(&mut out, method);
    out.push(' ');
    for (i, segment) in path.split(|&b| b == b'/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if is_id(segment) {
            out.push_str("{id}");
        } else {
            push_printable(&mut out, segment);
        }
        if out.len() >= ENDPOINT_MAX {
            break;
        }
    }
    if cut {
        out.push_str("...");
    }
    // `printable` made it ASCII: any length is a char boundary.
    out.truncate(ENDPOINT_MAX);
    out
}

/// A path segment that names one thing among many: digits, a UUID, a hex
/// string of 8 or more with a digit, or a long opaque token of letters and
/// digits.
fn is_id(segment: &[u8]) -> bool {
    let digits = segment.iter().filter(|b| b.is_ascii_digit()).count();
    let all = |f: fn(&u8) -> bool| segment.iter().all(f);
    let uuid = segment.len() == 36
        && segment.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    let hex = segment.len() >= 8 && digits > 0 && all(u8::is_ascii_hexdigit);
    let token = segment.len() >= 16
        && digits > 0
        && segment.iter().any(u8::is_ascii_alphabetic)
        && all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (!segment.is_empty() && digits == segment.len()) || uuid || hex || token
}

/// W3C `traceparent`: `vv-<32 hex trace id>-<16 hex parent id>-<2 hex
/// flags>`, lower-case; later versions may append `-...`.
fn traceparent(value: &[u8]) -> Option<TraceParent> {
    let v = value.trim_ascii();
    let hex = |s: &[u8]| {
        s.iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .then(|| u128::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok())
            .flatten()
    };
    if v.len() < 55 || [2, 35, 52].iter().any(|&i| v[i] != b'-') {
        return None;
    }
    let version = hex(&v[..2])?;
    let trace_id = hex(&v[3..35])?;
    let parent_id = u64::try_from(hex(&v[36..52])?).ok()?;
    hex(&v[53..55])?;
    let tail_ok = if version == 0 {
        v.len() == 55
    } else {
        v.get(55).is_none_or(|&b| b == b'-')
    };
    (version != 0xff && tail_ok && trace_id != 0 && parent_id != 0).then_some(TraceParent {
        trace_id,
        parent_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Direction::{Egress, Ingress};
    use crate::fixture::{self, Side};
    use crate::framer::Framer;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn parser() -> Box<dyn Parser> {
        new(Options::default(), Transport::Tcp)
    }

    /// The units of syscalls as a capture of `snaplen` delivers them.
    fn units(snaplen: usize, syscalls: &[(Direction, &[u8])]) -> (Vec<Parse>, u64) {
        let mut parser = parser();
        let mut framer = Framer::new(Transport::Tcp);
        let mut out = Vec::new();
        for (dir, bytes) in syscalls {
            let captured = &bytes[..bytes.len().min(snaplen)];
            framer.feed(
                parser.as_mut(),
                *dir,
                captured,
                bytes.len() as u64,
                &mut out,
            );
        }
        (out, framer.desyncs)
    }

    /// Units in short: `B<len>` / `B<len>+` (done / more to come), `M...`, `S<len>`.
    fn shape(units: &[Parse]) -> Vec<String> {
        units
            .iter()
            .map(|u| match u {
                Parse::Begin { len, done, .. } => format!("B{len}{}", if *done { "" } else { "+" }),
                Parse::More { len, done, .. } => format!("M{len}{}", if *done { "" } else { "+" }),
                Parse::Skip { len } => format!("S{len}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn message(unit: &Parse) -> &Message {
        match unit {
            Parse::Begin { message, .. } => message,
            other => panic!("not a Begin: {other:?}"),
        }
    }

    #[test]
    fn check_takes_http1_request_lines_only() {
        for method in METHODS {
            let line = [method, b" / HTTP/1.1\r\n".as_slice()].concat();
            assert!(check(&line, Transport::Tcp), "{line:?}");
        }
        for yes in [
            "GET http://example.com/ HTTP/1.0\r\n",
            "OPTIONS * HTTP/1.1\r\n",
            "CONNECT example.com:443 HTTP/1.1\r\n",
            "GET /only/the/start/of/a/long/line",
        ] {
            assert!(check(yes.as_bytes(), Transport::Tcp), "{yes}");
        }
        assert!(!check(b"GET / HTTP/1.1\r\n", Transport::Udp));
        for no in [
            "GET / HTTP/2.0\r\n",
            "PRI * HTTP/2.0\r\n",
            "GETS / HTTP/1.1\r\n",
            "get / HTTP/1.1\r\n",
            "GET foo HTTP/1.1\r\n",
            "GET ",
            "HTTP/1.1 200 OK\r\n",
            "*3\r\n$3\r\nSET\r\n",
            "\u{16}\u{3}\u{1}\u{2}",
        ] {
            assert!(!check(no.as_bytes(), Transport::Tcp), "{no}");
        }
    }

    #[test]
    fn credentials_in_query_strings_are_redacted() {
        let mut e = String::new();
        push_line(
            &mut e,
            b"GET /cb?code=7&access_token=abc123&X-Amz-Signature=f00&page=2 HTTP/1.1",
            true,
        );
        assert_eq!(
            e,
            "GET /cb?code=7&access_token=[redacted]&X-Amz-Signature=[redacted]&page=2 HTTP/1.1"
        );
        let mut kept = String::new();
        push_line(&mut kept, b"GET /cb?access_token=abc123 HTTP/1.1", false);
        assert!(kept.contains("abc123"));
    }

    #[test]
    fn endpoints_template_ids_and_drop_queries() {
        for (method, target, endpoint) in [
            ("GET", "/", "GET /"),
            (
                "GET",
                "/api/users/12345?expand=1#top",
                "GET /api/users/{id}",
            ),
            (
                "GET",
                "/items/550e8400-e29b-41d4-a716-446655440000/tags",
                "GET /items/{id}/tags",
            ),
            ("GET", "/blobs/deadbeef01", "GET /blobs/{id}"),
            ("GET", "/words/deadbeef/v2", "GET /words/deadbeef/v2"),
            ("GET", "/s/aZ3kQ9xP0mWb7Lr2_-", "GET /s/{id}"),
            ("GET", "/docs/getting-started", "GET /docs/getting-started"),
            ("GET", "http://example.com:8080/a/42?q=1", "GET /a/{id}"),
            ("GET", "http://example.com", "GET /"),
            ("OPTIONS", "*", "OPTIONS *"),
            ("CONNECT", "example.com:443", "CONNECT example.com:443"),
            ("PUT", "/caf\u{e9}", "PUT /caf.."),
        ] {
            assert_eq!(
                super::endpoint(method.as_bytes(), target.as_bytes(), true),
                endpoint
            );
        }
        let long = format!("/{}", "segment/".repeat(50));
        assert_eq!(
            super::endpoint(b"GET", long.as_bytes(), true).len(),
            ENDPOINT_MAX
        );
        // A target cut by the capture: its last segment may be partial.
        for (target, endpoint) in [
            ("/static/hel", "GET /static/..."),
            ("/a", "GET /..."),
            ("/api/users/12345?page=", "GET /api/users/{id}"),
        ] {
            assert_eq!(super::endpoint(b"GET", target.as_bytes(), false), endpoint);
        }
    }

    #[test]
    fn traceparent_follows_w3c() {
        let parsed = traceparent(TRACEPARENT.as_bytes()).unwrap();
        assert_eq!(parsed.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(parsed.parent_id, 0x00f067aa0ba902b7);
        // A later version may append fields.
        let future = format!("01{}-later", &TRACEPARENT[2..]);
        assert!(traceparent(future.as_bytes()).is_some());
        for bad in [
            format!("ff{}", &TRACEPARENT[2..]),
            format!("{TRACEPARENT}-more"),
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01".into(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01".into(),
            TRACEPARENT.to_uppercase(),
            TRACEPARENT[..54].into(),
            TRACEPARENT.replace('-', "_"),
        ] {
            assert_eq!(traceparent(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn request_carries_trace_context() {
        let head = format!(
            "GET /api/users/42 HTTP/1.1\r\nHost: x\r\nTraceparent: {TRACEPARENT}\r\nx-request-id: req-1\r\n\r\n"
        );
        let unit = parser().parse(head.as_bytes(), Egress, false);
        let m = message(&unit);
        assert_eq!(m.kind, Kind::Request);
        assert_eq!(m.endpoint, "GET /api/users/{id}");
        assert_eq!(m.context.traceparent, traceparent(TRACEPARENT.as_bytes()));
        assert_eq!(m.context.request_id.as_deref(), Some("req-1"));
        assert_eq!(
            m.excerpt,
            format!(
                "GET /api/users/42 HTTP/1.1\nHost: x\nTraceparent: {TRACEPARENT}\nx-request-id: req-1"
            )
        );
    }

    #[test]
    fn content_length_covers_the_body_here_or_in_later_syscalls() {
        let (u, desyncs) = units(
            usize::MAX,
            &[
                (
                    Egress,
                    b"POST /orders HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                ),
                (
                    Ingress,
                    b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n",
                ),
                (Ingress, b"ok"),
                // Expect: 100-continue: the body follows the interim response.
                (
                    Egress,
                    b"PUT /orders/7 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
                ),
                (Ingress, b"HTTP/1.1 100 Continue\r\n\r\n"),
                (Egress, b"data"),
                (Ingress, b"HTTP/1.1 204 No Content\r\n\r\n"),
            ],
        );
        assert_eq!(shape(&u), ["B49", "B45", "B71", "S25", "B27"]);
        assert_eq!(desyncs, 0);
        assert_eq!(message(&u[1]).outcome.code, Some(Code::Num(201)));
        assert_eq!(message(&u[2]).endpoint, "PUT /orders/{id}");
        assert_eq!(message(&u[4]).outcome.code, Some(Code::Num(204)));
    }

    #[test]
    fn chunked_bodies_are_one_unit_per_chunk() {
        let (u, desyncs) = units(
            usize::MAX,
            &[
                (Egress, b"GET /feed HTTP/1.1\r\n\r\n"),
                (
                    Ingress,
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                ),
                (Ingress, b"5;ext=1\r\nhel"),
                (Ingress, b"lo\r\n1"),
                (Ingress, b"0\r\n0123456789abcdef\r\n0\r\n"),
                (Ingress, b"Trailer-Field: x\r\n\r\n"),
                (
                    Egress,
                    b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                ),
            ],
        );
        assert_eq!(
            shape(&u),
            ["B22", "B53+", "M16+", "M22+", "M23", "B49+", "M8+", "M5"]
        );
        assert_eq!(desyncs, 0);
    }

    #[test]
    fn pipelined_messages_in_one_syscall_are_one_unit_each() {
        let (u, desyncs) = units(
            usize::MAX,
            &[
                (
                    Egress,
                    b"GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
                ),
                (
                    Ingress,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA\
                      HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n\
                      HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                ),
            ],
        );
        // The response to HEAD announces a length but has no body.
        assert_eq!(shape(&u), ["B19", "B20", "B19", "B39", "B39", "B45"]);
        assert_eq!(desyncs, 0);
        let endpoints: Vec<_> = u[..3]
            .iter()
            .map(|u| message(u).endpoint.as_str())
            .collect();
        assert_eq!(endpoints, ["GET /a", "HEAD /b", "GET /c"]);
        assert_eq!(message(&u[5]).outcome.status, Status::ClientError);
    }

    #[test]
    fn a_head_split_across_syscalls_is_incomplete_then_joined() {
        let mut p = parser();
        assert_eq!(
            p.parse(b"GET /a HTTP/1.1\r\nHo", Egress, false),
            Parse::Incomplete
        );
        assert_eq!(
            p.parse(b"HTTP/1.1 200 OK\r\n", Ingress, false),
            Parse::Incomplete
        );
        let (u, _) = units(
            usize::MAX,
            &[
                (Egress, b"GET /a HTTP/1.1\r\nHo"),
                (Egress, b"st: x\r\n\r\n"),
            ],
        );
        assert_eq!(shape(&u), ["B28"]);
        assert_eq!(message(&u[0]).excerpt, "GET /a HTTP/1.1\nHost: x");
    }

    #[test]
    fn a_cut_head_still_begins_with_what_arrived() {
        let head = format!(
            "GET /api/users/42?page=2 HTTP/1.1\r\ntraceparent: {TRACEPARENT}\r\nAuthorization: Bearer abc\r\nX-Request-ID: cut-he"
        );
        let unit = parser().parse(head.as_bytes(), Egress, true);
        let Parse::Begin { len, done, .. } = unit else {
            panic!("{unit:?}")
        };
        assert_eq!((len, done), (head.len() as u64, true));
        let m = message(&unit);
        assert_eq!(m.endpoint, "GET /api/users/{id}");
        assert_eq!(m.context.traceparent, traceparent(TRACEPARENT.as_bytes()));
        assert_eq!(m.context.request_id, None, "the field was cut");
        assert!(m.excerpt.ends_with("\nAuthorization: [redacted]"));
        // Cut inside the request line: the target is what arrived.
        let unit = parser().parse(b"DELETE /api/orders/9", Egress, true);
        assert_eq!(message(&unit).endpoint, "DELETE /api/orders/...");
        let unit = parser().parse(b"DELETE /api/orders/9 HTT", Egress, true);
        assert_eq!(message(&unit).endpoint, "DELETE /api/orders/{id}");
        // A status line is enough for a response.
        let unit = parser().parse(b"HTTP/1.1 503 Service Unavailable\r\nServ", Ingress, true);
        assert_eq!(message(&unit).outcome.status, Status::ServerError);
        let unit = parser().parse(b"HTTP/1.1 100 Cont", Ingress, true);
        assert_eq!(unit, Parse::Skip { len: 17 });
        // Not even a target or a code: nothing to report.
        assert_eq!(parser().parse(b"GET ", Egress, true), Parse::Invalid);
        assert_eq!(parser().parse(b"HTTP/1.1 2", Ingress, true), Parse::Invalid);
    }

    #[test]
    fn a_snaplen_skips_the_rest_of_each_syscall() {
        let request =
            b"POST /api/orders HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n0123456789";
        let (u, desyncs) = units(
            24,
            &[
                (Egress, request),
                (Ingress, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes"),
                (Egress, b"GET /next HTTP/1.1\r\n\r\n"),
            ],
        );
        assert_eq!(shape(&u), ["B24", "B24", "B22"]);
        assert_eq!(desyncs, 0);
        assert_eq!(message(&u[0]).endpoint, "POST /api/orders");
    }

    #[test]
    fn attaching_mid_connection_resynchronizes_on_the_next_head() {
        let mut p = parser();
        for body in [&b"{\"id\":1}"[..], b"hello world", b"tail of a body"] {
            assert_eq!(p.parse(body, Ingress, false), Parse::Invalid, "{body:?}");
        }
        let (u, desyncs) = units(
            usize::MAX,
            &[
                (Ingress, b"rest of a body\r\n"),
                (Ingress, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
                (Egress, b"GET /x HTTP/1.1\r\n\r\n"),
            ],
        );
        assert_eq!(shape(&u), ["B38", "B19"]);
        assert_eq!(desyncs, 1);
    }

    #[test]
    fn status_codes_map_to_outcomes() {
        for (code, status) in [
            (200, Status::Ok),
            (302, Status::Ok),
            (404, Status::ClientError),
            (503, Status::ServerError),
            (600, Status::Error),
        ] {
            let head = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
            let unit = parser().parse(head.as_bytes(), Ingress, false);
            let outcome = &message(&unit).outcome;
            assert_eq!(
                (outcome.status, outcome.code.clone()),
                (status, Some(Code::Num(code)))
            );
        }
        for interim in [
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
        ] {
            let unit = parser().parse(interim.as_bytes(), Ingress, false);
            assert_eq!(
                unit,
                Parse::Skip {
                    len: interim.len() as u64
                }
            );
        }
    }

    #[test]
    fn bodiless_and_close_delimited_responses() {
        let (u, desyncs) = units(
            usize::MAX,
            &[
                (
                    Ingress,
                    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
                ),
                (Ingress, b"HTTP/1.1 204 No Content\r\n\r\n"),
                (Ingress, b"HTTP/1.0 200 OK\r\n\r\nfirst"),
                (Ingress, b"second"),
                (
                    Ingress,
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                ),
            ],
        );
        assert_eq!(shape(&u), ["B49", "B27", "B24+", "M6+", "B44+"]);
        assert_eq!(desyncs, 0);
    }

    #[test]
    fn upgrades_and_connect_turn_into_tunnels() {
        let (u, _) = units(
            usize::MAX,
            &[
                (Egress, b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
                (
                    Ingress,
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                ),
                (Egress, b"\x81\x05hello"),
                (Ingress, b"GET / HTTP/1.1\r\n\r\n"),
            ],
        );
        assert_eq!(shape(&u), ["B40", "B56", "S7", "S18"]);
        assert_eq!(message(&u[1]).outcome.status, Status::Ok);
        let (u, _) = units(
            usize::MAX,
            &[
                (Egress, b"CONNECT db:5432 HTTP/1.1\r\n\r\n"),
                (
                    Ingress,
                    b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
                ),
                (Egress, b"CONNECT db:5432 HTTP/1.1\r\n\r\n"),
                (Ingress, b"HTTP/1.1 200 Connection established\r\n\r\n"),
                (Egress, b"\x16\x03\x01\x00"),
            ],
        );
        assert_eq!(shape(&u), ["B28", "B65", "B28", "B39", "S4"]);
        assert_eq!(message(&u[0]).endpoint, "CONNECT db:5432");
    }

    #[test]
    fn broken_chunk_framing_is_invalid_and_resynchronizes() {
        let mut p = parser();
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(
            p.parse(head, Ingress, false),
            Parse::Begin { done: false, .. }
        ));
        assert_eq!(p.parse(b"zz\r\nhello\r\n", Ingress, false), Parse::Invalid);
        assert!(matches!(p.parse(head, Ingress, false), Parse::Begin { .. }));
        assert_eq!(p.parse(b"0x5\r\n", Ingress, false), Parse::Invalid);
        assert!(matches!(p.parse(head, Ingress, false), Parse::Begin { .. }));
        let unit = p.parse(b"ffffffffffffffff\r\n", Ingress, false);
        assert!(
            matches!(unit, Parse::More { len: u64::MAX, .. }),
            "{unit:?}"
        );
        // A new head where a chunk was expected is read as a head.
        assert!(matches!(
            p.parse(b"GET / HTTP/1.1\r\n\r\n", Egress, false),
            Parse::Begin { .. }
        ));
        assert!(matches!(p.parse(head, Ingress, false), Parse::Begin { .. }));
        let unit = p.parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Ingress,
            false,
        );
        assert_eq!(message(&unit).outcome.code, Some(Code::Num(200)));
    }

    #[test]
    fn credentials_are_redacted_unless_asked_not_to() {
        let head = b"GET /me HTTP/1.1\r\nauthorization: Basic dXNlcjpwYXNz\r\nProxy-Authorization: Basic cHJveHk=\r\nCookie: sid=s3cr3t\r\nX-Api-Key: k3y\r\nX-Auth-Token: t0k\r\nx-client-secret: s3c\r\nX-Keyboard: kept\r\n\r\n";
        let response = b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=n3wsecr3t\r\nContent-Length: 0\r\n\r\n";
        for redact in [true, false] {
            let mut p = new(Options { redact }, Transport::Tcp);
            let request = message(&p.parse(head, Egress, false)).excerpt.clone();
            let response = message(&p.parse(response, Ingress, false)).excerpt.clone();
            let secrets = [
                "dXNlcjpwYXNz",
                "cHJveHk=",
                "s3cr3t",
                "n3wsecr3t",
                "k3y",
                "t0k",
                "s3c",
            ];
            for secret in secrets {
                let shown = request.contains(secret) || response.contains(secret);
                assert_eq!(shown, !redact, "{secret} with redact={redact}");
            }
            assert_eq!(request.contains("\nCookie: [redacted]"), redact);
            assert_eq!(request.contains("\nX-Api-Key: [redacted]"), redact);
            assert!(request.contains("X-Keyboard: kept"), "{request}");
        }
    }

    #[test]
    fn fixtures_replay_from_both_sides_and_cut() {
        for (name, records) in fixture::all("http1") {
            let replay = |snaplen, side| {
                fixture::replay(
                    &SPEC,
                    Transport::Tcp,
                    &records,
                    snaplen,
                    side,
                    Options::default(),
                )
            };
            let text = format!(
                "client:\n{}\nserver:\n{}\nclient, snaplen 64:\n{}",
                replay(usize::MAX, Side::Client),
                replay(usize::MAX, Side::Server),
                replay(64, Side::Client),
            );
            insta::assert_snapshot!(name, text);
        }
    }

    #[test]
    fn no_fixture_secret_reaches_an_excerpt() {
        const SECRETS: [&str; 3] = [
            "secret-token-123",
            "secret-cookie-456",
            "secret-set-cookie-789",
        ];
        for (name, records) in fixture::all("http1") {
            for snaplen in (8..=256).chain([usize::MAX]) {
                for side in [Side::Client, Side::Server] {
                    let text = fixture::replay(
                        &SPEC,
                        Transport::Tcp,
                        &records,
                        snaplen,
                        side,
                        Options::default(),
                    );
                    for secret in SECRETS {
                        assert!(
                            !text.contains(secret),
                            "{name} snaplen={snaplen} {side:?}: {secret}"
                        );
                    }
                }
            }
        }
        // They are there to be redacted.
        let auth = fixture::load(&fixture::folder("http1").join("auth.bin"));
        let open = fixture::replay(
            &SPEC,
            Transport::Tcp,
            &auth,
            usize::MAX,
            Side::Client,
            Options { redact: false },
        );
        assert!(SECRETS.iter().all(|s| open.contains(s)), "{open}");
    }

    #[test]
    fn no_input_makes_it_panic() {
        let mut next = fixture::xorshift(0x2545_f491_4f6c_dd1du64);
        let corpus: Vec<Vec<u8>> = fixture::corpus("http1");
        const TOKENS: [&[u8]; 14] = [
            b"GET / HTTP/1.1\r\n",
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 100 Continue\r\n",
            b"HEAD /x HTTP/1.0\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Content-Length: 7\r\n",
            b"Content-Length: 99999999999999999999\r\n",
            b"\r\n",
            b"ffffffffffffffff\r\n",
            b"5\r\n",
            b"0\r\n",
            b"Cookie: x\r\n",
            b"traceparent: 00-",
            b"CONNECT a:1 HTTP/1.1\r\n",
        ];
        for i in 0..3000 {
            let mut bytes = vec![next() as u8];
            match i % 3 {
                0 => bytes.extend((0..next() % 400).map(|_| next() as u8)),
                1 => {
                    let base = &corpus[next() as usize % corpus.len()];
                    bytes.extend_from_slice(&base[..next() as usize % (base.len() + 1)]);
                    for _ in 0..next() % 8 {
                        let at = next() as usize % bytes.len();
                        bytes[at] = next() as u8;
                    }
                }
                _ => {
                    for _ in 0..next() % 30 {
                        bytes.extend_from_slice(TOKENS[next() as usize % TOKENS.len()]);
                    }
                }
            }
            crate::exercise(Protocol::Http1, Transport::Tcp, &bytes);
        }
    }
}
