//! End-to-end tests of the zero-copy datagram path and of raw frames
//! (issue 5): kernel clients and a crafted-frame sender (Python with scapy,
//! writing whole frames to an `AF_PACKET` socket on `zc0`) in a namespace,
//! against `zcnet-echo --udp-zero-copy` / `--raw-ethertype` behind net_tap.
//!
//! Where a crafted frame ends up: net_tap hands every frame the kernel
//! writes to `zc0` to the stack unchanged (it drops nothing), and with rx
//! checksum offload it verifies the IPv4 and UDP checksums in software and
//! flags the mbuf. UDP/IPv4 frames to a bound port are then taken by the
//! fast path before smoltcp (`datagrams.*` counters); everything else goes
//! through the device's checks (`device.drop_*`) to smoltcp, which drops
//! what it cannot use without counting it.
//!
//! Each test has its own namespace (see `common`); all traffic stays on
//! 198.18.0.0/24 inside it.

mod common;

use common::{assert_clean_exit, assert_success, net_stat_in, py_count, App, Netns};
use std::time::{Duration, Instant};

const ECHO: &str = env!("CARGO_BIN_EXE_zcnet-echo");

/// Shared by every Python client: addresses, a kernel UDP echo client with
/// counted retries, and crafted-frame helpers.
const PY_PRELUDE: &str = r#"
import os, socket, struct, sys, time
HOST, KERNEL = "198.18.0.2", "198.18.0.1"
STACK_MAC, KERNEL_MAC = "02:00:c6:12:00:02", "02:00:c6:12:00:01"
IFACE = "zc0"

def udp_client(port=7, timeout=0.3):
    """A kernel UDP socket connected to the stack's echo port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((HOST, port))  # only replies from HOST:port are received
    s.settimeout(timeout)
    return s

def echo(s, data, tries=4):
    """Sends data until its exact echo returns: (ok, sends)."""
    for attempt in range(1, tries + 1):
        s.send(data)
        try:
            while True:
                if s.recv(2048) == data:  # skips late replies to earlier tries
                    return True, attempt
        except socket.timeout:
            pass
    return False, tries

def must_echo(s, data, what):
    ok, sends = echo(s, data)
    if not ok:
        sys.exit(f"{what}: no echo of {len(data)} bytes after {sends} tries")
    return sends

def wire():
    """An AF_PACKET socket on zc0: what is written to it reaches the stack as it is."""
    w = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    w.bind((IFACE, 0))
    return w

def listener(port):
    """A kernel UDP socket on the source port of crafted frames: an echo of
    one of them (which the stack must never send) would arrive here."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((KERNEL, port))
    s.setblocking(False)
    return s

def leaked(sock, wait=0.5):
    """Datagrams that reached sock, after waiting for stragglers."""
    time.sleep(wait)
    n = 0
    for _ in range(100000):
        try:
            sock.recv(65536)
        except BlockingIOError:
            break
        n += 1
    return n
"#;

/// Scapy, for building crafted frames (only the layers, not scapy.all).
const PY_SCAPY: &str = r#"
from scapy.layers.l2 import Ether
from scapy.layers.inet import IP, UDP, IPOption_NOP, IPOption_Router_Alert, fragment

def ether():
    return Ether(src=KERNEL_MAC, dst=STACK_MAC)

def ip(**kw):
    return IP(src=KERNEL, dst=HOST, **kw)

def control_echo(w, quiet, sport):
    """A correct crafted frame from sport: its echo must reach quiet, so that
    quiet's silence about the bad frames means something. Returns the sends."""
    payload = b"control " + os.urandom(8)
    for attempt in range(1, 5):
        w.send(bytes(ether() / ip() / UDP(sport=sport, dport=7) / payload))
        deadline = time.time() + 0.3
        while time.time() < deadline:
            try:
                if quiet.recv(2048) == payload:
                    return attempt
            except BlockingIOError:
                time.sleep(0.005)
    sys.exit("no echo of a correct crafted frame: the checks of the bad ones prove nothing")

