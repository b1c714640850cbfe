//! zcnet's configuration: one typed struct, loaded from a TOML file and
//! overridden by the shared command-line flags ([`crate::cli::CommonArgs`]).
//! Every error names the field it is about, so a user can fix the file.
//!
//! ```toml
//! [eal]
//! lcores = "0-1"              # the first is the main lcore, the rest are workers
//! vdevs = ["net_null0"]       # virtual devices; PCI devices only through `allow`
//! hugepages = "auto"          # auto | required | off
//!
//! [[ports]]
//! name = "net_null0"
//! rx_desc = 1024
//! ```

use serde::Deserialize;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

/// The whole configuration of a zcnet process.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How EAL starts: cores, devices, memory.
    pub eal: EalConfig,
    /// The ports to use, in order. Empty: one port per vdev/allowed device.
    pub ports: Vec<PortConfig>,
    /// Per-lcore packet pools.
    pub mempool: MempoolConfig,
    /// The per-core loop.
    pub runtime: RuntimeConfig,
    /// The IP layer and sockets.
    pub net: NetConfig,
}

/// Whether EAL uses hugepages.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Hugepages {
    /// Use hugepages if any are free, else fall back to `--no-huge` (and say so once).
    #[default]
    Auto,
    /// Fail with a clear error if no hugepages are free.
    Required,
    /// Always run with `--no-huge` (anonymous memory; fine for tests).
    Off,
}

/// EAL settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EalConfig {
    /// The lcores, in EAL's `-l` syntax (`"0-1"`, `"0,2,4"`). The first is the
    /// main lcore; the others are workers, each running its own loop.
    pub lcores: String,
    /// Virtual devices, in EAL's `--vdev` syntax (`"net_tap0,iface=zc0"`).
    pub vdevs: Vec<String>,
    /// PCI devices zcnet may use (`"0000:01:00.0"`). Empty means `--no-pci`:
    /// zcnet never probes a NIC that nobody named.
    pub allow: Vec<String>,
    /// Hugepage policy.
    pub hugepages: Hugepages,
    /// Memory in MiB to reserve when running without hugepages.
    pub memory_mb: u32,
    /// EAL's `--file-prefix`; empty means `zcnet-<pid>`, so processes never collide.
    pub file_prefix: String,
    /// EAL's `--log-level`: a level name of `log` or of EAL (`"warn"`,
    /// `"notice"`), mapped as [`crate::LogLevel`] says, or EAL's per-component
    /// syntax (`"lib.eal:debug"`), passed unchanged.
    pub log_level: String,
    /// Extra EAL arguments, passed last and unchanged.
    pub extra_args: Vec<String>,
}

impl Default for EalConfig {
    fn default() -> Self {
        EalConfig {
            lcores: "0-1".into(),
            vdevs: Vec::new(),
            allow: Vec::new(),
            hugepages: Hugepages::Auto,
            memory_mb: 512,
            file_prefix: String::new(),
            log_level: "error".into(),
            extra_args: Vec::new(),
        }
    }
}

/// One Ethernet port.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PortConfig {
    /// The device name (`"net_null0"`, or a PCI address from `eal.allow`).
    pub name: String,
    /// Receive descriptors per queue (a power of two).
    pub rx_desc: u16,
    /// Transmit descriptors per queue (a power of two).
    pub tx_desc: u16,
    /// The MTU in bytes.
    pub mtu: u16,
    /// Accept frames for any destination MAC.
    pub promiscuous: bool,
    /// Override the port's MAC address (`"02:00:00:00:00:01"`; unicast). A wire keeps
    /// this one itself (net_ring takes none); without it,
    /// `02:7a:63:00:` and the port id in two bytes.
    pub mac: Option<String>,
    /// Use checksum offloads where the device offers them.
    pub checksum_offload: bool,
    /// Not a device but an in-memory wire made of rte_rings: queue pair `i`
    /// is cabled to queue pair `i ^ 1`, so core 0 talks to core 1 (2 to 3,
    /// ...) with real Ethernet frames and no kernel in between. For tests
    /// and benchmarks without a NIC; give each core an address with `net.core_ips`.
    pub wire: bool,
    /// How a wire delivers frames (see [`WireSpread`]); `pairs` by default.
    pub wire_spread: WireSpread,
    /// The two sides of a spreading wire: the queues (= worker cores, in
    /// order) of each, e.g. `[[0, 1], [2, 3]]`.
    pub wire_sides: Vec<Vec<u16>>,
    /// A spreading wire's Toeplitz key, 40 bytes in hex; the default is the
    /// RSS specification's key that Intel's drivers and testpmd use.
    pub wire_rss_key: Option<String>,
}

