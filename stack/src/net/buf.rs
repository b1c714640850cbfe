//! Buffers that socket operations own while they run.
//!
//! An owned-buffer operation takes its buffer by value and gives it back
//! with the result ([`BufResult`]), the convention of tokio-uring, monoio and
//! compio. Because the operation owns the buffer, dropping (cancelling) the
//! future can never leave the stack writing into freed memory.
//!
//! zcnet defines its own two small traits rather than adopting
//! `compio-buf`'s or `tokio-uring`'s: those describe raw, possibly
//! uninitialised memory for a kernel to fill (`stable_mut_ptr`,
//! `set_init`), which forces `unsafe` on every implementor. zcnet copies out
//! of its socket rings inside a single synchronous step, so a safe
//! "here are bytes, append them" contract is enough — and any type can
//! implement it without `unsafe`. Adapting either crate's buffers to these
//! traits is a few lines.

/// The result of an owned-buffer operation: the outcome and the buffer.
pub type BufResult<T, B> = (std::io::Result<T>, B);

/// A buffer whose bytes can be written to a socket.
pub trait IoBuf: 'static {
    /// The bytes to send.
    fn as_bytes(&self) -> &[u8];
}

/// A buffer that received bytes can be appended to.
///
/// Reads append after the buffer's current contents, up to its spare
/// capacity: read into `Vec::with_capacity(4096)` and its `len()` grows.
pub trait IoBufMut: 'static {
    /// How many more bytes fit.
    fn remaining_mut(&self) -> usize;
    /// Appends `src` (never longer than [`IoBufMut::remaining_mut`]).
    fn put_slice(&mut self, src: &[u8]);
}

impl IoBuf for Vec<u8> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

impl IoBuf for Box<[u8]> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

impl IoBuf for String {
    fn as_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl IoBuf for &'static [u8] {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

impl IoBuf for &'static str {
    fn as_bytes(&self) -> &[u8] {
        str::as_bytes(self)
    }
}

#[cfg(feature = "bytes")]
impl IoBuf for bytes::Bytes {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

#[cfg(feature = "bytes")]
impl IoBuf for bytes::BytesMut {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

impl IoBufMut for Vec<u8> {
    fn remaining_mut(&self) -> usize {
        self.capacity() - self.len()
    }
    fn put_slice(&mut self, src: &[u8]) {
        debug_assert!(src.len() <= self.remaining_mut());
        self.extend_from_slice(src);
    }
}

#[cfg(feature = "bytes")]
impl IoBufMut for bytes::BytesMut {
    fn remaining_mut(&self) -> usize {
        self.capacity() - self.len()
    }
    fn put_slice(&mut self, src: &[u8]) {
        debug_assert!(src.len() <= IoBufMut::remaining_mut(self));
        self.extend_from_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_appends_up_to_capacity() {
        let mut v = Vec::with_capacity(8);
        v.push(1u8);
        assert!(v.remaining_mut() >= 7);
        v.put_slice(&[2, 3]);
        assert_eq!(v, [1, 2, 3]);
    }

    #[cfg(feature = "bytes")]
    #[test]
    fn bytes_types_expose_their_contents() {
        let b = bytes::Bytes::from_static(b"abc");
        assert_eq!(IoBuf::as_bytes(&b), b"abc");
        let mut m = bytes::BytesMut::with_capacity(4);
        m.put_slice(b"xy");
        assert_eq!(IoBuf::as_bytes(&m), b"xy");
    }
}
