//! Resource alarms: conditions under which the broker should stop taking new work before it
//! fails. Today the disk-free alarm — free space on the data directory's file system below a
//! limit — which front-ends subscribe to (AMQP's `connection.blocked` follows it).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

/// Raised while the data directory's file system has less than `limit_bytes` free.
pub struct DiskAlarm {
    dir: PathBuf,
    limit_bytes: u64,
    raised: watch::Sender<bool>,
}

impl DiskAlarm {
    /// An alarm on the file system holding `dir`, raised below `limit_bytes` free (0: never).
    pub fn new(dir: impl Into<PathBuf>, limit_bytes: u64) -> DiskAlarm {
        DiskAlarm { dir: dir.into(), limit_bytes, raised: watch::channel(false).0 }
    }

    /// Follows the alarm: `true` while raised.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.raised.subscribe()
    }

    /// True while raised.
    pub fn is_raised(&self) -> bool {
        *self.raised.borrow()
    }

    /// Bytes free for unprivileged writers on the file system holding the data directory.
    pub fn free_bytes(&self) -> io::Result<u64> {
        let s = rustix::fs::statvfs(&self.dir).map_err(io::Error::from)?;
        Ok(s.f_bavail.saturating_mul(s.f_frsize))
    }

    /// Measures the free space now and raises or clears the alarm; returns the bytes free.
    pub fn check(&self) -> io::Result<u64> {
        let free = self.free_bytes()?;
        let raise = free < self.limit_bytes;
        let changed = self.raised.send_if_modified(|r| std::mem::replace(r, raise) != raise);
        if changed && raise {
            tracing::warn!(
                dir = %self.dir.display(), free_bytes = free, limit_bytes = self.limit_bytes,
                "disk-free alarm raised: writes may fail until space is freed"
            );
        } else if changed {
            tracing::info!(dir = %self.dir.display(), free_bytes = free, "disk-free alarm cleared");
        }
        Ok(free)
    }

    /// Checks every `interval_ms` until dropped (cancellation-safe: it only sleeps and checks).
    pub async fn watch(&self, interval_ms: u64) {
        let mut tick = tokio::time::interval(Duration::from_millis(interval_ms.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.check() {
                tracing::debug!(dir = %self.dir.display(), error = %e, "free space unknown");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alarm_follows_free_space_against_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let free = DiskAlarm::new(dir.path(), 0).free_bytes().unwrap();
        assert!(free > 0);

        let never = DiskAlarm::new(dir.path(), 0);
        never.check().unwrap();
        assert!(!never.is_raised());

        // A limit above what any file system here has free raises it, and subscribers see it.
        let always = DiskAlarm::new(dir.path(), u64::MAX);
        let mut rx = always.subscribe();
        always.check().unwrap();
        assert!(always.is_raised());
        assert!(rx.has_changed().unwrap() && *rx.borrow_and_update());
    }
}
