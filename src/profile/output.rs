//! The file outputs of `dflow profile`, all made from [`Folded`] stacks:
//! the folded text itself, a flame graph SVG (inferno, as a library) and a
//! gzipped pprof profile (prost, with the messages of pprof's profile.proto).
//!
//! Every output is deterministic: the same folded stacks give the same
//! bytes, so outputs can be snapshot-tested and diffed between runs.

use std::collections::HashMap;
use std::io::{self, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use inferno::flamegraph::color::{Color, PaletteMap};
use inferno::flamegraph::{self, Options};
use prost::Message;

use crate::config::Mode;
use crate::event::Frame;
use crate::profile::fold::{Folded, FrameKind, PROCESS_MODULE, Weight};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write the profile output: {0}")]
    Io(#[from] io::Error),
    #[error("no samples were recorded, so there is no flame graph to draw")]
    Empty,
    #[error("inferno cannot draw the flame graph: {0}")]
    Svg(String),
}

/// What the flame graph's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvgOptions {
    pub title: String,
    pub subtitle: Option<String>,
}

/// An interactive flame graph SVG drawn by inferno.
///
/// An empty profile is [`OutputError::Empty`]: inferno would draw an SVG
/// that only says "ERROR: No valid input" and fail with "No stack counts
/// found". The SVG is drawn in memory first, so a failure leaves `out`
/// untouched.
pub fn write_svg(
    folded: &Folded,
    opts: &SvgOptions,
    out: &mut impl Write,
) -> Result<(), OutputError> {
    if folded.total() == 0 {
        return Err(OutputError::Empty);
    }
    let lines = folded.lines();
    let mut palette = palette(folded, &lines);
    let mut options = Options::default();
    options.title = opts.title.clone();
    options.subtitle = opts.subtitle.clone();
    options.count_name = folded.weight.unit().to_owned();
    // Every frame has its colour in the palette map; should inferno still
    // pick one (the `all` root), it hashes the name instead of drawing a
    // random number, so two renders are byte-identical.
    options.deterministic = true;
    options.palette_map = Some(&mut palette);
    let mut svg = Vec::new();
    flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)
        .map_err(|e| OutputError::Svg(e.to_string()))?;
    out.write_all(&svg)?;
    Ok(())
}

/// A colour for each frame name, by the frame's [`FrameKind`].
///
/// inferno's semantic palettes guess a frame's kind from its name (the java
/// palette calls every dotted name Java, so a Go program would be all green,
/// and kernel frames need a `_[k]` suffix); dflow knows each frame's kind, so
/// it fills inferno's palette map instead. Names are the folded lines' (a
/// `;` in a name is already replaced there), which inferno looks colours up
/// by. A name seen as two kinds keeps the colour of the first stack it is in.
fn palette(folded: &Folded, lines: &[String]) -> PaletteMap {
    let mut palette = PaletteMap::default();
    for (line, stack) in lines.iter().zip(&folded.stacks) {
        let names = line
            .rsplit_once(' ')
            .map_or(line.as_str(), |(names, _)| names);
        for (name, frame) in names.split(';').zip(&stack.frames) {
            if palette.get(name).is_none() {
                palette.insert(name, colour(FrameKind::of(frame), name));
            }
        }
    }
    palette
}

/// A shade of the kind's colour family, chosen by a hash of the name so a
/// function keeps its colour from one profile to the next. The families are
/// those of inferno's java palette for `perf` stacks (program red, kernel
/// orange, libraries yellow, as C++ code is there), and what dflow adds in
/// cool colours so that it does not read as code.
fn colour(kind: FrameKind, name: &str) -> Color {
    let v = shade(name);
    let t = |base: u8, range: f32| base + (range * v) as u8;
    let (r, g, b) = match kind {
        FrameKind::User => (t(200, 55.0), t(50, 80.0), t(50, 80.0)),
        FrameKind::Library => (t(175, 55.0), t(175, 55.0), t(50, 20.0)),
        FrameKind::Kernel => (t(190, 65.0), t(90, 65.0), 0),
        FrameKind::Process => (t(190, 40.0), t(120, 40.0), t(190, 40.0)),
        FrameKind::Dflow => (t(80, 40.0), t(165, 40.0), t(190, 40.0)),
    };
    Color { r, g, b }
}

