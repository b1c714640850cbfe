//! The HTTP/1.1 code written once against hyper 1.x and run on either
//! stack: the server's request handler and connection loop, and the
//! client's keep-alive GET. zcnet-hyper and zcnet-bench run it on zcnet's
//! streams (zcnet implements `hyper::rt::{Read, Write}`; TLS goes through
//! hyper-util's `TokioIo`), zcnet-tokio-bench on tokio's.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::rt::{Read, Timer, Write};
use hyper::{header, Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a connection may take to send a request head (also the idle
/// keep-alive limit: the wait for the next head).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The port the HTTP benchmark serves on.
pub const HTTP_PORT: u16 = 80;

/// The site as the server sees it: a path's content type and body.
pub trait Lookup: Fn(&str) -> Option<(&'static str, Bytes)> + 'static {}
impl<F: Fn(&str) -> Option<(&'static str, Bytes)> + 'static> Lookup for F {}

/// zcnet-httpd's fixed 13-byte body at `/`, nothing else (the benchmark's site).
pub fn hello(path: &str) -> Option<(&'static str, Bytes)> {
    (path == "/").then(|| ("text/plain", Bytes::from_static(b"Hello, zcnet\n")))
}

/// The answer to one request: the site's body for GET or HEAD of a known
/// path (hyper leaves the body out for HEAD), 404 for others, 405 for
/// other methods.
pub fn respond(site: &impl Lookup, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, ctype: &'static str, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r.headers_mut().insert(header::SERVER, header::HeaderValue::from_static("zcnet"));
        r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ctype));
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Bytes::from_static(b"only GET and HEAD are served\n"),
        );
    }
    match site(req.uri().path()) {
        Some((ctype, body)) => reply(StatusCode::OK, ctype, body),
        None => reply(StatusCode::NOT_FOUND, "text/plain", Bytes::from_static(b"no such path\n")),
    }
}

/// Serves one connection (keep-alive, pipelining) until the peer closes it
/// or stays silent for [`HEADER_TIMEOUT`].
pub async fn serve<I, T>(io: I, site: impl Lookup, timer: T) -> Result<(), hyper::Error>
where
    I: Read + Write + Unpin + 'static,
    T: Timer + Send + Sync + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let response = respond(&site, &req);
        async move { Ok::<_, Infallible>(response) }
    });
    hyper::server::conn::http1::Builder::new()
        .timer(timer)
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(io, service)
        .await
}

/// A client connection: the request sender, and the connection's future,
/// which the caller spawns on its executor.
pub async fn connect<I>(io: I) -> hyper::Result<(SendRequest<Empty<Bytes>>, impl Future<Output = ()>)>
where
    I: Read + Write + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    Ok((sender, async move {
        let _ = conn.await;
    }))
}

/// GETs `path` from `host` on a client connection: the status and the
/// whole body.
pub async fn get(sender: &mut SendRequest<Empty<Bytes>>, host: &str, path: &str) -> hyper::Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let req = Request::get(path).header(header::HOST, host).body(Empty::new()).expect("a valid request");
    let response = sender.send_request(req).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// The benchmark's client loop: GET / on `sender` back to back until
/// `end`, passing each latency and body length from `warm_end` on to
/// `record`. Err at the first failed request.
pub async fn get_until(
    sender: &mut SendRequest<Empty<Bytes>>,
    host: &str,
    (warm_end, end): (Instant, Instant),
    mut record: impl FnMut(Duration, usize),
) -> Result<(), ()> {
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            return Ok(());
        }
        match get(sender, host, "/").await {
            Ok((status, body)) if status.is_success() => {
                if t0 >= warm_end {
                    record(t0.elapsed(), body.len());
                }
            }
            _ => return Err(()),
        }
    }
}
