//! Idempotent-producer state of one partition: per producer id, its epoch and its last batches.
//!
//! A producer numbers its batches per partition; the broker keeps the sequence ranges of the last
//! [`BATCHES_KEPT`] batches so that a retried batch is answered with the offsets it got the first time,
//! a gap is refused, and a fenced (older) epoch is refused. The state is rebuilt from the log tail on
//! open, so it survives a restart without a separate journal.

use std::collections::{HashMap, VecDeque};

/// How many recent batches per producer are remembered; Kafka clients keep at most 5 in flight.
pub const BATCHES_KEPT: usize = 5;

/// The position a batch got in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPosition {
    /// Offset of the first record.
    pub base_offset: u64,
    /// Offset of the last record.
    pub last_offset: u64,
}

#[derive(Clone, Copy, Debug)]
struct BatchEntry {
    first_seq: i32,
    last_seq: i32,
    position: BatchPosition,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchEntry>,
}

/// The identity and numbering a batch carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchIdentity {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// Sequence of the first record.
    pub first_seq: i32,
    /// Sequence of the last record.
    pub last_seq: i32,
}

impl BatchIdentity {
    /// The identity of an idempotent batch, or `None` for a batch without producer numbering.
    pub fn of(producer_id: i64, epoch: i16, base_sequence: i32, last_offset_delta: i32) -> Option<Self> {
        if producer_id < 0 || base_sequence < 0 || epoch < 0 {
            return None;
        }
        let last_seq = ((base_sequence as i64 + last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32;
        Some(BatchIdentity { producer_id, epoch, first_seq: base_sequence, last_seq })
    }
}

/// What to do with an incoming idempotent batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Append,
    /// It was appended before; answer with its original position.
    Duplicate(BatchPosition),
    /// Refuse it: an earlier batch is missing.
    OutOfOrder {
        /// The sequence the broker expected.
        expected: i32,
    },
    /// Refuse it: a newer epoch of this producer exists.
    StaleEpoch {
        /// The current epoch.
        current: i16,
    },
}

/// Producer states of one partition.
#[derive(Debug, Default)]
pub struct ProducerTable {
    producers: HashMap<i64, ProducerEntry>,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerTable {
    /// Decides whether `batch` is new, a retry, out of order, or fenced.
    pub fn check(&self, batch: &BatchIdentity) -> SequenceCheck {
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            // Unknown producer (new, or its state aged out of the scanned tail): accept, as Kafka does.
            return SequenceCheck::Append;
        };
        if batch.epoch < entry.epoch {
            return SequenceCheck::StaleEpoch { current: entry.epoch };
        }
        if batch.epoch > entry.epoch {
            return if batch.first_seq == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::OutOfOrder { expected: 0 }
            };
        }
        if let Some(dup) =
            entry.batches.iter().find(|b| b.first_seq == batch.first_seq && b.last_seq == batch.last_seq)
        {
            return SequenceCheck::Duplicate(dup.position);
        }
        match entry.batches.back() {
            Some(last) if batch.first_seq != next_seq(last.last_seq) => {
                SequenceCheck::OutOfOrder { expected: next_seq(last.last_seq) }
            }
            _ => SequenceCheck::Append,
        }
    }

    /// Records that `batch` was appended at `position`.
    pub fn record(&mut self, batch: &BatchIdentity, position: BatchPosition) {
        let entry = self.producers.entry(batch.producer_id).or_default();
        if batch.epoch != entry.epoch {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(BatchEntry {
            first_seq: batch.first_seq,
            last_seq: batch.last_seq,
            position,
        });
        while entry.batches.len() > BATCHES_KEPT {
            entry.batches.pop_front();
        }
    }

    /// Number of producers known to this partition.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer is known.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(epoch: i16, first: i32, count: i32) -> BatchIdentity {
        BatchIdentity::of(7, epoch, first, count - 1).expect("idempotent")
    }

    fn pos(base: u64, count: u64) -> BatchPosition {
        BatchPosition { base_offset: base, last_offset: base + count - 1 }
    }

    #[test]
    fn retried_batch_is_answered_with_its_original_position() {
        let mut table = ProducerTable::default();
        table.record(&batch(0, 0, 3), pos(10, 3));
        table.record(&batch(0, 3, 2), pos(13, 2));
        assert_eq!(table.check(&batch(0, 0, 3)), SequenceCheck::Duplicate(pos(10, 3)));
        assert_eq!(table.check(&batch(0, 3, 2)), SequenceCheck::Duplicate(pos(13, 2)));
        assert_eq!(table.check(&batch(0, 5, 1)), SequenceCheck::Append);
    }

    #[test]
    fn sequence_gap_is_out_of_order() {
        let mut table = ProducerTable::default();
        table.record(&batch(0, 0, 3), pos(0, 3));
        assert_eq!(table.check(&batch(0, 4, 1)), SequenceCheck::OutOfOrder { expected: 3 });
    }

    #[test]
    fn older_epoch_is_fenced_and_newer_epoch_restarts_at_zero() {
        let mut table = ProducerTable::default();
        table.record(&batch(2, 0, 1), pos(0, 1));
        assert_eq!(table.check(&batch(1, 1, 1)), SequenceCheck::StaleEpoch { current: 2 });
        assert_eq!(table.check(&batch(3, 5, 1)), SequenceCheck::OutOfOrder { expected: 0 });
        assert_eq!(table.check(&batch(3, 0, 1)), SequenceCheck::Append);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut table = ProducerTable::default();
        for i in 0..6 {
            table.record(&batch(0, i, 1), pos(i as u64, 1));
        }
        assert_eq!(table.check(&batch(0, 0, 1)), SequenceCheck::OutOfOrder { expected: 6 });
        assert_eq!(table.check(&batch(0, 1, 1)), SequenceCheck::Duplicate(pos(1, 1)));
    }

    #[test]
    fn sequence_wraps_after_i32_max() {
        let mut table = ProducerTable::default();
        table.record(&batch(0, i32::MAX, 1), pos(0, 1));
        assert_eq!(table.check(&batch(0, 0, 1)), SequenceCheck::Append);
    }
}
