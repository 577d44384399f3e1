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

/// The advice of one cause of an error (its exit code and hint): every
/// error type of dflow that gives some. A new one is named here once.
pub fn advice<'a>(
    cause: &'a (dyn std::error::Error + 'static),
) -> Option<&'a dyn crate::exit::Advice> {
    use crate::exit::{Advisor, advice_of};
    const ADVISED: [Advisor; 5] = [
        advice_of::<crate::privilege::MissingPrivilege>,
        advice_of::<crate::config::UsageError>,
        advice_of::<crate::store::StoreError>,
        advice_of::<crate::profile::session::SessionProfileError>,
        advice_of::<crate::probe::ProbeError>,
    ];
    ADVISED.iter().find_map(|advisor| advisor(cause))
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::advice;
    use crate::config::UsageError;
    use crate::exit::{FAILURE, NO_PERMISSION, USAGE, classify};
    use crate::probe::ProbeError;
    use crate::profile::session::SessionProfileError;
    use crate::store::StoreError;

    /// The first cause with advice decides the exit code and the hint,
    /// however deep it sits under context.
    #[test]
    fn the_first_cause_with_advice_decides() {
        let usage = anyhow::Error::from(UsageError::CsvAndJson).context("reading the flags");
        assert_eq!(
            classify(&usage, advice),
            (USAGE, Some("choose one output format".to_owned()))
        );

        let eperm = ProbeError::Cpus(io::Error::from_raw_os_error(libc::EPERM));
        let (code, hint) = classify(&anyhow::Error::from(eperm).context("starting"), advice);
        assert_eq!(code, NO_PERMISSION);
        assert!(hint.is_some_and(|h| h.starts_with("the kernel said EPERM; run as root")));

        let enoent = ProbeError::Cpus(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(classify(&enoent.into(), advice), (FAILURE, None));

        let nested = SessionProfileError::Store(StoreError::Missing("/x.duckdb".into()));
        assert_eq!(
            classify(&nested.into(), advice),
            (
                FAILURE,
                Some("list sessions with `dflow sessions`".to_owned())
            )
        );

        assert_eq!(classify(&anyhow::anyhow!("plain"), advice), (FAILURE, None));
    }
}
