//! DNS over UDP (one datagram, one message) and TCP (each message after a
//! two-byte length): queries become requests named "<name> <TYPE>",
//! responses carry their rcode and a short list of the answers.
//!
//! Written by hand rather than with a DNS crate: the parser must read
//! messages cut short by the snaplen (a response's header alone still gives
//! its rcode), and only needs the header, the first question and the
//! answers' short form.
//!
//! Queries and responses are paired by the DNS id, not by order: a resolver
//! may send the A and AAAA queries back to back on one socket and read the
//! answers in any order. Which side asks is read off the QR bit, so the
//! direction does not matter.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::framer::MAX_PENDING;
use super::{Direction, EXCERPT_MAX, Message, Options, Outcome, Parse, Parser, Spec, Transport};
use dflow_model::{Code, Protocol, Status};

pub const SPEC: Spec = Spec {
    protocol: Protocol::Dns,
    timeout: Duration::from_secs(5),
    check,
    new,
};

const HEADER: usize = 12;
/// Compression pointers followed in one name; enough for any real message,
/// and a bound on what a crafted one can make the parser do.
const MAX_HOPS: usize = 32;
/// The longest name on the wire (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;

fn check(data: &[u8], transport: Transport) -> bool {
    let msg = match transport {
        Transport::Udp => data,
        Transport::Tcp => match data.split_first_chunk::<2>() {
            Some((len, rest)) if usize::from(u16::from_be_bytes(*len)) >= HEADER => rest,
            _ => return false,
        },
    };
    let Some(h) = Header::read(msg) else {
        return false;
    };
    // A query's name never needs compression (nothing precedes it to point
    // to), so `name` refusing pointers into the header is right here.
    !h.response
        && h.opcode == 0
        && (1..=4).contains(&h.qdcount)
        && h.ancount == 0
        && h.nscount == 0
        && h.arcount <= 2
        && name(msg, HEADER, None)
            .ok()
            .and_then(|end| msg.get(end + 2..end + 4))
            .is_some_and(|class| matches!(u16::from_be_bytes([class[0], class[1]]), 1 | 255))
}

fn new(_: Options, transport: Transport) -> Box<dyn Parser> {
    Box::new(Dns { transport })
}

/// DNS keeps no state between messages: each one says what it is.
struct Dns {
    transport: Transport,
}

impl Parser for Dns {
    fn parse(&mut self, data: &[u8], _: Direction, cut: bool) -> Parse {
        let (len, msg) = match self.transport {
            Transport::Udp => (data.len() as u64, data),
            Transport::Tcp => {
                let Some((prefix, msg)) = data.split_first_chunk::<2>() else {
                    return if cut {
                        Parse::Invalid
                    } else {
                        Parse::Incomplete
                    };
                };
                let size = usize::from(u16::from_be_bytes(*prefix));
                if size < HEADER {
                    return Parse::Invalid;
                }
                // Wait for a whole message when it is small enough for the
                // framer to keep; a longer one is read as far as it goes,
                // from its header on.
                let short = msg.len() < size;
                if !cut && short && (2 + size <= MAX_PENDING || msg.len() < HEADER) {
                    return Parse::Incomplete;
                }
                (2 + size as u64, &msg[..msg.len().min(size)])
            }
        };
        match message(msg) {
            Some(message) => Parse::Begin {
                len,
                message,
                done: true,
            },
            // A query cut before its question is read makes no call, but
            // the framing holds.
            None if cut => Parse::Skip { len },
            None => Parse::Invalid,
        }
    }
}

/// The fixed header, RFC 1035 §4.1.1.
struct Header {
    id: u16,
    response: bool,
    opcode: u8,
    rcode: u8,
    qdcount: u16,
    ancount: u16,
    nscount: u16,
    arcount: u16,
}

impl Header {
    fn read(msg: &[u8]) -> Option<Header> {
        let h = msg.get(..HEADER)?;
        let word = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        Some(Header {
            id: word(0),
            response: h[2] & 0x80 != 0,
            opcode: (h[2] >> 3) & 0x0f,
            rcode: h[3] & 0x0f,
            qdcount: word(4),
            ancount: word(6),
            nscount: word(8),
            arcount: word(10),
        })
    }
}

