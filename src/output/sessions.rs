//! `dflow sessions` listings and details.

use std::io::{self, Write};
use std::path::Path;

use duckdb::types::Value;

use crate::output::table::{unix_ns, write_aligned};
use crate::output::{Palette, paint};
use crate::store::SessionInfo;
use crate::store::reader::Table;

/// `1.5 KiB`, `12.0 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Capture length, or `interrupted` when it never ended cleanly, or
/// `running` while its capture writes it.
pub fn span_of(info: &SessionInfo) -> String {
    if let Some(pid) = info.running_pid {
        return format!("running (pid {pid})");
    }
    match info.ended_ns {
        Some(end) => {
            let secs = (end - info.started_ns).max(0) / 1_000_000_000;
            humantime::format_duration(std::time::Duration::from_secs(secs as u64)).to_string()
        }
        None => "interrupted".to_owned(),
    }
}

/// A count of a session, or `-` while its capture runs: counted at its end.
fn count(info: &SessionInfo, n: u64) -> Value {
    match info.running_pid {
        Some(_) => Value::Text("-".to_owned()),
        None => Value::UBigInt(n),
    }
}

pub fn list(
    out: &mut impl Write,
    dir: &Path,
    infos: &[SessionInfo],
    json: bool,
    color: bool,
) -> io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, infos)?;
        return writeln!(out);
    }
    if infos.is_empty() {
        return writeln!(out, "no sessions in {}", dir.display());
    }
    let table = Table {
        columns: [
            "file", "kind", "host", "started", "length", "size", "events", "lost",
        ]
        .map(String::from)
        .to_vec(),
        rows: infos
            .iter()
            .map(|i| {
                vec![
                    Value::Text(
                        i.path
                            .file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned(),
                    ),
                    Value::Text(i.kind.clone()),
                    Value::Text(i.host.clone()),
                    Value::Text(unix_ns(i.started_ns)),
                    Value::Text(span_of(i)),
                    Value::Text(bytes(i.size_bytes)),
                    count(i, i.spans + i.flows + i.samples + i.off_cpu_episodes),
                    count(i, i.lost),
                ]
            })
            .collect(),
    };
    write_aligned(out, &table, color)?;
    writeln!(out, "in {}", dir.display())
}

/// One line on stderr per file `dflow sessions` could not read.
pub fn skipped(unreadable: &[(std::path::PathBuf, crate::store::StoreError)]) {
    for (file, e) in unreadable {
        crate::say!(
            "dflow: skipped {}: {}",
            file.display(),
            crate::error_chain(e)
        );
    }
}

pub fn show(out: &mut impl Write, info: &SessionInfo, json: bool, color: bool) -> io::Result<()> {
    if json {
        let mut v = serde_json::to_value(info)?;
        let doctor = info
            .doctor
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok());
        v["doctor"] = doctor.unwrap_or(serde_json::Value::Null);
        serde_json::to_writer_pretty(&mut *out, &v)?;
        return writeln!(out);
    }
    let p = Palette::new(color);
    let row = |out: &mut dyn Write, k: &str, v: String| writeln!(out, "  {k:<14} {v}");
    paint(out, p.heading, &info.path.display().to_string())?;
    writeln!(out)?;
    row(out, "kind", info.kind.clone())?;
    row(out, "host", info.host.clone())?;
    row(out, "kernel", info.kernel.clone())?;
    row(out, "dflow", info.dflow_version.clone())?;
    row(out, "command", info.command_line.clone())?;
    row(out, "started", unix_ns(info.started_ns))?;
    if let Some(pid) = info.running_pid {
        row(
            out,
            "ended",
            format!("not yet: pid {pid} is capturing; its counts come when it ends"),
        )?;
        row(out, "size", bytes(info.size_bytes))?;
        return Ok(());
    }
    row(
        out,
        "ended",
        info.ended_ns
            .map_or("interrupted (no clean end)".into(), unix_ns),
    )?;
    row(out, "length", span_of(info))?;
    row(out, "size", bytes(info.size_bytes))?;
    row(out, "schema", info.schema_version.to_string())?;
    row(out, "spans", info.spans.to_string())?;
    row(out, "flows", info.flows.to_string())?;
    row(out, "samples", info.samples.to_string())?;
    if info.off_cpu_episodes > 0 {
        row(
            out,
            "blocked",
            format!(
                "{:.3} s in {} episode{}",
                info.blocked_ns as f64 / 1e9,
                info.off_cpu_episodes,
                if info.off_cpu_episodes == 1 { "" } else { "s" }
            ),
        )?;
    }
    row(out, "lost", info.lost.to_string())?;
    if !info.counters.is_empty() {
        writeln!(out)?;
        let table = Table {
            columns: ["source", "delivered", "lost"].map(String::from).to_vec(),
            rows: info
                .counters
                .iter()
                .map(|c| {
                    vec![
                        Value::Text(c.source.clone()),
                        Value::UBigInt(c.delivered),
                        Value::UBigInt(c.lost),
                    ]
                })
                .collect(),
        };
        write_aligned(out, &table, color)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12 * 1024 * 1024), "12.0 MiB");
    }
}
