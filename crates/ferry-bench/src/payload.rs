//! The bytes every workload sends: a printable header carrying the send time and whether the
//! message belongs to the measured part of the run, padded to the message size. Printable so
//! that text-only bodies (SQS) carry it unchanged.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Header length: 16 hex digits of nanoseconds since [`epoch`], then the phase digit.
pub const HEADER_LEN: usize = 17;

/// Whether a message counts towards the figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    WarmUp,
    Measured,
}

/// The instant all timestamps of this process count from.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds from [`epoch`] to `at`.
pub fn nanos(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_nanos() as u64
}

/// A `size`-byte payload stamped with `sent` (at least [`HEADER_LEN`] bytes).
pub fn encode(sent: Instant, phase: Phase, size: usize) -> Vec<u8> {
    let mut out =
        format!("{:016x}{}", nanos(sent), if phase == Phase::Measured { '1' } else { '0' }).into_bytes();
    out.resize(size.max(HEADER_LEN), b'.');
    out
}

/// The send time and phase of a payload made by [`encode`]; `None` for anything else.
pub fn decode(payload: &[u8]) -> Option<(Instant, Phase)> {
    let header = std::str::from_utf8(payload.get(..HEADER_LEN)?).ok()?;
    let sent = u64::from_str_radix(&header[..16], 16).ok()?;
    let phase = match &header[16..] {
        "1" => Phase::Measured,
        "0" => Phase::WarmUp,
        _ => return None,
    };
    Some((epoch() + Duration::from_nanos(sent), phase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_carries_its_send_time_and_phase_at_any_size() {
        let sent = epoch() + Duration::from_nanos(123_456_789);
        for size in [0, HEADER_LEN, 100, 1024] {
            let payload = encode(sent, Phase::Measured, size);
            assert_eq!(payload.len(), size.max(HEADER_LEN));
            assert_eq!(decode(&payload), Some((sent, Phase::Measured)));
        }
        assert_eq!(decode(&encode(sent, Phase::WarmUp, 100)).map(|d| d.1), Some(Phase::WarmUp));
        assert_eq!(decode(b"not a bench payload"), None);
    }
}
