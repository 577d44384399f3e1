use std::net::SocketAddr;
use std::sync::Arc;

use ratatui::crossterm::event::KeyModifiers;

use super::*;
use crate::event::{Process, ProcessRef};

/// 2024-05-01T12:00:00Z.
const T0: i64 = 1_714_564_800_000_000_000;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;

fn process(pid: u32, comm: &str) -> ProcessRef {
    Arc::new(Process::bare(pid, comm))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// An ok call without code, excerpts or trace.
fn call(
    p: &ProcessRef,
    protocol: Protocol,
    role: Role,
    endpoint: &str,
    at_us: i64,
    took_us: i64,
) -> Span {
    Span {
        start_ns: T0 + at_us * US,
        duration_ns: took_us * US,
        protocol,
        role,
        endpoint: endpoint.to_owned(),
        status: Status::Ok,
        code: None,
        req_bytes: 0,
        resp_bytes: 0,
        process: p.clone(),
        tid: p.pid,
        local: addr("10.0.0.2:41000"),
        remote: addr("10.0.0.3:6379"),
        trace_id: 0,
        span_id: 0,
        parent_span_id: None,
        request: String::new(),
        response: String::new(),
    }
}

/// Twelve requests 250 ms apart from `web` to `api`, seen from both
/// sides, each with the Redis lookup `api` makes for it, every other one
/// with a Postgres query too, and a DNS lookup of `worker`'s every
/// fourth; some fail. Sent children first, as spans end.
fn calls() -> Vec<Span> {
    let web = process(311, "web");
    let api = process(4242, "api");
    let worker = process(5150, "worker");
    let mut out = Vec::new();
    let mut next_id = 0;
    let mut id = || {
        next_id += 1;
        next_id
    };
    for i in 0..12_i64 {
        let at = i * 250_000;
        let took = 3_000 + i * 1_337 % 7_000;
        let (status, code) = match i {
            5 => (Status::ServerError, 500),
            8 => (Status::ClientError, 404),
            _ => (Status::Ok, 200),
        };
        let (client, server, lookup) = (id(), id(), id());
        let request = format!(
            "GET /users/{i} HTTP/1.1\nHost: api:8080\nUser-Agent: web/2.1\nAccept: application/json\nAuthorization: [redacted]"
        );
        let response = format!(
            "HTTP/1.1 {code} {}\nContent-Type: application/json\nContent-Length: 2048\nCache-Control: no-store\n",
            if code == 200 { "OK" } else { "Oops" }
        );
        let http = |p: &ProcessRef, role, at, took, span_id, parent| Span {
            status,
            code: Some(Code::Num(code)),
            req_bytes: 180,
            resp_bytes: if code == 200 { 2_150 } else { 96 },
            local: if role == Role::Client {
                addr("10.0.0.1:40100")
            } else {
                addr("10.0.0.2:8080")
            },
            remote: if role == Role::Client {
                addr("10.0.0.2:8080")
            } else {
                addr("10.0.0.1:40100")
            },
            trace_id: client,
            span_id,
            parent_span_id: parent,
            request: request.clone(),
            response: response.clone(),
            ..call(p, Protocol::Http1, role, "GET /users/:id", at, took)
        };
        let redis = Span {
            req_bytes: 31,
            resp_bytes: 2_060,
            trace_id: client,
            span_id: lookup,
            parent_span_id: Some(server),
            request: format!("GET user:{i}"),
            response: format!(
                "$2041 {{\"id\":{i},\"name\":\"user {i}\",\"email\":\"[redacted]\"}}"
            ),
            status: if i == 3 { Status::Timeout } else { Status::Ok },
            ..call(
                &api,
                Protocol::Redis,
                Role::Client,
                "GET",
                at + 400,
                took / 3,
            )
        };
        out.push(redis);
        if i % 2 == 0 {
            let failed = i == 6;
            out.push(Span {
                req_bytes: 88,
                resp_bytes: if failed { 120 } else { 410 },
                remote: addr("10.0.0.4:5432"),
                trace_id: client,
                span_id: id(),
                parent_span_id: Some(server),
                status: if failed { Status::Error } else { Status::Ok },
                code: failed.then(|| Code::Text("57014".to_owned())),
                request: "SELECT id, name, email FROM users WHERE id = $1".to_owned(),
                response: if failed {
                    "ERROR 57014 canceling statement due to statement timeout".to_owned()
                } else {
                    "SELECT 1".to_owned()
                },
                ..call(
                    &api,
                    Protocol::Postgres,
                    Role::Client,
                    "SELECT users",
                    at + 500 + took / 3,
                    took / 4,
                )
            });
        }
        out.push(http(
            &api,
            Role::Server,
            at + 200,
            took - 400,
            server,
            Some(client),
        ));
        out.push(http(&web, Role::Client, at, took, client, None));
        if i % 4 == 1 {
            let dns_id = id();
            out.push(Span {
                req_bytes: 29,
                resp_bytes: 45,
                remote: addr("10.0.0.53:53"),
                trace_id: dns_id,
                span_id: dns_id,
                status: if i == 9 { Status::Timeout } else { Status::Ok },
                code: (i != 9).then_some(Code::Num(0)),
                request: "query db.internal A id=0x1a2b".to_owned(),
                response: "NOERROR db.internal A 10.0.0.4".to_owned(),
                ..call(
                    &worker,
                    Protocol::Dns,
                    Role::Client,
                    "db.internal A",
                    at + 90_000,
                    850 + i * 3_000,
                )
            });
        }
    }
    out
}

fn status() -> TraceStatus {
    TraceStatus {
        events_per_s: 1_234.0,
        spans: 0,
        capture: CaptureStatus::example(),
    }
}

fn state(width: u16, height: u16) -> TraceState {
    let mut s = TraceState::new(true);
    s.update(Msg::Resize(Size::new(width, height)));
    s.update(Msg::Spans(calls()));
    s.update(Msg::Status(status()));
    s
}

fn press(s: &mut TraceState, code: KeyCode) -> Action {
    s.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn keys(s: &mut TraceState, codes: &[KeyCode]) {
    for &code in codes {
        assert_eq!(press(s, code), Action::None, "{code:?}");
    }
}

fn typed(s: &mut TraceState, text: &str) {
    for c in text.chars() {
        assert_eq!(press(s, KeyCode::Char(c)), Action::None);
    }
}

fn draw(s: &TraceState, width: u16, height: u16) -> Buffer {
    crate::tui::draw(s, width, height)
}

fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn screen(s: &TraceState, width: u16, height: u16) -> String {
    text(&draw(s, width, height))
}

/// The screen row (from the top) drawn selected.
fn selected_row(buf: &Buffer) -> Option<u16> {
    (0..buf.area.height - 1).find(|&y| buf[(0, y)].modifier.contains(Modifier::REVERSED))
}

/// Selects the first table row `pick` accepts.
fn select(s: &mut TraceState, pick: impl Fn(&Span) -> bool) {
    press(s, KeyCode::Home);
    let len = s.rows().len();
    for _ in 0..len {
        if s.selected().is_some_and(&pick) {
            return;
        }
        press(s, KeyCode::Down);
    }
    panic!("no such row");
}

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

/// Credentials never reach the screen: bytes with an Authorization
/// header and a Cookie go through the real parser and pipeline into
/// the view, whose waterfall shows the request's excerpt.
#[test]
fn credentials_are_redacted_on_screen() {
    use crate::event::{SockEvent, SockWhat};
    use crate::protocol::{Direction, Options, Transport};
    use crate::trace::pipeline::{Pipeline, PipelineConfig};
    const SECRET: &str = "s3cr3t-t0ken";
    let event = |dir, t: u64, bytes: &[u8]| SockEvent {
        enter_ns: t,
        exit_ns: t + 1000,
        pid: 7,
        tid: 7,
        fd: 3,
        sock: 1,
        transport: Transport::Tcp,
        local: addr("127.0.0.1:8080"),
        remote: addr("127.0.0.1:40000"),
        comm: crate::event::Comm::new("api"),
        what: SockWhat::Data {
            direction: dir,
            seq: 0,
            bytes: bytes.len() as u64,
            offset: 0,
            payload: bytes.to_vec(),
        },
    };
    let request = format!(
        "GET /me?access_token={SECRET} HTTP/1.1\r\nAuthorization: Bearer {SECRET}\r\nCookie: sid={SECRET}\r\n\r\n"
    );
    let response =
        format!("HTTP/1.1 200 OK\r\nSet-Cookie: sid={SECRET}\r\nContent-Length: 0\r\n\r\n");
    let mut pipeline = Pipeline::new(
        PipelineConfig {
            protocols: Vec::new(),
            options: Options::default(),
            epoch_offset_ns: 0,
        },
        Box::new(|pid, comm| Arc::new(Process::bare(pid, comm))),
    );
    pipeline.feed(&event(Direction::Ingress, 1_000, request.as_bytes()));
    pipeline.feed(&event(Direction::Egress, 5_000, response.as_bytes()));
    let mut spans = Vec::new();
    pipeline.flush(&mut spans);
    assert_eq!(spans.len(), 1);
    let mut s = TraceState::new(true);
    s.update(Msg::Resize(Size::new(120, 40)));
    s.update(Msg::Spans(spans));
    press(&mut s, KeyCode::Enter);
    let shown = screen(&s, 120, 40);
    assert!(shown.contains("Authorization: [redacted]"), "{shown}");
    assert!(shown.contains("Set-Cookie: [redacted]"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
}

#[test]
fn table() {
    for (w, h) in SIZES {
        let s = state(w, h);
        let buf = draw(&s, w, h);
        // Following: the newest call, at the bottom, is selected.
        assert_eq!(selected_row(&buf), Some(h - 3));
        insta::assert_snapshot!(format!("table_{w}x{h}"), text(&buf));
    }
}

#[test]
fn statuses_have_colours() {
    let s = state(120, 40);
    let buf = draw(&s, 120, 40);
    let shown = text(&buf);
    let colour_of = |word: &str| {
        let (y, line) = shown
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(word))
            .unwrap();
        // The cell after the leading space.
        let x = line[..line.find(word).unwrap()].chars().count() as u16 + 1;
        buf[(x, y as u16)].fg
    };
    assert_eq!(colour_of(" 500 "), Color::Red);
    assert_eq!(colour_of(" 404 "), Color::Yellow);
    assert_eq!(colour_of(" timeout "), Color::Magenta);
    assert_eq!(colour_of(" 57014 "), Color::Red);
    assert_eq!(colour_of(" 200 "), Color::Green);
}

#[test]
fn filter_narrows_as_you_type() {
    let mut s = state(80, 24);
    assert_eq!(s.rows().len(), 45);
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "RE");
    // redis, and "refused"-free others: `re` is also in no other field.
    assert!(s.rows().len() < 45);
    typed(&mut s, "dis");
    assert_eq!(s.rows().len(), 12);
    assert!(s.rows().all(|r| r.protocol == Protocol::Redis));
    let shown = screen(&s, 80, 24);
    assert!(shown.contains("/REdis   12 calls match"), "{shown}");
    press(&mut s, KeyCode::Backspace);
    assert_eq!(s.filter(), "REdi");
    assert_eq!(s.rows().len(), 12);
    press(&mut s, KeyCode::Esc);
    assert_eq!(s.filter(), "");
    assert_eq!(s.rows().len(), 45);

    // q is a character while typing; Enter keeps the filter.
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "q");
    assert_eq!(s.filter(), "q");
    press(&mut s, KeyCode::Backspace);
    typed(&mut s, "10.0.0.53");
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.rows().len(), 3, "by remote address");
    assert_eq!(press(&mut s, KeyCode::Char('q')), Action::Quit);
    // By code and by process.
    press(&mut s, KeyCode::Esc);
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "57014");
    assert_eq!(s.rows().len(), 1);
    press(&mut s, KeyCode::Esc);
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "web[311]");
    assert_eq!(s.rows().len(), 12);
}

