//! `dflow query FILE` without SQL: each view and column with what it means.

use std::io::{self, Write};

use crate::config::TableFormat;
use crate::output::{Palette, paint};
use crate::store::SessionSet;
use crate::store::schema::VIEWS;

/// Lists the documented views with the columns the file really has (so an
/// older file shows its own columns), each with its description.
pub fn describe(
    out: &mut impl Write,
    set: &SessionSet,
    multi: bool,
    format: TableFormat,
    color: bool,
) -> io::Result<()> {
    let mut views = Vec::new();
    for view in VIEWS {
        let columns = match set.query(&format!("SELECT * FROM {} LIMIT 0", view.name)) {
            Ok(t) => t.columns,
            Err(_) => continue,
        };
        let described: Vec<(String, &str)> = columns
            .into_iter()
            .map(|c| {
                let about = if c == "session" && multi {
                    "the file this row comes from"
                } else {
                    view.columns
                        .iter()
                        .find(|(name, _)| *name == c)
                        .map_or("", |(_, about)| *about)
                };
                (c, about)
            })
            .collect();
        views.push((view, described));
    }
    if format == TableFormat::Json {
        let json: Vec<serde_json::Value> = views
            .iter()
            .map(|(view, cols)| {
                serde_json::json!({
                    "view": view.name,
                    "about": view.about,
                    "columns": cols.iter().map(|(c, a)| serde_json::json!({"name": c, "about": a})).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &json)?;
        return writeln!(out);
    }
    let p = Palette::new(color);
    let files: Vec<String> = set.files().map(|f| f.display().to_string()).collect();
    writeln!(
        out,
        "Views of {} (read-only; query them in SQL):",
        files.join(", ")
    )?;
    for (view, cols) in &views {
        writeln!(out)?;
        paint(out, p.heading, view.name)?;
        write!(out, "  ")?;
        paint(out, p.dim, view.about)?;
        writeln!(out)?;
        let width = cols.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
        for (c, about) in cols {
            writeln!(out, "  {c:<width$}  {about}")?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Example: dflow query {} 'SELECT endpoint, count(*) AS n FROM spans_v GROUP BY endpoint ORDER BY n DESC LIMIT 10'",
        files.first().map_or("FILE", String::as_str)
    )
}
