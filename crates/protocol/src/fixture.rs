//! Fixture files and their replay, for the parsers' snapshot tests.
//!
//! A fixture is one connection's traffic as the client saw it, in
//! `tests/fixtures/protocol/<protocol>/<case>.bin`: records of one byte
//! `>` (client to server) or `<` (server to client), a big-endian u32
//! length, and that many bytes, each record one syscall. Most were recorded
//! from the real server on loopback; the README of each folder says how.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::framer::Framer;
use super::{Direction, Kind, Options, Parse, Spec, Transport};

/// One syscall of a fixture, from the client's side.
#[derive(Debug, Clone)]
pub struct Record {
    pub dir: Direction,
    pub bytes: Vec<u8>,
}

/// The folder of `protocol`'s fixtures.
pub fn folder(protocol: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/protocol")
        .join(protocol)
}

/// Every `*.bin` fixture of `protocol`, by name, sorted.
pub fn all(protocol: &str) -> Vec<(String, Vec<Record>)> {
    let mut found: Vec<_> = std::fs::read_dir(folder(protocol))
        .expect("the fixture folder exists")
        .map(|e| e.expect("readable fixture folder").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, load(&p))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!found.is_empty(), "no fixtures for {protocol}");
    found
}

pub fn load(path: &Path) -> Vec<Record> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse(mut bytes: &[u8]) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    while let Some((&tag, rest)) = bytes.split_first() {
        let dir = match tag {
            b'>' => Direction::Egress,
            b'<' => Direction::Ingress,
            other => return Err(format!("record tag {other:#x}, expected '>' or '<'")),
        };
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or("record length cut short")?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(format!("record of {len} bytes, {} left", rest.len()));
        }
        records.push(Record {
            dir,
            bytes: rest[..len].to_vec(),
        });
        bytes = &rest[len..];
    }
    Ok(records)
}

/// Which side of the connection replays the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// Replays `records` through `spec`'s parser and the [`Framer`], as a
/// capture with `snaplen` would deliver them, from `side`; one line per
/// unit, for snapshots.
pub fn replay(
    spec: &Spec,
    transport: Transport,
    records: &[Record],
    snaplen: usize,
    side: Side,
    options: Options,
) -> String {
    let mut parser = (spec.new)(options, transport);
    let mut framer = Framer::new(transport);
    let mut text = String::new();
    let mut units = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let dir = match side {
            Side::Client => r.dir,
            Side::Server => r.dir.reverse(),
        };
        let captured = &r.bytes[..r.bytes.len().min(snaplen)];
        units.clear();
        let _ = framer.feed(
            parser.as_mut(),
            dir,
            captured,
            r.bytes.len() as u64,
            &mut units,
        );
        for u in &units {
            let arrow = if dir == Direction::Egress { ">" } else { "<" };
            let _ = match u {
                Parse::Begin { len, message, done } => {
                    let kind = match message.kind {
                        Kind::Request => "request",
                        Kind::Response => "response",
                    };
                    writeln!(
                        text,
                        "#{i} {arrow} begin {kind} len={len} done={done} id={:?} endpoint={:?} status={} code={:?} expects_response={} context={:?}\n    excerpt={:?}",
                        message.id,
                        message.endpoint,
                        message.outcome.status,
                        message.outcome.code,
                        message.expects_response,
                        message.context,
                        message.excerpt,
                    )
                }
                Parse::More { len, outcome, done } => writeln!(
                    text,
                    "#{i} {arrow} more len={len} done={done} outcome={:?}",
                    outcome.as_ref().map(|o| (o.status, o.code.clone()))
                ),
                Parse::Skip { len } => writeln!(text, "#{i} {arrow} skip len={len}"),
                Parse::Abandon { len, requests } => writeln!(
                    text,
                    "#{i} {arrow} more len={len} done=true abandons {requests} requests"
                ),
                Parse::Incomplete | Parse::Invalid => unreachable!("the framer hands out units"),
            };
        }
    }
    let _ = writeln!(text, "desyncs={}", framer.desyncs);
    text
}

/// Every fixture of `protocol`, each as its records' bytes joined: seeds
/// for the no-panic tests' mutations.
pub fn corpus(protocol: &str) -> Vec<Vec<u8>> {
    all(protocol)
        .into_iter()
        .map(|(_, records)| records.into_iter().flat_map(|r| r.bytes).collect())
        .collect()
}

/// A deterministic xorshift64 generator: the no-panic tests' inputs are the
/// same on every run, so a failure reproduces.
pub fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// One connection seen through the [`Framer`], for unit tests: each
/// syscall's units come back as lines in the test's own format.
pub struct Conn {
    parser: Box<dyn super::Parser>,
    pub framer: Framer,
    show: fn(&Parse) -> String,
}

impl Conn {
    pub fn new(
        spec: &Spec,
        options: Options,
        transport: Transport,
        show: fn(&Parse) -> String,
    ) -> Conn {
        Conn {
            parser: (spec.new)(options, transport),
            framer: Framer::new(transport),
            show,
        }
    }

    /// One syscall of `total` bytes of which `data` was captured.
    pub fn feed_cut(&mut self, dir: Direction, data: &[u8], total: usize) -> Vec<String> {
        let mut units = Vec::new();
        let _ = self
            .framer
            .feed(self.parser.as_mut(), dir, data, total as u64, &mut units);
        units.iter().map(self.show).collect()
    }

    /// One whole syscall.
    pub fn feed(&mut self, dir: Direction, data: &[u8]) -> Vec<String> {
        self.feed_cut(dir, data, data.len())
    }
}