#[test]
fn filtered() {
    let mut s = state(80, 24);
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "users");
    press(&mut s, KeyCode::Enter);
    let shown = screen(&s, 80, 24);
    assert!(shown.contains("30 of 45 calls · /users"), "{shown}");
    insta::assert_snapshot!("filtered_80x24", shown);
    // Esc out of the prompt clears the kept filter too.
    press(&mut s, KeyCode::Esc);
    assert_eq!(s.rows().len(), 45);
}

/// Presses `s` until the table is sorted by `key`.
fn sort_by(s: &mut TraceState, key: SortKey) {
    for _ in 0..SortKey::ALL.len() {
        if s.sort().0 == key {
            return;
        }
        press(s, KeyCode::Char('s'));
    }
    panic!("{key:?} is not shown");
}

#[test]
fn sorting() {
    let mut s = state(80, 24);
    let header = |s: &TraceState| screen(s, 80, 24).lines().next().unwrap().to_owned();
    let starts: Vec<i64> = s.rows().map(|r| r.start_ns).collect();
    assert!(starts.is_sorted(), "by time, oldest first");
    assert!(header(&s).contains("time UTC▲"));
    // `s` walks the columns left to right; the title is cut, not the arrow.
    let walk = [
        (SortKey::Process, "process▲"),
        (SortKey::Protocol, "prot▲"),
        (SortKey::Endpoint, "endpoint▲"),
        (SortKey::Status, "status▼"),
        (SortKey::Latency, "latency▼"),
        (SortKey::Req, "req▼"),
        (SortKey::Resp, "res▼"),
        (SortKey::Time, "time UTC▲"),
    ];
    for (key, title) in walk {
        press(&mut s, KeyCode::Char('s'));
        assert_eq!(s.sort(), (key, false));
        let header = header(&s);
        assert!(header.contains(title), "{key:?}: {header}");
        assert_eq!(header.matches(['▲', '▼']).count(), 1, "{header}");
    }

    sort_by(&mut s, SortKey::Process);
    let comms: Vec<&str> = s.rows().map(|r| r.process.comm.as_str()).collect();
    assert!(comms.is_sorted());
    sort_by(&mut s, SortKey::Protocol);
    let protocols: Vec<&str> = s.rows().map(|r| r.protocol.as_str()).collect();
    assert!(protocols.is_sorted(), "{protocols:?}");
    sort_by(&mut s, SortKey::Endpoint);
    let endpoints: Vec<&str> = s.rows().map(|r| r.endpoint.as_str()).collect();
    assert!(endpoints.is_sorted(), "{endpoints:?}");
    sort_by(&mut s, SortKey::Status);
    let worst = s.rows().next().unwrap();
    assert_eq!(worst.status, Status::Error, "errors first");
    sort_by(&mut s, SortKey::Latency);
    let took: Vec<i64> = s.rows().map(|r| r.duration_ns).collect();
    assert!(took.is_sorted_by(|a, b| a >= b), "slowest first");
    press(&mut s, KeyCode::Char('S'));
    let took: Vec<i64> = s.rows().map(|r| r.duration_ns).collect();
    assert!(took.is_sorted(), "reversed");
    assert!(header(&s).contains("latency▲"));
    sort_by(&mut s, SortKey::Req);
    assert_eq!(s.sort(), (SortKey::Req, false), "a new column, unreversed");
    let sizes: Vec<u32> = s.rows().map(|r| r.req_bytes).collect();
    assert!(sizes.is_sorted_by(|a, b| a >= b), "biggest first");
    sort_by(&mut s, SortKey::Resp);
    let sizes: Vec<u32> = s.rows().map(|r| r.resp_bytes).collect();
    assert!(sizes.is_sorted_by(|a, b| a >= b), "biggest first");
}

