//! `dflow profile` as a [`Capture`]: every tick newly sampled processes
//! are read from /proc, every [`POLL`] the kernel's counts are read into
//! the [`Profile`] and the session (and printed with `--json`); the view
//! gets the profile after each poll. At the end the files asked for (SVG,
//! folded, pprof) are written.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use crate::app::{self, Capture, CaptureStatus, Closed, Ended};
use crate::config::{CaptureConfig, Mode, OutputConfig, ProfileConfig, SamplerConfig};
use crate::event::Sample;
use crate::output::events;
use crate::output::progress::{Progress, SYMBOLIZING};
use crate::probe::ProbeCounters;
use crate::profile::fold::Profile;
use crate::profile::output::PprofMeta;
use crate::profile::sampler::Sampler;
use crate::profile::session as stored;
use crate::store::writer::{WriteFailure, unix_ns_now};
use crate::store::{SessionKind, SessionWriter};
use crate::tui::flame::{FlameState, Msg, Status};

/// How often new processes are looked up.
const TICK: Duration = Duration::from_millis(20);
/// How often the kernel's counts are read.
const POLL: Duration = Duration::from_secs(1);

/// A running profile capture.
pub struct ProfileCapture<'a> {
    config: &'a ProfileConfig,
    capture: &'a CaptureConfig,
    output: &'a OutputConfig,
    /// None once finished.
    sampler: Option<Sampler>,
    mode: Mode,
    hz: u32,
    profile: Profile,
    writer: Option<SessionWriter>,
    next_poll: Instant,
    /// The targets are gone: one last poll, then no more.
    last_poll: bool,
    stopped: bool,
    lost: u64,
    counters: ProbeCounters,
    started: Instant,
    started_ns: i64,
    /// From the start to the last poll, in ns.
    duration_ns: i64,
}

impl<'a> ProfileCapture<'a> {
    /// Starts sampling, opens the session, and says that the capture runs.
    pub fn start(
        config: &'a ProfileConfig,
        capture: &'a CaptureConfig,
        sampler_config: &SamplerConfig,
        output: &'a OutputConfig,
        started: Instant,
    ) -> anyhow::Result<ProfileCapture<'a>> {
        let started_ns = unix_ns_now();
        let sampler = Sampler::start(sampler_config.clone())?;
        let (mode, hz) = (sampler_config.mode, sampler_config.hz);
        // Before the line that says the capture runs: its session is open.
        let writer = app::open_session(capture, SessionKind::Profile)?;
        if let Some(writer) = &writer {
            stored::label(writer, mode, hz);
        }
        if !config.tui && !output.quiet {
            crate::say!(
                "dflow: sampling {} of {} at {hz} Hz{}; Ctrl-C stops",
                mode.name(),
                app::target_text(capture),
                app::duration_text(capture),
            );
        }
        Ok(ProfileCapture {
            config,
            capture,
            output,
            sampler: Some(sampler),
            mode,
            hz,
            profile: Profile::new(mode, hz),
            writer,
            next_poll: started + POLL,
            last_poll: false,
            stopped: false,
            lost: 0,
            counters: ProbeCounters::default(),
            started,
            started_ns,
            duration_ns: 0,
        })
    }

    /// Adds `samples` to the profile and the session, and prints them with
    /// `--json` (to `out` while there is one). Stored also when printing
    /// fails.
    fn take(&mut self, samples: Vec<Sample>, out: Option<&mut dyn Write>) -> io::Result<()> {
        self.profile.extend(&samples);
        let printed = match out {
            Some(mut out) if self.output.json => samples
                .iter()
                .try_for_each(|s| events::sample_json(&mut out, s))
                .and_then(|()| out.flush()),
            _ => Ok(()),
        };
        if let Some(writer) = &self.writer {
            writer.samples(samples);
        }
        printed
    }
}

