//! zcnet-hyper: the same site as zcnet-httpd (a fixed body at `/`, the
//! files of `--root`), served by hyper 1.x's HTTP/1.1 server over zcnet
//! streams — hyper's own I/O traits, implemented by zcnet with one copy
//! each way — and over TLS with `--tls-cert`/`--tls-key` (rustls, through
//! tokio-rustls on zcnet's tokio traits). hyper's timer is zcnet's
//! (`HyperTimer`). With `--get URL` it is a hyper client instead: one GET,
//! the body to `--out`.
//!
//!     ip netns exec NS zcnet-hyper --config config/tap.toml --root ./www
//!     ip netns exec NS zcnet-hyper --config config/tap.toml --tls-cert cert.pem --tls-key key.pem --port 443
//!     ip netns exec NS zcnet-hyper --config config/tap.toml --get http://198.18.0.1:8080/file --out file

#[path = "shared/hyper_http.rs"]
mod hyper_http;
#[path = "shared/site.rs"]
mod site;
#[path = "shared/usage.rs"]
mod usage;
use clap::Parser;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsAcceptor;
use usage::{config_or_exit, exit_usage};
use zcnet::cli::CommonArgs;
use zcnet::net::TcpStream;
use zcnet::runtime::{sleep, spawn, HyperTimer};

/// An HTTP/1.1 server (or client) built on hyper over zcnet.
#[derive(Debug, Parser)]
#[command(name = "zcnet-hyper", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    site: site::SiteArgs,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Be a client: GET this http:// URL (an IPv4 address), print the status.
    #[arg(long, value_name = "URL", conflicts_with_all = ["root", "tls_cert"])]
    get: Option<String>,
    /// With --get: write the body to this file.
    #[arg(long, value_name = "FILE", requires = "get")]
    out: Option<PathBuf>,
}

/// rustls' server configuration from PEM files (ring's crypto).
fn tls_acceptor(cert: &PathBuf, key: &PathBuf) -> Result<TlsAcceptor, String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
    .map_err(|e| format!("TLS configuration: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn main() {
    let args = Args::parse();
    let config = config_or_exit(&args.common);
    if let Some(url) = &args.get {
        return client(&config, url, args.out.clone());
    }
    let site = site::load_site(&args.site).unwrap_or_else(|e| exit_usage(&e));
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key).unwrap_or_else(|e| exit_usage(&e))),
        _ => None,
    };
    let (port, site_args) = (args.site.port, std::sync::Arc::new(args.site));
    let report = zcnet::run(&config, move |core| {
        let site_args = site_args.clone();
        let (site, tls) = (Rc::new(site.clone()), tls.clone());
        async move {
            let scheme = if tls.is_some() { "https" } else { "http" };
            println!("core {} (queue {}): hyper {scheme} on {}:{port}", core.lcore.id, core.lcore.index, core.ip);
            let listener = site_args.listen().unwrap_or_else(|e| exit_usage(&e));
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                let site = site.clone();
                let site = move |path: &str| site.get(path).cloned();
                match tls.clone() {
                    None => drop(spawn(hyper_http::serve(stream, site, HyperTimer))),
                    Some(tls) => drop(spawn(async move {
                        if let Ok(Ok(stream)) =
                            zcnet::runtime::timeout(hyper_http::HEADER_TIMEOUT, tls.accept(stream)).await
                        {
                            let _ = hyper_http::serve(TokioIo::new(stream), site, HyperTimer).await;
                        }
                    })),
                }
            }
        }
    })
    .unwrap_or_else(|e| exit_usage(&e.to_string()));
    for (i, c) in report.cores.iter().enumerate() {
        println!("queue {i}: {c:?}");
    }
    println!("port: {:?}", report.port);
}

/// `--get URL`: one GET with hyper's client on the first core; prints
/// `status N, M bytes` and exits 0 for a 2xx, 1 otherwise.
fn client(config: &zcnet::config::Config, url: &str, out: Option<PathBuf>) {
    let uri: hyper::Uri = url.parse().unwrap_or_else(|e| exit_usage(&format!("--get {url}: {e}")));
    let (Some("http"), Some(authority)) = (uri.scheme_str(), uri.authority().cloned()) else {
        exit_usage(&format!("--get {url}: an http:// URL with an IPv4 address is needed"))
    };
    let addr: SocketAddr = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80))
        .parse()
        .unwrap_or_else(|_| exit_usage(&format!("--get {url}: the host must be an IPv4 address")));
    let path = uri.path_and_query().map_or("/".to_string(), |p| p.to_string());
    let ok = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = ok.clone();
    zcnet::run(config, move |core| {
        let (path, out, host, done) = (path.clone(), out.clone(), authority.to_string(), done.clone());
        async move {
            if core.lcore.index == 0 {
                let result = async {
                    let stream = connect_retrying(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
                    let (mut sender, conn) = hyper_http::connect(stream).await.map_err(|e| e.to_string())?;
                    spawn(conn);
                    hyper_http::get(&mut sender, &host, &path).await.map_err(|e| e.to_string())
                };
                match result.await {
                    Ok((status, body)) => {
                        println!("status {}, {} bytes", status.as_u16(), body.len());
                        let written = out.map_or(Ok(()), |f| std::fs::write(&f, &body));
                        done.store(status.is_success() && written.is_ok(), std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(e) => eprintln!("error: GET {path}: {e}"),
                }
                zcnet::signal::request_stop();
            }
        }
    })
    .unwrap_or_else(|e| exit_usage(&e.to_string()));
    std::process::exit(if ok.load(std::sync::atomic::Ordering::SeqCst) { 0 } else { 1 });
}

/// Connects, retrying for a few seconds: the peer's side of the link may
/// come up just after this program starts.
async fn connect_retrying(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut attempts = 0;
    loop {
        match TcpStream::connect_timeout(addr, Duration::from_secs(2)).await {
            Err(_) if attempts < 5 => {
                attempts += 1;
                sleep(Duration::from_millis(300)).await;
            }
            result => return result,
        }
    }
}
