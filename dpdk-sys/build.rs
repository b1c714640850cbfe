//! Finds the system DPDK with pkg-config, generates bindings with bindgen
//! and compiles the C shim for DPDK's `static inline` hot-path functions.
//!
//! DPDK is linked as shared libraries so that EAL loads the distribution's
//! PMD plugins (net_tap, net_null, net_ring, net_memif, PCI drivers) from its
//! driver directory by itself. Nothing here names a version-specific path.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const MIN_VERSION: &str = "22.11";
/// The DPDK libraries zcnet calls into. PMDs are not linked: EAL loads them
/// as plugins, and linking one as well would register its driver twice.
/// rte_pdump serves `dpdk-dumpcap` and `dpdk-pdump`; rte_telemetry carries
/// zcnet's `/zcnet/...` telemetry commands.
const LIBS: &[&str] = &[
    "rte_eal",
    "rte_mempool",
    "rte_mbuf",
    "rte_ethdev",
    "rte_ring",
    "rte_kvargs",
    "rte_net",
    "rte_bus_vdev",
    "rte_pdump",
    "rte_telemetry",
];

fn fail(what: &str) -> ! {
    eprintln!();
    eprintln!("error: dpdk-sys cannot build: {what}");
    eprintln!("       On Debian 12 / Ubuntu 22.04+, run `sudo scripts/setup.sh` from the zcnet checkout;");
    eprintln!("       it installs DPDK (libdpdk-dev), pkg-config, clang and libclang-dev.");
    eprintln!();
    std::process::exit(1);
}

fn pkg_config(args: &[&str]) -> Result<String, String> {
    let out =
        Command::new("pkg-config").args(args).output().map_err(|e| format!("pkg-config is not installed ({e})"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let version = match pkg_config(&["--modversion", "libdpdk"]) {
        Ok(v) => v,
        Err(e) => fail(&format!("DPDK was not found by pkg-config: {e}")),
    };
    if pkg_config(&["--atleast-version", MIN_VERSION, "libdpdk"]).is_err() {
        fail(&format!("DPDK {version} is too old; zcnet needs libdpdk >= {MIN_VERSION}"));
    }
    let cflags: Vec<String> = match pkg_config(&["--cflags", "libdpdk"]) {
        Ok(f) => f.split_whitespace().map(str::to_string).collect(),
        Err(e) => fail(&format!("pkg-config --cflags libdpdk failed: {e}")),
    };
    let libdir = match pkg_config(&["--variable=libdir", "libdpdk"]) {
        Ok(d) => d,
        Err(e) => fail(&format!("pkg-config --variable=libdir libdpdk failed: {e}")),
    };
    println!("cargo:version={version}");
    println!("cargo:rustc-link-search=native={libdir}");
    for lib in LIBS {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    // The in-memory wire needs rte_eth_from_rings from the net_ring PMD.
    // Linking it is only safe where the library in libdir *is* the plugin
    // EAL loads (Debian and Ubuntu symlink one to the other): the same file
    // is loaded once. Elsewhere the wire is left out (`zcnet_no_ring_wire`).
    println!("cargo:rustc-check-cfg=cfg(zcnet_no_ring_wire)");
    let ring = std::path::Path::new(&libdir).join("librte_net_ring.so");
    match std::fs::canonicalize(&ring) {
        Ok(real) if real.to_string_lossy().contains("/pmds-") => {
            println!("cargo:rustc-link-lib=dylib=rte_net_ring");
        }
        _ => {
            println!("cargo:rustc-cfg=zcnet_no_ring_wire");
            println!("cargo:no_ring_wire=1");
        }
    }

    // The C shim, compiled with DPDK's own flags (they include -march and
    // `-include rte_config.h`, which the inline functions need).
    let mut shim = cc::Build::new();
    shim.file("shim.c").opt_level(3).warnings(true);
    // `-include X` is two words; pass the pairs through unchanged.
    for flag in &cflags {
        shim.flag(flag);
    }
    shim.compile("zcnet_shim");

    // bindgen loads libclang at run time and panics if it cannot; turn that
    // into the same one-line message as the other missing dependencies.
    let builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(cflags.iter())
        .allowlist_function("rte_.*")
        .allowlist_function("zc_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("RING_F_.*")
        .blocklist_function("rte_.*_inline.*")
        // Packed protocol headers that Rust cannot express; zcnet parses with smoltcp.
        .opaque_type("rte_l2tpv2_.*")
        .opaque_type("rte_gtp_.*")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    let bindings = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || builder.generate())) {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => fail(&format!("bindgen could not parse the DPDK headers: {e}")),
        Err(_) => fail("libclang was not found (bindgen needs it: package libclang-dev)"),
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
    bindings.write_to_file(out).expect("write bindings.rs to OUT_DIR");
}
