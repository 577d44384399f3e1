//! Connections the capture saw but could not parse (TLS, HTTP/2, protocols
//! dflow does not know), tallied by kind, server port and process, so the
//! end of a capture can say "0 spans, but 40 TLS connections to port 443
//! from curl" rather than let "0 spans" read as "no traffic".

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::protocol::opaque::Opaque;

/// Distinct (kind, port, process) rows kept; beyond them connections are
/// only counted (by kind), so a host with many services stays bounded.
const MAX_ROWS: usize = 512;

/// Rows the end of a capture names.
pub const TOP: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    kind: Opaque,
    port: u16,
    process: String,
}

/// The tally.
#[derive(Debug, Default, Clone)]
pub struct Unparsed {
    rows: HashMap<Key, u64>,
    by_kind: HashMap<Opaque, u64>,
}

/// One row of the end's report: `connections` of `kind` to `port` by
/// `process`. Field names are part of the JSON summary's contract.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnparsedRow {
    pub kind: Opaque,
    pub port: u16,
    pub process: String,
    pub connections: u64,
}

/// What the end of a capture says of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UnparsedSummary {
    pub connections: u64,
    pub tls: u64,
    pub http2: u64,
    pub unknown: u64,
    /// The most frequent (kind, port, process), most connections first.
    pub top: Vec<UnparsedRow>,
}

impl Unparsed {
    /// Counts one connection given up on, from its first bytes `data` in
    /// either direction and its addresses.
    pub fn note(&mut self, data: &[u8], local: SocketAddr, remote: SocketAddr, process: &str) {
        // Bytes of a socket whose addresses the kernel no longer holds (a
        // TLS alert written as the socket closes) are no connection of
        // their own.
        if local.port() == 0 || remote.port() == 0 {
            return;
        }
        let kind = crate::protocol::opaque::classify(data);
        *self.by_kind.entry(kind).or_default() += 1;
        let key = Key {
            kind,
            port: server_port(local.port(), remote.port()),
            process: process.to_owned(),
        };
        if let Some(n) = self.rows.get_mut(&key) {
            *n += 1;
        } else if self.rows.len() < MAX_ROWS {
            self.rows.insert(key, 1);
        }
    }

    pub fn summary(&self) -> UnparsedSummary {
        let kind = |k| self.by_kind.get(&k).copied().unwrap_or(0);
        let mut rows: Vec<(&Key, &u64)> = self.rows.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        UnparsedSummary {
            connections: self.by_kind.values().sum(),
            tls: kind(Opaque::Tls),
            http2: kind(Opaque::Http2),
            unknown: kind(Opaque::Unknown),
            top: rows
                .into_iter()
                .take(TOP)
                .map(|(k, &n)| UnparsedRow {
                    kind: k.kind,
                    port: k.port,
                    process: k.process.clone(),
                    connections: n,
                })
                .collect(),
        }
    }
}

/// The port that names the service: the one below the ephemeral range
/// (32768 and up on Linux) when only one is, else the lower.
fn server_port(local: u16, remote: u16) -> u16 {
    const EPHEMERAL: u16 = 32768;
    match (local < EPHEMERAL, remote < EPHEMERAL) {
        (true, false) => local,
        (false, true) => remote,
        _ => local.min(remote),
    }
}

impl UnparsedSummary {
    /// The end's line, or None when every connection was parsed:
    /// `12 connections not parsed (TLS 10, HTTP/2 1, unknown 1): TLS to
    /// port 443 from curl (8), ...`.
    pub fn line(&self) -> Option<String> {
        if self.connections == 0 {
            return None;
        }
        let kinds: Vec<String> = [
            (Opaque::Tls, self.tls),
            (Opaque::Http2, self.http2),
            (Opaque::Unknown, self.unknown),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{} {n}", k.name()))
        .collect();
        let top: Vec<String> = self
            .top
            .iter()
            .map(|r| {
                format!(
                    "{} on port {} by {} ({})",
                    r.kind.name(),
                    r.port,
                    r.process,
                    r.connections
                )
            })
            .collect();
        let what = if self.tls + self.http2 > 0 {
            "; dflow does not decrypt TLS or decode HTTP/2 yet"
        } else {
            ""
        };
        Some(format!(
            "{} connection{} not parsed ({}): {}{what}",
            self.connections,
            if self.connections == 1 { "" } else { "s" },
            kinds.join(", "),
            top.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn tallied_by_kind_port_and_process_and_bounded() {
        let mut u = Unparsed::default();
        let hello = [22, 3, 1, 0, 200, 1];
        for _ in 0..3 {
            u.note(&hello, addr(40000), addr(443), "curl");
        }
        u.note(&hello, addr(8443), addr(50000), "nginx");
        u.note(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            addr(41000),
            addr(8080),
            "h2load",
        );
        u.note(b"SSH-2.0-x", addr(22), addr(50001), "sshd");
        let s = u.summary();
        assert_eq!((s.connections, s.tls, s.http2, s.unknown), (6, 4, 1, 1));
        assert_eq!(
            s.top[0],
            UnparsedRow {
                kind: Opaque::Tls,
                port: 443,
                process: "curl".into(),
                connections: 3
            }
        );
        assert_eq!(s.top.len(), TOP);
        let line = s.line().unwrap();
        assert!(
            line.starts_with("6 connections not parsed (TLS 4, HTTP/2 1, unknown 1): TLS on port 443 by curl (3), "),
            "{line}"
        );
        assert!(
            line.ends_with("does not decrypt TLS or decode HTTP/2 yet"),
            "{line}"
        );
        assert_eq!(Unparsed::default().summary().line(), None);
        // Bounded: rows stop growing, counts do not.
        let mut u = Unparsed::default();
        for port in 1..=2000u16 {
            u.note(b"x", addr(port), addr(60000), "p");
        }
        assert_eq!(u.rows.len(), MAX_ROWS);
        assert_eq!(u.summary().unknown, 2000);
    }
}