/// A number in [0, 1) from the name's FNV-1a hash: stable across runs,
/// machines and Rust versions, which `std`'s hasher does not promise.
fn shade(name: &str) -> f32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // The top 24 bits, exact in an f32.
    (hash >> 40) as f32 / (1u32 << 24) as f32
}

/// The pprof messages, written by hand as prost structs that mirror
/// <https://github.com/google/pprof/blob/main/proto/profile.proto> field for
/// field (same numbers, types and packing): generating them with
/// prost-build needs `protoc` at build time, which dflow does not require.
/// Fields numbered after `default_sample_type` (14) and `Line.column` are
/// left out: dflow does not write them, and a decoder skips them.
pub mod pprof {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub mapping: Vec<Mapping>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        /// `string_table[0]` must be "".
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "7")]
        pub drop_frames: i64,
        #[prost(int64, tag = "8")]
        pub keep_frames: i64,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub period: i64,
        #[prost(int64, repeated, tag = "13")]
        pub comment: Vec<i64>,
        #[prost(int64, tag = "14")]
        pub default_sample_type: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// Leaf first.
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(int64, tag = "1")]
        pub key: i64,
        #[prost(int64, tag = "2")]
        pub str: i64,
        #[prost(int64, tag = "3")]
        pub num: i64,
        #[prost(int64, tag = "4")]
        pub num_unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Mapping {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub memory_start: u64,
        #[prost(uint64, tag = "3")]
        pub memory_limit: u64,
        #[prost(uint64, tag = "4")]
        pub file_offset: u64,
        #[prost(int64, tag = "5")]
        pub filename: i64,
        #[prost(int64, tag = "6")]
        pub build_id: i64,
        #[prost(bool, tag = "7")]
        pub has_functions: bool,
        #[prost(bool, tag = "8")]
        pub has_filenames: bool,
        #[prost(bool, tag = "9")]
        pub has_line_numbers: bool,
        #[prost(bool, tag = "10")]
        pub has_inline_frames: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub mapping_id: u64,
        #[prost(uint64, tag = "3")]
        pub address: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
        #[prost(bool, tag = "5")]
        pub is_folded: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
        #[prost(int64, tag = "5")]
        pub start_line: i64,
    }
}

/// What a pprof profile records besides the stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PprofMeta {
    pub mode: Mode,
    pub hz: u32,
    /// Unix epoch ns of the profile's start.
    pub start_ns: i64,
    pub duration_ns: i64,
}

/// Label naming the process (or thread) a sample comes from.
pub const PROCESS_LABEL: &str = "process";

/// A gzipped pprof profile, as `go tool pprof` and the tools built on it
/// (Pyroscope, Grafana, Speedscope…) read.
///
/// Sample values, by what was profiled:
/// - on-CPU only: `samples/count` and `cpu/nanoseconds` (samples × the
///   sampling period), with period type `cpu/nanoseconds`, as Go's CPU
///   profiles do;
/// - off-CPU only: `off_cpu/microseconds`, the time blocked;
/// - both: `time/microseconds`, on-CPU samples × the period and off-CPU
///   blocked time, as the folded stacks weigh them; the stacks keep their
///   `[on-cpu]`/`[off-cpu]` frame to tell the two apart.
///
/// The root frame naming the process becomes the sample label `process`
/// rather than a location, because pprof filters and groups by labels
/// (`-tagfocus process=app-7`, `-tagroot process` to draw it as a root
/// again). Frames dflow adds below it (`[on-cpu]`, `[truncated]`) stay
/// locations. An empty profile is written as a valid profile with no
/// samples.
pub fn write_pprof(
    folded: &Folded,
    meta: &PprofMeta,
    out: &mut impl Write,
) -> Result<(), OutputError> {
    let profile = pprof_profile(folded, meta);
    let mut gz = GzEncoder::new(out, Compression::default());
    gz.write_all(&profile.encode_to_vec())?;
    gz.finish()?;
    Ok(())
}

