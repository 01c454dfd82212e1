use std::sync::Arc;

use crate::message::DeathCause;
use crate::queues::state::SettleReason;

use super::state::LogBounds;
use super::*;

const LOCK_MS: u64 = 30_000;

fn config(dlq: Option<&str>) -> ShareGroupConfig {
    ShareGroupConfig {
        record_lock_duration_ms: LOCK_MS,
        delivery_count_limit: 3,
        dead_letter_queue: dlq.map(str::to_owned),
        ..ShareGroupConfig::default()
    }
}

fn member(name: &str) -> Arc<str> {
    Arc::from(name)
}

/// A share-partition over offsets `start..end` of a log starting at 0.
fn share(start: u64, end: u64) -> ShareState {
    let mut s = ShareState::new(start);
    s.extend_to(end, 0);
    s
}

fn acquire(
    s: &mut ShareState,
    m: &Arc<str>,
    max: usize,
    now: i64,
    c: &ShareGroupConfig,
) -> Vec<AcquiredRange> {
    let (ranges, out) = s.acquire(m, max, now, c, &mut LogBounds { log_start: 0 });
    assert!(out.is_empty(), "nothing reached the limit: {out:?}");
    ranges
}

fn range(first: u64, last: u64, delivery_count: u32) -> AcquiredRange {
    AcquiredRange { first, last, delivery_count }
}

#[test]
fn members_acquire_disjoint_runs_in_offset_order() {
    let c = config(None);
    let mut s = share(0, 10);
    let (a, b) = (member("a"), member("b"));
    assert_eq!(acquire(&mut s, &a, 4, 0, &c), vec![range(0, 3, 1)]);
    assert_eq!(acquire(&mut s, &b, 100, 0, &c), vec![range(4, 9, 1)]);
    assert!(acquire(&mut s, &a, 100, 0, &c).is_empty());
    assert_eq!(s.stats().acquired, 10);
}

#[test]
fn accepted_records_are_archived_and_move_the_start_offset() {
    let c = config(None);
    let mut s = share(5, 10);
    let a = member("a");
    assert_eq!(acquire(&mut s, &a, 3, 0, &c), vec![range(5, 7, 1)]);
    for o in 5..=7 {
        assert!(s.acknowledge("a", o, AckKind::Accept, 0, &c).unwrap().is_empty());
    }
    assert_eq!(s.start_offset(), 8);
    assert_eq!(s.stats().acquired, 0);
    // Accepted twice: the record is no longer acquired.
    assert_eq!(s.acknowledge("a", 5, AckKind::Accept, 0, &c), Err(AckError::NotAcquired));
}

#[test]
fn only_the_holder_may_acknowledge() {
    let c = config(None);
    let mut s = share(0, 2);
    let a = member("a");
    acquire(&mut s, &a, 2, 0, &c);
    assert_eq!(s.acknowledge("b", 0, AckKind::Accept, 0, &c), Err(AckError::NotAcquired));
    assert!(s.held_by(0, "a"));
}

#[test]
fn released_records_come_back_with_a_higher_delivery_count() {
    let c = config(None);
    let mut s = share(0, 3);
    let (a, b) = (member("a"), member("b"));
    acquire(&mut s, &a, 3, 0, &c);
    s.acknowledge("a", 1, AckKind::Release, 0, &c).unwrap();
    assert_eq!(acquire(&mut s, &b, 10, 0, &c), vec![range(1, 1, 2)]);
}

#[test]
fn an_expired_lock_makes_the_record_available_again() {
    let c = config(None);
    let mut s = share(0, 2);
    let (a, b) = (member("a"), member("b"));
    acquire(&mut s, &a, 2, 0, &c);
    assert!(acquire(&mut s, &b, 10, LOCK_MS as i64 - 1, &c).is_empty());
    let now = LOCK_MS as i64;
    assert!(s.tick(now, &c, &mut LogBounds { log_start: 0 }).is_empty());
    assert_eq!(acquire(&mut s, &b, 10, now, &c), vec![range(0, 1, 2)]);
    // The first holder's lock is gone: its late acknowledgement is refused.
    assert_eq!(s.acknowledge("a", 0, AckKind::Accept, now, &c), Err(AckError::NotAcquired));
    assert!(s.acknowledge("b", 0, AckKind::Accept, now, &c).unwrap().is_empty());
}

#[test]
fn a_rejected_record_is_archived_without_a_dead_letter_queue() {
    let c = config(None);
    let mut s = share(0, 1);
    let a = member("a");
    acquire(&mut s, &a, 1, 0, &c);
    let out = s.acknowledge("a", 0, AckKind::Reject, 0, &c).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].reason, SettleReason::Dropped);
    assert_eq!(s.start_offset(), 1);
    assert_eq!(s.stats().dropped, 1);
}

