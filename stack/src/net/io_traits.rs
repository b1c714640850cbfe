//! The macros that implement the ecosystem's I/O traits on the streams
//! (`tokio_io`, `futures_io`, `hyper_io`): the traits differ in names and
//! buffer types, not in what they do, so each method is written once here
//! as a call of the stream's `pub(crate)` poll functions.

/// `AsyncBufRead` (tokio's and futures-io's have the same shape) for the
/// reading handles: `poll_fill_buf` lends the handle's copy of the ring's
/// head (see `fill_buf`), `consume` takes bytes from the ring.
#[cfg(any(feature = "tokio", feature = "futures-io"))]
macro_rules! impl_buf_read {
    ($trait:path: $($t:ty),+) => {$(
        impl $trait for $t {
            fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
                let (io, fill) = self.get_mut().read_parts();
                fill.poll_fill(io, cx)
            }

            fn consume(self: Pin<&mut Self>, amt: usize) {
                let (io, fill) = self.get_mut().read_parts();
                fill.consume(io, amt)
            }
        }
    )+};
}

/// A write trait for the writing handles: `poll_write` and
/// `poll_write_vectored` copy once into the send ring, `poll_flush` is
/// ready at once (the ring is the socket's buffer), and the close method
/// (`$close`: `poll_shutdown` or `poll_close`) queues the FIN. The
/// `vectored` form also says `is_write_vectored` (tokio's and hyper's
/// traits have it), so callers hand over their slices unjoined.
macro_rules! impl_write {
    ($trait:path, $close:ident, vectored: $($t:ty),+) => {$(
        impl_write!(@one $trait, $close, $t, {
            fn is_write_vectored(&self) -> bool {
                true
            }
        });
    )+};
    ($trait:path, $close:ident: $($t:ty),+) => {$(
        impl_write!(@one $trait, $close, $t, {});
    )+};
    (@one $trait:path, $close:ident, $t:ty, { $($extra:tt)* }) => {
        impl $trait for $t {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                self.io().poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.io().poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn $close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.io().shutdown())
            }

            $($extra)*
        }
    };
}
