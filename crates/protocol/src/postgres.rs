//! PostgreSQL: the frontend/backend protocol v3 over TCP, simple and
//! extended query.
//!
//! Owns the framing of both directions (typed messages: one type byte and a
//! big-endian length that counts itself; the client's untyped startup,
//! SSL/GSS encryption and cancel requests; the server's one-byte answer to an
//! encryption request), which direction is the client's (learned from the
//! first message whose type only one side sends, since `D`, `C`, `E`, `S`,
//! `H`, `d` and `c` mean different things from each side), the request
//! endpoint (SQL verb and first table, read by a small lexer), and the
//! boundaries between responses.
//!
//! A call is a `Query`, a `FunctionCall`, or an extended-protocol request: a
//! `Parse` and what follows it, or a `Bind`/`Describe`/`Execute`/`Close`
//! that no `Parse` began, up to the next one or to `Sync`. A client may
//! pipeline several such requests before one `Sync`, and the server then
//! answers them all before one `ReadyForQuery`; to cut that answer into one
//! response per request, the parser counts, for each request, the messages
//! the server completes it with (`ParseComplete`, `BindComplete`,
//! `CommandComplete`, ...) and begins the next response once they are all
//! there. An `ErrorResponse` makes the server drop the rest of the batch, so
//! its remaining requests get no response. A `ReadyForQuery` that the
//! snaplen cut off is inferred when the client starts a new batch.
//!
//! A `Parse` that the same syscall shows ending its request unexecuted
//! (a `Sync` before any `Bind` or `Execute`: `pgbench -M prepared`, libpq's
//! `PQprepare`) is a call of its own, `PREPARE <endpoint>`: the executions
//! are the `Bind`s that run the statement later.
//!
//! Written by hand: no crate parses the protocol from a truncated capture
//! of either side.

use std::collections::VecDeque;
use std::iter::Peekable;
use std::time::Duration;

use super::{
    Direction, EXCERPT_MAX, Message, Options, Outcome, Parse, Parser, REDACTED, Spec, Transport,
    printable, push_excerpt,
};
use dflow_model::{Code, Protocol, Status};

pub const SPEC: Spec = Spec {
    protocol: Protocol::Postgres,
    timeout: Duration::from_secs(60),
    check,
    new,
};

/// Untyped first messages: the code that follows their length.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
/// The longest startup message taken as one (the server's own limit).
const STARTUP_MAX: u32 = 10_000;
/// Longer lengths are garbage, not messages (the server's limit is 1 GiB).
const MESSAGE_MAX: u32 = 1 << 30;
/// Bytes of a message's body enough for its endpoint and excerpt: a message
/// longer than this is parsed as soon as this much of it is there.
const HEAD: usize = EXCERPT_MAX + 512;
/// Prepared statements remembered per connection, for the endpoint of a
/// `Bind` that reuses one.
const STATEMENTS_MAX: usize = 256;
/// Requests (and `Sync`s) remembered while the server has not answered them.
const PENDING_MAX: usize = 256;
/// Identifier parts longer than this are cut (the server's `NAMEDATALEN`).
const NAME_MAX: usize = 63;

/// Message types only a client sends, and every type it sends.
const CLIENT_ONLY: &[u8] = b"QPBFXpf";
const CLIENT_TYPES: &[u8] = b"QPBFXpfDCESHdc";
/// Message types only a server sends, and every type it sends.
const SERVER_ONLY: &[u8] = b"RKZT123ntsINAvGWV";
const SERVER_TYPES: &[u8] = b"RKZT123ntsINAvGWVDCESHdc";
/// Server messages that complete one client message of an extended request:
/// `Parse`, `Bind`, `Close`, `Describe` (`RowDescription` or `NoData`,
/// after an optional `ParameterDescription`) and `Execute`.
const COMPLETIONS: &[u8] = b"123nTCIs";

fn check(data: &[u8], transport: Transport) -> bool {
    transport == Transport::Tcp && (is_untyped_request(data) || is_query(data) || is_parse(data))
}

/// A startup message, an encryption request or a cancel request.
fn is_untyped_request(data: &[u8]) -> bool {
    let (Some(len), Some(code)) = (be32(data, 0), be32(data, 4)) else {
        return false;
    };
    match code {
        SSL_REQUEST | GSSENC_REQUEST => len == 8,
        CANCEL_REQUEST => len == 16,
        _ => {
            is_protocol_3(code)
                && (8..=STARTUP_MAX).contains(&len)
                // Parameter names are lower-case words (`user`, `_pq_.x`).
                && data.get(8).is_none_or(|&b| b == 0 || b.is_ascii_lowercase() || b == b'_')
                && data.get(len as usize - 1).is_none_or(|&b| b == 0)
        }
    }
}

fn is_protocol_3(code: u32) -> bool {
    code >> 16 == 3 && code & 0xffff < 16
}

/// A `Query` whose text looks like SQL and ends where its length says.
fn is_query(data: &[u8]) -> bool {
    let Some((b'Q', len)) = header(data) else {
        return false;
    };
    let body = &data[5..data.len().min(len as usize + 1)];
    let whole = body.len() == len as usize - 4;
    let text = if whole {
        match body.split_last() {
            Some((0, text)) => text,
            _ => return false,
        }
    } else {
        body
    };
    plausible_sql(text) && !text.contains(&0)
}

/// A `Parse`: a statement name, a query that looks like SQL, and parameter
/// types that fill the rest of the length exactly.
fn is_parse(data: &[u8]) -> bool {
    let Some((b'P', len)) = header(data) else {
        return false;
    };
    let body = &data[5..data.len().min(len as usize + 1)];
    let Some(end) = body.iter().take(NAME_MAX + 1).position(|&b| b == 0) else {
        return false;
    };
    if !body[..end].iter().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let rest = &body[end + 1..];
    let Some(nul) = rest.iter().position(|&b| b == 0) else {
        // The query runs past the capture: judge what there is of it.
        return plausible_sql(rest);
    };
    let tail = &rest[nul + 1..];
    let whole = body.len() == len as usize - 4;
    plausible_sql(&rest[..nul])
        && (!whole || be16(tail, 0).is_some_and(|n| tail.len() == 2 + 4 * usize::from(n)))
}

/// SQL starts with a keyword, a parenthesis, white space or a comment.
fn plausible_sql(text: &[u8]) -> bool {
    match text {
        [b'-', b'-', ..] | [b'/', b'*', ..] => true,
        [b, ..] => b.is_ascii_alphabetic() || *b == b'(' || b.is_ascii_whitespace(),
        [] => false,
    }
}

fn new(options: Options, _: Transport) -> Box<dyn Parser> {
    Box::new(Postgres::new(options))
}

/// What the server still owes the client, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// A request, with the number of messages that complete it.
    Request(u32),
    /// A `Sync` (or the end of a `Query`): a `ReadyForQuery` will answer it.
    Sync,
}

struct Postgres {
    redact: bool,
    /// The client's direction, once a message told it.
    client: Option<Direction>,
    /// An SSLRequest or GSSENCRequest awaits the server's one-byte answer.
    encryption_asked: bool,
    /// Between a startup message and the first `ReadyForQuery`: the server's
    /// messages (an authentication failure too) belong to no call.
    starting: bool,
    /// Prepared statement name → its query's endpoint, oldest first.
    statements: VecDeque<(Vec<u8>, String)>,
    /// The completing messages of the request the client is sending, since
    /// it began (None: no request began since the last `Sync`).
    building: Option<u32>,
    /// Requests and `Sync`s the server has not answered yet.
    pending: VecDeque<Pending>,
    /// A response began since the last `ReadyForQuery`.
    responding: bool,
    /// Messages still to complete the current response's request.
    remaining: u32,
    /// The server's last syscall was cut inside a message: its
    /// `ReadyForQuery` may be among the bytes not captured.
    lost_tail: bool,
}

