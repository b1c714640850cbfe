//! zcnet's streams under the ecosystem's I/O traits, on an in-memory wire
//! in one process (see `wire`): tokio-util's `LinesCodec` round-trips,
//! `AsyncBufReadExt::read_line` and `AsyncWriteExt::write_all` work,
//! futures-io's `copy_buf` echoes, `AsyncBufWrite` serialises in place,
//! and the copy counts are what the docs say: one copy per byte through
//! `AsyncRead`, `AsyncBufRead` and `AsyncWrite`, none through `read_with`.
//! Run under cargo-nextest (one EAL per process).

mod wire;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec};
use wire::{connect_retrying, on_wire, ANY};
use zcnet::net::{stats, AsyncBufWrite, TcpListener, TcpStream};
use zcnet::runtime::spawn;

/// Byte `i` of the test streams: not periodic in any ring size.
fn pattern(i: usize) -> u8 {
    (i * 7 + i / 251) as u8
}

/// Line `i` of the line tests: a few to a few thousand bytes, so lines
/// straddle the 16 KiB receive ring's end many times.
fn line(i: usize) -> String {
    let pad = (i * 37) % 3000;
    format!("line {i} {}", "x".repeat(pad))
}

async fn accept_one() -> Result<TcpStream, String> {
    let listener = TcpListener::bind(ANY).map_err(|e| format!("bind: {e}"))?;
    listener.accept().await.map(|(s, _)| s).map_err(|e| format!("accept: {e}"))
}

/// Asserts a result pair from `on_wire`: both ends finished and said Ok.
fn assert_both_ok(server: Option<Result<(), String>>, client: Option<Result<(), String>>, pools_full: bool) {
    assert_eq!(server, Some(Ok(())), "server");
    assert_eq!(client, Some(Ok(())), "client");
    assert!(pools_full, "mbufs leaked");
}

#[test]
fn lines_codec_round_trips_over_a_zcnet_stream() {
    const LINES: usize = 400;
    let (server, client, pools_full) = on_wire(
        || async {
            // Echoes every line upper-cased, through tokio-util's codec.
            let mut framed = Framed::new(accept_one().await?, LinesCodec::new());
            while let Some(line) = framed.next().await {
                let line = line.map_err(|e| format!("server decode: {e}"))?;
                framed.send(line.to_uppercase()).await.map_err(|e| format!("server encode: {e}"))?;
            }
            Ok(())
        },
        || async {
            let stream = connect_retrying().await.map_err(|e| e.to_string())?;
            let mut framed = Framed::new(stream, LinesCodec::new());
            for i in 0..LINES {
                framed.send(line(i)).await.map_err(|e| format!("send {i}: {e}"))?;
                let back = framed.next().await.ok_or(format!("eof at line {i}"))?.map_err(|e| e.to_string())?;
                if back != line(i).to_uppercase() {
                    return Err(format!("line {i}: got {} bytes, wanted {}", back.len(), line(i).len()));
                }
            }
            Ok(())
        },
    );
    assert_both_ok(server, client, pools_full);
}

#[test]
fn read_line_and_write_all_work_through_tokio_ext_traits() {
    const LINES: usize = 300;
    let (server, client, pools_full) = on_wire(
        || async {
            let mut stream = accept_one().await?;
            let mut got = String::new();
            for i in 0..LINES {
                got.clear();
                let n = AsyncBufReadExt::read_line(&mut stream, &mut got).await.map_err(|e| e.to_string())?;
                if n == 0 || got != format!("{}\n", line(i)) {
                    return Err(format!("line {i}: read {n} bytes: {:?}", &got[..got.len().min(40)]));
                }
            }
            got.clear();
            match AsyncBufReadExt::read_line(&mut stream, &mut got).await {
                Ok(0) => Ok(()),
                other => Err(format!("after the last line: {other:?}, {got:?}")),
            }
        },
        || async {
            let mut stream = connect_retrying().await.map_err(|e| e.to_string())?;
            for i in 0..LINES {
                let text = format!("{}\n", line(i));
                AsyncWriteExt::write_all(&mut stream, text.as_bytes()).await.map_err(|e| format!("write {i}: {e}"))?;
            }
            AsyncWriteExt::shutdown(&mut stream).await.map_err(|e| e.to_string())?;
            stream.wait_acked().await.map_err(|e| e.to_string())
        },
    );
    assert_both_ok(server, client, pools_full);
}