def wrong(good):
    """A 16-bit checksum that is wrong for a packet whose right one is good
    (never 0, which in UDP means "no checksum", nor 0xffff, its twin)."""
    for mask in (0x00ff, 0x0f00, 0x1234):
        bad = good ^ mask
        if bad not in (0, 0xffff):
            return bad
"#;

/// Runs `body` after the preludes with Debian's python3 in `ns`; fails the
/// test unless it exits 0. Returns its stdout.
fn python(ns: &Netns, scapy: bool, body: &str, limit: Duration) -> String {
    let script = format!("{PY_PRELUDE}\n{}\n{body}", if scapy { PY_SCAPY } else { "" });
    let out = ns.python(&script, limit);
    assert_success(&out, "python client");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // Shown by the test runner when the test fails (or with --no-capture).
    eprintln!("python client:\n{stdout}");
    stdout
}

/// A counter of the datagram fast path (`datagrams: DatagramStats { .. }`).
fn datagrams(stdout: &str, field: &str) -> u64 {
    net_stat_in(stdout, "datagrams", field).unwrap_or_else(|| panic!("no datagrams.{field} in:\n{stdout}"))
}

/// A counter of the device (`device: DeviceStats { .. }`).
fn device(stdout: &str, field: &str) -> u64 {
    net_stat_in(stdout, "device", field).unwrap_or_else(|| panic!("no device.{field} in:\n{stdout}"))
}

/// Shows every fast-path counter (for the report when a test fails or runs
/// with --no-capture).
fn show_counters(stdout: &str) {
    let fields = ["delivered", "malformed", "bad_checksum", "fragments", "ip_options", "queue_full", "sent"];
    let dg: Vec<String> = fields.iter().map(|f| format!("{f}={}", datagrams(stdout, f))).collect();
    eprintln!(
        "datagrams: {}; device: rx_packets={} drop_bad_checksum={} drop_oversized={}",
        dg.join(" "),
        device(stdout, "rx_packets"),
        device(stdout, "drop_bad_checksum"),
        device(stdout, "drop_oversized")
    );
}

#[test]
fn zero_copy_udp_echo_round_trips_1_to_1472_bytes() {
    let started = Instant::now();
    let ns = Netns::new();
    let app = App::start(&ns, ECHO, &["--udp-zero-copy"]);
    let out = python(
        &ns,
        false,
        r#"
s = udp_client()
sends, lost = 0, []
for size in range(1, 1473):
    ok, n = echo(s, os.urandom(size))
    sends += n
    if not ok:
        lost.append(size)
retries = sends - 1472
print(f"udp sends {sends}, retries {retries}, lost {len(lost)}")
if lost or retries > 5:
    sys.exit(f"lost sizes {lost[:20]}, {retries} retries")
"#,
        Duration::from_secs(20),
    );
    let sends = py_count(&out, "udp sends");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    show_counters(&stdout);
    let (delivered, sent) = (datagrams(&stdout, "delivered"), datagrams(&stdout, "sent"));
    // `sent` counts only datagrams sent from Packets: with the smoltcp echo
    // (no --udp-zero-copy) it would stay 0.
    assert!((1472..=sends).contains(&delivered), "delivered {delivered}, wanted 1472..={sends}\n{stdout}");
    assert!(sent >= 1472 && sent <= delivered, "sent {sent} of {delivered} delivered\n{stdout}");
    eprintln!("took {:?}", started.elapsed());
}

