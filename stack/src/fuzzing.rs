//! A whole zcnet stack in one thread for fuzzing: frames go straight into
//! the ingress path (raw-frame dispatch, the datagram fast path, smoltcp)
//! of a real interface with a TCP echo listener, a zero-copy UDP echo and
//! a raw-frame echo behind it. The port is a net_null vdev under
//! `--no-huge`, so no NIC, no hugepages and no kernel are involved; what the
//! stack sends is freed by net_null. Only built with the `fuzzing` feature.

use crate::config::{Config, Hugepages, PortConfig};
use crate::eal::Eal;
use crate::mempool::Mempool;
use crate::net::{DpdkDevice, NetCore, RawSocket, TcpListener, UdpSocket};
use crate::port::Port;
use crate::runtime::{spawn, Executor};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// The stack's MAC and address; seeds address their frames to them.
pub const MAC: [u8; 6] = [0x02, 0x00, 0xc6, 0x12, 0x00, 0x02];
/// The stack's IPv4 address.
pub const IP: [u8; 4] = [198, 18, 0, 2];
/// The raw-frame EtherType the harness claims.
pub const RAW_ETHERTYPE: u16 = 0x88b5;
/// Backlog of the TCP listener (port 80).
const BACKLOG: usize = 16;
/// Largest frame fed (a jumbo frame's worth; larger inputs are cut).
const MAX_FRAME: usize = 1514;

/// The harness; one per process (EAL initialises once).
pub struct FuzzStack {
    net: Rc<NetCore>,
    executor: Executor,
    pool: Arc<Mempool>,
    _port: Arc<Port>,
    _eal: Eal,
}

impl FuzzStack {
    /// Starts EAL (net_null0, no hugepages) and the stack with its three services.
    pub fn new() -> FuzzStack {
        let mut config = Config::default();
        config.eal.lcores = "0".into();
        config.eal.vdevs = vec!["net_null0".into()];
        config.eal.hugepages = Hugepages::Off;
        config.eal.memory_mb = 256;
        config.mempool.mbufs = 4095;
        config.mempool.cache = 0;
        config.net.tcp.backlog = BACKLOG;
        config.net.tcp.rx_buffer = 4096;
        config.net.tcp.tx_buffer = 4096;
        let mac = MAC.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        let port_config = PortConfig { name: "net_null0".into(), mac: Some(mac), ..PortConfig::default() };
        let eal = Eal::init(&config.eal).expect("EAL init");
        let pool = Arc::new(Mempool::new("fuzz", &config.mempool, 0).expect("mempool"));
        let port = Port::open(&port_config, std::slice::from_ref(&pool)).expect("port");
        let device = DpdkDevice::new(port.rx_queue(0).expect("rxq"), port.tx_queue(0).expect("txq"), pool.clone(), 32);
        let net = NetCore::new(device, &config.net, 0, 1, None).expect("stack");
        net.set_current();
        let executor = Executor::new();
        executor.enter(|| {
            let any = |p| SocketAddr::from(([0, 0, 0, 0], p));
            let listener = TcpListener::bind(any(80)).expect("listen");
            spawn(async move {
                while let Ok((s, _)) = listener.accept().await {
                    spawn(async move {
                        while let Ok(n) = s.read_with(|b| (b.len(), b.len())).await {
                            if n == 0 || s.write_all(b"ok\r\n" as &'static [u8]).await.0.is_err() {
                                break;
                            }
                        }
                    });
                }
            });
            let udp = UdpSocket::bind(any(7)).expect("udp");
            spawn(async move {
                while let Ok(d) = udp.recv_packet().await {
                    let _ = udp.reply(d);
                }
            });
            let raw = RawSocket::bind(RAW_ETHERTYPE, None).expect("raw");
            spawn(async move {
                while let Ok(frame) = raw.recv().await {
                    let _ = raw.send(frame);
                }
            });
        });
        FuzzStack { net, executor, pool, _port: port, _eal: eal }
    }

    /// Feeds `data` as a sequence of frames — each a 2-byte big-endian
    /// length and that many bytes — runs the stack once, and checks that
    /// nothing grows without bound.
    pub fn feed(&mut self, data: &[u8]) {
        let mut rest = data;
        while rest.len() >= 2 {
            let len = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2).min(MAX_FRAME);
            let frame = &rest[2..2 + len];
            rest = &rest[2 + len..];
            let Some(mut p) = self.pool.try_alloc() else { break };
            match p.append(frame.len()) {
                Ok(buf) => buf.copy_from_slice(frame),
                Err(_) => continue,
            }
            if self.net.inner.borrow_mut().device.inject_rx(p).is_err() {
                self.turn();
            }
        }
        self.turn();
        // Bounded: queued datagrams and frames (512 each), socket rings and
        // a backlog of 16 hold a small, fixed share of the pool.
        assert!(
            self.pool.in_use() < 2048,
            "{} mbufs in use: something holds packets without bound",
            self.pool.in_use()
        );
        let sockets = self.net.stats().expect("stats outside a closure").tcp_sockets;
        assert!(sockets <= 2 * BACKLOG + 8, "{sockets} TCP sockets for a backlog of {BACKLOG}");
    }

    fn turn(&self) {
        self.executor.enter(|| {
            self.net.process_rx();
            self.executor.fire_timers(Instant::now());
            self.executor.run_ready(256);
            self.net.egress();
        });
    }
}

impl Default for FuzzStack {
    fn default() -> Self {
        Self::new()
    }
}
