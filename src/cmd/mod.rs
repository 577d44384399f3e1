//! One module per subcommand: each takes the validated config and the
//! output stream, never a clap type.

pub mod doctor;
pub mod query;
pub mod replay;
pub mod sessions;

use crate::config::{CommandConfig, Config};

pub fn run(config: &Config) -> anyhow::Result<()> {
    match &config.command {
        CommandConfig::Doctor => doctor::run(&config.output, &mut std::io::stdout().lock()),
        CommandConfig::Query(q) => query::run(q, &config.output, &mut std::io::stdout().lock()),
        CommandConfig::Sessions(s) => {
            sessions::run(s, &config.output, &mut std::io::stdout().lock())
        }
        CommandConfig::Replay { file } => {
            replay::run(file, &config.output, &mut std::io::stdout().lock())
        }
    }
}