#[test]
fn sorting_skips_the_columns_not_shown() {
    // 60 columns leave out the time and the sizes.
    let mut s = state(60, 24);
    let mut seen = Vec::new();
    for _ in 0..6 {
        press(&mut s, KeyCode::Char('s'));
        seen.push(s.sort().0);
    }
    use SortKey::*;
    assert_eq!(
        seen,
        [Process, Protocol, Endpoint, Status, Latency, Process]
    );
}

#[test]
fn selection_stays_on_its_call_when_sorted() {
    let mut s = state(80, 24);
    select(&mut s, |r| r.status == Status::ClientError);
    press(&mut s, KeyCode::Char('s'));
    assert_eq!(s.selected().unwrap().status, Status::ClientError);
}

#[test]
fn follow_until_moved() {
    let mut s = state(80, 24);
    assert!(s.following());
    let later = |n: i64| {
        let p = process(9, "late");
        (0..n)
            .map(|i| call(&p, Protocol::Redis, Role::Client, "PING", 10_000_000 + i, 5))
            .collect::<Vec<_>>()
    };
    s.update(Msg::Spans(later(3)));
    assert_eq!(s.selected().unwrap().start_ns, T0 + (10_000_000 + 2) * US);
    press(&mut s, KeyCode::Up);
    assert!(!s.following());
    let chosen = s.selected().unwrap().clone();
    let row = selected_row(&draw(&s, 80, 24));
    s.update(Msg::Spans(later(5)));
    assert_eq!(s.selected(), Some(&chosen), "stays on its call");
    assert_eq!(
        selected_row(&draw(&s, 80, 24)),
        row,
        "at the same place on screen"
    );
    press(&mut s, KeyCode::End);
    assert!(s.following());
    s.update(Msg::Spans(later(1)));
    assert_eq!(s.selected().unwrap().process.comm, "late");
    assert_eq!(s.selected(), s.rows().last());
    // Home and a page down leave follow.
    keys(&mut s, &[KeyCode::Char('g'), KeyCode::PageDown]);
    assert!(!s.following());
    assert_eq!(s.selected(), s.rows().nth(21));
    keys(&mut s, &[KeyCode::Char('G')]);
    assert!(s.following());
}

