//! Arbitrary frames into the ingress path of a real zcnet stack: raw-frame
//! dispatch, the zero-copy datagram path and smoltcp (ARP, ICMP, TCP with a
//! listener, UDP). The input is a sequence of frames, each a 2-byte
//! big-endian length and its bytes. No panic, no unbounded growth
//! (`FuzzStack::feed` checks the pool and the socket count).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use zcnet_stack::fuzzing::FuzzStack;

thread_local! {
    // EAL initialises once per process: one stack for the whole run.
    static STACK: RefCell<Option<FuzzStack>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    STACK.with(|s| s.borrow_mut().get_or_insert_with(FuzzStack::new).feed(data));
});
