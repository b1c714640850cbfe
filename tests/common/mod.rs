//! The harness of the end-to-end tests: a network namespace per test
//! ([`Netns`]), a sample app started inside it behind net_tap or on one end
//! of a veth pair over AF_XDP ([`App`]), and bounded runs of kernel programs
//! (ping, curl, Debian's python3) in it.
//!
//! Safety on a shared machine: all traffic stays inside namespaces created
//! here, on 198.18.0.0/24 (the kernel side is 198.18.0.1 on `zc0` or `zck0`,
//! the stack 198.18.0.2). Every child has a deadline and is ended by its PID;
//! the namespace is deleted on drop, so also when a test panics.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The kernel side's address on `zc0`.
pub const KERNEL_IP: &str = "198.18.0.1";
/// The stack's address (config/tap.toml).
pub const STACK_IP: &str = "198.18.0.2";
/// Debian's interpreter, which has python3-scapy (not the pyenv one on PATH).
pub const PYTHON: &str = "/usr/bin/python3";
/// The tap interface the app creates (config/tap.toml).
const TAP: &str = "zc0";
/// The kernel side's MAC. net_tap gives the kernel interface the port's own
/// MAC (02:00:c6:12:00:02) when the app opens and starts the port; the
/// harness changes it after that, so the two ends of the link differ, as on
/// a real wire.
pub const KERNEL_MAC: &str = "02:00:c6:12:00:01";
/// The app's end of the veth pair (config/xdp.toml, config/af_packet.toml).
const VETH_APP: &str = "zcv0";
/// The kernel clients' end of the veth pair, 198.18.0.1/24.
pub const VETH_KERNEL: &str = "zck0";
/// How long an app may take to create its tap interface and to listen.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long one `ip` command may take.
const IP_LIMIT: Duration = Duration::from_secs(30);
/// How long an app may take to exit after SIGTERM before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(5);

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this process: `zc-<pid>-<n>`.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The repository root: the parent of apps/, whose package (zcnet-apps)
/// these tests belong to.
pub fn repo_root() -> PathBuf {
    let apps = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    apps.parent().map(Path::to_path_buf).unwrap_or(apps)
}