/// Following keeps the newest call selected, so on screen, in either
/// direction of the time order and in other orders, and End / G come
/// back to it.
#[test]
fn following_newest_first() {
    let later = |at_us: i64| {
        let p = process(9, "late");
        vec![call(&p, Protocol::Redis, Role::Client, "PING", at_us, 5)]
    };
    for (w, h) in SIZES {
        let mut s = state(w, h);
        press(&mut s, KeyCode::Char('S'));
        assert!(s.following());
        let newest = s.rows().next().unwrap().clone();
        assert_eq!(Some(newest.start_ns), s.rows().map(|r| r.start_ns).max());
        assert_eq!(s.selected(), Some(&newest));
        let buf = draw(&s, w, h);
        assert_eq!(selected_row(&buf), Some(1), "the top row");
        insta::assert_snapshot!(format!("newest_first_{w}x{h}"), text(&buf));

        s.update(Msg::Spans(later(10_000_000)));
        assert_eq!(s.selected().unwrap().process.comm, "late");
        assert_eq!(selected_row(&draw(&s, w, h)), Some(1));
        keys(&mut s, &[KeyCode::Down, KeyCode::Down]);
        assert!(!s.following());
        press(&mut s, KeyCode::Char('G'));
        assert!(s.following());
        assert_eq!(s.selected().unwrap().process.comm, "late");
        assert_eq!(selected_row(&draw(&s, w, h)), Some(1));

        // By latency the newest call sorts anywhere: it is still selected.
        sort_by(&mut s, SortKey::Latency);
        s.update(Msg::Spans(later(10_000_001)));
        assert_eq!(s.selected().unwrap().start_ns, T0 + 10_000_001 * US);
        assert!(selected_row(&draw(&s, w, h)).is_some());
        assert!(screen(&s, w, h).contains("following"));
    }
}

