//! Resource alarms: conditions under which the broker should stop taking new work before it
//! fails: the disk-free alarm (free space on the data directory's file system below a limit)
//! and the memory alarm (the process's resident memory above a high watermark), which
//! front-ends subscribe to (AMQP's `connection.blocked` follows both).

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

/// Raised while the process's resident memory (RSS) is above `limit_bytes`, as RabbitMQ's
/// `vm_memory_high_watermark`.
pub struct MemoryAlarm {
    limit_bytes: u64,
    raised: watch::Sender<bool>,
}

impl MemoryAlarm {
    /// An alarm raised above `limit_bytes` of resident memory (0: never).
    pub fn new(limit_bytes: u64) -> MemoryAlarm {
        MemoryAlarm { limit_bytes, raised: watch::channel(false).0 }
    }

    /// The high watermark, in bytes (0: the alarm is off).
    pub fn limit_bytes(&self) -> u64 {
        self.limit_bytes
    }

    /// Follows the alarm: `true` while raised.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.raised.subscribe()
    }

    /// True while raised.
    pub fn is_raised(&self) -> bool {
        *self.raised.borrow()
    }

    /// Measures the resident memory now and raises or clears the alarm; returns it in bytes.
    pub fn check(&self) -> io::Result<u64> {
        let rss = resident_bytes()?;
        self.update(rss);
        Ok(rss)
    }

    /// Raises or clears the alarm for `rss_bytes` of resident memory.
    pub fn update(&self, rss_bytes: u64) {
        let raise = self.limit_bytes > 0 && rss_bytes > self.limit_bytes;
        let changed = self.raised.send_if_modified(|r| std::mem::replace(r, raise) != raise);
        if changed && raise {
            tracing::warn!(
                rss_bytes,
                limit_bytes = self.limit_bytes,
                "memory alarm raised: publishers are blocked until memory use falls"
            );
        } else if changed {
            tracing::info!(rss_bytes, "memory alarm cleared");
        }
    }

    /// Checks every `interval_ms` until dropped (cancellation-safe: it only sleeps and checks).
    pub async fn watch(&self, interval_ms: u64) {
        if self.limit_bytes == 0 {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(interval_ms.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.check() {
                tracing::debug!(error = %e, "resident memory unknown");
            }
        }
    }
}

/// The process's resident memory, in bytes (`VmRSS` of `/proc/self/status`; Linux only).
pub fn resident_bytes() -> io::Result<u64> {
    kib_field(&std::fs::read_to_string("/proc/self/status")?, "VmRSS:")
}

/// The memory the process may use: the machine's (`MemTotal` of `/proc/meminfo`), or its
/// control group's limit when lower (`memory.max`, cgroup v2). Linux only.
pub fn total_memory_bytes() -> io::Result<u64> {
    let total = kib_field(&std::fs::read_to_string("/proc/meminfo")?, "MemTotal:")?;
    let cgroup =
        std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|s| s.trim().parse().ok());
    Ok(cgroup.map_or(total, |limit: u64| limit.min(total)))
}

/// The value of a `Name:   1234 kB` line, in bytes.
fn kib_field(text: &str, name: &str) -> io::Result<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .map(|kib| kib.saturating_mul(1024))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no {name} line")))
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

    #[test]
    fn the_memory_alarm_follows_resident_memory_against_its_high_watermark() {
        let alarm = MemoryAlarm::new(1000);
        let mut rx = alarm.subscribe();
        alarm.update(999);
        assert!(!alarm.is_raised());
        alarm.update(1001);
        assert!(alarm.is_raised() && rx.has_changed().unwrap() && *rx.borrow_and_update());
        alarm.update(10);
        assert!(!alarm.is_raised());

        let off = MemoryAlarm::new(0);
        off.update(u64::MAX);
        assert!(!off.is_raised());
    }

    #[test]
    fn resident_and_total_memory_are_read_from_proc() {
        let rss = resident_bytes().unwrap();
        let total = total_memory_bytes().unwrap();
        assert!(rss > 0 && total > rss, "rss {rss} total {total}");
        assert_eq!(kib_field("VmPeak:\t 10 kB\nVmRSS:\t   4 kB\n", "VmRSS:").unwrap(), 4096);
    }
}