/// Where an in-memory wire delivers a frame (details in the `wire` module).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WireSpread {
    /// Queue `i` is cabled to queue `i ^ 1`.
    #[default]
    Pairs,
    /// To the queue of the other side that RSS with the Toeplitz hash picks,
    /// as a NIC would.
    Toeplitz,
    /// To the other side's queues in turn, whatever the flow (a device
    /// without RSS).
    RoundRobin,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            name: String::new(),
            rx_desc: 1024,
            tx_desc: 1024,
            mtu: 1500,
            promiscuous: true,
            mac: None,
            checksum_offload: true,
            wire: false,
            wire_spread: WireSpread::Pairs,
            wire_sides: Vec::new(),
            wire_rss_key: None,
        }
    }
}

/// Packet pools: one per worker lcore, on that lcore's NUMA socket.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolConfig {
    /// mbufs per pool (2^n - 1 is the most memory-efficient).
    pub mbufs: u32,
    /// Per-lcore cache of the pool.
    pub cache: u32,
    /// Bytes of data room per mbuf, headroom included.
    pub data_room: u16,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig { mbufs: 8191, cache: 256, data_room: 2048 + 128 }
    }
}

/// What a core does when there is no work.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum IdlePolicy {
    /// Poll continuously: lowest latency, one full CPU per core.
    Busy,
    /// After some idle rounds, sleep until the next timer or a short bound.
    #[default]
    Backoff,
}

/// The per-core loop.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Idle policy.
    pub idle: IdlePolicy,
    /// Idle turns a `backoff` core keeps polling before it starts to sleep
    /// (0: sleep after the first idle turn; `u32::MAX`: never sleep). A
    /// turn is as cheap as the device's empty poll: tens of nanoseconds on
    /// an in-memory ring, about half a microsecond on net_af_xdp or net_tap
    /// (a system call), where the default 1024 is half a millisecond of
    /// spinning per gap in the traffic; `config/xdp.toml` and
    /// `config/tap.toml` use 16.
    pub idle_spins: u32,
    /// Packets per rx/tx burst (at most [`crate::MAX_BURST`]).
    pub burst: u16,
    /// Task polls per loop turn before the core goes back to the NIC.
    pub task_budget: u32,
    /// Seconds that shutdown waits for connections to close.
    pub shutdown_grace_secs: f64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            idle: IdlePolicy::Backoff,
            idle_spins: 1024,
            burst: 32,
            task_budget: 64,
            shutdown_grace_secs: 2.0,
        }
    }
}

/// The IP layer and sockets.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NetConfig {
    /// This host's address and prefix (`"198.18.0.2/24"`).
    pub ip: String,
    /// Per-core addresses (core `i` uses `core_ips[i]` with `ip`'s prefix);
    /// empty: every core uses `ip`. Needed on an in-memory wire.
    pub core_ips: Vec<String>,
    /// The default gateway, if any.
    pub gateway: Option<String>,
    /// Frames one core may have handed to another and not yet taken (per
    /// ordered pair of cores); more are dropped and counted in
    /// `steering.steer_drops`.
    pub steer_queue: usize,
    /// TCP settings.
    pub tcp: TcpConfig,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            ip: "198.18.0.2/24".into(),
            core_ips: Vec::new(),
            gateway: None,
            steer_queue: 1024,
            tcp: TcpConfig::default(),
        }
    }
}

