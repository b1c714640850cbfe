//! # zcnet
//!
//! The facade crate: a curated view of `zcnet-stack`. Everything a service
//! needs is here by name — [`run`], the sockets in [`net`], the per-core
//! [`runtime`], the [`config`] — and the data-plane types ([`Packet`],
//! [`Mempool`], [`Port`], ...) for programs that move packets themselves.
//! What follows is the README.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

// The per-core stack: start it, and what it reports.
pub use zcnet_stack::{run, Core, RunReport};

// Errors of the data plane (sockets return `std::io::Error`).
pub use zcnet_stack::{Error, PacketError};

// One level for zcnet's `log` messages and EAL's (`--log-level`).
pub use zcnet_stack::LogLevel;

// The data plane: EAL, pools, packets, ports and their queues.
pub use zcnet_stack::{free_hugepages, Eal, Launched, Lcore, WorkerPanic};
pub use zcnet_stack::{port_id_by_name, LinkStatus, Offloads, Port, PortStats, RxQueue, TxQueue};
pub use zcnet_stack::{ChecksumStatus, Mempool, Packet, PacketBatch, Segments, MAX_BURST};

/// The command-line flags every zcnet program shares (the `cli` feature).
#[cfg(feature = "cli")]
pub use zcnet_stack::cli;
pub use zcnet_stack::{config, net, runtime, signal};

/// The DPDK version zcnet was built against (from pkg-config).
pub const DPDK_VERSION: &str = env!("ZCNET_DPDK_VERSION");