/// The message at the start of `msg`, which may be cut short: None when
/// not even a query's first question can be read.
fn message(msg: &[u8]) -> Option<Message> {
    let h = Header::read(msg)?;
    let mut message = if h.response {
        response(msg, &h)
    } else {
        query(msg, &h)?
    };
    message.id = Some(u32::from(h.id));
    Some(message)
}

fn query(msg: &[u8], h: &Header) -> Option<Message> {
    if h.qdcount == 0 {
        return None;
    }
    let mut endpoint = String::new();
    let end = name(msg, HEADER, Some(&mut endpoint)).ok()?;
    let qtype = msg.get(end..end + 2)?;
    endpoint.push(' ');
    endpoint.push_str(&type_name(u16::from_be_bytes([qtype[0], qtype[1]])));
    let excerpt = format!("query {endpoint} id={:#06x}", h.id);
    Some(Message::request(endpoint, excerpt))
}

fn response(msg: &[u8], h: &Header) -> Message {
    let status = match h.rcode {
        0 => Status::Ok,
        1 | 3 | 4 | 5 => Status::ClientError,
        2 => Status::ServerError,
        _ => Status::Error,
    };
    let outcome = Outcome {
        status,
        code: Some(Code::Num(i32::from(h.rcode))),
    };
    let mut excerpt = rcode_name(h.rcode);
    // The answers as far as they were captured.
    let mut at = Some(HEADER);
    for _ in 0..h.qdcount {
        at = at
            .and_then(|at| name(msg, at, None).ok())
            .map(|end| end + 4);
    }
    for i in 0..h.ancount {
        let Some(next) = at.and_then(|at| answer(msg, at, &mut excerpt, i == 0)) else {
            break;
        };
        if excerpt.len() >= EXCERPT_MAX {
            break;
        }
        at = Some(next);
    }
    Message::response(outcome, excerpt)
}