/// TCP defaults.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TcpConfig {
    /// Default listen backlog.
    pub backlog: usize,
    /// Receive ring per connection, in bytes (default 16 KiB). Each
    /// connection owns its two rings for its whole life: they are its
    /// memory cost (10,000 connections with the defaults: about 330 MB
    /// resident at most). Bulk transfers want larger rings: set them per
    /// listener or connection with `net::TcpSocket`.
    pub rx_buffer: usize,
    /// Send ring per connection, in bytes (default 16 KiB).
    pub tx_buffer: usize,
    /// Connect timeout in seconds.
    pub connect_timeout_secs: f64,
    /// How long a connection closed first by this side stays in TIME-WAIT
    /// (2·MSL), in seconds; Linux's is 60. 0 turns TIME-WAIT off.
    pub time_wait_secs: f64,
    /// Most TIME-WAIT entries per core (each about 60 bytes); the oldest is
    /// evicted (and counted) when a new one would not fit. 0: none kept.
    pub time_wait_max: usize,
    /// Challenge ACKs (RFC 5961 §7) each core may send per second.
    pub challenge_acks_per_sec: u32,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            backlog: 1024,
            rx_buffer: 16 * 1024,
            tx_buffer: 16 * 1024,
            connect_timeout_secs: 5.0,
            time_wait_secs: 60.0,
            time_wait_max: 100_000,
            challenge_acks_per_sec: 1000,
        }
    }
}

