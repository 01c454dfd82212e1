//! Property test: any sequence of appends, reads, timestamp lookups, rolls, retention (bytes and
//! time), start-offset moves and restarts (clean or crash) gives the answers of a simple
//! in-memory model.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Rec, encode, with_base};
use ferry_log::fault::FaultyDisk;
use ferry_log::{Durability, Log, LogConfig};
use proptest::prelude::*;

const SEGMENT_BYTES: u64 = 1500;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: SEGMENT_BYTES,
        index_interval_bytes: 200,
        durability: Durability::Always,
        ..LogConfig::default()
    }
}

#[derive(Clone, Debug)]
enum Op {
    Append { records: usize, value_len: usize, ts: i64 },
    Read { pick: u64, max_bytes: usize },
    OffsetForTimestamp { ts: i64 },
    Roll,
    RetainBytes { limit: u64 },
    RetainTime { now_ms: i64, retention_ms: u64 },
    AdvanceStart { pick: u64 },
    Restart { crash: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..5, 0usize..300, 0i64..1000)
            .prop_map(|(records, value_len, ts)| Op::Append { records, value_len, ts }),
        4 => (any::<u64>(), 1usize..2500).prop_map(|(pick, max_bytes)| Op::Read { pick, max_bytes }),
        1 => (0i64..1100).prop_map(|ts| Op::OffsetForTimestamp { ts }),
        1 => Just(Op::Roll),
        1 => (0u64..6000).prop_map(|limit| Op::RetainBytes { limit }),
        1 => (0i64..1500, 0u64..1000).prop_map(|(now_ms, retention_ms)| Op::RetainTime { now_ms, retention_ms }),
        1 => any::<u64>().prop_map(|pick| Op::AdvanceStart { pick }),
        1 => any::<bool>().prop_map(|crash| Op::Restart { crash }),
    ]
}

struct Batch {
    base: u64,
    last: u64,
    max_ts: i64,
    bytes: Vec<u8>,
}

/// Segments of batches, the rolling rule, and the start offset: the whole specification.
struct Model {
    segments: Vec<Vec<Batch>>,
    next_offset: u64,
    log_start: u64,
}

impl Model {
    fn seg_size(seg: &[Batch]) -> u64 {
        seg.iter().map(|b| b.bytes.len() as u64).sum()
    }

    fn size(&self) -> u64 {
        self.segments.iter().map(|s| Model::seg_size(s)).sum()
    }

    fn roll(&mut self) {
        if !self.segments.last().is_some_and(|s| s.is_empty()) {
            self.segments.push(Vec::new());
            // A closed segment wholly below the start offset is deleted as it closes.
            if self.segment_base(1) <= self.log_start {
                self.segments.remove(0);
            }
        }
    }

    fn append(&mut self, raw: &[u8], records: usize, ts: i64) -> u64 {
        let active = self.segments.last().expect("one segment");
        if !active.is_empty() && Model::seg_size(active) + raw.len() as u64 > SEGMENT_BYTES {
            self.roll();
        }
        let base = self.next_offset;
        let last = base + records as u64 - 1;
        self.segments.last_mut().expect("one segment").push(Batch {
            base,
            last,
            max_ts: ts,
            bytes: with_base(raw, base),
        });
        self.next_offset = last + 1;
        base
    }

    fn read(&self, offset: u64, max_bytes: usize) -> (Vec<u8>, u64) {
        for seg in &self.segments {
            let Some(i) = seg.iter().position(|b| b.last >= offset) else { continue };
            let mut out = Vec::new();
            let mut next = offset;
            for b in &seg[i..] {
                if !out.is_empty() && out.len() + b.bytes.len() > max_bytes {
                    break;
                }
                out.extend_from_slice(&b.bytes);
                next = b.last + 1;
            }
            return (out, next);
        }
        (Vec::new(), offset)
    }

    fn offset_for_timestamp(&self, ts: i64) -> Option<(u64, i64)> {
        self.segments
            .iter()
            .flatten()
            .find(|b| b.max_ts >= ts && b.last >= self.log_start)
            .map(|b| (b.base.max(self.log_start), b.max_ts))
    }

