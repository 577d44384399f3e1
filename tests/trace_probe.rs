//! trace.bpf.c against the real kernel: socket reads and writes of the
//! target reach userspace with their addresses, sizes and payloads; other
//! fds do not.
//! Needs root (see `common::root_or_skip`).

mod common;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use dflow::event::{SockEvent, SockWhat};
use dflow::probe::Filters;
use dflow::protocol::{Direction, Transport};
use dflow::trace::capture::{self, CaptureConfig};

fn collect(rx: &std::sync::mpsc::Receiver<Vec<SockEvent>>, quiet: Duration) -> Vec<SockEvent> {
    let mut all = Vec::new();
    while let Ok(batch) = rx.recv_timeout(quiet) {
        all.extend(batch);
    }
    all
}

fn data(e: &SockEvent) -> Option<(Direction, u64, &[u8])> {
    match &e.what {
        SockWhat::Data {
            direction,
            bytes,
            payload,
            ..
        } => Some((*direction, *bytes, payload)),
        _ => None,
    }
}

/// The capture of this test process's sockets, 64 bytes of payload each.
fn capture_me() -> (
    dflow::probe::Probe,
    std::sync::mpsc::Receiver<Vec<SockEvent>>,
) {
    capture::start(&CaptureConfig {
        filters: Filters {
            pids: vec![std::process::id()],
            ..Filters::default()
        },
        snaplen: 64,
        exclude_pid: 0,
    })
    .unwrap()
}

#[test]
fn tcp_and_udp_payloads_with_addresses_and_lifecycle() {
    if !common::root_or_skip("tcp_and_udp_payloads_with_addresses_and_lifecycle") {
        return;
    }
    let (probe, rx) = capture_me();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = conn.read(&mut buf).unwrap();
        conn.write_all(&buf[..n]).unwrap();
    });
    let mut client = TcpStream::connect(server_addr).unwrap();
    let request = [b"ping ".as_slice(), &[b'x'; 200]].concat();
    client.write_all(&request).unwrap();
    let mut echoed = vec![0u8; request.len()];
    client.read_exact(&mut echoed).unwrap();
    let client_addr = client.local_addr().unwrap();
    drop(client);
    server.join().unwrap();

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"dns?", peer.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!((n, from), (4, udp.local_addr().unwrap()));

    // A pipe is not a socket: its writes must not show up.
    let (mut r, mut w) = std::io::pipe().unwrap();
    w.write_all(b"not a socket").unwrap();
    r.read_exact(&mut [0u8; 12]).unwrap();

    let events = collect(&rx, Duration::from_millis(300));
    let counters = probe.finish().unwrap();
    assert_eq!(counters.lost, 0);

    let egress_request = events
        .iter()
        .find(|e| e.local == client_addr && data(e).is_some_and(|(d, _, _)| d == Direction::Egress))
        .expect("the client's write");
    let (_, bytes, payload) = data(egress_request).unwrap();
    assert_eq!(bytes, request.len() as u64);
    assert_eq!(payload, &request[..64], "cut at the snaplen");
    assert_eq!(egress_request.remote, server_addr);
    assert_eq!(egress_request.transport, Transport::Tcp);
    assert!(egress_request.exit_ns >= egress_request.enter_ns);

    let server_read = events
        .iter()
        .find(|e| {
            e.local == server_addr && data(e).is_some_and(|(d, _, _)| d == Direction::Ingress)
        })
        .expect("the server's read");
    assert_eq!(server_read.remote, client_addr);
    assert_eq!(data(server_read).unwrap().1, request.len() as u64);

    assert!(
        events
            .iter()
            .any(|e| e.what == SockWhat::Connect && e.remote == server_addr),
        "connect seen"
    );
    assert!(
        events
            .iter()
            .any(|e| e.what == SockWhat::Close && e.local == client_addr),
        "close seen"
    );

    let sent = events
        .iter()
        .find(|e| {
            e.transport == Transport::Udp && data(e).is_some_and(|(d, _, _)| d == Direction::Egress)
        })
        .expect("the UDP send");
    assert_eq!(
        sent.remote,
        peer.local_addr().unwrap(),
        "peer from sendto's address"
    );
    assert_eq!(data(sent).unwrap().2, b"dns?");
    let received = events
        .iter()
        .find(|e| {
            e.transport == Transport::Udp
                && data(e).is_some_and(|(d, _, _)| d == Direction::Ingress)
        })
        .expect("the UDP receive");
    assert_eq!(received.local, peer.local_addr().unwrap());
    assert_eq!(data(received).unwrap().2, b"dns?");
    // recvfrom writes the sender's address after the tracepoint; the
    // pipeline takes it from the reply.
    assert_eq!(received.remote.port(), 0);

    assert!(
        events
            .iter()
            .all(|e| data(e).is_none_or(|(_, _, p)| p != b"not a socket")),
        "pipes are not traced"
    );
}

