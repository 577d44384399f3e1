//! The capture log's format: what [`super::spool`] writes while a capture
//! runs and reads back to convert it. Free of DuckDB and of files, so a fuzz
//! target can drive the decoder.
//!
//! # Format (version 1)
//!
//! ```text
//! file   = MAGIC(8) version(u32 LE) pid(u32 LE) record*
//! record = length(u32 LE) crc32(u32 LE, of body) body[length]
//! body   = tag(u8) payload
//! ```
//!
//! The first record is the session's metadata; then chunks (one per
//! flush: new dictionary rows and the facts that use them), and at a clean
//! end the counters and the end time. Integers are LEB128 varints, signed
//! ones zigzagged, time and id columns as deltas; optional values and
//! booleans are bitmaps. A record cut short or failing its checksum ends
//! the log: it is where a killed writer stopped.
//!

use std::io::Read;
use std::net::SocketAddr;

use super::encode::{
    Chunk, ExcerptColumns, FlowColumns, Label, PendingDicts, SampleColumns, SpanColumns,
};
use super::meta::{SessionKind, SessionMeta};
use dflow_model::{Frame, Process};

pub const MAGIC: &[u8; 8] = b"DFLOWLOG";
pub const VERSION: u32 = 1;
/// Bytes of the file header: magic, version, pid.
pub const HEADER: usize = 16;

/// Largest record a reader accepts: a flush holds at most 256k facts and
/// 8 MB of excerpt text (`writer::MAX_BUFFERED*`), far below this.
const MAX_RECORD: usize = 1 << 30;

pub const TAG_META: u8 = 1;
pub const TAG_CHUNK: u8 = 2;
pub const TAG_COUNTERS: u8 = 3;
pub const TAG_END: u8 = 4;

/// A per-source (delivered, lost) row of `counters`.
pub type Counter = (String, u64, u64);

/// One record of the log.
#[derive(Debug)]
pub enum Record {
    Meta(SessionMeta),
    Chunk(Box<Chunk>),
    Counters(Vec<Counter>),
    /// The capture ended cleanly at this Unix ns.
    End(i64),
}

/// Reads until `buf` is full or the end; the bytes read.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The file header of a log written by process `pid`.
pub fn put_header(buf: &mut Vec<u8>, pid: u32) {
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&VERSION.to_le_bytes());
    buf.extend_from_slice(&pid.to_le_bytes());
}

