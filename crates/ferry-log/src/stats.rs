//! Process-wide figures of the storage engine, read by the metrics endpoint: how long fsyncs
//! take and how many records each one makes durable (the group commit's batch).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Most buckets a histogram has (its bounds plus `+Inf`).
const BUCKETS_MAX: usize = 24;

/// Bucket bounds for latencies, in nanoseconds (50 µs to 10 s).
pub const LATENCY_BOUNDS_NS: &[u64] = &[
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Bucket bounds for counts per batch (1 to 4096).
pub const BATCH_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

/// A histogram of whole-number observations with fixed bucket bounds, updated with relaxed
/// atomics (an observation costs a few uncontended adds; no lock).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    buckets: [AtomicU64; BUCKETS_MAX],
    count: AtomicU64,
    sum: AtomicU64,
}

/// A histogram's figures at one moment, in Prometheus's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Upper bounds of the finite buckets, in the histogram's unit.
    pub bounds: &'static [u64],
    /// Observations at or below each bound, cumulative (one per bound).
    pub cumulative: Vec<u64>,
    /// Every observation (the `+Inf` bucket).
    pub count: u64,
    /// Sum of the observations, in the histogram's unit.
    pub sum: u64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending, fewer than 24).
    pub const fn new(bounds: &'static [u64]) -> Histogram {
        assert!(bounds.len() < BUCKETS_MAX);
        Histogram {
            bounds,
            buckets: [const { AtomicU64::new(0) }; BUCKETS_MAX],
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    /// Counts one observation.
    pub fn observe(&self, value: u64) {
        let bucket = self.bounds.partition_point(|&bound| bound < value);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Counts one duration, in nanoseconds.
    pub fn observe_duration(&self, elapsed: Duration) {
        self.observe(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The figures now. Concurrent observations may be seen in some fields and not others.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let cumulative = (0..self.bounds.len())
            .map(|i| {
                running += self.buckets[i].load(Ordering::Relaxed);
                running
            })
            .collect();
        let count = self.count.load(Ordering::Relaxed);
        HistogramSnapshot {
            bounds: self.bounds,
            cumulative,
            count: count.max(running),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// Duration of every log fsync (topic partitions and queue logs), in nanoseconds.
pub static FSYNC_LATENCY: Histogram = Histogram::new(LATENCY_BOUNDS_NS);

/// Records made durable by each log fsync (the group commit's batch size).
pub static GROUP_COMMIT_RECORDS: Histogram = Histogram::new(BATCH_BOUNDS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_the_first_bucket_at_or_above_them() {
        let h = Histogram::new(&[1, 10, 100]);
        for v in [0, 1, 2, 10, 11, 100, 101, 5000] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![2, 4, 6]);
        assert_eq!(s.count, 8);
        assert_eq!(s.sum, 1 + 2 + 10 + 11 + 100 + 101 + 5000);
    }

    #[test]
    fn durations_are_counted_in_nanoseconds() {
        let h = Histogram::new(LATENCY_BOUNDS_NS);
        h.observe_duration(Duration::from_micros(700));
        let s = h.snapshot();
        assert_eq!(s.sum, 700_000);
        assert_eq!(s.cumulative[LATENCY_BOUNDS_NS.iter().position(|&b| b == 1_000_000).unwrap()], 1);
        assert_eq!(s.cumulative[LATENCY_BOUNDS_NS.iter().position(|&b| b == 500_000).unwrap()], 0);
    }
}