#[test]
fn bad_udp_checksums_are_counted_and_dropped_while_good_traffic_flows() {
    let ns = Netns::new();
    let app = App::start(&ns, ECHO, &["--udp-zero-copy"]);
    let out = python(
        &ns,
        true,
        r#"
BAD_PORT = 40000
w, quiet, s = wire(), listener(BAD_PORT), udp_client()
bad_udp = bad_ip = good_sends = 0
for i in range(60):
    payload = b"bad %d " % i + os.urandom(20 + i)
    if i % 3 == 2:
        # Wrong IPv4 header checksum (the UDP checksum is right).
        right = IP(bytes(ip() / UDP(sport=BAD_PORT, dport=7) / payload)).chksum
        frame = ether() / ip(chksum=wrong(right)) / UDP(sport=BAD_PORT, dport=7) / payload
        bad_ip += 1
    else:
        # Wrong UDP checksum (the IPv4 header is right).
        right = IP(bytes(ip() / UDP(sport=BAD_PORT, dport=7) / payload))[UDP].chksum
        frame = ether() / ip() / UDP(sport=BAD_PORT, dport=7, chksum=wrong(right)) / payload
        bad_udp += 1
    w.send(bytes(frame))
    good_sends += must_echo(s, b"good %d " % i + os.urandom(i + 1), f"good datagram {i}")
n = leaked(quiet)
good_sends += control_echo(w, quiet, BAD_PORT)
print(f"bad udp checksum {bad_udp}")
print(f"bad ip checksum {bad_ip}")
print(f"good sends {good_sends} for 61 datagrams, all echoed")
print(f"echoes of bad frames {n}")
if n:
    sys.exit(f"{n} frame(s) with a bad checksum were echoed")
"#,
        Duration::from_secs(20),
    );
    let bad = py_count(&out, "bad udp checksum") + py_count(&out, "bad ip checksum");
    assert_eq!(bad, 60, "{out}");
    let good_sends = py_count(&out, "good sends");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    show_counters(&stdout);
    // Where a bad checksum is caught depends on the device: net_tap verifies
    // checksums itself (rx offload) and flags the mbuf; the fast path drops
    // a flagged UDP frame to a bound port and counts it in
    // datagrams.bad_checksum, while frames that go to smoltcp are dropped by
    // the device and counted in device.drop_bad_checksum. Either may count
    // a frame (never both): their sum covers every bad frame sent.
    let (fast, dev) = (datagrams(&stdout, "bad_checksum"), device(&stdout, "drop_bad_checksum"));
    assert!(fast + dev >= bad, "bad checksums counted: {fast} (fast path) + {dev} (device) < {bad} sent\n{stdout}");
    // None of the bad frames was delivered: only the good sends (60 kernel
    // datagrams, 1 correct crafted frame, and any retries) were.
    let delivered = datagrams(&stdout, "delivered");
    assert!((61..=good_sends).contains(&delivered), "delivered {delivered}, wanted 61..={good_sends}\n{stdout}");
}

