//! zcnet-doctor: checks what a new DPDK user trips on, and says how to fix
//! each: hugepages (reserved, free, hugetlbfs mounted), the IOMMU and vfio,
//! the PMDs the DPDK install provides, which NICs are bound to which driver
//! (what `dpdk-devbind.py --status` shows), the configured lcores against the
//! CPUs, the file-descriptor limit, bpffs for AF_XDP, and root.
//!
//! It only reads /proc and /sys: it never starts EAL, binds, unbinds or
//! probes a device.
//!
//!     zcnet-doctor [--config config/nic.toml]
//!
//! Exit code 1 if a check failed (zcnet cannot run as configured), else 0.

#[path = "shared/usage.rs"]
mod usage;
use clap::Parser;
use std::fs;
use std::path::{Path, PathBuf};
use usage::config_or_exit;
use zcnet::cli::CommonArgs;
use zcnet::config::{parse_lcores, Config};

/// Checks this machine for what zcnet and DPDK need.
#[derive(Debug, Parser)]
#[command(name = "zcnet-doctor", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Ok,
    Warn,
    Fail,
}

/// One check's verdict: what was found, and how to fix it if it is not ok.
struct Check {
    name: &'static str,
    status: Status,
    found: String,
    fix: Option<String>,
}

fn ok(name: &'static str, found: impl Into<String>) -> Check {
    Check { name, status: Status::Ok, found: found.into(), fix: None }
}