#[test]
fn replay_starts_at_the_first_call() {
    let mut s = TraceState::new(false);
    s.update(Msg::Spans(calls()));
    assert!(!s.following());
    assert_eq!(s.selected(), s.rows().next());
}

#[test]
fn waterfall() {
    for (w, h) in SIZES {
        let mut s = state(w, h);
        let mut status = status();
        status.capture.note = Some("process 311 exited".to_owned());
        s.update(Msg::Status(status));
        // The server side of the second request: no Postgres query.
        select(&mut s, |r| {
            r.role == Role::Server && r.request.starts_with("GET /users/1 ")
        });
        press(&mut s, KeyCode::Enter);
        assert_eq!(s.screen(), Screen::Waterfall);
        let (rows, selected) = s.waterfall().unwrap();
        let shape: Vec<(&str, usize)> = rows
            .iter()
            .map(|(r, d)| (r.process.comm.as_str(), *d))
            .collect();
        assert_eq!(shape, [("web", 0), ("api", 1), ("api", 2)]);
        assert_eq!(selected.role, Role::Server);
        let buf = draw(&s, w, h);
        assert_eq!(selected_row(&buf), Some(2));
        insta::assert_snapshot!(format!("waterfall_{w}x{h}"), text(&buf));

        press(&mut s, KeyCode::Down);
        assert_eq!(s.waterfall().unwrap().1.protocol, Protocol::Redis);
        press(&mut s, KeyCode::Down);
        assert_eq!(s.waterfall().unwrap().1.protocol, Protocol::Redis, "last");
        let shown = screen(&s, w, h);
        assert!(shown.contains("GET user:1"), "{shown}");
        press(&mut s, KeyCode::Esc);
        assert_eq!(s.screen(), Screen::Table);
        assert_eq!(
            s.selected().unwrap().role,
            Role::Server,
            "back where it was"
        );
    }
}

#[test]
fn a_missing_parent_makes_a_root() {
    let p = process(1, "app");
    let span = |id, parent, at| Span {
        trace_id: 7,
        span_id: id,
        parent_span_id: parent,
        ..call(&p, Protocol::Http1, Role::Server, "GET /", at, 100)
    };
    let mut s = TraceState::new(false);
    s.update(Msg::Spans(vec![
        span(3, Some(99), 20),
        span(1, None, 10),
        span(2, Some(1), 15),
        // A cycle: neither is a root, both are still drawn.
        span(5, Some(6), 30),
        span(6, Some(5), 40),
    ]));
    press(&mut s, KeyCode::Enter);
    let (rows, _) = s.waterfall().unwrap();
    let shape: Vec<(u64, usize)> = rows.iter().map(|(r, d)| (r.span_id, *d)).collect();
    assert_eq!(shape, [(1, 0), (2, 1), (3, 0), (5, 0), (6, 1)]);
}

