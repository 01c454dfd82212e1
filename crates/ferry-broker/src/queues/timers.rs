//! A timer index for lease ends and delays: offsets in buckets of [`BUCKET_MS`], 8 bytes per
//! entry when many messages share a bucket (a receive of many messages, a burst of delayed
//! sends). Entries are never removed early: an entry whose message was acked, re-leased or
//! settled meanwhile is recognised as stale (the caller's `deadline_of` no longer places it in
//! that bucket) and dropped when its bucket comes due.

use std::collections::BTreeMap;

/// Width of a bucket.
pub const BUCKET_MS: i64 = 64;

fn bucket(at_ms: i64) -> i64 {
    at_ms.div_euclid(BUCKET_MS)
}

/// Offsets by the bucket of their deadline.
#[derive(Debug, Default)]
pub struct Wheel {
    buckets: BTreeMap<i64, Vec<u64>>,
}

impl Wheel {
    /// Schedules `offset` at `at_ms`.
    pub fn push(&mut self, at_ms: i64, offset: u64) {
        self.buckets.entry(bucket(at_ms)).or_default().push(offset);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.buckets.clear();
    }

    /// Removes and returns the offsets due at `now_ms`, in deadline order. `deadline_of` gives
    /// an offset's current deadline if it is still scheduled on this wheel (`None`: stale).
    pub fn pop_due(&mut self, now_ms: i64, deadline_of: impl Fn(u64) -> Option<i64>) -> Vec<u64> {
        let mut due: Vec<(i64, u64)> = Vec::new();
        while let Some(mut entry) = self.buckets.first_entry() {
            let b = *entry.key();
            if b > bucket(now_ms) {
                break;
            }
            let entries = entry.get_mut();
            entries.retain(|&o| match deadline_of(o) {
                Some(d) if bucket(d) == b && d <= now_ms => {
                    due.push((d, o));
                    false
                }
                Some(d) => bucket(d) == b,
                None => false,
            });
            if entries.is_empty() {
                entry.remove();
            } else {
                // What is left is due later in this very bucket.
                break;
            }
        }
        due.sort_unstable();
        due.dedup_by_key(|e| e.1);
        due.into_iter().map(|(_, o)| o).collect()
    }

    /// The earliest live deadline, dropping buckets that hold only stale entries.
    pub fn next(&mut self, deadline_of: impl Fn(u64) -> Option<i64>) -> Option<i64> {
        while let Some(mut entry) = self.buckets.first_entry() {
            let b = *entry.key();
            let entries = entry.get_mut();
            entries.retain(|&o| deadline_of(o).is_some_and(|d| bucket(d) == b));
            match entries.iter().filter_map(|&o| deadline_of(o)).min() {
                Some(d) => return Some(d),
                None => {
                    entry.remove();
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn stale_entries_never_fire_and_live_ones_fire_in_order() {
        let mut w = Wheel::default();
        let mut deadlines: HashMap<u64, i64> = HashMap::new();
        for (o, d) in [(1, 100), (2, 50), (3, 500), (4, 70)] {
            w.push(d, o);
            deadlines.insert(o, d);
        }
        // 2 was acked, 3 re-leased to an earlier time.
        deadlines.remove(&2);
        deadlines.insert(3, 90);
        w.push(90, 3);
        assert_eq!(w.next(|o| deadlines.get(&o).copied()), Some(70));
        assert_eq!(w.pop_due(95, |o| deadlines.get(&o).copied()), vec![4, 3]);
        assert_eq!(w.pop_due(99, |o| deadlines.get(&o).copied()), Vec::<u64>::new());
        assert_eq!(w.pop_due(100, |o| deadlines.get(&o).copied()), vec![1]);
        deadlines.clear();
        assert_eq!(w.next(|o| deadlines.get(&o).copied()), None);
    }
}
