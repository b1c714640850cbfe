//! Overload and faults (issue 6, item 3): SYN floods at ten times the
//! backlog, a mempool too small for the load, and the tap's link going down
//! and up — against `zcnet-echo` behind net_tap. Nothing may crash, what
//! the stack drops it counts, established connections keep working, and the
//! service recovers completely once the pressure stops.
//!
//! Each test has its own namespace (see `common`); all traffic stays on
//! 198.18.0.0/24 inside it. Floods are bounded in count and time.

mod common;

use common::{
    assert_clean_exit, assert_success, net_stat, net_stat_in, port_stat, py_count, tap_config, App, Netns, TempDir,
};
use std::time::Duration;

const ECHO: &str = env!("CARGO_BIN_EXE_zcnet-echo");

/// Shared by every Python script: addresses, a raw frame sender on `zc0`
/// and kernel echo clients.
const PY_PRELUDE: &str = r#"
import os, random, socket, struct, subprocess, sys, threading, time
HOST, KERNEL = "198.18.0.2", "198.18.0.1"
STACK_MAC, KERNEL_MAC = "02:00:c6:12:00:02", "02:00:c6:12:00:01"

def wire():
    """An AF_PACKET socket on zc0: what is written to it reaches the stack as it is."""
    w = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    w.bind(("zc0", 0))
    return w

def read_all(s, into):
    while True:
        b = s.recv(65536)
        if not b:
            return
        into.extend(b)

def tcp_echo(data, limit=10):
    """Sends data (then SHUT_WR) on a new kernel connection while a thread
    reads the echo to EOF; returns what came back (a prefix on timeout)."""
    s = socket.create_connection((HOST, 7), timeout=limit)
    got = bytearray()
    def reader():
        try:
            read_all(s, got)
        except OSError:
            pass
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    t.join(limit)
    s.close()
    return bytes(got)

def connects(limit=1.0):
    """True if a new connection echoes one byte within limit seconds."""
    try:
        s = socket.create_connection((HOST, 7), timeout=limit)
        s.sendall(b"k")
        ok = s.recv(1) == b"k"
        s.close()
        return ok
    except OSError:
        return False

class Established:
    """A connection opened before the trouble, echoing on demand."""
    def __init__(self):
        self.s = socket.create_connection((HOST, 7), timeout=5)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def echo(self, what, limit=5):
        data = os.urandom(1000)
        self.s.settimeout(limit)
        try:
            self.s.sendall(data)
            got = bytearray()
            while len(got) < len(data):
                b = self.s.recv(65536)
                if not b:
                    break
                got.extend(b)
            return bytes(got) == data
        except OSError:
            return False

def syn(src, sport):
    """A SYN to the echo port, built by hand (no scapy needed for floods)."""
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, random.getrandbits(16), 0, 64, 6, 0,
                               socket.inet_aton(src), socket.inet_aton(HOST)))
    ip[10:12] = checksum(ip).to_bytes(2, "big")
    tcp = bytearray(struct.pack("!HHIIBBHHH", sport, 7, random.getrandbits(32), 0, 0x50, 0x02, 65535, 0, 0))
    pseudo = socket.inet_aton(src) + socket.inet_aton(HOST) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp[16:18] = checksum(pseudo + tcp).to_bytes(2, "big")
    return bytes.fromhex(STACK_MAC.replace(":", "") + KERNEL_MAC.replace(":", "")) + b"\x08\x00" + bytes(ip) + bytes(tcp)

def checksum(b):
    b = bytes(b) + b"\0" * (len(b) % 2)
    s = sum(int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2))
    while s > 0xffff:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
"#;

/// Runs `body` after [`PY_PRELUDE`] with Debian's python3 in `ns`; fails the
/// test unless it exits 0. Returns its stdout.
fn python(ns: &Netns, body: &str, limit: Duration) -> String {
    let out = ns.python(&format!("{PY_PRELUDE}\n{body}"), limit);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // Shown by the test runner when the test fails (or with --no-capture).
    eprintln!("python:\n{stdout}");
    assert_success(&out, "python client");
    stdout
}

