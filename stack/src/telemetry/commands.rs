//! zcnet's telemetry commands, answered on DPDK's telemetry thread from the
//! cores' published snapshots (never from smoltcp or a core's state):
//!
//! - `/zcnet/stats` — every counter summed over the cores; `/zcnet/stats,N`
//!   the counters of core N alone (its queue index);
//! - `/zcnet/cores` — every counter as an array, one entry per core, with
//!   the cores' lcore ids under `lcore`;
//! - `/zcnet/sockets` — the TCP connections by state, and what listeners did.

use super::board::{Board, Snapshot};
use super::fields::{FIELDS, NAMES};
use dpdk_sys::rte_tel_data;
use std::ffi::{c_char, c_int, CStr};
use std::panic::catch_unwind;
use std::sync::Once;

/// The counters `/zcnet/sockets` shows.
const SOCKET_FIELDS: [&CStr; 10] = [
    c"tcp_sockets",
    c"tcp_listening_ports",
    c"tcp_handshaking",
    c"tcp_established",
    c"tcp_closing",
    c"tcp_time_wait",
    c"accepted",
    c"dropped_before_accept",
    c"syn_backlog_full",
    c"reclaimed",
];

type Command =
    (&'static CStr, unsafe extern "C" fn(*const c_char, *const c_char, *mut rte_tel_data) -> c_int, &'static CStr);

const COMMANDS: [Command; 3] = [
    (
        c"/zcnet/stats",
        stats_cmd,
        c"zcnet's counters summed over its cores, or of one core. Parameters: int core index (optional)",
    ),
    (c"/zcnet/cores", cores_cmd, c"zcnet's counters per core: an array per counter, one entry per core"),
    (c"/zcnet/sockets", sockets_cmd, c"zcnet's TCP connections by state, and its listeners' counters"),
];

/// Registers the commands with DPDK's telemetry, once per process.
pub(crate) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (name, f, help) in COMMANDS {
            // SAFETY: both strings are static and NUL-terminated; `f` has
            // the callback signature and stays valid for the process's life.
            let ret = unsafe { dpdk_sys::rte_telemetry_register_cmd(name.as_ptr(), Some(f), help.as_ptr()) };
            if ret != 0 {
                log::warn!(
                    "telemetry: cannot register {}: {}",
                    name.to_string_lossy(),
                    crate::error::rte_strerror(-ret)
                );
            }
        }
    });
}

/// The dictionary DPDK passed to a callback.
struct Dict(*mut rte_tel_data);

impl Dict {
    /// # Safety
    /// `d` is the data pointer DPDK passed to the running callback.
    unsafe fn start(d: *mut rte_tel_data) -> Dict {
        // SAFETY: `d` is valid for the callback (the caller's promise).
        unsafe { dpdk_sys::rte_tel_data_start_dict(d) };
        Dict(d)
    }

    fn u64(&mut self, name: &CStr, v: u64) {
        // SAFETY: self.0 is the callback's dictionary, started above;
        // `name` is NUL-terminated and copied by DPDK.
        unsafe { dpdk_sys::rte_tel_data_add_dict_u64(self.0, name.as_ptr(), v) };
    }

    fn array(&mut self, name: &CStr, values: impl Iterator<Item = u64>) {
        // SAFETY: a fresh container, handed to DPDK (which frees it:
        // keep = 0) or freed here if it cannot be started.
        unsafe {
            let a = dpdk_sys::rte_tel_data_alloc();
            if a.is_null() {
                return;
            }
            if dpdk_sys::rte_tel_data_start_array(a, dpdk_sys::RTE_TEL_U64_VAL) != 0 {
                dpdk_sys::rte_tel_data_free(a);
                return;
            }
            for v in values {
                dpdk_sys::rte_tel_data_add_array_u64(a, v);
            }
            if dpdk_sys::rte_tel_data_add_dict_container(self.0, name.as_ptr(), a, 0) != 0 {
                dpdk_sys::rte_tel_data_free(a);
            }
        }
    }
}

