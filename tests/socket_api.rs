//! The socket API's promises, on an in-memory wire in one process (core 0
//! and core 1 of config/wire.toml's layout): several tasks may wait on one
//! socket without losing wake-ups, socket calls made inside a lent-buffer
//! closure fail cleanly instead of panicking, a socket dropped there is
//! closed right after, and a read into a full buffer is an error rather
//! than a false end of stream. Run under cargo-nextest (one EAL per process).

mod wire;

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use wire::{connect_retrying, on_wire, ANY, SERVER};
use zcnet::net::{stats, TcpListener, TcpStream, UdpSocket};
use zcnet::runtime::{sleep, spawn, timeout};

#[test]
fn two_tasks_accepting_on_one_listener_are_both_woken() {
    // Each acceptor takes exactly one connection. With one waker per
    // listener the second registration replaces the first, and one task
    // would wait forever for a wake-up that went to the other.
    let (server, client, pools_full) = on_wire(
        || async {
            let listener = std::rc::Rc::new(TcpListener::bind(ANY).expect("bind"));
            let accept_one = |l: std::rc::Rc<TcpListener>| spawn(async move { l.accept().await.is_ok() });
            let (a, b) = (accept_one(listener.clone()), accept_one(listener.clone()));
            let (a, b) = (a.await.unwrap_or(false), b.await.unwrap_or(false));
            a && b
        },
        || async {
            let first = connect_retrying().await;
            sleep(Duration::from_millis(50)).await;
            let second = connect_retrying().await;
            sleep(Duration::from_millis(50)).await;
            first.is_ok() && second.is_ok()
        },
    );
    assert_eq!((server, client), (Some(true), Some(true)), "both acceptors got a connection");
    assert!(pools_full);
}

#[test]
fn two_tasks_receiving_on_one_udp_socket_are_both_woken() {
    let (server, client, pools_full) = on_wire(
        || async {
            let socket = std::rc::Rc::new(UdpSocket::bind(ANY).expect("bind"));
            let recv_one = |s: std::rc::Rc<UdpSocket>| spawn(async move { s.recv_packet().await.is_ok() });
            let (a, b) = (recv_one(socket.clone()), recv_one(socket.clone()));
            a.await.unwrap_or(false) && b.await.unwrap_or(false)
        },
        || async {
            let socket = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0))).expect("bind");
            // The first datagrams may go while the server is not bound yet,
            // or before ARP resolves: keep sending until both receivers
            // are done (the server stops the run then).
            for i in 0..50u32 {
                let _ = socket.send_to(i.to_le_bytes().to_vec(), SERVER).await;
                sleep(Duration::from_millis(20)).await;
            }
            true
        },
    );
    assert_eq!(server, Some(true), "both receivers got a datagram");
    assert_eq!(client, Some(true));
    assert!(pools_full);
}