/// A flood of `rounds` x 200 SYNs (10x a backlog of 16 in every round) from
/// `sources`, each round written in one go, with an established connection
/// echoing between rounds; then new connections must work within
/// `recovery_secs`. Prints the figures the tests check.
fn flood_script(sources: &str, rounds: u32, recovery_secs: u32) -> String {
    format!(
        r#"
est = Established()
if not est.echo("before"):
    sys.exit("the established connection did not echo before the flood")
w = wire()
sources = {sources}
during_ok = 0
t0 = time.time()
for r in range({rounds}):
    frames = [syn(random.choice(sources), p) for p in random.sample(range(20000, 60000), 200)]
    for f in frames:
        w.send(f)
    during_ok += est.echo(f"during round {{r}}")
print(f"flood: {{{rounds} * 200}} syns in {{time.time() - t0:.2f}}s")
print(f"established echoes during the flood {{during_ok}} of {rounds}")
t1, recovered = time.time(), None
while time.time() - t1 < {recovery_secs}:
    if connects(1.0):
        recovered = time.time() - t1
        break
    time.sleep(0.2)
print(f"new connections after the flood {{int(recovered is not None)}} (after {{recovered}}s)")
print(f"established after the flood {{int(est.echo('after'))}}")
"#
    )
}

#[test]
fn syn_flood_at_10x_backlog_keeps_established_connections_working() {
    let ns = Netns::new();
    let dir = TempDir::new();
    let config = tap_config(&dir, &[("net.tcp", "backlog = 16")]);
    let app = App::start_with_config(&ns, ECHO, &config, &[]);
    // From the kernel's own address, random ports: the kernel resets each
    // SYN-ACK it did not ask for, which frees the socket again.
    let out = python(&ns, &flood_script(r#"[KERNEL]"#, 5, 5), Duration::from_secs(30));
    assert_eq!(py_count(&out, "established echoes during the flood"), 5, "{out}");
    assert_eq!(py_count(&out, "new connections after the flood"), 1, "{out}");
    assert_eq!(py_count(&out, "established after the flood"), 1, "{out}");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    let full = net_stat(&stdout, "syn_backlog_full").unwrap_or_else(|| panic!("no stats in:\n{stdout}"));
    assert!(full > 0, "the backlog never filled, so the flood proved nothing\n{stdout}");
}

#[test]
fn syn_flood_from_unreachable_sources_frees_the_backlog_again() {
    // Spoofed sources nobody answers for: the SYN-ACKs cannot even be sent
    // (no ARP reply), so nothing ever resets the half-open sockets. A
    // listener must give them up after a handshake timeout (Linux: about
    // 60 s of SYN-ACK retries, or SYN cookies) so that the backlog frees
    // again; this test allows 12 s.
    let ns = Netns::new();
    let dir = TempDir::new();
    let config = tap_config(&dir, &[("net.tcp", "backlog = 16")]);
    let app = App::start_with_config(&ns, ECHO, &config, &[]);
    let sources = r#"[f"198.18.0.{i}" for i in range(100, 200)]"#;
    let out = python(&ns, &flood_script(sources, 1, 12), Duration::from_secs(30));
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    assert_eq!(py_count(&out, "established echoes during the flood"), 1, "{out}");
    assert_eq!(py_count(&out, "established after the flood"), 1, "{out}");
    assert!(net_stat(&stdout, "syn_backlog_full").unwrap_or(0) > 0, "the backlog never filled\n{stdout}");
    assert_eq!(
        py_count(&out, "new connections after the flood"),
        1,
        "the half-open connections of the flood still fill the backlog 12 s later\n{out}\n{stdout}"
    );
}

/// The configuration of the mempool tests: 64 rx descriptors hold 64 of
/// the 88 mbufs, so 24 are left for transmit batches (up to 64 frames) and
/// for datagrams waiting in socket queues.
fn tight_pool_config(dir: &TempDir) -> std::path::PathBuf {
    tap_config(
        dir,
        &[
            ("[ports]", "rx_desc = 64"),
            ("[ports]", "tx_desc = 64"),
            ("mempool", "mbufs = 88"),
            ("mempool", "cache = 0"),
        ],
    )
}

#[test]
fn mempool_exhaustion_under_load_corrupts_nothing_and_recovers_at_once() {
    let ns = Netns::new();
    let dir = TempDir::new();
    let app = App::start_with_config(&ns, ECHO, &tight_pool_config(&dir), &[]);
    let out = python(
        &ns,
        r#"
N = 20
results = {}
def load(i):
    data = os.urandom(64 * 1024)
    got = tcp_echo(data, limit=12)
    results[i] = "intact" if got == data else ("cut" if data.startswith(got) else "WRONG")
threads = [threading.Thread(target=load, args=(i,)) for i in range(N)]
t0 = time.time()
for t in threads:
    t.start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(2000):
    u.sendto(b"u" * 1400, (HOST, 7))
for t in threads:
    t.join(15)
print(f"load: {N} connections x 64 KiB and 2000 datagrams in {time.time() - t0:.1f}s")
print(f"connections intact {sum(v == 'intact' for v in results.values())} of {N}, "
      f"cut short {sum(v == 'cut' for v in results.values())}")
print(f"connections with wrong bytes {sum(v == 'WRONG' for v in results.values())}")
# Recovery: a fresh connection and a datagram work at once. (16 KiB: bulk
# transfers on this pool crawl even without load, see
# bulk_transfer_on_a_tight_mempool_completes_promptly.)
data = os.urandom(16 * 1024)
try:
    print(f"tcp echo after the load {int(tcp_echo(data, limit=5) == data)}")
except OSError as e:
    print(f"tcp echo after the load 0 ({e!r})")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((HOST, 7))
s.settimeout(0.5)
ok = False
for _ in range(4):
    s.send(b"after")
    try:
        ok = s.recv(100) == b"after"
        break
    except socket.timeout:
        pass
print(f"udp echo after the load {int(ok)}")
"#,
        Duration::from_secs(40),
    );
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    // Whatever the pool made the stack drop, no byte was ever wrong; how
    // many of the loaded connections finished in time depends on the
    // transmit batching bug the next test shows.
    assert_eq!(py_count(&out, "connections with wrong bytes"), 0, "{out}");
    assert_eq!(py_count(&out, "tcp echo after the load"), 1, "{out}\n{stdout}\n{stderr}");
    assert_eq!(py_count(&out, "udp echo after the load"), 1, "{out}\n{stdout}\n{stderr}");
    // The pool ran short: frames the stack could not build (drop_no_mbuf)
    // or receive bursts it held back (rx_limited_no_mbuf).
    let device = |field| net_stat_in(&stdout, "device", field).unwrap_or_else(|| panic!("no {field} in:\n{stdout}"));
    let short = device("drop_no_mbuf") + device("rx_limited_no_mbuf");
    assert!(short > 0, "the pool never ran short, so the test proved nothing\n{stdout}");
    // Held back, never dropped by the driver (see the next test).
    assert_eq!(port_stat(&stdout, "rx_nombuf"), Some(0), "{stdout}");
}

#[test]
fn a_backlog_larger_than_the_free_mbufs_is_received_without_new_traffic() {
    // net_tap replaces every mbuf it receives into; when that allocation
    // fails it drops the frame, ends the burst and takes the burst's
    // signal as seen, so what is left in the kernel's queue waits for the
    // next frame to arrive. On this pool a burst (32) is more than the free
    // mbufs (24): 400 datagrams queued while the app is stopped (SIGSTOP,
    // so that they wait in the kernel as they would behind a busy core),
    // then silence, used to come back 24 at a time, one burst per retry of
    // some client. Now every frame is read from the kernel at once; the
    // echo socket, alone, may hold at most half of this pool's 24 free
    // mbufs (twice the share), so what a burst brings beyond it is dropped
    // and counted.
    let ns = Netns::new();
    let dir = TempDir::new();
    let app = App::start_with_config(&ns, ECHO, &tight_pool_config(&dir), &[]);
    let script = r#"
import signal
N = 400
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
u.settimeout(2)
u.sendto(b"warm-up", (HOST, 7))   # ARP both ways before the backlog
print(f"warm-up echoed {int(u.recvfrom(100)[0] == b'warm-up')}")
os.kill(APP, signal.SIGSTOP)
try:
    for i in range(N):
        u.sendto(i.to_bytes(4, "big") * 50, (HOST, 7))
finally:
    os.kill(APP, signal.SIGCONT)
got, t0 = set(), time.time()
u.settimeout(0.2)
while len(got) < N and time.time() - t0 < 3:
    try:
        got.add(int.from_bytes(u.recv(1000)[:4], "big"))
    except socket.timeout:
        if got:
            break   # the backlog is through: silence after the echoes
print(f"echoed {len(got)} of {N} in {time.time() - t0:.2f}s")
"#;
    let out = python(&ns, &format!("APP = {}\n{script}", app.pid()), Duration::from_secs(20));
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    assert_eq!(py_count(&out, "warm-up echoed"), 1, "{out}");
    // Every frame of the backlog reached the stack with no new traffic:
    // delivered to the socket (and echoed) or dropped by the share.
    let dg = |field| net_stat_in(&stdout, "datagrams", field).unwrap_or_else(|| panic!("no {field} in:\n{stdout}"));
    let (delivered, refused) = (dg("delivered"), dg("core_share_full") + dg("queue_full"));
    assert_eq!(delivered + refused, 1 + 400, "warm-up and backlog\n{out}\n{stdout}");
    assert_eq!(py_count(&out, "echoed"), delivered - 1, "every delivered datagram was echoed\n{out}\n{stdout}");
    // The stack held back instead: the driver never failed to replace an
    // mbuf, and the bursts that asked for fewer frames were counted.
    let limited =
        net_stat_in(&stdout, "device", "rx_limited_no_mbuf").unwrap_or_else(|| panic!("no stats in:\n{stdout}"));
    assert!(limited > 0, "no burst was limited, so the pool never ran short and the test proved nothing\n{stdout}");
    assert_eq!(port_stat(&stdout, "rx_nombuf"), Some(0), "{stdout}");
}

#[test]
fn bulk_transfer_on_a_tight_mempool_completes_promptly() {
    // No load at all, one connection: the stack fills a transmit batch of up
    // to 64 frames (MAX_BURST) before it hands any to the device, so with 24 free mbufs
    // every larger flight loses its tail (drop_no_mbuf) and waits for a
    // retransmission timeout. 1 MiB takes ~50 ms with a roomy pool.
    let ns = Netns::new();
    let dir = TempDir::new();
    let app = App::start_with_config(&ns, ECHO, &tight_pool_config(&dir), &[]);
    let out = python(
        &ns,
        r#"
data = os.urandom(1 << 20)
t0 = time.time()
got = tcp_echo(data, limit=10)
print(f"1 MiB echo: {len(got)} bytes back in {time.time() - t0:.2f}s")
print(f"intact within 10 s {int(got == data)}")
"#,
        Duration::from_secs(30),
    );
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    let no_mbuf = net_stat_in(&stdout, "device", "drop_no_mbuf").unwrap_or(0);
    assert_eq!(py_count(&out, "intact within 10 s"), 1, "drop_no_mbuf {no_mbuf}\n{out}\n{stdout}");
}

#[test]
fn link_down_up_on_the_tap_recovers() {
    let ns = Netns::new();
    let app = App::start(&ns, ECHO, &[]);
    let out = python(
        &ns,
        r#"
est = Established()
print(f"established before {int(est.echo('before'))}")
# A transfer in flight while the link goes down for 1.5 s.
data = os.urandom(2 << 20)
result = {}
def transfer():
    result["got"] = tcp_echo(data, limit=25)
t = threading.Thread(target=transfer)
t.start()
time.sleep(0.1)
subprocess.run(["ip", "link", "set", "zc0", "down"], check=True)
try:
    socket.create_connection((HOST, 7), timeout=1).close()
    print("connect while down: ok")
except OSError as e:
    print(f"connect while down: {e.strerror}")
time.sleep(1.5)
subprocess.run(["ip", "link", "set", "zc0", "up"], check=True)
t.join(25)
got = result.get("got", b"")
print(f"transfer across the outage intact {int(got == data)} ({len(got)} of {len(data)} bytes)")
print(f"established after {int(est.echo('after', limit=10))}")
t1, recovered = time.time(), None
while time.time() - t1 < 5:
    if connects(1.0):
        recovered = time.time() - t1
        break
    time.sleep(0.2)
print(f"new connections after the outage {int(recovered is not None)} (after {recovered}s)")
ping = subprocess.run(["ping", "-c", "1", "-W", "2", HOST], capture_output=True)
print(f"ping after {int(ping.returncode == 0)}")
"#,
        Duration::from_secs(40),
    );
    assert!(out.contains("connect while down: Network is unreachable"), "{out}");
    assert_eq!(py_count(&out, "transfer across the outage intact"), 1, "{out}");
    assert_eq!(py_count(&out, "established after"), 1, "{out}");
    assert_eq!(py_count(&out, "new connections after the outage"), 1, "{out}");
    assert_eq!(py_count(&out, "ping after"), 1, "{out}");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
}
