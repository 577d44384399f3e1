//! [`Pipeline`]: socket events in, spans out.
//!
//! Per connection (pid and the kernel's socket; a socket's close or connect
//! ends it, and so do data of the socket between other addresses: see
//! [`Pipeline::feed`]): the protocol is detected from the first request, a
//! [`Framer`] cuts each syscall's bytes into units with that protocol's
//! parser, and units become calls. Requests wait in order for their
//! responses, or by id where the protocol has one (DNS); a request still
//! unanswered after its protocol's limit ends as `timeout`, one whose
//! connection closes first as `error`. Timing, from the process's side:
//!
//! - a client call runs from the entry of the syscall that sent the request
//!   (as the capture gives it: the moment its data had moved) to the exit of
//!   the one that received the response;
//! - a server call from the exit of the syscall that received the request
//!   (a read may wait long before a request arrives) to the exit of the one
//!   that sent the response.
//!
//! Completed calls linger before they are handed out as spans, so their
//! trace links (`super::link`) are complete: until events [`LINGER_NS`]
//! later have been fed (the ring delivers in the order events were taken,
//! so a link's other end is in by then however far behind dflow runs), or,
//! when no events come, [`LINGER_IDLE_NS`] of the clock.
//!
//! Everything is bounded: connections ([`MAX_CONNS`], idle ones evicted),
//! requests waiting per connection ([`MAX_WAITING`]), links.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::FastMap;
use super::link::{Linker, Origin};
use super::unparsed::{Unparsed, UnparsedSummary};
use crate::event::{ProcessRef, Protocol, Role, SockEvent, SockWhat, Span, Status};
use crate::protocol::framer::Framer;
use crate::protocol::{self, Direction, Kind, Message, Options, Outcome, Parse, Parser, Transport};

/// How far the events fed must have moved past a completed call before it
/// is handed out: the other end of a link is an event taken microseconds
/// apart (more when its thread was preempted in between). 100 ms kept ~9k
/// spans in flight at 90k/s, and touching them again cost a tenth of
/// dflow's CPU in cache misses.
pub const LINGER_NS: u64 = 25_000_000;
/// How long a completed call waits by the clock when no later events come.
pub const LINGER_IDLE_NS: u64 = 250_000_000;
/// Connections tracked at once; the least recently active go first.
pub const MAX_CONNS: usize = 65_536;
/// Requests waiting for a response on one connection.
pub const MAX_WAITING: usize = 1024;
/// A connection without traffic for this long is forgotten.
const IDLE_NS: u64 = 600_000_000_000;
/// Syscalls in a row without a unit after which a connection is no longer
/// parsed.
const GIVE_UP_DESYNCS: u32 = 16;
/// Data syscalls inspected before a connection is declared unknown.
const DETECT_ATTEMPTS: u8 = 8;

/// Ends a request that got no response with `status` at `end_ns`: a
/// server's thread no longer serves it, and it lingers like any call.
fn unanswered(
    linker: &mut Linker,
    done: &mut VecDeque<(u64, Call, ProcessRef)>,
    now_ns: u64,
    process: &ProcessRef,
    mut call: Call,
    end_ns: u64,
    status: Status,
) {
    if call.role == Role::Server {
        linker.answered(process.pid, call.tid, call.span_id);
    }
    call.end_ns = end_ns;
    call.outcome = Outcome { status, code: None };
    done.push_back((now_ns, call, ProcessRef::clone(process)));
}

/// How long a request may wait for its response: its protocol's
/// [`protocol::Spec::timeout`].
pub fn timeout_ns(protocol: Protocol) -> u64 {
    protocol::spec(protocol).timeout.as_nanos() as u64
}

/// What the pipeline needs from outside: user choices and the clock.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Protocols to look for; empty: all.
    pub protocols: Vec<Protocol>,
    pub options: Options,
    /// Unix epoch ns minus CLOCK_MONOTONIC ns, to date the kernel's times.
    pub epoch_offset_ns: i64,
}

/// The process behind a pid, with the comm the kernel reported.
pub type Resolver = Box<dyn FnMut(u32, &str) -> ProcessRef + Send>;

/// Counts of what the pipeline saw, for the status bar and the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PipelineStats {
    /// Socket events fed.
    pub events: u64,
    /// Units parsed (requests, responses and their parts).
    pub messages: u64,
    /// Spans handed out.
    pub spans: u64,
    /// Times a parser lost its footing and skipped the rest of a syscall.
    pub desyncs: u64,
    /// Responses with no request waiting (dflow attached mid-call).
    pub unmatched: u64,
    /// Requests dropped: a connection's waiting list was full.
    pub overflow: u64,
    /// Connections forgotten to stay within [`MAX_CONNS`].
    pub evicted: u64,
    /// Connections whose first data matched no protocol.
    pub undetected: u64,
    /// Data events that carried no payload bytes (the copy failed).
    pub empty: u64,
    /// Connections no longer parsed after their bytes stopped making sense
    /// (TLS after STARTTLS, say).
    pub abandoned: u64,
}

