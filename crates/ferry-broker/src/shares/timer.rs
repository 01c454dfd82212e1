//! The timer of the share coordinator: one task that ends expired locks and sessions of every
//! share group, and closes groups left idle.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use tokio::sync::Notify;

use super::config::ShareGroupConfig;
use super::coordinator::{Group, ShareCoordinator};
use super::partition::SharePartition;

impl ShareCoordinator {
    /// One pass of the timer: ends expired locks and sessions; the next deadline.
    pub(super) fn sweep_blocking(&self) -> Option<i64> {
        let now = self.clock.now_ms();
        let mut expired: Vec<(String, Vec<String>)> = Vec::new();
        let mut work: Vec<(String, Arc<SharePartition>, ShareGroupConfig, Arc<Notify>)> = Vec::new();
        let mut next: Option<i64> = None;
        {
            let mut groups = self.lock();
            close_idle(&mut groups);
            for (name, g) in groups.iter_mut() {
                let mut gone = Vec::new();
                expire_members(g, now, &mut gone);
                if !gone.is_empty() {
                    expired.push((name.clone(), gone));
                }
                for m in g.members.values() {
                    let due = m.last_seen_ms.saturating_add(g.config.session_timeout_ms as i64);
                    next = Some(next.map_or(due, |n: i64| n.min(due)));
                }
                for p in g.partitions.values() {
                    work.push((name.clone(), Arc::clone(p), g.config.clone(), Arc::clone(&g.available)));
                }
            }
        }
        for (group, members) in expired {
            if let Err(e) = self.release_members(&group, &members) {
                tracing::warn!(group, error = %e, "cannot release the records of expired members");
            }
        }
        for (group, p, config, available) in work {
            match p.tick(now, &config) {
                Ok((leaving, freed)) => {
                    self.spawn_dead_letters(&group, &p, &config, leaving);
                    if freed {
                        available.notify_waiters();
                    }
                }
                Err(e) => tracing::warn!(group, error = %e, "share-partition tick failed"),
            }
            if let Some(d) = p.next_deadline(&config) {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        next
    }
}

/// Closes the share-partitions of groups without members that nobody uses (no record acquired,
/// no call or dead-letter move holding them), and forgets groups left with neither members nor
/// share-partitions: their state is in their journals, and the next use opens them again. Every
/// use takes a share-partition from the map under the same lock, so one that only the map holds
/// cannot be in use, and no second copy of it can be opened meanwhile.
fn close_idle(groups: &mut HashMap<String, Group>) {
    for g in groups.values_mut().filter(|g| g.members.is_empty()) {
        g.partitions.retain(|_, p| Arc::strong_count(p) > 1 || p.stats().acquired > 0);
    }
    groups.retain(|_, g| !g.members.is_empty() || !g.partitions.is_empty());
}

/// Removes members of `g` silent for longer than the session timeout; their ids go to `gone`.
pub(super) fn expire_members(g: &mut Group, now_ms: i64, gone: &mut Vec<String>) {
    let timeout = g.config.session_timeout_ms as i64;
    let before = g.members.len();
    g.members.retain(|id, m| {
        let alive = m.last_seen_ms.saturating_add(timeout) > now_ms;
        if !alive {
            gone.push(id.clone());
        }
        alive
    });
    if g.members.len() != before {
        g.epoch += 1;
    }
}

/// The timer: lock expiries and session timeouts of every share group, in one task. It holds
/// the coordinator only while it sweeps, and ends once the coordinator is gone.
pub(super) async fn run_timer(coordinator: Weak<ShareCoordinator>) {
    loop {
        let Some(this) = coordinator.upgrade() else { return };
        let (timer, clock) = (Arc::clone(&this.timer), Arc::clone(&this.clock));
        let notified = timer.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = match tokio::task::spawn_blocking(move || this.sweep_blocking()).await {
            Ok(next) => next,
            Err(_) => return,
        };
        // Wake at the next deadline, or when a lock is taken or a member joins. A deadline that
        // is due already waits a little, so that one a tick cannot clear does not spin.
        match next {
            Some(d) => {
                let wake = d.max(clock.now_ms() + 10);
                tokio::select! {
                    _ = &mut notified => {}
                    _ = clock.sleep_until(wake) => {}
                }
            }
            None => notified.await,
        }
    }
}

impl Drop for ShareCoordinator {
    fn drop(&mut self) {
        // Lets the timer task see that the coordinator is gone.
        self.timer.notify_one();
    }
}
