//! SmartEncoding on the way in: tags become dictionary ids, facts become
//! columns of integers.
//!
//! The encoder lives on the writer thread. New dictionary entries are kept
//! as pending rows and written with the facts that use them, in one
//! transaction, so a file cut off at any point never holds a fact whose id
//! has no entry.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::net::SocketAddr;

use dflow_model::{Code, Flow, Frame, Process, Sample, Span};

/// The encoder's maps: foldhash, seeded per process. Keys include text off
/// the wire (endpoints, excerpts), so a keyed hash; SipHash's extra
/// strength cost a tenth of the writer's time.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Values → dense ids, handing out the next id to each new value.
#[derive(Debug)]
pub struct Dict<K> {
    ids: Map<K, u32>,
}

impl<K: Hash + Eq> Default for Dict<K> {
    fn default() -> Self {
        Dict {
            ids: Map::default(),
        }
    }
}

impl<K: Hash + Eq + Clone> Dict<K> {
    /// The id of `key`, and whether it is new.
    pub fn id<Q>(&mut self, key: &Q) -> (u32, bool)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(&id) = self.ids.get(key) {
            return (id, false);
        }
        let id = u32::try_from(self.ids.len()).expect("fewer than 2^32 distinct tags");
        self.ids.insert(key.to_owned(), id);
        (id, true)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// New dictionary rows, waiting to be written.
#[derive(Debug, Default)]
pub struct PendingDicts {
    pub strings: Vec<(u32, String)>,
    pub services: Vec<(u32, String)>,
    pub processes: Vec<(u32, Process, u32)>,
    pub endpoints: Vec<(u32, String)>,
    pub addresses: Vec<(u32, SocketAddr)>,
    pub frames: Vec<(u32, Frame)>,
    pub stacks: Vec<(u32, Vec<u32>)>,
}

impl PendingDicts {
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
            && self.services.is_empty()
            && self.processes.is_empty()
            && self.endpoints.is_empty()
            && self.addresses.is_empty()
            && self.frames.is_empty()
            && self.stacks.is_empty()
    }
}

/// Span facts, one vector per column of `spans`.
#[derive(Debug, Default)]
pub struct SpanColumns {
    pub start_ns: Vec<i64>,
    pub duration_ns: Vec<i64>,
    pub protocol: Vec<u8>,
    pub role: Vec<u8>,
    pub status: Vec<u8>,
    pub code: Vec<Option<i32>>,
    pub code_text_id: Vec<Option<u32>>,
    pub endpoint_id: Vec<u32>,
    pub process_id: Vec<u32>,
    pub tid: Vec<u32>,
    pub local_id: Vec<u32>,
    pub remote_id: Vec<u32>,
    pub req_bytes: Vec<u32>,
    pub resp_bytes: Vec<u32>,
    /// `span_id - trace_id`: spans of a trace sit close together in the
    /// session's sequence, so the offset takes a few bits where the id
    /// takes many.
    pub trace_offset: Vec<i64>,
    pub span_id: Vec<u64>,
    /// `span_id - parent_span_id`, likewise.
    pub parent_offset: Vec<Option<i64>>,
}

/// Span excerpts, for the spans that have any, as ids of texts; and the
/// texts not written yet.
#[derive(Debug, Default)]
pub struct ExcerptColumns {
    pub span_id: Vec<u64>,
    pub request_id: Vec<u32>,
    pub response_id: Vec<u32>,
    pub text_id: Vec<u32>,
    pub text: Vec<String>,
    /// Text bytes held, which bound a flush as much as the facts' count.
    pub bytes: usize,
}

/// Distinct excerpt texts remembered at most. Repeated calls (a health
/// check, the same query, a load test) repeat their excerpts within
/// moments; past this many the memory starts afresh (at most
/// `EXCERPT_MAX` bytes each) and a text seen again is stored again, under a
/// new id.
const EXCERPT_TEXTS: usize = 2048;