fn pprof_profile(folded: &Folded, meta: &PprofMeta) -> pprof::Profile {
    let period_ns = 1_000_000_000 / i64::from(meta.hz.max(1));
    let mut b = PprofBuilder::default();
    let mut profile = pprof::Profile {
        time_nanos: meta.start_ns,
        duration_nanos: meta.duration_ns,
        ..Default::default()
    };
    let sample_types: &[(&str, &str)] = match folded.weight {
        Weight::Samples => {
            profile.period_type = Some(b.value_type("cpu", "nanoseconds"));
            profile.period = period_ns;
            &[("samples", "count"), ("cpu", "nanoseconds")]
        }
        // Off-CPU time is traced, not sampled: no period.
        Weight::Micros if meta.mode.on_cpu => &[("time", "microseconds")],
        Weight::Micros => &[("off_cpu", "microseconds")],
    };
    profile.sample_type = sample_types
        .iter()
        .map(|(kind, unit)| b.value_type(kind, unit))
        .collect();
    let comment = format!("dflow profile, {} at {} Hz", meta.mode.name(), meta.hz);
    profile.comment = vec![b.string(&comment)];

    // pprof takes the first mapping for the main binary (the `File:` it
    // prints), so programs are numbered before libraries, the kernel and
    // pseudo-modules such as `[unknown]`.
    for frame in folded.stacks.iter().flat_map(|s| &s.frames) {
        if FrameKind::of(frame) == FrameKind::User && !frame.module.starts_with('[') {
            b.mapping(&frame.module);
        }
    }

    for stack in &folded.stacks {
        let value = i64::try_from(stack.value).unwrap_or(i64::MAX);
        let value = match folded.weight {
            Weight::Samples => vec![value, value.saturating_mul(period_ns)],
            Weight::Micros => vec![value],
        };
        let (label, frames) = match stack.frames.split_first() {
            Some((root, rest)) if root.module == PROCESS_MODULE => {
                let label = pprof::Label {
                    key: b.string(PROCESS_LABEL),
                    str: b.string(&root.function),
                    ..Default::default()
                };
                (vec![label], rest)
            }
            _ => (Vec::new(), &stack.frames[..]),
        };
        let location_id = frames.iter().rev().map(|f| b.location(f)).collect();
        profile.sample.push(pprof::Sample {
            location_id,
            value,
            label,
        });
    }

    profile.mapping = b.mappings;
    profile.location = b.locations;
    profile.function = b.functions;
    profile.string_table = b.strings;
    profile
}

/// The tables of a pprof profile, each entry added once and numbered in
/// order of first use (so the same stacks give the same profile).
struct PprofBuilder {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    mappings: Vec<pprof::Mapping>,
    mapping_ids: HashMap<String, u64>,
    functions: Vec<pprof::Function>,
    function_ids: HashMap<(String, String), u64>,
    locations: Vec<pprof::Location>,
    location_ids: HashMap<Frame, u64>,
}

impl Default for PprofBuilder {
    fn default() -> PprofBuilder {
        PprofBuilder {
            // string_table[0] must be "".
            strings: vec![String::new()],
            string_ids: HashMap::from([(String::new(), 0)]),
            mappings: Vec::new(),
            mapping_ids: HashMap::new(),
            functions: Vec::new(),
            function_ids: HashMap::new(),
            locations: Vec::new(),
            location_ids: HashMap::new(),
        }
    }
}

