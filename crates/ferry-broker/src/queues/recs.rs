//! A compact map from offsets to per-message records: chunks of 64 consecutive offsets, each a
//! presence bitmap and a dense vector of the records present, so that records of neighbouring
//! messages (the usual case: in flight together, prioritised together) cost little more than
//! the records themselves.

use std::collections::BTreeMap;

const CHUNK_SHIFT: u32 = 6;
const CHUNK_MASK: u64 = (1 << CHUNK_SHIFT) - 1;

#[derive(Debug)]
struct Chunk<T> {
    bits: u64,
    recs: Vec<T>,
}

/// An ordered map `u64 -> T` optimised for clustered keys.
#[derive(Debug)]
pub struct RecStore<T> {
    chunks: BTreeMap<u64, Chunk<T>>,
    len: usize,
}

impl<T> Default for RecStore<T> {
    fn default() -> Self {
        RecStore { chunks: BTreeMap::new(), len: 0 }
    }
}

fn split(offset: u64) -> (u64, u32) {
    (offset >> CHUNK_SHIFT, (offset & CHUNK_MASK) as u32)
}

fn rank(bits: u64, bit: u32) -> usize {
    (bits & ((1u64 << bit) - 1)).count_ones() as usize
}

impl<T> RecStore<T> {
    /// The record at `offset`.
    pub fn get(&self, offset: &u64) -> Option<&T> {
        let (key, bit) = split(*offset);
        let c = self.chunks.get(&key)?;
        if c.bits & (1 << bit) == 0 {
            return None;
        }
        c.recs.get(rank(c.bits, bit))
    }

    /// The record at `offset`, mutably.
    pub fn get_mut(&mut self, offset: &u64) -> Option<&mut T> {
        let (key, bit) = split(*offset);
        let c = self.chunks.get_mut(&key)?;
        if c.bits & (1 << bit) == 0 {
            return None;
        }
        let i = rank(c.bits, bit);
        c.recs.get_mut(i)
    }

    /// True when `offset` has a record.
    pub fn contains_key(&self, offset: &u64) -> bool {
        let (key, bit) = split(*offset);
        self.chunks.get(&key).is_some_and(|c| c.bits & (1 << bit) != 0)
    }

    /// Sets the record at `offset`, returning the one it replaces.
    pub fn insert(&mut self, offset: u64, rec: T) -> Option<T> {
        let (key, bit) = split(offset);
        let c = self.chunks.entry(key).or_insert_with(|| Chunk { bits: 0, recs: Vec::with_capacity(1) });
        let i = rank(c.bits, bit);
        if c.bits & (1 << bit) != 0 {
            return Some(std::mem::replace(&mut c.recs[i], rec));
        }
        c.bits |= 1 << bit;
        c.recs.insert(i, rec);
        self.len += 1;
        None
    }

    /// Removes and returns the record at `offset`.
    pub fn remove(&mut self, offset: &u64) -> Option<T> {
        let (key, bit) = split(*offset);
        let c = self.chunks.get_mut(&key)?;
        if c.bits & (1 << bit) == 0 {
            return None;
        }
        let rec = c.recs.remove(rank(c.bits, bit));
        c.bits &= !(1 << bit);
        self.len -= 1;
        if c.bits == 0 {
            self.chunks.remove(&key);
        } else if c.recs.capacity() >= 4 * c.recs.len() {
            c.recs.shrink_to(2 * c.recs.len());
        }
        Some(rec)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Removes every record.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }

    /// Records in offset order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> + '_ {
        self.chunks.iter().flat_map(|(&key, c)| {
            let mut bits = c.bits;
            c.recs.iter().map(move |r| {
                let bit = bits.trailing_zeros();
                bits &= bits - 1;
                ((key << CHUNK_SHIFT) | u64::from(bit), r)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn behaves_like_a_btreemap(ops in proptest::collection::vec((0u64..300, any::<bool>()), 0..300)) {
            let mut s = RecStore::default();
            let mut m = BTreeMap::new();
            for (k, ins) in ops {
                if ins {
                    prop_assert_eq!(s.insert(k, k * 10), m.insert(k, k * 10));
                } else {
                    prop_assert_eq!(s.remove(&k), m.remove(&k));
                }
                prop_assert_eq!(s.len(), m.len());
                prop_assert_eq!(s.get(&k), m.get(&k));
                prop_assert_eq!(s.contains_key(&(k + 1)), m.contains_key(&(k + 1)));
            }
            let a: Vec<(u64, u64)> = s.iter().map(|(k, v)| (k, *v)).collect();
            let b: Vec<(u64, u64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(a, b);
        }
    }
}
