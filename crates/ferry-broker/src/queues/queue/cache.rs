//! Decoded messages from the last log read, and the state machine's view of the log.

use std::collections::VecDeque;

use super::super::codec::{self, StoredMessage};
use super::super::state::MessageSource;
use super::super::storage::MessageLog;
use super::READ_CHUNK_BYTES;

/// Decoded messages from the last log read, so sequential deliveries read each batch once.
#[derive(Debug, Default)]
pub(super) struct ReadCache {
    msgs: VecDeque<StoredMessage>,
    /// Offsets `[lo, hi)` are covered: a message absent in that range is not in the log.
    lo: u64,
    hi: u64,
}

impl ReadCache {
    pub(super) fn get(&mut self, log: &dyn MessageLog, offset: u64) -> Option<&StoredMessage> {
        if offset < self.lo || offset >= self.hi {
            let bytes = match log.read(offset, READ_CHUNK_BYTES) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(offset, error = %e, "queue log read failed");
                    return None;
                }
            };
            let mut msgs = Vec::new();
            if let Err(e) = codec::decode_batches(&bytes, offset, &mut msgs) {
                tracing::warn!(offset, error = %e, "queue log holds an undecodable batch");
            }
            self.lo = offset;
            self.hi = msgs.last().map(|m| m.offset + 1).unwrap_or(offset);
            self.msgs = msgs.into();
            if self.hi <= offset {
                return None;
            }
        }
        let i = self.msgs.binary_search_by_key(&offset, |m| m.offset).ok()?;
        self.msgs.get(i)
    }

    pub(super) fn clear(&mut self) {
        self.msgs.clear();
        self.lo = 0;
        self.hi = 0;
    }
}

pub(super) struct Source<'a> {
    pub(super) log: &'a dyn MessageLog,
    pub(super) cache: &'a mut ReadCache,
}

impl MessageSource for Source<'_> {
    fn meta(&mut self, offset: u64) -> Option<(i64, u32)> {
        self.cache
            .get(self.log, offset)
            .map(|m| (m.timestamp_ms, u32::try_from(m.size_bytes()).unwrap_or(u32::MAX)))
    }
}