#[test]
fn long_excerpts_are_cut_to_fit() {
    let p = process(1, "app");
    let mut long = call(
        &p,
        Protocol::Postgres,
        Role::Client,
        "SELECT orders",
        0,
        100,
    );
    long.request = format!(
        "SELECT {} FROM orders",
        vec!["a_rather_long_column"; 30].join(", ")
    );
    long.response = (0..40).map(|i| format!("row {i}\n")).collect();
    let mut s = TraceState::new(false);
    s.update(Msg::Resize(Size::new(80, 24)));
    s.update(Msg::Spans(vec![long]));
    press(&mut s, KeyCode::Enter);
    let shown = screen(&s, 80, 24);
    assert!(
        shown.contains("SELECT a_rather_long_column, a_rather"),
        "{shown}"
    );
    assert!(shown.contains("more lines"), "{shown}");
    assert!(shown.contains("row 0"), "{shown}");
    assert!(!shown.contains("row 39"), "{shown}");
}

#[test]
fn summary() {
    let mut s = state(80, 24);
    press(&mut s, KeyCode::Tab);
    assert_eq!(s.screen(), Screen::Summary);
    let shown = screen(&s, 80, 24);
    insta::assert_snapshot!("summary_80x24", shown);
    let first = &s.summary()[0];
    assert_eq!(
        (first.protocol, first.calls),
        (Protocol::Http1, 12),
        "busiest first"
    );
    assert_eq!(first.role, Role::Client, "then by name, client first");

    // Enter: that endpoint's calls.
    select_summary(&mut s, "SELECT users");
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.screen(), Screen::Table);
    assert_eq!(s.rows().len(), 6);
    assert!(s.rows().all(|r| r.endpoint == "SELECT users"));
    assert!(screen(&s, 80, 24).contains("6 of 45 calls · pg → SELECT users"));
    press(&mut s, KeyCode::Esc);
    assert_eq!(s.rows().len(), 45);
}

fn select_summary(s: &mut TraceState, endpoint: &str) {
    press(s, KeyCode::Home);
    for _ in 0..s.summary().len() {
        if s.summary_selected
            .as_ref()
            .is_some_and(|(_, _, e)| e == endpoint)
        {
            return;
        }
        press(s, KeyCode::Down);
    }
    panic!("no {endpoint}");
}

#[test]
fn summary_numbers() {
    let p = process(1, "app");
    // 1..=100 ms, one every 100 ms over exactly 10 s; 5 errors.
    let spans: Vec<Span> = (0..100)
        .map(|i| Span {
            status: if i % 20 == 0 {
                Status::ServerError
            } else {
                Status::Ok
            },
            ..call(
                &p,
                Protocol::Http1,
                Role::Server,
                "GET /",
                i * 100_000,
                (i + 1) * 1_000,
            )
        })
        .collect();
    let mut s = TraceState::new(false);
    s.update(Msg::Spans(spans));
    s.update(Msg::Spans(vec![call(
        &p,
        Protocol::Redis,
        Role::Client,
        "GET",
        0,
        1,
    )]));
    press(&mut s, KeyCode::Tab);
    let get = &s.summary()[0];
    assert_eq!(get.endpoint, "GET /");
    assert_eq!(get.calls, 100);
    assert_eq!(get.errors, 5);
    assert_eq!(get.error_pct(), 5.0);
    // As `endpoints_v` computes them (quantile_cont): 1..=100 ms.
    assert_eq!(get.p50_ns, 50 * MS + MS / 2);
    assert_eq!(get.p99_ns, 99 * MS + MS / 100);
    assert_eq!(get.max_ns, 100 * MS);
    assert!((get.rate - 10.0).abs() < 1e-9, "{}", get.rate);
    assert_eq!(s.summary()[1].rate, 0.1);

    // The filter applies; sorting by p99 puts Redis (1 µs) last.
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "redis");
    assert_eq!(s.summary().len(), 1);
    press(&mut s, KeyCode::Esc);
    keys(
        &mut s,
        &[KeyCode::Char('s'), KeyCode::Char('s'), KeyCode::Char('s')],
    );
    assert_eq!(s.summary_sort, SummaryKey::P99);
    assert_eq!(s.summary()[1].protocol, Protocol::Redis);
    press(&mut s, KeyCode::Char('r'));
    assert_eq!(s.summary()[0].protocol, Protocol::Redis);
}