/// Appends the resource record at `at` to `excerpt` in short form and
/// returns where the next one starts; None when it was not captured whole.
fn answer(msg: &[u8], at: usize, excerpt: &mut String, first: bool) -> Option<usize> {
    let mut text = String::from(if first { " " } else { ", " });
    let end = name(msg, at, Some(&mut text)).ok()?;
    let fixed = msg.get(end..end + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let start = end + 10;
    let rdata = msg.get(start..start + rdlen)?;
    let _ = write!(text, " {}", type_name(rtype));
    match rtype {
        1 => {
            let ip: [u8; 4] = rdata.try_into().ok()?;
            let _ = write!(text, " {}", Ipv4Addr::from(ip));
        }
        28 => {
            let ip: [u8; 16] = rdata.try_into().ok()?;
            let _ = write!(text, " {}", Ipv6Addr::from(ip));
        }
        2 | 5 | 12 => {
            text.push(' ');
            name(msg, start, Some(&mut text)).ok()?;
        }
        15 => {
            let pref = rdata.get(..2)?;
            let _ = write!(text, " {} ", u16::from_be_bytes([pref[0], pref[1]]));
            name(msg, start + 2, Some(&mut text)).ok()?;
        }
        _ => {}
    }
    super::push_excerpt(excerpt, &text);
    Some(start + rdlen)
}

/// Why a name could not be read.
#[derive(Debug, PartialEq, Eq)]
enum BadName {
    /// The message ends inside it.
    Short,
    /// It breaks the rules: label types 01/10, a name over 255 bytes, a
    /// pointer forwards, into the header, or too many pointers.
    Malformed,
}

/// Reads the name at `at`, following compression pointers, and returns
/// where it ends in place. Appends it to `out` when given: lowercased,
/// without the trailing dot, "." for the root, unprintable bytes as '?'.
fn name(msg: &[u8], mut at: usize, mut out: Option<&mut String>) -> Result<usize, BadName> {
    let mut end = None;
    let mut wire = 0;
    let mut hops = 0;
    let mut labels = 0;
    loop {
        let &b = msg.get(at).ok_or(BadName::Short)?;
        match b >> 6 {
            0 if b == 0 => break,
            0 => {
                let len = usize::from(b);
                let label = msg.get(at + 1..at + 1 + len).ok_or(BadName::Short)?;
                wire += 1 + len;
                if wire >= MAX_NAME {
                    return Err(BadName::Malformed);
                }
                if let Some(out) = out.as_deref_mut() {
                    if labels > 0 {
                        out.push('.');
                    }
                    out.extend(label.iter().map(|&c| match c {
                        b'!'..=b'~' => c.to_ascii_lowercase() as char,
                        _ => '?',
                    }));
                }
                labels += 1;
                at += 1 + len;
            }
            3 => {
                let &low = msg.get(at + 1).ok_or(BadName::Short)?;
                let target = usize::from(b & 0x3f) << 8 | usize::from(low);
                // Pointers only go backwards, and a bounded number of
                // times: a crafted loop ends here.
                if target < HEADER || target >= at || hops == MAX_HOPS {
                    return Err(BadName::Malformed);
                }
                hops += 1;
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return Err(BadName::Malformed),
        }
    }
    if labels == 0
        && let Some(out) = out
    {
        out.push('.');
    }
    Ok(end.unwrap_or(at + 1))
}

fn type_name(t: u16) -> String {
    let name = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        257 => "CAA",
        255 => "ANY",
        252 => "AXFR",
        _ => return format!("TYPE{t}"),
    };
    name.to_owned()
}

fn rcode_name(rcode: u8) -> String {
    let name = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return format!("RCODE{rcode}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;
    use crate::fixture::{self, Side};
    use crate::framer::Framer;

    /// A message with one question and the given answers (name, type,
    /// rdata), the answers' names written as pointers to the question's.
    fn dns(id: u16, flags: u16, qname: &str, qtype: u16, answers: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = Vec::new();
        for word in [id, flags, 1, answers.len() as u16, 0, 0] {
            m.extend_from_slice(&word.to_be_bytes());
        }
        for label in qname.split('.').filter(|l| !l.is_empty()) {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        for (rtype, rdata) in answers {
            m.extend_from_slice(&[0xc0, 12]);
            m.extend_from_slice(&rtype.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 1, 0x2c]);
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(rdata);
        }
        m
    }

    fn tcp(msg: &[u8]) -> Vec<u8> {
        let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(msg);
        framed
    }

    fn parse(transport: Transport, data: &[u8], cut: bool) -> Parse {
        new(Options::default(), transport).parse(data, Direction::Egress, cut)
    }

    fn begin(unit: Parse) -> (u64, Message) {
        match unit {
            Parse::Begin {
                len,
                message,
                done: true,
            } => (len, message),
            other => panic!("expected a whole Begin, got {other:?}"),
        }
    }

    const QUERY: u16 = 0x0100;
    const ANSWER: u16 = 0x8180;

    #[test]
    fn check_takes_queries_only() {
        let q = dns(7, QUERY, "example.com", 1, &[]);
        assert!(check(&q, Transport::Udp));
        assert!(check(&tcp(&q), Transport::Tcp));
        assert!(!check(&q, Transport::Tcp), "the length prefix is missing");
        assert!(!check(
            &dns(7, ANSWER, "example.com", 1, &[]),
            Transport::Udp
        ));
        assert!(!check(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Transport::Udp));
        assert!(!check(b"*1\r\n$4\r\nPING\r\n", Transport::Tcp));
        assert!(
            !check(&q[..q.len() - 1], Transport::Udp),
            "the class is cut"
        );
        let mut chaos = q.clone();
        *chaos.last_mut().unwrap() = 3;
        assert!(!check(&chaos, Transport::Udp));
        let mut pointer = q.clone();
        pointer[12] = 0xc0;
        assert!(!check(&pointer, Transport::Udp));
    }

    #[test]
    fn a_query_names_its_question() {
        let (len, m) = begin(parse(
            Transport::Udp,
            &dns(0x1a2b, QUERY, "WWW.Example.COM.", 28, &[]),
            false,
        ));
        assert_eq!(len, 33);
        assert_eq!(m.kind, Kind::Request);
        assert_eq!(m.id, Some(0x1a2b));
        assert_eq!(m.endpoint, "www.example.com AAAA");
        assert_eq!(m.excerpt, "query www.example.com AAAA id=0x1a2b");
        let (_, root) = begin(parse(Transport::Udp, &dns(1, QUERY, "", 99, &[]), false));
        assert_eq!(root.endpoint, ". TYPE99");
    }

    #[test]
    fn a_response_has_its_rcode_and_answers() {
        let cname = [7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0xc0, 12];
        let mx = [0, 10, 4, b'm', b'a', b'i', b'l', 0xc0, 12];
        let ip6 = [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let answers: [(u16, &[u8]); 5] = [
            (5, &cname),
            (1, &[1, 2, 3, 4]),
            (28, &ip6),
            (15, &mx),
            (16, b"\x02hi"),
        ];
        let (_, m) = begin(parse(
            Transport::Udp,
            &dns(9, ANSWER, "test", 1, &answers),
            false,
        ));
        assert_eq!(m.kind, Kind::Response);
        assert_eq!(m.id, Some(9));
        assert_eq!(
            m.outcome,
            Outcome {
                status: Status::Ok,
                code: Some(Code::Num(0))
            }
        );
        assert_eq!(
            m.excerpt,
            "NOERROR test CNAME example.test, test A 1.2.3.4, test AAAA 2001:db8::1, \
             test MX 10 mail.test, test TXT"
        );
        for (rcode, status, name) in [
            (1, Status::ClientError, "FORMERR"),
            (2, Status::ServerError, "SERVFAIL"),
            (3, Status::ClientError, "NXDOMAIN"),
            (5, Status::ClientError, "REFUSED"),
            (9, Status::Error, "NOTAUTH"),
            (12, Status::Error, "RCODE12"),
        ] {
            let (_, m) = begin(parse(
                Transport::Udp,
                &dns(9, ANSWER | rcode, "x", 1, &[]),
                false,
            ));
            assert_eq!(
                m.outcome,
                Outcome {
                    status,
                    code: Some(Code::Num(i32::from(rcode)))
                }
            );
            assert_eq!(m.excerpt, name);
        }
    }

    #[test]
    fn a_cut_response_keeps_its_rcode() {
        let full = dns(9, ANSWER | 3, "nope.example.com", 1, &[(1, &[1, 2, 3, 4])]);
        let (len, m) = begin(parse(Transport::Udp, &full[..12], true));
        assert_eq!(len, 12, "a datagram's unit is what was captured of it");
        assert_eq!(m.excerpt, "NXDOMAIN");
        assert_eq!(m.outcome.code, Some(Code::Num(3)));
        let framed = tcp(&full);
        let (len, m) = begin(parse(Transport::Tcp, &framed[..40], true));
        assert_eq!(len, framed.len() as u64);
        assert_eq!(m.excerpt, "NXDOMAIN");
        // Too long for the framer to keep whole (a zone transfer): read as
        // far as it goes, the rest skipped.
        let mut long = framed.clone();
        long[..2].copy_from_slice(&20000u16.to_be_bytes());
        assert_eq!(parse(Transport::Tcp, &long[..10], false), Parse::Incomplete);
        let (len, m) = begin(parse(Transport::Tcp, &long, false));
        assert_eq!(len, 20002);
        assert_eq!(m.excerpt, "NXDOMAIN nope.example.com A 1.2.3.4");
    }

    #[test]
    fn a_query_cut_inside_its_name_is_skipped_whole() {
        let framed = tcp(&dns(9, QUERY, "a-rather-long-name.example.com", 1, &[]));
        assert_eq!(
            parse(Transport::Tcp, &framed[..20], true),
            Parse::Skip {
                len: framed.len() as u64
            }
        );
        assert_eq!(
            parse(Transport::Tcp, &framed[..20], false),
            Parse::Incomplete
        );
        assert_eq!(parse(Transport::Tcp, &framed[..1], true), Parse::Invalid);
    }

    #[test]
    fn compression_loops_and_forward_pointers_end() {
        // The answer's name points at itself, then forwards.
        let mut m = dns(9, ANSWER, "x", 1, &[(1, &[1, 2, 3, 4])]);
        m[20] = 19;
        let (_, msg) = begin(parse(Transport::Udp, &m, false));
        assert_eq!(msg.excerpt, "NOERROR");
        m[20] = 40;
        let (_, msg) = begin(parse(Transport::Udp, &m, false));
        assert_eq!(msg.excerpt, "NOERROR");
        // Two labels pointing at each other's start, backwards each time.
        let looped = [0u8; 12]
            .iter()
            .copied()
            .chain([1, b'a', 0xc0, 12])
            .collect::<Vec<_>>();
        assert_eq!(name(&looped, 14, None), Err(BadName::Malformed));
        assert_eq!(name(&looped, 12, None), Err(BadName::Malformed));
    }

    #[test]
    fn tcp_messages_pipelined_and_split_across_syscalls() {
        let a = tcp(&dns(1, QUERY, "example.com", 1, &[]));
        let aaaa = tcp(&dns(2, QUERY, "example.com", 28, &[]));
        let both = [a.clone(), aaaa.clone()].concat();
        let mut parser = new(Options::default(), Transport::Tcp);
        let mut framer = Framer::new(Transport::Tcp);
        let mut units = Vec::new();
        // Length and half the first message, then the rest of both.
        framer.feed(
            parser.as_mut(),
            Direction::Egress,
            &both[..10],
            10,
            &mut units,
        );
        assert!(units.is_empty());
        framer.feed(
            parser.as_mut(),
            Direction::Egress,
            &both[10..],
            both.len() as u64 - 10,
            &mut units,
        );
        let names: Vec<_> = units
            .into_iter()
            .map(|u| {
                let (len, m) = begin(u);
                (len, m.id, m.endpoint)
            })
            .collect();
        assert_eq!(
            names,
            [
                (a.len() as u64, Some(1), "example.com A".to_owned()),
                (aaaa.len() as u64, Some(2), "example.com AAAA".to_owned())
            ]
        );
        assert_eq!(framer.desyncs, 0);
    }

    #[test]
    fn attached_mid_connection_the_next_message_is_read() {
        // The tail of a message, then a whole response in its own syscall.
        let answer = tcp(&dns(5, ANSWER, "example.com", 1, &[(1, &[1, 2, 3, 4])]));
        let mut parser = new(Options::default(), Transport::Tcp);
        let mut framer = Framer::new(Transport::Tcp);
        let mut units = Vec::new();
        framer.feed(
            parser.as_mut(),
            Direction::Ingress,
            &[0, 1, 0xff, 0xff],
            4,
            &mut units,
        );
        framer.feed(
            parser.as_mut(),
            Direction::Ingress,
            &answer,
            answer.len() as u64,
            &mut units,
        );
        let (_, m) = begin(units.pop().unwrap());
        assert_eq!(m.excerpt, "NOERROR example.com A 1.2.3.4");
    }

    #[test]
    fn fixtures() {
        for (name, records) in fixture::all("dns") {
            let transport = if name.starts_with("tcp") {
                Transport::Tcp
            } else {
                Transport::Udp
            };
            let mut text = String::new();
            for (title, snaplen, side) in [
                ("client", usize::MAX, Side::Client),
                ("server", usize::MAX, Side::Server),
                ("client, snaplen 48", 48, Side::Client),
            ] {
                let replay = fixture::replay(
                    &SPEC,
                    transport,
                    &records,
                    snaplen,
                    side,
                    Options::default(),
                );
                text.push_str(&format!("-- {title}\n{replay}"));
            }
            insta::assert_snapshot!(name, text);
        }
    }

    #[test]
    fn no_panic_on_any_bytes() {
        let seeds: Vec<Vec<u8>> = fixture::corpus("dns");
        let mut next = fixture::xorshift(0x9e37_79b9_7f4a_7c15u64);
        for i in 0..4000 {
            let mut bytes = if i % 2 == 0 {
                seeds[i / 2 % seeds.len()].clone()
            } else {
                (0..next() % 300).map(|_| next() as u8).collect()
            };
            for _ in 0..next() % 8 {
                if !bytes.is_empty() {
                    let at = next() as usize % bytes.len();
                    bytes[at] = next() as u8;
                }
            }
            for transport in [Transport::Udp, Transport::Tcp] {
                super::super::exercise(Protocol::Dns, transport, &bytes);
            }
        }
    }
}