/// A read already waiting when the capture starts is seen when its data
/// arrives (the sock tracepoints fire as data moves, not at syscall entry);
/// and each message of a sendmmsg/recvmmsg comes with its own payload.
#[test]
fn reads_in_progress_at_attach_and_each_mmsg_message() {
    if !common::root_or_skip("reads_in_progress_at_attach_and_each_mmsg_message") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 64];
        // Blocked in read() before the capture is attached.
        let n = conn.read(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    let mut client = TcpStream::connect(server_addr).unwrap();
    ready_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (probe, rx) = capture_me();
    client.write_all(b"late hello").unwrap();
    assert_eq!(server.join().unwrap(), b"late hello");

    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    let messages: [&[u8]; 3] = [b"first", b"second!", b"third..."];
    assert_eq!(mmsg(&a, &messages, true), 3);
    // Twice on the same vector: the count per thread starts again.
    assert_eq!(mmsg(&a, &messages, true), 3);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(mmsg(&b, &messages, false), 3);

    let events = collect(&rx, Duration::from_millis(300));
    probe.finish().unwrap();
    let late = events
        .iter()
        .find(|e| {
            e.local == server_addr && data(e).is_some_and(|(d, _, _)| d == Direction::Ingress)
        })
        .expect("the read that was waiting at attach");
    assert_eq!(data(late).unwrap().2, b"late hello");

    let payloads = |dir: Direction, local| -> Vec<Vec<u8>> {
        events
            .iter()
            .filter(|e| e.transport == Transport::Udp && e.local == local)
            .filter_map(|e| {
                data(e)
                    .filter(|(d, _, _)| *d == dir)
                    .map(|(_, _, p)| p.to_vec())
            })
            .collect()
    };
    let expected: Vec<Vec<u8>> = messages.iter().map(|m| m.to_vec()).collect();
    let sent = payloads(Direction::Egress, a.local_addr().unwrap());
    assert_eq!(
        sent,
        [expected.clone(), expected.clone()].concat(),
        "sendmmsg, twice"
    );
    // recvmmsg fills 3 buffers of 64 bytes: one received call here, the
    // first three datagrams.
    assert_eq!(
        payloads(Direction::Ingress, b.local_addr().unwrap()),
        expected,
        "recvmmsg"
    );
}

/// sendmmsg (or recvmmsg into 64-byte buffers) of `messages.len()`
/// messages on `socket`; the number of messages moved.
fn mmsg(socket: &UdpSocket, messages: &[&[u8]], send: bool) -> usize {
    use std::os::fd::AsRawFd as _;
    let mut bufs: Vec<Vec<u8>> = if send {
        messages.iter().map(|m| m.to_vec()).collect()
    } else {
        vec![vec![0u8; 64]; messages.len()]
    };
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: an all-zero msghdr is valid (no name, no control).
            let mut hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
            hdr
        })
        .collect();
    let n = hdrs.len() as u32;
    // SAFETY: every header points at a live iovec and buffer above.
    let moved = unsafe {
        if send {
            libc::sendmmsg(socket.as_raw_fd(), hdrs.as_mut_ptr(), n, 0)
        } else {
            libc::recvmmsg(
                socket.as_raw_fd(),
                hdrs.as_mut_ptr(),
                n,
                0,
                std::ptr::null_mut(),
            )
        }
    };
    assert!(moved >= 0, "{}", std::io::Error::last_os_error());
    moved as usize
}