/// Appends one record to `buf`: `tag`, then what `fill` writes, framed by
/// its length and checksum.
fn put_record(buf: &mut Vec<u8>, tag: u8, fill: impl FnOnce(&mut Put<'_>)) {
    let at = buf.len();
    buf.extend_from_slice(&[0; 8]);
    buf.push(tag);
    fill(&mut Put(buf));
    let body = &buf[at + 8..];
    let len = u32::try_from(body.len()).expect("records stay far below 4 GiB");
    let crc = crc32fast::hash(body);
    buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    buf[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

pub fn put_meta_record(buf: &mut Vec<u8>, meta: &SessionMeta) {
    put_record(buf, TAG_META, |p| put_meta(p, meta));
}

pub fn put_chunk_record(buf: &mut Vec<u8>, chunk: &Chunk) {
    put_record(buf, TAG_CHUNK, |p| put_chunk(p, chunk));
}

/// The clean end: the counters, then the end time.
pub fn put_end_records(buf: &mut Vec<u8>, counters: &[Counter], ended_ns: i64) {
    put_record(buf, TAG_COUNTERS, |p| put_counters(p, counters));
    put_record(buf, TAG_END, |p| p.zz(ended_ns));
}

/// Appends `record`, framed: what [`decode`] reads back from its body.
pub fn put_any_record(buf: &mut Vec<u8>, record: &Record) {
    match record {
        Record::Meta(m) => put_meta_record(buf, m),
        Record::Chunk(c) => put_chunk_record(buf, c),
        Record::Counters(rows) => put_record(buf, TAG_COUNTERS, |p| put_counters(p, rows)),
        Record::End(ns) => put_record(buf, TAG_END, |p| p.zz(*ns)),
    }
}

fn put_counters(p: &mut Put<'_>, counters: &[Counter]) {
    p.len(counters.len());
    for (source, delivered, lost) in counters {
        p.str(source);
        p.varint(*delivered);
        p.varint(*lost);
    }
}

/// Why a log cannot be read at all.
#[derive(Debug)]
pub enum LogError {
    Io(std::io::Error),
    NoHeader,
    Version(u32),
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogError::Io(e) => write!(f, "{e}"),
            LogError::NoHeader => f.write_str("not a dflow capture log (no header)"),
            LogError::Version(v) => write!(
                f,
                "a capture log of version {v}; this dflow reads version {VERSION}"
            ),
        }
    }
}

/// Records of a log, read in order.
pub struct LogReader<R> {
    input: R,
    /// Bytes consumed so far.
    pub offset: u64,
    /// Set when the log ended inside a record (cut short or corrupt): the
    /// bytes left unread.
    pub torn: Option<String>,
    pub pid: u32,
}

impl<R: Read> LogReader<R> {
    /// Checks the header.
    pub fn new(mut input: R) -> Result<LogReader<R>, LogError> {
        let mut head = [0u8; HEADER];
        let n = read_full(&mut input, &mut head).map_err(LogError::Io)?;
        if n < HEADER || &head[..8] != MAGIC {
            return Err(LogError::NoHeader);
        }
        let version = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(LogError::Version(version));
        }
        Ok(LogReader {
            input,
            offset: HEADER as u64,
            torn: None,
            pid: u32::from_le_bytes(head[12..16].try_into().expect("4 bytes")),
        })
    }

    /// The next record; None at the end of the log, or where it is torn
    /// (then [`Self::torn`] says how). Only a read error is an error.
    pub fn next_record(&mut self) -> std::io::Result<Option<Record>> {
        if self.torn.is_some() {
            return Ok(None);
        }
        let mut head = [0u8; 8];
        let n = read_full(&mut self.input, &mut head)?;
        if n == 0 {
            return Ok(None);
        }
        if n < head.len() {
            self.torn = Some(format!("a record header cut short at byte {}", self.offset));
            return Ok(None);
        }
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        if len == 0 || len > MAX_RECORD {
            self.torn = Some(format!("a record of {len} bytes at byte {}", self.offset));
            return Ok(None);
        }
        let mut body = Vec::new();
        let got = (&mut self.input).take(len as u64).read_to_end(&mut body)?;
        if got < len {
            self.torn = Some(format!(
                "a record cut short at byte {} ({got} of {len} bytes)",
                self.offset
            ));
            return Ok(None);
        }
        if crc32fast::hash(&body) != crc {
            self.torn = Some(format!(
                "a record failing its checksum at byte {}",
                self.offset
            ));
            return Ok(None);
        }
        match decode(&body) {
            Ok(record) => {
                self.offset += 8 + len as u64;
                Ok(Some(record))
            }
            Err(Corrupt(what)) => {
                self.torn = Some(format!("a record with {what} at byte {}", self.offset));
                Ok(None)
            }
        }
    }
}

/// A record's body does not decode.
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt(pub &'static str);

/// Decodes a record's body (its tag and payload).
pub fn decode(body: &[u8]) -> Result<Record, Corrupt> {
    let (&tag, rest) = body.split_first().ok_or(Corrupt("no tag"))?;
    let mut t = Take(rest);
    let record = match tag {
        TAG_META => Record::Meta(take_meta(&mut t)?),
        TAG_CHUNK => Record::Chunk(Box::new(take_chunk(&mut t)?)),
        TAG_COUNTERS => {
            let n = t.len(3)?;
            let mut rows = Vec::with_capacity(n);
            for _ in 0..n {
                rows.push((t.string()?, t.varint()?, t.varint()?));
            }
            Record::Counters(rows)
        }
        TAG_END => Record::End(t.zz()?),
        _ => return Err(Corrupt("an unknown tag")),
    };
    if !t.0.is_empty() {
        return Err(Corrupt("trailing bytes"));
    }
    Ok(record)
}

/// The appending half of the codec.
struct Put<'a>(&'a mut Vec<u8>);

