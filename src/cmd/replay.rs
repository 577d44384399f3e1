//! `dflow replay FILE`: a stored session's events, as the live capture
//! would have produced them.

use std::io::Write;
use std::path::Path;

use crate::config::OutputConfig;
use crate::output::events;
use crate::store::SessionSet;

pub fn run(file: &Path, output: &OutputConfig, out: &mut impl Write) -> anyhow::Result<()> {
    let set = SessionSet::open(&[file.to_owned()])?;
    let info = set.infos()?.remove(0);
    let replay = set.replay()?;
    // The capture commands' terminal views arrive with their issues, and
    // dispatch on the kind then; until then, and for --json and pipes,
    // every kind prints its events one per line, as its live capture does.
    if info.kind().is_none() {
        return Err(anyhow::anyhow!(
            "{} is a session of unknown kind '{}'; upgrade dflow",
            file.display(),
            info.kind
        ));
    }
    for s in &replay.spans {
        if output.json {
            events::span_json(out, s)?;
        } else {
            events::span_text(out, s)?;
        }
    }
    for f in &replay.flows {
        if output.json {
            events::flow_json(out, f)?;
        } else {
            events::flow_text(out, f)?;
        }
    }
    for s in &replay.samples {
        if output.json {
            events::sample_json(out, s)?;
        } else {
            events::sample_folded(out, s)?;
        }
    }
    out.flush()?;
    Ok(())
}