impl Parser for Postgres {
    fn parse(&mut self, data: &[u8], dir: Direction, cut: bool) -> Parse {
        let from_client = self.client.map(|c| c == dir);
        if self.encryption_asked && from_client == Some(false) {
            self.encryption_asked = false;
            if let Some(b'N' | b'S' | b'G') = data.first() {
                return Parse::Skip { len: 1 };
            }
        }
        if data.first() == Some(&0) {
            return match from_client {
                Some(false) => Parse::Invalid,
                _ => self.untyped(data, dir, cut),
            };
        }
        let Some((ty, len)) = header(data) else {
            if data.len() >= 5 || cut {
                self.lost_tail |= from_client == Some(false);
                return Parse::Invalid;
            }
            return Parse::Incomplete;
        };
        let total = u64::from(len) + 1;
        let from_client = match from_client {
            Some(from_client) => from_client,
            None if CLIENT_ONLY.contains(&ty) => {
                self.client = Some(dir);
                true
            }
            None if SERVER_ONLY.contains(&ty) => {
                self.client = Some(dir.reverse());
                false
            }
            // Either side could have sent it: wait for one that tells.
            None if CLIENT_TYPES.contains(&ty) => return Parse::Skip { len: total },
            None => return Parse::Invalid,
        };
        let (types, needs_body) = if from_client {
            (CLIENT_TYPES, b"QPBDEC".contains(&ty))
        } else {
            (SERVER_TYPES, ty == b'E')
        };
        if !types.contains(&ty) {
            return Parse::Invalid;
        }
        if needs_body && data.len() < (len as usize + 1).min(HEAD) && !cut {
            return Parse::Incomplete;
        }
        let body = &data[5..data.len().min(len as usize + 1)];
        if from_client {
            // What the client sent next in the same syscall, when captured.
            let after = data.get(total as usize..);
            self.client_message(ty, body, total, after)
        } else {
            // The capture ends with this message: what followed it is lost.
            self.lost_tail = cut && (data.len() as u64) <= total;
            self.server_message(ty, body, total)
        }
    }
}

impl Postgres {
    fn new(options: Options) -> Postgres {
        Postgres {
            redact: options.redact,
            client: None,
            encryption_asked: false,
            starting: false,
            statements: VecDeque::new(),
            building: None,
            pending: VecDeque::new(),
            responding: false,
            remaining: 0,
            lost_tail: false,
        }
    }

    /// The client's first messages, which have no type byte.
    fn untyped(&mut self, data: &[u8], dir: Direction, cut: bool) -> Parse {
        let (Some(len), Some(code)) = (be32(data, 0), be32(data, 4)) else {
            return if cut {
                Parse::Invalid
            } else {
                Parse::Incomplete
            };
        };
        match code {
            SSL_REQUEST | GSSENC_REQUEST if len == 8 => self.encryption_asked = true,
            CANCEL_REQUEST if len == 16 => {}
            _ if is_protocol_3(code) && (8..=STARTUP_MAX).contains(&len) => {
                // A new session: nothing of an earlier one is owed.
                self.starting = true;
                self.statements.clear();
                self.building = None;
                self.pending.clear();
                self.responding = false;
            }
            _ => return Parse::Invalid,
        }
        self.client = Some(dir);
        Parse::Skip {
            len: u64::from(len),
        }
    }

    fn client_message(&mut self, ty: u8, body: &[u8], len: u64, after: Option<&[u8]>) -> Parse {
        let more = |done| Parse::More {
            len,
            outcome: None,
            done,
        };
        if ty != b'p' {
            // Only authentication answers precede the first ReadyForQuery,
            // which the capture may have lost.
            self.starting = false;
        }
        if self.responding && self.lost_tail && self.building.is_none() && b"QFPBDEC".contains(&ty)
        {
            // A new batch while the server seemed to be answering the last:
            // the capture lost its ReadyForQuery (clients that pipeline
            // batches are rare, and would only lose a boundary here).
            self.ready();
        }
        match ty {
            b'Q' => {
                let text = cstr(body);
                self.close_batch(u32::MAX);
                request(len, endpoint(text), self.query_excerpt(text), true)
            }
            b'F' => {
                self.close_batch(u32::MAX);
                let excerpt =
                    be32(body, 0).map_or_else(String::new, |oid| format!("function {oid}"));
                request(len, "FUNCTION CALL".to_owned(), excerpt, true)
            }
            b'P' => {
                let (name, rest) = split_cstr(body);
                let text = cstr(rest);
                let endpoint = endpoint(text);
                self.remember(name, &endpoint);
                self.end_request();
                self.building = Some(1);
                // A statement prepared to be executed later (each Bind
                // that runs it is a call) is not an execution.
                let shown = if after.is_some_and(prepares_only) {
                    format!("PREPARE {endpoint}")
                } else {
                    endpoint
                };
                request(len, shown, self.query_excerpt(text), false)
            }
            b'B' | b'D' | b'E' | b'C' => {
                if ty == b'C' && body.first() == Some(&b'S') {
                    let name = statement_key(cstr(&body[1..]));
                    self.statements.retain(|(n, _)| n != name);
                }
                if let Some(n) = &mut self.building {
                    *n = n.saturating_add(1);
                    return more(false);
                }
                self.building = Some(1);
                let (endpoint, excerpt) = self.unprepared(ty, body);
                request(len, endpoint, excerpt, false)
            }
            b'H' if self.building.is_some() => more(false),
            b'S' => {
                let began = self.building.is_some();
                self.close_batch(0);
                if began {
                    more(true)
                } else {
                    Parse::Skip { len }
                }
            }
            b'd' | b'c' | b'f' => more(false),
            // Terminate, a Flush that asks for nothing, and the password,
            // SASL and GSS messages, which are never read.
            _ => Parse::Skip { len },
        }
    }

    /// Endpoint and excerpt of a request that no `Parse` began: it runs a
    /// statement prepared earlier, named in the `Bind` or `Describe`.
    fn unprepared(&self, ty: u8, body: &[u8]) -> (String, String) {
        let statement = match (ty, body.first()) {
            (b'B', _) => Some(cstr(split_cstr(body).1)),
            (b'D', Some(b'S')) => Some(cstr(&body[1..])),
            _ => None,
        };
        let fallback = match ty {
            b'C' => "CLOSE",
            b'D' => "DESCRIBE",
            _ => "EXECUTE",
        };
        let Some(name) = statement else {
            return (fallback.to_owned(), String::new());
        };
        let endpoint = self
            .statements
            .iter()
            .find(|(n, _)| n == statement_key(name))
            .map_or(fallback, |(_, e)| e.as_str());
        let excerpt = if name.is_empty() {
            "unnamed statement".to_owned()
        } else {
            format!("statement {}", printable(name))
        };
        (endpoint.to_owned(), excerpt)
    }

    fn remember(&mut self, name: &[u8], endpoint: &str) {
        let name = statement_key(name);
        self.statements.retain(|(n, _)| n != name);
        if self.statements.len() == STATEMENTS_MAX {
            self.statements.pop_front();
        }
        self.statements
            .push_back((name.to_vec(), endpoint.to_owned()));
    }

    /// The request being sent is complete: the server owes its messages.
    fn end_request(&mut self) {
        if let Some(n) = self.building.take() {
            self.owe(Pending::Request(n));
        }
    }

