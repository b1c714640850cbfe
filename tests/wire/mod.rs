//! The in-process harness of the tests on an in-memory wire: one process
//! runs a server task on core 0 and a client task on core 1 of
//! config/wire.toml's layout, each bounded by [`LIMIT`]. Run the tests
//! that use it under cargo-nextest (one EAL per process).

#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use zcnet::config::{Config, IdlePolicy, PortConfig};
use zcnet::net::TcpStream;
use zcnet::runtime::{sleep, timeout};

/// The server core's address and port.
pub const SERVER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 2)), 7);
/// Where the server binds.
pub const ANY: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 7);
/// Each scenario's bound: a lost wake-up shows as a timeout, not a hang.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Runs `server` on core 0 and `client` on core 1 of an in-memory wire
/// until the client finishes; returns what each returned (`None`: it did
/// not finish within `LIMIT`) and whether the pools were full at exit.
pub fn on_wire<S, SF, C, CF, T>(server: S, client: C) -> (Option<T>, Option<T>, bool)
where
    S: Fn() -> SF + Send + Sync + 'static,
    SF: std::future::Future<Output = T> + 'static,
    C: Fn() -> CF + Send + Sync + 'static,
    CF: std::future::Future<Output = T> + 'static,
    T: Send + 'static,
{
    let results: &'static Mutex<(Option<T>, Option<T>)> = Box::leak(Box::new(Mutex::new((None, None))));
    static SERVER_DONE: AtomicBool = AtomicBool::new(false);
    let mut c = Config::default();
    c.eal.lcores = "0@0,1@0,2@1".into();
    c.ports = vec![PortConfig { name: "api-wire".into(), wire: true, ..PortConfig::default() }];
    c.net.ip = "198.18.0.2/24".into();
    c.net.core_ips = vec!["198.18.0.2".into(), "198.18.0.3".into()];
    c.runtime.idle = IdlePolicy::Busy;
    let report = zcnet::run(&c, move |core| {
        let (server, client) = (server(), client());
        async move {
            if core.lcore.index == 0 {
                let out = timeout(LIMIT, server).await.ok();
                results.lock().unwrap().0 = out;
                SERVER_DONE.store(true, Ordering::Release);
                std::future::pending::<()>().await;
            } else {
                let out = timeout(LIMIT, client).await.ok();
                results.lock().unwrap().1 = out;
                // Let the server finish (or time out) before stopping.
                while !SERVER_DONE.load(Ordering::Acquire) {
                    sleep(Duration::from_millis(5)).await;
                }
                zcnet::signal::request_stop();
            }
        }
    })
    .expect("zcnet::run");
    let (s, c) = std::mem::take(&mut *results.lock().unwrap());
    (s, c, report.pools_full)
}

/// Connects to [`SERVER`], retrying while the server core starts.
pub async fn connect_retrying() -> io::Result<TcpStream> {
    for _ in 0..50 {
        match TcpStream::connect_timeout(SERVER, Duration::from_secs(2)).await {
            Ok(s) => return Ok(s),
            Err(_) => sleep(Duration::from_millis(20)).await,
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "could not connect"))
}