/// Excerpt texts → ids, bounded by [`EXCERPT_TEXTS`]. Ids are never reused,
/// so each is one row of `excerpt_texts`.
#[derive(Debug, Default)]
struct ExcerptTexts {
    ids: Map<String, u32>,
    next: u32,
}

impl ExcerptTexts {
    /// The id of `text`, and the text back when it is new (to be written).
    fn id(&mut self, text: String) -> (u32, Option<String>) {
        if self.ids.len() >= EXCERPT_TEXTS && !self.ids.contains_key(&text) {
            self.ids.clear();
        }
        // One hash of the text, whether it is known or new.
        match self.ids.entry(text) {
            Entry::Occupied(known) => (*known.get(), None),
            Entry::Vacant(new) => {
                let id = self.next;
                self.next = id.checked_add(1).expect("fewer than 2^32 excerpt texts");
                let text = new.key().clone();
                new.insert(id);
                (id, Some(text))
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct FlowColumns {
    pub start_ns: Vec<i64>,
    pub end_ns: Vec<i64>,
    pub process_id: Vec<u32>,
    pub local_id: Vec<u32>,
    pub remote_id: Vec<u32>,
    pub bytes_sent: Vec<u64>,
    pub bytes_received: Vec<u64>,
    pub rtt_us: Vec<Option<u32>>,
    pub retransmits: Vec<u32>,
    pub resets: Vec<u32>,
    pub connect_ns: Vec<Option<i64>>,
    pub closed: Vec<bool>,
}

#[derive(Debug, Default)]
pub struct SampleColumns {
    pub ts_ns: Vec<i64>,
    pub process_id: Vec<u32>,
    pub tid: Vec<Option<u32>>,
    pub off_cpu: Vec<bool>,
    pub stack_id: Vec<u32>,
    pub count: Vec<u64>,
    pub blocked_ns: Vec<u64>,
}

/// A label (`--tag key=value`) on a resource: key and value are ids in
/// `strings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub resource: String,
    pub resource_id: u32,
    pub key: u32,
    pub value: u32,
}

/// Everything one flush writes: new dictionary rows and the facts that use
/// them. The capture's log holds a sequence of these; the DuckDB file gets
/// each in one transaction.
#[derive(Debug, Default)]
pub struct Chunk {
    pub dicts: PendingDicts,
    pub labels: Vec<Label>,
    pub spans: SpanColumns,
    pub excerpts: ExcerptColumns,
    pub flows: FlowColumns,
    pub samples: SampleColumns,
}

impl Chunk {
    /// Facts (spans, flows, samples) held.
    pub fn facts(&self) -> u64 {
        (self.spans.start_ns.len() + self.flows.start_ns.len() + self.samples.ts_ns.len()) as u64
    }
}

/// How far `id` is behind `span_id` (negative: ahead), as stored.
pub fn id_offset(span_id: u64, id: u64) -> i64 {
    span_id.wrapping_sub(id) as i64
}

/// The id `offset` away from `span_id`: the inverse of [`id_offset`].
pub fn id_from_offset(span_id: u64, offset: i64) -> u64 {
    span_id.wrapping_sub(offset as u64)
}

/// The writer thread's encoding state.
#[derive(Debug, Default)]
pub struct Encoder {
    strings: Dict<String>,
    services: Dict<String>,
    processes: Dict<(u32, u64)>,
    endpoints: Dict<String>,
    addresses: Dict<SocketAddr>,
    frames: Dict<Frame>,
    stacks: Dict<Vec<u32>>,
    excerpt_texts: ExcerptTexts,
    pending: PendingDicts,
    labels: Vec<Label>,
    spans: SpanColumns,
    excerpts: ExcerptColumns,
    flows: FlowColumns,
    samples: SampleColumns,
}

impl Encoder {
    /// Facts buffered and not yet written.
    pub fn buffered(&self) -> usize {
        self.spans.start_ns.len() + self.flows.start_ns.len() + self.samples.ts_ns.len()
    }

    /// Excerpt text bytes buffered and not yet written.
    pub fn buffered_text(&self) -> usize {
        self.excerpts.bytes
    }

    /// Takes what is buffered, leaving the dictionaries.
    pub fn take_chunk(&mut self) -> Chunk {
        Chunk {
            dicts: std::mem::take(&mut self.pending),
            labels: std::mem::take(&mut self.labels),
            spans: std::mem::take(&mut self.spans),
            excerpts: std::mem::take(&mut self.excerpts),
            flows: std::mem::take(&mut self.flows),
            samples: std::mem::take(&mut self.samples),
        }
    }

    pub fn label(&mut self, resource: &str, resource_id: u32, key: &str, value: &str) {
        let (key, value) = (self.string(key), self.string(value));
        self.labels.push(Label {
            resource: resource.to_owned(),
            resource_id,
            key,
            value,
        });
    }

    pub fn string(&mut self, s: &str) -> u32 {
        let (id, new) = self.strings.id(s);
        if new {
            self.pending.strings.push((id, s.to_owned()));
        }
        id
    }

    fn service(&mut self, name: &str) -> u32 {
        let (id, new) = self.services.id(name);
        if new {
            self.pending.services.push((id, name.to_owned()));
        }
        id
    }

    fn process(&mut self, p: &Process) -> u32 {
        let (id, new) = self.processes.id(&(p.pid, p.start_ns));
        if new {
            let service = self.service(&p.service);
            self.pending.processes.push((id, p.clone(), service));
        }
        id
    }

    fn endpoint(&mut self, name: &str) -> u32 {
        let (id, new) = self.endpoints.id(name);
        if new {
            self.pending.endpoints.push((id, name.to_owned()));
        }
        id
    }

    fn address(&mut self, addr: &SocketAddr) -> u32 {
        let (id, new) = self.addresses.id(addr);
        if new {
            self.pending.addresses.push((id, *addr));
        }
        id
    }

    fn stack(&mut self, frames: &[Frame]) -> u32 {
        let frame_ids: Vec<u32> = frames
            .iter()
            .map(|f| {
                let (id, new) = self.frames.id(f);
                if new {
                    self.pending.frames.push((id, f.clone()));
                }
                id
            })
            .collect();
        let (id, new) = self.stacks.id(&frame_ids);
        if new {
            self.pending.stacks.push((id, frame_ids));
        }
        id
    }

    /// Takes the span, so a new excerpt moves into the batch uncopied.
    pub fn span(&mut self, s: Span) {
        let (code, code_text_id) = match &s.code {
            None => (None, None),
            Some(Code::Num(n)) => (Some(*n), None),
            Some(Code::Text(t)) => (None, Some(self.string(t))),
        };
        let endpoint_id = self.endpoint(&s.endpoint);
        let process_id = self.process(&s.process);
        let local_id = self.address(&s.local);
        let remote_id = self.address(&s.remote);
        let c = &mut self.spans;
        c.start_ns.push(s.start_ns);
        c.duration_ns.push(s.duration_ns);
        c.protocol.push(s.protocol.code());
        c.role.push(s.role.code());
        c.status.push(s.status.code());
        c.code.push(code);
        c.code_text_id.push(code_text_id);
        c.endpoint_id.push(endpoint_id);
        c.process_id.push(process_id);
        c.tid.push(s.tid);
        c.local_id.push(local_id);
        c.remote_id.push(remote_id);
        c.req_bytes.push(s.req_bytes);
        c.resp_bytes.push(s.resp_bytes);
        c.trace_offset.push(id_offset(s.span_id, s.trace_id));
        c.span_id.push(s.span_id);
        c.parent_offset
            .push(s.parent_span_id.map(|p| id_offset(s.span_id, p)));
        if !s.request.is_empty() || !s.response.is_empty() {
            let request_id = self.excerpt_text(s.request);
            let response_id = self.excerpt_text(s.response);
            let e = &mut self.excerpts;
            e.span_id.push(s.span_id);
            e.request_id.push(request_id);
            e.response_id.push(response_id);
        }
    }

    fn excerpt_text(&mut self, text: String) -> u32 {
        let (id, new) = self.excerpt_texts.id(text);
        if let Some(text) = new {
            let e = &mut self.excerpts;
            e.bytes += text.len();
            e.text_id.push(id);
            e.text.push(text);
        }
        id
    }

    pub fn flow(&mut self, f: &Flow) {
        let process_id = self.process(&f.process);
        let local_id = self.address(&f.local);
        let remote_id = self.address(&f.remote);
        let c = &mut self.flows;
        c.start_ns.push(f.start_ns);
        c.end_ns.push(f.end_ns);
        c.process_id.push(process_id);
        c.local_id.push(local_id);
        c.remote_id.push(remote_id);
        c.bytes_sent.push(f.bytes_sent);
        c.bytes_received.push(f.bytes_received);
        c.rtt_us.push(f.rtt_us);
        c.retransmits.push(f.retransmits);
        c.resets.push(f.resets);
        c.connect_ns.push(f.connect_ns);
        c.closed.push(f.closed);
    }

    pub fn sample(&mut self, s: &Sample) {
        let process_id = self.process(&s.process);
        let stack_id = self.stack(&s.stack);
        let c = &mut self.samples;
        c.ts_ns.push(s.ts_ns);
        c.process_id.push(process_id);
        c.tid.push(s.tid);
        c.off_cpu.push(s.off_cpu);
        c.stack_id.push(stack_id);
        c.count.push(s.count);
        c.blocked_ns.push(s.blocked_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_texts_are_stored_once_while_remembered() {
        let mut texts = ExcerptTexts::default();
        let (first, new) = texts.id("GET / HTTP/1.1".to_owned());
        assert_eq!((first, new.as_deref()), (0, Some("GET / HTTP/1.1")));
        assert_eq!(texts.id("GET / HTTP/1.1".to_owned()), (0, None));
        // Past the bound the memory starts afresh: ids keep growing, and a
        // text seen before is stored again under a new id.
        for i in 1..EXCERPT_TEXTS {
            assert_eq!(
                texts.id(format!("GET /{i}")),
                (i as u32, Some(format!("GET /{i}")))
            );
        }
        assert_eq!(texts.id("GET /7".to_owned()), (7, None));
        let (next, new) = texts.id("POST /".to_owned());
        assert_eq!(
            (next, new.as_deref()),
            (EXCERPT_TEXTS as u32, Some("POST /"))
        );
        let (again, new) = texts.id("GET / HTTP/1.1".to_owned());
        assert_eq!(
            (again, new.as_deref()),
            (EXCERPT_TEXTS as u32 + 1, Some("GET / HTTP/1.1"))
        );
        assert!(texts.ids.len() <= EXCERPT_TEXTS);
    }

    #[test]
    fn dictionaries_hand_out_dense_ids_once() {
        let mut d: Dict<String> = Dict::default();
        assert_eq!(d.id("a"), (0, true));
        assert_eq!(d.id("b"), (1, true));
        assert_eq!(d.id("a"), (0, false));
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn id_offsets_round_trip() {
        for (span, id) in [(10, 7), (7, 10), (0, u64::MAX), (u64::MAX, 0), (5, 5)] {
            assert_eq!(id_from_offset(span, id_offset(span, id)), id);
        }
        assert_eq!(id_offset(10, 7), 3);
        assert_eq!(id_offset(7, 10), -3);
    }

    #[test]
    fn stacks_share_frames() {
        let f = |name: &str| Frame {
            function: name.into(),
            module: "m".into(),
            kernel: false,
        };
        let mut e = Encoder::default();
        let a = e.stack(&[f("main"), f("work")]);
        let b = e.stack(&[f("main"), f("idle")]);
        let c = e.stack(&[f("main"), f("work")]);
        assert_eq!(a, c);
        assert_ne!(a, b);
        assert_eq!(e.pending.frames.len(), 3);
        assert_eq!(e.pending.stacks, vec![(0, vec![0, 1]), (1, vec![0, 2])]);
    }
}
