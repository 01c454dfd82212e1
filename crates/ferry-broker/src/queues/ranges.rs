//! A compact set of `u64` offsets stored as disjoint half-open ranges, for settled messages:
//! a queue consumed in order keeps a single range however many messages it has seen.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Disjoint, non-adjacent half-open ranges `[start, end)`, keyed by start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeSet {
    ranges: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// The empty set.
    pub fn new() -> RangeSet {
        RangeSet::default()
    }

    /// True when `x` is in the set.
    pub fn contains(&self, x: u64) -> bool {
        self.ranges.range(..=x).next_back().is_some_and(|(_, &end)| x < end)
    }

    /// The end of the range containing `x`, or `x` itself when `x` is not in the set: the first
    /// offset at or after `x` that is not in the set.
    pub fn skip(&self, x: u64) -> u64 {
        match self.ranges.range(..=x).next_back() {
            Some((_, &end)) if x < end => end,
            _ => x,
        }
    }

    /// Adds `x`.
    pub fn insert(&mut self, x: u64) {
        self.insert_range(x, x + 1);
    }

    /// Adds `[start, end)`, merging with neighbours.
    pub fn insert_range(&mut self, mut start: u64, mut end: u64) {
        if start >= end {
            return;
        }
        if let Some((&s, &e)) = self.ranges.range(..=start).next_back()
            && e >= start
        {
            start = s;
            end = end.max(e);
        }
        let overlapped: Vec<(u64, u64)> = self.ranges.range(start..=end).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in overlapped {
            self.ranges.remove(&s);
            end = end.max(e);
        }
        self.ranges.insert(start, end);
    }

    /// Removes everything below `x` (the log start moved past it).
    pub fn trim_below(&mut self, x: u64) {
        let below: Vec<u64> = self.ranges.range(..x).map(|(&s, _)| s).collect();
        for s in below {
            if let Some(e) = self.ranges.remove(&s)
                && e > x
            {
                self.ranges.insert(x, e);
            }
        }
    }

    /// How many offsets of `[start, end)` are in the set.
    pub fn count_in(&self, start: u64, end: u64) -> u64 {
        let mut n = 0;
        let first = self.ranges.range(..=start).next_back().map(|(&s, _)| s).unwrap_or(start);
        for (&s, &e) in self.ranges.range(first..end) {
            let lo = s.max(start);
            let hi = e.min(end);
            if hi > lo {
                n += hi - lo;
            }
        }
        n
    }

    /// Number of ranges (a measure of fragmentation).
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// The ranges in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(&s, &e)| (s, e))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn in_order_settlement_keeps_one_range() {
        let mut r = RangeSet::new();
        for x in 0..10_000 {
            r.insert(x);
        }
        assert_eq!(r.range_count(), 1);
        assert_eq!(r.skip(0), 10_000);
    }

    proptest! {
        #[test]
        fn behaves_like_a_set_of_offsets(
            ops in proptest::collection::vec((0u64..200, 1u64..20, 0u8..3), 0..100),
            probe in 0u64..230,
        ) {
            let mut r = RangeSet::new();
            let mut model = BTreeSet::new();
            for (a, len, kind) in ops {
                match kind {
                    0 => { r.insert(a); model.insert(a); }
                    1 => { r.insert_range(a, a + len); model.extend(a..a + len); }
                    _ => { r.trim_below(a); model.retain(|&x| x >= a); }
                }
            }
            prop_assert_eq!(r.contains(probe), model.contains(&probe));
            let mut s = probe;
            while model.contains(&s) { s += 1; }
            prop_assert_eq!(r.skip(probe), s);
            prop_assert_eq!(r.count_in(probe / 2, probe), model.range(probe / 2..probe).count() as u64);
            let ranges: Vec<_> = r.iter().collect();
            for w in ranges.windows(2) {
                prop_assert!(w[0].1 < w[1].0, "ranges must be disjoint and not adjacent");
            }
        }
    }
}
