//! [`Linker`]: spans into traces without code changes (AutoTracing).
//!
//! Three ways a span finds its parent, strongest first:
//!
//! - **TCP sequence numbers**: a client span and the server span on this
//!   host that read the same request share the connection (the client's
//!   local and remote address are the server's remote and local) and the
//!   sequence number of the request's first byte. The client is the parent.
//! - **Headers**: a client request and a server request carrying the same
//!   `traceparent` (or `X-Request-ID`) are the two ends of one call, across
//!   processes and hosts; a server request whose `traceparent` has no client
//!   here joins the trace it names.
//! - **Threads**: on one thread, the outbound calls made between an inbound
//!   request and its response are that request's children (DeepFlow's
//!   syscall trace id). Right for thread-per-request servers; event loops
//!   need the other two.
//!
//! Ids are session-local and sequential. Links are kept for the
//! [`MAX_LINKS`] most recent spans; a span's trace is resolved when it is
//! emitted (after a short linger, so that a link found a little late, from
//! an event of another CPU, still counts).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::SocketAddr;

use super::{FastMap, FastState};
use crate::event::Role;
use crate::protocol::{TraceContext, TraceParent};

/// Spans whose links are remembered; older ones resolve as roots.
pub const MAX_LINKS: usize = 1 << 17;

/// Requests remembered while waiting for their other end: it shows up
/// within milliseconds when it is traced at all, and when it is not (one
/// side traced) the table would only fill.
pub const MAX_WAITING_ENDS: usize = 1 << 14;

/// Where a span's parent may come from, for [`Linker::begin`].
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub role: Role,
    pub pid: u32,
    pub tid: u32,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// TCP: sequence number of the request's first byte; None for UDP.
    pub seq: Option<u32>,
    pub context: &'a TraceContext,
}

#[derive(Debug, Clone, Copy, Default)]
struct Link {
    parent: Option<u64>,
    /// The trace named by a header, for a span with no parent here.
    trace: Option<u64>,
}