impl Capture for ProfileCapture<'_> {
    type View = FlameState;

    /// The flame graph with the profile's status, before the first poll.
    fn view(&self) -> FlameState {
        let mut state = FlameState::new(true);
        let live = CaptureStatus {
            live: true,
            ..CaptureStatus::default()
        };
        state.update(Msg::Status(status_of(&self.profile, live)));
        state
    }

    fn tick(&self) -> Duration {
        TICK
    }

    fn draw_every(&self) -> Duration {
        // The profile changes once a poll; keys redraw at once.
        POLL
    }

    fn wait(&mut self, timeout: Duration) {
        std::thread::sleep(timeout);
    }

    fn absorb(
        &mut self,
        now: Instant,
        view: Option<&mut FlameState>,
        out: Option<&mut dyn Write>,
    ) -> io::Result<()> {
        let Some(sampler) = &mut self.sampler else {
            return Ok(());
        };
        sampler.discover();
        if self.stopped || !(self.last_poll || now >= self.next_poll) {
            return Ok(());
        }
        self.next_poll += POLL;
        if std::mem::take(&mut self.last_poll) {
            self.stopped = true;
        }
        let samples = sampler.poll(&mut |_, _| {}).map_err(io::Error::other)?;
        let taken = self.take(samples, out);
        if let Some(view) = view {
            view.update(Msg::Profile(self.profile.clone()));
        }
        taken
    }

    fn write_failure(&self) -> Option<WriteFailure> {
        self.writer.as_ref().and_then(SessionWriter::failure)
    }

    fn targets_gone(&mut self) {
        // Sampling stops; the view keeps the last of the profile until q
        // (the user is likely looking at it).
        self.last_poll = true;
    }

    fn status(&mut self, view: &mut FlameState, status: CaptureStatus) {
        if let Some(counters) = self.sampler.as_ref().and_then(|s| s.counters().ok()) {
            self.lost = counters.lost;
        }
        let capture = CaptureStatus {
            lost: self.lost,
            ..status
        };
        view.update(Msg::Status(status_of(&self.profile, capture)));
    }

    fn finish(&mut self, out: Option<&mut dyn Write>) -> anyhow::Result<()> {
        let Some(mut sampler) = self.sampler.take() else {
            return Ok(());
        };
        let progress = Progress::new(self.output.quiet, SYMBOLIZING);
        let samples = sampler.poll(&mut |done, total| progress.update(done as u64, total as u64));
        progress.done();
        let taken = match samples {
            Ok(samples) => self.take(samples, out),
            Err(e) => Err(io::Error::other(e)),
        };
        self.counters = sampler.finish()?;
        self.duration_ns = unix_ns_now() - self.started_ns;
        if let Err(e) = taken {
            return app::output_stopped(e.into()).map_or(Ok(()), Err);
        }
        Ok(())
    }

    fn close_session(&mut self) -> Closed {
        app::close_session(
            self.writer.take(),
            &[("profile", self.counters)],
            self.output.quiet,
        )
    }

    fn summary(&mut self, ended: &Ended, closed: &Closed) -> anyhow::Result<()> {
        if let Some(text) = closed.unwritten_note("sample rows") {
            crate::say!("dflow: {text}");
        }
        if !self.output.quiet {
            if let Some(note) = &ended.note {
                crate::say!("dflow: {note}; the profile covers what was sampled until then");
            }
            crate::output::summary::profile(
                &self.profile.summary(),
                self.mode,
                self.counters.lost,
                self.hz,
                self.started.elapsed(),
            );
        }
        let meta = PprofMeta {
            mode: self.mode,
            hz: self.hz,
            start_ns: self.started_ns,
            duration_ns: self.duration_ns,
        };
        let title = format!("dflow profile of {}", app::target_text(self.capture));
        crate::app::files::write(
            &self.profile,
            &self.config.outputs,
            &meta,
            &title,
            self.config.tui,
            self.output,
        )
    }
}

/// The status bar of `profile`, with what every capture's says.
pub fn status_of(profile: &Profile, capture: CaptureStatus) -> Status {
    let summary = profile.summary();
    Status {
        hz: profile.hz(),
        mode: profile.mode().name().to_owned(),
        samples: summary.samples,
        truncated_pct: summary.truncated_pct(),
        capture,
    }
}