impl Put<'_> {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn zz(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn len(&mut self, n: usize) {
        self.varint(n as u64);
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn strs<S: AsRef<str>>(&mut self, v: &[S]) {
        self.len(v.len());
        v.iter().for_each(|s| self.str(s.as_ref()));
    }

    fn u8s(&mut self, v: &[u8]) {
        self.len(v.len());
        self.0.extend_from_slice(v);
    }

    fn u32s(&mut self, v: &[u32]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.varint(x.into()));
    }

    fn u64s(&mut self, v: &[u64]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.varint(x));
    }

    fn i64s(&mut self, v: &[i64]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.zz(x));
    }

    /// Each value as its difference from the one before: for columns that
    /// mostly grow (times, span ids).
    fn i64s_delta(&mut self, v: &[i64]) {
        self.len(v.len());
        let mut prev = 0i64;
        for &x in v {
            self.zz(x.wrapping_sub(prev));
            prev = x;
        }
    }

    fn u64s_delta(&mut self, v: &[u64]) {
        self.len(v.len());
        let mut prev = 0u64;
        for &x in v {
            self.zz(x.wrapping_sub(prev) as i64);
            prev = x;
        }
    }

    fn bits(&mut self, n: usize, bit: impl Fn(usize) -> bool) {
        self.len(n);
        for start in (0..n).step_by(8) {
            let byte =
                (start..n.min(start + 8)).fold(0u8, |b, i| b | (u8::from(bit(i)) << (i - start)));
            self.0.push(byte);
        }
    }

    fn bools(&mut self, v: &[bool]) {
        self.bits(v.len(), |i| v[i]);
    }

    /// Which values are present (a bitmap), then the present values.
    fn opts<T: Copy>(&mut self, v: &[Option<T>], mut put: impl FnMut(&mut Self, T)) {
        self.bits(v.len(), |i| v[i].is_some());
        v.iter().flatten().for_each(|&x| put(self, x));
    }
}

/// The reading half: every read checks what is left, so hostile bytes
/// give [`Corrupt`], never a panic or a huge allocation.
struct Take<'a>(&'a [u8]);

