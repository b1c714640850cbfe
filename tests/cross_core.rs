//! Cross-core messages (`runtime::submit_to`) on two cores of one process:
//! a small sharded key-value store whose keys each belong to the core they
//! hash to, every other core forwarding to the owner. Proves that every
//! request reaches its owner and every answer comes back, that a burst
//! larger than a queue holds back instead of losing messages, and that bad
//! targets are errors. Run under cargo-nextest (one EAL per process).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use zcnet::config::{Config, IdlePolicy, PortConfig};
use zcnet::runtime::{spawn, submit_to};

thread_local! {
    /// This core's shard: only its own thread ever touches it (`!Send`).
    static SHARD: RefCell<HashMap<u64, String>> = RefCell::new(HashMap::new());
}

/// The core that owns `key`.
fn owner(key: u64, cores: usize) -> usize {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % cores
}

/// Stores `value` under `key` on its owner; returns the core it went to
/// and the core that actually stored it.
async fn put(key: u64, value: String, cores: usize) -> io::Result<(usize, usize)> {
    let to = owner(key, cores);
    let stored_on = submit_to(to, move || async move {
        SHARD.with(|s| s.borrow_mut().insert(key, value));
        CORE.with(|c| c.get())
    })
    .await?;
    Ok((to, stored_on))
}

async fn get(key: u64, cores: usize) -> io::Result<Option<String>> {
    submit_to(owner(key, cores), move || async move { SHARD.with(|s| s.borrow().get(&key).cloned()) }).await
}

thread_local! {
    static CORE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

const KEYS: u64 = 20_000;

#[derive(Debug, Default)]
struct Outcome {
    puts: usize,
    misrouted: usize,
    gets_ok: usize,
    gets_wrong: usize,
    burst_done: usize,
    bad_core: Option<io::ErrorKind>,
    forwarded: usize,
}

#[test]
fn a_sharded_store_routes_every_key_to_its_owner_core_and_back() {
    static OUTCOME: Mutex<Option<Outcome>> = Mutex::new(None);
    static FINISHED: AtomicUsize = AtomicUsize::new(0);
    let mut c = Config::default();
    c.eal.lcores = "0@0,1@0,2@1".into();
    c.ports = vec![PortConfig { name: "kv-wire".into(), wire: true, ..PortConfig::default() }];
    c.net.core_ips = vec!["198.18.0.2".into(), "198.18.0.3".into()];
    c.runtime.idle = IdlePolicy::Busy;
    let report = zcnet::run(&c, |core| async move {
        CORE.with(|c| c.set(core.lcore.index));
        if core.lcore.index == 0 {
            let cores = core.cores;
            let mut o = Outcome::default();
            // Every key, each put from core 0 to whichever core owns it.
            let puts: Vec<_> =
                (0..KEYS).map(|k| spawn(async move { put(k, format!("value {k}"), cores).await })).collect();
            for p in puts {
                match p.await {
                    Ok(Ok((to, on))) => {
                        o.puts += 1;
                        o.misrouted += (to != on) as usize;
                        o.forwarded += (to != 0) as usize;
                    }
                    _ => o.misrouted += 1,
                }
            }
            for k in 0..KEYS {
                match get(k, cores).await {
                    Ok(Some(v)) if v == format!("value {k}") => o.gets_ok += 1,
                    _ => o.gets_wrong += 1,
                }
            }
            // A burst far larger than the queue between two cores: held
            // back, never lost.
            let burst: Vec<_> = (0..5_000u32).map(|i| spawn(submit_to(1, move || async move { i }))).collect();
            for (i, b) in burst.into_iter().enumerate() {
                o.burst_done += matches!(b.await, Ok(Ok(v)) if v as usize == i) as usize;
            }
            o.bad_core = submit_to(7, || async {}).await.err().map(|e| e.kind());
            *OUTCOME.lock().unwrap() = Some(o);
            zcnet::signal::request_stop();
        }
        FINISHED.fetch_add(1, Ordering::AcqRel);
        std::future::pending::<()>().await;
    })
    .expect("zcnet::run");
    let o = OUTCOME.lock().unwrap().take().expect("outcome");
    eprintln!("{o:?}");
    assert_eq!((o.puts, o.misrouted), (KEYS as usize, 0), "every put stored on its owner");
    assert!(o.forwarded > KEYS as usize / 3, "keys spread over both cores: {o:?}");
    assert_eq!((o.gets_ok, o.gets_wrong), (KEYS as usize, 0));
    assert_eq!(o.burst_done, 5_000);
    assert_eq!(o.bad_core, Some(io::ErrorKind::InvalidInput));
    assert!(report.pools_full);
}
