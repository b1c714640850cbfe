//! hyper 1.x's I/O traits for [`TcpStream`] and its halves (the `hyper`
//! feature), so `hyper::server::conn::http1` and `hyper::client::conn`
//! run on zcnet's streams with no adapter: `hyper::rt::Read` copies
//! received bytes once, from the receive ring into hyper's read buffer
//! (`ReadBufCursor::put_slice`), and `hyper::rt::Write` copies once into
//! the send ring, vectored (hyper then writes its headers and a body
//! without joining them first). Flush and shutdown as in `tokio_io`.
//! hyper's timer and executor on zcnet's runtime are
//! [`HyperTimer`](crate::runtime::HyperTimer) and
//! [`HyperExecutor`](crate::runtime::HyperExecutor).

use super::stream::{Shared, TcpReadHalf, TcpStream, TcpWriteHalf};
use hyper::rt::{Read, ReadBufCursor, Write};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

impl Read for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        poll_read(self.io(), cx, buf)
    }
}

impl Read for TcpReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        poll_read(self.io(), cx, buf)
    }
}

/// Copies received bytes once, into hyper's read buffer.
fn poll_read(io: &Shared, cx: &mut Context<'_>, mut buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
    if buf.remaining() == 0 {
        return Poll::Ready(Ok(()));
    }
    io.poll_read_into(cx, buf.remaining(), |data| buf.put_slice(data)).map_ok(|_| ())
}

impl_write!(Write, poll_shutdown, vectored: TcpStream, TcpWriteHalf);
