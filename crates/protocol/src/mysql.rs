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

use std::collections::VecDeque;
use std::time::Duration;

use super::{
    Direction, Message, Options, Outcome, Parse, Parser, REDACTED, Spec, Transport, printable,
    push_excerpt,
};
use dflow_model::{Code, Protocol, Status};

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
const HEAD: usize = 4096;
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

/// SQL verb and first table: `SELECT shop.items`, `CREATE TABLE t`,
/// `INSERT items`, `SET`. Names lower-cased without backquotes; never a
/// literal.
fn endpoint(sql: &[u8]) -> String {
    let mut lexer = Lexer {
        sql: &sql[..sql.len().min(HEAD)],
        at: 0,
    };
    let verb = loop {
        match lexer.next() {
            Some(Token::Other(b'(')) => {}
            Some(Token::Word(w)) if w[0].is_ascii_alphabetic() && w.len() <= 32 => {
                break printable(w).to_ascii_uppercase();
            }
            _ => return "QUERY".to_owned(),
        }
    };
    let target = match verb.as_str() {
        "SELECT" | "DELETE" | "WITH" => lexer.name_after("FROM"),
        "INSERT" | "REPLACE" => lexer.name_after("INTO"),
        "UPDATE" => lexer.name_skipping(&["LOW_PRIORITY", "IGNORE"]),
        "TRUNCATE" | "CALL" => lexer.name_skipping(&["TABLE"]),
        "CREATE" | "DROP" | "ALTER" => lexer.object(),
        "SHOW" => match lexer.next() {
            Some(Token::Word(w)) if w[0].is_ascii_alphabetic() && w.len() <= 32 => {
                Some(printable(w).to_ascii_uppercase())
            }
            _ => None,
        },
        _ => None,
    };
    match target {
        Some(target) => format!("{verb} {target}"),
        None => verb,
    }
}

enum Token<'a> {
    /// A keyword or bare identifier (or number).
    Word(&'a [u8]),
    /// A backquoted identifier, without its quotes.
    Quoted(&'a [u8]),
    /// Punctuation, or a string literal (as its quote).
    Other(u8),
}

/// Just enough of MySQL's lexer to find keywords and names: comments and
/// string literals are stepped over, never read.
struct Lexer<'a> {
    sql: &'a [u8],
    at: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.sql.get(self.at).copied()
    }

    /// Moves past the first `end` after the current position, or to the end.
    fn skip_past(&mut self, end: &[u8]) {
        self.at = match self.sql[self.at..]
            .windows(end.len())
            .position(|w| w == end)
        {
            Some(i) => self.at + i + end.len(),
            None => self.sql.len(),
        };
    }

    fn skip_blanks(&mut self) {
        loop {
            let rest = &self.sql[self.at..];
            match rest {
                [c, ..] if c.is_ascii_whitespace() => self.at += 1,
                [b'/', b'*', ..] => {
                    self.at += 2;
                    self.skip_past(b"*/");
                }
                [b'-', b'-', c, ..] if c.is_ascii_whitespace() => self.skip_past(b"\n"),
                [b'-', b'-'] | [b'#', ..] => self.skip_past(b"\n"),
                _ => return,
            }
        }
    }

    fn next(&mut self) -> Option<Token<'a>> {
        self.skip_blanks();
        let start = self.at;
        let c = self.peek()?;
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
        if word(c) {
            while self.peek().is_some_and(word) {
                self.at += 1;
            }
            return Some(Token::Word(&self.sql[start..self.at]));
        }
        self.at += 1;
        match c {
            b'`' => {
                let rest = &self.sql[self.at..];
                let end = rest.iter().position(|&b| b == b'`').unwrap_or(rest.len());
                self.at = (self.at + end + 1).min(self.sql.len());
                Some(Token::Quoted(&rest[..end]))
            }
            b'\'' | b'"' => {
                while let Some(b) = self.peek() {
                    self.at += 1;
                    if b == b'\\' {
                        self.at = (self.at + 1).min(self.sql.len());
                    } else if b == c {
                        break;
                    }
                }
                Some(Token::Other(c))
            }
            _ => Some(Token::Other(c)),
        }
    }

    /// An identifier, `db.table` or `table`, lower-cased.
    fn name(&mut self) -> Option<String> {
        let part = |t: Option<Token>| match t {
            Some(Token::Word(w) | Token::Quoted(w)) if !w.is_empty() => {
                Some(printable(&w[..w.len().min(64)]).to_ascii_lowercase())
            }
            _ => None,
        };
        let mut name = part(self.next())?;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if let Some(table) = part(self.next()) {
                name.push('.');
                name.push_str(&table);
            }
        }
        Some(name)
    }

    /// The name after the first `keyword` that has one: `FROM (SELECT ...
    /// FROM t)` leads to `t`.
    fn name_after(&mut self, keyword: &str) -> Option<String> {
        loop {
            if let Token::Word(w) = self.next()?
                && w.eq_ignore_ascii_case(keyword.as_bytes())
            {
                let mark = self.at;
                if let Some(name) = self.name() {
                    return Some(name);
                }
                self.at = mark;
            }
        }
    }

    /// The name that comes next, after any of `modifiers`.
    fn name_skipping(&mut self, modifiers: &[&str]) -> Option<String> {
        loop {
            let mark = self.at;
            match self.next()? {
                Token::Word(w) if one_of(w, modifiers) => {}
                _ => {
                    self.at = mark;
                    return self.name();
                }
            }
        }
    }

    /// `TABLE t` after CREATE/DROP/ALTER, skipping modifiers (`OR REPLACE`,
    /// `TEMPORARY`, `IF NOT EXISTS`); users and roles without their name.
    fn object(&mut self) -> Option<String> {
        const KINDS: &[&str] = &[
            "TABLE",
            "VIEW",
            "INDEX",
            "DATABASE",
            "SCHEMA",
            "PROCEDURE",
            "FUNCTION",
            "TRIGGER",
            "EVENT",
            "SEQUENCE",
            "USER",
            "ROLE",
        ];
        for _ in 0..8 {
            let Some(Token::Word(w)) = self.next() else {
                return None;
            };
            let Some(kind) = KINDS.iter().find(|k| k.as_bytes().eq_ignore_ascii_case(w)) else {
                continue;
            };
            if matches!(*kind, "USER" | "ROLE") {
                return Some((*kind).to_owned());
            }
            return Some(match self.name_skipping(&["IF", "NOT", "EXISTS"]) {
                Some(name) => format!("{kind} {name}"),
                None => (*kind).to_owned(),
            });
        }
        None
    }
}

