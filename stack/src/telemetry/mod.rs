//! DPDK telemetry for zcnet: the cores publish their counters to a board
//! (lock-free for them), and `/zcnet/...` commands on DPDK's telemetry
//! socket (`/var/run/dpdk/<prefix>/dpdk_telemetry.v2`, what
//! `dpdk-telemetry.py -f <prefix>` talks to) answer from it.

mod board;
mod commands;
mod fields;

pub(crate) use board::{Board, Publisher};
pub(crate) use commands::register;
