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
//! - [`runtime`] is the per-core executor with its timers, and [`net`] the
//!   per-core network stack with its async TCP and UDP sockets;
//! - [`run`] brings it all up: EAL, a pool and a queue pair per worker
//!   lcore, and on each a stack and an executor running the service.
#![warn(missing_docs)]
// Every unsafe block (and every unsafe operation inside an unsafe fn) says
// why it is sound: see docs/ARCHITECTURE.md, "Safety invariants".
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
mod eal;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod log_level;
mod mempool;
pub mod net;
mod os_random;
mod packet;
mod port;
mod prefetch;
mod run;
pub mod runtime;
mod runtime_files;
pub mod signal;
mod telemetry;
pub mod toeplitz;
mod wire;

pub use eal::{free_hugepages, Eal, Launched, Lcore, WorkerPanic};
pub use error::{Error, PacketError, Result};
pub use log_level::LogLevel;
pub use mempool::Mempool;
pub use packet::{ChecksumStatus, Packet, PacketBatch, Segments, MAX_BURST};
pub use port::{port_id_by_name, LinkStatus, Offloads, Port, PortStats, RxQueue, TxQueue};
pub use run::{run, Core, RunReport};
