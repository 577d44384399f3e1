//! `dflow doctor`: gather the report, print it, and turn it into an exit code.

use std::io::Write;

use crate::config::OutputConfig;
use crate::doctor::Report;
use crate::privilege::{Cap, MissingPrivilege};

/// The core features cannot run here: exit code 1 after the report.
#[derive(Debug, thiserror::Error)]
#[error("this host cannot run {}", .0.join("; "))]
pub struct NotReady(pub Vec<String>);

pub fn run(output: &OutputConfig, out: &mut impl Write) -> anyhow::Result<()> {
    let report = Report::gather();
    crate::output::doctor::print(out, &report, output.json, output.color)?;
    out.flush()?;

    // Without privilege every probe fails for that one reason: say so, not
    // that each feature is missing.
    let missing: Vec<Cap> = report.caps().missing_for_probes();
    if !missing.is_empty() {
        return Err(MissingPrivilege {
            what: "loading eBPF programs",
            missing,
        }
        .into());
    }
    let unusable = report.unusable_core();
    if !unusable.is_empty() {
        let why = unusable
            .into_iter()
            .map(|(name, f)| format!("{name} ({})", f.reason.as_deref().unwrap_or("unavailable")))
            .collect();
        return Err(NotReady(why).into());
    }
    Ok(())
}
