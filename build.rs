//! Build script of the `zcnet` facade. The DPDK discovery, bindings and C
//! shim belong to `dpdk-sys`; the only thing the facade needs is to report
//! the DPDK version it was built against (`zcnet::DPDK_VERSION`), which
//! `dpdk-sys` passes on through its `links` metadata.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("DEP_DPDK_VERSION").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=ZCNET_DPDK_VERSION={version}");
}
