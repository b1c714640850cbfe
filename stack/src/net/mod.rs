//! The network stack of one core and the async sockets built on it.
//!
//! Frames from the core's queue are classified once (`frame.rs`), then routed
//! by a connection table in front of smoltcp (`conn_table.rs`): each TCP
//! connection lives in a smoltcp socket set of its own, so per-packet work
//! does not grow with the number of connections. The stack itself is in
//! `stack.rs`; each socket type is in the file named after it.
//!
//! Everything here is per core and `!Send`: a socket holds an `Rc` to its
//! core's stack, so using it from another core does not compile.

// First: its macros are used by the trait-impl modules below.
#[cfg(any(feature = "tokio", feature = "futures-io", feature = "hyper"))]
#[macro_use]
mod io_traits;
mod addr;
mod buf;
mod buf_write;
mod checksum;
mod clock;
mod conn_table;
mod datagram;
mod device;
#[cfg(any(feature = "tokio", feature = "futures-io"))]
mod fill_buf;
mod frame;
#[cfg(feature = "futures-io")]
mod futures_io;
mod held_mbufs;
#[cfg(feature = "hyper")]
mod hyper_io;
mod listener;
mod neighbors;
mod ports;
mod raw;
mod rfc5961;
mod segment;
mod stack;
#[cfg(feature = "tokio")]
mod staged_writer;
mod stats;
mod steering;
mod stream;
mod tcp_socket;
mod time_wait;
#[cfg(feature = "tokio")]
mod tokio_io;
mod udp;
mod wakers;

pub use buf::{BufResult, IoBuf, IoBufMut};
pub use buf_write::AsyncBufWrite;
pub use datagram::{Datagram, DatagramStats, HEADERS_LEN};
pub use device::DeviceStats;
pub use listener::TcpListener;
pub use raw::RawSocket;
#[cfg(feature = "tokio")]
pub use staged_writer::StagedWriter;
pub(crate) use stats::SocketStates;
pub use stats::{stats, NetStats, SteeringStats, TcpStats};
pub use steering::RssRule;
pub use stream::{TcpReadHalf, TcpStream, TcpWriteHalf};
pub use tcp_socket::TcpSocket;
pub use udp::UdpSocket;

pub(crate) use addr::to_endpoint;
pub(crate) use device::DpdkDevice;
pub(crate) use stack::{core_address, err, NetCore};
pub(crate) use steering::Steering;
