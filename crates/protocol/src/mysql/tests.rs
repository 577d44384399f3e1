use super::*;
use crate::fixture::{self, Side};
use crate::framer::Framer;
use crate::{Kind, exercise};

const C: Direction = Direction::Egress;
const S: Direction = Direction::Ingress;

fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

fn cmd(command: u8, body: &[u8]) -> Vec<u8> {
    pkt(0, &[&[command], body].concat())
}

fn query(sql: &str) -> Vec<u8> {
    cmd(COM_QUERY, sql.as_bytes())
}

fn ok(seq: u8, status: u16) -> Vec<u8> {
    pkt(
        seq,
        &[&[0, 1, 0][..], &status.to_le_bytes(), &[0, 0]].concat(),
    )
}

fn eof(seq: u8, status: u16) -> Vec<u8> {
    pkt(seq, &[&[0xfe, 0, 0][..], &status.to_le_bytes()].concat())
}

/// The OK that ends a result set under CLIENT_DEPRECATE_EOF.
fn ok_fe(seq: u8, status: u16) -> Vec<u8> {
    pkt(
        seq,
        &[&[0xfe, 0, 0][..], &status.to_le_bytes(), &[0, 0]].concat(),
    )
}

fn err(seq: u8, code: u16, state: &str, msg: &str) -> Vec<u8> {
    let payload = [
        &[0xff][..],
        &code.to_le_bytes(),
        b"#",
        state.as_bytes(),
        msg.as_bytes(),
    ];
    pkt(seq, &payload.concat())
}

fn def(seq: u8) -> Vec<u8> {
    pkt(seq, b"\x03def\x04shop\x05items\x05items\x02id\x02id\x0c?\x00\x0b\x00\x00\x00\x03\x03B\x00\x00\x00")
}

fn row(seq: u8, value: &str) -> Vec<u8> {
    pkt(seq, &[&[value.len() as u8], value.as_bytes()].concat())
}

fn greeting() -> Vec<u8> {
    let mut payload = b"\n8.0.36\0\x08\0\0\0abcdefgh\0\xff\xff\x21\x02\0\xff\xdf\x15".to_vec();
    payload.extend_from_slice(&[0; 10]);
    payload.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    pkt(0, &payload)
}

/// A handshake response with `caps` and a password's scramble.
fn handshake_response(caps: u32) -> Vec<u8> {
    let mut payload = caps.to_le_bytes().to_vec();
    payload.extend_from_slice(&[0, 0, 0, 1, 45]);
    payload.extend_from_slice(&[0; 23]);
    payload.extend_from_slice(b"app\0\x14SCRAMBLEDSECRET12345shop\0mysql_native_password\0");
    pkt(1, &payload)
}

/// A connection through the framer, units as [`line`]s.
struct Conn;

impl Conn {
    #[expect(
        clippy::new_ret_no_self,
        reason = "builds the shared fixture::Conn with this module's format"
    )]
    fn new() -> fixture::Conn {
        Conn::with(Options::default())
    }

    fn with(options: Options) -> fixture::Conn {
        fixture::Conn::new(&SPEC, options, Transport::Tcp, line)
    }
}

/// Several packets in one syscall.
fn feed_all(conn: &mut fixture::Conn, dir: Direction, packets: &[Vec<u8>]) -> Vec<String> {
    conn.feed(dir, &packets.concat())
}

fn line(unit: &Parse) -> String {
    let outcome = |o: &Outcome| match &o.code {
        Some(Code::Num(n)) => format!("{} {n}", o.status),
        _ => o.status.to_string(),
    };
    match unit {
        Parse::Begin { len, message, done } if message.kind == Kind::Request => format!(
            "request {len} {:?} {:?} done={done} expects_response={}",
            message.endpoint, message.excerpt, message.expects_response
        ),
        Parse::Begin { len, message, done } => format!(
            "response {len} {} {:?} done={done}",
            outcome(&message.outcome),
            message.excerpt
        ),
        Parse::More {
            len,
            outcome: o,
            done,
        } => {
            let o = o
                .as_ref()
                .map(|o| format!(" {}", outcome(o)))
                .unwrap_or_default();
            format!("more {len}{o} done={done}")
        }
        Parse::Skip { len } => format!("skip {len}"),
        other => format!("{other:?}"),
    }
}