#[test]
fn futures_io_copy_buf_echoes_a_stream_through_the_halves() {
    const LEN: usize = 300 * 1024;
    let (server, client, pools_full) = on_wire(
        || async {
            let (read, mut write) = accept_one().await?.into_split();
            let copied = futures::io::copy_buf(read, &mut write).await.map_err(|e| e.to_string())?;
            futures::io::AsyncWriteExt::close(&mut write).await.map_err(|e| e.to_string())?;
            if copied as usize == LEN {
                Ok(())
            } else {
                Err(format!("copied {copied} bytes"))
            }
        },
        || async {
            let (mut read, mut write) = connect_retrying().await.map_err(|e| e.to_string())?.into_split();
            let data: Vec<u8> = (0..LEN).map(pattern).collect();
            let writer = spawn(async move {
                futures::io::AsyncWriteExt::write_all(&mut write, &data).await?;
                futures::io::AsyncWriteExt::close(&mut write).await
            });
            let mut back = Vec::new();
            futures::io::AsyncReadExt::read_to_end(&mut read, &mut back).await.map_err(|e| e.to_string())?;
            writer.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
            let bad = back.iter().enumerate().position(|(i, &b)| b != pattern(i));
            if back.len() != LEN || bad.is_some() {
                return Err(format!("echo of {} bytes, first wrong byte at {bad:?}", back.len()));
            }
            Ok(())
        },
    );
    assert_both_ok(server, client, pools_full);
}

