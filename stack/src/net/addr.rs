//! Addresses: this host's, and the conversions between std's socket
//! addresses and smoltcp's endpoints (IPv4 only).

use super::stack::Inner;
use smoltcp::wire::{IpAddress, IpEndpoint};
use std::io;
use std::net::SocketAddr;

/// smoltcp's endpoint for `addr`; `Unsupported` for IPv6.
pub(crate) fn to_endpoint(addr: SocketAddr) -> io::Result<IpEndpoint> {
    match addr {
        SocketAddr::V4(a) => Ok(IpEndpoint::new(IpAddress::Ipv4(*a.ip()), a.port())),
        SocketAddr::V6(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "zcnet speaks IPv4 only")),
    }
}

impl Inner {
    /// Checks that `addr` is this host's address (or unspecified).
    pub(crate) fn check_local(&self, addr: &SocketAddr) -> io::Result<()> {
        match addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() || *a.ip() == self.ip => Ok(()),
            SocketAddr::V4(a) => Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{} is not this host's address ({})", a.ip(), self.ip),
            )),
            SocketAddr::V6(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "zcnet speaks IPv4 only")),
        }
    }
}