impl Take<'_> {
    fn varint(&mut self) -> Result<u64, Corrupt> {
        let mut v = 0u64;
        for (i, &b) in self.0.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.0 = &self.0[i + 1..];
                return Ok(v);
            }
        }
        Err(Corrupt("a bad varint"))
    }

    fn zz(&mut self) -> Result<i64, Corrupt> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn u32(&mut self) -> Result<u32, Corrupt> {
        u32::try_from(self.varint()?).map_err(|_| Corrupt("a value out of range"))
    }

    /// A count of items that take at least `min_bytes` each (8 items a
    /// byte when 0: bitmaps), checked against what is left.
    fn len(&mut self, min_bytes: usize) -> Result<usize, Corrupt> {
        let n = usize::try_from(self.varint()?).map_err(|_| Corrupt("a bad length"))?;
        let need = if min_bytes == 0 {
            n.div_ceil(8)
        } else {
            n.saturating_mul(min_bytes)
        };
        if need > self.0.len() {
            return Err(Corrupt("a length past the record's end"));
        }
        Ok(n)
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], Corrupt> {
        if n > self.0.len() {
            return Err(Corrupt("a length past the record's end"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn string(&mut self) -> Result<String, Corrupt> {
        let n = self.len(1)?;
        let bytes = self.bytes(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Corrupt("text that is not UTF-8"))
    }

    fn strings(&mut self) -> Result<Vec<String>, Corrupt> {
        let n = self.len(1)?;
        (0..n).map(|_| self.string()).collect()
    }

    fn u8s(&mut self) -> Result<Vec<u8>, Corrupt> {
        let n = self.len(1)?;
        Ok(self.bytes(n)?.to_vec())
    }

    fn u32s(&mut self) -> Result<Vec<u32>, Corrupt> {
        let n = self.len(1)?;
        (0..n).map(|_| self.u32()).collect()
    }

    fn u64s(&mut self) -> Result<Vec<u64>, Corrupt> {
        let n = self.len(1)?;
        (0..n).map(|_| self.varint()).collect()
    }

    fn i64s(&mut self) -> Result<Vec<i64>, Corrupt> {
        let n = self.len(1)?;
        (0..n).map(|_| self.zz()).collect()
    }

    fn i64s_delta(&mut self) -> Result<Vec<i64>, Corrupt> {
        let n = self.len(1)?;
        let mut prev = 0i64;
        (0..n)
            .map(|_| {
                prev = prev.wrapping_add(self.zz()?);
                Ok(prev)
            })
            .collect()
    }

    fn u64s_delta(&mut self) -> Result<Vec<u64>, Corrupt> {
        let n = self.len(1)?;
        let mut prev = 0u64;
        (0..n)
            .map(|_| {
                prev = prev.wrapping_add(self.zz()? as u64);
                Ok(prev)
            })
            .collect()
    }

    fn bits(&mut self) -> Result<Vec<bool>, Corrupt> {
        let n = self.len(0)?;
        let bytes = self.bytes(n.div_ceil(8))?;
        Ok((0..n).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
    }

    fn opts<T>(
        &mut self,
        mut take: impl FnMut(&mut Self) -> Result<T, Corrupt>,
    ) -> Result<Vec<Option<T>>, Corrupt> {
        let present = self.bits()?;
        present
            .into_iter()
            .map(|p| if p { take(self).map(Some) } else { Ok(None) })
            .collect()
    }
}

fn put_meta(p: &mut Put<'_>, m: &SessionMeta) {
    p.str(m.kind.as_str());
    p.str(&m.dflow_version);
    p.str(&m.host);
    p.str(&m.kernel);
    p.str(&m.command_line);
    p.zz(m.started_ns);
    p.opts(&[m.doctor.as_deref()], |p, d| p.str(d));
}

fn take_meta(t: &mut Take<'_>) -> Result<SessionMeta, Corrupt> {
    let kind = SessionKind::from_name(&t.string()?).ok_or(Corrupt("an unknown kind"))?;
    Ok(SessionMeta {
        kind,
        dflow_version: t.string()?,
        host: t.string()?,
        kernel: t.string()?,
        command_line: t.string()?,
        started_ns: t.zz()?,
        doctor: t.opts(Take::string)?.pop().flatten(),
    })
}

fn put_chunk(p: &mut Put<'_>, c: &Chunk) {
    let d = &c.dicts;
    for names in [&d.strings, &d.services, &d.endpoints] {
        p.len(names.len());
        for (id, name) in names {
            p.varint((*id).into());
            p.str(name);
        }
    }
    p.len(d.processes.len());
    for (id, proc, service) in &d.processes {
        p.varint((*id).into());
        p.varint(proc.pid.into());
        p.varint(proc.start_ns);
        for s in [
            &proc.comm,
            &proc.exe,
            &proc.cmdline,
            &proc.cgroup,
            &proc.service,
        ] {
            p.str(s);
        }
        p.opts(&[proc.container_id.as_deref()], |p, c| p.str(c));
        p.varint((*service).into());
    }
    p.len(d.addresses.len());
    for (id, addr) in &d.addresses {
        p.varint((*id).into());
        p.str(&addr.to_string());
    }
    p.len(d.frames.len());
    for (id, f) in &d.frames {
        p.varint((*id).into());
        p.str(&f.function);
        p.str(&f.module);
        p.bools(&[f.kernel]);
    }
    p.len(d.stacks.len());
    for (id, frames) in &d.stacks {
        p.varint((*id).into());
        p.u32s(frames);
    }
    p.len(c.labels.len());
    for l in &c.labels {
        p.str(&l.resource);
        p.varint(l.resource_id.into());
        p.varint(l.key.into());
        p.varint(l.value.into());
    }

    let s = &c.spans;
    p.i64s_delta(&s.start_ns);
    p.i64s(&s.duration_ns);
    p.u8s(&s.protocol);
    p.u8s(&s.role);
    p.u8s(&s.status);
    p.opts(&s.code, |p, v| p.zz(v.into()));
    p.opts(&s.code_text_id, |p, v| p.varint(v.into()));
    for ids in [
        &s.endpoint_id,
        &s.process_id,
        &s.tid,
        &s.local_id,
        &s.remote_id,
        &s.req_bytes,
        &s.resp_bytes,
    ] {
        p.u32s(ids);
    }
    p.i64s(&s.trace_offset);
    p.u64s_delta(&s.span_id);
    p.opts(&s.parent_offset, Put::zz);

    let e = &c.excerpts;
    p.u64s_delta(&e.span_id);
    p.u32s(&e.request_id);
    p.u32s(&e.response_id);
    p.u32s(&e.text_id);
    p.strs(&e.text);

    let f = &c.flows;
    p.i64s_delta(&f.start_ns);
    p.i64s_delta(&f.end_ns);
    p.u32s(&f.process_id);
    p.u32s(&f.local_id);
    p.u32s(&f.remote_id);
    p.u64s(&f.bytes_sent);
    p.u64s(&f.bytes_received);
    p.opts(&f.rtt_us, |p, v| p.varint(v.into()));
    p.u32s(&f.retransmits);
    p.u32s(&f.resets);
    p.opts(&f.connect_ns, Put::zz);
    p.bools(&f.closed);

    let m = &c.samples;
    p.i64s_delta(&m.ts_ns);
    p.u32s(&m.process_id);
    p.opts(&m.tid, |p, v| p.varint(v.into()));
    p.bools(&m.off_cpu);
    p.u32s(&m.stack_id);
    p.u64s(&m.count);
    p.u64s(&m.blocked_ns);
}

/// Checks that a table's columns are equally long.
fn same_len(lens: &[usize]) -> Result<(), Corrupt> {
    if lens.windows(2).all(|w| w[0] == w[1]) {
        Ok(())
    } else {
        Err(Corrupt("columns of different lengths"))
    }
}

fn take_chunk(t: &mut Take<'_>) -> Result<Chunk, Corrupt> {
    let mut names = || -> Result<Vec<(u32, String)>, Corrupt> {
        let n = t.len(2)?;
        (0..n).map(|_| Ok((t.u32()?, t.string()?))).collect()
    };
    let (strings, services, endpoints) = (names()?, names()?, names()?);
    let n = t.len(8)?;
    let mut processes = Vec::with_capacity(n);
    for _ in 0..n {
        let id = t.u32()?;
        let (pid, start_ns) = (t.u32()?, t.varint()?);
        let (comm, exe, cmdline, cgroup, service_name) = (
            t.string()?,
            t.string()?,
            t.string()?,
            t.string()?,
            t.string()?,
        );
        let container_id = t.opts(Take::string)?.pop().flatten();
        let service = t.u32()?;
        let proc = Process {
            pid,
            start_ns,
            comm,
            exe,
            cmdline,
            cgroup,
            container_id,
            service: service_name,
        };
        processes.push((id, proc, service));
    }
    let n = t.len(2)?;
    let mut addresses = Vec::with_capacity(n);
    for _ in 0..n {
        let id = t.u32()?;
        let addr: SocketAddr = t.string()?.parse().map_err(|_| Corrupt("a bad address"))?;
        addresses.push((id, addr));
    }
    let n = t.len(4)?;
    let mut frames = Vec::with_capacity(n);
    for _ in 0..n {
        let id = t.u32()?;
        let (function, module) = (t.string()?, t.string()?);
        let kernel = t.bits()?.first().copied().ok_or(Corrupt("a bad frame"))?;
        frames.push((
            id,
            Frame {
                function,
                module,
                kernel,
            },
        ));
    }
    let n = t.len(2)?;
    let stacks = (0..n)
        .map(|_| Ok((t.u32()?, t.u32s()?)))
        .collect::<Result<Vec<_>, Corrupt>>()?;
    let n = t.len(4)?;
    let labels = (0..n)
        .map(|_| {
            Ok(Label {
                resource: t.string()?,
                resource_id: t.u32()?,
                key: t.u32()?,
                value: t.u32()?,
            })
        })
        .collect::<Result<Vec<_>, Corrupt>>()?;

    let spans = SpanColumns {
        start_ns: t.i64s_delta()?,
        duration_ns: t.i64s()?,
        protocol: t.u8s()?,
        role: t.u8s()?,
        status: t.u8s()?,
        code: t.opts(|t| i32::try_from(t.zz()?).map_err(|_| Corrupt("a bad code")))?,
        code_text_id: t.opts(Take::u32)?,
        endpoint_id: t.u32s()?,
        process_id: t.u32s()?,
        tid: t.u32s()?,
        local_id: t.u32s()?,
        remote_id: t.u32s()?,
        req_bytes: t.u32s()?,
        resp_bytes: t.u32s()?,
        trace_offset: t.i64s()?,
        span_id: t.u64s_delta()?,
        parent_offset: t.opts(Take::zz)?,
    };
    same_len(&[
        spans.start_ns.len(),
        spans.duration_ns.len(),
        spans.protocol.len(),
        spans.role.len(),
        spans.status.len(),
        spans.code.len(),
        spans.code_text_id.len(),
        spans.endpoint_id.len(),
        spans.process_id.len(),
        spans.tid.len(),
        spans.local_id.len(),
        spans.remote_id.len(),
        spans.req_bytes.len(),
        spans.resp_bytes.len(),
        spans.trace_offset.len(),
        spans.span_id.len(),
        spans.parent_offset.len(),
    ])?;
    let mut excerpts = ExcerptColumns {
        span_id: t.u64s_delta()?,
        request_id: t.u32s()?,
        response_id: t.u32s()?,
        text_id: t.u32s()?,
        text: t.strings()?,
        bytes: 0,
    };
    excerpts.bytes = excerpts.text.iter().map(String::len).sum();
    same_len(&[
        excerpts.span_id.len(),
        excerpts.request_id.len(),
        excerpts.response_id.len(),
    ])?;
    same_len(&[excerpts.text_id.len(), excerpts.text.len()])?;
    let flows = FlowColumns {
        start_ns: t.i64s_delta()?,
        end_ns: t.i64s_delta()?,
        process_id: t.u32s()?,
        local_id: t.u32s()?,
        remote_id: t.u32s()?,
        bytes_sent: t.u64s()?,
        bytes_received: t.u64s()?,
        rtt_us: t.opts(Take::u32)?,
        retransmits: t.u32s()?,
        resets: t.u32s()?,
        connect_ns: t.opts(Take::zz)?,
        closed: t.bits()?,
    };
    same_len(&[
        flows.start_ns.len(),
        flows.end_ns.len(),
        flows.process_id.len(),
        flows.local_id.len(),
        flows.remote_id.len(),
        flows.bytes_sent.len(),
        flows.bytes_received.len(),
        flows.rtt_us.len(),
        flows.retransmits.len(),
        flows.resets.len(),
        flows.connect_ns.len(),
        flows.closed.len(),
    ])?;
    let samples = SampleColumns {
        ts_ns: t.i64s_delta()?,
        process_id: t.u32s()?,
        tid: t.opts(Take::u32)?,
        off_cpu: t.bits()?,
        stack_id: t.u32s()?,
        count: t.u64s()?,
        blocked_ns: t.u64s()?,
    };
    same_len(&[
        samples.ts_ns.len(),
        samples.process_id.len(),
        samples.tid.len(),
        samples.off_cpu.len(),
        samples.stack_id.len(),
        samples.count.len(),
        samples.blocked_ns.len(),
    ])?;
    Ok(Chunk {
        dicts: PendingDicts {
            strings,
            services,
            processes,
            endpoints,
            addresses,
            frames,
            stacks,
        },
        labels,
        spans,
        excerpts,
        flows,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{chunk, meta};

    /// The fuzz target's seeds (`tests/fixtures/log`, record bodies) are
    /// records this codec reads; `DFLOW_WRITE_SEEDS=1` writes them afresh.
    #[test]
    fn the_fuzz_seeds_decode() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/log");
        let records = [
            ("meta", Record::Meta(meta())),
            ("chunk", Record::Chunk(Box::new(chunk()))),
            ("counters", Record::Counters(vec![("trace".into(), 10, 2)])),
            ("end", Record::End(42)),
        ];
        for (name, record) in &records {
            let path = dir.join(format!("{name}.bin"));
            if std::env::var_os("DFLOW_WRITE_SEEDS").is_some() {
                let mut buf = Vec::new();
                put_any_record(&mut buf, record);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &buf[8..]).unwrap();
            }
            let body = std::fs::read(&path).unwrap();
            let back = decode(&body).unwrap();
            assert_eq!(format!("{back:?}"), format!("{record:?}"), "{name}");
        }
    }

    #[test]
    fn records_decode_to_what_was_encoded() {
        let c = chunk();
        let mut buf = Vec::new();
        put_chunk_record(&mut buf, &c);
        put_meta_record(&mut buf, &meta());
        put_end_records(&mut buf, &[("trace".into(), 10, 2)], 42);
        let mut log = Vec::new();
        put_header(&mut log, 7);
        log.extend_from_slice(&buf);
        let mut r = LogReader::new(log.as_slice()).map(|r| (r.pid, r)).unwrap();
        assert_eq!(r.0, 7);
        let Some(Record::Chunk(back)) = r.1.next_record().unwrap() else {
            panic!()
        };
        assert_eq!(format!("{back:?}"), format!("{c:?}"));
        assert!(matches!(r.1.next_record().unwrap(), Some(Record::Meta(_))));
        assert!(matches!(
            r.1.next_record().unwrap(),
            Some(Record::Counters(_))
        ));
        assert!(matches!(r.1.next_record().unwrap(), Some(Record::End(42))));
        assert!(r.1.next_record().unwrap().is_none() && r.1.torn.is_none());
    }

    #[test]
    fn hostile_bodies_are_corrupt_not_a_panic() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut buf = Vec::new();
        put_chunk(&mut Put(&mut buf), &chunk());
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut body = vec![TAG_CHUNK];
            body.extend_from_slice(&buf);
            let i = 1 + (rng as usize % buf.len());
            body[i] = (rng >> 32) as u8;
            body.truncate(1 + ((rng >> 40) as usize % (buf.len() + 1)));
            let _ = decode(&body);
        }
        assert!(
            decode(&[
                TAG_CHUNK, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ])
            .is_err()
        );
    }
}
