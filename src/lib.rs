//! # zcnet
//!
//! The facade crate: it re-exports `zcnet-stack`. What follows is the README.
#![doc = include_str!("../README.md")]

pub use zcnet_stack::*;

/// The DPDK version zcnet was built against (from pkg-config).
pub const DPDK_VERSION: &str = env!("ZCNET_DPDK_VERSION");