/// A configuration that could not be loaded: names the field (or file) and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field (`"ports[0].rx_desc"`) or file the error is about.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError { field: field.into(), problem: problem.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses a configuration from TOML text. `origin` names the source in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            // toml's message names the key and shows the line; keep it whole.
            let msg = e.message().to_string();
            let place = match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("{origin}:{line}")
                }
                None => origin.to_string(),
            };
            ConfigError::new(place, msg)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&origin, format!("cannot read config file: {e}")))?;
        Config::from_toml(&text, &origin)
    }

    /// The ports to open: the configured list, or one per vdev and allowed
    /// PCI device when the list is empty.
    pub fn effective_ports(&self) -> Vec<PortConfig> {
        if !self.ports.is_empty() {
            return self.ports.clone();
        }
        self.eal
            .vdevs
            .iter()
            .map(|v| v.split(',').next().unwrap_or("").to_string())
            .chain(self.eal.allow.iter().cloned())
            .map(|name| PortConfig { name, ..PortConfig::default() })
            .collect()
    }

    /// Checks every field that TOML's types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        parse_lcores(&self.eal.lcores).map_err(|p| ConfigError::new("eal.lcores", p))?;
        crate::LogLevel::parse(&self.eal.log_level).map_err(|e| ConfigError::new("eal.log_level", e))?;
        if self.eal.memory_mb < 16 {
            return Err(ConfigError::new("eal.memory_mb", "must be at least 16 MiB"));
        }
        for (i, v) in self.eal.vdevs.iter().enumerate() {
            if v.is_empty() || !v.starts_with("net_") {
                return Err(ConfigError::new(
                    format!("eal.vdevs[{i}]"),
                    format!("{v:?} is not a network vdev (expected net_null0, net_ring0, net_tap0,iface=..., net_memif0,...)"),
                ));
            }
        }
        for (i, p) in self.ports.iter().enumerate() {
            let field = |f: &str| format!("ports[{i}].{f}");
            if p.name.is_empty() {
                return Err(ConfigError::new(field("name"), "is required"));
            }
            for (name, n) in [("rx_desc", p.rx_desc), ("tx_desc", p.tx_desc)] {
                if !n.is_power_of_two() || n < 32 {
                    return Err(ConfigError::new(field(name), format!("{n} must be a power of two >= 32")));
                }
            }
            if !(68..=9600).contains(&p.mtu) {
                return Err(ConfigError::new(field("mtu"), format!("{} is outside 68..=9600", p.mtu)));
            }
            // A frame must fit one mbuf (128 bytes of the data room are headroom).
            if p.mtu as usize + 14 > self.mempool.data_room as usize - 128 {
                return Err(ConfigError::new(
                    field("mtu"),
                    format!("{} does not fit mempool.data_room {} (needs mtu + 142)", p.mtu, self.mempool.data_room),
                ));
            }
            if let Some(mac) = &p.mac {
                let bytes = parse_mac(mac).map_err(|e| ConfigError::new(field("mac"), e))?;
                if bytes[0] & 1 == 1 {
                    return Err(ConfigError::new(
                        field("mac"),
                        format!("{mac} is a multicast or broadcast address; a port needs a unicast one"),
                    ));
                }
            }
            if p.wire_spread != WireSpread::Pairs || !p.wire_sides.is_empty() {
                if !p.wire {
                    return Err(ConfigError::new(
                        field("wire_spread"),
                        "applies to an in-memory wire only (wire = true)",
                    ));
                }
                if p.wire_sides.len() != 2 || p.wire_sides.iter().any(|s| s.is_empty()) {
                    return Err(ConfigError::new(field("wire_sides"), "must be two non-empty lists of queues"));
                }
            }
            if let Some(key) = &p.wire_rss_key {
                crate::wire::parse_key(key).map_err(|e| ConfigError::new(field("wire_rss_key"), e))?;
            }
        }
        if self.mempool.mbufs < 64 {
            return Err(ConfigError::new("mempool.mbufs", "must be at least 64"));
        }
        if self.mempool.cache > 512 || self.mempool.cache > self.mempool.mbufs / 2 {
            return Err(ConfigError::new("mempool.cache", "must be at most 512 and at most half of mempool.mbufs"));
        }
        if self.mempool.data_room < 256 + 128 || self.mempool.data_room > 65535 - 128 {
            return Err(ConfigError::new("mempool.data_room", "must be 384..=65407 bytes (128 of them are headroom)"));
        }
        if self.runtime.burst == 0 || self.runtime.burst as usize > crate::MAX_BURST {
            return Err(ConfigError::new("runtime.burst", format!("must be in 1..={}", crate::MAX_BURST)));
        }
        if self.runtime.task_budget == 0 {
            return Err(ConfigError::new("runtime.task_budget", "must be at least 1"));
        }
        if !(0.0..=600.0).contains(&self.runtime.shutdown_grace_secs) {
            return Err(ConfigError::new("runtime.shutdown_grace_secs", "must be in 0..=600"));
        }
        parse_cidr(&self.net.ip).map_err(|e| ConfigError::new("net.ip", e))?;
        if let Some(gw) = &self.net.gateway {
            gw.parse::<Ipv4Addr>().map_err(|e| ConfigError::new("net.gateway", format!("{gw:?}: {e}")))?;
        }
        for (i, ip) in self.net.core_ips.iter().enumerate() {
            ip.parse::<Ipv4Addr>()
                .map_err(|e| ConfigError::new(format!("net.core_ips[{i}]"), format!("{ip:?}: {e}")))?;
        }
        if !(1..=65536).contains(&self.net.steer_queue) {
            return Err(ConfigError::new("net.steer_queue", "must be in 1..=65536"));
        }
        if self.net.tcp.backlog == 0 {
            return Err(ConfigError::new("net.tcp.backlog", "must be at least 1"));
        }
        if !(0.0..=3600.0).contains(&self.net.tcp.time_wait_secs) {
            return Err(ConfigError::new("net.tcp.time_wait_secs", "must be in 0..=3600"));
        }
        if self.net.tcp.time_wait_max > 10_000_000 {
            return Err(ConfigError::new("net.tcp.time_wait_max", "must be at most 10,000,000"));
        }
        for (name, n) in [("rx_buffer", self.net.tcp.rx_buffer), ("tx_buffer", self.net.tcp.tx_buffer)] {
            if !(1024..=(1 << 30)).contains(&n) {
                return Err(ConfigError::new(format!("net.tcp.{name}"), "must be in 1 KiB..=1 GiB"));
            }
        }
        Ok(())
    }
}