/// Runs a command body; a panic becomes an error reply, never an unwind
/// into C.
fn answer(f: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(-libc::EIO)
}

fn index_of(name: &CStr) -> usize {
    NAMES.iter().position(|n| *n == name).unwrap_or(FIELDS)
}

/// The counters of `cores` summed.
fn total(cores: &[Snapshot]) -> [u64; FIELDS] {
    let mut sum = [0u64; FIELDS];
    for c in cores {
        for (s, v) in sum.iter_mut().zip(c.values) {
            *s = s.wrapping_add(v);
        }
    }
    sum
}

/// The optional core index in `params` (None: all cores).
///
/// # Safety
/// `params` is null or a NUL-terminated string.
unsafe fn core_param(params: *const c_char) -> Result<Option<usize>, ()> {
    if params.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null and NUL-terminated (the caller's promise).
    let p = unsafe { CStr::from_ptr(params) }.to_str().map_err(|_| ())?.trim();
    if p.is_empty() {
        return Ok(None);
    }
    p.parse().map(Some).map_err(|_| ())
}

unsafe extern "C" fn stats_cmd(_cmd: *const c_char, params: *const c_char, d: *mut rte_tel_data) -> c_int {
    answer(|| {
        // SAFETY: DPDK passes a NUL-terminated parameter string or null.
        let Ok(which) = (unsafe { core_param(params) }) else { return -libc::EINVAL };
        let board = Board::current();
        let cores = board.as_ref().map(|b| b.read()).unwrap_or_default();
        let values = match which {
            None => total(&cores),
            // By queue index: `cores` leaves out cores not published yet.
            Some(i) => match board.and_then(|b| b.read_core(i)) {
                Some(c) => c.values,
                None => return -libc::EINVAL,
            },
        };
        // SAFETY: `d` is this callback's data.
        let mut dict = unsafe { Dict::start(d) };
        dict.u64(c"cores", cores.len() as u64);
        for (name, v) in NAMES.iter().zip(values) {
            dict.u64(name, v);
        }
        0
    })
}

unsafe extern "C" fn cores_cmd(_cmd: *const c_char, _params: *const c_char, d: *mut rte_tel_data) -> c_int {
    answer(|| {
        let cores = Board::current().map(|b| b.read()).unwrap_or_default();
        // SAFETY: `d` is this callback's data.
        let mut dict = unsafe { Dict::start(d) };
        dict.array(c"lcore", cores.iter().map(|c| c.lcore as u64));
        for (i, name) in NAMES.iter().enumerate() {
            dict.array(name, cores.iter().map(|c| c.values[i]));
        }
        0
    })
}

unsafe extern "C" fn sockets_cmd(_cmd: *const c_char, _params: *const c_char, d: *mut rte_tel_data) -> c_int {
    answer(|| {
        let sum = total(&Board::current().map(|b| b.read()).unwrap_or_default());
        // SAFETY: `d` is this callback's data.
        let mut dict = unsafe { Dict::start(d) };
        for name in SOCKET_FIELDS {
            if let Some(v) = sum.get(index_of(name)) {
                dict.u64(name, *v);
            }
        }
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_socket_field_is_a_published_counter() {
        for name in SOCKET_FIELDS {
            assert!(index_of(name) < FIELDS, "{name:?} is not published");
        }
    }

    #[test]
    fn core_parameter_is_an_index_or_nothing() {
        // SAFETY: null and NUL-terminated literals.
        unsafe {
            assert_eq!(core_param(std::ptr::null()), Ok(None));
            assert_eq!(core_param(c"".as_ptr()), Ok(None));
            assert_eq!(core_param(c"1".as_ptr()), Ok(Some(1)));
            assert_eq!(core_param(c"one".as_ptr()), Err(()));
        }
    }
}
