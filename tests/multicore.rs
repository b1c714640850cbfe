//! Several worker cores on one port, with kernel clients in a namespace
//! behind a multi-queue net_tap: the kernel's tun driver spreads flows over
//! the queues, zcnet's ownership rule decides which core serves each flow
//! (handing frames over where they arrived elsewhere), and every connection
//! is served — by more than one core. Lcores are mapped onto the machine's
//! two CPUs (`0@0,1@0,2@1`...).

mod common;

use common::{assert_clean_exit, assert_success, py_count, App, Netns, TempDir, KERNEL_IP};
use std::path::PathBuf;
use std::time::Duration;

const ECHO: &str = env!("CARGO_BIN_EXE_zcnet-echo");
const HTTPD: &str = env!("CARGO_BIN_EXE_zcnet-httpd");

/// config/tap.toml with `lcores` instead of its own.
fn tap_with_lcores(dir: &TempDir, lcores: &str) -> PathBuf {
    let base = common::repo_root().join("config/tap.toml");
    let text = std::fs::read_to_string(&base).expect("read config/tap.toml");
    let text: String = text
        .lines()
        .map(|l| if l.trim_start().starts_with("lcores") { format!("lcores = \"{lcores}\"") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.path().join("multi.toml");
    std::fs::write(&path, text + "\n").expect("write config");
    path
}

/// `field: N` of each `queue i: NetStats { ... }` line, in queue order.
fn per_core(stdout: &str, field: &str) -> Vec<u64> {
    let key = format!(" {field}: ");
    stdout
        .lines()
        .filter(|l| l.starts_with("queue ") && l.contains("NetStats"))
        .filter_map(|l| {
            let at = l.find(&key)? + key.len();
            l[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
        })
        .collect()
}

fn python(ns: &Netns, body: &str, limit: Duration) -> String {
    let out = ns.python(&format!("import asyncio, os, socket, sys, time\nHOST = \"198.18.0.2\"\n{body}"), limit);
    assert_success(&out, "python client");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// 500 concurrent HTTP requests, each on its own connection.
const FIVE_HUNDRED_GETS: &str = r#"
async def get(i):
    for attempt in range(5):
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(HOST, 80), 10)
            break
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.2)
    else:
        return False
    w.write(b"GET / HTTP/1.1\r\nHost: zcnet\r\nConnection: close\r\n\r\n")
    await w.drain()
    head = await asyncio.wait_for(r.read(), 10)
    w.close()
    return head.startswith(b"HTTP/1.1 200")
async def main():
    ok = await asyncio.gather(*(get(i) for i in range(500)))
    print(f"responses 200 {sum(ok)}")
asyncio.run(main())
"#;

fn httpd_serves_500_connections_on_several_cores(lcores: &str, workers: usize) {
    let (ns, dir) = (Netns::new(), TempDir::new());
    let config = tap_with_lcores(&dir, lcores);
    let mut app = App::spawn_with_config(&ns, HTTPD, &config, &["--port", "80"]);
    app.wait_for_listening(workers);
    let out = python(&ns, FIVE_HUNDRED_GETS, Duration::from_secs(60));
    assert_eq!(py_count(&out, "responses 200"), 500, "{out}");
    let (status, stdout, stderr) = app.stop();
    assert_clean_exit(status, &stdout, &stderr);
    let accepted = per_core(&stdout, "accepted");
    eprintln!("accepted per core: {accepted:?}; steered out {:?}", per_core(&stdout, "steered_out"));
    assert_eq!(accepted.len(), workers, "{stdout}");
    assert_eq!(accepted.iter().sum::<u64>(), 500, "{stdout}");
    let total = stdout.lines().find(|l| l.starts_with("total: NetStats")).expect("a total line");
    assert!(total.contains(" accepted: 500,"), "the total adds the cores up: {total}");
    assert!(accepted.iter().filter(|&&n| n > 0).count() > 1, "only one core accepted: {accepted:?}\n{stdout}");
}

#[test]
fn httpd_on_two_workers_serves_500_kernel_connections_from_both_cores() {
    httpd_serves_500_connections_on_several_cores("0@0,1@0,2@1", 2);
}

#[test]
fn httpd_on_three_workers_serves_500_kernel_connections_from_several_cores() {
    httpd_serves_500_connections_on_several_cores("0@0,1@0,2@1,3@1", 3);
}

#[test]
fn echo_client_on_two_workers_gets_every_byte_back_from_a_kernel_server() {
    // zcnet-echo --connect from both cores to a kernel echo server in the
    // namespace: each core's connections come back to it (on tap, the
    // kernel answers on the queue a flow last sent on; the port choice
    // makes the ownership rule agree).
    let (ns, dir) = (Netns::new(), TempDir::new());
    let server = ns.spawn_python(
        r#"
import socket, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 7007))
srv.listen(512)
def echo(c):
    with c:
        while True:
            b = c.recv(65536)
            if not b:
                return
            c.sendall(b)
while True:
    c, _ = srv.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
"#,
    );
    let config = tap_with_lcores(&dir, "0@0,1@0,2@1");
    let target = format!("{KERNEL_IP}:7007");
    let app = App::spawn_with_config(&ns, ECHO, &config, &["--connect", &target, "--conns", "100", "--send", "65536"]);
    let (status, stdout, stderr) = app.wait(Duration::from_secs(60));
    drop(server);
    assert_clean_exit(status, &stdout, &stderr);
    let ok = stdout.lines().filter(|l| l.starts_with("client: sent 65536 received 65536 ok")).count();
    assert_eq!(ok, 200, "100 connections from each core, every byte back\n{stdout}\n{stderr}");
    let steered: u64 = per_core(&stdout, "steered_out").iter().sum();
    eprintln!("steered out {steered}");
}
