//! [`StagedWriter`]: [`AsyncBufWrite`] for any `tokio::io::AsyncWrite`,
//! through a staging buffer (the `tokio` feature).

use super::buf_write::AsyncBufWrite;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use tokio::io::AsyncWrite;

/// [`AsyncBufWrite`] for any `tokio::io::AsyncWrite` (the `tokio`
/// feature): `write_with` lends space in a staging buffer of fixed
/// capacity, allocated once; the buffered bytes are written to the inner
/// writer when the next `write_with` does not fit, and at `flush`. On a
/// kernel socket that write is the one copy (staging buffer to the
/// kernel); on a zcnet stream use the stream itself, which lends its
/// send ring. Bytes still buffered when the writer is dropped are lost,
/// as with tokio's `BufWriter`: flush first.
///
/// # Examples
///
/// A serialiser written once, run on a kernel socket:
///
/// ```
/// use std::io;
/// use tokio::io::AsyncReadExt;
/// use zcnet_stack::net::{AsyncBufWrite, StagedWriter};
///
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
///
/// # fn main() -> io::Result<()> {
/// let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
/// rt.block_on(async {
///     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
///     let client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
///     let (mut server, _) = listener.accept().await?;
///
///     let mut writer = StagedWriter::new(client);
///     write_frame(&mut writer, b"hello").await?;
///
///     let mut frame = [0u8; 7];
///     server.read_exact(&mut frame).await?;
///     assert_eq!(&frame, b"\0\x05hello");
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug)]
pub struct StagedWriter<W> {
    inner: W,
    buf: Box<[u8]>,
    /// Bytes of `buf` produced and not yet written out.
    filled: usize,
}

impl<W: AsyncWrite + Unpin> StagedWriter<W> {
    /// A writer with a 16 KiB staging buffer.
    pub fn new(inner: W) -> StagedWriter<W> {
        StagedWriter::with_capacity(16 * 1024, inner)
    }

    /// A writer whose staging buffer holds `capacity` bytes, the most a
    /// `write_with` can ask for.
    pub fn with_capacity(capacity: usize, inner: W) -> StagedWriter<W> {
        StagedWriter { inner, buf: vec![0; capacity].into_boxed_slice(), filled: 0 }
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer (writing to it directly skips buffered bytes).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The inner writer; buffered bytes are dropped (flush first).
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Bytes produced and not yet written to the inner writer.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    /// Writes the buffered bytes to the inner writer (the one copy).
    async fn write_out(&mut self) -> io::Result<()> {
        let mut done = 0;
        while done < self.filled {
            let chunk = &self.buf[done..self.filled];
            match poll_fn(|cx| Pin::new(&mut self.inner).poll_write(cx, chunk)).await {
                Ok(0) => {
                    self.filled = 0;
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "the inner writer took no bytes"));
                }
                Ok(n) => done += n,
                Err(e) => {
                    self.filled = 0;
                    return Err(e);
                }
            }
        }
        self.filled = 0;
        Ok(())
    }
}

impl<W: AsyncWrite + Unpin> AsyncBufWrite for StagedWriter<W> {
    async fn write_with<R, F>(&mut self, min: usize, f: F) -> io::Result<R>
    where
        F: FnOnce(&mut [u8]) -> (usize, R),
    {
        if min > self.buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write_with asks for more space than the StagedWriter's buffer has",
            ));
        }
        if self.buf.len() - self.filled < min.max(1) {
            self.write_out().await?;
        }
        let space = &mut self.buf[self.filled..];
        let (n, r) = f(space);
        self.filled += n.min(space.len());
        Ok(r)
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.filled > 0 {
            self.write_out().await?;
        }
        poll_fn(|cx| Pin::new(&mut self.inner).poll_flush(cx)).await
    }
}
