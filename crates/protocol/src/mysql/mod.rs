//! MySQL/MariaDB client/server protocol over TCP: text queries (`COM_QUERY`),
//! prepared statements (`COM_STMT_PREPARE`/`EXECUTE`) and the small
//! commands (`COM_PING`, `COM_INIT_DB`, ...).
//!
//! A unit is one packet: a 3-byte little-endian payload length, a sequence
//! id, the payload. A client command (sequence 0) begins a request; the
//! server's first packet after it begins the response and the rest of the
//! response (column definitions, rows, the end of the result set, the next
//! results of a multi-statement) are More. The parser learns which way is
//! the client from the server's greeting or from the first command, so it
//! reads both sides the same and picks up a connection mid-way.
//!
//! Every packet of a response carries the next sequence id, so a packet
//! that does not is a lost footing, reported as such ([`Parse::Invalid`]).
//! A result set is mostly rows, and with the snaplen the capture of a
//! syscall often stops a few rows in: the packets in the bytes not captured
//! are never seen, so the next syscall may start inside one. Those bytes,
//! and whole syscalls after them, are counted in the response (through
//! [`Parser::unseen`]) until a syscall starts the way the next response
//! must, at the sequence id its command expects; classic clients send no
//! command before the whole response has come, so that is where it ends.
//!
//! The handshake (greeting, handshake response, auth switches) is Skip and
//! never excerpted. After an SSL request the connection is TLS records, and
//! after a compressed handshake it is compressed packets: both are skipped
//! by their own framing, which keeps the framer in step.
//!
//! Written by hand: the MySQL crates parse whole, well-formed packets from a
//! socket, not the captured prefix of a syscall.

mod sql;

use std::collections::VecDeque;
use std::time::Duration;

use super::{
    Direction, Message, Options, Outcome, Parse, Parser, REDACTED, Spec, Transport, printable,
    push_excerpt,
};
use dflow_model::{Code, Protocol, Status};

use sql::endpoint;

pub const SPEC: Spec = Spec {
    protocol: Protocol::Mysql,
    timeout: Duration::from_secs(60),
    check,
    new,
};

const HEADER: usize = 4;
/// A payload this long continues in the next packet.
const MAX_PAYLOAD: usize = 0xFF_FFFF;
/// The most payload bytes awaited before a packet is parsed: a query's verb
/// and table can sit behind a long select list, the rest never matters.
pub(super) const HEAD: usize = 4096;
/// Prepared statements remembered per connection (their endpoint and text).
const STATEMENTS_MAX: usize = 256;
/// Commands awaiting a response; clients that pipeline send a few at most.
const QUEUE_MAX: usize = 16;
/// The statement text kept for a prepared statement's executions.
const STMT_EXCERPT_MAX: usize = 128;
/// More columns than MySQL allows in a table (4096): not a result set.
const COLUMNS_MAX: u64 = 4096;

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_STATISTICS: u8 = 0x09;
const COM_PING: u8 = 0x0e;
const COM_CHANGE_USER: u8 = 0x11;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_FETCH: u8 = 0x1c;
/// The last of the numbered commands; MariaDB adds the one below.
const COM_RESET_CONNECTION: u8 = 0x1f;
const COM_STMT_BULK_EXECUTE: u8 = 0xfa;

const CLIENT_COMPRESS: u32 = 0x20;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_DEPRECATE_EOF: u32 = 1 << 24;
/// The SSL request: capabilities, max packet, charset, 23 zero bytes.
const SSL_REQUEST_LEN: usize = 32;

const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;
const SERVER_STATUS_CURSOR_EXISTS: u16 = 0x0040;

fn new(options: Options, _: Transport) -> Box<dyn Parser> {
    Box::new(Mysql {
        options,
        client: None,
        phase: Phase::Command,
        deprecate_eof: None,
        compress: false,
        continued: [None, None],
        lost: [false, false],
        next_seq: None,
        queue: VecDeque::new(),
        response: None,
        statements: VecDeque::new(),
        last_prepare: None,
    })
}