fn not_ok(name: &'static str, status: Status, found: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { name, status, found: found.into(), fix: Some(fix.into()) }
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn entries(dir: impl AsRef<Path>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    v.sort();
    v
}

fn name_of(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// (mount point, fs type) of every mount.
fn mounts() -> Vec<(String, String)> {
    read("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2).then(|| (f[1].to_string(), f[2].to_string()))
        })
        .collect()
}

fn hugepages() -> Check {
    let sizes: Vec<(String, u64, u64)> = entries("/sys/kernel/mm/hugepages")
        .iter()
        .map(|d| {
            let n = |f: &str| read(d.join(f)).and_then(|v| v.parse().ok()).unwrap_or(0);
            (name_of(d).trim_start_matches("hugepages-").to_string(), n("nr_hugepages"), n("free_hugepages"))
        })
        .collect();
    let found = sizes.iter().map(|(s, n, f)| format!("{s}: {n} reserved, {f} free")).collect::<Vec<_>>().join("; ");
    let fix = "sudo scripts/setup.sh, or: echo 1024 | sudo tee /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
    match sizes.iter().map(|(_, _, f)| f).sum::<u64>() {
        0 if sizes.is_empty() => not_ok("hugepages", Status::Warn, "this kernel offers no hugepages", fix),
        0 => not_ok(
            "hugepages",
            Status::Warn,
            format!("{found}: zcnet falls back to --no-huge (slower; dpdk-dumpcap cannot attach)"),
            fix,
        ),
        _ => ok("hugepages", found),
    }
}

fn hugetlbfs() -> Check {
    let at: Vec<String> = mounts().into_iter().filter(|(_, t)| t == "hugetlbfs").map(|(m, _)| m).collect();
    if at.is_empty() {
        not_ok(
            "hugetlbfs",
            Status::Warn,
            "not mounted: EAL cannot use the reserved hugepages",
            "sudo mkdir -p /dev/hugepages && sudo mount -t hugetlbfs nodev /dev/hugepages",
        )
    } else {
        ok("hugetlbfs", format!("mounted on {}", at.join(", ")))
    }
}

fn iommu() -> Check {
    let groups = entries("/sys/kernel/iommu_groups").len();
    let noiommu = read("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode").is_some_and(|v| v == "Y");
    match (groups, noiommu) {
        (0, true) => ok("iommu", "no IOMMU groups, but vfio's no-IOMMU mode is on (no DMA isolation)"),
        (0, false) => not_ok(
            "iommu",
            Status::Warn,
            "no IOMMU groups: vfio-pci cannot take a NIC (virtual devices work regardless)",
            "enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on iommu=pt (or amd_iommu=on); in a VM without a vIOMMU: modprobe vfio enable_unsafe_noiommu_mode=1",
        ),
        (n, _) => ok("iommu", format!("{n} IOMMU group(s)")),
    }
}

fn vfio() -> Check {
    let loaded = Path::new("/sys/module/vfio_pci").exists();
    let dev = Path::new("/dev/vfio/vfio").exists();
    match (loaded, dev) {
        (true, true) => ok("vfio", "vfio-pci loaded, /dev/vfio/vfio present"),
        _ => not_ok(
            "vfio",
            Status::Warn,
            format!(
                "vfio-pci {}, /dev/vfio/vfio {} (needed only for a PCI NIC)",
                if loaded { "loaded" } else { "not loaded" },
                if dev { "present" } else { "missing" }
            ),
            "sudo modprobe vfio-pci",
        ),
    }
}

/// The directories DPDK loads PMD plugins from (Debian/Ubuntu and /usr/local installs).
fn pmd_dirs() -> Vec<PathBuf> {
    ["/usr/lib", "/usr/local/lib", "/usr/lib64", "/usr/local/lib64"]
        .iter()
        .flat_map(|root| {
            let mut dirs = vec![PathBuf::from(root).join("dpdk")];
            dirs.extend(entries(root).into_iter().map(|d| d.join("dpdk")));
            dirs
        })
        .flat_map(entries)
        .filter(|d| name_of(d).starts_with("pmds-"))
        .collect()
}

fn pmds() -> Check {
    let mut net: Vec<String> = pmd_dirs()
        .iter()
        .flat_map(entries)
        .filter_map(|f| name_of(&f).strip_prefix("librte_").and_then(|n| n.strip_suffix(".so")).map(str::to_string))
        .filter(|n| n.starts_with("net_"))
        .collect();
    net.sort();
    net.dedup();
    if net.is_empty() {
        return not_ok(
            "pmds",
            Status::Fail,
            "no DPDK network PMD found (looked for */dpdk/pmds-*/librte_net_*.so)",
            "sudo apt-get install dpdk (or scripts/setup.sh)",
        );
    }
    let want = ["net_tap", "net_null", "net_ring", "net_memif", "net_af_xdp"];
    let missing: Vec<&str> = want.iter().copied().filter(|w| !net.iter().any(|n| n == w)).collect();
    let found = format!("{} network PMDs: {}", net.len(), net.join(" "));
    if missing.is_empty() {
        ok("pmds", found)
    } else {
        not_ok(
            "pmds",
            Status::Warn,
            format!("{found}; missing {}", missing.join(", ")),
            "install your distribution's full DPDK package (Debian: dpdk)",
        )
    }
}

/// Vendor and device names from pci.ids, if it is installed.
fn pci_name(vendor: &str, device: &str) -> Option<String> {
    let ids = ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"].iter().find_map(read)?;
    let mut lines = ids.lines().skip_while(|l| !l.starts_with(vendor));
    let vendor_name = lines.next()?.get(4..)?.trim().to_string();
    let dev = lines.take_while(|l| l.starts_with('\t')).find_map(|l| l.strip_prefix('\t')?.strip_prefix(device))?;
    Some(format!("{vendor_name} {}", dev.trim()))
}

/// Interfaces with a route (what dpdk-devbind.py marks *Active*).
fn routed_interfaces() -> Vec<String> {
    read("/proc/net/route")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn nics() -> Check {
    const DPDK_DRIVERS: [&str; 3] = ["vfio-pci", "uio_pci_generic", "igb_uio"];
    let routed = routed_interfaces();
    let mut lines = Vec::new();
    let mut bound = 0;
    for dev in entries("/sys/bus/pci/devices") {
        if !read(dev.join("class")).is_some_and(|c| c.starts_with("0x02")) {
            continue;
        }
        let id = |f: &str| read(dev.join(f)).map(|v| v.trim_start_matches("0x").to_string()).unwrap_or_default();
        let (vendor, device) = (id("vendor"), id("device"));
        let driver = fs::read_link(dev.join("driver")).map(|d| name_of(&d)).unwrap_or_else(|_| "none".into());
        // The interface is under net/, or one level down (virtio: virtio0/net/).
        let ifaces: Vec<String> = std::iter::once(dev.clone())
            .chain(entries(&dev).into_iter().filter(|d| d.is_dir()))
            .flat_map(|d| entries(d.join("net")))
            .map(|p| name_of(&p))
            .collect();
        let active = ifaces.iter().any(|i| routed.contains(i));
        bound += usize::from(DPDK_DRIVERS.contains(&driver.as_str()));
        let name = pci_name(&vendor, &device).unwrap_or_default();
        lines.push(format!(
            "{} '{name}' {vendor}:{device} drv={driver}{}{}",
            name_of(&dev),
            if ifaces.is_empty() { String::new() } else { format!(" if={}", ifaces.join(",")) },
            if active { " *Active*" } else { "" }
        ));
    }
    let found = if lines.is_empty() { "no PCI network device".to_string() } else { lines.join("; ") };
    let fix = "to run on a NIC: sudo modprobe vfio-pci; sudo dpdk-devbind.py -b vfio-pci ADDR (never an *Active* one: \
               you would lose that link); then run a sample with --allow ADDR (see config/nic.toml)";
    if bound > 0 {
        ok("nics", format!("{found} ({bound} bound to a DPDK driver)"))
    } else {
        not_ok("nics", Status::Warn, format!("{found}: none bound to a DPDK driver (virtual devices work)"), fix)
    }
}

fn online_cpus() -> Vec<u32> {
    read("/sys/devices/system/cpu/online").and_then(|s| parse_lcores(&s).ok()).unwrap_or_default()
}

fn lcores(config: &Config) -> Check {
    let cpus = online_cpus();
    let spec = &config.eal.lcores;
    let Ok(lcores) = parse_lcores(spec) else {
        return not_ok("lcores", Status::Fail, format!("eal.lcores {spec:?} does not parse"), "use \"0-1\" or \"0,2\"");
    };
    let found = format!(
        "eal.lcores {spec:?}: {} lcore(s) ({} worker(s)); {} CPU(s) online",
        lcores.len(),
        lcores.len().saturating_sub(1),
        cpus.len()
    );
    if !spec.contains('@') {
        if let Some(bad) = lcores.iter().find(|l| !cpus.contains(l)) {
            return not_ok(
                "lcores",
                Status::Fail,
                format!("{found}: CPU {bad} is not online"),
                "name online CPUs, or map lcores onto them: --lcores \"0@0,1@0,2@1\"",
            );
        }
    }
    if lcores.len() > cpus.len() {
        not_ok(
            "lcores",
            Status::Warn,
            format!("{found}: more lcores than CPUs share them"),
            "use one lcore per CPU for busy polling",
        )
    } else {
        ok("lcores", found)
    }
}

fn fd_limit() -> Check {
    let soft: Option<u64> = read("/proc/self/limits")
        .and_then(|l| l.lines().find(|l| l.starts_with("Max open files"))?.split_whitespace().nth(3)?.parse().ok());
    match soft {
        Some(n) if n < 4096 => not_ok(
            "fd-limit",
            Status::Warn,
            format!(
                "{n} open files: EAL keeps a descriptor per hugepage segment, and many connections' tools need more"
            ),
            "ulimit -n 65536 (or LimitNOFILE= in the service unit)",
        ),
        Some(n) => ok("fd-limit", format!("{n} open files")),
        None => ok("fd-limit", "unlimited or unknown"),
    }
}

fn bpffs() -> Check {
    match mounts().into_iter().find(|(_, t)| t == "bpf") {
        Some((at, _)) => ok("bpffs", format!("mounted on {at}")),
        None => not_ok(
            "bpffs",
            Status::Warn,
            "not mounted: the AF_XDP PMD (net_af_xdp) needs it",
            "sudo mount -t bpf bpf /sys/fs/bpf",
        ),
    }
}

fn root() -> Check {
    let uid = read("/proc/self/status")
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:"))?.split_whitespace().nth(2).map(str::to_string));
    match uid.as_deref() {
        Some("0") => ok("root", "running as root"),
        _ => not_ok(
            "root",
            Status::Warn,
            "not root: net_tap, hugepages and vfio need root (or CAP_NET_ADMIN, CAP_IPC_LOCK, CAP_SYS_ADMIN)",
            "run with sudo",
        ),
    }
}

fn main() {
    let args = Args::parse();
    let config = config_or_exit(&args.common);
    println!(
        "zcnet-doctor: built against DPDK {}; reads /proc and /sys only (starts no EAL, probes no device)",
        zcnet::DPDK_VERSION
    );
    let checks =
        [hugepages(), hugetlbfs(), iommu(), vfio(), pmds(), nics(), lcores(&config), fd_limit(), bpffs(), root()];
    for c in &checks {
        let tag = match c.status {
            Status::Ok => " ok ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        println!("[{tag}] {}: {}", c.name, c.found);
        if let Some(fix) = &c.fix {
            println!("       fix: {fix}");
        }
    }
    let worst = checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok);
    println!(
        "zcnet-doctor: {} ok, {} warning(s), {} failure(s)",
        checks.iter().filter(|c| c.status == Status::Ok).count(),
        checks.iter().filter(|c| c.status == Status::Warn).count(),
        checks.iter().filter(|c| c.status == Status::Fail).count()
    );
    if worst == Status::Fail {
        std::process::exit(1);
    }
}
