//! hyper 1.x's runtime traits on zcnet's executor (the `hyper` feature):
//! [`HyperTimer`] (`hyper::rt::Timer`, for header-read timeouts and
//! keep-alive) and [`HyperExecutor`] (`hyper::rt::Executor`, for what
//! hyper spawns: HTTP/2 streams, the client's connection tasks).
//!
//! hyper wants its sleeps `Send + Sync` although zcnet's tasks never move:
//! a [`HyperSleep`] names its timer by the executor's id and the entry's
//! key instead of holding an `Rc`, and looks its executor up again on
//! each poll and at drop, on the thread that runs it.

use super::executor::{current_timers, spawn};
use super::task::SlabKey;
use super::timer::deadline_after;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// `hyper::rt::Timer` on zcnet's executor: pass it to hyper's builders
/// (`http1::Builder::timer`). Its sleeps fire from the core's timer heap,
/// like [`sleep`](super::sleep).
///
/// ```no_run
/// # fn example(stream: zcnet_stack::net::TcpStream) {
/// use zcnet_stack::runtime::HyperTimer;
/// let mut builder = hyper::server::conn::http1::Builder::new();
/// builder.timer(HyperTimer).header_read_timeout(std::time::Duration::from_secs(5));
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HyperTimer;

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep { deadline: deadline_after(duration), timer: None })
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep { deadline, timer: None })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(mut ours) => ours.as_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A sleep of [`HyperTimer`]: `Send + Sync` because it holds no pointer
/// into its executor, only the executor's id and its entry's key.
///
/// Polled on another thread than the one that armed it (which zcnet's
/// executor never does), it arms a timer there; dropped on another thread,
/// it leaves its entry to fire unobserved.
#[derive(Debug)]
pub struct HyperSleep {
    deadline: Instant,
    /// (executor id, entry) once armed.
    timer: Option<(u64, SlabKey)>,
}

impl hyper::rt::Sleep for HyperSleep {}

impl HyperSleep {
    /// Moves the deadline; the sleep waits again.
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.disarm();
        this.deadline = deadline;
    }

    fn disarm(&mut self) {
        if let Some((id, key)) = self.timer.take() {
            if let Some(timers) = current_timers().filter(|t| t.id() == id) {
                timers.cancel(key);
            }
        }
    }
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(timers) = current_timers() else {
            panic!("zcnet runtime: a HyperSleep was polled outside an executor");
        };
        match this.timer {
            Some((id, key)) if id == timers.id() => {
                let poll = timers.poll_registered(key, this.deadline, cx.waker());
                if poll.is_ready() {
                    this.timer = None;
                }
                poll
            }
            _ => {
                if this.deadline <= timers.now() {
                    return Poll::Ready(());
                }
                this.timer = Some((timers.id(), timers.register(this.deadline, cx.waker().clone())));
                Poll::Pending
            }
        }
    }
}

impl Drop for HyperSleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// `hyper::rt::Executor` on zcnet's executor: runs what hyper spawns as a
/// task of the current core ([`spawn`]); the futures need not be `Send`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HyperExecutor;

impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        // Detached: the task runs to completion on its own.
        drop(spawn(future));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Executor;
    use hyper::rt::Timer;

    fn assert_send_sync<T: Send + Sync>(_: &T) {}

    #[test]
    fn hyper_sleeps_fire_on_the_executor_and_can_be_moved_later() {
        let executor = Executor::new();
        let started = Instant::now();
        executor.block_on(async {
            let mut sleep = HyperTimer.sleep(Duration::from_millis(20));
            assert_send_sync(&sleep);
            // Moved earlier while armed: it fires at the new deadline.
            std::future::poll_fn(|cx| {
                let _ = sleep.as_mut().poll(cx);
                Poll::Ready(())
            })
            .await;
            HyperTimer.reset(&mut sleep, Instant::now() + Duration::from_millis(5));
            sleep.await;
        });
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(5) && took < Duration::from_millis(20), "took {took:?}");
    }

    #[test]
    fn a_dropped_hyper_sleep_leaves_no_armed_timer() {
        let executor = Executor::new();
        executor.block_on(async {
            let mut sleep = HyperTimer.sleep(Duration::from_secs(60));
            std::future::poll_fn(|cx| {
                assert!(sleep.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert!(current_timers().unwrap().next_deadline().is_some());
            drop(sleep);
            assert_eq!(current_timers().unwrap().next_deadline(), None);
        });
    }

    #[test]
    fn the_hyper_executor_runs_non_send_futures_on_the_core() {
        let executor = Executor::new();
        let seen = std::rc::Rc::new(std::cell::Cell::new(0));
        let s = seen.clone();
        executor.block_on(async move {
            hyper::rt::Executor::execute(&HyperExecutor, async move { s.set(7) });
            crate::runtime::yield_now().await;
        });
        assert_eq!(seen.get(), 7);
    }
}