/// A `COM_QUERY` or `COM_STMT_PREPARE` whose text starts like SQL, or the
/// server's greeting, at sequence 0 with a consistent header.
fn check(data: &[u8], _: Transport) -> bool {
    let Some(head) = data.get(..HEADER) else {
        return false;
    };
    let len = le24(head);
    if head[3] != 0 {
        return false;
    }
    // Bytes past the packet must start the next one: a pipelined command,
    // or the continuation of a maximal packet.
    if let Some(next) = data.get(HEADER + len..HEADER + len + HEADER)
        && !(next[3] == 0 || len == MAX_PAYLOAD && next[3] == 1)
    {
        return false;
    }
    let payload = &data[HEADER..data.len().min(HEADER + len)];
    match payload.split_first() {
        Some((&(COM_QUERY | COM_STMT_PREPARE), sql)) => starts_like_sql(query_text(sql)),
        Some((&10, _)) => is_greeting(payload, true),
        _ => false,
    }
}

fn starts_like_sql(sql: &[u8]) -> bool {
    let sql = sql.trim_ascii_start();
    sql.first()
        .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'(')
        || sql.starts_with(b"/*")
}

/// Protocol version 10 and a version string of printable ASCII starting
/// with a digit ("8.0.36", "5.5.5-10.11.6-MariaDB"), NUL-terminated unless
/// the capture ends first and `need_nul` is false.
fn is_greeting(payload: &[u8], need_nul: bool) -> bool {
    let Some(version) = payload.strip_prefix(&[10]) else {
        return false;
    };
    let version = &version[..version.len().min(64)];
    let version = match version.iter().position(|&b| b == 0) {
        Some(end) => &version[..end],
        None if !need_nul => version,
        None => return false,
    };
    version.first().is_some_and(u8::is_ascii_digit)
        && version.iter().all(|&b| b.is_ascii_graphic() || b == b' ')
}

