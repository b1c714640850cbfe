//! # zcnet
//!
//! A DPDK-backed userspace TCP/IP stack whose sockets give async Rust
//! zero-copy I/O. This crate is the facade: it re-exports `zcnet-stack`.
//! See the README for the design and a quick start.

pub use zcnet_stack::*;

/// The DPDK version zcnet was built against (from pkg-config).
pub const DPDK_VERSION: &str = env!("ZCNET_DPDK_VERSION");