/// Where a TCP connection's next message begins, in one direction, when
/// the parser skips a body to get there: the sequence number of its first
/// byte. Told to the probe ([`Pipeline::take_hints`]), it makes the capture
/// of the syscall that moves that byte begin there, so a head deep inside
/// a read larger than the snaplen is seen (pipelined downloads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    /// The socket, as the probe names it.
    pub sock: u64,
    pub direction: Direction,
    pub seq: u32,
}

/// Hints kept for [`Pipeline::take_hints`] at most: one per large body,
/// taken after each batch of events; a pipeline nobody takes them from
/// (replay, tests) keeps no more.
const MAX_HINTS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ConnKey {
    pid: u32,
    sock: u64,
}

enum Detection {
    /// Not known yet: data events tried so far, and each direction's bytes
    /// since then, for a first request that comes in pieces ("GET ", then
    /// the path, then the rest).
    Pending {
        tries: u8,
        seen: [Vec<u8>; 2],
    },
    Found(Protocol, Box<dyn Parser>),
    Unknown,
}

/// Bytes kept per direction while a connection's protocol is unknown.
const DETECT_BYTES: usize = 1024;

/// When and where a unit's first byte went: the syscall that carried it,
/// which for a head split over syscalls is an earlier one.
#[derive(Debug, Clone, Copy)]
struct At {
    enter_ns: u64,
    exit_ns: u64,
    seq: u32,
}

/// One call on its way to a span.
#[derive(Debug)]
struct Call {
    span_id: u64,
    protocol: Protocol,
    role: Role,
    tid: u32,
    local: SocketAddr,
    remote: SocketAddr,
    start_ns: u64,
    end_ns: u64,
    endpoint: String,
    id: Option<u32>,
    outcome: Outcome,
    req_bytes: u64,
    resp_bytes: u64,
    request: String,
    response: String,
}

/// The message a direction is assembling, which More units extend.
enum Building {
    Request(Call),
    Response(Call),
    /// A response nobody asked for: its parts are ignored.
    Orphan,
}

struct Conn {
    process: ProcessRef,
    /// The addresses of its first data: a TCP connection's never change.
    local: SocketAddr,
    remote: SocketAddr,
    detection: Detection,
    framer: Framer,
    waiting: VecDeque<Call>,
    building: [Option<Building>; 2],
    /// Entry time of the syscall that began the head waiting in the framer
    /// (or the detection bytes), per direction.
    origin: [Option<u64>; 2],
    /// Syscalls in a row whose bytes the parser could not place.
    lost_footing: u32,
    last_ns: u64,
}

pub struct Pipeline {
    config: PipelineConfig,
    resolve: Resolver,
    processes: FastMap<u32, ProcessRef>,
    conns: FastMap<ConnKey, Conn>,
    linker: Linker,
    /// Completed calls by completion time, waiting out the linger.
    done: VecDeque<(u64, Call, ProcessRef)>,
    units: Vec<Parse>,
    /// The clock: the latest of the events' times and the ticks'.
    now_ns: u64,
    /// The latest time of an event fed.
    event_ns: u64,
    stats: PipelineStats,
    /// What the `undetected` and `abandoned` connections carried.
    unparsed: Unparsed,
    /// Hints for the probe, oldest first: see [`Hint`].
    hints: Vec<Hint>,
}

impl Pipeline {
    pub fn new(config: PipelineConfig, resolve: Resolver) -> Pipeline {
        Pipeline {
            config,
            resolve,
            processes: FastMap::default(),
            conns: FastMap::default(),
            linker: Linker::default(),
            done: VecDeque::new(),
            units: Vec::new(),
            now_ns: 0,
            event_ns: 0,
            stats: PipelineStats::default(),
            unparsed: Unparsed::default(),
            hints: Vec::new(),
        }
    }