/// The SQL of a `COM_QUERY` body. With CLIENT_QUERY_ATTRIBUTES (MySQL
/// 8.0.23+) it follows a parameter count and a parameter set count (1);
/// without attributes that prefix is `00 01`, which no SQL starts with.
fn query_text(body: &[u8]) -> &[u8] {
    body.strip_prefix(&[0, 1]).unwrap_or(body)
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le24(b: &[u8]) -> usize {
    usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A length-encoded integer and the bytes it took.
fn lenenc(b: &[u8]) -> Option<(u64, usize)> {
    let (&first, rest) = b.split_first()?;
    let n = match first {
        0..=0xfa => return Some((first.into(), 1)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let bytes = rest.get(..n)?;
    Some((
        bytes
            .iter()
            .rev()
            .fold(0, |acc, &b| acc << 8 | u64::from(b)),
        1 + n,
    ))
}

/// One packet, as far as it was captured.
struct Packet<'a> {
    /// The unit's length: header and whole payload, captured or not.
    len: u64,
    seq: u8,
    /// The payload's length as the header says.
    payload_len: usize,
    /// What was captured of the payload.
    payload: &'a [u8],
}

impl Packet<'_> {
    fn first(&self) -> Option<u8> {
        self.payload.first().copied()
    }
}

/// The packet at the start of `data`; None while its head is incomplete
/// (on cut data: only when not even the header was captured).
fn packet(data: &[u8], cut: bool) -> Option<Packet<'_>> {
    let head = data.get(..HEADER)?;
    let payload_len = le24(head);
    let captured = data.len() - HEADER;
    if !cut && captured < payload_len.min(HEAD) {
        return None;
    }
    Some(Packet {
        len: (HEADER + payload_len) as u64,
        seq: head[3],
        payload_len,
        payload: &data[HEADER..HEADER + payload_len.min(captured)],
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// From the greeting (or `COM_CHANGE_USER`) to the OK or ERR that ends
    /// the authentication.
    Auth,
    Command,
    /// Compressed packets: a 7-byte header, then zlib data.
    Compressed,
    /// After an SSL request: TLS records.
    Tls,
}

/// How a unit that continues a maximal packet is to be reported.
#[derive(Debug, Clone, Copy)]
enum Tail {
    Skip,
    /// More of the message; `done` once the last piece arrives.
    More {
        done: bool,
    },
}

/// A prepared statement as its executions show it.
#[derive(Debug, Clone)]
struct Stmt {
    endpoint: String,
    excerpt: String,
}

/// A command that awaits its response.
#[derive(Debug)]
struct Pending {
    command: u8,
    /// For `COM_STMT_PREPARE`: the statement, until its id is known.
    prepare: Option<Stmt>,
    /// The sequence id the response starts with: 1 unless the command took
    /// several packets (or a progress report came first).
    seq: u8,
}

/// Where the server is in a response.
#[derive(Debug)]
enum Response {
    /// The next packet opens the response to `pending`, or with `begun` the
    /// next result of a multi-result one.
    Start { pending: Pending, begun: bool },
    /// `left` column or parameter definitions, then `then`.
    Defs { left: u64, then: AfterDefs },
    /// After a block of definitions: an EOF unless CLIENT_DEPRECATE_EOF.
    DefsEof { then: AfterDefs },
    /// Rows until the EOF (or OK with a 0xFE header) that ends the set.
    Rows,
    /// LOCAL INFILE: the client sends the file, the server then says OK.
    Infile,
    /// Somewhere in a response some of whose packets were never seen: it
    /// ends where the next one starts.
    Lost,
}

#[derive(Debug, Clone, Copy)]
enum AfterDefs {
    Rows,
    /// A prepared statement's column definitions after its parameters'.
    Columns(u64),
    Done,
}

/// What a server packet says: its outcome (None: nothing to amend) and
/// excerpt, and what comes next (None: the response is complete).
struct Step {
    outcome: Option<Outcome>,
    excerpt: String,
    next: Option<Response>,
}

impl Step {
    fn more(next: Option<Response>) -> Step {
        Step {
            outcome: None,
            excerpt: String::new(),
            next,
        }
    }
}

struct Mysql {
    options: Options,
    /// The client's direction, once a greeting or a command told it.
    client: Option<Direction>,
    phase: Phase,
    /// CLIENT_DEPRECATE_EOF, from the handshake response or from the shape
    /// of a result set; None while unknown.
    deprecate_eof: Option<bool>,
    /// The client asked for compression; it starts after the handshake.
    compress: bool,
    /// Per direction: the last packet was maximal, the next one goes on.
    continued: [Option<Tail>; 2],
    /// Per direction: bytes of the last syscall were never parsed, so the
    /// next one may start inside a packet.
    lost: [bool; 2],
    /// The sequence id of the server's next packet in the response under
    /// way; None when unknown (LOCAL INFILE contents were lost).
    next_seq: Option<u8>,
    /// Commands awaiting a response, oldest first.
    queue: VecDeque<Pending>,
    /// Where the server is in the response to the oldest command; None
    /// between responses.
    response: Option<Response>,
    /// Prepared statements by id, oldest first.
    statements: VecDeque<(u32, Stmt)>,
    /// The last statement prepared: MariaDB clients that pipeline execute
    /// it as id 0xFFFFFFFF before the prepare's response has come.
    last_prepare: Option<Stmt>,
}

impl Parser for Mysql {
    fn parse(&mut self, data: &[u8], dir: Direction, cut: bool) -> Parse {
        match self.phase {
            Phase::Tls => return tls_record(data, cut),
            Phase::Compressed => return compressed_packet(data, cut),
            Phase::Auth | Phase::Command => {}
        }
        if self.phase == Phase::Command
            && self.lost[dir.index()]
            && let Some(unit) = self.resync(data, dir)
        {
            return unit;
        }
        let Some(p) = packet(data, cut) else {
            return if cut {
                Parse::Invalid
            } else {
                Parse::Incomplete
            };
        };
        let last = p.payload_len < MAX_PAYLOAD;
        let side = &mut self.continued[dir.index()];
        if let Some(tail) = *side {
            if last {
                *side = None;
            }
            if self.client == Some(dir) {
                if let (Tail::More { .. }, Some(command)) = (tail, self.queue.back_mut()) {
                    command.seq = p.seq.wrapping_add(1);
                }
            } else {
                self.next_seq = Some(p.seq.wrapping_add(1));
            }
            return match tail {
                Tail::Skip => Parse::Skip { len: p.len },
                Tail::More { done } => Parse::More {
                    len: p.len,
                    outcome: None,
                    done: last && done,
                },
            };
        }
        let mut unit = self.unit(&p, dir);
        if !last {
            // The message goes on in the next packet: it ends there.
            self.continued[dir.index()] = Some(match &mut unit {
                Parse::Begin { done, .. } | Parse::More { done, .. } => Tail::More {
                    done: std::mem::take(done),
                },
                _ => Tail::Skip,
            });
        }
        unit
    }

    fn unseen(&mut self, dir: Direction, _: u64) -> bool {
        if self.phase != Phase::Command || self.client.is_none() {
            return false;
        }
        self.lost[dir.index()] = true;
        self.continued[dir.index()] = None;
        if self.client == Some(dir) {
            if matches!(self.response, Some(Response::Infile)) {
                // Contents went by unseen: their count is unknown.
                self.next_seq = None;
            }
            return false;
        }
        // Rows not captured, most likely: the response goes on to where
        // the next one starts.
        if self.response.is_some() {
            self.response = Some(Response::Lost);
            return true;
        }
        false
    }
}

impl Mysql {
    /// The first syscall in `dir` after bytes that were never parsed: None
    /// when it starts the way the next message must, so it is parsed as
    /// usual; otherwise it goes, whole, to the response whose packets were
    /// lost (or to nothing).
    fn resync(&mut self, data: &[u8], dir: Direction) -> Option<Parse> {
        let p = packet(data, true)?;
        let starts = if self.client == Some(dir) {
            p.seq == 0 && is_command(&p)
        } else {
            self.queue
                .front()
                .is_some_and(|next| chains(data, next.seq) && opens_response(&p, next.command))
        };
        if starts {
            self.lost[dir.index()] = false;
            if self.client != Some(dir) && matches!(self.response, Some(Response::Lost)) {
                self.response = None;
            }
            return None;
        }
        let len = data.len() as u64;
        Some(match self.response {
            Some(Response::Lost) if self.client != Some(dir) => Parse::More {
                len,
                outcome: None,
                done: false,
            },
            _ => Parse::Skip { len },
        })
    }

    fn unit(&mut self, p: &Packet, dir: Direction) -> Parse {
        let skip = Parse::Skip { len: p.len };
        // A greeting (re)starts the handshake and tells who the server is.
        if p.seq == 0
            && self.client != Some(dir)
            && is_greeting(p.payload, p.payload.len() == p.payload_len)
        {
            self.client = Some(dir.reverse());
            self.phase = Phase::Auth;
            self.queue.clear();
            self.response = None;
            self.lost = [false, false];
            return skip;
        }
        // Attached mid-connection: the first command tells who the client is.
        let client = match self.client {
            Some(client) => client,
            None if p.seq == 0 => *self.client.insert(dir),
            None => return skip,
        };
        if self.phase == Phase::Auth {
            self.auth(p, dir == client);
            skip
        } else if dir == client {
            self.request(p)
        } else {
            self.server(p)
        }
    }

    /// Follows the authentication exchange, which is all Skip.
    fn auth(&mut self, p: &Packet, from_client: bool) {
        if from_client {
            // The handshake response (or SSL request) follows the greeting.
            if let (1, Some(caps)) = (p.seq, p.payload.get(..4)) {
                let caps = le32(caps);
                self.deprecate_eof = Some(caps & CLIENT_DEPRECATE_EOF != 0);
                self.compress = caps & CLIENT_COMPRESS != 0;
                if caps & CLIENT_SSL != 0 && p.payload_len == SSL_REQUEST_LEN {
                    self.phase = Phase::Tls;
                }
            }
        } else if matches!(p.first(), Some(0x00 | 0xff)) {
            // OK or ERR: authentication is over (0xFE switches, 0x01 is
            // more auth data).
            self.phase = if self.compress {
                Phase::Compressed
            } else {
                Phase::Command
            };
        }
    }

    fn request(&mut self, p: &Packet) -> Parse {
        let len = p.len;
        if p.seq != 0 {
            // The contents of a LOCAL INFILE, ended by an empty packet.
            return match self.response {
                Some(Response::Infile) => {
                    self.next_seq = Some(p.seq.wrapping_add(1));
                    Parse::More {
                        len,
                        outcome: None,
                        done: p.payload_len == 0,
                    }
                }
                _ => Parse::Skip { len },
            };
        }
        let Some((&command, body)) = p.payload.split_first() else {
            return Parse::Skip { len };
        };
        let mut prepare = None;
        let mut expects_response = true;
        let (endpoint, excerpt) = match command {
            COM_QUIT => return Parse::Skip { len },
            COM_CHANGE_USER => {
                // Carries credentials, then a new authentication exchange.
                self.phase = Phase::Auth;
                self.queue.clear();
                self.response = None;
                self.lost = [false, false];
                return Parse::Skip { len };
            }
            COM_QUERY => {
                let sql = query_text(body);
                (endpoint(sql), self.sql_excerpt(sql))
            }
            COM_STMT_PREPARE => {
                let mut stmt = Stmt {
                    endpoint: endpoint(body),
                    excerpt: self.sql_excerpt(body),
                };
                let shown = (format!("PREPARE {}", stmt.endpoint), stmt.excerpt.clone());
                stmt.excerpt.truncate(STMT_EXCERPT_MAX);
                self.last_prepare = Some(stmt.clone());
                prepare = Some(stmt);
                shown
            }
            COM_STMT_EXECUTE => match body.get(..4).map(le32).and_then(|id| self.statement(id)) {
                // Parameters are never shown: the statement's text is.
                Some(stmt) => (stmt.endpoint.clone(), stmt.excerpt.clone()),
                None => ("EXECUTE".to_owned(), String::new()),
            },
            COM_STMT_CLOSE | COM_STMT_SEND_LONG_DATA => {
                if let (COM_STMT_CLOSE, Some(id)) = (command, body.get(..4).map(le32)) {
                    self.statements.retain(|(known, _)| *known != id);
                }
                expects_response = false;
                (command_name(command), String::new())
            }
            COM_PING => ("PING".to_owned(), String::new()),
            COM_INIT_DB => {
                let mut excerpt = "USE ".to_owned();
                push_excerpt(&mut excerpt, &printable(body));
                ("USE".to_owned(), excerpt)
            }
            _ => (command_name(command), String::new()),
        };
        if expects_response {
            if self.queue.len() == QUEUE_MAX {
                self.queue.pop_front();
            }
            self.queue.push_back(Pending {
                command,
                prepare,
                seq: 1,
            });
        }
        let mut message = Message::request(endpoint, excerpt);
        message.expects_response = expects_response;
        Parse::Begin {
            len,
            message,
            done: true,
        }
    }

    fn statement(&self, id: u32) -> Option<&Stmt> {
        if id == u32::MAX {
            return self.last_prepare.as_ref();
        }
        self.statements
            .iter()
            .find(|(known, _)| *known == id)
            .map(|(_, stmt)| stmt)
    }

    fn remember(&mut self, id: u32, stmt: Stmt) {
        self.statements.retain(|(known, _)| *known != id);
        if self.statements.len() == STATEMENTS_MAX {
            self.statements.pop_front();
        }
        self.statements.push_back((id, stmt));
    }

    fn sql_excerpt(&self, sql: &[u8]) -> String {
        let text = printable(sql);
        if self.options.redact {
            redact(text)
        } else {
            text
        }
    }

    fn server(&mut self, p: &Packet) -> Parse {
        let expected = match &self.response {
            Some(_) => self.next_seq,
            None => self.queue.front().map(|next| next.seq),
        };
        if expected.is_some_and(|seq| seq != p.seq) {
            // Not where the framing said a packet would be.
            if self.response.is_some() {
                self.response = Some(Response::Lost);
            }
            return Parse::Invalid;
        }
        let next_seq = p.seq.wrapping_add(1);
        self.next_seq = Some(next_seq);
        // MariaDB's progress reports (an ERR with code 0xFFFF) interleave
        // with a long statement's response, and take a sequence id.
        if p.payload.starts_with(&[0xff, 0xff, 0xff]) {
            if let (None, Some(next)) = (&self.response, self.queue.front_mut()) {
                next.seq = next_seq;
            }
            return Parse::Skip { len: p.len };
        }
        let state = match self.response.take() {
            Some(state) => state,
            None => match self.queue.pop_front() {
                Some(pending) => Response::Start {
                    pending,
                    begun: false,
                },
                None => return Parse::Skip { len: p.len },
            },
        };
        let begins = matches!(state, Response::Start { begun: false, .. });
        let step = match state {
            Response::Start { pending, .. } => self.start(p, pending),
            Response::Defs { left, then } => self.definition(p, left, then),
            Response::DefsEof { then } => {
                if p.first() == Some(0xfe) && p.payload_len < 7 {
                    // An EOF; an OK with a 0xFE header has at least 7 bytes.
                    self.deprecate_eof.get_or_insert(false);
                    let cursor = eof_status(p.payload) & SERVER_STATUS_CURSOR_EXISTS != 0;
                    Step::more(match then {
                        // A cursor's rows come with COM_STMT_FETCH.
                        AfterDefs::Rows if cursor => None,
                        AfterDefs::Rows => Some(Response::Rows),
                        AfterDefs::Columns(left) => Some(Response::Defs {
                            left,
                            then: AfterDefs::Done,
                        }),
                        AfterDefs::Done => None,
                    })
                } else {
                    self.deprecate_eof.get_or_insert(true);
                    match then {
                        AfterDefs::Rows => rows(p),
                        AfterDefs::Columns(left) => self.definition(p, left, AfterDefs::Done),
                        // The prepare's response ended already: this packet
                        // opens the next one.
                        AfterDefs::Done => return self.server(p),
                    }
                }
            }
            Response::Rows => rows(p),
            Response::Infile => error_or_ok(p),
            // Only after [`Mysql::resync`], which ends it first.
            Response::Lost => Step::more(Some(Response::Lost)),
        };
        let done = step.next.is_none();
        self.response = step.next;
        if begins {
            Parse::Begin {
                len: p.len,
                message: Message::response(step.outcome.unwrap_or(Outcome::OK), step.excerpt),
                done,
            }
        } else {
            Parse::More {
                len: p.len,
                outcome: step.outcome,
                done,
            }
        }
    }

    /// The first packet of a response, or of the next result.
    fn start(&mut self, p: &Packet, pending: Pending) -> Step {
        match (pending.command, p.first()) {
            // A bare string ("Uptime: ...").
            (COM_STATISTICS, _) => Step::more(None),
            (_, Some(0xff)) => error_or_ok(p),
            // Binary rows (starting with 0x00) and their EOF, no metadata.
            (COM_STMT_FETCH, _) => rows(p),
            (COM_STMT_PREPARE, Some(0x00)) => {
                // Statement id, column count, parameter count.
                let Some(b) = p.payload.get(1..9) else {
                    return Step::more(None);
                };
                if let Some(stmt) = pending.prepare {
                    self.remember(le32(b), stmt);
                }
                let (columns, params) = (u64::from(le16(&b[4..])), u64::from(le16(&b[6..])));
                Step::more(match (params, columns) {
                    (0, 0) => None,
                    (0, left) | (left, 0) => Some(Response::Defs {
                        left,
                        then: AfterDefs::Done,
                    }),
                    (left, columns) => Some(Response::Defs {
                        left,
                        then: AfterDefs::Columns(columns),
                    }),
                })
            }
            (_, Some(0x00)) => Step::more(more_results(ok_status(p.payload))),
            (_, Some(0xfb)) => Step::more(Some(Response::Infile)),
            (_, Some(0xfe)) => rows(p),
            _ => Step::more(match lenenc(p.payload) {
                Some((columns @ 1..=COLUMNS_MAX, n)) => {
                    // MariaDB with metadata caching: a trailing 0 says the
                    // column definitions are left out.
                    if p.payload_len == n + 1 && p.payload.get(n) == Some(&0) {
                        self.after_defs(AfterDefs::Rows)
                    } else {
                        Some(Response::Defs {
                            left: columns,
                            then: AfterDefs::Rows,
                        })
                    }
                }
                _ => None,
            }),
        }
    }

    /// A column or parameter definition (or an ERR instead).
    fn definition(&self, p: &Packet, left: u64, then: AfterDefs) -> Step {
        if p.first() == Some(0xff) {
            return error_or_ok(p);
        }
        Step::more(match left.saturating_sub(1) {
            0 => self.after_defs(then),
            left => Some(Response::Defs { left, then }),
        })
    }

    fn after_defs(&self, then: AfterDefs) -> Option<Response> {
        if self.deprecate_eof != Some(true) {
            return Some(Response::DefsEof { then });
        }
        match then {
            AfterDefs::Rows => Some(Response::Rows),
            AfterDefs::Columns(left) => Some(Response::Defs {
                left,
                then: AfterDefs::Done,
            }),
            AfterDefs::Done => None,
        }
    }
}

/// A row, or the EOF / OK (0xFE header) / ERR that ends a result set. A
/// text row starts with 0xFE only for a first value of 16 MiB or more, so
/// in a packet of 0xFFFFFF bytes; a binary row starts with 0x00.
fn rows(p: &Packet) -> Step {
    match p.first() {
        Some(0xff) => error_or_ok(p),
        Some(0xfe) if p.payload_len < MAX_PAYLOAD => {
            let status = if p.payload_len < 7 {
                eof_status(p.payload)
            } else {
                ok_status(p.payload)
            };
            Step::more(more_results(status))
        }
        _ => Step::more(Some(Response::Rows)),
    }
}

/// Whether packet headers follow one another from the start of `data`, as
/// far as it goes, with sequence ids counting up from `seq`, or from 1
/// again after an OK, EOF or ERR (the response to a pipelined command).
fn chains(data: &[u8], mut seq: u8) -> bool {
    let mut at = 0;
    let mut ended = false;
    while let Some(head) = data.get(at..at + HEADER) {
        if head[3] != seq && !(ended && head[3] == 1) {
            return false;
        }
        seq = head[3].wrapping_add(1);
        ended = matches!(data.get(at + HEADER), Some(0x00 | 0xfe | 0xff));
        at += HEADER + le24(head);
    }
    at > 0
}

/// Whether `p` can be the first packet of the response to `command`: an
/// OK, an ERR, a LOCAL INFILE request, an EOF, or a column count. Each is
/// short; the bytes in the middle of a row seldom look like one.
fn opens_response(p: &Packet, command: u8) -> bool {
    if command == COM_STATISTICS {
        return true;
    }
    if p.payload_len >= 1 << 16 {
        return false;
    }
    match p.first() {
        Some(0x00) => p.payload_len >= 7,
        Some(0xff) => p.payload_len >= 3,
        Some(0xfb) => command == COM_QUERY,
        Some(0xfe) => p.payload_len < 9,
        _ => matches!(
            lenenc(p.payload),
            Some((1..=COLUMNS_MAX, n)) if p.payload_len <= n + 1
        ),
    }
}

/// Whether `p` looks like a client's command.
fn is_command(p: &Packet) -> bool {
    match p.payload.split_first() {
        Some((&(COM_QUERY | COM_STMT_PREPARE), sql)) => {
            sql.is_empty() || starts_like_sql(query_text(sql))
        }
        Some((&command, _)) => command <= COM_RESET_CONNECTION || command == COM_STMT_BULK_EXECUTE,
        None => false,
    }
}

/// After an OK or EOF: the next result, if the server says one follows.
fn more_results(status: u16) -> Option<Response> {
    (status & SERVER_MORE_RESULTS_EXISTS != 0).then_some(Response::Start {
        pending: Pending {
            command: COM_QUERY,
            prepare: None,
            // The next result's packets go on counting.
            seq: 0,
        },
        begun: true,
    })
}

/// The status flags of an EOF: header, warnings, status.
fn eof_status(payload: &[u8]) -> u16 {
    payload.get(3..5).map_or(0, le16)
}

/// The status flags of an OK: header, affected rows, last insert id, status.
fn ok_status(payload: &[u8]) -> u16 {
    let mut at = 1;
    for _ in 0..2 {
        let Some((_, n)) = payload.get(at..).and_then(lenenc) else {
            return 0;
        };
        at += n;
    }
    payload.get(at..at + 2).map_or(0, le16)
}

/// An ERR ends the response with its error; anything else (an OK) ends it
/// as it was.
fn error_or_ok(p: &Packet) -> Step {
    if p.first() != Some(0xff) {
        return Step::more(None);
    }
    let code = p.payload.get(1..3).map(le16);
    let rest = p.payload.get(3..).unwrap_or_default();
    let (sqlstate, text) = match rest.strip_prefix(b"#") {
        Some(r) if r.len() >= 5 => (Some(&r[..5]), &r[5..]),
        _ => (None, rest),
    };
    let mut excerpt = match code {
        Some(code) => format!("ERROR {code}"),
        None => "ERROR".to_owned(),
    };
    if let Some(state) = sqlstate {
        push_excerpt(&mut excerpt, &format!(" ({})", printable(state)));
    }
    push_excerpt(&mut excerpt, ": ");
    push_excerpt(&mut excerpt, &printable(text));
    let status = match code {
        // Too many connections, shutdown in progress, lock wait timeout,
        // deadlock, query interrupted, max execution time, disk or table
        // full: the server's trouble, not the query's.
        Some(1040 | 1053 | 1205 | 1213 | 1317 | 3024 | 1021 | 1114) => Status::ServerError,
        _ => Status::ClientError,
    };
    Step {
        outcome: Some(Outcome {
            status,
            code: code.map(|c| Code::Num(c.into())),
        }),
        excerpt,
        next: None,
    }
}

/// A command's endpoint when it has no SQL: `COM_STATISTICS`, `COM_0x2a`.
fn command_name(command: u8) -> String {
    let name = match command {
        0x00 => "SLEEP",
        0x04 => "FIELD_LIST",
        0x05 => "CREATE_DB",
        0x06 => "DROP_DB",
        0x07 => "REFRESH",
        0x08 => "SHUTDOWN",
        COM_STATISTICS => "STATISTICS",
        0x0a => "PROCESS_INFO",
        0x0c => "PROCESS_KILL",
        0x0d => "DEBUG",
        0x12 => "BINLOG_DUMP",
        0x13 => "TABLE_DUMP",
        0x15 => "REGISTER_SLAVE",
        COM_STMT_SEND_LONG_DATA => "STMT_SEND_LONG_DATA",
        COM_STMT_CLOSE => "STMT_CLOSE",
        0x1a => "STMT_RESET",
        0x1b => "SET_OPTION",
        COM_STMT_FETCH => "STMT_FETCH",
        0x1d => "DAEMON",
        0x1e => "BINLOG_DUMP_GTID",
        COM_RESET_CONNECTION => "RESET_CONNECTION",
        COM_STMT_BULK_EXECUTE => "STMT_BULK_EXECUTE",
        0xfe => "MULTI",
        _ => return format!("COM_{command:#04x}"),
    };
    format!("COM_{name}")
}

/// Cuts the excerpt after the first word that introduces a credential
/// (`IDENTIFIED BY '...'`, `PASSWORD('...')`, `MASTER_PASSWORD='...'`).
fn redact(mut text: String) -> String {
    let lower = text.to_ascii_lowercase();
    let end = ["identified", "password"]
        .iter()
        .filter_map(|word| lower.find(word).map(|at| at + word.len()))
        .min();
    if let Some(end) = end {
        // `printable` text is ASCII: any index is a char boundary.
        text.truncate(end);
        push_excerpt(&mut text, " ");
        push_excerpt(&mut text, REDACTED);
    }
    text
}

fn tls_record(data: &[u8], cut: bool) -> Parse {
    match data {
        [20..=23, 3, _, hi, lo, ..] => Parse::Skip {
            len: 5 + u64::from(u16::from_be_bytes([*hi, *lo])),
        },
        _ if data.len() < 5 && !cut => Parse::Incomplete,
        _ => Parse::Invalid,
    }
}

fn compressed_packet(data: &[u8], cut: bool) -> Parse {
    match data.get(..7) {
        Some(head) => Parse::Skip {
            len: 7 + le24(head) as u64,
        },
        None if cut => Parse::Invalid,
        None => Parse::Incomplete,
    }
}

#[cfg(test)]
mod tests;
