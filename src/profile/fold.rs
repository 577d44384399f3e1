//! The fold stage: symbolized samples → folded stacks.
//!
//! [`Profile`] accumulates [`Sample`]s (live, a poll at a time, or from a
//! session) and [`Profile::fold`] turns them into [`Folded`] stacks, the one
//! boundary that the SVG, pprof, the folded file and the terminal view read.
//! Live and replay go through this same converter, so a replayed session
//! folds to exactly what its live run wrote.
//!
//! Each folded stack starts with a root frame naming the process
//! (`comm-pid`, or `comm-pid/tid` per thread, as `inferno-collapse-perf
//! --pid --tid` writes), then, when on- and off-CPU are both profiled, an
//! `[on-cpu]`/`[off-cpu]` frame, then the frames from the outermost caller to
//! the leaf.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};
use std::sync::Arc;

use crate::config::Mode;
use crate::event::{Frame, ProcessRef, Sample, Stack};

/// Pseudo-module of the root frame that names a process or thread.
pub const PROCESS_MODULE: &str = "[process]";
/// Pseudo-module of the frames dflow adds: `[on-cpu]`, `[off-cpu]`, `[truncated]`.
pub const DFLOW_MODULE: &str = "[dflow]";
/// Placed above the outermost frame of a user stack that frame pointers
/// could not unwind to its entry point.
pub const TRUNCATED: &str = "[truncated]";

/// The unit of a folded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// On-CPU samples.
    Samples,
    /// Microseconds: blocked time off-CPU, and on-CPU samples × the sampling
    /// period when both are profiled (so the two compare).
    Micros,
}

impl Weight {
    pub fn unit(self) -> &'static str {
        match self {
            Weight::Samples => "samples",
            Weight::Micros => "µs",
        }
    }
}

/// Which frame stacks hang from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    Process,
    Thread,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    process: ProcessRef,
    tid: Option<u32>,
    off_cpu: bool,
    stack: Stack,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Value {
    count: u64,
    blocked_ns: u64,
}

/// Samples accumulated over a profile.
#[derive(Debug, Clone)]
pub struct Profile {
    mode: Mode,
    hz: u32,
    stacks: HashMap<Key, Value>,
}

/// What the summary and the status bar say about a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// On-CPU samples.
    pub samples: u64,
    /// Off-CPU blocked time.
    pub blocked_ns: u64,
    /// On-CPU samples (or off-CPU blocked ns, when only off-CPU is profiled)
    /// whose stacks are truncated, and the whole they are a share of.
    pub truncated: u64,
    pub truncated_of: u64,
    /// Binaries whose frames end truncated stacks: most likely built
    /// without frame pointers.
    pub lacking_frame_pointers: Vec<String>,
    pub processes: usize,
}

impl Summary {
    /// Truncated share in percent (0 for an empty profile).
    pub fn truncated_pct(&self) -> f64 {
        if self.truncated_of == 0 {
            0.0
        } else {
            100.0 * self.truncated as f64 / self.truncated_of as f64
        }
    }
}

