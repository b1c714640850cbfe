//! DPDK's own tools on a zcnet app: `dpdk-dumpcap` attaches to
//! `zcnet-httpd` as a secondary process and captures an HTTP exchange, and
//! DPDK's telemetry socket answers zcnet's `/zcnet/...` commands with
//! counters that move with traffic.
//!
//! Each test has its own namespace; the app's EAL file prefix is
//! `zcnet-<pid>`. dpdk-dumpcap has no `--no-pci`: it runs with
//! `SYSFS_PCI_DEVICES` pointing at an empty directory, so it sees no PCI
//! device at all (the machine's own NIC is never probed).

mod common;

use common::{
    assert_clean_exit, assert_success, curl_hello, run_bounded, App, Netns, Process, TempDir, PYTHON, STACK_IP,
};
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

const HTTPD: &str = env!("CARGO_BIN_EXE_zcnet-httpd");

/// How long a condition may take to show (capture written, counters published).
const SHOW_LIMIT: Duration = Duration::from_secs(15);

/// Reads a pcapng file (possibly still being written) and says which
/// halves of the exchange it holds: a line `request` for the GET from the
/// kernel to the stack's port 80, `response` for the 200 coming back.
const PY_FIND_HTTP: &str = r#"
import sys
from scapy.all import PcapNgReader, IP, TCP, Raw
seen = set()
try:
    for p in PcapNgReader(sys.argv[1]):
        if IP in p and TCP in p and Raw in p:
            data = bytes(p[Raw].load)
            if p[IP].dst == sys.argv[2] and p[TCP].dport == 80 and data.startswith(b"GET / HTTP/1.1"):
                seen.add("request")
            if p[IP].src == sys.argv[2] and p[TCP].sport == 80 and data.startswith(b"HTTP/1.1 200"):
                seen.add("response")
except Exception as e:  # the last block may be half written
    print("partial", type(e).__name__)
for s in sorted(seen):
    print(s)
"#;

