//! DPDK's own tools on a zcnet app: `dpdk-dumpcap` attaches to
//! `zcnet-httpd` as a secondary process and captures an HTTP exchange.
//!
//! Each test has its own namespace; the app's EAL file prefix is
//! `zcnet-<pid>`. dpdk-dumpcap has no `--no-pci`: it runs with
//! `SYSFS_PCI_DEVICES` pointing at an empty directory, so it sees no PCI
//! device at all (the machine's own NIC is never probed).

mod common;

use common::{
    assert_clean_exit, assert_success, curl_hello, run_bounded, App, Netns, Process, TempDir, PYTHON, STACK_IP,
};
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