#[test]
fn a_rejected_record_is_handed_out_for_the_dead_letter_queue() {
    let c = config(Some("dlq"));
    let mut s = share(0, 1);
    let a = member("a");
    acquire(&mut s, &a, 1, 0, &c);
    let out = s.acknowledge("a", 0, AckKind::Reject, 0, &c).unwrap();
    assert_eq!(
        (out[0].offset, out[0].reason, out[0].cause),
        (0, SettleReason::DeadLettered, DeathCause::Rejected)
    );
    // Leaving, it is neither available nor archived until the queue has it.
    assert!(acquire(&mut s, &a, 1, 0, &c).is_empty());
    assert_eq!(s.start_offset(), 0);
    s.finish_leaving(0, SettleReason::DeadLettered);
    assert_eq!(s.start_offset(), 1);
    assert_eq!(s.stats().dead_lettered, 1);
}

#[test]
fn the_delivery_limit_archives_and_dead_letters_a_record() {
    let c = config(Some("dlq"));
    let mut s = share(0, 1);
    let a = member("a");
    // Deliveries 1 and 2 end in releases, the 3rd (the limit) in a lock expiry.
    for count in 1..=2 {
        assert_eq!(acquire(&mut s, &a, 1, 0, &c), vec![range(0, 0, count)]);
        assert!(s.acknowledge("a", 0, AckKind::Release, 0, &c).unwrap().is_empty());
    }
    assert_eq!(acquire(&mut s, &a, 1, 0, &c), vec![range(0, 0, 3)]);
    let out = s.tick(LOCK_MS as i64, &c, &mut LogBounds { log_start: 0 });
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].reason, out[0].cause), (SettleReason::DeadLettered, DeathCause::DeliveryLimit));
    s.finish_leaving(0, SettleReason::DeadLettered);
    assert_eq!(s.start_offset(), 1);
}

#[test]
fn a_release_at_the_delivery_limit_archives_the_record() {
    let c = config(None);
    let mut s = share(0, 1);
    let a = member("a");
    for _ in 1..3 {
        acquire(&mut s, &a, 1, 0, &c);
        s.acknowledge("a", 0, AckKind::Release, 0, &c).unwrap();
    }
    acquire(&mut s, &a, 1, 0, &c);
    let out = s.acknowledge("a", 0, AckKind::Release, 0, &c).unwrap();
    assert_eq!((out[0].reason, out[0].cause), (SettleReason::Dropped, DeathCause::DeliveryLimit));
    assert_eq!(s.start_offset(), 1);
}

#[test]
fn a_leaving_member_releases_what_it_holds() {
    let c = config(None);
    let mut s = share(0, 4);
    let (a, b) = (member("a"), member("b"));
    acquire(&mut s, &a, 2, 0, &c);
    acquire(&mut s, &b, 2, 0, &c);
    assert!(s.release_member("a", 0, &c).is_empty());
    assert_eq!(acquire(&mut s, &b, 10, 0, &c), vec![range(0, 1, 2)]);
}

#[test]
fn records_below_the_log_start_are_dropped_not_delivered() {
    let c = config(None);
    let mut s = share(0, 5);
    let a = member("a");
    let (ranges, _) = s.acquire(&a, 10, 0, &c, &mut LogBounds { log_start: 3 });
    assert_eq!(ranges, vec![range(3, 4, 1)]);
    assert_eq!(s.stats().dropped, 3);
    assert_eq!(s.start_offset(), 3);
}

#[test]
fn no_more_than_the_record_lock_limit_is_acquired() {
    let c = config(None);
    let mut s = share(0, MAX_RECORD_LOCKS + 10);
    let a = member("a");
    let ranges = acquire(&mut s, &a, usize::MAX, 0, &c);
    assert_eq!(ranges, vec![range(0, MAX_RECORD_LOCKS - 1, 1)]);
}

#[test]
fn a_checkpoint_restores_start_offset_settled_ranges_and_delivery_counts() {
    let c = config(None);
    let mut s = share(10, 20);
    let a = member("a");
    acquire(&mut s, &a, 3, 0, &c);
    s.acknowledge("a", 10, AckKind::Accept, 0, &c).unwrap();
    s.acknowledge("a", 12, AckKind::Accept, 0, &c).unwrap();
    let (settled, counts, counters) = s.checkpoint();
    let mut r = ShareState::restore(&settled, &counts, counters);
    r.extend_to(20, 0);
    assert_eq!(r.start_offset(), 11);
    // Offset 11 was in flight: available again, its delivery counted.
    assert_eq!(acquire(&mut r, &a, 2, 0, &c), vec![range(11, 11, 2), range(13, 13, 1)]);
}
