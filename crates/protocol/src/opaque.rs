//! What a connection dflow cannot parse most likely carries, from its
//! first bytes: told apart so that a capture that saw only TLS or HTTP/2
//! says so, instead of "0 spans" reading as "no traffic".

/// The kind of traffic on a connection no parser took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Opaque {
    /// A TLS record (a handshake, or application data joined midway).
    Tls,
    /// HTTP/2 in clear text (h2c), from its connection preface.
    Http2,
    /// Anything else.
    Unknown,
}

impl Opaque {
    pub const fn name(self) -> &'static str {
        match self {
            Opaque::Tls => "TLS",
            Opaque::Http2 => "HTTP/2",
            Opaque::Unknown => "unknown",
        }
    }
}

/// The HTTP/2 client connection preface (RFC 9113, 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Classifies the first bytes of one direction of a connection.
pub fn classify(data: &[u8]) -> Opaque {
    // A TLS record header: content type (20 change_cipher_spec, 21 alert,
    // 22 handshake, 23 application_data), version 3.1-3.4, a length within
    // a record's limit (2^14 + 2048).
    if let [ty @ 20..=23, 3, minor @ 1..=4, hi, lo, ..] = *data {
        let _ = (ty, minor);
        if u16::from_be_bytes([hi, lo]) <= 18_432 {
            return Opaque::Tls;
        }
    }
    let n = data.len().min(H2_PREFACE.len());
    if n >= 4 && data[..n] == H2_PREFACE[..n] {
        return Opaque::Http2;
    }
    Opaque::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_h2_and_the_rest() {
        // A ClientHello's record header, and application data.
        assert_eq!(
            classify(&[22, 3, 1, 0x02, 0x00, 1, 0, 1, 0xfc]),
            Opaque::Tls
        );
        assert_eq!(classify(&[23, 3, 3, 0x00, 0x20, 0xaa]), Opaque::Tls);
        assert_eq!(classify(H2_PREFACE), Opaque::Http2);
        assert_eq!(classify(b"PRI * HTTP/2.0\r\n"), Opaque::Http2);
        for other in [
            &b""[..],
            b"\x16",
            b"\x16\x03\x01\xff\xff",
            b"SSH-2.0-OpenSSH_9.2\r\n",
            b"PRI",
            b"GET / HTTP/1.1\r\n",
        ] {
            assert_eq!(classify(other), Opaque::Unknown, "{other:?}");
        }
    }
}