    /// A `Sync` (`completions` 0) or a simple `Query`/`FunctionCall`, which
    /// is its own batch and whose statements cannot be counted ahead.
    fn close_batch(&mut self, completions: u32) {
        self.end_request();
        if completions > 0 {
            self.owe(Pending::Request(completions));
        }
        self.owe(Pending::Sync);
    }

    fn owe(&mut self, pending: Pending) {
        if self.pending.len() == PENDING_MAX {
            self.pending.pop_front();
        }
        self.pending.push_back(pending);
    }

    fn server_message(&mut self, ty: u8, body: &[u8], len: u64) -> Parse {
        match ty {
            b'Z' => match self.ready() {
                (_, abandoned @ 1..) => Parse::Abandon {
                    len,
                    requests: abandoned,
                },
                (true, 0) => Parse::More {
                    len,
                    outcome: None,
                    done: true,
                },
                (false, 0) => Parse::Skip { len },
            },
            b'R' | b'S' | b'K' | b'N' | b'A' | b'v' => Parse::Skip { len },
            b'E' if self.starting => Parse::Skip { len },
            _ => {
                let next = matches!(self.pending.front(), Some(Pending::Request(_)));
                let begin = !self.responding || (self.remaining == 0 && next);
                if begin {
                    self.responding = true;
                    self.remaining = match self.pending.front() {
                        Some(&Pending::Request(n)) => {
                            self.pending.pop_front();
                            n
                        }
                        _ => u32::MAX,
                    };
                }
                if COMPLETIONS.contains(&ty) {
                    self.remaining = self.remaining.saturating_sub(1);
                }
                let (outcome, excerpt) = if ty == b'E' {
                    // The server skips the rest of the batch.
                    self.remaining = u32::MAX;
                    let (outcome, excerpt) = error(body);
                    (Some(outcome), excerpt)
                } else {
                    (None, String::new())
                };
                if begin {
                    Parse::Begin {
                        len,
                        message: Message::response(outcome.unwrap_or(Outcome::OK), excerpt),
                        done: false,
                    }
                } else {
                    Parse::More {
                        len,
                        outcome,
                        done: false,
                    }
                }
            }
        }
    }

    /// The server is ready for the next batch; says whether it had begun
    /// to answer the last one.
    /// `ReadyForQuery`: whether a response was under way, and how many
    /// requests of the batch the server skipped (after an error) and so
    /// will never answer.
    fn ready(&mut self) -> (bool, u32) {
        self.starting = false;
        self.lost_tail = false;
        let mut abandoned = 0;
        // What the batch still owed was dropped after an error.
        if let Some(sync) = self.pending.iter().position(|p| *p == Pending::Sync) {
            abandoned = self
                .pending
                .drain(..=sync)
                .filter(|p| matches!(p, Pending::Request(_)))
                .count() as u32;
        }
        (std::mem::take(&mut self.responding), abandoned)
    }

    fn query_excerpt(&self, text: &[u8]) -> String {
        let text = printable(text);
        if self.redact {
            redact_passwords(&text)
        } else {
            text
        }
    }
}

/// Whether the messages a client sent after a `Parse`, in the same syscall,
/// leave it a prepare only: the batch or the request ends (a `Sync`, the
/// next `Parse`, a `Query`) before a `Bind` or an `Execute`. Unknown (false)
/// when the captured bytes end first: a client may flush between them.
/// `pgbench -M prepared` and libpq's `PQprepare` send `Parse`, `Sync`;
/// lib/pq (Go) sends `Parse`, `Describe`, `Sync`.
fn prepares_only(mut rest: &[u8]) -> bool {
    while let Some((ty, len)) = header(rest) {
        match ty {
            b'B' | b'E' => return false,
            b'S' | b'P' | b'Q' | b'F' | b'X' => return true,
            _ => {}
        }
        let Some(next) = rest.get(len as usize + 1..) else {
            return false;
        };
        rest = next;
    }
    false
}

/// A statement's name as remembered: cut, so that the memory a connection
/// holds stays bounded.
fn statement_key(name: &[u8]) -> &[u8] {
    &name[..name.len().min(NAME_MAX)]
}

fn request(len: u64, endpoint: String, excerpt: String, done: bool) -> Parse {
    Parse::Begin {
        len,
        message: Message::request(endpoint, excerpt),
        done,
    }
}

/// The type and length of the typed message at the start of `data`, if it
/// has a sane length.
fn header(data: &[u8]) -> Option<(u8, u32)> {
    let len = be32(data, 1)?;
    (4..=MESSAGE_MAX).contains(&len).then_some((data[0], len))
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at + 4)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let bytes = data.get(at..at + 2)?;
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

/// The NUL-terminated string at the start of `data`, or all of it when the
/// capture cut it.
fn cstr(data: &[u8]) -> &[u8] {
    split_cstr(data).0
}

/// The string at the start of `data` and what follows its NUL.
fn split_cstr(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[]),
    }
}