/// A map that forgets its oldest keys past a capacity.
#[derive(Debug)]
struct Bounded<K, V, S = FastState> {
    map: HashMap<K, V, S>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V, S: BuildHasher + Default> Bounded<K, V, S> {
    fn new(capacity: usize) -> Self {
        Bounded {
            map: HashMap::default(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }
}

/// Entries of one [`Slots`] bucket.
const WAYS: usize = 4;

/// A table that forgets by overwriting: each key has a bucket of [`WAYS`]
/// entries, by its hash, and a new key in a full bucket replaces the oldest
/// there. For the sequence numbers, looked up and inserted for every TCP
/// span: a hash and four compares of small tags, where [`Bounded`] also
/// kept an order and removed the oldest (a tenth of the pipeline when one
/// side is not traced and nothing ever meets). With one entry a bucket, a
/// request was lost whenever another took its slot before its other end
/// came: with `redis-benchmark -P 16 -c 4` (16 requests a syscall, up to 64
/// waiting) 2 to 13 of 8,002 server spans went unlinked a run. An entry
/// leaves when its other end meets it, so buckets stay near empty when both
/// ends are traced; when one end is not traced, the four ways cost ~20 ns
/// a span more than one did.
#[derive(Debug)]
struct Slots<K, V> {
    entries: Vec<Option<(K, V)>>,
    /// Per entry, side by side (32 bytes a bucket): the high half of
    /// its key's hash with the low bit set, 0 when empty, so that most
    /// misses are told without touching the entries; and when it was
    /// inserted (wrapping), to replace the oldest.
    tags: Vec<(u32, u32)>,
    stamp: u32,
    hasher: FastState,
}

impl<K: Hash + Eq + Clone, V: Clone> Slots<K, V> {
    /// `capacity` rounds up to a power of two, and to one bucket at least.
    fn new(capacity: usize) -> Self {
        let n = capacity.max(WAYS).next_power_of_two();
        Slots {
            entries: vec![None; n],
            tags: vec![(0, 0); n],
            stamp: 0,
            hasher: FastState::default(),
        }
    }

    /// The index of `key`'s bucket's first entry, and its tag.
    fn bucket(&self, key: &K) -> (usize, u32) {
        let hash = self.hasher.hash_one(key);
        let buckets = self.entries.len() / WAYS;
        let first = (hash as usize & (buckets - 1)) * WAYS;
        (first, (hash >> 32) as u32 | 1)
    }

    fn find(&self, key: &K) -> Option<usize> {
        let (first, tag) = self.bucket(key);
        self.find_in(first, tag, key)
    }

    fn find_in(&self, first: usize, tag: u32, key: &K) -> Option<usize> {
        (first..first + WAYS).find(|&i| {
            self.tags[i].0 == tag && self.entries[i].as_ref().is_some_and(|(k, _)| k == key)
        })
    }

    fn insert(&mut self, key: K, value: V) {
        let (first, tag) = self.bucket(&key);
        let i = self.find_in(first, tag, &key).unwrap_or_else(|| {
            // An empty entry, else the one inserted longest ago.
            let age = |i: usize| match self.tags[i] {
                (0, _) => u32::MAX,
                (_, stamp) => self.stamp.wrapping_sub(stamp),
            };
            (first..first + WAYS)
                .max_by_key(|&i| age(i))
                .expect("WAYS > 0")
        });
        self.stamp = self.stamp.wrapping_add(1);
        self.entries[i] = Some((key, value));
        self.tags[i] = (tag, self.stamp);
    }

    fn get(&self, key: &K) -> Option<&V> {
        let i = self.find(key)?;
        self.entries[i].as_ref().map(|(_, v)| v)
    }

    fn remove(&mut self, key: &K) {
        if let Some(i) = self.find(key) {
            self.entries[i] = None;
            self.tags[i] = (0, 0);
        }
    }
}

/// A request seen from one end, waiting for the other end to show up.
#[derive(Debug, Clone, Copy)]
struct End {
    span: u64,
    role: Role,
}

#[derive(Debug)]
pub struct Linker {
    next_id: u64,
    /// Links of the last [`MAX_LINKS`] spans, at `id % MAX_LINKS`: ids are
    /// sequential, so the slot is the lookup.
    links: Vec<(u64, Link)>,
    /// The server span each (pid, tid) is handling now.
    serving: FastMap<(u32, u32), u64>,
    /// Requests by (client address, server address, sequence number).
    by_seq: Slots<(SocketAddr, SocketAddr, u32), End>,
    by_traceparent: Bounded<TraceParent, End>,
    /// Header values are chosen by whoever sends the request: the standard
    /// hasher, which resists chosen keys.
    by_request_id: Bounded<String, End, RandomState>,
    /// Local trace ids of the traces that headers named.
    traces: Bounded<u128, u64>,
}

impl Default for Linker {
    fn default() -> Self {
        Linker {
            next_id: 1,
            links: vec![(0, Link::default()); MAX_LINKS],
            serving: FastMap::default(),
            by_seq: Slots::new(MAX_WAITING_ENDS),
            by_traceparent: Bounded::new(MAX_WAITING_ENDS),
            by_request_id: Bounded::new(MAX_WAITING_ENDS),
            traces: Bounded::new(MAX_WAITING_ENDS),
        }
    }
}

impl Linker {
    fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A request begins: its span id, linked to what is known so far.
    pub fn begin(&mut self, o: Origin<'_>) -> u64 {
        let id = self.new_id();
        let mut link = Link::default();
        if o.role == Role::Client {
            link.parent = self.serving.get(&(o.pid, o.tid)).copied();
        }
        self.links[id as usize % MAX_LINKS] = (id, link);
        let me = End {
            span: id,
            role: o.role,
        };
        if let Some(seq) = o.seq {
            let key = match o.role {
                Role::Client => (o.local, o.remote, seq),
                Role::Server => (o.remote, o.local, seq),
            };
            self.meet(Key::Seq(key), me);
        }
        if let Some(tp) = o.context.traceparent {
            self.meet(Key::TraceParent(tp), me);
            if o.role == Role::Server && self.parent(id).is_none() {
                let trace = match self.traces.get(&tp.trace_id) {
                    Some(&t) => t,
                    None => {
                        let t = self.new_id();
                        self.traces.insert(tp.trace_id, t);
                        t
                    }
                };
                if let Some(l) = self.link_mut(id) {
                    l.trace = Some(trace);
                }
            }
        }
        if let Some(rid) = &o.context.request_id {
            self.meet(Key::RequestId(rid.clone()), me);
        }
        if o.role == Role::Server {
            self.serving.insert((o.pid, o.tid), id);
        }
        id
    }

    /// The server span `span` of (pid, tid) is answering: the thread's later
    /// calls are no longer its children.
    pub fn answered(&mut self, pid: u32, tid: u32, span: u64) {
        if self.serving.get(&(pid, tid)) == Some(&span) {
            self.serving.remove(&(pid, tid));
        }
    }

    /// Links the two ends of one call, whichever is seen second.
    fn meet(&mut self, key: Key, me: End) {
        let other = match &key {
            Key::Seq(k) => self.by_seq.get(k).copied(),
            Key::TraceParent(k) => self.by_traceparent.get(k).copied(),
            Key::RequestId(k) => self.by_request_id.get(k).copied(),
        };
        match other {
            Some(o) if o.role != me.role => {
                // Each end comes once: the other's entry has done its job.
                if let Key::Seq(k) = &key {
                    self.by_seq.remove(k);
                }
                let (client, server) = match me.role {
                    Role::Client => (me.span, o.span),
                    Role::Server => (o.span, me.span),
                };
                if let Some(l) = self.link_mut(server)
                    && l.parent.is_none()
                    && client != server
                {
                    l.parent = Some(client);
                    l.trace = None;
                }
            }
            Some(_) => {}
            None => match key {
                Key::Seq(k) => self.by_seq.insert(k, me),
                Key::TraceParent(k) => self.by_traceparent.insert(k, me),
                Key::RequestId(k) => self.by_request_id.insert(k, me),
            },
        }
    }

    fn link(&self, span: u64) -> Option<&Link> {
        let (id, link) = &self.links[span as usize % MAX_LINKS];
        (*id == span).then_some(link)
    }

    fn link_mut(&mut self, span: u64) -> Option<&mut Link> {
        let (id, link) = &mut self.links[span as usize % MAX_LINKS];
        (*id == span).then_some(link)
    }

    pub fn parent(&self, span: u64) -> Option<u64> {
        self.link(span).and_then(|l| l.parent)
    }

    /// `span`'s trace id and parent, as far as the links reach.
    pub fn resolve(&self, span: u64) -> (u64, Option<u64>) {
        let parent = self.parent(span);
        let mut root = span;
        // A cycle cannot be built (a server's parent is always a client,
        // set once), but the walk is bounded all the same.
        for _ in 0..64 {
            match self.link(root) {
                Some(Link {
                    parent: Some(p), ..
                }) => root = *p,
                Some(Link { trace: Some(t), .. }) => return (*t, parent),
                _ => break,
            }
        }
        (root, parent)
    }
}

enum Key {
    Seq((SocketAddr, SocketAddr, u32)),
    TraceParent(TraceParent),
    RequestId(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn origin<'a>(role: Role, tid: u32, ctx: &'a TraceContext) -> Origin<'a> {
        Origin {
            role,
            pid: 10,
            tid,
            local: addr("127.0.0.1:8080"),
            remote: addr("127.0.0.1:40000"),
            seq: None,
            context: ctx,
        }
    }

    #[test]
    fn calls_on_the_serving_thread_are_children() {
        let none = TraceContext::default();
        let mut l = Linker::default();
        let server = l.begin(origin(Role::Server, 1, &none));
        let child = l.begin(origin(Role::Client, 1, &none));
        let other_thread = l.begin(origin(Role::Client, 2, &none));
        l.answered(10, 1, server);
        let after = l.begin(origin(Role::Client, 1, &none));
        assert_eq!(l.resolve(child), (server, Some(server)));
        assert_eq!(l.resolve(other_thread), (other_thread, None));
        assert_eq!(l.resolve(after), (after, None));
    }

    #[test]
    fn client_and_server_meet_by_sequence_number_in_either_order() {
        let none = TraceContext::default();
        for server_first in [false, true] {
            let mut l = Linker::default();
            let client_o = Origin {
                role: Role::Client,
                pid: 1,
                tid: 1,
                local: addr("127.0.0.1:40000"),
                remote: addr("127.0.0.1:8080"),
                seq: Some(777),
                context: &none,
            };
            let server_o = Origin {
                role: Role::Server,
                pid: 2,
                tid: 2,
                local: addr("127.0.0.1:8080"),
                remote: addr("127.0.0.1:40000"),
                seq: Some(777),
                context: &none,
            };
            let (client, server) = if server_first {
                let s = l.begin(server_o);
                (l.begin(client_o), s)
            } else {
                let c = l.begin(client_o);
                (c, l.begin(server_o))
            };
            // And the server's own outbound call joins the same trace.
            let grandchild = l.begin(Origin {
                role: Role::Client,
                pid: 2,
                tid: 2,
                local: addr("127.0.0.1:40001"),
                remote: addr("127.0.0.1:6379"),
                seq: Some(5),
                context: &none,
            });
            assert_eq!(l.resolve(server), (client, Some(client)));
            assert_eq!(l.resolve(grandchild), (client, Some(server)));
        }
    }

    /// `redis-benchmark -P 16 -c 4`: each syscall carries 16 requests, up
    /// to 64 wait for their other end at once, round after round. Every
    /// server end meets its client end.
    #[test]
    fn pipelined_requests_all_meet_their_other_end() {
        let none = TraceContext::default();
        let mut l = Linker::default();
        let (mut unlinked, mut total) = (0, 0);
        // Sequence numbers as unrelated as TCP's random initial ones.
        let mut state = 0x9e37_79b9_u32;
        let mut next_seq = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for _ in 0..500 {
            let mut clients = Vec::new();
            for conn in 0..4u16 {
                for _ in 0..16 {
                    let seq = next_seq();
                    let client = Origin {
                        role: Role::Client,
                        pid: 1,
                        tid: 1,
                        local: SocketAddr::from(([127, 0, 0, 1], 40000 + conn)),
                        remote: addr("127.0.0.1:6379"),
                        seq: Some(seq),
                        context: &none,
                    };
                    clients.push((l.begin(client), client));
                }
            }
            for (client_span, client) in clients {
                let server = l.begin(Origin {
                    role: Role::Server,
                    pid: 2,
                    tid: 2,
                    local: client.remote,
                    remote: client.local,
                    ..client
                });
                l.answered(2, 2, server);
                total += 1;
                if l.parent(server) != Some(client_span) {
                    unlinked += 1;
                }
            }
        }
        assert_eq!(unlinked, 0, "{unlinked} of {total} server spans unlinked");
    }

    #[test]
    fn traceparent_joins_a_remote_trace_and_links_local_ends() {
        let tp = TraceContext {
            traceparent: Some(TraceParent {
                trace_id: 0xabc,
                parent_id: 7,
            }),
            request_id: None,
        };
        let mut l = Linker::default();
        let a = l.begin(origin(Role::Server, 1, &tp));
        let b = l.begin(origin(Role::Server, 2, &tp));
        // Both joined the same remote trace, neither has a local parent.
        let (ta, pa) = l.resolve(a);
        assert_eq!((l.resolve(b).0, pa), (ta, None));
        assert_ne!(ta, a);
        // A client here sending the same traceparent becomes the parent.
        let mut l = Linker::default();
        let c = l.begin(origin(Role::Client, 3, &tp));
        let s = l.begin(origin(Role::Server, 4, &tp));
        assert_eq!(l.resolve(s), (c, Some(c)));
    }
}
