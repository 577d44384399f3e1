//! The files `dflow profile` writes at the end (`-o` SVG, `--folded`,
//! `--pprof`), or the folded stacks on stdout when none is asked for.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;

use crate::config::{OutputConfig, ProfileOutputs};
use crate::profile::fold::{Folded, Profile, Roots};
use crate::profile::output::{self as files, OutputError, PprofMeta, SvgOptions};

/// Writes each requested file; one failing does not stop the others. With
/// no file requested and no terminal view, the folded stacks go to stdout.
pub fn write(
    profile: &Profile,
    outputs: &ProfileOutputs,
    meta: &PprofMeta,
    title: &str,
    tui: bool,
    output: &OutputConfig,
) -> anyhow::Result<()> {
    let folded = profile.fold(Roots::Process);
    if !outputs.any() {
        // The terminal view showed it; --json streamed it.
        if tui || output.json {
            return Ok(());
        }
        let stdout = io::stdout();
        let mut out = stdout.lock();
        folded.write(&mut out)?;
        return out.flush().map_err(Into::into);
    }
    let mut failed = Vec::new();
    let mut wrote = Vec::new();
    if let Some(path) = &outputs.folded {
        match write_file(path, |out| folded.write(out).map_err(OutputError::from)) {
            Ok(()) => wrote.push(path.display().to_string()),
            Err(e) => failed.push(e),
        }
    }
    if let Some(path) = &outputs.pprof {
        match write_file(path, |out| files::write_pprof(&folded, meta, out)) {
            Ok(()) => wrote.push(path.display().to_string()),
            Err(e) => failed.push(e),
        }
    }
    if let Some(path) = &outputs.svg {
        if folded.stacks.is_empty() {
            if !output.quiet {
                crate::say!("dflow: no samples, so no flame graph in {}", path.display());
            }
        } else {
            let opts = svg_options(&folded, title, meta);
            match write_file(path, |out| files::write_svg(&folded, &opts, out)) {
                Ok(()) => wrote.push(path.display().to_string()),
                Err(e) => failed.push(e),
            }
        }
    }
    if !wrote.is_empty() && !output.quiet {
        crate::say!("dflow: wrote {}", wrote.join(", "));
    }
    match failed.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn svg_options(folded: &Folded, title: &str, meta: &PprofMeta) -> SvgOptions {
    SvgOptions {
        title: title.to_owned(),
        subtitle: Some(format!(
            "{} at {} Hz, {} {}",
            meta.mode.name(),
            meta.hz,
            folded.total(),
            folded.weight.unit()
        )),
    }
}

/// Writes the whole file or none of it, naming it in any error.
fn write_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), OutputError>,
) -> anyhow::Result<()> {
    crate::output::file::write_whole(path, write)
        .with_context(|| format!("cannot write {}", path.display()))
}