#[test]
fn check_accepts_queries_prepares_and_greetings_only() {
    let t = Transport::Tcp;
    assert!(check(&query("SELECT 1"), t));
    assert!(check(&query("  /* app */ select 1"), t));
    assert!(check(&query("(SELECT 1) UNION (SELECT 2)"), t));
    assert!(
        check(&cmd(COM_QUERY, b"\x00\x01SELECT 1"), t),
        "query attributes"
    );
    assert!(check(&cmd(COM_STMT_PREPARE, b"SELECT ?"), t));
    assert!(check(&[query("BEGIN"), query("COMMIT")].concat(), t));
    assert!(check(&query("SELECT * FROM items WHERE")[..12], t), "cut");
    assert!(check(&greeting(), t));

    assert!(!check(&pkt(1, b"\x03SELECT 1"), t), "sequence 1");
    assert!(!check(&cmd(COM_QUERY, b"\x01\x02\x03"), t));
    assert!(!check(&cmd(COM_PING, b""), t));
    assert!(!check(
        &[query("SELECT 1"), b"garbage".to_vec()].concat(),
        t
    ));
    assert!(
        !check(&pkt(0, b"\n\x01\x02\0"), t),
        "greeting without a version"
    );
    assert!(!check(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", t));
    assert!(!check(b"*1\r\n$4\r\nPING\r\n", t));
    assert!(
        !check(b"\0\0\0\x08\x04\xd2\x16\x2f", t),
        "postgres SSLRequest"
    );
    assert!(
        !check(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", t),
        "TLS"
    );
    assert!(!check(b"\x03", t));
}

#[test]
fn endpoints_are_verb_and_first_table() {
    for (sql, want) in [
        ("SELECT 1", "SELECT"),
        ("select id, name from items where id = 7", "SELECT items"),
        ("SELECT * FROM `shop`.`Items` i JOIN b", "SELECT shop.items"),
        ("SELECT * FROM (SELECT id FROM inner_t) x", "SELECT inner_t"),
        ("SELECT 'FROM secret' AS x FROM t", "SELECT t"),
        (
            "  /* app=web */ -- note\n# more\nSELECT 1 FROM dual",
            "SELECT dual",
        ),
        ("(SELECT a FROM t1) UNION (SELECT a FROM t2)", "SELECT t1"),
        ("INSERT INTO items (name) VALUES ('x')", "INSERT items"),
        (
            "insert ignore into shop.items values (1)",
            "INSERT shop.items",
        ),
        ("REPLACE INTO `t` SET a = 1", "REPLACE t"),
        ("UPDATE LOW_PRIORITY items SET price = 2", "UPDATE items"),
        ("DELETE FROM items WHERE id = 3", "DELETE items"),
        ("WITH c AS (SELECT 1) SELECT * FROM c", "WITH c"),
        ("CREATE TABLE IF NOT EXISTS t (id INT)", "CREATE TABLE t"),
        (
            "create or replace temporary table `x`.`y` (a int)",
            "CREATE TABLE x.y",
        ),
        ("DROP TABLE IF EXISTS a, b", "DROP TABLE a"),
        ("ALTER TABLE items ADD COLUMN c INT", "ALTER TABLE items"),
        ("CREATE USER 'app'@'%' IDENTIFIED BY 'pw'", "CREATE USER"),
        ("CREATE DATABASE shop", "CREATE DATABASE shop"),
        ("TRUNCATE TABLE items", "TRUNCATE items"),
        ("CALL refresh_totals(1, 2)", "CALL refresh_totals"),
        ("SHOW TABLES", "SHOW TABLES"),
        ("SET NAMES utf8mb4", "SET"),
        ("START TRANSACTION", "START"),
        ("commit", "COMMIT"),
        ("USE shop", "USE"),
        ("", "QUERY"),
        ("123", "QUERY"),
        ("SELECT `unterminated", "SELECT"),
        ("SELECT * FROM `", "SELECT"),
        ("SELECT 'unterminated FROM x", "SELECT"),
    ] {
        assert_eq!(endpoint(sql.as_bytes()), want, "{sql}");
    }
}

#[test]
fn a_text_result_set_ends_at_its_second_eof() {
    let mut c = Conn::new();
    assert_eq!(
        c.feed(C, &query("SELECT id FROM items")),
        [r#"request 25 "SELECT items" "SELECT id FROM items" done=true expects_response=true"#]
    );
    let response = [
        pkt(1, &[1]),
        def(2),
        eof(3, 2),
        row(4, "1"),
        row(5, "2"),
        eof(6, 2),
    ];
    assert_eq!(
        feed_all(&mut c, S, &response),
        [
            r#"response 5 ok "" done=false"#,
            "more 44 done=false",
            "more 9 done=false",
            "more 6 done=false",
            "more 6 done=false",
            "more 9 done=true",
        ]
    );
    // An empty result set: the EOF after the definitions, then the end.
    c.feed(C, &query("SELECT id FROM items WHERE id < 0"));
    let response = [pkt(1, &[1]), def(2), eof(3, 2), eof(4, 2)];
    assert_eq!(feed_all(&mut c, S, &response)[3], "more 9 done=true");
}

#[test]
fn deprecate_eof_from_the_handshake_ends_result_sets_with_an_ok() {
    let mut c = Conn::new();
    assert_eq!(c.feed(S, &greeting()), ["skip 78"]);
    assert_eq!(
        c.feed(C, &handshake_response(0x000f_a20d | CLIENT_DEPRECATE_EOF)),
        ["skip 88"]
    );
    assert_eq!(c.feed(S, &ok(2, 2)), ["skip 11"]);
    c.feed(C, &query("SELECT id FROM items"));
    let response = [pkt(1, &[1]), def(2), row(3, "1"), ok_fe(4, 2)];
    assert_eq!(
        feed_all(&mut c, S, &response),
        [
            r#"response 5 ok "" done=false"#,
            "more 44 done=false",
            "more 6 done=false",
            "more 11 done=true",
        ]
    );
}

#[test]
fn deprecate_eof_unknown_is_told_by_what_follows_the_definitions() {
    let mut c = Conn::new();
    c.feed(C, &query("SELECT id FROM items"));
    let response = [pkt(1, &[1]), def(2), row(3, "1"), ok_fe(4, 2)];
    assert_eq!(
        feed_all(&mut c, S, &response)[2..],
        ["more 6 done=false", "more 11 done=true"]
    );
    // Empty: the OK right after the definitions ends it.
    let mut c = Conn::new();
    c.feed(C, &query("SELECT id FROM items WHERE id < 0"));
    let response = [pkt(1, &[1]), def(2), ok_fe(3, 2)];
    assert_eq!(feed_all(&mut c, S, &response)[2], "more 11 done=true");
}

#[test]
fn ok_and_error_responses() {
    let mut c = Conn::new();
    c.feed(C, &query("INSERT INTO items (name) VALUES ('fig')"));
    assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
    c.feed(C, &query("SELECT * FROM missing"));
    assert_eq!(
        c.feed(
            S,
            &err(1, 1146, "42S02", "Table 'shop.missing' doesn't exist")
        ),
        [
            r#"response 47 client_error 1146 "ERROR 1146 (42S02): Table 'shop.missing' doesn't exist" done=true"#
        ]
    );
    c.feed(C, &query("UPDATE items SET price = 1"));
    assert_eq!(
        c.feed(S, &err(1, 1213, "40001", "Deadlock found")),
        [r#"response 27 server_error 1213 "ERROR 1213 (40001): Deadlock found" done=true"#]
    );
}

#[test]
fn an_error_amid_a_result_set_ends_it() {
    let mut c = Conn::new();
    c.feed(C, &query("SELECT id, (SELECT id FROM items) FROM items"));
    let response = [
        pkt(1, &[1]),
        def(2),
        eof(3, 2),
        row(4, "1"),
        err(5, 1242, "21000", "Subquery returns more than 1 row"),
    ];
    assert_eq!(
        feed_all(&mut c, S, &response)[4],
        "more 45 client_error 1242 done=true"
    );
}

#[test]
fn multiple_results_end_at_the_last() {
    let mut c = Conn::new();
    c.feed(C, &query("CALL totals()"));
    let more = SERVER_MORE_RESULTS_EXISTS | 2;
    let response = [
        pkt(1, &[1]),
        def(2),
        eof(3, 2),
        row(4, "1"),
        eof(5, more),
        ok(6, 2),
    ];
    assert_eq!(
        feed_all(&mut c, S, &response)[4..],
        ["more 9 done=false", "more 11 done=true"]
    );
    c.feed(C, &query("INSERT INTO t VALUES (1); SELECT 1"));
    let response = [
        ok(1, more),
        pkt(2, &[1]),
        def(3),
        eof(4, 2),
        row(5, "1"),
        eof(6, 2),
    ];
    assert_eq!(
        feed_all(&mut c, S, &response),
        [
            r#"response 11 ok "" done=false"#,
            "more 5 done=false",
            "more 44 done=false",
            "more 9 done=false",
            "more 6 done=false",
            "more 9 done=true",
        ]
    );
}

fn prepare_ok(id: u32, columns: u16, params: u16) -> Vec<u8> {
    let payload = [
        &[0][..],
        &id.to_le_bytes(),
        &columns.to_le_bytes(),
        &params.to_le_bytes(),
        &[0, 0, 0],
    ];
    pkt(1, &payload.concat())
}

fn execute(id: u32) -> Vec<u8> {
    // No flags, one iteration, a null bitmap, new types: a LONGLONG 3.
    let body = [
        &id.to_le_bytes()[..],
        &[0, 1, 0, 0, 0, 0, 1, 8, 0],
        &3i64.to_le_bytes(),
    ];
    cmd(COM_STMT_EXECUTE, &body.concat())
}

#[test]
fn prepared_statements_are_named_by_their_prepare() {
    let mut c = Conn::new();
    let sql = "SELECT name FROM items WHERE id = ?";
    assert_eq!(
        c.feed(C, &cmd(COM_STMT_PREPARE, sql.as_bytes())),
        [format!(
            r#"request 40 "PREPARE SELECT items" "{sql}" done=true expects_response=true"#
        )]
    );
    let response = [prepare_ok(7, 1, 1), def(2), eof(3, 2), def(4), eof(5, 2)];
    assert_eq!(
        feed_all(&mut c, S, &response),
        [
            r#"response 16 ok "" done=false"#,
            "more 44 done=false",
            "more 9 done=false",
            "more 44 done=false",
            "more 9 done=true",
        ]
    );
    // Parameters are never shown; a binary row starts with 0x00.
    assert_eq!(
        c.feed(C, &execute(7)),
        [format!(
            r#"request 26 "SELECT items" "{sql}" done=true expects_response=true"#
        )]
    );
    let binary_row = pkt(4, b"\x00\x00\x04plum");
    let response = [pkt(1, &[1]), def(2), eof(3, 2), binary_row, eof(5, 2)];
    assert_eq!(
        feed_all(&mut c, S, &response)[3..],
        ["more 11 done=false", "more 9 done=true"]
    );
    assert_eq!(
        c.feed(C, &cmd(COM_STMT_CLOSE, &7u32.to_le_bytes())),
        [r#"request 9 "COM_STMT_CLOSE" "" done=true expects_response=false"#]
    );
    assert_eq!(
        c.feed(C, &execute(7)),
        [r#"request 26 "EXECUTE" "" done=true expects_response=true"#]
    );
    assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
}

#[test]
fn a_prepare_without_eofs_when_deprecated() {
    let mut c = Conn::new();
    c.feed(S, &greeting());
    c.feed(C, &handshake_response(0x000f_a20d | CLIENT_DEPRECATE_EOF));
    c.feed(S, &ok(2, 2));
    c.feed(
        C,
        &cmd(COM_STMT_PREPARE, b"SELECT name FROM items WHERE id = ?"),
    );
    let response = [prepare_ok(1, 1, 1), def(2), def(3)];
    assert_eq!(feed_all(&mut c, S, &response)[2], "more 44 done=true");
    c.feed(C, &cmd(COM_STMT_PREPARE, b"DELETE FROM items"));
    assert_eq!(
        c.feed(S, &prepare_ok(2, 0, 0)),
        [r#"response 16 ok "" done=true"#]
    );
}

#[test]
fn small_commands() {
    let mut c = Conn::new();
    assert_eq!(
        c.feed(C, &cmd(COM_PING, b"")),
        [r#"request 5 "PING" "" done=true expects_response=true"#]
    );
    assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
    assert_eq!(
        c.feed(C, &cmd(COM_INIT_DB, b"shop")),
        [r#"request 9 "USE" "USE shop" done=true expects_response=true"#]
    );
    c.feed(S, &ok(1, 2));
    assert_eq!(
        c.feed(C, &cmd(0x1a, &1u32.to_le_bytes())),
        [r#"request 9 "COM_STMT_RESET" "" done=true expects_response=true"#]
    );
    c.feed(S, &ok(1, 2));
    assert_eq!(
        c.feed(C, &cmd(COM_STATISTICS, b"")),
        [r#"request 5 "COM_STATISTICS" "" done=true expects_response=true"#]
    );
    assert_eq!(
        c.feed(S, &pkt(1, b"Uptime: 5  Threads: 1")),
        [r#"response 25 ok "" done=true"#]
    );
    assert_eq!(
        c.feed(C, &cmd(0x42, b"")),
        [r#"request 5 "COM_0x42" "" done=true expects_response=true"#]
    );
    c.feed(S, &ok(1, 2));
    assert_eq!(c.feed(C, &cmd(COM_QUIT, b"")), ["skip 5"]);
}

#[test]
fn pipelined_commands_and_responses() {
    let mut c = Conn::new();
    let requests = feed_all(
        &mut c,
        C,
        &[query("BEGIN"), query("UPDATE t SET a = 1"), query("COMMIT")],
    );
    assert_eq!(requests.len(), 3);
    assert!(requests[1].starts_with(r#"request 23 "UPDATE t""#));
    let responses = feed_all(
        &mut c,
        S,
        &[
            ok(1, 3),
            err(1, 1205, "HY000", "Lock wait timeout exceeded"),
            ok(1, 2),
        ],
    );
    assert_eq!(
        responses,
        [
            r#"response 11 ok "" done=true"#,
            r#"response 39 server_error 1205 "ERROR 1205 (HY000): Lock wait timeout exceeded" done=true"#,
            r#"response 11 ok "" done=true"#,
        ]
    );
}

#[test]
fn a_packet_split_across_syscalls_is_joined() {
    let mut c = Conn::new();
    let q = query("SELECT id FROM items");
    assert!(c.feed(C, &q[..2]).is_empty());
    assert!(c.feed(C, &q[2..10]).is_empty());
    assert_eq!(
        c.feed(C, &q[10..]),
        [r#"request 25 "SELECT items" "SELECT id FROM items" done=true expects_response=true"#]
    );
    let response = [pkt(1, &[1]), def(2), eof(3, 2), row(4, "1"), eof(5, 2)].concat();
    assert_eq!(
        c.feed(S, &response[..30]),
        [r#"response 5 ok "" done=false"#]
    );
    assert_eq!(c.feed(S, &response[30..]).len(), 4);
    assert_eq!(c.framer.desyncs, 0);
}

#[test]
fn cut_data_still_begins_with_what_was_captured() {
    let sql = format!(
        "SELECT id, name FROM items WHERE name IN ({})",
        "'x', ".repeat(100)
    );
    let q = query(&sql);
    let mut c = Conn::new();
    assert_eq!(
        c.feed_cut(C, &q[..40], q.len()),
        [format!(
            r#"request {} "SELECT items" "SELECT id, name FROM items WHERE na" done=true expects_response=true"#,
            q.len()
        )]
    );
    // The error's message cut short.
    let e = err(1, 1146, "42S02", "Table 'shop.missing' doesn't exist");
    assert_eq!(
        c.feed_cut(S, &e[..20], e.len()),
        [r#"response 47 client_error 1146 "ERROR 1146 (42S02): Table '" done=true"#]
    );
    // Not even a header: nothing to go on.
    let mut p = new(Options::default(), Transport::Tcp);
    assert_eq!(p.parse(&q[..3], C, true), Parse::Invalid);
    assert_eq!(p.parse(&q[..3], C, false), Parse::Incomplete);
}

/// A result set of `rows` ten-byte rows after a one-column definition:
/// 5 + 44 + 9 + 15 * rows + 9 bytes.
fn result_set(rows: u8) -> Vec<u8> {
    let mut packets = vec![pkt(1, &[1]), def(2), eof(3, 2)];
    packets.extend((0..rows).map(|i| row(4 + i, "abcdefghij")));
    packets.push(eof(4 + rows, 2));
    packets.concat()
}

#[test]
fn a_result_set_cut_by_the_snaplen_keeps_its_size() {
    let mut c = Conn::new();
    c.feed(C, &query("SELECT id FROM items"));
    let response = result_set(40);
    assert_eq!(response.len(), 667);
    // Three rows seen, the third in part: the rest is never seen.
    assert_eq!(
        c.feed_cut(S, &response[..100], response.len()),
        [
            r#"response 5 ok "" done=false"#,
            "more 44 done=false",
            "more 9 done=false",
            "more 15 done=false",
            "more 15 done=false",
            "more 15 done=false",
            "more 564 done=false",
        ]
    );
    // It ended before the next command: the next response is whole.
    c.feed(C, &query("SELECT 1"));
    assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
    // So are the responses to pipelined commands, read at once.
    c.feed(C, &query("SELECT id FROM items"));
    c.feed_cut(S, &response[..100], response.len());
    c.feed(C, &[query("BEGIN"), query("COMMIT")].concat());
    assert_eq!(
        c.feed(S, &[ok(1, 2), ok(1, 2)].concat()),
        [
            r#"response 11 ok "" done=true"#,
            r#"response 11 ok "" done=true"#,
        ]
    );
    assert_eq!(c.framer.desyncs, 0);
}

#[test]
fn a_result_set_over_several_syscalls_is_counted_to_its_end() {
    let response = result_set(40);
    for second_captured in [usize::MAX, 100] {
        let mut c = Conn::new();
        c.feed(C, &query("SELECT id FROM items"));
        // 300 bytes in the first syscall, 100 of them captured: the
        // second starts two bytes into a row.
        let first = c.feed_cut(S, &response[..100], 300);
        assert_eq!(first[6..], ["more 197 done=false"]);
        let rest = &response[300..];
        let second = c.feed_cut(S, &rest[..rest.len().min(second_captured)], rest.len());
        let bytes: u64 = [first, second]
            .concat()
            .iter()
            .map(|u| u.split(' ').nth(1).unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(bytes, 667);
        c.feed(C, &query("SELECT 1"));
        assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
        assert_eq!(c.framer.desyncs, 0);
    }
}

#[test]
fn a_packet_out_of_sequence_is_a_lost_footing() {
    let mut c = Conn::new();
    c.feed(C, &query("SELECT id FROM items"));
    let response = [
        pkt(1, &[1]),
        def(2),
        eof(3, 2),
        row(4, "1"),
        row(6, "2"),
        eof(7, 2),
    ];
    assert_eq!(
        feed_all(&mut c, S, &response)[3..],
        // The rest of the syscall still counts in the response.
        ["more 6 done=false", "more 15 done=false"]
    );
    assert_eq!(c.framer.desyncs, 1);
    c.feed(C, &query("SELECT 1"));
    assert_eq!(c.feed(S, &ok(1, 2)), [r#"response 11 ok "" done=true"#]);
    assert_eq!(c.framer.desyncs, 1);
}

/// Each call's endpoint and response bytes as a capture with `snaplen`
/// sees them from `side`, and the framer's desyncs.
fn calls(records: &[fixture::Record], snaplen: usize, side: Side) -> (Vec<(String, u64)>, u64) {
    let mut parser = new(Options::default(), Transport::Tcp);
    let mut framer = Framer::new(Transport::Tcp);
    let mut calls: Vec<(String, u64)> = Vec::new();
    let mut answered = 0;
    for r in records {
        let dir = match side {
            Side::Client => r.dir,
            Side::Server => r.dir.reverse(),
        };
        let captured = &r.bytes[..r.bytes.len().min(snaplen)];
        let mut units = Vec::new();
        framer.feed(
            parser.as_mut(),
            dir,
            captured,
            r.bytes.len() as u64,
            &mut units,
        );
        for unit in units {
            match unit {
                Parse::Begin { message, .. } if message.kind == Kind::Request => {
                    calls.push((message.endpoint, 0));
                }
                Parse::Begin { len, .. } => {
                    answered += 1;
                    calls[answered - 1].1 = len;
                }
                Parse::More { len, .. } if r.dir == Direction::Ingress => {
                    calls[answered - 1].1 += len;
                }
                _ => {}
            }
        }
    }
    (calls, framer.desyncs)
}

#[test]
fn mysqlslap_result_sets_keep_their_size_at_any_snaplen() {
    let records = fixture::load(&fixture::folder("mysql").join("mysqlslap.bin"));
    // What the server sent after each command, up to the next one.
    let mut sizes: Vec<u64> = Vec::new();
    for r in &records[3..] {
        match r.dir {
            Direction::Egress if r.bytes[4] != COM_QUIT => sizes.push(0),
            Direction::Egress => {}
            Direction::Ingress => *sizes.last_mut().unwrap() += r.bytes.len() as u64,
        }
    }
    assert_eq!(sizes, [11, 17382, 11, 17522]);
    let want: Vec<(String, u64)> = ["INSERT t1", "SELECT t1", "INSERT t1", "SELECT t1"]
        .iter()
        .zip(sizes)
        .map(|(e, n)| ((*e).to_owned(), n))
        .collect();
    for snaplen in [usize::MAX, 1024, 64] {
        for side in [Side::Client, Side::Server] {
            let got = calls(&records, snaplen, side);
            assert_eq!(got, (want.clone(), 0), "snaplen {snaplen}, {side:?}");
        }
    }
}

#[test]
fn attached_mid_connection_from_the_server_side() {
    let mut c = Conn::new();
    // Rows of a response whose command was never seen.
    assert_eq!(
        c.feed(Direction::Egress, &[row(7, "1"), eof(8, 2)].concat()),
        ["skip 6", "skip 9"]
    );
    assert_eq!(
        c.feed(Direction::Ingress, &query("DELETE FROM items WHERE id = 1")),
        [
            r#"request 35 "DELETE items" "DELETE FROM items WHERE id = 1" done=true expects_response=true"#
        ]
    );
    assert_eq!(
        c.feed(Direction::Egress, &ok(1, 2)),
        [r#"response 11 ok "" done=true"#]
    );
}

#[test]
fn the_handshake_is_skipped_with_its_auth_switch() {
    let mut c = Conn::new();
    let units = [
        c.feed(S, &greeting()),
        c.feed(C, &handshake_response(0x000f_a20d)),
        c.feed(
            S,
            &pkt(2, b"\xfemysql_native_password\0abcdefghijklmnopqrst\0"),
        ),
        c.feed(C, &pkt(3, b"SCRAMBLEDSECRET12345")),
        c.feed(S, &ok(4, 2)),
    ]
    .concat();
    assert!(units.iter().all(|u| u.starts_with("skip")), "{units:?}");
    assert!(c.feed(C, &query("SELECT 1"))[0].starts_with("request"));
}

#[test]
fn credentials_in_sql_are_redacted() {
    let sql = "CREATE USER 'app'@'%' IDENTIFIED BY 'Hunter2'";
    let mut c = Conn::new();
    assert_eq!(
        c.feed(C, &query(sql)),
        [
            r#"request 50 "CREATE USER" "CREATE USER 'app'@'%' IDENTIFIED [redacted]" done=true expects_response=true"#
        ]
    );
    let mut c = Conn::new();
    c.feed(C, &cmd(COM_STMT_PREPARE, b"SET PASSWORD FOR 'app' = ?"));
    c.feed(S, &prepare_ok(1, 0, 1));
    assert!(c.feed(C, &execute(1))[0].contains(r#""SET PASSWORD [redacted]""#));
    let mut c = Conn::with(Options { redact: false });
    assert!(c.feed(C, &query(sql))[0].contains("'Hunter2'"));
}

#[test]
fn maximal_packets_continue_in_the_next() {
    let mut c = Conn::new();
    let mut head = vec![0xff, 0xff, 0xff, 0, COM_QUERY];
    head.extend_from_slice(b"INSERT INTO blobs VALUES ('");
    assert_eq!(
        c.feed_cut(C, &head, 4 + MAX_PAYLOAD),
        [
            r#"request 16777219 "INSERT blobs" "INSERT INTO blobs VALUES ('" done=false expects_response=true"#
        ]
    );
    assert_eq!(c.feed(C, &pkt(1, b"')")), ["more 6 done=true"]);
    assert_eq!(c.feed(S, &ok(2, 2)), [r#"response 11 ok "" done=true"#]);
}

#[test]
fn local_infile_sends_the_file_as_more_of_the_request() {
    let mut c = Conn::new();
    c.feed(
        C,
        &query("LOAD DATA LOCAL INFILE 'items.csv' INTO TABLE items"),
    );
    assert_eq!(
        c.feed(S, &pkt(1, b"\xfbitems.csv")),
        [r#"response 14 ok "" done=false"#]
    );
    assert_eq!(
        feed_all(&mut c, C, &[pkt(2, b"1,apple\n"), pkt(3, b"")]),
        ["more 12 done=false", "more 4 done=true"]
    );
    assert_eq!(c.feed(S, &ok(4, 2)), ["more 11 done=true"]);
}

#[test]
fn tls_after_an_ssl_request_is_skipped_record_by_record() {
    let mut c = Conn::new();
    c.feed(S, &greeting());
    let mut ssl = (0x000f_a20d | CLIENT_SSL).to_le_bytes().to_vec();
    ssl.extend_from_slice(&[0; 28]);
    assert_eq!(c.feed(C, &pkt(1, &ssl)), ["skip 36"]);
    let hello = [&[0x16, 3, 1, 0, 4][..], &[1, 0, 0, 0]].concat();
    assert_eq!(c.feed(C, &hello), ["skip 9"]);
    assert_eq!(
        c.feed(S, &[&hello[..], &[0x17, 3, 3, 0, 1, 9]].concat()),
        ["skip 9", "skip 6"]
    );
    assert_eq!(c.framer.desyncs, 0);
}

#[test]
fn mariadb_progress_reports_are_skipped() {
    let mut c = Conn::new();
    c.feed(C, &query("ALTER TABLE items ADD INDEX (name)"));
    let progress = pkt(1, b"\xff\xff\xff\x01\x01\x02\x10\x27\0\0\x05stage");
    assert_eq!(
        feed_all(&mut c, S, &[progress, ok(2, 2)]),
        ["skip 20", r#"response 11 ok "" done=true"#]
    );
}

/// The server's view: the same units, the other way round.
fn mirrored(text: &str) -> String {
    text.lines()
        .map(|l| match l.split_once(' ') {
            Some((n, rest)) if n.starts_with('#') => {
                let rest = match rest.as_bytes()[0] {
                    b'>' => format!("<{}", &rest[1..]),
                    b'<' => format!(">{}", &rest[1..]),
                    _ => rest.to_owned(),
                };
                format!("{n} {rest}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect()
}

#[test]
fn fixtures() {
    for (name, records) in fixture::all("mysql") {
        let mut text = String::new();
        for (label, snaplen) in [("full capture", usize::MAX), ("snaplen 64", 64)] {
            let replay = |side| {
                fixture::replay(
                    &SPEC,
                    Transport::Tcp,
                    &records,
                    snaplen,
                    side,
                    Options::default(),
                )
            };
            let client = replay(Side::Client);
            assert_eq!(
                replay(Side::Server),
                mirrored(&client),
                "{name}, snaplen {snaplen}"
            );
            assert!(
                !client.contains("Hunter2Secret"),
                "{name}: the password shows"
            );
            assert!(client.ends_with("desyncs=0\n"), "{name}: {client}");
            text += &format!("{label}\n{client}");
        }
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn no_panic_on_any_bytes() {
    let mut next = fixture::xorshift(0x2545_f491_4f6c_dd1du64);
    let corpus: Vec<Vec<u8>> = fixture::corpus("mysql");
    for i in 0..4000 {
        let len = (next() % 600) as usize;
        let bytes: Vec<u8> = if i % 2 == 0 {
            (0..len).map(|_| next() as u8).collect()
        } else {
            let mut b = corpus[i % corpus.len()].clone();
            for _ in 0..1 + next() % 8 {
                let at = (next() as usize) % b.len();
                b[at] = next() as u8;
            }
            b.insert(0, next() as u8);
            b
        };
        exercise(Protocol::Mysql, Transport::Tcp, &bytes);
    }
}