/// An `ErrorResponse`'s outcome, from its SQLSTATE, and its excerpt:
/// severity, SQLSTATE and message.
fn error(body: &[u8]) -> (Outcome, String) {
    let (mut severity, mut code, mut message): (&[u8], &[u8], &[u8]) = (b"", b"", b"");
    let mut rest = body;
    while let Some((&field, tail)) = rest.split_first() {
        if field == 0 {
            break;
        }
        let (value, after) = split_cstr(tail);
        match field {
            // `V` is never localized, `S` may be.
            b'V' => severity = value,
            b'S' if severity.is_empty() => severity = value,
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
        rest = after;
    }
    let valid = code.len() == 5 && code.iter().all(u8::is_ascii_alphanumeric);
    let outcome = Outcome {
        status: if valid { status(code) } else { Status::Error },
        code: valid.then(|| Code::Text(String::from_utf8_lossy(code).into_owned())),
    };
    let mut excerpt = printable(severity);
    for piece in [code, message] {
        if !piece.is_empty() {
            push_excerpt(&mut excerpt, " ");
            push_excerpt(&mut excerpt, &printable(piece));
        }
    }
    (outcome, excerpt)
}

/// The status of a SQLSTATE, by its class: the caller's fault (bad data,
/// constraint, syntax, authorization, unsupported feature, ...) or the
/// server's (resources, operator intervention, system, internal).
fn status(sqlstate: &[u8]) -> Status {
    match &sqlstate[..2] {
        b"22" | b"23" | b"42" | b"28" | b"0A" | b"2B" | b"2C" | b"2D" | b"2E" | b"2F" | b"3D"
        | b"3F" | b"44" | b"P0" => Status::ClientError,
        b"53" | b"54" | b"55" | b"57" | b"58" | b"XX" => Status::ServerError,
        _ => Status::Error,
    }
}

/// Replaces the value after every `password` (SQL's `PASSWORD 'x'`, a
/// connection string's `password=x`) by [`REDACTED`].
fn redact_passwords(text: &str) -> String {
    const WORD: &str = "password";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.to_ascii_lowercase().find(WORD) {
        let after = &rest[at + WORD.len()..];
        let value = after.trim_start_matches([' ', '\t', '\n', '=']);
        let gap = after.len() - value.len();
        let skip = match value.as_bytes().first() {
            Some(b'\'') => quoted_len(value.as_bytes(), b'\'', false).0,
            // A bare value only in `key=value` text: `password FROM` is SQL.
            Some(_) if after[..gap].contains('=') => value
                .find(|c: char| c.is_ascii_whitespace() || "'),;".contains(c))
                .unwrap_or(value.len()),
            _ => 0,
        };
        push_excerpt(&mut out, &rest[..at + WORD.len() + gap]);
        if skip > 0 {
            let quote = if value.starts_with('\'') { "'" } else { "" };
            push_excerpt(&mut out, &format!("{quote}{REDACTED}{quote}"));
        }
        rest = &value[skip..];
    }
    push_excerpt(&mut out, rest);
    out
}

/// A request's endpoint: the SQL verb (with the object kind for DDL) and
/// the first table it names, e.g. `SELECT public.users`, `CREATE TABLE t`.
/// Literals never make it in.
fn endpoint(sql: &[u8]) -> String {
    let sql = &sql[..sql.len().min(HEAD)];
    let mut tokens = Lexer { sql, at: 0 }.peekable();
    while tokens.next_if_eq(&Token::Punct(b'(')).is_some() {}
    let verb = match tokens.next() {
        Some(Token::Word(w)) => String::from_utf8_lossy(w).to_ascii_uppercase(),
        _ => String::new(),
    };
    if !is_one_of(verb.as_bytes(), VERBS) {
        // Not SQL the server would run: a typo must not make an endpoint.
        return "QUERY".to_owned();
    }
    let table = match verb.as_str() {
        "SELECT" | "DELETE" => after_keyword(&mut tokens, "FROM"),
        "INSERT" => after_keyword(&mut tokens, "INTO"),
        "WITH" => after_keyword(&mut tokens, "FROM INTO UPDATE"),
        "UPDATE" | "COPY" | "TABLE" | "TRUNCATE" => name(&mut tokens),
        "CREATE" | "DROP" | "ALTER" => return object(verb, &mut tokens),
        _ => None,
    };
    match table {
        Some(table) => format!("{verb} {table}"),
        None => verb,
    }
}

/// The words PostgreSQL's statements start with.
const VERBS: &str = "ABORT ALTER ANALYZE BEGIN CALL CHECKPOINT CLOSE CLUSTER COMMENT COMMIT COPY \
    CREATE DEALLOCATE DECLARE DELETE DISCARD DO DROP END EXECUTE EXPLAIN FETCH GRANT IMPORT INSERT \
    LISTEN LOAD LOCK MERGE MOVE NOTIFY PREPARE REASSIGN REFRESH REINDEX RELEASE RESET REVOKE \
    ROLLBACK SAVEPOINT SECURITY SELECT SET SHOW START TABLE TRUNCATE UNLISTEN UPDATE VACUUM VALUES \
    WITH";

type Tokens<'a> = Peekable<Lexer<'a>>;

/// Whether `word` is one of the space-separated upper-case `words`, in any
/// case.
fn is_one_of(word: &[u8], words: &str) -> bool {
    words
        .split(' ')
        .any(|w| word.eq_ignore_ascii_case(w.as_bytes()))
}

/// The name after the first of `keywords` outside parentheses, in the
/// first statement.
fn after_keyword(tokens: &mut Tokens, keywords: &str) -> Option<String> {
    let mut depth = 0u32;
    while let Some(token) = tokens.next() {
        match token {
            Token::Punct(b'(') => depth += 1,
            Token::Punct(b')') => depth = depth.saturating_sub(1),
            Token::Punct(b';') if depth == 0 => return None,
            Token::Word(w) if depth == 0 && is_one_of(w, keywords) => return name(tokens),
            _ => {}
        }
    }
    None
}

/// `CREATE TABLE t`, `DROP INDEX i`, `ALTER MATERIALIZED VIEW v`.
fn object(verb: String, tokens: &mut Tokens) -> String {
    const MODIFIERS: &str =
        "OR REPLACE UNIQUE TEMP TEMPORARY UNLOGGED GLOBAL LOCAL RECURSIVE TRUSTED PROCEDURAL";
    let mut kind = String::new();
    while let Some(&Token::Word(w)) = tokens.peek() {
        if w.len() > 24 || !w.iter().all(u8::is_ascii_alphabetic) {
            break;
        }
        let word = String::from_utf8_lossy(w).to_ascii_uppercase();
        tokens.next();
        if kind.is_empty() && is_one_of(w, MODIFIERS) {
            continue;
        }
        let two_words = matches!(word.as_str(), "MATERIALIZED" | "FOREIGN");
        kind.push_str(&word);
        if !two_words {
            break;
        }
        kind.push(' ');
    }
    let kind = kind.trim_end();
    if kind.is_empty() {
        return verb;
    }
    match name(tokens) {
        Some(name) => format!("{verb} {kind} {name}"),
        None => format!("{verb} {kind}"),
    }
}

/// A possibly schema-qualified name, quotes stripped, lower-cased unless
/// quoted; words that may stand before a name are passed over.
fn name(tokens: &mut Tokens) -> Option<String> {
    const BEFORE: &str = "ONLY TABLE LATERAL IF NOT EXISTS CONCURRENTLY ON";
    while tokens
        .next_if(|t| matches!(t, Token::Word(w) if is_one_of(w, BEFORE)))
        .is_some()
    {}
    let mut out = String::new();
    for _ in 0..3 {
        let part = match tokens.next()? {
            Token::Word(w) => {
                String::from_utf8_lossy(&w[..w.len().min(NAME_MAX)]).to_ascii_lowercase()
            }
            Token::Quoted(q) => String::from_utf8_lossy(&q[..q.len().min(NAME_MAX)]).into_owned(),
            _ => break,
        };
        out.push_str(&part);
        if tokens.next_if_eq(&Token::Punct(b'.')).is_none() {
            break;
        }
        out.push('.');
    }
    (!out.is_empty()).then_some(out)
}

/// SQL tokens, as far as endpoints need them: comments are passed over,
/// literals (strings, numbers, parameters) come out as [`Token::Literal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a [u8]),
    /// A quoted identifier, without its quotes.
    Quoted(&'a [u8]),
    Punct(u8),
    Literal,
}

struct Lexer<'a> {
    sql: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let rest = loop {
            let rest = &self.sql[self.at..];
            self.at += match rest {
                [] => return None,
                [b, ..] if b.is_ascii_whitespace() => 1,
                [b'-', b'-', ..] => rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |n| n + 1),
                [b'/', b'*', ..] => block_comment_len(rest),
                _ => break rest,
            };
        };
        let ident = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$' || *b >= 0x80;
        let (len, token) = match rest {
            [b'E' | b'e', b'\'', ..] => (1 + quoted_len(&rest[1..], b'\'', true).0, Token::Literal),
            [b'\'', ..] => (quoted_len(rest, b'\'', false).0, Token::Literal),
            [b'"', ..] => {
                let (len, closed) = quoted_len(rest, b'"', false);
                (len, Token::Quoted(&rest[1..len - usize::from(closed)]))
            }
            [b'$', b'0'..=b'9', ..] => {
                let digits = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
                (1 + digits, Token::Literal)
            }
            [b'$', ..] => match dollar_quoted_len(rest) {
                Some(len) => (len, Token::Literal),
                None => (1, Token::Punct(b'$')),
            },
            [b, ..] if b.is_ascii_digit() => {
                let n = rest.iter().take_while(|b| ident(b) || **b == b'.').count();
                (n, Token::Literal)
            }
            [b, ..] if ident(b) => {
                let n = rest.iter().take_while(|b| ident(b)).count();
                (n, Token::Word(&rest[..n]))
            }
            [b, ..] => (1, Token::Punct(*b)),
            [] => return None,
        };
        self.at += len;
        Some(token)
    }
}

