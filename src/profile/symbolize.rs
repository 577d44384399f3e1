//! Instruction pointers → frames, with blazesym.
//!
//! User addresses are resolved through a snapshot of the process's
//! executable mappings ([`ProcessMaps`]), taken while it is alive: an
//! address becomes (file, file offset), and the file is symbolized from its
//! ELF symbol tables and DWARF (demangled, with inlined frames where debug
//! info has them). So a process that exits before the profile ends is still
//! named. Kernel addresses go through kallsyms. blazesym caches each parsed
//! file, so a binary is read once per profile.

use std::path::{Path, PathBuf};

use blazesym::symbolize::source::{Elf, Kernel, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer as Blaze};

use crate::event::Frame;

/// One executable file mapping of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// Offset in the file of `start`.
    pub offset: u64,
    pub path: PathBuf,
}

/// The executable file mappings of a process at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessMaps(Vec<Mapping>);

impl ProcessMaps {
    /// Reads /proc/PID/maps. Right after a fork+exec the new image may not
    /// be mapped yet: take the snapshot when the process is first sampled.
    pub fn capture(pid: u32) -> std::io::Result<ProcessMaps> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
        Ok(ProcessMaps::parse(&text))
    }

    /// Keeps the executable mappings backed by a file.
    pub fn parse(text: &str) -> ProcessMaps {
        let maps = text
            .lines()
            .filter_map(|line| {
                let mut f = line.split_whitespace();
                let (start, end) = f.next()?.split_once('-')?;
                let perms = f.next()?;
                let offset = u64::from_str_radix(f.next()?, 16).ok()?;
                let path = f.nth(2)?;
                if !perms.contains('x') || !path.starts_with('/') {
                    return None;
                }
                Some(Mapping {
                    start: u64::from_str_radix(start, 16).ok()?,
                    end: u64::from_str_radix(end, 16).ok()?,
                    offset,
                    path: PathBuf::from(path),
                })
            })
            .collect();
        ProcessMaps(maps)
    }

    /// The file and file offset of `addr`.
    pub fn locate(&self, addr: u64) -> Option<(&Path, u64)> {
        self.0
            .iter()
            .find(|m| (m.start..m.end).contains(&addr))
            .map(|m| (m.path.as_path(), addr - m.start + m.offset))
    }
}

/// Turns stacks of addresses into frames.
pub struct Symbolizer {
    inner: Blaze,
}

impl std::fmt::Debug for Symbolizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Symbolizer")
    }
}

impl Default for Symbolizer {
    fn default() -> Self {
        Symbolizer {
            inner: Blaze::new(),
        }
    }
}

fn push_symbolized(
    frames: &mut Vec<Frame>,
    sym: Symbolized<'_>,
    module: &str,
    kernel: bool,
    fallback: String,
) {
    match sym.into_sym() {
        Some(sym) => {
            frames.push(Frame {
                function: sym.name.into_owned(),
                module: module.to_owned(),
                kernel,
            });
            // Outer to inner, as a root-to-leaf stack reads.
            for inlined in sym.inlined.iter() {
                frames.push(Frame {
                    function: inlined.name.to_string(),
                    module: module.to_owned(),
                    kernel,
                });
            }
        }
        None => frames.push(Frame {
            function: fallback,
            module: module.to_owned(),
            kernel,
        }),
    }
}

impl Symbolizer {
    /// Frames of a user stack, root first; `ips` come innermost first, as
    /// the kernel reports them. An address no mapping or symbol covers
    /// becomes `[unknown]` (with its module and offset when known).
    pub fn user(&self, maps: &ProcessMaps, ips: &[u64]) -> Vec<Frame> {
        let mut frames = Vec::with_capacity(ips.len());
        for &ip in ips.iter().rev() {
            let Some((path, offset)) = maps.locate(ip) else {
                frames.push(Frame {
                    function: "[unknown]".to_owned(),
                    module: "[unknown]".to_owned(),
                    kernel: false,
                });
                continue;
            };
            let module = path.display().to_string();
            let src = Source::Elf(Elf::new(path));
            let fallback = format!("[unknown] {}+{offset:#x}", base_name(path));
            match self.inner.symbolize_single(&src, Input::FileOffset(offset)) {
                Ok(sym) => push_symbolized(&mut frames, sym, &module, false, fallback),
                Err(_) => frames.push(Frame {
                    function: fallback,
                    module,
                    kernel: false,
                }),
            }
        }
        frames
    }

    /// Frames of a kernel stack, root first, from kallsyms.
    pub fn kernel(&self, ips: &[u64]) -> Vec<Frame> {
        let src = Source::Kernel(Kernel::default());
        let rooted: Vec<u64> = ips.iter().rev().copied().collect();
        let mut frames = Vec::with_capacity(ips.len());
        match self.inner.symbolize(&src, Input::AbsAddr(&rooted)) {
            Ok(syms) => {
                for (sym, ip) in syms.into_iter().zip(&rooted) {
                    push_symbolized(
                        &mut frames,
                        sym,
                        "kernel",
                        true,
                        format!("[kernel] {ip:#x}"),
                    );
                }
            }
            Err(_) => frames.extend(rooted.iter().map(|ip| Frame {
                function: format!("[kernel] {ip:#x}"),
                module: "kernel".to_owned(),
                kernel: true,
            })),
        }
        frames
    }
}

fn base_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_keep_executable_file_mappings() {
        let text = "\
00400000-00401000 r--p 00000000 fd:00 123 /tmp/burn
00401000-00402000 r-xp 00001000 fd:00 123 /tmp/burn
7f0000000000-7f0000100000 r-xp 00028000 fd:00 456 /usr/lib/x86_64-linux-gnu/libc.so.6
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0 [vdso]
";
        let maps = ProcessMaps::parse(text);
        assert_eq!(maps.0.len(), 2);
        assert_eq!(
            maps.locate(0x401010),
            Some((Path::new("/tmp/burn"), 0x1010))
        );
        assert_eq!(
            maps.locate(0x7f0000000100),
            Some((Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6"), 0x28100))
        );
        assert_eq!(maps.locate(0x400010), None, "not executable");
        assert_eq!(maps.locate(0x7ffd00100010), None, "not a file");
    }

    #[test]
    fn resolves_this_test_binary() {
        let here = maps_here();
        let ip = resolves_this_test_binary as *const () as u64;
        let frames = Symbolizer::default().user(&here, &[ip]);
        assert_eq!(frames.len(), 1);
        assert!(
            frames[0].function.ends_with("resolves_this_test_binary"),
            "{:?}",
            frames[0]
        );
        let unknown = Symbolizer::default().user(&here, &[8]);
        assert_eq!(unknown[0].function, "[unknown]");
    }

    fn maps_here() -> ProcessMaps {
        ProcessMaps::capture(std::process::id()).unwrap()
    }
}
