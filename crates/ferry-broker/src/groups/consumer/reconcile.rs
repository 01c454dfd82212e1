//! Incremental reconciliation of one member towards its target assignment (KIP-848):
//! a member first gives up what it must revoke, keeping its epoch; only when its heartbeat shows
//! it no longer owns those partitions does it move to the target's epoch; and a partition goes to
//! its new owner only once its previous owner has released it.
//!
//! ```text
//!                 target changed, must revoke            owned ∩ revoking = ∅
//!   Stable ────────────────────────────────▶ UnrevokedPartitions ─────────────▶ (next step)
//!     │  ▲                                                                          │
//!     │  └───────── all target partitions held ◀── UnreleasedPartitions ◀───────────┘
//!     └─ target changed, nothing to revoke ─────────▶ (next step)          some still owned by others
//! ```

use super::{Assignment, MemberState};
use crate::groups::types::TopicPartition;

/// What the reconciliation of one member works on and produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reconciled {
    pub state: MemberState,
    pub epoch: i32,
    /// Partitions the member may consume.
    pub assigned: Assignment,
    /// Partitions the member must give up before it moves on.
    pub revoking: Assignment,
}

/// The member's next step.
///
/// `current` is where the member stands; `target` and `target_epoch` the group's target for it;
/// `owned` the partitions its heartbeat says it holds (`None`: not said, so assumed unchanged);
/// `held_by_other` whether a partition is still held (assigned or being revoked) by another
/// member.
pub(crate) fn next(
    current: &Reconciled,
    target: &Assignment,
    target_epoch: i32,
    owned: Option<&Assignment>,
    held_by_other: impl Fn(&TopicPartition) -> bool,
) -> Reconciled {
    match current.state {
        MemberState::UnrevokedPartitions => {
            if still_owns(owned, &current.revoking) {
                return current.clone();
            }
            step(current, target, target_epoch, owned, held_by_other)
        }
        MemberState::Stable if current.epoch == target_epoch => current.clone(),
        MemberState::Stable | MemberState::UnreleasedPartitions => {
            step(current, target, target_epoch, owned, held_by_other)
        }
    }
}

/// Whether the member may still hold some of `revoking`: it holds them unless its heartbeat
/// lists what it owns and none of them is among it.
fn still_owns(owned: Option<&Assignment>, revoking: &Assignment) -> bool {
    match owned {
        None => !revoking.is_empty(),
        Some(owned) => revoking.iter().any(|tp| owned.contains(tp)),
    }
}

fn step(
    current: &Reconciled,
    target: &Assignment,
    target_epoch: i32,
    owned: Option<&Assignment>,
    held_by_other: impl Fn(&TopicPartition) -> bool,
) -> Reconciled {
    let kept: Assignment = current.assigned.intersection(target).cloned().collect();
    let revoking: Assignment = current.assigned.difference(target).cloned().collect();
    if !revoking.is_empty() && still_owns(owned, &revoking) {
        // Revoke first, in the current epoch; nothing new is given meanwhile.
        return Reconciled {
            state: MemberState::UnrevokedPartitions,
            epoch: current.epoch,
            assigned: kept,
            revoking,
        };
    }
    let mut assigned = kept;
    let mut unreleased = false;
    for tp in target.difference(&current.assigned) {
        if held_by_other(tp) {
            unreleased = true;
        } else {
            assigned.insert(tp.clone());
        }
    }
    let state = if unreleased { MemberState::UnreleasedPartitions } else { MemberState::Stable };
    Reconciled { state, epoch: target_epoch, assigned, revoking: Assignment::new() }
}