#[test]
fn trait_io_copies_each_byte_once_and_read_with_copies_none() {
    const LEN: usize = 1 << 20;
    const PART: usize = 256 * 1024;
    let (server, client, pools_full) = on_wire(
        || async {
            let mut stream = accept_one().await?;
            let copied = || stats().map(|s| s.copied_to_app).map_err(|e| e.to_string());
            let mut at = 0;
            let check = |bytes: &[u8], at: &mut usize| -> Result<(), String> {
                for &b in bytes {
                    if b != pattern(*at) {
                        return Err(format!("wrong byte at {at}"));
                    }
                    *at += 1;
                }
                Ok(())
            };
            // 1. AsyncRead: one copy, ring -> the caller's buffer.
            let before = copied()?;
            let mut buf = vec![0u8; PART];
            AsyncReadExt::read_exact(&mut stream, &mut buf).await.map_err(|e| e.to_string())?;
            check(&buf, &mut at)?;
            let through_read = copied()? - before;
            // 2. read_with: in place, no copy (its closure always consumes).
            let before = copied()?;
            let mut left = PART;
            while left > 0 {
                let chunk = stream
                    .read_with(|bytes| {
                        let n = bytes.len().min(left);
                        (n, bytes[..n].to_vec())
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                left -= chunk.len();
                check(&chunk, &mut at)?;
            }
            let through_read_with = copied()? - before;
            // 3. AsyncBufRead: one copy into the stream's buffer, none at consume.
            let before = copied()?;
            loop {
                let bytes = AsyncBufReadExt::fill_buf(&mut stream).await.map_err(|e| e.to_string())?;
                if bytes.is_empty() {
                    break;
                }
                let n = bytes.len();
                check(bytes, &mut at)?;
                AsyncBufReadExt::consume(&mut stream, n);
            }
            let through_fill_buf = copied()? - before;
            let counts = (at, through_read, through_read_with, through_fill_buf);
            let want = (LEN, PART as u64, 0, (LEN - 2 * PART) as u64);
            if counts == want {
                Ok(())
            } else {
                Err(format!("(bytes, copied by read, read_with, fill_buf) = {counts:?}, wanted {want:?}"))
            }
        },
        || async {
            let mut stream = connect_retrying().await.map_err(|e| e.to_string())?;
            let data: Vec<u8> = (0..LEN).map(pattern).collect();
            let before = stats().map_err(|e| e.to_string())?.copied_from_app;
            // AsyncWrite: one copy, the caller's slice -> the send ring.
            for chunk in data.chunks(10_000) {
                AsyncWriteExt::write_all(&mut stream, chunk).await.map_err(|e| e.to_string())?;
            }
            let copied = stats().map_err(|e| e.to_string())?.copied_from_app - before;
            AsyncWriteExt::shutdown(&mut stream).await.map_err(|e| e.to_string())?;
            stream.wait_acked().await.map_err(|e| e.to_string())?;
            if copied == LEN as u64 {
                Ok(())
            } else {
                Err(format!("AsyncWrite copied {copied} bytes for {LEN}"))
            }
        },
    );
    assert_both_ok(server, client, pools_full);
}

#[test]
fn a_fill_buf_copy_made_stale_by_another_read_loses_and_repeats_nothing() {
    let (server, client, pools_full) = on_wire(
        || async {
            let mut stream = accept_one().await?;
            // The 100 bytes arrive in one segment: peek at them through fill_buf.
            stream.readable().await.map_err(|e| e.to_string())?;
            let seen = AsyncBufReadExt::fill_buf(&mut stream).await.map_err(|e| e.to_string())?.len();
            if seen != 100 {
                return Err(format!("fill_buf showed {seen} bytes"));
            }
            // An owned read takes the first 10 bytes past fill_buf's copy...
            let (r, first) = stream.read_exact(Vec::with_capacity(10)).await;
            r.map_err(|e| e.to_string())?;
            // ...so consuming from the stale copy takes nothing,
            AsyncBufReadExt::consume(&mut stream, 5);
            // and the next fill_buf starts right after the owned read.
            let rest = AsyncBufReadExt::fill_buf(&mut stream).await.map_err(|e| e.to_string())?.to_vec();
            let want: Vec<u8> = (0..100).map(pattern).collect();
            if first[..] == want[..10] && rest[..] == want[10..] {
                Ok(())
            } else {
                Err(format!("owned read {first:?}, then fill_buf {rest:?}"))
            }
        },
        || async {
            let stream = connect_retrying().await.map_err(|e| e.to_string())?;
            let (r, _) = stream.write_all((0..100).map(pattern).collect::<Vec<u8>>()).await;
            r.map_err(|e| e.to_string())?;
            stream.wait_acked().await.map_err(|e| e.to_string())?;
            // Keep the connection open until the server has read.
            zcnet::runtime::sleep(std::time::Duration::from_millis(200)).await;
            Ok(())
        },
    );
    assert_both_ok(server, client, pools_full);
}

/// The serialiser of `AsyncBufWrite`'s docs: a 2-byte length, then the bytes.
async fn write_frame<W: AsyncBufWrite>(w: &mut W, payload: &[u8]) -> std::io::Result<()> {
    let len = 2 + payload.len();
    w.write_with(len, |space| {
        space[..2].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        space[2..len].copy_from_slice(payload);
        (len, ())
    })
    .await?;
    w.flush().await
}

#[test]
fn async_buf_write_serialises_into_the_send_ring_in_place() {
    const FRAMES: usize = 2000;
    let payload = |i: usize| vec![(i % 251) as u8; 1 + (i * 13) % 1000];
    let (server, client, pools_full) = on_wire(
        move || async move {
            let mut stream = accept_one().await?;
            for i in 0..FRAMES {
                let mut len = [0u8; 2];
                AsyncReadExt::read_exact(&mut stream, &mut len).await.map_err(|e| e.to_string())?;
                let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
                AsyncReadExt::read_exact(&mut stream, &mut body).await.map_err(|e| e.to_string())?;
                if body != payload(i) {
                    return Err(format!("frame {i}: {} bytes, wanted {}", body.len(), payload(i).len()));
                }
            }
            Ok(())
        },
        move || async move {
            let mut stream = connect_retrying().await.map_err(|e| e.to_string())?;
            let before = stats().map_err(|e| e.to_string())?;
            let mut total = 0;
            for i in 0..FRAMES {
                write_frame(&mut stream, &payload(i)).await.map_err(|e| e.to_string())?;
                total += 2 + payload(i).len();
            }
            let after = stats().map_err(|e| e.to_string())?;
            // In place except where the free space wrapped around the ring
            // (then the frame went through scratch space: one copy).
            let copied = after.copied_from_app - before.copied_from_app;
            let wraps = after.write_wraps - before.write_wraps;
            if copied <= wraps * 1002 && copied < total as u64 / 10 {
                Ok(())
            } else {
                Err(format!("{copied} of {total} bytes copied, {wraps} wrap(s)"))
            }
        },
    );
    assert_both_ok(server, client, pools_full);
}
