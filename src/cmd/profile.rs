//! `dflow profile`: sample stacks ([`crate::app::profile`] through
//! [`crate::app`]'s loop) or read a stored profile, show them, and write
//! the SVG, folded and pprof files at the end.

use std::io::{self, Write};
use std::path::Path;

use crate::app::{self, profile::ProfileCapture};
use crate::config::{CaptureConfig, OutputConfig, ProfileConfig, ProfileSource, SamplerConfig};
use crate::profile::fold::{Profile, Roots};
use crate::profile::output::PprofMeta;
use crate::profile::session as stored;

pub fn run(config: &ProfileConfig, output: &OutputConfig) -> anyhow::Result<()> {
    match &config.source {
        ProfileSource::Session(file) => from_session(file, config, output),
        ProfileSource::Sample { capture, sampler } => sample(capture, sampler, config, output),
    }
}

/// `--from FILE`: the stored profile through the same fold and outputs.
fn from_session(file: &Path, config: &ProfileConfig, output: &OutputConfig) -> anyhow::Result<()> {
    let stored = stored::load(file)?;
    let meta = PprofMeta {
        mode: stored.profile.mode(),
        hz: stored.profile.hz(),
        start_ns: stored.started_ns,
        duration_ns: stored.duration_ns(),
    };
    let title = format!("dflow profile of {}", file.display());
    if config.tui && !config.outputs.any() {
        return crate::cmd::replay::flame_view(&stored);
    }
    crate::app::files::write(
        &stored.profile,
        &config.outputs,
        &meta,
        &title,
        false,
        output,
    )
}

/// A stored profile with no file outputs and no terminal: folded on stdout.
pub fn print_folded(profile: &Profile, out: &mut impl Write) -> io::Result<()> {
    profile.fold(Roots::Process).write(out)?;
    out.flush()
}

fn sample(
    capture: &CaptureConfig,
    sampler: &SamplerConfig,
    config: &ProfileConfig,
    output: &OutputConfig,
) -> anyhow::Result<()> {
    app::live("profile", capture, config.tui, output.quiet, |started| {
        ProfileCapture::start(config, capture, sampler, output, started)
    })
}