#[test]
fn help() {
    for (w, h) in SIZES {
        let mut s = state(w, h);
        press(&mut s, KeyCode::Char('?'));
        insta::assert_snapshot!(format!("help_{w}x{h}"), screen(&s, w, h));
        press(&mut s, KeyCode::Char('j'));
        assert!(!s.help);
        assert!(s.following(), "the key only closed the help");
    }
}

#[test]
fn quit() {
    let mut s = state(80, 24);
    assert_eq!(press(&mut s, KeyCode::Char('q')), Action::Quit);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(s.update(Msg::Key(ctrl_c)), Action::Quit);
    press(&mut s, KeyCode::Char('/'));
    assert_eq!(s.update(Msg::Key(ctrl_c)), Action::Quit);
    press(&mut s, KeyCode::Esc);
    press(&mut s, KeyCode::Enter);
    assert_eq!(
        press(&mut s, KeyCode::Char('q')),
        Action::Quit,
        "from the waterfall"
    );
}

#[test]
fn only_the_most_recent_are_kept() {
    let p = process(1, "app");
    let batch = |from: i64, n: i64| -> Vec<Span> {
        (from..from + n)
            .map(|i| {
                call(
                    &p,
                    Protocol::Redis,
                    Role::Client,
                    &format!("GET k{i}"),
                    i,
                    1,
                )
            })
            .collect()
    };
    let mut s = TraceState::with_capacity(true, 10);
    s.update(Msg::Spans(batch(0, 6)));
    s.update(Msg::Spans(batch(6, 6)));
    assert_eq!(s.dropped(), 2);
    s.update(Msg::Spans(batch(12, 25)));
    assert_eq!(s.dropped(), 27);
    assert_eq!(s.kept.len(), 10);
    let names: Vec<&str> = s.rows().map(|r| r.endpoint.as_str()).collect();
    assert_eq!(names.first(), Some(&"GET k27"));
    assert_eq!(names.last(), Some(&"GET k36"));
    let shown = screen(&s, 80, 24);
    assert!(shown.contains("37 spans · "), "{shown}");
    assert!(shown.contains(" · 27 older not kept · "), "{shown}");
    // A filtered view loses its old rows too.
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "k3");
    assert_eq!(s.rows().len(), 7);
    s.update(Msg::Spans(batch(37, 5)));
    assert_eq!(s.rows().len(), 8, "k32..k39 of k32..k41");
}

#[test]
fn lost_events_stand_out() {
    let mut s = state(80, 24);
    let mut lost = status();
    lost.capture.lost = 1_234;
    s.update(Msg::Status(lost));
    let buf = draw(&s, 80, 24);
    let shown = text(&buf);
    let last = shown.lines().nth(23).unwrap();
    assert!(last.contains("1,234 lost"), "{last}");
    let x = last[..last.find("1,234 lost").unwrap()].chars().count() as u16;
    assert_eq!(buf[(x, 23)].bg, Color::Red);
    // Replay: no dflow cost, says replay.
    let mut replay = status();
    replay.capture.live = false;
    s.update(Msg::Status(replay));
    let last = screen(&s, 80, 24).lines().nth(23).unwrap().to_owned();
    assert!(
        last.contains("replay 00:12") && !last.contains("CPU"),
        "{last}"
    );
}

#[test]
fn empty() {
    let live = TraceState::new(true);
    assert!(screen(&live, 80, 24).contains("waiting for calls…"));
    let replay = TraceState::new(false);
    assert!(screen(&replay, 80, 24).contains("no calls"));
    let mut s = state(80, 24);
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "nothing like this");
    assert!(screen(&s, 80, 24).contains("no calls match the filter"));
    press(&mut s, KeyCode::Enter);
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.screen(), Screen::Table, "no call to open");
}