#[test]
fn truncated_and_lying_udp_headers_are_counted_and_dropped() {
    let ns = Netns::new();
    let app = App::start(&ns, ECHO, &["--udp-zero-copy"]);
    let out = python(
        &ns,
        true,
        r#"
BAD_PORT = 40001
PAY = b"0123456789"
def udp(**kw):
    return UDP(sport=BAD_PORT, dport=7, **kw)
# (name, frame, where it must be refused): "fast" = a UDP header that lies,
# to the bound port: refused by the datagram fast path (datagrams.malformed);
# "ip" = an IPv4 header that lies, or a UDP header cut before its
# destination port: refused by the ingress path before any socket is looked
# up (device.drop_malformed).
cases = [
    ("IPv4 total length beyond the frame", ether() / ip(len=20 + 8 + len(PAY) + 100) / udp() / PAY, "ip"),
    ("UDP length beyond the IPv4 payload", ether() / ip() / udp(len=8 + len(PAY) + 50) / PAY, "fast"),
    ("UDP length short of the IPv4 payload", ether() / ip() / udp(len=8 + 4) / PAY, "fast"),
    ("UDP length below its header", ether() / ip() / udp(len=4) / PAY, "fast"),
    ("frame cut after 4 UDP header bytes", bytes(ether() / ip(proto=17, len=24)) + struct.pack("!HH", BAD_PORT, 7), "fast"),
    ("frame cut after 6 UDP header bytes", bytes(ether() / ip(proto=17, len=26)) + struct.pack("!HHH", BAD_PORT, 7, 18), "fast"),
    ("frame cut after 2 UDP header bytes", bytes(ether() / ip(proto=17, len=22)) + struct.pack("!H", BAD_PORT), "ip"),
    ("IPv4 total length shorter than its header", bytes(ether() / ip(len=16) / udp() / PAY), "ip"),
]
REPEAT = 5
w, quiet, s = wire(), listener(BAD_PORT), udp_client()
count = {"fast": 0, "ip": 0}
for name, frame, where in cases:
    for r in range(REPEAT):
        w.send(bytes(frame))
        count[where] += 1
        must_echo(s, b"after %s %d" % (name.encode(), r), f"after {name}")
    print(f"sent {REPEAT}: {name} ({len(bytes(frame))} bytes, {where})")
n = leaked(quiet)
print(f"fast path cases {count['fast']}")
print(f"ip cases {count['ip']}")
print(f"echoes of bad frames {n}")
if n:
    sys.exit(f"{n} malformed frame(s) were echoed")
control_echo(w, quiet, BAD_PORT)
must_echo(s, b"still here", "final echo")
print("final echo ok")
"#,
        Duration::from_secs(20),
    );
    let (fast, ip) = (py_count(&out, "fast path cases"), py_count(&out, "ip cases"));
    assert!(out.contains("final echo ok"), "{out}");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    show_counters(&stdout);
    // Every crafted frame is counted once, exactly, by the layer that
    // refused it: the fast path for lying UDP headers to its port, the
    // ingress path for IPv4 headers that lie (no port can be trusted then)
    // and UDP headers too short to name a port.
    let malformed = datagrams(&stdout, "malformed");
    assert_eq!(malformed, fast, "datagrams.malformed {malformed}, wanted {fast}\n{stdout}");
    let dev_malformed = device(&stdout, "drop_malformed");
    assert_eq!(dev_malformed, ip, "device.drop_malformed {dev_malformed}, wanted {ip}\n{stdout}");
    for other in ["bad_checksum", "fragments", "ip_options"] {
        assert_eq!(datagrams(&stdout, other), 0, "datagrams.{other}: malformed frames counted as such\n{stdout}");
    }
}

