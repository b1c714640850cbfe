//! zcnet-httpd: an HTTP/1.1 server on the zcnet stack, with keep-alive and
//! pipelining. It serves a fixed body at `/` and the files of `--root`
//! (read into memory at start, so no disk I/O ever blocks the poll loop).
//!
//! Requests are parsed in place in the socket's receive ring
//! (`read_with`); response headers are written in place into the transmit
//! ring (`write_with`); bodies are shared `Bytes`, so serving one costs no
//! allocation or copy on the application's side.
//!
//!     ip netns exec NS zcnet-httpd --config config/tap.toml --root ./www

#[path = "shared/site.rs"]
mod site;
#[path = "shared/usage.rs"]
mod usage;
use clap::Parser;
use site::{load_site, Site, SiteArgs};
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;
use usage::{config_or_exit, exit_usage};
use zcnet::cli::CommonArgs;
use zcnet::net::TcpStream;
use zcnet::runtime::{spawn, timeout};

/// Largest request head (request line + headers) accepted.
const MAX_HEAD: usize = 8 * 1024;
/// Largest request body read (and discarded); larger ones get 413.
const MAX_BODY: usize = 1024 * 1024;
/// Idle keep-alive connections are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A small HTTP/1.1 server.
#[derive(Debug, Parser)]
#[command(name = "zcnet-httpd", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    site: SiteArgs,
}

fn main() {
    let args = Args::parse();
    let config = config_or_exit(&args.common);
    let site = load_site(&args.site).unwrap_or_else(|e| exit_usage(&e));
    let (port, site_args) = (args.site.port, std::sync::Arc::new(args.site));
    let report = zcnet::run(&config, move |core| {
        let site_args = site_args.clone();
        let site = Rc::new(site.clone());
        async move {
            println!(
                "core {} (queue {}): http on {}:{port}, {} path(s)",
                core.lcore.id,
                core.lcore.index,
                core.ip,
                site.len()
            );
            let listener = site_args.listen().unwrap_or_else(|e| exit_usage(&e));
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    spawn(serve(stream, site.clone()));
                }
            }
        }
    })
    .unwrap_or_else(|e| exit_usage(&e.to_string()));
    for (i, c) in report.cores.iter().enumerate() {
        println!("queue {i}: {c:?}");
    }
    println!("total: {:?}", report.total());
    println!("port: {:?}", report.port);
}

/// A parsed request head, or why there is none.
enum Head {
    Request { path: String, keep_alive: bool, body: usize, head_only: bool },
    Bad(&'static str),
    TooLarge,
    Closed,
}

/// Parses one request head from `bytes`: (bytes consumed, result).
/// Consuming 0 asks `read_with` for more bytes.
fn parse_head(bytes: &[u8]) -> (usize, Head) {
    if bytes.is_empty() {
        return (0, Head::Closed);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(bytes) {
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_HEAD => (bytes.len(), Head::TooLarge),
        Ok(httparse::Status::Partial) => (0, Head::Closed),
        Err(_) => (bytes.len(), Head::Bad("malformed request")),
        Ok(httparse::Status::Complete(n)) => {
            if n > MAX_HEAD {
                return (n, Head::TooLarge);
            }
            let (method, path) = (req.method.unwrap_or(""), req.path.unwrap_or(""));
            if method != "GET" && method != "HEAD" {
                return (n, Head::Bad("only GET and HEAD are served"));
            }
            let mut keep_alive = req.version == Some(1);
            let mut body = 0usize;
            for h in req.headers.iter() {
                if h.name.eq_ignore_ascii_case("connection") {
                    let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
                    keep_alive = if v.contains("close") { false } else { keep_alive || v.contains("keep-alive") };
                } else if h.name.eq_ignore_ascii_case("content-length") {
                    // Digits only, no sign, no overflow: never trust it blindly.
                    match std::str::from_utf8(h.value)
                        .ok()
                        .map(str::trim)
                        .and_then(|v| v.bytes().all(|b| b.is_ascii_digit()).then(|| v.parse::<usize>().ok()).flatten())
                    {
                        Some(len) if len > MAX_BODY => return (n, Head::TooLarge),
                        Some(len) => body = len,
                        None => return (n, Head::Bad("bad Content-Length")),
                    }
                } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    return (n, Head::Bad("request bodies must have a Content-Length"));
                }
            }
            (n, Head::Request { path: path.to_string(), keep_alive, body, head_only: method == "HEAD" })
        }
    }
}

/// Serves one connection: requests in order until it closes or errs.
async fn serve(stream: TcpStream, site: Rc<Site>) {
    let _ = stream.set_nodelay(true);
    loop {
        let head = match timeout(IDLE_TIMEOUT, stream.read_with(parse_head)).await {
            Ok(Ok(head)) => head,
            _ => return,
        };
        let (path, keep_alive, body, head_only) = match head {
            Head::Request { path, keep_alive, body, head_only } => (path, keep_alive, body, head_only),
            Head::Closed => return,
            Head::Bad(why) => return error(&stream, "400 Bad Request", why).await,
            Head::TooLarge => return error(&stream, "413 Content Too Large", "request too large").await,
        };
        // Discard a request body, counted exactly (never more than MAX_BODY).
        let mut left = body;
        while left > 0 {
            match stream.read_with(|b| (b.len().min(left), b.len().min(left))).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left -= n,
            }
        }
        let Some((ctype, content)) = site.get(path.split('?').next().unwrap_or("")) else {
            if error_keep(&stream, "404 Not Found", "no such path", keep_alive).await.is_err() || !keep_alive {
                return;
            }
            continue;
        };
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let written = stream
            .write_with(256, |space| {
                let mut w = &mut space[..];
                let before = w.len();
                let _ = write!(
                    w,
                    "HTTP/1.1 200 OK\r\nServer: zcnet\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
                    content.len()
                );
                (before - w.len(), ())
            })
            .await;
        if written.is_err() {
            return;
        }
        if !head_only && stream.write_all(content.clone()).await.0.is_err() {
            return;
        }
        if !keep_alive {
            return;
        }
    }
}

async fn error_keep(stream: &TcpStream, status: &str, why: &str, keep_alive: bool) -> std::io::Result<()> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let msg = format!(
        "HTTP/1.1 {status}\r\nServer: zcnet\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{why}\n",
        why.len() + 1
    );
    stream.write_all(msg).await.0
}

/// Answers with an error status and closes the connection.
async fn error(stream: &TcpStream, status: &str, why: &str) {
    let _ = error_keep(stream, status, why, false).await;
    let _ = stream.shutdown().await;
    let _ = stream.wait_acked().await;
}