/// The length of a `/* */` comment (they nest), or of the rest if unclosed.
fn block_comment_len(text: &[u8]) -> usize {
    let mut depth = 0u32;
    let mut i = 0;
    while i + 1 < text.len() {
        match &text[i..i + 2] {
            b"/*" => {
                depth += 1;
                i += 2;
            }
            b"*/" => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    text.len()
}

/// The length of the quoted text at the start of `text` (doubled quotes
/// inside; backslash escapes too when `escapes`), and whether it closed.
fn quoted_len(text: &[u8], quote: u8, escapes: bool) -> (usize, bool) {
    let mut i = 1;
    while i < text.len() {
        match text[i] {
            b'\\' if escapes => i += 2,
            b if b == quote && text.get(i + 1) == Some(&quote) => i += 2,
            b if b == quote => return (i + 1, true),
            _ => i += 1,
        }
    }
    (text.len(), false)
}

/// The length of a `$tag$ ... $tag$` string at the start of `text`, if one
/// starts there.
fn dollar_quoted_len(text: &[u8]) -> Option<usize> {
    let tag_len = 2 + text[1..].iter().position(|&b| b == b'$').filter(|&n| {
        text[1..=n]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80)
    })?;
    let tag = &text[..tag_len];
    let body = &text[tag_len..];
    let end = body
        .windows(tag_len)
        .position(|w| w == tag)
        .map_or(body.len(), |n| n + tag_len);
    Some(tag_len + end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, Side};
    use crate::framer::Framer;
    use crate::{Kind, exercise};

    const C: Direction = Direction::Egress;
    const S: Direction = Direction::Ingress;

    fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![ty];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn query(sql: &str) -> Vec<u8> {
        msg(b'Q', &[sql.as_bytes(), b"\0"].concat())
    }

    fn parse_msg(name: &str, sql: &str) -> Vec<u8> {
        msg(
            b'P',
            &[name.as_bytes(), b"\0", sql.as_bytes(), b"\0\0\0"].concat(),
        )
    }

    fn bind(statement: &str) -> Vec<u8> {
        msg(
            b'B',
            &[b"\0", statement.as_bytes(), b"\0\0\0\0\0\0\0"].concat(),
        )
    }

    fn execute() -> Vec<u8> {
        msg(b'E', b"\0\0\0\0\0")
    }

    fn sync() -> Vec<u8> {
        msg(b'S', b"")
    }

    fn ready() -> Vec<u8> {
        msg(b'Z', b"I")
    }

    fn complete(tag: &str) -> Vec<u8> {
        msg(b'C', &[tag.as_bytes(), b"\0"].concat())
    }

    fn error_msg(code: &str, text: &str) -> Vec<u8> {
        let body = format!("SERROR\0VERROR\0C{code}\0M{text}\0Fx.c\0\0");
        msg(b'E', body.as_bytes())
    }

    fn startup() -> Vec<u8> {
        let params = b"user\0app\0database\0db\0\0";
        let mut out = ((8 + params.len()) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&196_608u32.to_be_bytes());
        out.extend_from_slice(params);
        out
    }

    fn parser() -> Box<dyn Parser> {
        new(Options::default(), Transport::Tcp)
    }

    /// One syscall of `data` (of `total` bytes) through the framer.
    fn feed(
        f: &mut Framer,
        p: &mut dyn Parser,
        dir: Direction,
        data: &[u8],
        total: usize,
    ) -> Vec<Parse> {
        let mut out = Vec::new();
        f.feed(p, dir, data, total as u64, &mut out);
        out
    }

    /// A compact view of units: `B(endpoint)` a request, `b(status)` a
    /// response, `M` more, `M(status)` amending, `!` done, `-` skip, `xN`
    /// N requests abandoned.
    fn view(units: &[Parse]) -> String {
        let views: Vec<String> = units
            .iter()
            .map(|u| match u {
                Parse::Begin { message, done, .. } => {
                    let bang = if *done { "!" } else { "" };
                    match message.kind {
                        Kind::Request => format!("B{bang}({})", message.endpoint),
                        Kind::Response => format!("b{bang}({})", message.outcome.status),
                    }
                }
                Parse::More {
                    outcome: Some(o), ..
                } => format!("M({})", o.status),
                Parse::More { done, .. } => if *done { "M!" } else { "M" }.to_owned(),
                Parse::Skip { .. } => "-".to_owned(),
                Parse::Abandon { requests, .. } => format!("M!x{requests}"),
                Parse::Incomplete | Parse::Invalid => unreachable!(),
            })
            .collect();
        views.join(" ")
    }

    /// Client and server syscalls in turn, from the client's side.
    fn conversation(turns: &[(Direction, Vec<u8>)]) -> String {
        let mut p = parser();
        let mut f = Framer::new(Transport::Tcp);
        let mut units = Vec::new();
        for (dir, bytes) in turns {
            units.extend(feed(&mut f, p.as_mut(), *dir, bytes, bytes.len()));
        }
        assert_eq!(f.desyncs, 0);
        view(&units)
    }

    #[test]
    fn check_accepts_queries_parses_and_startups_only() {
        let yes: &[&[u8]] = &[
            &query("SELECT 1"),
            &query("  -- hi\nselect 1"),
            &query("(SELECT 1)"),
            &query("SELECT 1")[..8],
            &parse_msg("", "SELECT $1"),
            &parse_msg("s1", "INSERT INTO t VALUES ($1)")[..12],
            &startup(),
            &[0, 0, 0, 8, 4, 210, 22, 47],
        ];
        for data in yes {
            assert!(check(data, Transport::Tcp), "{data:?}");
        }
        let no: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\n\r\n",
            b"POST /x HTTP/1.1\r\n",
            b"*1\r\n$4\r\nPING\r\n",
            b"QUIT\r\n",
            &msg(b'Q', b"\x01\x02\0"),
            &msg(b'Q', b"SELECT 1"),
            &msg(b'Q', b"SELECT\0 1\0"),
            &msg(b'P', b"s\0SELECT 1\0\0\x01"),
            &msg(b'T', b"\0\0"),
            &[0, 0, 0, 9, 4, 210, 22, 47, 0],
            &[0, 0, 0, 8, 0, 2, 0, 0],
        ];
        for data in no {
            assert!(!check(data, Transport::Tcp), "{data:?}");
        }
        assert!(!check(&query("SELECT 1"), Transport::Udp));
    }

    #[test]
    fn endpoints_are_verb_and_first_table() {
        let cases = [
            ("SELECT 1", "SELECT"),
            ("select id, name from Users where id = 1", "SELECT users"),
            (
                "SELECT * FROM public.users u JOIN orders o ON o.uid = u.id",
                "SELECT public.users",
            ),
            (
                r#"SELECT * FROM "MySchema"."Users""#,
                "SELECT MySchema.Users",
            ),
            ("SELECT extract(year FROM ts) FROM events", "SELECT events"),
            ("SELECT 'from x' AS a, $$FROM y$$ FROM z", "SELECT z"),
            ("SELECT * FROM (SELECT 1) s", "SELECT"),
            ("SELECT 1; SELECT * FROM t", "SELECT"),
            (
                "/* leading /* nested */ */ -- and a line\n  DELETE FROM ONLY t WHERE id = $1",
                "DELETE t",
            ),
            ("INSERT INTO users (name) VALUES ($1)", "INSERT users"),
            ("UPDATE ONLY accounts SET n = n + 1", "UPDATE accounts"),
            (
                "WITH a AS (SELECT * FROM x) INSERT INTO y SELECT * FROM a",
                "WITH y",
            ),
            ("(SELECT a FROM t) UNION (SELECT a FROM u)", "SELECT t"),
            ("COPY users (id) FROM STDIN", "COPY users"),
            ("COPY (SELECT 1) TO STDOUT", "COPY"),
            ("TRUNCATE TABLE logs", "TRUNCATE logs"),
            ("TABLE users", "TABLE users"),
            ("CREATE TABLE users (id int)", "CREATE TABLE users"),
            (
                "create or replace temp view V1 as select 1",
                "CREATE VIEW v1",
            ),
            (
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx ON t (c)",
                "CREATE INDEX idx",
            ),
            ("DROP TABLE IF EXISTS a, b", "DROP TABLE a"),
            (
                "ALTER MATERIALIZED VIEW mv RENAME TO mv2",
                "ALTER MATERIALIZED VIEW mv",
            ),
            ("begin", "BEGIN"),
            ("SET search_path TO app", "SET"),
            ("SHOW server_version", "SHOW"),
            ("VACUUM ANALYZE t", "VACUUM"),
            ("E'x'", "QUERY"),
            ("", "QUERY"),
            ("123", "QUERY"),
        ];
        for (sql, want) in cases {
            assert_eq!(endpoint(sql.as_bytes()), want, "{sql}");
        }
    }

    #[test]
    fn lexer_passes_over_literals_and_comments() {
        let sql = br#"a E'it\'s' 'do''ne' $t$x$t$ $1 3.5 "q""x" /* c */ b"#;
        let tokens: Vec<_> = Lexer { sql, at: 0 }.collect();
        use Token::*;
        assert_eq!(
            tokens,
            [
                Word(b"a"),
                Literal,
                Literal,
                Literal,
                Literal,
                Literal,
                Quoted(br#"q""x"#),
                Word(b"b")
            ]
        );
        // Unclosed (cut) literals end the text.
        for sql in [&b"'abc"[..], b"\"abc", b"$a$ bc", b"/* abc", b"E'\\"] {
            assert!(Lexer { sql, at: 0 }.count() <= 1);
        }
    }

    #[test]
    fn simple_query_is_one_call_whatever_its_statements() {
        let response = [
            msg(
                b'T',
                b"\0\x01a\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0",
            ),
            msg(b'D', b"\0\x01\0\0\0\x011"),
            complete("SELECT 1"),
            msg(b'T', b"\0\0"),
            complete("SELECT 0"),
            ready(),
        ]
        .concat();
        assert_eq!(
            conversation(&[(C, query("SELECT 1; SELECT")), (S, response)]),
            "B!(SELECT) b(ok) M M M M M!"
        );
    }

    #[test]
    fn extended_query_with_a_named_statement_reused() {
        let first = [
            parse_msg("s1", "SELECT * FROM t WHERE id = $1"),
            bind("s1"),
            execute(),
            sync(),
        ]
        .concat();
        let again = [bind("s1"), execute(), sync()].concat();
        let unknown = [bind("nope"), msg(b'D', b"P\0"), execute(), sync()].concat();
        let answer = [
            msg(b'1', b""),
            msg(b'2', b""),
            complete("SELECT 1"),
            ready(),
        ]
        .concat();
        let answer_again = [msg(b'2', b""), complete("SELECT 1"), ready()].concat();
        assert_eq!(
            conversation(&[
                (C, first),
                (S, answer),
                (C, again),
                (S, answer_again.clone()),
                (C, unknown),
                (S, answer_again),
            ]),
            "B(SELECT t) M M M! b(ok) M M M! B(SELECT t) M M! b(ok) M M! B(EXECUTE) M M M! b(ok) M M!"
        );
    }

    #[test]
    fn pipelined_requests_get_one_response_each() {
        let requests = [
            parse_msg("", "INSERT INTO t VALUES ($1)"),
            bind(""),
            msg(b'D', b"P\0"),
            execute(),
            parse_msg("", "SELECT * FROM t"),
            bind(""),
            msg(b'D', b"P\0"),
            execute(),
            parse_msg("", "DELETE FROM u"),
            bind(""),
            execute(),
            sync(),
            msg(b'H', b""),
        ]
        .concat();
        let responses = [
            msg(b'1', b""),
            msg(b'2', b""),
            msg(b'n', b""),
            complete("INSERT 0 1"),
            msg(b'1', b""),
            msg(b'2', b""),
            msg(b'T', b"\0\0"),
            msg(b'D', b"\0\0"),
            complete("SELECT 1"),
            // The third fails at Parse: the server answers nothing more.
            error_msg("42P01", "relation \"u\" does not exist"),
            ready(),
        ]
        .concat();
        assert_eq!(
            conversation(&[(C, requests), (S, responses)]),
            "B(INSERT t) M M M B(SELECT t) M M M B(DELETE u) M M M! - b(ok) M M M b(ok) M M M M b(client_error) M!"
        );
    }

    #[test]
    fn an_error_mid_response_amends_it_and_the_batch_ends() {
        let requests = [
            parse_msg("", "SELECT 1/0"),
            bind(""),
            execute(),
            parse_msg("", "SELECT 2"),
            bind(""),
            execute(),
            sync(),
            query("SELECT 3"),
        ]
        .concat();
        let responses = [
            msg(b'1', b""),
            msg(b'2', b""),
            error_msg("22012", "division by zero"),
            ready(),
            msg(b'T', b"\0\0"),
            complete("SELECT 1"),
            ready(),
        ]
        .concat();
        // `SELECT 2` was skipped by the server: the ReadyForQuery says so
        // (x1), so `SELECT 3`'s response is not paired with it.
        assert_eq!(
            conversation(&[(C, requests), (S, responses)]),
            "B(SELECT) M M B(SELECT) M M M! B!(SELECT) b(ok) M M(client_error) M!x1 b(ok) M M!"
        );
    }

    #[test]
    fn error_outcome_and_excerpt() {
        let mut p = parser();
        p.parse(&query("SELEC 1"), C, false);
        let Parse::Begin { message, .. } = p.parse(
            &error_msg("42601", "syntax error at or near \"SELEC\""),
            S,
            false,
        ) else {
            panic!("a response begins");
        };
        assert_eq!(message.outcome.code, Some(Code::Text("42601".to_owned())));
        assert_eq!(message.outcome.status, Status::ClientError);
        assert_eq!(
            message.excerpt,
            "ERROR 42601 syntax error at or near \"SELEC\""
        );
        for (code, status) in [
            ("23505", Status::ClientError),
            ("28P01", Status::ClientError),
            ("0A000", Status::ClientError),
            ("P0001", Status::ClientError),
            ("53300", Status::ServerError),
            ("57014", Status::ServerError),
            ("XX000", Status::ServerError),
            ("40001", Status::Error),
            ("25P02", Status::Error),
        ] {
            assert_eq!(
                error(format!("C{code}\0\0").as_bytes()).0.status,
                status,
                "{code}"
            );
        }
        let (outcome, excerpt) = error(b"Mno code\0");
        assert_eq!(
            (outcome.status, outcome.code, excerpt.as_str()),
            (Status::Error, None, " no code")
        );
    }

    #[test]
    fn startup_encryption_answer_and_authentication_are_skipped() {
        let auth_ok = [
            msg(b'R', b"\0\0\0\0"),
            msg(b'S', b"a\0b\0"),
            msg(b'K', b"\0\0\0\x01\0\0\0\x02"),
            ready(),
        ]
        .concat();
        assert_eq!(
            conversation(&[
                (C, vec![0, 0, 0, 8, 4, 210, 22, 47]),
                (S, b"N".to_vec()),
                (C, startup()),
                (S, msg(b'R', b"\0\0\0\x03")),
                (C, msg(b'p', b"hunter2\0")),
                (S, auth_ok),
                (C, query("SELECT 1")),
                (
                    S,
                    [msg(b'N', b"SNOTICE\0\0"), complete("SELECT 1"), ready()].concat()
                ),
                (C, msg(b'X', b"")),
            ]),
            "- - - - - - - - - B!(SELECT) - b(ok) M! -"
        );
        // A failed authentication belongs to no call either.
        assert_eq!(
            conversation(&[
                (C, startup()),
                (S, error_msg("28P01", "password authentication failed")),
            ]),
            "- -"
        );
        // Queries come after startup, even when its end was not captured.
        assert_eq!(
            conversation(&[
                (C, startup()),
                (S, msg(b'R', b"\0\0\0\0")),
                (C, query("SELECT 1")),
                (S, [error_msg("57014", "canceled"), ready()].concat()),
            ]),
            "- - B!(SELECT) b(server_error) M!"
        );
        // An 'N' that answers no encryption request is a notice.
        assert_eq!(
            conversation(&[(C, query("SELECT 1")), (S, msg(b'N', b"\0"))]),
            "B!(SELECT) -"
        );
    }

    #[test]
    fn server_side_sees_the_same_calls() {
        let mut p = parser();
        let mut f = Framer::new(Transport::Tcp);
        let mut units = feed(&mut f, p.as_mut(), S, &query("DELETE FROM t"), 18);
        let reply = [complete("DELETE 1"), ready()].concat();
        units.extend(feed(&mut f, p.as_mut(), C, &reply, reply.len()));
        assert_eq!(view(&units), "B!(DELETE t) b(ok) M!");
    }

    #[test]
    fn heads_split_across_syscalls_are_joined() {
        let q = query("SELECT * FROM users");
        let mut p = parser();
        let mut f = Framer::new(Transport::Tcp);
        assert!(feed(&mut f, p.as_mut(), C, &q[..3], 3).is_empty());
        assert!(feed(&mut f, p.as_mut(), C, &q[3..12], 9).is_empty());
        assert_eq!(
            view(&feed(&mut f, p.as_mut(), C, &q[12..], q.len() - 12)),
            "B!(SELECT users)"
        );
        // Bodies nobody reads are not waited for.
        let row = msg(b'D', &[0; 100]);
        let units = feed(&mut f, p.as_mut(), S, &row[..10], 10);
        assert_eq!(view(&units), "b(ok)");
        assert_eq!(f.desyncs, 0);
    }

    #[test]
    fn cut_messages_begin_with_their_head() {
        let sql = format!("SELECT * FROM big WHERE x IN ({})", "1, ".repeat(1000));
        let q = query(&sql);
        let mut p = parser();
        match p.parse(&q[..64], C, true) {
            Parse::Begin { len, message, done } => {
                assert_eq!(
                    (len, message.endpoint.as_str(), done),
                    (q.len() as u64, "SELECT big", true)
                );
                assert_eq!(message.excerpt, printable(&sql.as_bytes()[..59]));
            }
            other => panic!("{other:?}"),
        }
        // Long, not cut, but enough of it to read: parsed without waiting.
        assert!(matches!(p.parse(&q[..HEAD], C, false), Parse::Begin { .. }));
        assert_eq!(p.parse(&q[..HEAD - 1], C, false), Parse::Incomplete);
        assert_eq!(p.parse(&q[..3], C, false), Parse::Incomplete);
        assert_eq!(p.parse(&q[..3], C, true), Parse::Invalid);
        assert_eq!(p.parse(&[0, 0, 0], C, true), Parse::Invalid);
        assert_eq!(p.parse(&[0, 0, 0], C, false), Parse::Incomplete);
    }

    #[test]
    fn a_ready_for_query_lost_to_the_snaplen_is_inferred() {
        let rows: Vec<u8> = (0..50)
            .flat_map(|_| msg(b'D', b"\0\x01\0\0\0\x03abc"))
            .collect();
        let big = [msg(b'T', b"\0\0"), rows, complete("SELECT 50"), ready()].concat();
        let small = [complete("SELECT 0"), ready()].concat();
        let mut p = parser();
        let mut f = Framer::new(Transport::Tcp);
        let mut units = Vec::new();
        for (dir, bytes, captured) in [
            (C, query("SELECT * FROM t"), usize::MAX),
            (S, big.clone(), 64),
            (C, query("SELECT 2"), usize::MAX),
            (S, small.clone(), usize::MAX),
            (C, query("SELECT 3"), usize::MAX),
            // Cut where a message ends.
            (S, big, 7 + 4 * 14),
            (C, query("SELECT 4"), usize::MAX),
            (S, small, usize::MAX),
        ] {
            let data = &bytes[..bytes.len().min(captured)];
            units.extend(feed(&mut f, p.as_mut(), dir, data, bytes.len()));
        }
        assert_eq!(
            view(&units),
            "B!(SELECT t) b(ok) M M M M B!(SELECT) b(ok) M! \
             B!(SELECT) b(ok) M M M M B!(SELECT) b(ok) M!"
        );
    }

    #[test]
    fn a_prepare_alone_is_not_an_execution() {
        let describe = |what: &[u8]| msg(b'D', what);
        let parse_complete = || msg(b'1', b"");
        let bind_complete = || msg(b'2', b"");
        // `pgbench -M prepared`: Parse and Sync once, then Bind, Describe,
        // Execute and Sync for each execution.
        assert_eq!(
            conversation(&[
                (
                    C,
                    [parse_msg("P_1", "UPDATE t SET a = $1"), sync()].concat()
                ),
                (S, [parse_complete(), ready()].concat()),
                (
                    C,
                    [bind("P_1"), describe(b"P\0"), execute(), sync()].concat()
                ),
                (
                    S,
                    [
                        bind_complete(),
                        msg(b'n', b""),
                        complete("UPDATE 1"),
                        ready()
                    ]
                    .concat()
                ),
            ]),
            "B(PREPARE UPDATE t) M! b(ok) M! B(UPDATE t) M M M! b(ok) M M M!"
        );
        // lib/pq: Parse, Describe and Sync, then Bind, Execute and Sync.
        assert_eq!(
            conversation(&[
                (
                    C,
                    [
                        parse_msg("", "SELECT * FROM t WHERE id = $1"),
                        describe(b"S\0"),
                        sync()
                    ]
                    .concat()
                ),
                (
                    S,
                    [
                        parse_complete(),
                        msg(b't', b"\0\0"),
                        msg(b'T', b"\0\0"),
                        ready()
                    ]
                    .concat()
                ),
                (C, [bind(""), execute(), sync()].concat()),
                (S, [bind_complete(), complete("SELECT 0"), ready()].concat()),
            ]),
            "B(PREPARE SELECT t) M M! b(ok) M M M! B(SELECT t) M M! b(ok) M M!"
        );
        // Parsed and executed at once: one call.
        assert_eq!(
            conversation(&[
                (
                    C,
                    [parse_msg("", "DELETE FROM t"), bind(""), execute(), sync()].concat()
                ),
                (
                    S,
                    [
                        parse_complete(),
                        bind_complete(),
                        complete("DELETE 0"),
                        ready()
                    ]
                    .concat()
                ),
            ]),
            "B(DELETE t) M M M! b(ok) M M M!"
        );
        // Only what the same syscall shows tells: a Sync written apart
        // leaves the Parse taken for an execution.
        assert_eq!(
            conversation(&[
                (C, parse_msg("s", "DELETE FROM t")),
                (C, sync()),
                (S, [parse_complete(), ready()].concat()),
            ]),
            "B(DELETE t) M! b(ok) M!"
        );
    }

    #[test]
    fn pgbench_prepared_executions_are_counted_once() {
        let records = fixture::load(&fixture::folder("postgres").join("pgbench_prepared.bin"));
        for side in [Side::Client, Side::Server] {
            let mut p = parser();
            let mut f = Framer::new(Transport::Tcp);
            let mut calls = std::collections::BTreeMap::<String, u32>::new();
            for r in &records {
                let dir = match side {
                    Side::Client => r.dir,
                    Side::Server => r.dir.reverse(),
                };
                for unit in feed(&mut f, p.as_mut(), dir, &r.bytes, r.bytes.len()) {
                    if let Parse::Begin { message, .. } = unit
                        && message.kind == Kind::Request
                    {
                        *calls.entry(message.endpoint).or_default() += 1;
                    }
                }
            }
            // `pgbench -t 2` with the TPC-B-like script: each statement
            // prepared once, executed twice.
            let mut want = std::collections::BTreeMap::new();
            for statement in [
                "BEGIN",
                "UPDATE pgbench_accounts",
                "SELECT pgbench_accounts",
                "UPDATE pgbench_tellers",
                "UPDATE pgbench_branches",
                "INSERT pgbench_history",
                "END",
            ] {
                want.insert(format!("PREPARE {statement}"), 1);
                want.insert(statement.to_owned(), 2);
            }
            assert_eq!(calls, want, "{side:?}");
            assert_eq!(f.desyncs, 0);
        }
    }

    #[test]
    fn absurd_lengths_and_strange_types_are_invalid() {
        let mut p = parser();
        assert_eq!(p.parse(b"Q\0\0\0\x03", C, false), Parse::Invalid);
        assert_eq!(p.parse(b"Q\x40\0\0\x01", C, false), Parse::Invalid);
        assert_eq!(p.parse(b"\x16\x03\x01\x02\0\x01", C, false), Parse::Invalid);
        assert!(matches!(
            p.parse(&query("SELECT 1"), C, false),
            Parse::Begin { .. }
        ));
        // The client does not send RowDescription, nor the server Query.
        assert_eq!(p.parse(&msg(b'T', b""), C, false), Parse::Invalid);
        assert_eq!(p.parse(&query("SELECT 1"), S, false), Parse::Invalid);
        assert_eq!(p.parse(&startup(), S, false), Parse::Invalid);
    }

    #[test]
    fn attached_mid_connection() {
        // Rows of a response whose request was not seen: the sender of 'D'
        // is unknown until 'Z' tells, then the next call is whole.
        assert_eq!(
            conversation(&[
                (
                    S,
                    [msg(b'D', b"\0\0"), msg(b'D', b"\0\0"), complete("SELECT 2")].concat()
                ),
                (S, ready()),
                (C, query("SELECT 1")),
                (S, [complete("SELECT 1"), ready()].concat()),
            ]),
            "- - - - B!(SELECT) b(ok) M!"
        );
        // Mid-batch: a Bind whose Parse was missed.
        assert_eq!(
            conversation(&[
                (C, [bind("s9"), execute(), sync()].concat()),
                (S, [msg(b'2', b""), complete("UPDATE 1"), ready()].concat()),
            ]),
            "B(EXECUTE) M M! b(ok) M M!"
        );
    }

    #[test]
    fn statements_remembered_are_bounded() {
        let mut p = Postgres::new(Options::default());
        for i in 0..STATEMENTS_MAX + 1 {
            p.parse(
                &parse_msg(&format!("s{i}"), &format!("SELECT * FROM t{i}")),
                C,
                false,
            );
        }
        assert_eq!(p.statements.len(), STATEMENTS_MAX);
        p.parse(&sync(), C, false);
        let endpoint_of = |p: &mut Postgres, name: &str| match p.parse(&bind(name), C, false) {
            Parse::Begin { message, .. } => {
                p.parse(&sync(), C, false);
                message.endpoint
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(endpoint_of(&mut p, "s0"), "EXECUTE");
        assert_eq!(endpoint_of(&mut p, "s1"), "SELECT t1");
        p.parse(&msg(b'C', b"Ss1\0"), C, false);
        p.parse(&sync(), C, false);
        assert_eq!(endpoint_of(&mut p, "s1"), "EXECUTE");
        for _ in 0..PENDING_MAX * 2 {
            p.parse(&sync(), C, false);
        }
        assert_eq!(p.pending.len(), PENDING_MAX);
    }

    #[test]
    fn passwords_in_queries_are_redacted() {
        let cases = [
            (
                "ALTER USER bob WITH PASSWORD 'hunter2'",
                "ALTER USER bob WITH PASSWORD '[redacted]'",
            ),
            (
                "create role a password 'it''s' login",
                "create role a password '[redacted]' login",
            ),
            (
                "SELECT dblink_connect('host=h password=hunter2 dbname=d')",
                "SELECT dblink_connect('host=h password=[redacted] dbname=d')",
            ),
            ("SELECT password FROM users", "SELECT password FROM users"),
            (
                "SET password_encryption = 'md5'",
                "SET password_encryption = 'md5'",
            ),
            (
                "ALTER USER x PASSWORD 'cut",
                "ALTER USER x PASSWORD '[redacted]'",
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(redact_passwords(sql), want);
        }
        let mut p = new(Options { redact: false }, Transport::Tcp);
        let Parse::Begin { message, .. } = p.parse(&query(cases[0].0), C, false) else {
            panic!("a request begins");
        };
        assert_eq!(message.excerpt, cases[0].0);
        assert_eq!(message.endpoint, "ALTER USER bob");
    }

    fn replays(name: &str, records: &[fixture::Record]) -> Vec<(String, String)> {
        let run = |snaplen, side| {
            fixture::replay(
                &SPEC,
                Transport::Tcp,
                records,
                snaplen,
                side,
                Options::default(),
            )
        };
        vec![
            (format!("{name}_client"), run(usize::MAX, Side::Client)),
            (format!("{name}_server"), run(usize::MAX, Side::Server)),
            (format!("{name}_client_snaplen64"), run(64, Side::Client)),
        ]
    }

    #[test]
    fn fixtures() {
        for (name, records) in fixture::all("postgres") {
            for (snapshot, text) in replays(&name, &records) {
                // Cut captures lose what follows a cut header; whole ones
                // lose nothing.
                let whole = !snapshot.contains("snaplen");
                assert!(!whole || text.ends_with("desyncs=0\n"), "{snapshot}");
                insta::assert_snapshot!(snapshot, text);
            }
        }
    }

    #[test]
    fn passwords_never_reach_a_replay() {
        let folder = fixture::folder("postgres");
        let records = fixture::load(&folder.join("cleartext_auth.bin"));
        let raw: Vec<u8> = records.iter().flat_map(|r| r.bytes.clone()).collect();
        assert!(
            raw.windows(11).any(|w| w == b"Cl3arTextPw"),
            "the fixture carries the password"
        );
        for (name, records) in fixture::all("postgres") {
            for (snapshot, text) in replays(&name, &records) {
                for secret in ["Cl3arTextPw", "s3cretPw", "p=", "SCRAM"] {
                    assert!(!text.contains(secret), "{snapshot} shows {secret}");
                }
            }
        }
    }

    #[test]
    fn no_panic_on_any_bytes() {
        let mut next = fixture::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let samples: Vec<Vec<u8>> = fixture::corpus("postgres");
        for round in 0..3000 {
            let mut bytes = if round % 2 == 0 {
                let sample = &samples[round / 2 % samples.len()];
                let start = next() as usize % sample.len();
                let mut bytes = sample[start..].to_vec();
                bytes.truncate(64 + next() as usize % 1024);
                for _ in 0..next() % 8 {
                    let at = next() as usize % bytes.len();
                    bytes[at] = next() as u8;
                }
                bytes
            } else {
                (0..next() % 512).map(|_| next() as u8).collect()
            };
            bytes.insert(0, next() as u8);
            exercise(Protocol::Postgres, Transport::Tcp, &bytes);
        }
    }
}
