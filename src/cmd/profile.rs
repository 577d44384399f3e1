//! `dflow profile`: sample stacks (or read a stored profile), show them
//! live, and write the SVG, folded and pprof files at the end.
//!
//! One loop for both front ends: every [`TICK`] newly sampled processes are
//! read from /proc, every [`POLL`] the kernel's counts are read into the
//! [`Profile`] and the session; the terminal view (or nothing, without a
//! terminal) gets the profile and a status after each poll.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::config::{CaptureConfig, OutputConfig, ProfileConfig, ProfileOutputs, ProfileSource};
use crate::output::events;
use crate::output::progress::Progress;
use crate::profile::fold::{Folded, Mode, Profile, Roots, Summary};
use crate::profile::output::{self as files, OutputError, PprofMeta, SvgOptions};
use crate::profile::sampler::{Sampler, SamplerConfig};
use crate::profile::session as stored;
use crate::signal::Shutdown;
use crate::store::writer::unix_ns_now;
use crate::store::{SessionKind, SessionWriter};
use crate::tui::flame::{FlameState, Status};

/// How often new processes are looked up and keys read.
const TICK: Duration = Duration::from_millis(20);
/// How often the kernel's counts are read.
const POLL: Duration = Duration::from_secs(1);

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
    finish_outputs(
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

/// The status bar of a stored profile.
pub fn replay_status(profile: &Profile, lost: u64, elapsed: Duration) -> Status {
    Status {
        live: false,
        lost,
        ..status_of(profile, elapsed)
    }
}

fn status_of(profile: &Profile, elapsed: Duration) -> Status {
    let summary = profile.summary();
    Status {
        hz: profile.hz(),
        mode: profile.mode().name().to_owned(),
        samples: summary.samples,
        lost: 0,
        truncated_pct: summary.truncated_pct(),
        self_cpu_pct: 0.0,
        self_rss_bytes: 0,
        elapsed,
        live: true,
        note: None,
    }
}

fn sample(
    capture: &CaptureConfig,
    sampler_config: &SamplerConfig,
    config: &ProfileConfig,
    output: &OutputConfig,
) -> anyhow::Result<()> {
    crate::privilege::require_probes("profile")?;
    let shutdown = Shutdown::install().context("cannot handle Ctrl-C")?;
    let started = Instant::now();
    let started_ns = unix_ns_now();
    let mut sampler = Sampler::start(sampler_config.clone())?;
    let mode = sampler_config.mode;
    let hz = sampler_config.hz;
    // Before the line that says the capture runs: its session is open.
    let writer = open_session(capture, mode, hz)?;
    if !config.tui && !output.quiet {
        crate::say!(
            "dflow: sampling {} of {} at {hz} Hz{}; Ctrl-C stops",
            mode.name(),
            crate::app::target_text(capture),
            capture
                .duration
                .map(|d| format!(" for {}", humantime::format_duration(d)))
                .unwrap_or_default(),
        );
    }

    let mut profile = Profile::new(mode, hz);
    let mut view = config
        .tui
        .then(|| LiveView::start(status_of(&profile, Duration::ZERO)))
        .transpose()?;
    let deadline = capture.duration.map(|d| started + d);
    let mut next_poll = started + POLL;
    let mut note = None;
    let mut usage = crate::process::Usage::start();
    let stdout = io::stdout();
    let mut json_out = output.json.then(|| stdout.lock());
    // An output that went away (a closed pipe, a terminal that hung up)
    // ends the capture as Ctrl-C does; another error is returned after the
    // session is closed.
    let mut failed = None;
    // Said once, at once, when writing the session fails (a full disk).
    let mut write_failed: Option<String> = None;
    loop {
        if let Some(view) = &mut view {
            match view.wait_key(TICK) {
                Ok(false) => {}
                Ok(true) => break,
                Err(e) => {
                    failed = crate::app::output_stopped(e.into());
                    break;
                }
            }
        } else {
            std::thread::sleep(TICK);
        }
        sampler.discover();
        let now = Instant::now();
        if shutdown.requested() || deadline.is_some_and(|d| now >= d) {
            break;
        }
        // Once the targets are gone sampling stops: the view stays up with
        // the last of the profile until q (the user is likely looking at
        // it); without a view the capture ends.
        let gone = note
            .is_none()
            .then(|| crate::app::all_targets_gone(capture))
            .flatten();
        if gone.is_some() && view.is_none() {
            note = gone;
            break;
        }
        if gone.is_some() || (note.is_none() && now >= next_poll) {
            next_poll += POLL;
            let samples = sampler.poll(&mut |_, _| {})?;
            if let Err(e) = absorb(&mut profile, samples, writer.as_ref(), json_out.as_mut()) {
                json_out = None;
                failed = crate::app::output_stopped(e.into());
                break;
            }
            if write_failed.is_none()
                && let Some(failure) = writer.as_ref().and_then(SessionWriter::failure)
            {
                let text = crate::app::write_failure_note(&failure);
                if view.is_none() {
                    crate::say!("dflow: {text}");
                }
                write_failed = Some(text);
            }
            if let Some(view) = &mut view {
                let mut status = status_of(&profile, started.elapsed());
                status.lost = sampler.counters()?.lost;
                (status.self_cpu_pct, status.self_rss_bytes) = usage.sample();
                let gone = gone.as_ref().map(|g| format!("{g}; q quits"));
                let notes: Vec<&str> = write_failed
                    .iter()
                    .map(String::as_str)
                    .chain(gone.as_deref())
                    .collect();
                status.note = (!notes.is_empty()).then(|| notes.join("; "));
                if let Err(e) = view.show(&profile, status) {
                    failed = crate::app::output_stopped(e.into());
                    break;
                }
            }
            if gone.is_some() {
                note = gone;
            }
        }
    }
    // A SIGHUP comes with a terminal that hung up: what is left to say goes
    // to /dev/null rather than failing.
    crate::tui::terminal::forget_hung_up();
    // Back to the normal screen before the last read, so its progress bar
    // and the summary are seen.
    drop(view);
    let progress = Progress::new(output.quiet, crate::output::progress::SYMBOLIZING);
    let samples = sampler.poll(&mut |done, total| progress.update(done as u64, total as u64))?;
    progress.done();
    if let Err(e) = absorb(&mut profile, samples, writer.as_ref(), json_out.as_mut()) {
        failed = failed.or(crate::app::output_stopped(e.into()));
    }
    let counters = sampler.finish()?;
    let duration_ns = unix_ns_now() - started_ns;
    let closed = crate::app::close_session(writer, "profile", counters, output.quiet);
    if let Some(text) = closed.unwritten_note("sample rows") {
        crate::say!("dflow: {text}");
    }
    if !output.quiet {
        if let Some(note) = &note {
            crate::say!("dflow: {note}; the profile covers what was sampled until then");
        }
        print_summary(
            &profile.summary(),
            mode,
            counters.lost,
            hz,
            started.elapsed(),
        );
    }
    let meta = PprofMeta {
        mode,
        hz,
        start_ns: started_ns,
        duration_ns,
    };
    let title = format!("dflow profile of {}", crate::app::target_text(capture));
    let written = finish_outputs(&profile, &config.outputs, &meta, &title, config.tui, output);
    if let (Some(path), None) = (&closed.path, &closed.error)
        && !output.quiet
    {
        crate::say!("dflow: session {}", path.display());
    }
    match (closed.error, failed) {
        (Some(e), _) | (None, Some(e)) => Err(e),
        (None, None) => written,
    }
}

fn open_session(
    capture: &CaptureConfig,
    mode: Mode,
    hz: u32,
) -> anyhow::Result<Option<SessionWriter>> {
    let writer = crate::app::open_session(capture, SessionKind::Profile)?;
    if let Some(writer) = &writer {
        stored::label(writer, mode, hz);
    }
    Ok(writer)
}

fn absorb(
    profile: &mut Profile,
    samples: Vec<crate::event::Sample>,
    writer: Option<&SessionWriter>,
    json: Option<&mut io::StdoutLock<'_>>,
) -> io::Result<()> {
    profile.extend(&samples);
    // Stored also when printing fails.
    let printed = json.map_or(Ok(()), |out| {
        samples
            .iter()
            .try_for_each(|s| events::sample_json(out, s))
            .and_then(|()| out.flush())
    });
    if let Some(writer) = writer {
        writer.samples(samples);
    }
    printed
}

fn print_summary(s: &Summary, mode: Mode, lost: u64, hz: u32, elapsed: Duration) {
    let mut what = Vec::new();
    if mode.on_cpu {
        what.push(format!(
            "{} at {hz} Hz",
            crate::output::plural(s.samples, "sample")
        ));
    }
    if mode.off_cpu {
        what.push(format!("{:.3} s blocked", s.blocked_ns as f64 / 1e9));
    }
    let mut line = format!(
        "dflow: {} of {} process{} in {:.1} s",
        what.join(" and "),
        s.processes,
        if s.processes == 1 { "" } else { "es" },
        elapsed.as_secs_f64()
    );
    line.push_str(&format!(", {lost} lost"));
    crate::say!("{line}");
    if s.truncated > 0 {
        let mut line = format!(
            "dflow: {:.1}% of stacks truncated (unwound with frame pointers)",
            s.truncated_pct()
        );
        // The first few; the session and --folded output keep every stack.
        const SHOWN: usize = 4;
        let lacking = &s.lacking_frame_pointers;
        if !lacking.is_empty() {
            line.push_str(&format!(
                "; built without them: {}",
                lacking[..lacking.len().min(SHOWN)].join(", ")
            ));
            if lacking.len() > SHOWN {
                line.push_str(&format!(" and {} more", lacking.len() - SHOWN));
            }
        }
        crate::say!("{line}");
    }
}

/// Writes each requested file; one failing does not stop the others. With
/// no file requested and no terminal view, the folded stacks go to stdout.
fn finish_outputs(
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

/// The live terminal view: restores the terminal when dropped.
struct LiveView {
    terminal: crate::tui::terminal::Tui,
    state: FlameState,
}

impl LiveView {
    fn start(status: Status) -> anyhow::Result<LiveView> {
        let terminal =
            crate::tui::terminal::Tui::enter().context("cannot start the terminal view")?;
        let mut view = LiveView {
            terminal,
            state: FlameState::new(true),
        };
        view.state.update(crate::tui::flame::Msg::Status(status));
        view.draw()?;
        Ok(view)
    }

    fn draw(&mut self) -> io::Result<()> {
        let state = &self.state;
        self.terminal
            .draw(|frame| crate::tui::flame::render(state, frame))?;
        Ok(())
    }

    fn show(&mut self, profile: &Profile, status: Status) -> io::Result<()> {
        self.state
            .update(crate::tui::flame::Msg::Profile(profile.clone()));
        self.state.update(crate::tui::flame::Msg::Status(status));
        self.draw()
    }

    /// Handles keys for up to `timeout`; true when the user quits.
    fn wait_key(&mut self, timeout: Duration) -> io::Result<bool> {
        crate::tui::pump(&mut self.terminal, &mut self.state, timeout)
    }
}
