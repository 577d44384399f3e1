//! `dflow query FILE... [SQL]`: read-only SQL over session files.

use std::io::Write;

use crate::config::{OutputConfig, QueryConfig, TableFormat};
use crate::output;
use crate::store::SessionSet;

pub fn run(
    config: &QueryConfig,
    output: &OutputConfig,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let set = SessionSet::open(&config.files)?;
    let Some(sql) = &config.sql else {
        let multi = config.files.len() > 1;
        output::schema::describe(out, &set, multi, config.format, output.color)?;
        return Ok(());
    };
    let table = set.query(sql)?;
    match config.format {
        TableFormat::Aligned => output::table::write_aligned(out, &table, output.color)?,
        TableFormat::Csv => output::table::write_csv(out, &table)?,
        TableFormat::Json => output::table::write_json(out, &table)?,
    }
    out.flush()?;
    Ok(())
}
