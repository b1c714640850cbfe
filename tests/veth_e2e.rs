//! End-to-end tests over a veth pair: the app's port is AF_XDP (`net_af_xdp`,
//! config/xdp.toml) on one end, kernel clients (curl, Python) use the other —
//! or AF_PACKET where the kernel lacks AF_XDP (the harness says which, see
//! `VethDriver::detect`). The same kernel clients as behind net_tap, over the
//! fast path the HTTP benchmark uses.
//!
//! Each test has its own namespace holding both ends of the pair; all
//! traffic stays on 198.18.0.0/24 inside it.

mod common;

use common::{assert_clean_exit, assert_success, net_stat, App, KernelChecksums, Netns, VethDriver, STACK_IP};
use std::time::Duration;

const ECHO: &str = env!("CARGO_BIN_EXE_zcnet-echo");
const HTTPD: &str = env!("CARGO_BIN_EXE_zcnet-httpd");

/// `curl URL` in `ns`: (exit status success, body + "\n" + HTTP code).
fn curl(ns: &Netns, url: &str, max_secs: u32) -> (bool, String) {
    let out = ns.run(
        "curl",
        &["-sS", "--max-time", &max_secs.to_string(), "-w", "\n%{http_code}", url],
        Duration::from_secs(max_secs as u64 + 10),
    );
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn curl_and_python_get_pages_from_httpd_over_the_veth() {
    let ns = Netns::new();
    let app = App::start_veth(&ns, HTTPD, &["--port", "80"]);
    let url = format!("http://{STACK_IP}/");
    for _ in 0..3 {
        let (ok, text) = curl(&ns, &url, 10);
        assert!(ok, "curl failed: {text}");
        assert_eq!(text, "Hello, zcnet\n\n200");
    }
    // Many requests on one keep-alive connection, from another client.
    let out = ns.python(
        &format!(
            r#"
import http.client
c = http.client.HTTPConnection("{STACK_IP}", 80, timeout=10)
for i in range(200):
    c.request("GET", "/")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and body == b"Hello, zcnet\n", (i, r.status, body)
print("200 responses on one connection")
"#
        ),
        Duration::from_secs(30),
    );
    assert_success(&out, "python http.client");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    assert!(net_stat(&stdout, "accepted").unwrap_or(0) >= 4, "fewer connections than clients:\n{stdout}");
}

#[test]
fn echo_round_trips_random_bytes_over_the_veth() {
    let ns = Netns::new();
    let app = App::start_veth(&ns, ECHO, &[]);
    let out = ns.python(
        &format!(
            r#"
import os, socket, threading
data = os.urandom(4 << 20)
s = socket.create_connection(("{STACK_IP}", 7), timeout=10)
got = bytearray()
def reader():
    while True:
        b = s.recv(65536)
        if not b:
            return
        got.extend(b)
t = threading.Thread(target=reader, daemon=True)
t.start()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
t.join(30)
assert not t.is_alive(), f"no EOF, {{len(got)}} bytes back"
assert bytes(got) == data, f"sent {{len(data)}} bytes, got {{len(got)}} back, not the same"
print("echoed", len(data), "bytes intact")
"#
        ),
        Duration::from_secs(45),
    );
    assert_success(&out, "python echo client");
    assert!(String::from_utf8_lossy(&out.stdout).contains("echoed 4194304 bytes intact"));
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
}

/// The pools are checked after the port is closed. DPDK 22.11's net_af_xdp
/// keeps its fill ring's mbufs then (2048, taken at queue setup): they are
/// counted apart and said so, every other mbuf is back, and EAL is cleaned
/// up. net_af_packet keeps none.
#[test]
fn every_mbuf_is_back_at_exit_but_the_fill_ring_the_driver_keeps() {
    let ns = Netns::new();
    let driver = VethDriver::detect(&ns);
    let app = App::start_veth(&ns, ECHO, &[]);
    // Traffic both ways first, so mbufs have been in the driver's rings.
    let out = ns.python(
        &format!(
            r#"
import socket
for n in range(20):
    s = socket.create_connection(("{STACK_IP}", 7), timeout=10)
    s.sendall(b"x" * 100000)
    s.shutdown(socket.SHUT_WR)
    got = 0
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += len(b)
    assert got == 100000, got
    s.close()
print("20 echoes")
"#
        ),
        Duration::from_secs(45),
    );
    assert_success(&out, "python echo client");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    assert!(!stderr.contains("skipping rte_eal_cleanup"), "EAL cleanup was skipped:\n{stderr}");
    assert!(!stderr.contains("leaking it"), "a pool was leaked:\n{stderr}");
    let kept = stderr.lines().find(|l| l.contains("kept") && l.contains("not a leak"));
    match driver {
        VethDriver::AfXdp => {
            let line = kept.unwrap_or_else(|| panic!("no word of the fill ring the PMD keeps:\n{stderr}"));
            assert!(line.contains("net_af_xdp kept 2048 mbuf(s)"), "{line}");
        }
        VethDriver::AfPacket => assert!(kept.is_none(), "af_packet keeps no mbufs:\n{stderr}"),
    }
}

/// With the kernel end's tx checksum offload on (a veth's default), TCP
/// segments arrive with partial checksums: the stack must drop them and
/// count every one, not lose them silently.
#[test]
fn partial_checksums_from_a_kernel_with_tx_offload_are_counted_drops() {
    let ns = Netns::new();
    let app = App::start_veth_with(&ns, HTTPD, &["--port", "80"], KernelChecksums::Partial);
    // ping's ICMP checksums are computed in full: the link itself works.
    let out = ns.run("ping", &["-c", "2", "-i", "0.2", "-W", "2", STACK_IP], Duration::from_secs(15));
    assert_success(&out, "ping over the veth");
    let (ok, text) = curl(&ns, &format!("http://{STACK_IP}/"), 2);
    assert!(!ok, "curl got an answer although every SYN's checksum is partial: {text}");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    // curl's SYN and at least one retransmission of it within 2 s.
    let dropped = net_stat(&stdout, "drop_bad_checksum").unwrap_or(0);
    assert!(dropped >= 2, "partial checksums not counted (drop_bad_checksum {dropped}):\n{stdout}");
    assert_eq!(net_stat(&stdout, "accepted"), Some(0), "{stdout}");
}

/// ICMP is checked in zcnet's ingress too (smoltcp checks nothing again):
/// echo requests with a wrong checksum get no reply and each is counted.
#[test]
fn icmp_with_a_bad_checksum_is_counted_and_not_answered() {
    let ns = Netns::new();
    let app = App::start_veth(&ns, ECHO, &[]);
    let out = ns.run("ping", &["-c", "1", "-W", "2", STACK_IP], Duration::from_secs(10));
    assert_success(&out, "ping over the veth");
    let out = ns.python(
        &format!(
            r#"
from scapy.layers.inet import IP, ICMP
from scapy.sendrecv import sr
good = IP(dst="{STACK_IP}")/ICMP(id=7, seq=1)/b"zcnet"
bad = [IP(dst="{STACK_IP}")/ICMP(id=7, seq=s, chksum=0xdead)/b"zcnet" for s in range(2, 5)]
answered, _ = sr(bad, timeout=1, verbose=False)
print("bad answered", len(answered))
answered, _ = sr(good, timeout=2, verbose=False)
print("good answered", len(answered))
"#
        ),
        Duration::from_secs(20),
    );
    assert_success(&out, "scapy");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bad answered 0") && text.contains("good answered 1"), "{text}");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    assert_eq!(net_stat(&stdout, "drop_bad_checksum"), Some(3), "{stdout}");
}