#[test]
fn two_tasks_reading_one_stream_are_both_woken() {
    let (server, client, pools_full) = on_wire(
        || async {
            let listener = TcpListener::bind(ANY).expect("bind");
            let (stream, _) = listener.accept().await.expect("accept");
            let stream = std::rc::Rc::new(stream);
            let read_one = |s: std::rc::Rc<TcpStream>| {
                spawn(async move { matches!(s.read(Vec::with_capacity(64)).await.0, Ok(n) if n > 0) })
            };
            let (a, b) = (read_one(stream.clone()), read_one(stream.clone()));
            let ok = a.await.unwrap_or(false) && b.await.unwrap_or(false);
            let _ = stream.write_all(b"done" as &'static [u8]).await;
            ok
        },
        || async {
            let Ok(stream) = connect_retrying().await else { return false };
            let _ = stream.set_nodelay(true);
            // Two messages apart in time, the first after both readers
            // wait: each reader takes one.
            sleep(Duration::from_millis(100)).await;
            let _ = stream.write_all(b"one" as &'static [u8]).await;
            sleep(Duration::from_millis(100)).await;
            let _ = stream.write_all(b"two" as &'static [u8]).await;
            let (r, b) = stream.read(Vec::with_capacity(16)).await;
            r.is_ok() && b == b"done"
        },
    );
    assert_eq!((server, client), (Some(true), Some(true)), "both readers got their message");
    assert!(pools_full);
}

/// What the server saw inside and after a `read_with` closure that used
/// the stack.
#[derive(Debug, PartialEq)]
struct InsideClosure {
    stats_kind: Option<io::ErrorKind>,
    bind_kind: Option<io::ErrorKind>,
    dropped_peer_saw_eof: bool,
}

#[test]
fn socket_calls_inside_read_with_fail_cleanly_and_a_socket_dropped_there_closes_after() {
    // The server accepts two connections; inside a read_with closure on the
    // first it reads the stack's counters, binds a socket and drops the
    // second connection. The calls must fail with ResourceBusy (not panic),
    // and the dropped connection must still close: its peer sees EOF.
    static OUTCOME: Mutex<Option<InsideClosure>> = Mutex::new(None);
    let (server, client, pools_full) = on_wire(
        || async {
            let listener = TcpListener::bind(ANY).expect("bind");
            let (first, _) = listener.accept().await.expect("accept");
            let (second, _) = listener.accept().await.expect("accept");
            let mut second = Some(second);
            let (mut stats_kind, mut bind_kind) = (None, None);
            let r = first
                .read_with(|bytes| {
                    stats_kind = stats().err().map(|e| e.kind());
                    bind_kind = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 9000))).err().map(|e| e.kind());
                    drop(second.take());
                    (bytes.len(), ())
                })
                .await;
            // The dropped connection closes right after the closure: tell
            // the client to look, and wait for its verdict.
            let (_, _) = first.write_all(b"look" as &'static [u8]).await;
            let (n, verdict) = first.read(Vec::with_capacity(8)).await;
            let saw_eof = n.is_ok() && verdict == b"eof";
            *OUTCOME.lock().unwrap() = Some(InsideClosure { stats_kind, bind_kind, dropped_peer_saw_eof: saw_eof });
            r.is_ok()
        },
        || async {
            let Ok(first) = connect_retrying().await else { return false };
            let Ok(second) = connect_retrying().await else { return false };
            let _ = first.set_nodelay(true);
            let _ = first.write_all(b"go" as &'static [u8]).await;
            let (_, look) = first.read(Vec::with_capacity(8)).await;
            // The server dropped `second` inside its closure: EOF here.
            let eof =
                matches!(timeout(Duration::from_secs(5), second.read(Vec::with_capacity(8))).await, Ok((Ok(0), _)));
            let _ = first.write_all(if eof { b"eof" as &'static [u8] } else { b"data" }).await;
            sleep(Duration::from_millis(50)).await;
            look == b"look"
        },
    );
    assert_eq!((server, client), (Some(true), Some(true)));
    let outcome = OUTCOME.lock().unwrap().take().expect("server outcome");
    assert_eq!(
        outcome,
        InsideClosure {
            stats_kind: Some(io::ErrorKind::ResourceBusy),
            bind_kind: Some(io::ErrorKind::ResourceBusy),
            dropped_peer_saw_eof: true,
        }
    );
    assert!(pools_full);
}

#[test]
fn a_read_into_a_buffer_without_room_is_an_error_not_end_of_stream() {
    let (server, client, pools_full) = on_wire(
        || async {
            let listener = TcpListener::bind(ANY).expect("bind");
            let (stream, _) = listener.accept().await.expect("accept");
            // A full buffer: no spare capacity at all.
            let full = Vec::new();
            let (r, _) = stream.read(full).await;
            let kind = r.err().map(|e| e.kind());
            // The stream is unharmed: the next read gets the data.
            let (r, data) = stream.read(Vec::with_capacity(16)).await;
            kind == Some(io::ErrorKind::InvalidInput) && r.is_ok() && data == b"hello"
        },
        || async {
            let Ok(stream) = connect_retrying().await else { return false };
            stream.write_all(b"hello" as &'static [u8]).await.0.is_ok() && {
                sleep(Duration::from_millis(100)).await;
                true
            }
        },
    );
    assert_eq!((server, client), (Some(true), Some(true)));
    assert!(pools_full);
}
