//! One module per subcommand: each takes the validated config and the
//! output stream, never a clap type.

pub mod doctor;
pub mod profile;
pub mod query;
pub mod replay;
pub mod sessions;
pub mod trace;

use crate::config::{CommandConfig, Config};

pub fn run(config: &Config) -> anyhow::Result<()> {
    match &config.command {
        CommandConfig::Doctor => doctor::run(&config.output, &mut std::io::stdout().lock()),
        CommandConfig::Trace(t) => trace::run(t, &config.output),
        CommandConfig::Profile(p) => profile::run(p, &config.output),
        CommandConfig::Query(q) => query::run(q, &config.output, &mut std::io::stdout().lock()),
        CommandConfig::Sessions(s) => {
            sessions::run(s, &config.output, &mut std::io::stdout().lock())
        }
        CommandConfig::Replay { file, terminal } => replay::run(
            file,
            &config.output,
            *terminal,
            &mut std::io::stdout().lock(),
        ),
    }
}
