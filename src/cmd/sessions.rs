//! `dflow sessions [list | show FILE | rm FILE...]`.

use std::io::Write;

use crate::config::{OutputConfig, SessionsConfig};
use crate::output;
use crate::store::catalog;

pub fn run(
    config: &SessionsConfig,
    output: &OutputConfig,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match config {
        SessionsConfig::List => {
            let listing = catalog::list()?;
            output::sessions::list(out, &listing.dir, &listing.infos, output.json, output.color)?;
            if !output.quiet {
                output::sessions::skipped(&listing.unreadable);
            }
            Ok(())
        }
        SessionsConfig::Show(file) => {
            let info = catalog::describe(file)?;
            output::sessions::show(out, &info, output.json, output.color)?;
            Ok(())
        }
        SessionsConfig::Rm(files) => catalog::remove(files, |file| {
            if output.quiet {
                Ok(())
            } else {
                writeln!(out, "removed {}", file.display())
            }
        }),
    }
}