    /// The hints for the probe since the last call: where connections'
    /// next messages begin past the bodies being skipped.
    pub fn take_hints(&mut self) -> std::vec::Drain<'_, Hint> {
        self.hints.drain(..)
    }

    /// The connections given up on (undetected or abandoned), by kind.
    pub fn unparsed(&self) -> UnparsedSummary {
        self.unparsed.summary()
    }

    pub fn stats(&self) -> PipelineStats {
        let desyncs: u64 = self.conns.values().map(|c| c.framer.desyncs).sum();
        PipelineStats {
            desyncs: self.stats.desyncs + desyncs,
            ..self.stats
        }
    }

    fn process(&mut self, pid: u32, comm: &str) -> ProcessRef {
        if let Some(p) = self.processes.get(&pid) {
            return ProcessRef::clone(p);
        }
        let p = (self.resolve)(pid, comm);
        self.processes.insert(pid, ProcessRef::clone(&p));
        p
    }

    /// Feeds one socket event.
    pub fn feed(&mut self, e: &SockEvent) {
        self.stats.events += 1;
        self.now_ns = self.now_ns.max(e.exit_ns);
        self.event_ns = self.event_ns.max(e.exit_ns);
        let key = ConnKey {
            pid: e.pid,
            sock: e.sock,
        };
        let (direction, seq, bytes, offset, payload) = match &e.what {
            SockWhat::Data {
                direction,
                seq,
                bytes,
                offset,
                payload,
            } => (*direction, *seq, *bytes, *offset, payload.as_slice()),
            SockWhat::Close => {
                if let Some(conn) = self.conns.remove(&key) {
                    self.close(conn, e.exit_ns);
                }
                return;
            }
            SockWhat::Connect => {
                // A new connection on this socket: whatever was there is over.
                if let Some(conn) = self.conns.remove(&key) {
                    self.close(conn, e.exit_ns);
                }
                return;
            }
        };
        // Data of a TCP socket between other addresses than before: the
        // kernel freed the socket and allocated the next one at its address
        // (the identity the probe gives), and the close went unseen. Some
        // closes have no event: one that finds the socket closed already
        // (after a reset received, or the peer's FIN after this side's
        // shutdown()) changes no state. Without this, the next connection answered the
        // requests the old one left unanswered (Node.js after `wrk` stopped
        // with requests in flight: `ab`'s 404s as `GET /slow`). The old
        // connection ended by its last event, as far as can be told.
        if e.transport == Transport::Tcp
            && let Some(conn) = self.conns.get(&key)
            && (conn.local, conn.remote) != (e.local, e.remote)
        {
            let conn = self.conns.remove(&key).expect("looked up above");
            let end = conn.last_ns;
            self.close(conn, end);
        }
        if payload.is_empty() {
            self.stats.empty += 1;
        }
        if !self.conns.contains_key(&key) {
            if self.conns.len() >= MAX_CONNS {
                self.evict_oldest();
            }
            let process = self.process(e.pid, &e.comm.text());
            self.conns.insert(
                key,
                Conn {
                    process,
                    local: e.local,
                    remote: e.remote,
                    detection: Detection::Pending {
                        tries: 0,
                        seen: Default::default(),
                    },
                    origin: [None, None],
                    lost_footing: 0,
                    framer: Framer::new(e.transport),
                    waiting: VecDeque::new(),
                    building: [None, None],
                    last_ns: e.exit_ns,
                },
            );
        }
        let conn = self.conns.get_mut(&key).expect("inserted above");
        conn.last_ns = e.exit_ns;
        // While the protocol is unknown, a direction's whole syscalls are
        // joined, so a request written in pieces is still recognized.
        let mut joined = None;
        if let Detection::Pending { tries, seen } = &mut conn.detection {
            let side = &mut seen[direction.index()];
            let whole = offset == 0 && payload.len() as u64 == bytes;
            if !whole || side.len() + payload.len() > DETECT_BYTES {
                side.clear();
            }
            if side.is_empty() {
                conn.origin[direction.index()] = Some(e.enter_ns);
            }
            side.extend_from_slice(payload);
            let allowed = &self.config.protocols;
            let found = protocol::detect(side, e.transport, allowed)
                .map(|spec| (spec, side.len() > payload.len()))
                .or_else(|| protocol::detect(payload, e.transport, allowed).map(|s| (s, false)));
            match found {
                Some((spec, use_joined)) => {
                    joined = use_joined.then(|| std::mem::take(side));
                    conn.detection = Detection::Found(
                        spec.protocol,
                        (spec.new)(self.config.options, e.transport),
                    );
                }
                // TLS and HTTP/2, which no parser takes yet, are given up
                // on at once; other bytes after a few syscalls.
                None if *tries + 1 >= DETECT_ATTEMPTS
                    || protocol::opaque::classify(side) != protocol::opaque::Opaque::Unknown =>
                {
                    self.stats.undetected += 1;
                    let comm = &conn.process.comm;
                    self.unparsed.note(side, e.local, e.remote, comm);
                    conn.detection = Detection::Unknown;
                }
                None => {
                    *tries += 1;
                    if !whole {
                        side.clear();
                    }
                }
            }
        }
        let Detection::Found(protocol, parser) = &mut conn.detection else {
            return;
        };
        let protocol = *protocol;
        let (data, total) = match &joined {
            Some(j) => (j.as_slice(), bytes + (j.len() - payload.len()) as u64),
            None => (payload, bytes),
        };
        let prefix = joined.as_ref().map_or(0, |j| j.len() - payload.len());
        self.units.clear();
        let desyncs = conn.framer.desyncs;
        let fed = conn.framer.feed_at(
            parser.as_mut(),
            direction,
            data,
            offset,
            total,
            &mut self.units,
        );
        let carried = prefix + fed.earlier;
        if e.transport == Transport::Tcp
            && let Some(skip) = conn.framer.take_hint(direction)
            && self.hints.len() < MAX_HINTS
        {
            self.hints.push(Hint {
                sock: e.sock,
                direction,
                seq: seq.wrapping_add(bytes as u32).wrapping_add(skip as u32),
            });
        }
        // A connection whose bytes stopped parsing for good (TLS after a
        // STARTTLS or SSLRequest, a protocol switch) is left alone.
        if !self.units.is_empty() {
            conn.lost_footing = 0;
        } else if conn.framer.desyncs > desyncs {
            conn.lost_footing += 1;
            if conn.lost_footing >= GIVE_UP_DESYNCS {
                self.stats.abandoned += 1;
                let comm = &conn.process.comm;
                self.unparsed.note(data, e.local, e.remote, comm);
                conn.detection = Detection::Unknown;
                return;
            }
        }
        let before = conn.origin[direction.index()];
        let origin = before.filter(|_| carried > 0);
        conn.origin[direction.index()] = if !conn.framer.has_pending(direction) {
            None
        } else if self.units.is_empty() && carried > 0 {
            // Still the head that began earlier.
            before
        } else {
            Some(e.enter_ns)
        };
        self.stats.messages += self.units.len() as u64;
        let mut units = std::mem::take(&mut self.units);
        let mut at = At {
            enter_ns: origin.unwrap_or(e.enter_ns),
            exit_ns: e.exit_ns,
            seq: seq
                .wrapping_sub(carried as u32)
                .wrapping_add(fed.skipped as u32),
        };
        for unit in units.drain(..) {
            let len = unit.unit_len().unwrap_or(0);
            self.unit(key, protocol, e, at, direction, unit);
            at.seq = at.seq.wrapping_add(len as u32);
            at.enter_ns = e.enter_ns;
        }
        self.units = units;
    }

    fn unit(
        &mut self,
        key: ConnKey,
        protocol: Protocol,
        e: &SockEvent,
        at: At,
        dir: Direction,
        unit: Parse,
    ) {
        match unit {
            Parse::Begin { len, message, done } => {
                self.finish_building(key, dir);
                match message.kind {
                    Kind::Request => self.request(key, protocol, e, at, dir, len, message, done),
                    Kind::Response => self.response(key, e, dir, len, message, done),
                }
            }
            Parse::More { len, outcome, done } => {
                let Some(conn) = self.conns.get_mut(&key) else {
                    return;
                };
                match &mut conn.building[dir.index()] {
                    Some(Building::Request(call)) => call.req_bytes += len,
                    Some(Building::Response(call)) => {
                        call.resp_bytes += len;
                        if let Some(o) = outcome {
                            call.outcome = o;
                        }
                    }
                    Some(Building::Orphan) | None => {}
                }
                if done {
                    self.finish_building(key, dir);
                }
            }
            Parse::Abandon { requests, .. } => {
                self.finish_building(key, dir);
                let Some(conn) = self.conns.get_mut(&key) else {
                    return;
                };
                let n = (requests as usize).min(conn.waiting.len());
                for call in conn.waiting.drain(..n) {
                    let end = e.exit_ns;
                    unanswered(
                        &mut self.linker,
                        &mut self.done,
                        self.now_ns,
                        &conn.process,
                        call,
                        end,
                        Status::Error,
                    );
                }
            }
            Parse::Skip { .. } | Parse::Incomplete | Parse::Invalid => {}
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site, all of it the unit's context"
    )]
    fn request(
        &mut self,
        key: ConnKey,
        protocol: Protocol,
        e: &SockEvent,
        at: At,
        dir: Direction,
        len: u64,
        message: Message,
        done: bool,
    ) {
        let role = match dir {
            Direction::Egress => Role::Client,
            Direction::Ingress => Role::Server,
        };
        let span_id = self.linker.begin(Origin {
            role,
            pid: e.pid,
            tid: e.tid,
            local: e.local,
            remote: e.remote,
            seq: (e.transport == Transport::Tcp).then_some(at.seq),
            context: &message.context,
        });
        let call = Call {
            span_id,
            protocol,
            role,
            tid: e.tid,
            local: e.local,
            remote: e.remote,
            start_ns: match dir {
                Direction::Egress => at.enter_ns,
                Direction::Ingress => at.exit_ns,
            },
            end_ns: 0,
            endpoint: message.endpoint,
            id: message.id,
            outcome: Outcome::OK,
            req_bytes: len,
            resp_bytes: 0,
            request: message.excerpt,
            response: String::new(),
        };
        if !message.expects_response {
            if role == Role::Server {
                self.linker.answered(e.pid, e.tid, span_id);
            }
            return;
        }
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if done {
            Self::wait(conn, call, &mut self.stats);
        } else {
            conn.building[dir.index()] = Some(Building::Request(call));
        }
    }

    fn wait(conn: &mut Conn, call: Call, stats: &mut PipelineStats) {
        if conn.waiting.len() >= MAX_WAITING {
            conn.waiting.pop_front();
            stats.overflow += 1;
        }
        conn.waiting.push_back(call);
    }

    fn response(
        &mut self,
        key: ConnKey,
        e: &SockEvent,
        dir: Direction,
        len: u64,
        message: Message,
        done: bool,
    ) {
        // A request still being assembled the other way is complete now.
        self.finish_building(key, dir.reverse());
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let at = match message.id {
            Some(id) => conn.waiting.iter().position(|c| c.id == Some(id)),
            None => (!conn.waiting.is_empty()).then_some(0),
        };
        let Some(mut call) = at.and_then(|i| conn.waiting.remove(i)) else {
            self.stats.unmatched += 1;
            conn.building[dir.index()] = Some(Building::Orphan);
            return;
        };
        call.end_ns = e.exit_ns;
        if call.remote.port() == 0 {
            // A request received on an unconnected UDP socket has no known
            // sender; the reply names it.
            call.remote = e.remote;
        }
        call.outcome = message.outcome;
        call.resp_bytes = len;
        call.response = message.excerpt;
        if call.role == Role::Server {
            self.linker.answered(e.pid, call.tid, call.span_id);
        }
        if done {
            let process = ProcessRef::clone(&conn.process);
            self.complete(call, process);
        } else {
            conn.building[dir.index()] = Some(Building::Response(call));
        }
    }

    /// Ends the message `dir` was assembling.
    fn finish_building(&mut self, key: ConnKey, dir: Direction) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        match conn.building[dir.index()].take() {
            Some(Building::Request(call)) => Self::wait(conn, call, &mut self.stats),
            Some(Building::Response(call)) => {
                let process = ProcessRef::clone(&conn.process);
                self.complete(call, process);
            }
            Some(Building::Orphan) | None => {}
        }
    }

    fn complete(&mut self, call: Call, process: ProcessRef) {
        self.done.push_back((self.now_ns, call, process));
    }

    /// A connection is over at `end_ns`: its messages end, its unanswered
    /// requests fail.
    fn close(&mut self, mut conn: Conn, end_ns: u64) {
        // Closed before its protocol was known: unparsed too, by what it
        // carried.
        if let Detection::Pending { seen, .. } = &conn.detection
            && let Some(first) = seen.iter().find(|s| !s.is_empty())
        {
            let comm = &conn.process.comm;
            self.unparsed.note(first, conn.local, conn.remote, comm);
        }
        for b in conn.building.iter_mut() {
            match b.take() {
                Some(Building::Request(call)) => conn.waiting.push_back(call),
                Some(Building::Response(call)) => {
                    self.complete(call, ProcessRef::clone(&conn.process))
                }
                Some(Building::Orphan) | None => {}
            }
        }
        for call in conn.waiting.drain(..) {
            let end = end_ns.max(call.start_ns);
            unanswered(
                &mut self.linker,
                &mut self.done,
                self.now_ns,
                &conn.process,
                call,
                end,
                Status::Error,
            );
        }
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .conns
            .iter()
            .min_by_key(|(_, c)| c.last_ns)
            .map(|(k, _)| *k);
        if let Some(k) = oldest
            && let Some(conn) = self.conns.remove(&k)
        {
            self.stats.evicted += 1;
            self.close(conn, self.now_ns);
        }
    }

    /// Advances the clock (CLOCK_MONOTONIC ns): times out requests, forgets
    /// idle connections, and appends the spans whose linger is over to `out`.
    pub fn tick(&mut self, now_ns: u64, out: &mut Vec<Span>) {
        self.now_ns = self.now_ns.max(now_ns);
        let now = self.now_ns;
        let mut idle = Vec::new();
        for (key, conn) in &mut self.conns {
            while let Some(first) = conn.waiting.front() {
                let limit = timeout_ns(first.protocol);
                if now.saturating_sub(first.start_ns) < limit {
                    break;
                }
                let call = conn.waiting.pop_front().expect("front exists");
                let end = call.start_ns + limit;
                unanswered(
                    &mut self.linker,
                    &mut self.done,
                    now,
                    &conn.process,
                    call,
                    end,
                    Status::Timeout,
                );
            }
            if now.saturating_sub(conn.last_ns) > IDLE_NS {
                idle.push(*key);
            }
        }
        for key in idle {
            if let Some(conn) = self.conns.remove(&key) {
                self.close(conn, now);
            }
        }
        while let Some((at, ..)) = self.done.front() {
            let events_moved_on = self.event_ns.saturating_sub(*at) >= LINGER_NS;
            if !events_moved_on && now.saturating_sub(*at) < LINGER_IDLE_NS {
                break;
            }
            let (_, call, process) = self.done.pop_front().expect("front exists");
            out.push(self.span(call, process));
        }
    }

    /// Hands out every completed call now, lingering or not (at the end).
    pub fn flush(&mut self, out: &mut Vec<Span>) {
        let keys: Vec<ConnKey> = self.conns.keys().copied().collect();
        for key in keys {
            for dir in [Direction::Egress, Direction::Ingress] {
                self.finish_building(key, dir);
            }
        }
        while let Some((_, call, process)) = self.done.pop_front() {
            out.push(self.span(call, process));
        }
    }

    /// Requests still waiting for a response.
    pub fn waiting(&self) -> usize {
        self.conns.values().map(|c| c.waiting.len()).sum()
    }

    fn span(&mut self, call: Call, process: ProcessRef) -> Span {
        self.stats.spans += 1;
        let (trace_id, parent_span_id) = self.linker.resolve(call.span_id);
        Span {
            start_ns: call.start_ns as i64 + self.config.epoch_offset_ns,
            duration_ns: call.end_ns.saturating_sub(call.start_ns) as i64,
            protocol: call.protocol,
            role: call.role,
            endpoint: call.endpoint,
            status: call.outcome.status,
            code: call.outcome.code,
            req_bytes: u32::try_from(call.req_bytes).unwrap_or(u32::MAX),
            resp_bytes: u32::try_from(call.resp_bytes).unwrap_or(u32::MAX),
            process,
            tid: call.tid,
            local: call.local,
            remote: call.remote,
            trace_id,
            span_id: call.span_id,
            parent_span_id,
            request: call.request,
            response: call.response,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Code, Comm, Process};
    use std::sync::Arc;

    fn pipeline() -> Pipeline {
        Pipeline::new(
            PipelineConfig {
                protocols: Vec::new(),
                options: Options::default(),
                epoch_offset_ns: 1_000_000_000_000,
            },
            Box::new(|pid, comm| Arc::new(Process::bare(pid, comm))),
        )
    }

    const CLIENT: &str = "127.0.0.1:40000";
    const SERVER: &str = "127.0.0.1:8080";

    /// A data event of the process `pid` on fd 3 at `t` µs (entry) and
    /// `t + 1` µs (exit).
    fn data(pid: u32, dir: Direction, t: u64, seq: u32, bytes: &[u8]) -> SockEvent {
        let (local, remote) = if pid == 1 {
            (CLIENT, SERVER)
        } else {
            (SERVER, CLIENT)
        };
        SockEvent {
            enter_ns: t * 1000,
            exit_ns: t * 1000 + 1000,
            pid,
            tid: pid * 10,
            fd: 3,
            sock: u64::from(pid),
            transport: Transport::Tcp,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            comm: Comm::new(&format!("p{pid}")),
            what: SockWhat::Data {
                direction: dir,
                seq,
                bytes: bytes.len() as u64,
                offset: 0,
                payload: bytes.to_vec(),
            },
        }
    }

    fn run(p: &mut Pipeline, events: &[SockEvent]) -> Vec<Span> {
        for e in events {
            p.feed(e);
        }
        let mut out = Vec::new();
        p.flush(&mut out);
        out
    }

    #[test]
    fn a_request_written_in_pieces_is_one_call_timed_from_its_first_piece() {
        use Direction::{Egress, Ingress};
        let response = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let mut p = pipeline();
        let spans = run(
            &mut p,
            &[
                // The client writes "GET ", the path, the rest; the server
                // reads it all at once; both sides meet by sequence number.
                data(1, Egress, 100, 5000, b"GET "),
                data(1, Egress, 110, 5004, b"/users/42"),
                data(1, Egress, 120, 5013, b" HTTP/1.1\r\nHost: x\r\n\r\n"),
                data(
                    2,
                    Ingress,
                    125,
                    5000,
                    b"GET /users/42 HTTP/1.1\r\nHost: x\r\n\r\n",
                ),
                data(2, Egress, 300, 9000, response),
                data(1, Ingress, 310, 9000, response),
            ],
        );
        assert_eq!(spans.len(), 2, "{spans:#?}");
        let server = spans.iter().find(|s| s.role == Role::Server).unwrap();
        let client = spans.iter().find(|s| s.role == Role::Client).unwrap();
        for s in [server, client] {
            assert_eq!(s.endpoint, "GET /users/{id}");
            assert_eq!(s.status, Status::ClientError);
            assert_eq!(s.code, Some(Code::Num(404)));
        }
        // Client: entry of the first piece to the exit of the read.
        assert_eq!(client.start_ns, 1_000_000_000_000 + 100_000);
        assert_eq!(client.duration_ns, 311_000 - 100_000);
        // Server: exit of the read to the exit of the write.
        assert_eq!(server.duration_ns, 301_000 - 126_000);
        assert_eq!(server.parent_span_id, Some(client.span_id));
        assert_eq!(server.trace_id, client.trace_id);
        assert_eq!(client.req_bytes, 35);
    }

    #[test]
    fn unanswered_requests_time_out_or_fail_with_their_connection() {
        use Direction::Egress;
        let mut p = pipeline();
        p.feed(&data(1, Egress, 0, 1, b"GET /a HTTP/1.1\r\n\r\n"));
        let mut out = Vec::new();
        p.tick(59_000_000_000, &mut out);
        assert!(out.is_empty(), "not yet: HTTP waits 60 s");
        p.tick(61_000_000_000, &mut out);
        // No events after it: the clock's linger.
        p.tick(61_000_000_000 + LINGER_IDLE_NS, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, Status::Timeout);
        assert_eq!(out[0].duration_ns, 60_000_000_000);

        let mut p = pipeline();
        let mut close = data(1, Egress, 5, 0, b"");
        close.what = SockWhat::Close;
        let spans = run(
            &mut p,
            &[data(1, Egress, 0, 1, b"GET /b HTTP/1.1\r\n\r\n"), close],
        );
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].status, Status::Error);
    }

    /// The kernel frees a socket whose close dflow did not see and gives
    /// its address to the next connection: a request the old connection
    /// left unanswered must not take the new one's response (Node.js after
    /// `wrk` stopped: `GET /slow` with `ab`'s 404 and the old address).
    #[test]
    fn a_new_connection_on_a_reused_socket_inherits_nothing() {
        use Direction::{Egress, Ingress};
        let on = |mut e: SockEvent, port: u16| {
            e.remote.set_port(port);
            e
        };
        let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let mut p = pipeline();
        let spans = run(
            &mut p,
            &[
                // The server reads /slow; its client goes away unanswered.
                on(
                    data(2, Ingress, 100, 1, b"GET /slow HTTP/1.1\r\n\r\n"),
                    40000,
                ),
                // The same socket address, another client.
                on(data(2, Ingress, 900, 7, b"GET /x HTTP/1.1\r\n\r\n"), 40001),
                on(data(2, Egress, 950, 9, not_found), 40001),
            ],
        );
        let got: Vec<(&str, Status, Option<&Code>, u16)> = spans
            .iter()
            .map(|s| {
                let who = s.remote.port();
                (s.endpoint.as_str(), s.status, s.code.as_ref(), who)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("GET /slow", Status::Error, None, 40000),
                ("GET /x", Status::ClientError, Some(&Code::Num(404)), 40001),
            ]
        );
        // The old one ended with its last event, not the new one's.
        assert_eq!(spans[0].duration_ns, 0);
    }

    /// Pipelined downloads, client side: the first response's body runs
    /// past its read, so the pipeline hints where the second begins; the
    /// read that holds it, captured from there, gives the second call its
    /// code and size.
    #[test]
    fn a_hint_finds_the_next_response_inside_a_large_read() {
        use Direction::{Egress, Ingress};
        let cut = |mut e: SockEvent, total: u64, offset: u64| {
            if let SockWhat::Data {
                bytes, offset: o, ..
            } = &mut e.what
            {
                *bytes = total;
                *o = offset;
            }
            e
        };
        let first = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nxxxx";
        let second = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let head = (first.len() - 4) as u64;
        let mut p = pipeline();
        let requests = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        p.feed(&data(1, Egress, 100, 1, requests));
        // 64 KiB read from seq 5000: the head and the start of the body.
        p.feed(&cut(data(1, Ingress, 200, 5000, first), 65536, 0));
        let hints: Vec<Hint> = p.take_hints().collect();
        let next = 5000 + head as u32 + 100_000;
        assert_eq!(
            hints,
            [Hint {
                sock: 1,
                direction: Ingress,
                seq: next
            }]
        );
        assert_eq!(p.take_hints().count(), 0, "given once");
        // The next read holds the body's end and the second response at
        // the hinted byte, captured from there.
        let seq = 5000 + 65536;
        let offset = u64::from(next - seq);
        let spans = run(
            &mut p,
            &[cut(data(1, Ingress, 300, seq, second), 65536, offset)],
        );
        let got: Vec<(&str, Option<&Code>, u64)> = spans
            .iter()
            .map(|s| {
                (
                    s.endpoint.as_str(),
                    s.code.as_ref(),
                    u64::from(s.resp_bytes),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("GET /a", Some(&Code::Num(200)), head + 100_000),
                ("GET /b", Some(&Code::Num(404)), second.len() as u64),
            ]
        );
    }

    /// A completed call waits until events a linger later have been fed,
    /// not merely until the clock says so: dflow running behind the ring
    /// (its clock ahead of the events) must not hand out a span before the
    /// other end of its link, already in the ring, is fed.
    #[test]
    fn calls_linger_until_later_events_are_fed() {
        use Direction::{Egress, Ingress};
        let mut p = pipeline();
        let mut out = Vec::new();
        p.feed(&data(2, Ingress, 100, 7, b"GET /x HTTP/1.1\r\n\r\n"));
        p.feed(&data(
            2,
            Egress,
            200,
            9,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ));
        let done_ns = 201_000;
        // The clock is well past the linger, the events are not.
        p.tick(done_ns + 2 * LINGER_NS, &mut out);
        assert!(out.is_empty(), "handed out before later events were fed");
        // The client's write, fed late: it still links to the server span.
        p.feed(&data(1, Egress, 90, 7, b"GET /x HTTP/1.1\r\n\r\n"));
        p.tick(done_ns + 2 * LINGER_NS, &mut out);
        assert!(out.is_empty());
        // Events a linger later: out it goes, linked.
        p.feed(&data(
            1,
            Ingress,
            (done_ns + LINGER_NS) / 1000,
            9,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ));
        p.tick(done_ns + 2 * LINGER_NS, &mut out);
        let server = out
            .iter()
            .find(|s| s.role == Role::Server)
            .expect("the server span");
        assert!(server.parent_span_id.is_some(), "linked to the late client");
    }

    #[test]
    fn a_connection_that_stops_parsing_is_left_alone() {
        use Direction::{Egress, Ingress};
        let mut p = pipeline();
        p.feed(&data(1, Egress, 0, 1, b"GET /a HTTP/1.1\r\n\r\n"));
        p.feed(&data(
            1,
            Ingress,
            5,
            1,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ));
        // What a TLS session looks like to a parser: records of bytes.
        for t in 0..(GIVE_UP_DESYNCS as u64) {
            p.feed(&data(
                1,
                Egress,
                10 + t,
                0,
                &[0x17, 0x03, 0x03, 0x00, 0x20, 0x9a, 0x41],
            ));
        }
        assert_eq!(p.stats().abandoned, 1);
        let before = p.stats().messages;
        p.feed(&data(1, Egress, 100, 0, b"GET /b HTTP/1.1\r\n\r\n"));
        assert_eq!(p.stats().messages, before, "no longer parsed");
        let mut out = Vec::new();
        p.flush(&mut out);
        assert_eq!(out.len(), 1, "the call before still counts");
    }

    #[test]
    fn requests_a_server_skips_end_as_errors_and_pairing_holds() {
        use Direction::{Egress, Ingress};
        fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
            let mut m = vec![ty];
            m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
            m.extend_from_slice(body);
            m
        }
        let parse = |q: &str| msg(b'P', &[b"\0", q.as_bytes(), b"\0\0\0"].concat());
        let (bind, execute, sync) = (
            msg(b'B', b"\0\0\0\0\0\0\0\0"),
            msg(b'E', b"\0\0\0\0\0"),
            msg(b'S', b""),
        );
        // A pipelined batch of two; the first fails, so the server skips
        // the second; then a simple query.
        let batch = [
            parse("SELECT 1/0 FROM a"),
            bind.clone(),
            execute.clone(),
            parse("SELECT 2 FROM b"),
            bind,
            execute,
            sync,
        ]
        .concat();
        let error = msg(b'E', b"SERROR\0C22012\0Mdivision by zero\0\0");
        let ready = msg(b'Z', b"I");
        let answer = [msg(b'1', b""), msg(b'2', b""), error, ready.clone()].concat();
        let query = msg(b'Q', b"SELECT 3 FROM c\0");
        let result = [msg(b'C', b"SELECT 1\0"), ready].concat();
        let mut p = pipeline();
        let spans = run(
            &mut p,
            &[
                data(1, Egress, 0, 1, &batch),
                data(1, Ingress, 10, 1, &answer),
                data(1, Egress, 20, 1, &query),
                data(1, Ingress, 30, 1, &result),
            ],
        );
        let got: Vec<(&str, Status)> = spans
            .iter()
            .map(|s| (s.endpoint.as_str(), s.status))
            .collect();
        assert_eq!(
            got,
            [
                ("SELECT a", Status::ClientError),
                ("SELECT b", Status::Error),
                ("SELECT c", Status::Ok),
            ]
        );
    }

    #[test]
    fn dns_responses_pair_by_id_in_any_order() {
        use Direction::{Egress, Ingress};
        fn dns(id: u16, response: bool, name: &str) -> Vec<u8> {
            let mut m = id.to_be_bytes().to_vec();
            m.extend_from_slice(&[
                if response { 0x81 } else { 0x01 },
                if response { 0x80 } else { 0 },
            ]);
            m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
            for l in name.split('.') {
                m.push(l.len() as u8);
                m.extend_from_slice(l.as_bytes());
            }
            m.extend_from_slice(&[0, 0, 1, 0, 1]);
            m
        }
        let udp = |mut e: SockEvent| {
            e.transport = Transport::Udp;
            e
        };
        let mut p = pipeline();
        let spans = run(
            &mut p,
            &[
                udp(data(1, Egress, 0, 0, &dns(7, false, "a.example"))),
                udp(data(1, Egress, 1, 0, &dns(8, false, "b.example"))),
                udp(data(1, Ingress, 50, 0, &dns(8, true, "b.example"))),
                udp(data(1, Ingress, 90, 0, &dns(7, true, "a.example"))),
            ],
        );
        let got: Vec<(&str, i64)> = spans
            .iter()
            .map(|s| (s.endpoint.as_str(), s.duration_ns))
            .collect();
        assert_eq!(got, [("b.example A", 50_000), ("a.example A", 91_000)]);
    }
}