impl Profile {
    pub fn new(mode: Mode, hz: u32) -> Profile {
        Profile {
            mode,
            hz: hz.max(1),
            stacks: HashMap::new(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn hz(&self) -> u32 {
        self.hz
    }

    pub fn add(&mut self, s: &Sample) {
        let v = self
            .stacks
            .entry(Key {
                process: s.process.clone(),
                tid: s.tid,
                off_cpu: s.off_cpu,
                stack: s.stack.clone(),
            })
            .or_default();
        v.count += s.count;
        v.blocked_ns += s.blocked_ns;
    }

    pub fn extend<'a>(&mut self, samples: impl IntoIterator<Item = &'a Sample>) {
        for s in samples {
            self.add(s);
        }
    }

    /// Whether the profile holds per-thread samples (so `t` can split by thread).
    pub fn has_threads(&self) -> bool {
        self.stacks.keys().any(|k| k.tid.is_some())
    }

    pub fn weight(&self) -> Weight {
        if self.mode.off_cpu {
            Weight::Micros
        } else {
            Weight::Samples
        }
    }

    fn value(&self, off_cpu: bool, v: Value) -> u64 {
        match (self.weight(), off_cpu) {
            (Weight::Samples, _) => v.count,
            (Weight::Micros, true) => v.blocked_ns / 1000,
            (Weight::Micros, false) => v.count * 1_000_000 / u64::from(self.hz),
        }
    }

    /// The folded stacks, sorted by their frames, equal stacks merged and
    /// zero-valued ones left out.
    pub fn fold(&self, roots: Roots) -> Folded {
        let marker = |off: bool| Frame {
            function: if off { "[off-cpu]" } else { "[on-cpu]" }.to_owned(),
            module: DFLOW_MODULE.to_owned(),
            kernel: false,
        };
        let mut merged: HashMap<Vec<Frame>, u64> = HashMap::new();
        for (k, v) in &self.stacks {
            let value = self.value(k.off_cpu, *v);
            if value == 0 {
                continue;
            }
            let mut frames = Vec::with_capacity(k.stack.len() + 2);
            let p = &k.process;
            frames.push(Frame {
                function: match (roots, k.tid) {
                    (Roots::Thread, Some(tid)) => format!("{}-{}/{}", p.comm, p.pid, tid),
                    _ => format!("{}-{}", p.comm, p.pid),
                },
                module: PROCESS_MODULE.to_owned(),
                kernel: false,
            });
            if self.mode.on_cpu && self.mode.off_cpu {
                frames.push(marker(k.off_cpu));
            }
            frames.extend(k.stack.iter().cloned());
            *merged.entry(frames).or_default() += value;
        }
        let mut stacks: Vec<FoldedStack> = merged
            .into_iter()
            .map(|(frames, value)| FoldedStack { frames, value })
            .collect();
        stacks.sort_by(|a, b| {
            let names_a = a.frames.iter().map(|f| &f.function);
            let names_b = b.frames.iter().map(|f| &f.function);
            names_a.cmp(names_b).then(a.frames.cmp(&b.frames))
        });
        Folded {
            weight: self.weight(),
            stacks,
        }
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        let mut lacking = BTreeSet::new();
        let mut processes = BTreeSet::new();
        // The truncated share is of what the flame graph is mostly about:
        // on-CPU samples, or blocked time when only off-CPU is profiled.
        let off_only = !self.mode.on_cpu;
        for (k, v) in &self.stacks {
            processes.insert(k.process.pid);
            if k.off_cpu {
                s.blocked_ns += v.blocked_ns;
            } else {
                s.samples += v.count;
            }
            let weight = match (off_only, k.off_cpu) {
                (true, true) => v.blocked_ns,
                (false, false) => v.count,
                _ => continue,
            };
            s.truncated_of += weight;
            if let Some(i) = k.stack.iter().position(|f| f.function == TRUNCATED) {
                s.truncated += weight;
                // The outermost frame from a known binary: unwinding stopped
                // in or just above it (an unresolvable address comes first
                // when the walk went astray).
                if let Some(next) = k.stack[i + 1..].iter().find(|f| {
                    !f.kernel && f.module.starts_with('/') && !f.module.starts_with("/memfd:")
                }) {
                    lacking.insert(next.module.clone());
                }
            }
        }
        s.lacking_frame_pointers = lacking.into_iter().collect();
        s.processes = processes.len();
        s
    }
}

/// One folded stack: frames from the root to the leaf, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedStack {
    pub frames: Vec<Frame>,
    pub value: u64,
}

/// Folded stacks: what every output of a profile is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    pub weight: Weight,
    pub stacks: Vec<FoldedStack>,
}

impl Folded {
    pub fn total(&self) -> u64 {
        self.stacks.iter().map(|s| s.value).sum()
    }

    /// One `frame;frame;… value` line per stack. A `;` or line break inside
    /// a name (hostile or odd symbols) would split it, so it is replaced.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        for line in self.lines() {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    pub fn lines(&self) -> Vec<String> {
        self.stacks
            .iter()
            .map(|s| {
                let mut line = String::new();
                for (i, f) in s.frames.iter().enumerate() {
                    if i > 0 {
                        line.push(';');
                    }
                    line.extend(f.function.chars().map(|c| match c {
                        ';' => ':',
                        '\n' | '\r' => ' ',
                        c => c,
                    }));
                }
                line.push(' ');
                line.push_str(&s.value.to_string());
                line
            })
            .collect()
    }
}

/// A frame dflow adds (process root, `[on-cpu]`, `[truncated]`).
pub fn pseudo_frame(function: &str, module: &str) -> Frame {
    Frame {
        function: function.to_owned(),
        module: module.to_owned(),
        kernel: false,
    }
}

