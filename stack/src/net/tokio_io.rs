//! tokio's I/O traits for [`TcpStream`] and its halves (the `tokio`
//! feature): code written against `tokio::io::{AsyncRead, AsyncWrite,
//! AsyncBufRead}` and their `Ext` traits — tokio-util's codecs, hyper-util's
//! `TokioIo`, tokio-rustls — runs on zcnet's streams, on zcnet's executor.
//!
//! The copies are the owned-buffer API's: `poll_read` copies received bytes
//! once, from the receive ring into the caller's `ReadBuf` (`put_slice`:
//! no zeroing of its unfilled part); `poll_write` copies once, from the
//! caller's slice into the send ring, and `poll_write_vectored` the same
//! for each slice. `poll_fill_buf` lends a copy of the ring's head, made
//! once (see `fill_buf` for why it is not the ring itself); `consume` takes
//! the bytes from the ring without copying.
//!
//! `poll_flush` has tokio's meaning for a socket: nothing to wait for, the
//! send ring is the socket's buffer, sent without further calls (zcnet's
//! "the peer has acknowledged everything" is `wait_acked`).
//! `poll_shutdown` queues the FIN after the data and is ready at once.

use super::stream::{Shared, TcpReadHalf, TcpStream, TcpWriteHalf};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        poll_read(self.io(), cx, buf)
    }
}

impl AsyncRead for TcpReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        poll_read(self.io(), cx, buf)
    }
}

/// Copies received bytes once, into `buf`'s unfilled part (no zeroing).
fn poll_read(io: &Shared, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    if buf.remaining() == 0 {
        return Poll::Ready(Ok(()));
    }
    io.poll_read_into(cx, buf.remaining(), |data| buf.put_slice(data)).map_ok(|_| ())
}

impl_buf_read!(AsyncBufRead: TcpStream, TcpReadHalf);
impl_write!(AsyncWrite, poll_shutdown, vectored: TcpStream, TcpWriteHalf);
