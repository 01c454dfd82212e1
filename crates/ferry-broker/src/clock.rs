//! Time as the broker sees it, injectable so that tests control it.
//!
//! Every timer in ferry-broker (leases, delays, TTLs, session timeouts) reads [`Clock::now_ms`]
//! and waits with [`Clock::sleep_until`]; production uses [`SystemClock`], tests a [`ManualClock`]
//! that only moves when the test calls [`ManualClock::advance`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// A boxed future returned by [`Clock::sleep_until`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Resolves once `now_ms() >= deadline_ms`. Cancellation-safe: dropping it cancels nothing else.
    fn sleep_until(&self, deadline_ms: i64) -> Sleep;
}

/// The real clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The real clock, shared.
    pub fn shared() -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }

    fn sleep_until(&self, deadline_ms: i64) -> Sleep {
        let wait_ms = deadline_ms.saturating_sub(self.now_ms()).max(0) as u64;
        Box::pin(tokio::time::sleep(Duration::from_millis(wait_ms)))
    }
}

/// A clock for tests: starts at a given instant and moves only through [`ManualClock::advance`]
/// or [`ManualClock::set`], waking every sleeper whose deadline has come.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<watch::Sender<i64>>,
}

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: i64) -> ManualClock {
        ManualClock { now: Arc::new(watch::Sender::new(start_ms)) }
    }

    /// Moves time forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.now.send_modify(|now| *now += ms as i64);
    }

    /// Sets the time to `now_ms` (never backwards: an earlier value is ignored).
    pub fn set(&self, now_ms: i64) {
        self.now.send_modify(|now| *now = (*now).max(now_ms));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline_ms: i64) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as any clone of the clock; if every clone is gone
            // nobody can advance time any more, so the sleeper simply never wakes.
            if rx.wait_for(|now| *now >= deadline_ms).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_only_when_their_deadline_passes() {
        let clock = ManualClock::new(1_000);
        let early = tokio::spawn(clock.sleep_until(1_500));
        let late = tokio::spawn(clock.sleep_until(3_000));
        tokio::task::yield_now().await;
        clock.advance(499);
        tokio::task::yield_now().await;
        assert!(!early.is_finished());
        clock.advance(1);
        early.await.unwrap();
        assert!(!late.is_finished());
        clock.set(3_000);
        late.await.unwrap();
        assert_eq!(clock.now_ms(), 3_000);
    }

    #[tokio::test]
    async fn manual_clock_never_moves_backwards() {
        let clock = ManualClock::new(10);
        clock.set(5);
        assert_eq!(clock.now_ms(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn system_clock_sleeps_until_the_deadline() {
        let clock = SystemClock;
        let before = tokio::time::Instant::now();
        clock.sleep_until(clock.now_ms() + 250).await;
        assert!(before.elapsed() >= Duration::from_millis(240));
    }
}