/// What colour family a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A process or thread root.
    Process,
    /// `[on-cpu]`, `[off-cpu]`, `[truncated]`.
    Dflow,
    Kernel,
    /// A shared library (`*.so*`).
    Library,
    /// The program's own code.
    User,
}

impl FrameKind {
    pub fn of(frame: &Frame) -> FrameKind {
        if frame.kernel {
            FrameKind::Kernel
        } else if frame.module == PROCESS_MODULE {
            FrameKind::Process
        } else if frame.module == DFLOW_MODULE {
            FrameKind::Dflow
        } else if frame.module.ends_with(".so") || frame.module.contains(".so.") {
            FrameKind::Library
        } else {
            FrameKind::User
        }
    }
}

/// A stack of frames, root first.
pub fn stack(frames: Vec<Frame>) -> Stack {
    Arc::from(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Process;

    fn process(pid: u32, comm: &str) -> ProcessRef {
        Arc::new(Process::bare(pid, comm))
    }

    fn frame(name: &str, module: &str) -> Frame {
        Frame {
            function: name.to_owned(),
            module: module.to_owned(),
            kernel: module == "kernel",
        }
    }

    fn sample(p: &ProcessRef, tid: u32, off: bool, names: &[&str], count: u64, ns: u64) -> Sample {
        Sample {
            ts_ns: 0,
            process: p.clone(),
            tid: Some(tid),
            off_cpu: off,
            stack: stack(names.iter().map(|n| frame(n, "/bin/app")).collect()),
            count,
            blocked_ns: ns,
        }
    }

    #[test]
    fn merges_threads_per_process_and_splits_them_per_thread() {
        let p = process(7, "app");
        let mut prof = Profile::new(Mode::ON_CPU, 99);
        prof.add(&sample(&p, 7, false, &["main", "hot"], 3, 0));
        prof.add(&sample(&p, 8, false, &["main", "hot"], 2, 0));
        prof.add(&sample(&p, 8, false, &["main", "cold"], 1, 0));
        let mut out = Vec::new();
        prof.fold(Roots::Process).write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "app-7;main;cold 1\napp-7;main;hot 5\n"
        );
        let per_thread = prof.fold(Roots::Thread).lines();
        assert_eq!(
            per_thread,
            [
                "app-7/7;main;hot 3",
                "app-7/8;main;cold 1",
                "app-7/8;main;hot 2"
            ]
        );
    }

    #[test]
    fn both_modes_compare_in_microseconds() {
        let p = process(7, "app");
        let mut prof = Profile::new(Mode::BOTH, 100);
        prof.add(&sample(&p, 7, false, &["main"], 3, 0));
        prof.add(&sample(&p, 7, true, &["main", "nap"], 2, 2_500_000));
        let folded = prof.fold(Roots::Process);
        assert_eq!(folded.weight, Weight::Micros);
        assert_eq!(
            folded.lines(),
            ["app-7;[off-cpu];main;nap 2500", "app-7;[on-cpu];main 30000"]
        );
        assert_eq!(folded.total(), 32500);
    }

    #[test]
    fn names_cannot_break_the_format() {
        let p = process(1, "x");
        let mut prof = Profile::new(Mode::ON_CPU, 99);
        prof.add(&sample(&p, 1, false, &["a;b", "c\nd"], 1, 0));
        assert_eq!(prof.fold(Roots::Process).lines(), ["x-1;a:b;c d 1"]);
    }

    #[test]
    fn summary_names_binaries_ending_truncated_stacks() {
        let p = process(7, "app");
        let mut prof = Profile::new(Mode::ON_CPU, 99);
        let truncated = Sample {
            stack: stack(vec![
                pseudo_frame(TRUNCATED, DFLOW_MODULE),
                frame("inner", "/usr/lib/libfoo.so.1"),
            ]),
            ..sample(&p, 7, false, &[], 1, 0)
        };
        prof.add(&truncated);
        prof.add(&sample(&p, 7, false, &["_start", "main"], 3, 0));
        let s = prof.summary();
        assert_eq!((s.samples, s.truncated, s.truncated_of), (4, 1, 4));
        assert_eq!(s.truncated_pct(), 25.0);
        assert_eq!(s.lacking_frame_pointers, ["/usr/lib/libfoo.so.1"]);
        assert_eq!(
            FrameKind::of(&truncated.stack[1]),
            FrameKind::Library,
            "colour family"
        );
    }
}
