//! [`FillBuf`]: the bytes `AsyncBufRead::poll_fill_buf` lends, a copy of the
//! head of the stream's receive ring, kept by the reading handle.
//!
//! # One copy, and why not zero
//!
//! `poll_fill_buf` returns a slice that lives as long as the caller's
//! `&mut` borrow of the stream, which may span `.await`s: the task can
//! yield while it holds the slice, and the core then runs ingress. Lending
//! smoltcp's ring itself would be sound as far as the *bytes* go: smoltcp
//! 0.14's `RingBuffer` writes received data only into its unallocated part
//! (`write_unallocated` through `get_unallocated`), never into the
//! allocated bytes a reader was shown; a RST only resets its indices
//! (`tcp::Socket::reset` calls `RingBuffer::clear`); the connection's slot
//! is not released or reused while a stream owns it (`Role::Open`); and the
//! write half never touches the receive ring. But every payload segment
//! smoltcp accepts reaches those bytes through a `&mut [u8]` of the *whole*
//! ring (`&mut self.storage[a..b]` derefs the `ManagedSlice` mutably
//! first). Under Stacked Borrows, the model Miri checks by default, that
//! reborrow invalidates every shared reference into the ring, so a lent
//! slice read after the next segment is undefined behaviour; only Tree
//! Borrows (which treats such a reborrow as a read until it writes) would
//! accept it. Holding segments back while a slice is out would make it
//! sound, but a task that keeps the slice while it waits on its write half
//! would then stall its own ACKs. So zcnet copies, once: the slice is this
//! buffer, and the bytes stay in the ring (the window does not open) until
//! `consume` takes them. The zero-copy read is `read_with`, whose closure
//! cannot outlive the stack's borrow.
//!
//! Each byte is copied once: the received bytes are copied in when the
//! buffer is empty, and served from it until `consume` has used them all.
//! If another read took bytes from the stream in the meantime, the copy is
//! stale (the stream counts the bytes taken from the ring) and is made
//! again; a `consume` of a stale copy does nothing, so nothing is lost or
//! read twice.

use super::stream::Shared;
use std::io;
use std::task::{Context, Poll};

/// A reading handle's copy of the receive ring's head (empty until the
/// first `poll_fill_buf`; at most the ring's size).
#[derive(Debug, Default)]
pub(crate) struct FillBuf {
    bytes: Vec<u8>,
    /// The first byte `consume` has not used.
    pos: usize,
    /// `Shared::taken` when `bytes[pos]` was the ring's first byte.
    taken_at: u64,
}

impl FillBuf {
    /// `AsyncBufRead::poll_fill_buf`: the unconsumed bytes of the copy, or a
    /// new copy of what the ring holds (waiting for data). Empty: end of
    /// stream.
    pub(crate) fn poll_fill<'a>(&'a mut self, io: &Shared, cx: &mut Context<'_>) -> Poll<io::Result<&'a [u8]>> {
        if self.pos < self.bytes.len() && io.taken() == self.taken_at {
            return Poll::Ready(Ok(&self.bytes[self.pos..]));
        }
        self.pos = 0;
        match io.poll_peek(cx, &mut self.bytes) {
            Poll::Ready(Ok(taken)) => {
                self.taken_at = taken;
                Poll::Ready(Ok(&self.bytes[..]))
            }
            Poll::Ready(Err(e)) => {
                self.bytes.clear();
                Poll::Ready(Err(e))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// `AsyncBufRead::consume`: takes `amt` of the lent bytes from the ring
    /// (at most what the last `poll_fill` returned; nothing if the copy is
    /// stale).
    pub(crate) fn consume(&mut self, io: &Shared, amt: usize) {
        let amt = amt.min(self.bytes.len() - self.pos);
        if amt == 0 || io.taken() != self.taken_at {
            return;
        }
        // An error (the stack is busy: a call from inside a lent-buffer
        // closure) took nothing; the next poll_fill shows the same bytes.
        if let Ok(n) = io.discard_received(amt) {
            self.pos += n;
            self.taken_at += n as u64;
        }
    }
}