fn one_of(word: &[u8], keywords: &[&str]) -> bool {
    keywords
        .iter()
        .any(|k| k.as_bytes().eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, Side};
    use crate::framer::Framer;
    use crate::{Kind, exercise};

    const C: Direction = Direction::Egress;
    const S: Direction = Direction::Ingress;

    fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
        out.push(seq);
        out.extend_from_slice(payload);
        out
    }

    fn cmd(command: u8, body: &[u8]) -> Vec<u8> {
        pkt(0, &[&[command], body].concat())
    }

    fn query(sql: &str) -> Vec<u8> {
        cmd(COM_QUERY, sql.as_bytes())
    }

    fn ok(seq: u8, status: u16) -> Vec<u8> {
        pkt(
            seq,
            &[&[0, 1, 0][..], &status.to_le_bytes(), &[0, 0]].concat(),
        )
    }

    fn eof(seq: u8, status: u16) -> Vec<u8> {
        pkt(seq, &[&[0xfe, 0, 0][..], &status.to_le_bytes()].concat())
    }

    /// The OK that ends a result set under CLIENT_DEPRECATE_EOF.
    fn ok_fe(seq: u8, status: u16) -> Vec<u8> {
        pkt(
            seq,
            &[&[0xfe, 0, 0][..], &status.to_le_bytes(), &[0, 0]].concat(),
        )
    }

    fn err(seq: u8, code: u16, state: &str, msg: &str) -> Vec<u8> {
        let payload = [
            &[0xff][..],
            &code.to_le_bytes(),
            b"#",
            state.as_bytes(),
            msg.as_bytes(),
        ];
        pkt(seq, &payload.concat())
    }

    fn def(seq: u8) -> Vec<u8> {
        pkt(seq, b"\x03def\x04shop\x05items\x05items\x02id\x02id\x0c?\x00\x0b\x00\x00\x00\x03\x03B\x00\x00\x00")
    }

    fn row(seq: u8, value: &str) -> Vec<u8> {
        pkt(seq, &[&[value.len() as u8], value.as_bytes()].concat())
    }

    fn greeting() -> Vec<u8> {
        let mut payload = b"\n8.0.36\0\x08\0\0\0abcdefgh\0\xff\xff\x21\x02\0\xff\xdf\x15".to_vec();
        payload.extend_from_slice(&[0; 10]);
        payload.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
        pkt(0, &payload)
    }

    /// A handshake response with `caps` and a password's scramble.
    fn handshake_response(caps: u32) -> Vec<u8> {
        let mut payload = caps.to_le_bytes().to_vec();
        payload.extend_from_slice(&[0, 0, 0, 1, 45]);
        payload.extend_from_slice(&[0; 23]);
        payload.extend_from_slice(b"app\0\x14SCRAMBLEDSECRET12345shop\0mysql_native_password\0");
        pkt(1, &payload)
    }

    /// A connection through the framer, units as [`line`]s.
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
            fixture::Conn::new(&SPEC, options, Transport::Tcp, line)
        }
    }

    /// Several packets in one syscall.
    fn feed_all(conn: &mut fixture::Conn, dir: Direction, packets: &[Vec<u8>]) -> Vec<String> {
        conn.feed(dir, &packets.concat())
    }

    fn line(unit: &Parse) -> String {
        let outcome = |o: &Outcome| match &o.code {
            Some(Code::Num(n)) => format!("{} {n}", o.status),
            _ => o.status.to_string(),
        };
        match unit {
            Parse::Begin { len, message, done } if message.kind == Kind::Request => format!(
                "request {len} {:?} {:?} done={done} expects_response={}",
                message.endpoint, message.excerpt, message.expects_response
            ),
            Parse::Begin { len, message, done } => format!(
                "response {len} {} {:?} done={done}",
                outcome(&message.outcome),
                message.excerpt
            ),
            Parse::More {
                len,
                outcome: o,
                done,
            } => {
                let o = o
                    .as_ref()
                    .map(|o| format!(" {}", outcome(o)))
                    .unwrap_or_default();
                format!("more {len}{o} done={done}")
            }
            Parse::Skip { len } => format!("skip {len}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn check_accepts_queries_prepares_and_greetings_only() {
        let t = Transport::Tcp;
        assert!(check(&query("SELECT 1"), t));
        assert!(check(&query("  /* app */ select 1"), t));
        assert!(check(&query("(SELECT 1) UNION (SELECT 2)"), t));
        assert!(
            check(&cmd(COM_QUERY, b"\x00\x01SELECT 1"), t),
            "query attributes"
        );
        assert!(check(&cmd(COM_STMT_PREPARE, b"SELECT ?"), t));
        assert!(check(&[query("BEGIN"), query("COMMIT")].concat(), t));
        assert!(check(&query("SELECT * FROM items WHERE")[..12], t), "cut");
        assert!(check(&greeting(), t));

        assert!(!check(&pkt(1, b"\x03SELECT 1"), t), "sequence 1");
        assert!(!check(&cmd(COM_QUERY, b"\x01\x02\x03"), t));
        assert!(!check(&cmd(COM_PING, b""), t));
        assert!(!check(
            &[query("SELECT 1"), b"garbage".to_vec()].concat(),
            t
        ));
        assert!(
            !check(&pkt(0, b"\n\x01\x02\0"), t),
            "greeting without a version"
        );
        assert!(!check(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", t));
        assert!(!check(b"*1\r\n$4\r\nPING\r\n", t));
        assert!(
            !check(b"\0\0\0\x08\x04\xd2\x16\x2f", t),
            "postgres SSLRequest"
        );
        assert!(
            !check(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", t),
            "TLS"
        );
        assert!(!check(b"\x03", t));
    }

    #[test]
    fn endpoints_are_verb_and_first_table() {
        for (sql, want) in [
            ("SELECT 1", "SELECT"),
            ("select id, name from items where id = 7", "SELECT items"),
            ("SELECT * FROM `shop`.`Items` i JOIN b", "SELECT shop.items"),
            ("SELECT * FROM (SELECT id FROM inner_t) x", "SELECT inner_t"),
            ("SELECT 'FROM secret' AS x FROM t", "SELECT t"),
            (
                "  /* app=web */ -- note\n# more\nSELECT 1 FROM dual",
                "SELECT dual",
            ),
            ("(SELECT a FROM t1) UNION (SELECT a FROM t2)", "SELECT t1"),
            ("INSERT INTO items (name) VALUES ('x')", "INSERT items"),
            (
                "insert ignore into shop.items values (1)",
                "INSERT shop.items",
            ),
            ("REPLACE INTO `t` SET a = 1", "REPLACE t"),
            ("UPDATE LOW_PRIORITY items SET price = 2", "UPDATE items"),
            ("DELETE FROM items WHERE id = 3", "DELETE items"),
            ("WITH c AS (SELECT 1) SELECT * FROM c", "WITH c"),
            ("CREATE TABLE IF NOT EXISTS t (id INT)", "CREATE TABLE t"),
            (
                "create or replace temporary table `x`.`y` (a int)",
                "CREATE TABLE x.y",
            ),
            ("DROP TABLE IF EXISTS a, b", "DROP TABLE a"),
            ("ALTER TABLE items ADD COLUMN c INT", "ALTER TABLE items"),
            ("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'", "CREATE USER"),
            ("CREATE DATABASE shop", "CREATE DATABASE shop"),
            ("TRUNCATE TABLE items", "TRUNCATE items"),
            ("CALL refresh_totals(1, 2)", "CALL refresh_totals"),
            ("SHOW TABLES", "SHOW TABLES"),
            ("SET NAMES utf8mb4", "SET"),
            ("START TRANSACTION", "START"),
            ("commit", "COMMIT"),
            ("USE shop", "USE"),
            ("", "QUERY"),
            ("123", "QUERY"),
            ("SELECT `unterminated", "SELECT"),
            ("SELECT * FROM `", "SELECT"),
            ("SELECT 'unterminated FROM x", "SELECT"),
        ] {
            assert_eq!(endpoint(sql.as_bytes()), want, "{sql}");
        }
    }

    #[test]
    fn a_text_result_set_ends_at_its_second_eof() {
        let mut c = Conn::new();
        assert_eq!(
            c.feed(C, &query("SELECT id FROM items")),
            [r#"request 25 "SELECT items" "SELECT id FROM items" done=true expects_response=true"#]
        );
        let response = [
            pkt(1, &[1]),
            def(2),
            eof(3, 2),
            row(4, "1"),
            row(5, "2"),
            eof(6, 2),
        ];
        assert_eq!(
            feed_all(&mut c, S, &response),
            [
                r#"response 5 ok "" done=false"#,
                "more 44 done=false",
                "more 9 done=false",
                "more 6 done=false",
                "more 6 done=false",
                "more 9 done=true",
            ]
        );
        // An empty result set: the EOF after the definitions, then the end.
        c.feed(C, &query("SELECT id FROM items WHERE id < 0"));
        let response = [pkt(1, &[1]), def(2), eof(3, 2), eof(4, 2)];
        assert_eq!(feed_all(&mut c, S, &response)[3], "more 9 done=true");
    }

    #[test]
    fn deprecate_eof_from_the_handshake_ends_result_sets_with_an_ok() {
        let mut c = Conn::new();
        assert_eq!(c.feed(S, &greeting()), ["skip 78"]);
        assert_eq!(
            c.feed(C, &handshake_response(0x000f_a20d | CLIENT_DEPRECATE_EOF)),
            ["skip 88"]
        );
        assert_eq!(c.feed(S, &ok(2, 2)), ["skip 11"]);
        c.feed(C, &query("SELECT id FROM items"));
        let response = [pkt(1, &[1]), def(2), row(3, "1"), ok_fe(4, 2)];
        assert_eq!(
            feed_all(&mut c, S, &response),
            [
                r#"response 5 ok "" done=false"#,
                "more 44 done=false",
                "more 6 done=false",
                "more 11 done=true",
            ]
        );
    }

    #[test]
    fn deprecate_eof_unknown_is_told_by_what_follows_the_definitions() {
        let mut c = Conn::new();
        c.feed(C, &query("SELECT id FROM items"));
        let response = [pkt(1, &[1]), def(2), row(3, "1"), ok_fe(4, 2)];
        assert_eq!(
            feed_all(&mut c, S, &response)[2..],
            ["more 6 done=false", "more 11 done=true"]
        );
        // Empty: the OK right after the definitions ends it.
        let mut c = Conn::new();
        c.feed(C, &query("SELECT id FROM items WHERE id < 0"));
        let response = [pkt(1, &[1]), def(2), ok_fe(3, 2)];
        assert_eq!(feed_all(&mut c, S, &response)[2], "more 11 done=true");
    }

    #[test]
    fn ok_and_error_responses() {
        let mut c = Conn::new();
        c.feed(C, &query("INSERT INTO items (name) VALUES ('fig')"));
        assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
        c.feed(C, &query("SELECT * FROM missing"));
        assert_eq!(
            c.feed(
                S,
                &err(1, 1146, "42S02", "Table 'shop.missing' doesn't exist")
            ),
            [
                r#"response 47 client_error 1146 "ERROR 1146 (42S02): Table 'shop.missing' doesn't exist" done=true"#
            ]
        );
        c.feed(C, &query("UPDATE items SET price = 1"));
        assert_eq!(
            c.feed(S, &err(1, 1213, "40001", "Deadlock found")),
            [r#"response 27 server_error 1213 "ERROR 1213 (40001): Deadlock found" done=true"#]
        );
    }

    #[test]
    fn an_error_amid_a_result_set_ends_it() {
        let mut c = Conn::new();
        c.feed(C, &query("SELECT id, (SELECT id FROM items) FROM items"));
        let response = [
            pkt(1, &[1]),
            def(2),
            eof(3, 2),
            row(4, "1"),
            err(5, 1242, "21000", "Subquery returns more than 1 row"),
        ];
        assert_eq!(
            feed_all(&mut c, S, &response)[4],
            "more 45 client_error 1242 done=true"
        );
    }

    #[test]
    fn multiple_results_end_at_the_last() {
        let mut c = Conn::new();
        c.feed(C, &query("CALL totals()"));
        let more = SERVER_MORE_RESULTS_EXISTS | 2;
        let response = [
            pkt(1, &[1]),
            def(2),
            eof(3, 2),
            row(4, "1"),
            eof(5, more),
            ok(6, 2),
        ];
        assert_eq!(
            feed_all(&mut c, S, &response)[4..],
            ["more 9 done=false", "more 11 done=true"]
        );
        c.feed(C, &query("INSERT INTO t VALUES (1); SELECT 1"));
        let response = [
            ok(1, more),
            pkt(2, &[1]),
            def(3),
            eof(4, 2),
            row(5, "1"),
            eof(6, 2),
        ];
        assert_eq!(
            feed_all(&mut c, S, &response),
            [
                r#"response 11 ok "" done=false"#,
                "more 5 done=false",
                "more 44 done=false",
                "more 9 done=false",
                "more 6 done=false",
                "more 9 done=true",
            ]
        );
    }

    fn prepare_ok(id: u32, columns: u16, params: u16) -> Vec<u8> {
        let payload = [
            &[0][..],
            &id.to_le_bytes(),
            &columns.to_le_bytes(),
            &params.to_le_bytes(),
            &[0, 0, 0],
        ];
        pkt(1, &payload.concat())
    }

    fn execute(id: u32) -> Vec<u8> {
        // No flags, one iteration, a null bitmap, new types: a LONGLONG 3.
        let body = [
            &id.to_le_bytes()[..],
            &[0, 1, 0, 0, 0, 0, 1, 8, 0],
            &3i64.to_le_bytes(),
        ];
        cmd(COM_STMT_EXECUTE, &body.concat())
    }

    #[test]
    fn prepared_statements_are_named_by_their_prepare() {
        let mut c = Conn::new();
        let sql = "SELECT name FROM items WHERE id = ?";
        assert_eq!(
            c.feed(C, &cmd(COM_STMT_PREPARE, sql.as_bytes())),
            [format!(
                r#"request 40 "PREPARE SELECT items" "{sql}" done=true expects_response=true"#
            )]
        );
        let response = [prepare_ok(7, 1, 1), def(2), eof(3, 2), def(4), eof(5, 2)];
        assert_eq!(
            feed_all(&mut c, S, &response),
            [
                r#"response 16 ok "" done=false"#,
                "more 44 done=false",
                "more 9 done=false",
                "more 44 done=false",
                "more 9 done=true",
            ]
        );
        // Parameters are never shown; a binary row starts with 0x00.
        assert_eq!(
            c.feed(C, &execute(7)),
            [format!(
                r#"request 26 "SELECT items" "{sql}" done=true expects_response=true"#
            )]
        );
        let binary_row = pkt(4, b"\x00\x00\x04plum");
        let response = [pkt(1, &[1]), def(2), eof(3, 2), binary_row, eof(5, 2)];
        assert_eq!(
            feed_all(&mut c, S, &response)[3..],
            ["more 11 done=false", "more 9 done=true"]
        );
        assert_eq!(
            c.feed(C, &cmd(COM_STMT_CLOSE, &7u32.to_le_bytes())),
            [r#"request 9 "COM_STMT_CLOSE" "" done=true expects_response=false"#]
        );
        assert_eq!(
            c.feed(C, &execute(7)),
            [r#"request 26 "EXECUTE" "" done=true expects_response=true"#]
        );
        assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
    }

    #[test]
    fn a_prepare_without_eofs_when_deprecated() {
        let mut c = Conn::new();
        c.feed(S, &greeting());
        c.feed(C, &handshake_response(0x000f_a20d | CLIENT_DEPRECATE_EOF));
        c.feed(S, &ok(2, 2));
        c.feed(
            C,
            &cmd(COM_STMT_PREPARE, b"SELECT name FROM items WHERE id = ?"),
        );
        let response = [prepare_ok(1, 1, 1), def(2), def(3)];
        assert_eq!(feed_all(&mut c, S, &response)[2], "more 44 done=true");
        c.feed(C, &cmd(COM_STMT_PREPARE, b"DELETE FROM items"));
        assert_eq!(
            c.feed(S, &prepare_ok(2, 0, 0)),
            [r#"response 16 ok "" done=true"#]
        );
    }

    #[test]
    fn small_commands() {
        let mut c = Conn::new();
        assert_eq!(
            c.feed(C, &cmd(COM_PING, b"")),
            [r#"request 5 "PING" "" done=true expects_response=true"#]
        );
        assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
        assert_eq!(
            c.feed(C, &cmd(COM_INIT_DB, b"shop")),
            [r#"request 9 "USE" "USE shop" done=true expects_response=true"#]
        );
        c.feed(S, &ok(1, 2));
        assert_eq!(
            c.feed(C, &cmd(0x1a, &1u32.to_le_bytes())),
            [r#"request 9 "COM_STMT_RESET" "" done=true expects_response=true"#]
        );
        c.feed(S, &ok(1, 2));
        assert_eq!(
            c.feed(C, &cmd(COM_STATISTICS, b"")),
            [r#"request 5 "COM_STATISTICS" "" done=true expects_response=true"#]
        );
        assert_eq!(
            c.feed(S, &pkt(1, b"Uptime: 5  Threads: 1")),
            [r#"response 25 ok "" done=true"#]
        );
        assert_eq!(
            c.feed(C, &cmd(0x42, b"")),
            [r#"request 5 "COM_0x42" "" done=true expects_response=true"#]
        );
        c.feed(S, &ok(1, 2));
        assert_eq!(c.feed(C, &cmd(COM_QUIT, b"")), ["skip 5"]);
    }

    #[test]
    fn pipelined_commands_and_responses() {
        let mut c = Conn::new();
        let requests = feed_all(
            &mut c,
            C,
            &[query("BEGIN"), query("UPDATE t SET a = 1"), query("COMMIT")],
        );
        assert_eq!(requests.len(), 3);
        assert!(requests[1].starts_with(r#"request 23 "UPDATE t""#));
        let responses = feed_all(
            &mut c,
            S,
            &[
                ok(1, 3),
                err(1, 1205, "HY000", "Lock wait timeout exceeded"),
                ok(1, 2),
            ],
        );
        assert_eq!(
            responses,
            [
                r#"response 11 ok "" done=true"#,
                r#"response 39 server_error 1205 "ERROR 1205 (HY000): Lock wait timeout exceeded" done=true"#,
                r#"response 11 ok "" done=true"#,
            ]
        );
    }

    #[test]
    fn a_packet_split_across_syscalls_is_joined() {
        let mut c = Conn::new();
        let q = query("SELECT id FROM items");
        assert!(c.feed(C, &q[..2]).is_empty());
        assert!(c.feed(C, &q[2..10]).is_empty());
        assert_eq!(
            c.feed(C, &q[10..]),
            [r#"request 25 "SELECT items" "SELECT id FROM items" done=true expects_response=true"#]
        );
        let response = [pkt(1, &[1]), def(2), eof(3, 2), row(4, "1"), eof(5, 2)].concat();
        assert_eq!(
            c.feed(S, &response[..30]),
            [r#"response 5 ok "" done=false"#]
        );
        assert_eq!(c.feed(S, &response[30..]).len(), 4);
        assert_eq!(c.framer.desyncs, 0);
    }

    #[test]
    fn cut_data_still_begins_with_what_was_captured() {
        let sql = format!(
            "SELECT id, name FROM items WHERE name IN ({})",
            "'x', ".repeat(100)
        );
        let q = query(&sql);
        let mut c = Conn::new();
        assert_eq!(
            c.feed_cut(C, &q[..40], q.len()),
            [format!(
                r#"request {} "SELECT items" "SELECT id, name FROM items WHERE na" done=true expects_response=true"#,
                q.len()
            )]
        );
        // The error's message cut short.
        let e = err(1, 1146, "42S02", "Table 'shop.missing' doesn't exist");
        assert_eq!(
            c.feed_cut(S, &e[..20], e.len()),
            [r#"response 47 client_error 1146 "ERROR 1146 (42S02): Table '" done=true"#]
        );
        // Not even a header: nothing to go on.
        let mut p = new(Options::default(), Transport::Tcp);
        assert_eq!(p.parse(&q[..3], C, true), Parse::Invalid);
        assert_eq!(p.parse(&q[..3], C, false), Parse::Incomplete);
    }

    /// A result set of `rows` ten-byte rows after a one-column definition:
    /// 5 + 44 + 9 + 15 * rows + 9 bytes.
    fn result_set(rows: u8) -> Vec<u8> {
        let mut packets = vec![pkt(1, &[1]), def(2), eof(3, 2)];
        packets.extend((0..rows).map(|i| row(4 + i, "abcdefghij")));
        packets.push(eof(4 + rows, 2));
        packets.concat()
    }

    #[test]
    fn a_result_set_cut_by_the_snaplen_keeps_its_size() {
        let mut c = Conn::new();
        c.feed(C, &query("SELECT id FROM items"));
        let response = result_set(40);
        assert_eq!(response.len(), 667);
        // Three rows seen, the third in part: the rest is never seen.
        assert_eq!(
            c.feed_cut(S, &response[..100], response.len()),
            [
                r#"response 5 ok "" done=false"#,
                "more 44 done=false",
                "more 9 done=false",
                "more 15 done=false",
                "more 15 done=false",
                "more 15 done=false",
                "more 564 done=false",
            ]
        );
        // It ended before the next command: the next response is whole.
        c.feed(C, &query("SELECT 1"));
        assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
        // So are the responses to pipelined commands, read at once.
        c.feed(C, &query("SELECT id FROM items"));
        c.feed_cut(S, &response[..100], response.len());
        c.feed(C, &[query("BEGIN"), query("COMMIT")].concat());
        assert_eq!(
            c.feed(S, &[ok(1, 2), ok(1, 2)].concat()),
            [
                r#"response 11 ok "" done=true"#,
                r#"response 11 ok "" done=true"#,
            ]
        );
        assert_eq!(c.framer.desyncs, 0);
    }

    #[test]
    fn a_result_set_over_several_syscalls_is_counted_to_its_end() {
        let response = result_set(40);
        for second_captured in [usize::MAX, 100] {
            let mut c = Conn::new();
            c.feed(C, &query("SELECT id FROM items"));
            // 300 bytes in the first syscall, 100 of them captured: the
            // second starts two bytes into a row.
            let first = c.feed_cut(S, &response[..100], 300);
            assert_eq!(first[6..], ["more 197 done=false"]);
            let rest = &response[300..];
            let second = c.feed_cut(S, &rest[..rest.len().min(second_captured)], rest.len());
            let bytes: u64 = [first, second]
                .concat()
                .iter()
                .map(|u| u.split(' ').nth(1).unwrap().parse::<u64>().unwrap())
                .sum();
            assert_eq!(bytes, 667);
            c.feed(C, &query("SELECT 1"));
            assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
            assert_eq!(c.framer.desyncs, 0);
        }
    }

    #[test]
    fn a_packet_out_of_sequence_is_a_lost_footing() {
        let mut c = Conn::new();
        c.feed(C, &query("SELECT id FROM items"));
        let response = [
            pkt(1, &[1]),
            def(2),
            eof(3, 2),
            row(4, "1"),
            row(6, "2"),
            eof(7, 2),
        ];
        assert_eq!(
            feed_all(&mut c, S, &response)[3..],
            // The rest of the syscall still counts in the response.
            ["more 6 done=false", "more 15 done=false"]
        );
        assert_eq!(c.framer.desyncs, 1);
        c.feed(C, &query("SELECT 1"));
        assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
        assert_eq!(c.framer.desyncs, 1);
    }

    /// Each call's endpoint and response bytes as a capture with `snaplen`
    /// sees them from `side`, and the framer's desyncs.
    fn calls(records: &[fixture::Record], snaplen: usize, side: Side) -> (Vec<(String, u64)>, u64) {
        let mut parser = new(Options::default(), Transport::Tcp);
        let mut framer = Framer::new(Transport::Tcp);
        let mut calls: Vec<(String, u64)> = Vec::new();
        let mut answered = 0;
        for r in records {
            let dir = match side {
                Side::Client => r.dir,
                Side::Server => r.dir.reverse(),
            };
            let captured = &r.bytes[..r.bytes.len().min(snaplen)];
            let mut units = Vec::new();
            framer.feed(
                parser.as_mut(),
                dir,
                captured,
                r.bytes.len() as u64,
                &mut units,
            );
            for unit in units {
                match unit {
                    Parse::Begin { message, .. } if message.kind == Kind::Request => {
                        calls.push((message.endpoint, 0));
                    }
                    Parse::Begin { len, .. } => {
                        answered += 1;
                        calls[answered - 1].1 = len;
                    }
                    Parse::More { len, .. } if r.dir == Direction::Ingress => {
                        calls[answered - 1].1 += len;
                    }
                    _ => {}
                }
            }
        }
        (calls, framer.desyncs)
    }

    #[test]
    fn mysqlslap_result_sets_keep_their_size_at_any_snaplen() {
        let records = fixture::load(&fixture::folder("mysql").join("mysqlslap.bin"));
        // What the server sent after each command, up to the next one.
        let mut sizes: Vec<u64> = Vec::new();
        for r in &records[3..] {
            match r.dir {
                Direction::Egress if r.bytes[4] != COM_QUIT => sizes.push(0),
                Direction::Egress => {}
                Direction::Ingress => *sizes.last_mut().unwrap() += r.bytes.len() as u64,
            }
        }
        assert_eq!(sizes, [11, 17382, 11, 17522]);
        let want: Vec<(String, u64)> = ["INSERT t1", "SELECT t1", "INSERT t1", "SELECT t1"]
            .iter()
            .zip(sizes)
            .map(|(e, n)| ((*e).to_owned(), n))
            .collect();
        for snaplen in [usize::MAX, 1024, 64] {
            for side in [Side::Client, Side::Server] {
                let got = calls(&records, snaplen, side);
                assert_eq!(got, (want.clone(), 0), "snaplen {snaplen}, {side:?}");
            }
        }
    }

    #[test]
    fn attached_mid_connection_from_the_server_side() {
        let mut c = Conn::new();
        // Rows of a response whose command was never seen.
        assert_eq!(
            c.feed(Direction::Egress, &[row(7, "1"), eof(8, 2)].concat()),
            ["skip 6", "skip 9"]
        );
        assert_eq!(
            c.feed(Direction::Ingress, &query("DELETE FROM items WHERE id = 1")),
            [
                r#"request 35 "DELETE items" "DELETE FROM items WHERE id = 1" done=true expects_response=true"#
            ]
        );
        assert_eq!(
            c.feed(Direction::Egress, &ok(1, 2)),
            [r#"response 11 ok "" done=true"#]
        );
    }

    #[test]
    fn the_handshake_is_skipped_with_its_auth_switch() {
        let mut c = Conn::new();
        let units = [
            c.feed(S, &greeting()),
            c.feed(C, &handshake_response(0x000f_a20d)),
            c.feed(
                S,
                &pkt(2, b"\xfemysql_native_password\0abcdefghijklmnopqrst\0"),
            ),
            c.feed(C, &pkt(3, b"SCRAMBLEDSECRET12345")),
            c.feed(S, &ok(4, 2)),
        ]
        .concat();
        assert!(units.iter().all(|u| u.starts_with("skip")), "{units:?}");
        assert!(c.feed(C, &query("SELECT 1"))[0].starts_with("request"));
    }

    #[test]
    fn credentials_in_sql_are_redacted() {
        let sql = "CREATE USER 'app'@'%' IDENTIFIED BY 'Hunter2'";
        let mut c = Conn::new();
        assert_eq!(
            c.feed(C, &query(sql)),
            [
                r#"request 50 "CREATE USER" "CREATE USER 'app'@'%' IDENTIFIED [redacted]" done=true expects_response=true"#
            ]
        );
        let mut c = Conn::new();
        c.feed(C, &cmd(COM_STMT_PREPARE, b"SET PASSWORD FOR 'app' = ?"));
        c.feed(S, &prepare_ok(1, 0, 1));
        assert!(c.feed(C, &execute(1))[0].contains(r#""SET PASSWORD [redacted]""#));
        let mut c = Conn::with(Options { redact: false });
        assert!(c.feed(C, &query(sql))[0].contains("'Hunter2'"));
    }

    #[test]
    fn maximal_packets_continue_in_the_next() {
        let mut c = Conn::new();
        let mut head = vec![0xff, 0xff, 0xff, 0, COM_QUERY];
        head.extend_from_slice(b"INSERT INTO blobs VALUES ('");
        assert_eq!(
            c.feed_cut(C, &head, 4 + MAX_PAYLOAD),
            [
                r#"request 16777219 "INSERT blobs" "INSERT INTO blobs VALUES ('" done=false expects_response=true"#
            ]
        );
        assert_eq!(c.feed(C, &pkt(1, b"')")), ["more 6 done=true"]);
        assert_eq!(c.feed(S, &ok(2, 2)), [r#"response 11 ok "" done=true"#]);
    }

    #[test]
    fn local_infile_sends_the_file_as_more_of_the_request() {
        let mut c = Conn::new();
        c.feed(
            C,
            &query("LOAD DATA LOCAL INFILE 'items.csv' INTO TABLE items"),
        );
        assert_eq!(
            c.feed(S, &pkt(1, b"\xfbitems.csv")),
            [r#"response 14 ok "" done=false"#]
        );
        assert_eq!(
            feed_all(&mut c, C, &[pkt(2, b"1,apple\n"), pkt(3, b"")]),
            ["more 12 done=false", "more 4 done=true"]
        );
        assert_eq!(c.feed(S, &ok(4, 2)), ["more 11 done=true"]);
    }

    #[test]
    fn tls_after_an_ssl_request_is_skipped_record_by_record() {
        let mut c = Conn::new();
        c.feed(S, &greeting());
        let mut ssl = (0x000f_a20d | CLIENT_SSL).to_le_bytes().to_vec();
        ssl.extend_from_slice(&[0; 28]);
        assert_eq!(c.feed(C, &pkt(1, &ssl)), ["skip 36"]);
        let hello = [&[0x16, 3, 1, 0, 4][..], &[1, 0, 0, 0]].concat();
        assert_eq!(c.feed(C, &hello), ["skip 9"]);
        assert_eq!(
            c.feed(S, &[&hello[..], &[0x17, 3, 3, 0, 1, 9]].concat()),
            ["skip 9", "skip 6"]
        );
        assert_eq!(c.framer.desyncs, 0);
    }

    #[test]
    fn mariadb_progress_reports_are_skipped() {
        let mut c = Conn::new();
        c.feed(C, &query("ALTER TABLE items ADD INDEX (name)"));
        let progress = pkt(1, b"\xff\xff\xff\x01\x01\x02\x10\x27\0\0\x05stage");
        assert_eq!(
            feed_all(&mut c, S, &[progress, ok(2, 2)]),
            ["skip 20", r#"response 11 ok "" done=true"#]
        );
    }

    /// The server's view: the same units, the other way round.
    fn mirrored(text: &str) -> String {
        text.lines()
            .map(|l| match l.split_once(' ') {
                Some((n, rest)) if n.starts_with('#') => {
                    let rest = match rest.as_bytes()[0] {
                        b'>' => format!("<{}", &rest[1..]),
                        b'<' => format!(">{}", &rest[1..]),
                        _ => rest.to_owned(),
                    };
                    format!("{n} {rest}\n")
                }
                _ => format!("{l}\n"),
            })
            .collect()
    }

    #[test]
    fn fixtures() {
        for (name, records) in fixture::all("mysql") {
            let mut text = String::new();
            for (label, snaplen) in [("full capture", usize::MAX), ("snaplen 64", 64)] {
                let replay = |side| {
                    fixture::replay(
                        &SPEC,
                        Transport::Tcp,
                        &records,
                        snaplen,
                        side,
                        Options::default(),
                    )
                };
                let client = replay(Side::Client);
                assert_eq!(
                    replay(Side::Server),
                    mirrored(&client),
                    "{name}, snaplen {snaplen}"
                );
                assert!(
                    !client.contains("Hunter2Secret"),
                    "{name}: the password shows"
                );
                assert!(client.ends_with("desyncs=0\n"), "{name}: {client}");
                text += &format!("{label}\n{client}");
            }
            insta::assert_snapshot!(name, text);
        }
    }

    #[test]
    fn no_panic_on_any_bytes() {
        let mut next = fixture::xorshift(0x2545_f491_4f6c_dd1du64);
        let corpus: Vec<Vec<u8>> = fixture::corpus("mysql");
        for i in 0..4000 {
            let len = (next() % 600) as usize;
            let bytes: Vec<u8> = if i % 2 == 0 {
                (0..len).map(|_| next() as u8).collect()
            } else {
                let mut b = corpus[i % corpus.len()].clone();
                for _ in 0..1 + next() % 8 {
                    let at = (next() as usize) % b.len();
                    b[at] = next() as u8;
                }
                b.insert(0, next() as u8);
                b
            };
            exercise(Protocol::Mysql, Transport::Tcp, &bytes);
        }
    }
}
