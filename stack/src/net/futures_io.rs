//! futures-io's I/O traits for [`TcpStream`] and its halves (the
//! `futures-io` feature): `futures_io::{AsyncRead, AsyncWrite,
//! AsyncBufRead}`, for code written against the `futures` crate's `Ext`
//! traits (async-std-style libraries, `futures::io::copy`, ...).
//!
//! The copies are those of `tokio_io`: one per byte on each side (ring to
//! the caller's slice, the caller's slice to the ring), and
//! `poll_fill_buf` lends a copy of the ring's head made once. `poll_flush`
//! is ready at once (the send ring is the socket's buffer); `poll_close`
//! queues the FIN after the data.

use super::stream::{Shared, TcpReadHalf, TcpStream, TcpWriteHalf};
use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        poll_read(self.io(), cx, buf)
    }
}

impl AsyncRead for TcpReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        poll_read(self.io(), cx, buf)
    }
}

/// Copies received bytes once, into the front of `buf`.
fn poll_read(io: &Shared, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    let mut at = 0;
    io.poll_read_into(cx, buf.len(), |data| {
        buf[at..at + data.len()].copy_from_slice(data);
        at += data.len();
    })
}

impl_buf_read!(AsyncBufRead: TcpStream, TcpReadHalf);
impl_write!(AsyncWrite, poll_close: TcpStream, TcpWriteHalf);