#[test]
fn ip_options_and_fragments_are_dropped_and_counted() {
    let ns = Netns::new();
    let app = App::start(&ns, ECHO, &["--udp-zero-copy"]);
    let out = python(
        &ns,
        true,
        r#"
BAD_PORT = 40002
REPEAT = 5
w, quiet, s = wire(), listener(BAD_PORT), udp_client()
def udp():
    return UDP(sport=BAD_PORT, dport=7)
# IPv4 options, right checksums: the header is 24 bytes.
options = [
    ("4 NOPs", ether() / ip(options=[IPOption_NOP()] * 4) / udp() / b"nop padded"),
    ("Router Alert", ether() / ip(options=[IPOption_Router_Alert()]) / udp() / b"router alert"),
]
n_options = 0
for name, frame in options:
    assert len(IP(bytes(frame[IP]))[IP].options) > 0
    for r in range(REPEAT):
        w.send(bytes(frame))
        n_options += 1
        must_echo(s, b"after %s %d" % (name.encode(), r), f"after {name}")
# Fragments of one UDP datagram (3000 payload bytes, 1480-byte pieces):
# the first (offset 0, MF) carries the UDP header with port 7; the later
# ones start with payload bytes, which the fast path cannot steer by port.
# In A the bytes where a port would be are not 7, in B they are 7.
n_first = n_later_a = n_later_b = 0
for r in range(REPEAT):
    for kind in ("A", "B"):
        payload = bytearray(b"A" * 3000)
        if kind == "B":
            # The later fragments start at UDP bytes 1480 and 2960, that is
            # payload bytes 1472 and 2952: make them read as ports 40002 -> 7.
            for at in (1472, 2952):
                payload[at:at + 4] = struct.pack("!HH", BAD_PORT, 7)
        payload = bytes(payload)
        frags = fragment(ip(id=1000 + r * 2 + (kind == "B")) / udp() / payload, fragsize=1480)
        assert len(frags) == 3 and frags[0].flags.MF and frags[0].frag == 0 and frags[1].frag > 0
        # Later fragments first (so reassembly, if anything did it, would
        # only complete at the last one), then the first.
        for f in frags[1:] + frags[:1]:
            w.send(bytes(ether() / f))
        n_first += 1
        if kind == "A":
            n_later_a += 2
        else:
            n_later_b += 2
    must_echo(s, b"after fragments %d" % r, "after fragments")
# A datagram the kernel itself fragments (no DF): 3000 bytes to port 7.
k = udp_client(timeout=0.3)
k.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
n_kernel = 0
for r in range(REPEAT):
    k.send(b"K" * 3000)
    n_kernel += 1
try:
    got = k.recv(4096)
    sys.exit(f"a fragmented datagram was echoed ({len(got)} bytes)")
except socket.timeout:
    pass
n = leaked(quiet)
print(f"ip options frames {n_options}")
print(f"first fragments {n_first + n_kernel}")
print(f"later fragments not looking like port 7 {n_later_a + 2 * n_kernel}")
print(f"later fragments looking like port 7 {n_later_b}")
print(f"echoes of refused frames {n}")
if n:
    sys.exit(f"{n} frame(s) with options or fragments were echoed")
control_echo(w, quiet, BAD_PORT)
must_echo(s, b"still here", "final echo")
print("final echo ok")
"#,
        Duration::from_secs(20),
    );
    assert!(out.contains("final echo ok"), "{out}");
    let n_options = py_count(&out, "ip options frames");
    let first = py_count(&out, "first fragments");
    let later_a = py_count(&out, "later fragments not looking like port 7");
    let later_b = py_count(&out, "later fragments looking like port 7");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    show_counters(&stdout);
    assert_eq!(datagrams(&stdout, "ip_options"), n_options, "datagrams.ip_options\n{stdout}");
    // Every first fragment carries the UDP header and port 7: the fast path
    // takes and counts it. A later fragment has no UDP header, whatever its
    // payload looks like: it is left to smoltcp (built without reassembly),
    // which drops it.
    let fragments = datagrams(&stdout, "fragments");
    assert_eq!(fragments, first, "datagrams.fragments {fragments}, wanted exactly {first}\n{stdout}");
    eprintln!(
        "fragments counted {fragments} (first fragments); {} later ones left to smoltcp, {later_b} of them look like port 7",
        later_a + later_b
    );
    assert_eq!(datagrams(&stdout, "malformed"), 0, "datagrams.malformed\n{stdout}");
}

/// Python: raw frames of EtherType 0x88b5 to the stack over an AF_PACKET
/// socket, each checked to come back with the MAC addresses swapped.
const PY_RAW: &str = r#"
ETH_P = 0x88b5
STACK = bytes.fromhex(STACK_MAC.replace(":", ""))
ME = bytes.fromhex(KERNEL_MAC.replace(":", ""))
def raw_socket():
    r = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P))
    r.bind((IFACE, ETH_P))
    r.settimeout(0.3)
    return r

def raw_echo(r, size, tries=4):
    """Sends a frame of size bytes until it comes back with the MACs
    swapped: (ok, sends). The socket also sees its own outgoing frames:
    only frames from the stack's MAC count."""
    body = struct.pack("!H", ETH_P) + struct.pack("!H", size) + os.urandom(size - 16)
    frame, want = STACK + ME + body, ME + STACK + body
    for attempt in range(1, tries + 1):
        r.send(frame)
        try:
            while True:
                f = r.recv(4096)
                if f[6:12] == STACK and f == want:
                    return True, attempt
        except socket.timeout:
            pass
    return False, tries
"#;

