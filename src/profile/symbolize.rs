//! Instruction pointers → frames, with blazesym.
//!
//! User addresses are resolved through a snapshot of the process's
//! executable mappings ([`ProcessMaps`](crate::process::ProcessMaps)), taken while it is alive: an
//! address becomes (file, file offset), and the file is symbolized from its
//! ELF symbol tables and DWARF (demangled, with inlined frames where debug
//! info has them). So a process that exits before the profile ends is still
//! named. Kernel addresses go through kallsyms. blazesym caches each parsed
//! file, so a binary is read once per profile.

use std::path::Path;

use blazesym::symbolize::source::{Elf, Kernel, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer as Blaze};

use crate::event::Frame;
use crate::process::ProcessMaps;

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
