//! `dflow query FILE... [SQL]`: read-only SQL over session files, one
//! statement at a time, within a memory limit.

use std::io::Write;

use crate::config::{OutputConfig, QueryConfig, TableFormat};
use crate::output;
use crate::store::SessionSet;

pub fn run(
    config: &QueryConfig,
    output: &OutputConfig,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let set = SessionSet::open_for_query(&config.files, config.memory_limit)?;
    let Some(sql) = &config.sql else {
        let multi = config.files.len() > 1;
        output::schema::describe(out, &set, multi, config.format, output.color)?;
        return Ok(());
    };
    let table = set.query(sql)?;
    match config.format {
        TableFormat::Aligned => {
            let max_cell = output::table::max_cell_for_stdout();
            output::table::write_aligned_within(out, &table, output.color, max_cell)?;
        }
        TableFormat::Csv => output::table::write_csv(out, &table)?,
        TableFormat::Json => output::table::write_json(out, &table)?,
    }
    out.flush()?;
    Ok(())
}