    fn segment_base(&self, i: usize) -> u64 {
        self.segments[i].first().map_or(self.next_offset, |b| b.base)
    }

    fn drop_first_segment(&mut self) {
        self.segments.remove(0);
        self.log_start = self.log_start.max(self.segment_base(0));
    }

    fn retain_bytes(&mut self, limit: u64) -> u64 {
        let mut total = self.size();
        let mut deleted = 0;
        while self.segments.len() > 1 && total - Model::seg_size(&self.segments[0]) >= limit {
            total -= Model::seg_size(&self.segments[0]);
            self.drop_first_segment();
            deleted += 1;
        }
        deleted
    }

    fn retain_time(&mut self, now_ms: i64, retention_ms: u64) -> u64 {
        let mut deleted = 0;
        while self.segments.len() > 1 {
            let max_ts = self.segments[0].iter().map(|b| b.max_ts).max().unwrap_or(-1);
            if max_ts < 0 || max_ts >= now_ms - retention_ms as i64 {
                break;
            }
            self.drop_first_segment();
            deleted += 1;
        }
        deleted
    }

    fn advance_start(&mut self, offset: u64) {
        if offset <= self.log_start {
            return;
        }
        self.log_start = offset;
        while self.segments.len() > 1 && self.segment_base(1) <= offset {
            self.segments.remove(0);
        }
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = Path::new("/model/p0");
    let disk = Arc::new(FaultyDisk::new(ops.len() as u64));
    let mut log = Log::open_with(dir, config(), disk.clone()).expect("open");
    let mut model = Model { segments: vec![Vec::new()], next_offset: 0, log_start: 0 };
    for op in ops {
        match op {
            Op::Append { records, value_len, ts } => {
                let value = vec![b'x'; value_len];
                let recs: Vec<Rec<'_>> = (0..records)
                    .map(|_| Rec { key: Some(b"k"), value: Some(&value), timestamp: ts })
                    .collect();
                let raw = encode(&recs);
                let info = log.append(&raw).expect("append");
                prop_assert_eq!(info.base_offset, model.append(&raw, records, ts));
            }
            Op::Read { pick, max_bytes } => {
                let span = model.next_offset - model.log_start + 1;
                let offset = model.log_start + pick % span;
                let got = log.read(offset, max_bytes, log.next_offset()).expect("read");
                let (bytes, next) = model.read(offset, max_bytes);
                prop_assert_eq!(got.next_offset, next);
                prop_assert!(got.bytes == bytes, "read at {} differs", offset);
            }
            Op::OffsetForTimestamp { ts } => {
                prop_assert_eq!(
                    log.offset_for_timestamp(ts).expect("lookup"),
                    model.offset_for_timestamp(ts)
                );
            }
            Op::Roll => {
                log.roll().expect("roll");
                model.roll();
            }
            Op::RetainBytes { limit } => {
                log.update_config(LogConfig { retention_bytes: Some(limit), ..config() });
                let deleted = log.enforce_retention(0).expect("retention");
                prop_assert_eq!(deleted, model.retain_bytes(limit));
            }
            Op::RetainTime { now_ms, retention_ms } => {
                log.update_config(LogConfig { retention_ms: Some(retention_ms), ..config() });
                let deleted = log.enforce_retention(now_ms).expect("retention");
                prop_assert_eq!(deleted, model.retain_time(now_ms, retention_ms));
            }
            Op::AdvanceStart { pick } => {
                let span = model.next_offset - model.log_start + 1;
                let offset = model.log_start + pick % span;
                log.advance_start_offset(offset).expect("advance");
                model.advance_start(offset);
            }
            Op::Restart { crash } => {
                if crash {
                    drop(log);
                    disk.crash(true);
                } else {
                    log.close().expect("close");
                }
                log = Log::open_with(dir, config(), disk.clone()).expect("reopen");
            }
        }
        prop_assert_eq!(log.next_offset(), model.next_offset);
        prop_assert_eq!(log.durable_offset(), model.next_offset);
        prop_assert_eq!(log.log_start_offset(), model.log_start);
        prop_assert_eq!(log.size_bytes(), model.size());
        prop_assert_eq!(log.segment_count(), model.segments.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
