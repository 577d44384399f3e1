//! The `dflow doctor` report as text or JSON.

use std::io::{self, Write};

use crate::doctor::{Feature, Report, Status};
use crate::output::{Palette, paint};

/// Column where values start in the text report.
const LABEL_WIDTH: usize = 22;

pub fn print(out: &mut impl Write, report: &Report, json: bool, color: bool) -> io::Result<()> {
    if json {
        return crate::output::json(out, report);
    }
    let p = Palette::new(color);
    let host = &report.host;

    paint(out, p.heading, "Host")?;
    writeln!(out)?;
    let min = crate::doctor::MIN_KERNEL;
    let kernel_note = if host.kernel_supported {
        String::new()
    } else {
        format!("  (dflow needs {}.{} or newer)", min.0, min.1)
    };
    row(out, &p, "hostname", None, &host.hostname)?;
    row(
        out,
        &p,
        "kernel",
        Some(host.kernel_supported),
        &format!("{}{kernel_note}", report.kernel),
    )?;
    let btf = match &host.btf.error {
        None => host.btf.path.to_owned(),
        Some(e) => e.clone(),
    };
    row(out, &p, "BTF", Some(host.btf.available), &btf)?;
    row(
        out,
        &p,
        "lockdown",
        None,
        host.lockdown
            .as_deref()
            .unwrap_or("unknown (securityfs not mounted)"),
    )?;
    let tracefs = match (&host.tracefs.path, &host.tracefs.error) {
        (Some(path), _) if host.tracefs.mounted_by_dflow => {
            format!("{} (mounted by dflow)", path.display())
        }
        (Some(path), _) => path.display().to_string(),
        (None, Some(e)) => e.clone(),
        (None, None) => "not mounted".to_owned(),
    };
    row(
        out,
        &p,
        "tracefs",
        Some(host.tracefs.path.is_some()),
        &tracefs,
    )?;
    let paranoid = match host.perf_event_paranoid {
        Some(level) => level.to_string(),
        None => "unreadable".to_owned(),
    };
    row(out, &p, "perf_event_paranoid", None, &paranoid)?;
    let caps = &host.capabilities;
    let caps_text = match (caps.effective.is_empty(), caps.missing.is_empty()) {
        (true, _) => format!("none (missing {})", caps.missing.join(", ")),
        (false, true) => caps.effective.join(", "),
        (false, false) => format!(
            "{} (missing {})",
            caps.effective.join(", "),
            caps.missing.join(", ")
        ),
    };
    row(
        out,
        &p,
        "capabilities",
        Some(caps.missing.is_empty()),
        &caps_text,
    )?;
    let ring = &report.ring_buffer;
    let ring_text = match &ring.error {
        None => format!("{} events delivered, {} lost", ring.delivered, ring.lost),
        Some(e) => e.clone(),
    };
    row(
        out,
        &p,
        "ring buffer delivery",
        Some(ring.available),
        &ring_text,
    )?;

    writeln!(out)?;
    paint(out, p.heading, "Program types")?;
    writeln!(out)?;
    for (name, check) in report.program_types.entries() {
        let text = match &check.error {
            None => "loads, attaches and fires".to_owned(),
            Some(e) => e.clone(),
        };
        row(out, &p, name, Some(check.available), &text)?;
    }

    writeln!(out)?;
    paint(out, p.heading, "Features")?;
    writeln!(out)?;
    let f = &report.features;
    for (name, feature) in [
        ("L7 trace", &f.l7_trace),
        ("TLS capture", &f.tls_capture),
        ("flow", &f.flow),
        ("on-CPU profile", &f.on_cpu),
        ("off-CPU profile", &f.off_cpu),
    ] {
        feature_row(out, &p, name, feature)?;
    }
    Ok(())
}

/// `  ✓ label            text`; `ok` None prints no mark.
fn row(
    out: &mut impl Write,
    p: &Palette,
    label: &str,
    ok: Option<bool>,
    text: &str,
) -> io::Result<()> {
    write!(out, "  ")?;
    match ok {
        Some(true) => paint(out, p.ok, "✓")?,
        Some(false) => paint(out, p.bad, "✗")?,
        None => write!(out, " ")?,
    }
    write!(out, " {label:<LABEL_WIDTH$}")?;
    match ok {
        Some(false) => paint(out, p.dim, text)?,
        _ => write!(out, "{text}")?,
    }
    writeln!(out)
}

fn feature_row(out: &mut impl Write, p: &Palette, label: &str, f: &Feature) -> io::Result<()> {
    write!(out, "  ")?;
    let (mark, style, word) = match f.status {
        Status::Available => ("✓", p.ok, "available"),
        Status::Degraded => ("~", p.warn, "degraded"),
        Status::Unavailable => ("✗", p.bad, "unavailable"),
    };
    paint(out, style, mark)?;
    write!(out, " {label:<LABEL_WIDTH$}")?;
    paint(out, style, word)?;
    if let Some(reason) = &f.reason {
        write!(out, ": ")?;
        paint(out, p.dim, reason)?;
    }
    writeln!(out)
}