#[test]
fn raw_socket_exchanges_custom_ethertype_frames_with_af_packet() {
    let ns = Netns::new();
    let app = App::start(&ns, ECHO, &["--udp-zero-copy", "--raw-ethertype", "0x88b5"]);
    let out = python(
        &ns,
        false,
        &format!(
            "{PY_RAW}\n{}",
            r#"
r = raw_socket()
sends, lost = 0, []
for size in range(60, 1515):
    ok, n = raw_echo(r, size)
    sends += n
    if not ok:
        lost.append(size)
frames = 1515 - 60
print(f"raw frames {frames}, sends {sends}, lost {len(lost)}")
if lost or sends - frames > 5:
    sys.exit(f"lost sizes {lost[:20]}, {sends - frames} retries")
# The next EtherType, which nobody claimed: smoltcp gets and drops it.
o = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P + 1))
o.bind((IFACE, ETH_P + 1))
o.settimeout(0.5)
for i in range(5):
    o.send(STACK + ME + struct.pack("!H", ETH_P + 1) + os.urandom(60))
answered = 0
try:
    for _ in range(1000):
        answered += o.recv(4096)[6:12] == STACK  # skips our own 5 frames
except socket.timeout:
    pass
print(f"unclaimed frames 5, answered {answered}")
if answered:
    sys.exit(f"{answered} frame(s) of an unclaimed EtherType came back")
"#
        ),
        Duration::from_secs(20),
    );
    let frames = py_count(&out, "raw frames");
    assert_eq!(frames, 1455, "{out}");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    show_counters(&stdout);
    // The frames went through the device both ways, and none of them was
    // taken for a datagram.
    assert!(device(&stdout, "rx_packets") >= frames + 5, "device.rx_packets\n{stdout}");
    assert!(device(&stdout, "tx_packets") >= frames, "device.tx_packets\n{stdout}");
    assert_eq!(datagrams(&stdout, "delivered"), 0, "datagrams.delivered\n{stdout}");
}

#[test]
fn tcp_udp_and_ping_keep_working_while_a_raw_socket_claims_an_ethertype() {
    let ns = Netns::new();
    let app = App::start(&ns, ECHO, &["--udp-zero-copy", "--raw-ethertype", "0x88b5"]);
    let out = python(
        &ns,
        false,
        &format!(
            "{PY_RAW}\n{}",
            r#"
r, u = raw_socket(), udp_client()
t = socket.create_connection((HOST, 7), timeout=5)
t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
raw_sends = udp_sends = 0
for i in range(200):
    ok, n = raw_echo(r, 60 + (i * 7) % 1455)
    raw_sends += n
    if not ok:
        sys.exit(f"raw frame {i}: no echo")
    udp_sends += must_echo(u, b"udp %d " % i + os.urandom(i % 100), f"udp {i}")
    data = b"tcp %d " % i + os.urandom(200)
    t.sendall(data)
    got = bytearray()
    while len(got) < len(data):
        b = t.recv(len(data) - len(got))
        if not b:
            sys.exit(f"tcp {i}: EOF after {len(got)} bytes")
        got.extend(b)
    if bytes(got) != data:
        sys.exit(f"tcp {i}: wrong bytes echoed")
t.close()
print(f"interleaved 200 raw frames, udp sends {udp_sends}, tcp 200 echoes intact")
"#
        ),
        Duration::from_secs(20),
    );
    let udp_sends = py_count(&out, "interleaved 200 raw frames, udp sends");
    let ping = ns.run("ping", &["-c", "3", "-i", "0.2", "-W", "2", common::STACK_IP], Duration::from_secs(10));
    assert_success(&ping, "ping beside the raw socket");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    show_counters(&stdout);
    // Only the UDP datagrams went through the fast path.
    let delivered = datagrams(&stdout, "delivered");
    assert!((200..=udp_sends).contains(&delivered), "delivered {delivered}, wanted 200..={udp_sends}\n{stdout}");
    assert_eq!(common::net_stat(&stdout, "accepted"), Some(1), "TCP connections accepted\n{stdout}");
}