/// Parses EAL's lcore list syntax (`"0-3"`, `"0,2,4-5"`), in order, without
/// duplicates. Items may map an lcore to a CPU (`"0@0,1@0,2@1"`: three
/// lcores on two CPUs, EAL's `--lcores` syntax); the lcore ids are returned.
pub fn parse_lcores(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let part = match part.split_once('@') {
            Some((id, cpu)) if cpu.trim().parse::<u32>().is_ok() => id.trim(),
            Some(_) => return Err(format!("{s:?}: {part:?} must be LCORE@CPU with single numbers")),
            None => part,
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: u32 = lo.parse().map_err(|_| format!("{s:?}: {part:?} is not a core number or range"))?;
        let hi: u32 = hi.parse().map_err(|_| format!("{s:?}: {part:?} is not a core number or range"))?;
        if lo > hi || hi >= 1024 {
            return Err(format!("{s:?}: bad range {part:?}"));
        }
        for c in lo..=hi {
            if out.contains(&c) {
                return Err(format!("{s:?}: core {c} is listed twice"));
            }
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err("no lcores given".into());
    }
    Ok(out)
}

/// Parses `"a.b.c.d/len"`.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, len) = s.split_once('/').ok_or_else(|| format!("{s:?} is not ADDRESS/PREFIX (like 198.18.0.2/24)"))?;
    let ip: Ipv4Addr = ip.parse().map_err(|e| format!("{s:?}: {e}"))?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32).ok_or_else(|| format!("{s:?}: prefix must be 0..=32"))?;
    Ok((ip, len))
}

/// Parses a MAC address `"02:00:00:00:00:01"`.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        let p = parts.next().ok_or_else(|| format!("{s:?} is not a MAC address (xx:xx:xx:xx:xx:xx)"))?;
        *b = u8::from_str_radix(p, 16).map_err(|_| format!("{s:?} is not a MAC address (xx:xx:xx:xx:xx:xx)"))?;
    }
    if parts.next().is_some() {
        return Err(format!("{s:?} is not a MAC address (xx:xx:xx:xx:xx:xx)"));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_configs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        for name in ["null.toml", "ring.toml", "tap.toml", "nic.toml", "wire.toml", "wire-rss.toml"] {
            Config::load(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn unknown_field_is_named() {
        let e = Config::from_toml("[eal]\nlcore = \"0\"\n", "x.toml").unwrap_err();
        assert!(e.problem.contains("lcore"), "{e}");
        assert_eq!(e.field, "x.toml:2");
    }

    #[test]
    fn wrong_type_is_named() {
        let e = Config::from_toml("[[ports]]\nname = \"a\"\nrx_desc = \"many\"\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("x.toml:3"), "{e}");
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            ("[eal]\nlcores = \"3-1\"", "eal.lcores"),
            ("[[ports]]\nname = \"p\"\nrx_desc = 1000", "ports[0].rx_desc"),
            ("[[ports]]\nname = \"p\"\nmac = \"zz\"", "ports[0].mac"),
            ("[[ports]]\nname = \"p\"\nmac = \"01:00:5e:00:00:01\"", "ports[0].mac"),
            ("[net]\nip = \"198.18.0.1\"", "net.ip"),
            ("[runtime]\nburst = 0", "runtime.burst"),
            ("[mempool]\nmbufs = 3", "mempool.mbufs"),
            ("[eal]\nvdevs = [\"crypto_null\"]", "eal.vdevs[0]"),
        ];
        for (text, field) in cases {
            let e = Config::from_toml(text, "t").unwrap_err();
            assert_eq!(e.field, field, "{text}: {e}");
        }
    }

    #[test]
    fn lcores_parse_in_order() {
        assert_eq!(parse_lcores("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_lcores("0@0,1@0,2@1").unwrap(), vec![0, 1, 2]);
        assert!(parse_lcores("0@x").is_err());
        assert!(parse_lcores("1,1").is_err());
        assert!(parse_lcores("").is_err());
    }

    #[test]
    fn ports_default_to_one_per_device() {
        let c = Config::from_toml("[eal]\nvdevs = [\"net_tap0,iface=zc0\", \"net_null0\"]", "t").unwrap();
        let names: Vec<_> = c.effective_ports().into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["net_tap0", "net_null0"]);
    }
}
