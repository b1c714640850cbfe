//! [`AsyncBufWrite`]: the write-side counterpart of `AsyncBufRead` — the
//! writer lends its own buffer space, and a serialiser writes straight into
//! it. zcnet's streams lend their send ring (no copy: this is
//! `write_with`); `StagedWriter` gives any `tokio::io::AsyncWrite` the
//! same trait through a staging buffer, so one serialiser runs zero-copy on
//! zcnet and with one copy (staging buffer to the kernel) on a kernel
//! socket.

use super::stream::{TcpStream, TcpWriteHalf};
use std::future::Future;
use std::io;

/// A writer that lends its buffer space: [`write_with`](Self::write_with)
/// hands a closure at least `min` writable bytes; the closure fills a
/// prefix and says how long it is.
///
/// Where the bytes go depends on the writer: a zcnet stream lends its send
/// ring, so the bytes are queued for sending the moment the closure
/// returns (no copy; [`flush`](Self::flush) has nothing to do). A
/// `StagedWriter` lends a staging buffer, which it writes out when the
/// next `write_with` does not fit, and at `flush`. A serialiser written
/// against this trait calls `flush` once its message is complete.
///
/// # Examples
///
/// One serialiser, here a length-prefixed frame:
///
/// ```
/// use std::io;
/// use zcnet_stack::net::AsyncBufWrite;
///
/// /// Writes `payload` as a 2-byte big-endian length and the bytes.
/// async fn write_frame<W: AsyncBufWrite>(w: &mut W, payload: &[u8]) -> io::Result<()> {
///     let len = 2 + payload.len();
///     w.write_with(len, |space| {
///         space[..2].copy_from_slice(&(payload.len() as u16).to_be_bytes());
///         space[2..len].copy_from_slice(payload);
///         (len, ())
///     })
///     .await?;
///     w.flush().await
/// }
/// ```
///
/// On a zcnet stream it serialises into the send ring:
///
/// ```no_run
/// # use std::io;
/// # use zcnet_stack::net::AsyncBufWrite;
/// # async fn write_frame<W: AsyncBufWrite>(w: &mut W, payload: &[u8]) -> io::Result<()> { Ok(()) }
/// use zcnet_stack::net::TcpStream;
///
/// async fn greet() -> io::Result<()> {
///     let mut stream = TcpStream::connect("198.18.0.1:7".parse().unwrap()).await?;
///     write_frame(&mut stream, b"hello").await // no copy: straight into the ring
/// }
/// ```
///
/// and on a kernel socket (the `tokio` feature) through a `StagedWriter`;
/// see its example.
pub trait AsyncBufWrite {
    /// Lends `f` at least `min` bytes of writable space (waiting for room);
    /// `f` returns how many bytes it produced, from the start, and a value.
    /// Fails with `InvalidInput` if `min` exceeds what the writer can ever
    /// lend (a zcnet stream's send ring, a `StagedWriter`'s capacity).
    ///
    /// Cancel safety: `f` runs in the poll that completes the future, so
    /// dropping the future before then writes nothing.
    fn write_with<R, F>(&mut self, min: usize, f: F) -> impl Future<Output = io::Result<R>>
    where
        F: FnOnce(&mut [u8]) -> (usize, R);

    /// Pushes what `write_with` produced on towards the peer (tokio's
    /// meaning of flush: for a zcnet stream, nothing to do).
    fn flush(&mut self) -> impl Future<Output = io::Result<()>>;
}

impl AsyncBufWrite for TcpStream {
    fn write_with<R, F>(&mut self, min: usize, f: F) -> impl Future<Output = io::Result<R>>
    where
        F: FnOnce(&mut [u8]) -> (usize, R),
    {
        TcpStream::write_with(self, min, f)
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        TcpStream::flush(self)
    }
}

impl AsyncBufWrite for TcpWriteHalf {
    fn write_with<R, F>(&mut self, min: usize, f: F) -> impl Future<Output = io::Result<R>>
    where
        F: FnOnce(&mut [u8]) -> (usize, R),
    {
        TcpWriteHalf::write_with(self, min, f)
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        TcpWriteHalf::flush(self)
    }
}