impl PprofBuilder {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = self.strings.len() as i64;
        self.strings.push(s.to_owned());
        self.string_ids.insert(s.to_owned(), id);
        id
    }

    fn value_type(&mut self, kind: &str, unit: &str) -> pprof::ValueType {
        pprof::ValueType {
            r#type: self.string(kind),
            unit: self.string(unit),
        }
    }

    /// One mapping per module, without addresses: frames arrive symbolized,
    /// so the mapping only names the binary (pprof's `-show_from`,
    /// `File:` header) and says that functions are known.
    fn mapping(&mut self, module: &str) -> u64 {
        if let Some(&id) = self.mapping_ids.get(module) {
            return id;
        }
        let id = self.mappings.len() as u64 + 1;
        let filename = self.string(module);
        self.mappings.push(pprof::Mapping {
            id,
            filename,
            has_functions: true,
            ..Default::default()
        });
        self.mapping_ids.insert(module.to_owned(), id);
        id
    }

    fn function(&mut self, frame: &Frame) -> u64 {
        let key = (frame.function.clone(), frame.module.clone());
        if let Some(&id) = self.function_ids.get(&key) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        let name = self.string(&frame.function);
        let filename = self.string(&frame.module);
        self.functions.push(pprof::Function {
            id,
            name,
            system_name: name,
            filename,
            start_line: 0,
        });
        self.function_ids.insert(key, id);
        id
    }

    fn location(&mut self, frame: &Frame) -> u64 {
        if let Some(&id) = self.location_ids.get(frame) {
            return id;
        }
        let id = self.locations.len() as u64 + 1;
        let mapping_id = self.mapping(&frame.module);
        let function_id = self.function(frame);
        self.locations.push(pprof::Location {
            id,
            mapping_id,
            line: vec![pprof::Line {
                function_id,
                line: 0,
            }],
            ..Default::default()
        });
        self.location_ids.insert(frame.clone(), id);
        id
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::Arc;

    use flate2::read::GzDecoder;
    use quick_xml::events::Event;

    use super::*;
    use crate::event::{Process, ProcessRef, Sample};
    use crate::profile::fold::{Profile, Roots, stack};

    fn process(pid: u32, comm: &str) -> ProcessRef {
        Arc::new(Process::bare(pid, comm))
    }

    /// `name@module` frames; the module `kernel` makes a kernel frame.
    fn sample(p: &ProcessRef, tid: u32, off_cpu: bool, frames: &[&str], count: u64) -> Sample {
        let frames = frames
            .iter()
            .map(|f| {
                let (function, module) = f.split_once('@').expect("name@module");
                Frame {
                    function: function.to_owned(),
                    module: module.to_owned(),
                    kernel: module == "kernel",
                }
            })
            .collect();
        Sample {
            ts_ns: 0,
            process: p.clone(),
            tid: Some(tid),
            off_cpu,
            stack: stack(frames),
            count,
            blocked_ns: if off_cpu { count * 1_000_000 } else { 0 },
        }
    }

    const APP: &str = "/usr/bin/app";
    const LIBC: &str = "/usr/lib/x86_64-linux-gnu/libc.so.6";

    /// Two processes, one with two threads; user, library, kernel and
    /// dflow frames; names that XML must escape. With `off_cpu`, two
    /// blocked stacks besides.
    fn profile(mode: Mode) -> Profile {
        let app = process(7, "app");
        let db = process(12, "db");
        let mut prof = Profile::new(mode, 100);
        let push_back = format!("std::vector<int>::push_back@{APP}");
        let malloc = format!("malloc@{LIBC}");
        let write = format!("write@{LIBC}");
        let start = format!("_start@{APP}");
        let main = format!("main@{APP}");
        let handle = format!("handle_request@{APP}");
        let on_cpu = [
            sample(
                &app,
                7,
                false,
                &[&start, &main, &handle, &push_back, &malloc],
                5,
            ),
            sample(
                &app,
                8,
                false,
                &[&start, &main, &handle, &push_back, &malloc],
                2,
            ),
            sample(
                &app,
                8,
                false,
                &[
                    &start,
                    &main,
                    &handle,
                    &write,
                    "entry_SYSCALL_64@kernel",
                    "ksys_write@kernel",
                ],
                3,
            ),
            sample(
                &app,
                7,
                false,
                &["[truncated]@[dflow]", "inner@/usr/lib/libfoo.so.1"],
                1,
            ),
            sample(
                &db,
                12,
                false,
                &["main@/usr/sbin/db", "Query::operator&&@/usr/sbin/db"],
                2,
            ),
            sample(
                &db,
                13,
                false,
                &["ret_from_fork@kernel", "kthread@kernel"],
                1,
            ),
        ];
        let off_cpu = [
            sample(
                &app,
                7,
                true,
                &[&start, &main, &handle, &write, "schedule@kernel"],
                4,
            ),
            sample(&db, 12, true, &["main@/usr/sbin/db", "schedule@kernel"], 6),
        ];
        if mode.on_cpu {
            prof.extend(&on_cpu);
        }
        if mode.off_cpu {
            prof.extend(&off_cpu);
        }
        prof
    }

    fn folded(mode: Mode) -> Folded {
        profile(mode).fold(Roots::Process)
    }

    fn svg_options() -> SvgOptions {
        SvgOptions {
            title: "dflow profile".to_owned(),
            subtitle: Some("on-cpu, 100 Hz".to_owned()),
        }
    }

    fn render_svg(folded: &Folded) -> String {
        let mut out = Vec::new();
        write_svg(folded, &svg_options(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn folded_output_snapshot() {
        let mut out = Vec::new();
        folded(Mode::ON_CPU).write(&mut out).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }

    #[test]
    fn folded_output_snapshot_both_modes() {
        let mut out = Vec::new();
        folded(Mode::BOTH).write(&mut out).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }

    /// Each frame's `<title>` text (unescaped) and its rectangle's fill,
    /// from an SVG read to its end by an XML parser.
    fn svg_frames(svg: &str) -> Vec<(String, String)> {
        let mut reader = quick_xml::Reader::from_str(svg);
        let mut frames = Vec::new();
        let mut title: Option<String> = None;
        let mut in_title = false;
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Eof => break,
                Event::Start(e) if e.name().as_ref() == b"title" => {
                    in_title = true;
                    title = Some(String::new());
                }
                Event::End(e) if e.name().as_ref() == b"title" => in_title = false,
                Event::Text(t) if in_title => {
                    title.as_mut().unwrap().push_str(&t.decode().unwrap());
                }
                // Entities come as their own events; unescaped below.
                Event::GeneralRef(r) if in_title => {
                    let raw = format!("&{};", r.decode().unwrap());
                    title.as_mut().unwrap().push_str(&raw);
                }
                Event::Empty(e) if e.name().as_ref() == b"rect" => {
                    if let Some(title) = title.take() {
                        let fill = e.try_get_attribute("fill").unwrap().expect("fill");
                        let fill = String::from_utf8(fill.value.into_owned()).unwrap();
                        let title = quick_xml::escape::unescape(&title).unwrap().into_owned();
                        frames.push((title, fill));
                    }
                }
                _ => {}
            }
        }
        frames
    }

    fn fill(c: Color) -> String {
        format!("rgb({},{},{})", c.r, c.g, c.b)
    }

    #[test]
    fn svg_is_well_formed_names_every_frame_and_colours_it_by_kind() {
        let folded = folded(Mode::ON_CPU);
        let svg = render_svg(&folded);
        let frames = svg_frames(&svg);
        assert!(
            frames.iter().any(|(t, _)| t == "all (14 samples, 100%)"),
            "{frames:?}"
        );
        let find = |name: &str| {
            frames
                .iter()
                .find(|(t, _)| t.starts_with(&format!("{name} (")))
                .unwrap_or_else(|| panic!("no frame titled {name} in {frames:?}"))
        };
        for frame in folded.stacks.iter().flat_map(|s| &s.frames) {
            let (_, fill_) = find(&frame.function);
            assert_eq!(
                *fill_,
                fill(colour(FrameKind::of(frame), &frame.function)),
                "{frame:?}"
            );
        }
        assert_eq!(
            find("std::vector<int>::push_back").0,
            "std::vector<int>::push_back (7 samples, 50.00%)"
        );
        let kernel = find("ksys_write").1.clone();
        let user = find("handle_request").1.clone();
        assert!(
            kernel.ends_with(",0)"),
            "kernel frames are orange: {kernel}"
        );
        assert_ne!(kernel, user);
    }

    #[test]
    fn svg_renders_are_byte_identical() {
        let folded = folded(Mode::BOTH);
        let first = render_svg(&folded);
        assert_eq!(first, render_svg(&folded));
        assert!(first.contains(" µs, "), "the count is named after the unit");
    }

    #[test]
    fn empty_profile_has_no_svg() {
        let empty = Folded {
            weight: Weight::Samples,
            stacks: Vec::new(),
        };
        let mut out = Vec::new();
        let err = write_svg(&empty, &svg_options(), &mut out).unwrap_err();
        assert!(matches!(err, OutputError::Empty), "{err}");
        assert!(out.is_empty());
    }

    fn meta(mode: Mode) -> PprofMeta {
        PprofMeta {
            mode,
            hz: 100,
            start_ns: 1_700_000_000_000_000_000,
            duration_ns: 10_000_000_000,
        }
    }

    fn pprof_of(folded: &Folded, mode: Mode) -> pprof::Profile {
        let mut gz = Vec::new();
        write_pprof(folded, &meta(mode), &mut gz).unwrap();
        let mut encoded = Vec::new();
        GzDecoder::new(&gz[..])
            .read_to_end(&mut encoded)
            .expect("gzip");
        pprof::Profile::decode(&encoded[..]).expect("a pprof Profile")
    }

    /// Checks what every pprof profile must hold and returns its sample
    /// types as `type/unit`.
    fn check_pprof(folded: &Folded, p: &pprof::Profile) -> Vec<String> {
        let s = |i: i64| p.string_table[usize::try_from(i).unwrap()].as_str();
        assert_eq!(p.string_table[0], "");
        let total: i64 = p.sample.iter().map(|x| x.value[0]).sum();
        assert_eq!(u64::try_from(total).unwrap(), folded.total());
        assert_eq!(p.sample.len(), folded.stacks.len());
        for (sample, stack) in p.sample.iter().zip(&folded.stacks) {
            assert_eq!(sample.value.len(), p.sample_type.len());
            assert_eq!(u64::try_from(sample.value[0]).unwrap(), stack.value);
            // The root frame became the `process` label.
            let [label] = &sample.label[..] else {
                panic!("one label: {:?}", sample.label)
            };
            assert_eq!(
                (s(label.key), s(label.str)),
                (PROCESS_LABEL, stack.frames[0].function.as_str())
            );
            let mut frames: Vec<(&str, &str)> = sample
                .location_id
                .iter()
                .map(|id| {
                    let loc = &p.location[usize::try_from(*id).unwrap() - 1];
                    assert_eq!(loc.id, *id);
                    let map = &p.mapping[usize::try_from(loc.mapping_id).unwrap() - 1];
                    let [line] = &loc.line[..] else {
                        panic!("one line: {loc:?}")
                    };
                    let f = &p.function[usize::try_from(line.function_id).unwrap() - 1];
                    assert_eq!(f.id, line.function_id);
                    assert_eq!(s(map.filename), s(f.filename));
                    (s(f.name), s(f.filename))
                })
                .collect();
            frames.reverse();
            let expected: Vec<(&str, &str)> = stack.frames[1..]
                .iter()
                .map(|f| (f.function.as_str(), f.module.as_str()))
                .collect();
            assert_eq!(frames, expected);
        }
        assert_eq!(p.time_nanos, meta(Mode::ON_CPU).start_ns);
        assert_eq!(p.duration_nanos, 10_000_000_000);
        p.sample_type
            .iter()
            .map(|t| format!("{}/{}", s(t.r#type), s(t.unit)))
            .collect()
    }

    #[test]
    fn pprof_on_cpu_counts_samples_and_cpu_time_like_go() {
        let folded = folded(Mode::ON_CPU);
        let p = pprof_of(&folded, Mode::ON_CPU);
        assert_eq!(
            check_pprof(&folded, &p),
            ["samples/count", "cpu/nanoseconds"]
        );
        assert_eq!(p.period, 10_000_000, "1 s / 100 Hz");
        let period_type = p.period_type.as_ref().unwrap();
        assert_eq!(
            (
                p.string_table[period_type.r#type as usize].as_str(),
                p.string_table[period_type.unit as usize].as_str()
            ),
            ("cpu", "nanoseconds")
        );
        for sample in &p.sample {
            assert_eq!(sample.value[1], sample.value[0] * 10_000_000);
        }
        // One function per (name, module), one mapping per module.
        let names: Vec<&str> = p
            .function
            .iter()
            .map(|f| p.string_table[f.name as usize].as_str())
            .collect();
        assert_eq!(
            names.iter().filter(|n| **n == "main").count(),
            2,
            "{names:?}"
        );
        assert_eq!(p.mapping.len(), 6, "{:?}", p.mapping);
        assert_eq!(
            p.string_table[p.mapping[0].filename as usize], APP,
            "the main binary comes first"
        );
    }

    #[test]
    fn pprof_off_cpu_and_both_weigh_microseconds() {
        let off = folded(Mode::OFF_CPU);
        assert_eq!(
            check_pprof(&off, &pprof_of(&off, Mode::OFF_CPU)),
            ["off_cpu/microseconds"]
        );
        let both = folded(Mode::BOTH);
        let p = pprof_of(&both, Mode::BOTH);
        assert_eq!(check_pprof(&both, &p), ["time/microseconds"]);
        assert_eq!(p.period_type, None);
    }

    #[test]
    fn pprof_is_deterministic_and_an_empty_profile_is_valid() {
        let folded = folded(Mode::ON_CPU);
        let write = |f: &Folded| {
            let mut out = Vec::new();
            write_pprof(f, &meta(Mode::ON_CPU), &mut out).unwrap();
            out
        };
        assert_eq!(write(&folded), write(&folded));
        let empty = Folded {
            weight: Weight::Samples,
            stacks: Vec::new(),
        };
        let p = pprof_of(&empty, Mode::ON_CPU);
        assert!(p.sample.is_empty());
        assert_eq!(check_pprof(&empty, &p).len(), 2);
    }
}
