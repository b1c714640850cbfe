//! zcnet's library: DPDK's data plane made safe, and (on top of it) a
//! per-core async runtime with zero-copy TCP/UDP sockets.
//!
//! The pieces, bottom up:
//! - [`Eal`] initialises DPDK once per process and launches work on lcores;
//! - [`Mempool`] holds a core's packet buffers, [`Packet`] owns one of them;
//! - [`Port`] is a configured NIC or virtual device, with per-core
//!   [`RxQueue`]/[`TxQueue`] moving [`PacketBatch`]es;
//! - [`config::Config`] and [`cli::CommonArgs`] are the one source of
//!   configuration every program shares;
//! - [`run`] starts a per-core [`runtime`] (executor, timers, a smoltcp
//!   interface) on every worker lcore, and [`net`] has the async TCP and UDP
//!   sockets that run on it.
#![warn(missing_docs)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
mod eal;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod mempool;
pub mod net;
mod packet;
mod port;
pub mod runtime;
pub mod signal;

pub use eal::{free_hugepages, Eal, Launched, Lcore, WorkerPanic};
pub use error::{Error, PacketError, Result};
pub use mempool::Mempool;
pub use packet::{ChecksumStatus, Packet, PacketBatch, Segments, MAX_BURST};
pub use port::{port_id_by_name, LinkStatus, Offloads, Port, PortStats, RxQueue, TxQueue};
pub use runtime::{run, Core, RunReport};
