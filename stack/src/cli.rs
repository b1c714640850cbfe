//! The command-line flags every zcnet program shares. An app flattens
//! [`CommonArgs`] into its own clap parser and calls [`CommonArgs::config`]:
//! the TOML file is read first, then each flag overrides its field.

use crate::config::{parse_cidr, Config, ConfigError, Hugepages, IdlePolicy};
use std::path::PathBuf;

/// Flags shared by all zcnet programs (`#[command(flatten)]` them).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// TOML configuration file (see config/*.toml).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Add a virtual device, EAL syntax (repeatable): net_null0, net_ring0, net_tap0,iface=zc0.
    #[arg(long, value_name = "DEVARGS")]
    pub vdev: Vec<String>,
    /// Allow a PCI device (repeatable). Without any, EAL runs with --no-pci.
    #[arg(long, value_name = "PCI_ADDR")]
    pub allow: Vec<String>,
    /// Use these devices as ports, in order (repeatable); default: every vdev and allowed device.
    #[arg(long, value_name = "NAME")]
    pub device: Vec<String>,
    /// Lcores, EAL syntax; the first is the main lcore, the rest are workers.
    #[arg(long, short = 'l', value_name = "LIST")]
    pub lcores: Option<String>,
    /// Run without hugepages (anonymous memory).
    #[arg(long)]
    pub no_huge: bool,
    /// EAL --file-prefix (default `zcnet-<pid>`).
    #[arg(long, value_name = "PREFIX")]
    pub file_prefix: Option<String>,
    /// mbufs per core's pool.
    #[arg(long, value_name = "N")]
    pub mbufs: Option<u32>,
    /// Packets per rx/tx burst.
    #[arg(long, value_name = "N")]
    pub burst: Option<u16>,
    /// What a core does when idle.
    #[arg(long, value_enum)]
    pub idle: Option<IdlePolicy>,
    /// This host's IPv4 address and prefix (198.18.0.2/24).
    #[arg(long, value_name = "CIDR")]
    pub ip: Option<String>,
    /// Default gateway.
    #[arg(long, value_name = "ADDR")]
    pub gateway: Option<String>,
    /// MAC address for the (first) port.
    #[arg(long, value_name = "MAC")]
    pub mac: Option<String>,
    /// Log level of zcnet's messages and of EAL's: off, error, warn, info,
    /// debug, trace (or EAL's names, or COMPONENT:LEVEL for EAL alone).
    /// Default: RUST_LOG for zcnet (else info), error for EAL.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

impl CommonArgs {
    /// The configuration: the file if one was given, else defaults, with
    /// every flag applied on top, then validated.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut c = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        c.eal.vdevs.extend(self.vdev.iter().cloned());
        c.eal.allow.extend(self.allow.iter().cloned());
        if !self.device.is_empty() {
            let mut ports = Vec::new();
            for name in &self.device {
                let existing = c.effective_ports().into_iter().find(|p| &p.name == name);
                ports.push(
                    existing.unwrap_or_else(|| crate::config::PortConfig { name: name.clone(), ..Default::default() }),
                );
            }
            c.ports = ports;
        }
        if let Some(l) = &self.lcores {
            c.eal.lcores = l.clone();
        }
        if self.no_huge {
            c.eal.hugepages = Hugepages::Off;
        }
        if let Some(p) = &self.file_prefix {
            c.eal.file_prefix = p.clone();
        }
        if let Some(n) = self.mbufs {
            c.mempool.mbufs = n;
            // The per-lcore cache may hold at most half the pool: scale it
            // with a pool made small on the command line.
            c.mempool.cache = c.mempool.cache.min(n / 2);
        }
        if let Some(n) = self.burst {
            c.runtime.burst = n;
        }
        if let Some(i) = self.idle {
            c.runtime.idle = i;
        }
        if let Some(ip) = &self.ip {
            parse_cidr(ip).map_err(|e| ConfigError::new("--ip", e))?;
            c.net.ip = ip.clone();
        }
        if let Some(gw) = &self.gateway {
            c.net.gateway = Some(gw.clone());
        }
        if let Some(mac) = &self.mac {
            crate::config::parse_mac(mac).map_err(|e| ConfigError::new("--mac", e))?;
            if c.ports.is_empty() {
                c.ports = c.effective_ports();
            }
            match c.ports.first_mut() {
                Some(p) => p.mac = Some(mac.clone()),
                None => return Err(ConfigError::new("--mac", "no port to set it on (add --vdev or --device)")),
            }
        }
        if let Some(l) = &self.log_level {
            c.eal.log_level = l.clone();
        }
        c.validate()?;
        Ok(c)
    }
}
