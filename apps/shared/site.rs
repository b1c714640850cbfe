//! What the HTTP samples serve: a fixed body at `/` (13 bytes by default:
//! "Hello, zcnet\n") and the regular files of `--root`, read into memory at
//! start so no disk I/O ever blocks a core's loop.

use bytes::Bytes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The flags of an HTTP sample's site, besides the shared ones.
#[derive(Debug, clap::Args)]
pub struct SiteArgs {
    /// TCP port to listen on.
    #[arg(long, default_value_t = 80)]
    pub port: u16,
    /// Size in bytes of the fixed body served at `/`.
    #[arg(long, default_value_t = 13, value_name = "BYTES")]
    pub body_size: usize,
    /// Serve the regular files of this directory (not recursive) as /NAME.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
}

impl SiteArgs {
    /// On a core: arms `--duration`'s stop and binds the listener on
    /// `--port` (Err says why it cannot).
    pub fn listen(&self) -> Result<zcnet::net::TcpListener, String> {
        if let Some(secs) = self.duration {
            zcnet::runtime::spawn(async move {
                zcnet::runtime::sleep(std::time::Duration::from_secs_f64(secs)).await;
                zcnet::signal::request_stop();
            });
        }
        let addr = std::net::SocketAddr::from(([0, 0, 0, 0], self.port));
        zcnet::net::TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))
    }
}

/// path -> (content type, body).
pub type Site = HashMap<String, (&'static str, Bytes)>;

/// The site: `/` with `body_size` bytes, plus `/NAME` for every regular
/// file of `root` (not recursive). Err names the file that cannot be read.
pub fn load_site(args: &SiteArgs) -> Result<Site, String> {
    let (body_size, root) = (args.body_size, args.root.as_ref());
    let mut site = Site::new();
    let body: Vec<u8> = if body_size == 13 {
        b"Hello, zcnet\n".to_vec()
    } else {
        (0..body_size).map(|i| b'a' + (i % 26) as u8).collect()
    };
    site.insert("/".into(), ("text/plain", Bytes::from(body)));
    if let Some(root) = root {
        let entries = std::fs::read_dir(root).map_err(|e| format!("--root {}: {e}", root.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            site.insert(format!("/{name}"), (content_type(&path), Bytes::from(data)));
        }
    }
    Ok(site)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html",
        Some("txt") => "text/plain",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}