/// Runs `cmd` to completion within `limit`, capturing its output. On
/// overrun the child is killed by its PID and the test fails.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    // Reader threads keep the pipes drained so the child never blocks on them.
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let stdout = out_reader.join().unwrap_or_default();
                let stderr = err_reader.join().unwrap_or_default();
                panic!(
                    "{what} still running after {limit:?}; killed it\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&stdout),
                    String::from_utf8_lossy(&stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Output { status, stdout, stderr }
}

/// Fails the test, showing everything `out` printed, unless it succeeded.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(unique("zcnet-e2e"));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A network namespace of this test: lo up, IPv6 off. Dropping it ends any
/// process still inside (all of them started by this test) and deletes it.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a fresh namespace.
    pub fn new() -> Netns {
        let name = unique("zc");
        let out = run_bounded(Command::new("ip").args(["netns", "add", &name]), Duration::from_secs(10));
        assert_success(&out, &format!("ip netns add {name}"));
        // From here on, Drop deletes it whatever happens next.
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        // IPv6 off before the app starts, so no router solicitations or
        // neighbour discovery reach the stack.
        let out = ns.run(
            "sysctl",
            &["-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"],
            Duration::from_secs(10),
        );
        assert_success(&out, "sysctl disable_ipv6");
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NS ARGS`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        assert_success(&self.try_ip(args), &format!("ip -n {} {}", self.name, args.join(" ")));
    }

    /// `ip -n NS ARGS`, whatever its outcome. The bound is generous: `ip`
    /// waits for the kernel's rtnl lock, which a busy machine (namespaces
    /// being torn down by parallel tests) can hold for seconds.
    pub fn try_ip(&self, args: &[&str]) -> Output {
        run_bounded(Command::new("ip").arg("-n").arg(&self.name).args(args), IP_LIMIT)
    }

    /// A command that runs `program args` inside the namespace.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]).args(args);
        cmd
    }

    /// Runs `program args` in the namespace within `limit`.
    pub fn run(&self, program: &str, args: &[&str], limit: Duration) -> Output {
        run_bounded(&mut self.command(program, args), limit)
    }

    /// Runs a Python script (Debian's python3) in the namespace within `limit`.
    pub fn python(&self, script: &str, limit: Duration) -> Output {
        self.run(PYTHON, &["-u", "-c", script], limit)
    }

    /// Starts a Python script in the namespace in the background.
    pub fn spawn_python(&self, script: &str) -> Process {
        Process::spawn(self.command(PYTHON, &["-u", "-c", script]), "python3")
    }

    /// True if the tap interface exists in the namespace.
    fn has_tap(&self) -> bool {
        self.try_ip(&["link", "show", TAP]).status.success()
    }

    /// The tap interface's MAC address, if it exists.
    fn tap_mac(&self) -> Option<String> {
        let out = self.try_ip(&["-o", "link", "show", TAP]);
        let text = String::from_utf8_lossy(&out.stdout);
        let rest = text.split_once("link/ether ")?.1;
        rest.split_whitespace().next().map(str::to_string)
    }

    /// PIDs of the processes still inside the namespace.
    fn pids(&self) -> Vec<u32> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default()
    }
}

impl Netns {
    /// Makes the veth pair of [`App::start_veth`]: `zcv0` (up, no address)
    /// for the app's port and `zck0` (198.18.0.1/24, up) for kernel clients.
    pub fn veth_up(&self, checksums: KernelChecksums) {
        self.ip(&["link", "add", VETH_APP, "type", "veth", "peer", "name", VETH_KERNEL]);
        if checksums == KernelChecksums::Computed {
            // With tx checksum offload on (a veth's default) the kernel leaves
            // TCP/UDP checksums partial (the pseudo-header sum only) for a NIC
            // to finish; AF_XDP and AF_PACKET hand the frame over as it is,
            // without the skb's "partial" mark, so the stack sees a bad
            // checksum and drops the segment (counted in drop_bad_checksum).
            let out = self.run("ethtool", &["-K", VETH_KERNEL, "tx", "off"], Duration::from_secs(10));
            assert_success(&out, "ethtool -K zck0 tx off (scripts/setup.sh installs ethtool)");
        }
        self.ip(&["addr", "add", &format!("{KERNEL_IP}/24"), "dev", VETH_KERNEL]);
        self.ip(&["link", "set", VETH_APP, "up"]);
        self.ip(&["link", "set", VETH_KERNEL, "up"]);
    }
}

/// What the kernel end of the veth does with its TCP/UDP checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelChecksums {
    /// Computed in full before a frame leaves (`ethtool -K zck0 tx off`).
    Computed,
    /// Left partial for an offload that never happens (the veth default).
    Partial,
}

/// The driver on the app's end of the veth pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VethDriver {
    /// net_af_xdp (config/xdp.toml).
    AfXdp,
    /// net_af_packet (config/af_packet.toml), where AF_XDP is missing.
    AfPacket,
}

impl VethDriver {
    /// AF_XDP if DPDK has the PMD and the kernel opens AF_XDP sockets
    /// (address family 44) in `ns`, else AF_PACKET; `ZCNET_VETH=af_packet`
    /// in the environment asks for the fallback (to test it on a kernel with
    /// AF_XDP). Says which on stderr.
    pub fn detect(ns: &Netns) -> VethDriver {
        if std::env::var("ZCNET_VETH").as_deref() == Ok("af_packet") {
            eprintln!("veth: AF_PACKET (net_af_packet, config/af_packet.toml), as ZCNET_VETH asks");
            return VethDriver::AfPacket;
        }
        let pmd = ["/usr/lib/x86_64-linux-gnu/dpdk", "/usr/lib/aarch64-linux-gnu/dpdk", "/usr/local/lib/dpdk"]
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flat_map(|dirs| dirs.flatten())
            .any(|pmds| pmds.path().join("librte_net_af_xdp.so").exists());
        let socket = pmd
            && ns
                .python("import socket; socket.socket(44, socket.SOCK_RAW).close()", Duration::from_secs(10))
                .status
                .success();
        let driver = if socket { VethDriver::AfXdp } else { VethDriver::AfPacket };
        match driver {
            VethDriver::AfXdp => eprintln!("veth: AF_XDP (net_af_xdp, config/xdp.toml)"),
            VethDriver::AfPacket => eprintln!(
                "veth: no AF_XDP here (PMD found: {pmd}); falling back to AF_PACKET (net_af_packet, config/af_packet.toml)"
            ),
        }
        driver
    }

    /// The configuration file that drives it.
    pub fn config(self) -> PathBuf {
        repo_root().join(match self {
            VethDriver::AfXdp => "config/xdp.toml",
            VethDriver::AfPacket => "config/af_packet.toml",
        })
    }
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Only processes this test started can be inside; normally the
        // guards below have already ended them.
        for pid in self.pids() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.pids().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// A background process whose stdout and stderr go to files. Dropping it
/// sends SIGTERM (by its PID), waits up to 5 s, then SIGKILLs it.
pub struct Process {
    child: Option<Child>,
    what: String,
    _dir: TempDir,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    /// The EAL file prefix of a zcnet process, whose runtime files are
    /// removed after it exits (a killed one cannot remove them itself).
    eal_prefix: Option<String>,
}

impl Process {
    /// Starts `cmd` in the background (`what` names it in messages).
    pub fn spawn(mut cmd: Command, what: &str) -> Process {
        let dir = TempDir::new();
        let stdout_path = dir.path().join("stdout");
        let stderr_path = dir.path().join("stderr");
        let file = |p: &Path| std::fs::File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file(&stdout_path))
            .stderr(file(&stderr_path))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        Process { child: Some(child), what: what.to_string(), _dir: dir, stdout_path, stderr_path, eal_prefix: None }
    }

    /// The process's ID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// What it printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Its exit status, if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits up to `limit` for a stdout line that satisfies `want`; fails
    /// the test if the process exits or the time runs out first.
    pub fn wait_for_line(&mut self, limit: Duration, want: impl Fn(&str) -> bool) -> String {
        self.wait_for_lines(limit, 1, want)
    }

    /// Waits up to `limit` until `count` stdout lines satisfy `want` and
    /// returns the last of them; fails the test if the process exits or
    /// the time runs out first.
    pub fn wait_for_lines(&mut self, limit: Duration, count: usize, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        let found = |out: &str| out.lines().filter(|l| want(l)).nth(count.saturating_sub(1)).map(str::to_string);
        loop {
            if let Some(line) = found(&self.stdout()) {
                return line;
            }
            if let Some(status) = self.try_status() {
                // It may have printed the line just before exiting.
                if let Some(line) = found(&self.stdout()) {
                    return line;
                }
                panic!("{} exited ({status}) early\nstdout:\n{}\nstderr:\n{}", self.what, self.stdout(), self.stderr());
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} printed no {count} expected line(s) within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    self.what,
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `limit` for the process to exit by itself; on overrun
    /// stops it (SIGTERM, then SIGKILL) and fails the test.
    pub fn wait(mut self, limit: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_status() {
                self.child = None;
                return (status, self.stdout(), self.stderr());
            }
            if Instant::now() >= deadline {
                let _ = self.terminate();
                panic!(
                    "{} still running after {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    self.what,
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM, waits up to 5 s for the exit, then sends SIGKILL.
    /// Returns the exit status and whether it exited within the time.
    fn terminate(&mut self) -> Option<(ExitStatus, bool)> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some((status, true));
        }
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some((status, true));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok().map(|s| (s, false))
    }

    /// Stops the process (SIGTERM; SIGKILL after 5 s) and returns its exit
    /// status, stdout and stderr. Fails the test if it had to be killed.
    pub fn stop(mut self) -> (ExitStatus, String, String) {
        let (status, in_time) = self.terminate().expect("process already reaped");
        let (out, err) = (self.stdout(), self.stderr());
        assert!(in_time, "{} did not exit within {STOP_LIMIT:?} of SIGTERM\nstdout:\n{out}\nstderr:\n{err}", self.what);
        (status, out, err)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.terminate();
        if let Some(prefix) = &self.eal_prefix {
            remove_eal_files(prefix);
        }
    }
}

/// Removes the runtime directory (/var/run/dpdk/PREFIX) and hugepage files
/// (/dev/hugepages/PREFIXmap_*) of an EAL file prefix whose process has
/// exited: a killed process leaves them, and its hugepages stay taken until
/// the files go. Only for prefixes of processes this test started.
pub fn remove_eal_files(prefix: &str) {
    let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(prefix));
    let stem = format!("{prefix}map_");
    for entry in std::fs::read_dir("/dev/hugepages").into_iter().flatten().flatten() {
        if entry.file_name().to_str().is_some_and(|n| n.starts_with(&stem)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Fetches `/` from zcnet-httpd (on port 80 of the stack) with curl in
/// `ns` and checks the page and the status.
pub fn curl_hello(ns: &Netns) {
    let out = ns.run(
        "curl",
        &["-sS", "--max-time", "10", "-w", "\n%{http_code}", &format!("http://{STACK_IP}/")],
        Duration::from_secs(15),
    );
    assert_success(&out, "curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, zcnet\n\n200");
}

/// A zcnet sample app running inside a namespace behind net_tap
/// (config/tap.toml), with the kernel side of `zc0` configured.
pub struct App {
    process: Process,
}

impl App {
    /// Starts `bin --config config/tap.toml args` in `ns`, waits until the
    /// app says it listens ("core N: ... on ..."), then configures the
    /// kernel side of `zc0`.
    pub fn start(ns: &Netns, bin: &str, args: &[&str]) -> App {
        App::start_with_config(ns, bin, &repo_root().join("config/tap.toml"), args)
    }

    /// [`App::start`] with another configuration file (one made by
    /// [`tap_config`]: net_tap on `zc0`, the lcores of config/tap.toml).
    pub fn start_with_config(ns: &Netns, bin: &str, config: &Path, args: &[&str]) -> App {
        let started = Instant::now();
        let mut app = App::spawn_process(ns, bin, config, args);
        // Every worker core listens on its own queue: wait for all of them.
        let workers = worker_cores(&repo_root().join("config/tap.toml"));
        let listening = |l: &str| l.starts_with("core ") && l.contains(" on ");
        app.process.wait_for_lines(START_LIMIT, workers, listening);
        // Only now: net_tap sets the kernel side's MAC to the port's own when
        // the app configures the port and again when it starts it (ethdev
        // restores the MAC on start), both after the interface appears. A
        // MAC given before that is undone, both ends then share one, and the
        // kernel drops every frame the stack sends to KERNEL_MAC (the answers
        // to crafted frames).
        app.configure_kernel_side(ns, true);
        eprintln!("{}: {workers} core(s) listening after {:?}", app.process.what, started.elapsed());
        app
    }

    /// Starts the app and configures the kernel side of `zc0` as soon as
    /// the interface appears, without waiting for the app to listen (for
    /// client runs, which never do). The kernel side may end up with the
    /// stack's MAC (see [`App::start_with_config`]): fine for kernel
    /// sockets, not for crafted frames from [`KERNEL_MAC`].
    pub fn spawn(ns: &Netns, bin: &str, args: &[&str]) -> App {
        App::spawn_with_config(ns, bin, &repo_root().join("config/tap.toml"), args)
    }

    /// [`App::spawn`] with another configuration file (for kernel sockets
    /// only, like [`App::spawn`]).
    pub fn spawn_with_config(ns: &Netns, bin: &str, config: &Path, args: &[&str]) -> App {
        let mut app = App::spawn_process(ns, bin, config, args);
        app.configure_kernel_side(ns, false);
        app
    }

    /// Starts `bin --config config args` in `ns` and waits until its tap
    /// interface exists.
    fn spawn_process(ns: &Netns, bin: &str, config: &Path, args: &[&str]) -> App {
        let mut cmd = ns.command(bin, &["--config", config.to_str().expect("utf-8 path")]);
        cmd.args(args);
        let name = Path::new(bin).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let started = Instant::now();
        let mut process = Process::spawn(cmd, &name);
        // EAL's file prefix is zcnet-<pid> (`ip netns exec` execs the app,
        // so the PID is the app's).
        process.eal_prefix = Some(format!("zcnet-{}", process.pid()));
        // The tap interface is born inside the namespace when EAL probes it.
        let deadline = Instant::now() + START_LIMIT;
        while !ns.has_tap() {
            if let Some(status) = process.try_status() {
                panic!(
                    "{name} exited ({status}) before creating {TAP}\nstdout:\n{}\nstderr:\n{}",
                    process.stdout(),
                    process.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{name} created no {TAP} within {START_LIMIT:?}\nstdout:\n{}\nstderr:\n{}",
                process.stdout(),
                process.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Shown when a test fails: where the start-up time went.
        eprintln!("{name} (pid {}): {TAP} after {:?}", process.pid(), started.elapsed());
        App { process }
    }

    /// Starts `bin --config C args` on the app end (`zcv0`) of a veth pair
    /// made in `ns`, and waits until it listens. C is config/xdp.toml
    /// (net_af_xdp) where the kernel has AF_XDP, else config/af_packet.toml
    /// (see [`VethDriver::detect`]). The kernel end `zck0` is 198.18.0.1/24
    /// with its tx checksum offload off (see [`Netns::veth_up`]).
    pub fn start_veth(ns: &Netns, bin: &str, args: &[&str]) -> App {
        App::start_veth_with(ns, bin, args, KernelChecksums::Computed)
    }

    /// [`App::start_veth`], with the kernel end's tx checksums as `checksums` says.
    pub fn start_veth_with(ns: &Netns, bin: &str, args: &[&str], checksums: KernelChecksums) -> App {
        ns.veth_up(checksums);
        let config = VethDriver::detect(ns).config();
        let config = config.to_str().expect("utf-8 path");
        // libxdp pins its XDP dispatcher in bpffs; `ip netns exec` gives the
        // app a mount namespace of its own with a fresh /sys, so a bpffs
        // mounted there is the app's alone and goes with it.
        let script = r#"mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null; exec "$@""#;
        let mut cmd = ns.command("sh", &["-c", script, "sh", bin, "--config", config]);
        cmd.args(args);
        let name = Path::new(bin).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let started = Instant::now();
        let mut process = Process::spawn(cmd, &name);
        // `ip netns exec` and sh exec the app: the PID is the app's.
        process.eal_prefix = Some(format!("zcnet-{}", process.pid()));
        let listening = |l: &str| l.starts_with("core ") && l.contains(" on ");
        process.wait_for_lines(START_LIMIT, worker_cores(Path::new(config)), listening);
        eprintln!("{name} (pid {}) listening on {VETH_APP} after {:?}", process.pid(), started.elapsed());
        App { process }
    }

    /// Gives the kernel side of `zc0` its MAC and address and brings it up;
    /// with `check`, fails unless the MAC stays.
    fn configure_kernel_side(&mut self, ns: &Netns, check: bool) {
        let name = self.process.what.clone();
        let kernel_cidr = format!("{KERNEL_IP}/24");
        let steps: [&[&str]; 3] = [
            &["link", "set", TAP, "address", KERNEL_MAC],
            &["addr", "add", &kernel_cidr, "dev", TAP],
            &["link", "set", TAP, "up"],
        ];
        for step in steps {
            let out = ns.try_ip(step);
            if !out.status.success() {
                // A client run may already be over (its tap gone with it):
                // then its own exit status and output tell the story.
                let exiting = Instant::now() + Duration::from_secs(3);
                while self.process.try_status().is_none() && Instant::now() < exiting {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if self.process.try_status().is_some() {
                    break;
                }
                assert_success(&out, &format!("ip -n {} {}", ns.name(), step.join(" ")));
            }
        }
        if check {
            assert_eq!(
                ns.tap_mac().as_deref(),
                Some(KERNEL_MAC),
                "{name}: the kernel side of {TAP} did not keep its MAC"
            );
        }
    }

    /// Waits until `workers` cores say they listen ("core N: ... on ...").
    pub fn wait_for_listening(&mut self, workers: usize) {
        let listening = |l: &str| l.starts_with("core ") && l.contains(" on ");
        self.process.wait_for_lines(START_LIMIT, workers, listening);
    }

    /// The app's PID.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Sends `signal` ("TERM", "INT", ...) to the app, by its PID.
    pub fn signal(&self, signal: &str) {
        let out = run_bounded(
            Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()),
            Duration::from_secs(5),
        );
        assert_success(&out, &format!("kill -{signal} {}", self.pid()));
    }

    /// The app's exit status, if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.process.try_status()
    }

    /// What the app printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }

    /// What the app printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.process.stdout()
    }

    /// Sends SIGTERM and returns (exit status, stdout, stderr); fails the
    /// test if the app needed SIGKILL.
    pub fn stop(self) -> (ExitStatus, String, String) {
        self.process.stop()
    }

    /// Waits up to `limit` for the app to exit by itself (client runs).
    pub fn wait(self, limit: Duration) -> (ExitStatus, String, String) {
        self.process.wait(limit)
    }
}

/// How many worker cores the configuration at `path` runs (`eal.lcores`:
/// the first lcore is the main one, the others are workers; a single lcore
/// works alone).
fn worker_cores(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let value = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("lcores"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_string())
        .next()
        .unwrap_or_else(|| "0-1".to_string()); // the stack's default
    let count: usize = value
        .split(',')
        .map(|part| part.split('@').next().unwrap_or(part))
        .map(|part| match part.split_once('-') {
            Some((a, b)) => match (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 1,
            },
            None => 1,
        })
        .sum();
    count.saturating_sub(1).max(1)
}

/// The value of `field: N` summed over every per-core `NetStats` line
/// ("queue 0: NetStats { ... field: N ... }") of an app's stdout.
pub fn net_stat(stdout: &str, field: &str) -> Option<u64> {
    let key = format!(" {field}: ");
    let mut total = None;
    for line in stdout.lines().filter(|l| l.starts_with("queue ") && l.contains("NetStats")) {
        let at = line.find(&key)? + key.len();
        let digits: String = line[at..].chars().take_while(char::is_ascii_digit).collect();
        *total.get_or_insert(0) += digits.parse::<u64>().ok()?;
    }
    total
}

/// The value of `field: N` inside the nested struct `section: Type { ... }`
/// (e.g. `datagrams: DatagramStats { .. bad_checksum: N .. }`), summed over
/// every per-core `NetStats` line of an app's stdout. Unlike [`net_stat`],
/// it cannot pick up a field of the same name in another nested struct.
pub fn net_stat_in(stdout: &str, section: &str, field: &str) -> Option<u64> {
    let (open, key) = (format!(" {section}: "), format!(" {field}: "));
    let mut total = None;
    for line in stdout.lines().filter(|l| l.starts_with("queue ") && l.contains("NetStats")) {
        let rest = &line[line.find(&open)? + open.len()..];
        // The section's own braces: from its '{' to the matching '}'.
        let body = &rest[rest.find('{')?..];
        let mut depth = 0usize;
        let end = body.char_indices().find_map(|(i, c)| {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(i)
        })?;
        let body = &body[..end];
        let at = body.find(&key)? + key.len();
        let digits: String = body[at..].chars().take_while(char::is_ascii_digit).collect();
        *total.get_or_insert(0) += digits.parse::<u64>().ok()?;
    }
    total
}

/// The value of `field: N` in the `port: PortStats { ... }` line an app
/// prints at exit (the port's own counters, `rte_eth_stats`).
#[allow(dead_code)] // not every test binary uses every helper
pub fn port_stat(stdout: &str, field: &str) -> Option<u64> {
    let key = format!(" {field}: ");
    let line = stdout.lines().find(|l| l.starts_with("port: PortStats"))?;
    let at = line.find(&key)? + key.len();
    line[at..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

/// Writes config/tap.toml with `settings` added to `dir/zcnet.toml` and
/// returns its path. Each setting is (table, line): the line goes under the
/// table's header if config/tap.toml has it (`"runtime"`, `"[ports]"` for
/// the first `[[ports]]`), else under a new `[table]` at the end.
pub fn tap_config(dir: &TempDir, settings: &[(&str, &str)]) -> PathBuf {
    let base = repo_root().join("config/tap.toml");
    let text = std::fs::read_to_string(&base).unwrap_or_else(|e| panic!("read {}: {e}", base.display()));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (table, line) in settings {
        let header = format!("[{table}]");
        match lines.iter().position(|l| l.trim() == header) {
            Some(at) => lines.insert(at + 1, line.to_string()),
            None => lines.extend([String::new(), header, line.to_string()]),
        }
    }
    let path = dir.path().join("zcnet.toml");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// The number after `key` in a line of a Python client's output
/// ("key N ..."), which must be there.
#[allow(dead_code)] // not every test binary uses every helper
pub fn py_count(out: &str, key: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("no `{key} N` in the Python output:\n{out}"))
}

/// Fails unless the app exited 0 and returned every mbuf to its pool.
#[allow(dead_code)] // not every test binary uses every helper
pub fn assert_clean_exit(status: std::process::ExitStatus, stdout: &str, stderr: &str) {
    eprintln!("app stdout:\n{stdout}");
    assert_eq!(status.code(), Some(0), "app exit {status}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("mbuf(s) out"), "app leaked mbufs:\n{stderr}");
}

/// Writes `len` random bytes to `path`.
pub fn random_file(path: &std::path::Path, len: usize) {
    let mut data = vec![0u8; len];
    let mut urandom = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
    std::io::Read::read_exact(&mut urandom, &mut data).expect("read /dev/urandom");
    std::fs::write(path, &data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The SHA-256 of a file, from sha256sum.
pub fn sha256(path: &Path) -> String {
    let out = run_bounded(Command::new("sha256sum").arg(path), Duration::from_secs(20));
    assert_success(&out, "sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}