#[test]
fn dumpcap_captures_the_http_request_and_response_of_httpd() {
    let ns = Netns::new();
    let dir = TempDir::new();
    let app = App::start(&ns, HTTPD, &["--port", "80"]);
    let prefix = format!("zcnet-{}", app.pid());
    let no_pci = dir.path().join("no-pci");
    std::fs::create_dir(&no_pci).expect("mkdir no-pci");
    let pcap = dir.path().join("capture.pcapng");
    let mut cmd = Command::new("dpdk-dumpcap");
    cmd.env("SYSFS_PCI_DEVICES", &no_pci).args([
        "--file-prefix",
        &prefix,
        "-i",
        "net_tap0",
        "-w",
        pcap.to_str().expect("utf-8 path"),
    ]);
    let mut dumpcap = Process::spawn(cmd, "dpdk-dumpcap");
    // Its live counter on stderr starts once the primary has enabled capture.
    let deadline = Instant::now() + SHOW_LIMIT;
    while !dumpcap.stderr().contains("Packets captured") {
        assert!(dumpcap.try_status().is_none(), "dpdk-dumpcap exited\n{}{}", dumpcap.stdout(), dumpcap.stderr());
        assert!(Instant::now() < deadline, "dpdk-dumpcap did not start\n{}{}", dumpcap.stdout(), dumpcap.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    curl_hello(&ns);
    // dumpcap writes each packet as it dequeues it: wait until both halves are in the file.
    let deadline = Instant::now() + SHOW_LIMIT;
    let found = loop {
        let out = run_bounded(
            Command::new(PYTHON).args(["-c", PY_FIND_HTTP, pcap.to_str().expect("utf-8 path"), STACK_IP]),
            Duration::from_secs(30),
        );
        assert_success(&out, "the pcapng reader");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if (text.contains("request") && text.contains("response")) || Instant::now() >= deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (_, _, dumpcap_err) = dumpcap.stop();
    assert!(
        found.contains("request") && found.contains("response"),
        "the capture lacks the HTTP exchange: {found}\ndumpcap:\n{dumpcap_err}"
    );
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
}

/// Sends one command to a DPDK telemetry socket and prints the reply's
/// top-level value: `key value` per line for a dictionary (`key v1,v2,...`
/// for its arrays), `list v1,v2,...` for an array, `value JSON` otherwise.
const PY_TELEMETRY: &str = r#"
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.settimeout(5)
s.connect(sys.argv[1])
json.loads(s.recv(1024))  # the greeting: version, pid, max_output_len
s.send(sys.argv[2].encode())
reply = json.loads(s.recv(1 << 16))
value = reply[sys.argv[2].split(",")[0]]
if isinstance(value, dict):
    for k, v in value.items():
        print(k, ",".join(map(str, v)) if isinstance(v, list) else v)
elif isinstance(value, list):
    print("list", ",".join(map(str, value)))
else:
    print("value", json.dumps(value))
"#;

/// The reply of the app whose EAL prefix is `prefix` to `command`, as
/// key → value text.
fn telemetry(prefix: &str, command: &str) -> HashMap<String, String> {
    let socket = format!("/var/run/dpdk/{prefix}/dpdk_telemetry.v2");
    let out = run_bounded(Command::new(PYTHON).args(["-c", PY_TELEMETRY, &socket, command]), Duration::from_secs(20));
    assert_success(&out, &format!("telemetry {command}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn number(reply: &HashMap<String, String>, key: &str) -> u64 {
    reply.get(key).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no number {key} in {reply:?}"))
}

#[test]
fn telemetry_answers_zcnet_commands_and_counters_move_with_traffic() {
    let ns = Netns::new();
    let app = App::start(&ns, HTTPD, &["--port", "80"]);
    let prefix = format!("zcnet-{}", app.pid());
    // DPDK's own command list names zcnet's.
    let list = telemetry(&prefix, "/");
    let commands: Vec<&str> = list.get("list").map(|l| l.split(',').collect()).unwrap_or_default();
    for c in ["/zcnet/stats", "/zcnet/cores", "/zcnet/sockets"] {
        assert!(commands.contains(&c), "{c} is not registered: {list:?}");
    }
    // The cores publish every 100 ms: wait until each has published with
    // its listener (port 80) bound. Nothing was accepted yet.
    let deadline = Instant::now() + SHOW_LIMIT;
    let (before, sockets) = loop {
        let (s, k) = (telemetry(&prefix, "/zcnet/stats"), telemetry(&prefix, "/zcnet/sockets"));
        let cores = number(&s, "cores");
        if (cores > 0 && number(&k, "tcp_listening_ports") == cores) || Instant::now() >= deadline {
            break (s, k);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(number(&before, "cores") > 0, "no core published: {before:?}");
    assert_eq!(
        number(&sockets, "tcp_listening_ports"),
        number(&before, "cores"),
        "one listening port per core: {sockets:?}"
    );
    assert_eq!(number(&before, "accepted"), 0, "{before:?}");

    for _ in 0..3 {
        curl_hello(&ns);
    }
    // Published every 100 ms: wait for the three connections to show.
    let deadline = Instant::now() + SHOW_LIMIT;
    let after = loop {
        let s = telemetry(&prefix, "/zcnet/stats");
        if number(&s, "accepted") >= 3 || Instant::now() >= deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(number(&after, "accepted"), 3, "{after:?}");
    assert!(number(&after, "rx_packets") >= number(&before, "rx_packets") + 9, "rx: {before:?} -> {after:?}");
    assert!(number(&after, "tx_packets") >= number(&before, "tx_packets") + 9, "tx: {before:?} -> {after:?}");
    assert!(number(&after, "copied_from_app") > 0, "no response bytes counted: {after:?}");

    // Per core: one array entry per published core, summing to the total.
    let cores = telemetry(&prefix, "/zcnet/cores");
    let lcores = cores.get("lcore").unwrap_or_else(|| panic!("no lcore array: {cores:?}"));
    let per_core: Vec<u64> = cores["accepted"].split(',').map(|v| v.parse().expect("number")).collect();
    assert_eq!(per_core.len(), lcores.split(',').count(), "{cores:?}");
    assert_eq!(per_core.iter().sum::<u64>(), 3, "{cores:?}");
    // Core 0 alone, by parameter, agrees with its array entry.
    assert_eq!(number(&telemetry(&prefix, "/zcnet/stats,0"), "accepted"), per_core[0]);

    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
}