#[test]
fn narrow_terminals_keep_the_endpoint() {
    for width in [40, 50, 60, 79, 80, 109, 110, 200] {
        let cols = columns(width);
        let total: u16 = cols.iter().map(|c| c.1 + 1).sum::<u16>() - 1;
        assert_eq!(total, width, "{cols:?}");
        if width < 50 {
            // Too narrow for the rest to leave 16.
            continue;
        }
        let endpoint = cols.iter().find(|c| c.0 == Column::Endpoint).unwrap().1;
        assert!(endpoint >= 16, "{width}: {cols:?}");
    }
    let s = state(50, 12);
    let shown = screen(&s, 50, 12);
    assert!(shown.contains("api[4242]"), "{shown}");
}

/// A long process name is cut before its pid, which tells apart
/// processes of one name.
#[test]
fn process_names() {
    let names = [
        (24817, "python3"),
        (812, "systemd-resolve"),
        (4194303, "postgres"),
        (7, "nginx"),
    ];
    let spans: Vec<Span> = names
        .iter()
        .enumerate()
        .map(|(i, &(pid, comm))| {
            let at = i as i64 * 1_000;
            call(
                &process(pid, comm),
                Protocol::Http1,
                Role::Server,
                "GET /",
                at,
                100,
            )
        })
        .collect();
    for (w, h) in SIZES {
        let mut s = TraceState::new(false);
        s.update(Msg::Resize(Size::new(w, h)));
        s.update(Msg::Spans(spans.clone()));
        let shown = screen(&s, w, h);
        let expected: &[&str] = if w < 110 {
            &[
                "pyth…[24817] ",
                "system…[812] ",
                "po…[4194303] ",
                "nginx[7] ",
            ]
        } else {
            &[
                "python3[24817] ",
                "systemd-reso…[812] ",
                "postgres[4194303] ",
            ]
        };
        for name in expected {
            assert!(shown.contains(name), "{name}: {shown}");
        }
        insta::assert_snapshot!(format!("process_names_{w}x{h}"), shown);
    }
}

#[test]
fn counts_agree_with_their_numbers() {
    let p = process(1, "app");
    let mut s = TraceState::new(false);
    s.update(Msg::Spans(vec![call(
        &p,
        Protocol::Redis,
        Role::Client,
        "PING",
        0,
        5,
    )]));
    let shown = screen(&s, 80, 24);
    assert!(shown.contains("\n1 call · sort"), "{shown}");
    assert!(shown.contains(" 1 span · "), "{shown}");
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "ping");
    let shown = screen(&s, 80, 24);
    assert!(shown.contains("/ping   1 call matches"), "{shown}");
    press(&mut s, KeyCode::Enter);
    let shown = screen(&s, 80, 24);
    assert!(shown.contains("1 of 1 call · /ping"), "{shown}");
    press(&mut s, KeyCode::Tab);
    let shown = screen(&s, 80, 24);
    assert!(shown.contains("\n1 endpoint · "), "{shown}");
    press(&mut s, KeyCode::Char('/'));
    let shown = screen(&s, 80, 24);
    assert!(shown.contains("1 endpoint matches"), "{shown}");
    assert!(!shown.contains(" 1 calls") && !shown.contains(" 1 spans"));
    assert_eq!(counted(2, "call", "calls"), "2 calls");
    assert_eq!(counted(1_000, "call", "calls"), "1,000 calls");
    assert_eq!(counted(0, "call", "calls"), "0 calls");
}

#[test]
fn numbers() {
    assert_eq!(latency(850), "850ns");
    assert_eq!(latency(950_000), "950µs");
    assert_eq!(latency(999_499), "999µs");
    assert_eq!(latency(999_500), "1.0ms");
    assert_eq!(latency(12_345_678), "12.3ms");
    assert_eq!(latency(99_949_999), "99.9ms");
    assert_eq!(latency(99_950_000), "100ms");
    assert_eq!(latency(1_200_000_000), "1.20s");
    assert_eq!(latency(120_000_000_000), "120s");
    assert_eq!(size(512), "512B");
    assert_eq!(size(1_000), "1.0K");
    assert_eq!(size(4_200), "4.1K");
    assert_eq!(size(41_000), "40K");
    assert_eq!(size(1_023_000), "999K");
    assert_eq!(size(1_024_000), "1.0M");
    assert_eq!(size(u64::from(u32::MAX)), "4.0G");
    assert_eq!(clock_utc(T0 + 3_723_045 * MS), "13:02:03.045");
    assert_eq!(clock_utc(-1), "23:59:59.999");
    assert_eq!(rate(0.1), "0.10");
    assert_eq!(rate(12.34), "12.3");
    assert_eq!(rate(340.2), "340");
    assert_eq!(percent(5.0), "5.0%");
    assert_eq!(percent(100.0), "100%");
}
