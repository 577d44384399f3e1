//! One module per subcommand: each takes the validated config and the
//! output stream, never a clap type.

pub mod doctor;

use crate::config::{CommandConfig, Config};

pub fn run(config: &Config) -> anyhow::Result<()> {
    match &config.command {
        CommandConfig::Doctor => doctor::run(&config.output, &mut std::io::stdout().lock()),
    }
}
