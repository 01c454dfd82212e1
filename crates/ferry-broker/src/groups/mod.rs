//! Consumer groups: membership, rebalances and committed offsets (Kafka's classic protocol, in
//! domain terms).
//!
//! # Layout
//!
//! - [`GroupCoordinator`] (this file): the entry point; locks the groups, runs the timers, and
//!   sends offset writes to the store.
//! - `group`: the state machine of one group (join, sync, heartbeat, leave, expiry, fencing),
//!   pure: no lock, no I/O, time passed in.
//! - `join`: the join phase of a rebalance (first joins, static members, protocol choice).
//! - `member`: one member and the answers the coordinator holds for it.
//! - `offsets`: commit checks and the retention of committed offsets.
//! - `store`: record keys, the load at start, and the writer thread batching store commits.
//! - [`types`], [`error`], [`config`]: the requests, answers, errors and settings.
//!
//! Timers: one deadline heap for all groups, served by a single task that sleeps on the injected
//! [`Clock`] until the earliest deadline (no polling). A heap entry only says "look at this group
//! then"; the group itself decides what is due, so a stale entry costs one look and nothing more.
//!
//! Offsets: a commit is answered once it is durable in the [`MetadataStore`]. Concurrent commits
//! are folded into one store transaction by the writer thread, which then applies them to memory
//! in the store's order, so what OffsetFetch reads is always what a restart would load.

pub mod config;
pub mod error;
mod group;
mod join;
mod member;
mod offsets;
mod store;
pub mod types;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, mpsc, oneshot};

use crate::clock::Clock;
use crate::metadata::{MetaOp, MetadataError, MetadataStore, Table};

pub use config::GroupConfig;
pub use error::{
    CommitError, CommitPartitionError, DeleteGroupError, HeartbeatError, JoinError, LeaveError,
    OffsetDeleteError, OffsetDeletePartitionError, OpenError, SyncError,
};
pub use types::{
    CommittedOffset, GroupDescription, GroupListing, GroupState, JoinRequest, JoinResponse, JoinedMember,
    LeavingMember, MemberDescription, MemberProtocol, MemberRef, OffsetCommit, SyncRequest, SyncResponse,
    TopicPartition,
};

use group::Group;
use store::{Applier, Apply, WriteJob, WriterMsg};

/// The outcome of an offset commit, partition by partition.
pub type CommitResults = Vec<(TopicPartition, Result<(), CommitPartitionError>)>;
/// The outcome of an offset deletion, partition by partition.
pub type OffsetDeleteResults = Vec<(TopicPartition, Result<(), OffsetDeletePartitionError>)>;

/// The coordinator of every consumer group on this node.
pub struct GroupCoordinator {
    shared: Arc<Shared>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    config: GroupConfig,
    /// Wakes the timer task when an earlier deadline appears, or at shutdown.
    wake: Notify,
    shutdown: AtomicBool,
    writer: mpsc::Sender<WriterMsg>,
}

#[derive(Default)]
struct State {
    groups: HashMap<String, Group>,
    timers: BinaryHeap<Reverse<(i64, String)>>,
    /// The earliest heap entry of each group; other entries of the group are stale.
    scheduled: HashMap<String, i64>,
}

impl GroupCoordinator {
    /// Loads the stored groups and offsets and starts the timers and the offset writer.
    ///
    /// Must be called inside a tokio runtime. Members are not persisted: after a restart every
    /// group is empty and its consumers rejoin, keeping their committed offsets.
    pub fn open(
        meta: Arc<dyn MetadataStore>,
        clock: Arc<dyn Clock>,
        config: GroupConfig,
    ) -> Result<Arc<GroupCoordinator>, OpenError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OpenError::NoRuntime)?;
        let now_ms = clock.now_ms();
        let groups = store::load(meta.as_ref(), now_ms)?;
        let (writer, rx) = mpsc::channel(config.offset_write_queue_max.max(1));
        let shared = Arc::new(Shared {
            state: Mutex::new(State { groups, ..State::default() }),
            clock,
            config,
            wake: Notify::new(),
            shutdown: AtomicBool::new(false),
            writer,
        });
        let writer_thread = store::spawn_writer(meta, Arc::downgrade(&shared), rx)
            .map_err(|e| OpenError::Writer(e.to_string()))?;
        {
            let mut state = shared.lock();
            let ids: Vec<String> = state.groups.keys().cloned().collect();
            for id in ids {
                shared.after_change(&mut state, &id);
            }
        }
        runtime.spawn(run_timers(shared.clone()));
        Ok(Arc::new(GroupCoordinator { shared, writer_thread: Some(writer_thread) }))
    }

    /// The settings in force.
    pub fn config(&self) -> &GroupConfig {
        &self.shared.config
    }

    /// Joins (or rejoins) a group. The join takes effect when this is called, before the returned
    /// future is first polled; the future resolves when the rebalance completes, which may take up
    /// to the members' rebalance timeout. Dropping it leaves the group consistent: the member
    /// simply misses this answer and, unless it rejoins, drops out at the next rebalance.
    pub fn join(
        &self,
        req: JoinRequest,
    ) -> impl Future<Output = Result<JoinResponse, JoinError>> + Send + 'static {
        let answer = self.start_join(req);
        async move {
            match answer {
                Ok(answer) => answer.await.unwrap_or(Err(JoinError::CoordinatorNotAvailable)),
                Err(e) => Err(e),
            }
        }
    }

    fn start_join(
        &self,
        req: JoinRequest,
    ) -> Result<oneshot::Receiver<Result<JoinResponse, JoinError>>, JoinError> {
        if req.group_id.is_empty() {
            return Err(JoinError::InvalidGroupId);
        }
        let (reply, answer) = oneshot::channel();
        let shared = &self.shared;
        let now_ms = shared.clock.now_ms();
        let mut state = shared.lock();
        let group_id = req.group_id.clone();
        if !state.groups.contains_key(&group_id) && state.groups.len() >= shared.config.groups_max {
            return Err(JoinError::CoordinatorNotAvailable);
        }
        let group =
            state.groups.entry(group_id.clone()).or_insert_with(|| Group::new(group_id.clone(), now_ms));
        group.join(req, now_ms, &shared.config, reply);
        shared.after_change(&mut state, &group_id);
        Ok(answer)
    }

    /// Sends the leader's assignment, or waits for one's own. Takes effect when called, like
    /// [`GroupCoordinator::join`]; the future resolves once the leader has synced. Dropping it
    /// leaves the group consistent.
    pub fn sync(
        &self,
        req: SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, SyncError>> + Send + 'static {
        let answer = self.start_sync(req);
        async move {
            match answer {
                Ok(answer) => answer.await.unwrap_or(Err(SyncError::CoordinatorNotAvailable)),
                Err(e) => Err(e),
            }
        }
    }

    fn start_sync(
        &self,
        req: SyncRequest,
    ) -> Result<oneshot::Receiver<Result<SyncResponse, SyncError>>, SyncError> {
        let (reply, answer) = oneshot::channel();
        let shared = &self.shared;
        let now_ms = shared.clock.now_ms();
        let mut state = shared.lock();
        let group_id = req.group_id.clone();
        let Some(group) = state.groups.get_mut(&group_id) else {
            return Err(SyncError::UnknownMemberId);
        };
        group.sync(req, now_ms, reply);
        shared.after_change(&mut state, &group_id);
        Ok(answer)
    }

    /// Keeps a member's session alive; tells it when it must rejoin.
    pub fn heartbeat(&self, group_id: &str, who: &MemberRef) -> Result<(), HeartbeatError> {
        let shared = &self.shared;
        let now_ms = shared.clock.now_ms();
        let mut state = shared.lock();
        let group = state.groups.get_mut(group_id).ok_or(HeartbeatError::UnknownMemberId)?;
        let result = group.heartbeat(who, now_ms);
        shared.after_change(&mut state, group_id);
        result
    }

    /// Removes members from a group, member by member.
    pub fn leave(&self, group_id: &str, members: &[LeavingMember]) -> Vec<Result<(), LeaveError>> {
        let shared = &self.shared;
        let now_ms = shared.clock.now_ms();
        let mut state = shared.lock();
        let Some(group) = state.groups.get_mut(group_id) else {
            return members.iter().map(|_| Err(LeaveError::UnknownMemberId)).collect();
        };
        let results = members.iter().map(|m| group.leave(m, now_ms, &shared.config)).collect();
        shared.after_change(&mut state, group_id);
        results
    }

    /// Commits offsets for a group; resolves once they are durable. Same as
    /// [`GroupCoordinator::submit_offsets`] followed by [`PendingCommit::durable`].
    pub async fn commit_offsets(
        &self,
        group_id: &str,
        who: &MemberRef,
        retention_ms: Option<i64>,
        offsets: Vec<(TopicPartition, OffsetCommit)>,
    ) -> Result<CommitResults, CommitError> {
        self.submit_offsets(group_id, who, retention_ms, offsets).await?.durable().await
    }

    /// Checks an offset commit and queues it for the store; resolves once it is queued, so commits
    /// submitted one after another are stored (and become visible) in that order. The returned
    /// [`PendingCommit`] waits for durability. Cancellation-safe until it resolves: a commit
    /// dropped while waiting for room in the queue is not queued.
    ///
    /// `who.generation_id < 0` commits from outside any generation (a consumer using manual
    /// assignment, or an admin tool), allowed only while the group has no members.
    /// `retention_ms` is the per-commit retention that old clients may send.
    pub async fn submit_offsets(
        &self,
        group_id: &str,
        who: &MemberRef,
        retention_ms: Option<i64>,
        offsets: Vec<(TopicPartition, OffsetCommit)>,
    ) -> Result<PendingCommit, CommitError> {
        if group_id.is_empty() {
            return Err(CommitError::InvalidGroupId);
        }
        let shared = &self.shared;
        let now_ms = shared.clock.now_ms();
        {
            let mut state = shared.lock();
            let full = state.groups.len() >= shared.config.groups_max;
            match state.groups.get_mut(group_id) {
                Some(group) => group.check_commit(who, now_ms)?,
                None if full => {
                    return Err(CommitError::CoordinatorNotAvailable);
                }
                None if who.generation_id < 0 => {}
                None => return Err(CommitError::IllegalGeneration),
            }
            shared.after_change(&mut state, group_id);
        }
        self.queue_offsets(group_id, retention_ms, offsets).await
    }

    /// Checks that `who` may commit offsets to the group now, without committing (the check a
    /// transactional offset commit passes when it is added to its transaction). A valid check
    /// counts as a heartbeat.
    pub fn check_member(&self, group_id: &str, who: &MemberRef) -> Result<(), CommitError> {
        if group_id.is_empty() {
            return Err(CommitError::InvalidGroupId);
        }
        let now_ms = self.shared.clock.now_ms();
        let mut state = self.shared.lock();
        match state.groups.get_mut(group_id) {
            Some(group) => group.check_commit(who, now_ms),
            None if who.generation_id < 0 => Ok(()),
            None => Err(CommitError::IllegalGeneration),
        }
    }

    /// Commits the offsets a committed transaction holds; resolves once they are durable. The
    /// members were checked when the transaction took the offsets ([`GroupCoordinator::check_member`]),
    /// so none is checked here.
    pub async fn commit_transactional(
        &self,
        group_id: &str,
        offsets: Vec<(TopicPartition, OffsetCommit)>,
    ) -> Result<CommitResults, CommitError> {
        if group_id.is_empty() {
            return Err(CommitError::InvalidGroupId);
        }
        self.queue_offsets(group_id, None, offsets).await?.durable().await
    }

    /// Queues checked offsets for the store (see [`GroupCoordinator::submit_offsets`]).
    async fn queue_offsets(
        &self,
        group_id: &str,
        retention_ms: Option<i64>,
        offsets: Vec<(TopicPartition, OffsetCommit)>,
    ) -> Result<PendingCommit, CommitError> {
        let shared = &self.shared;
        let now_ms = shared.clock.now_ms();
        let mut results = Vec::with_capacity(offsets.len());
        let mut accepted = Vec::with_capacity(offsets.len());
        for (tp, commit) in offsets {
            if commit.metadata.as_ref().is_some_and(|m| m.len() > shared.config.offset_metadata_max_bytes) {
                results.push((tp, Err(CommitPartitionError::OffsetMetadataTooLarge)));
                continue;
            }
            let record = CommittedOffset {
                offset: commit.offset,
                leader_epoch: commit.leader_epoch,
                metadata: commit.metadata,
                commit_timestamp_ms: now_ms,
                expire_timestamp_ms: retention_ms.filter(|r| *r > 0).map(|r| now_ms.saturating_add(r)),
            };
            results.push((tp.clone(), Ok(())));
            accepted.push((tp, record));
        }
        if accepted.is_empty() {
            return Ok(PendingCommit { results, written: None });
        }
        let ops = accepted.iter().map(|(tp, o)| store::put_offset(group_id, tp, o)).collect();
        let id = group_id.to_string();
        let apply: Apply = Box::new(move |groups: &mut HashMap<String, Group>| {
            let group = groups.entry(id.clone()).or_insert_with(|| Group::new(id, now_ms));
            group.offsets.extend(accepted);
        });
        match self.queue_write(group_id, ops, Some(apply)).await {
            Ok(written) => Ok(PendingCommit { results, written: Some(written) }),
            Err(_) => Err(CommitError::CoordinatorNotAvailable),
        }
    }

    /// The group's committed offsets: for `partitions`, or every one when `None`. A partition
    /// without a committed offset (or a group that does not exist) gives `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Vec<(TopicPartition, Option<CommittedOffset>)> {
        let state = self.shared.lock();
        let group = state.groups.get(group_id);
        match partitions {
            Some(partitions) => partitions
                .iter()
                .map(|tp| (tp.clone(), group.and_then(|g| g.offsets.get(tp)).cloned()))
                .collect(),
            None => group
                .map(|g| g.offsets.iter().map(|(tp, o)| (tp.clone(), Some(o.clone()))).collect())
                .unwrap_or_default(),
        }
    }

    /// Describes a group; `None` if it does not exist.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        self.shared.lock().groups.get(group_id).map(Group::describe)
    }

    /// Every group, sorted by id.
    pub fn list(&self) -> Vec<GroupListing> {
        let state = self.shared.lock();
        let mut listings: Vec<GroupListing> = state
            .groups
            .values()
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        listings.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listings
    }

    /// Deletes a group without members, with all its offsets.
    pub async fn delete_group(&self, group_id: &str) -> Result<(), DeleteGroupError> {
        if group_id.is_empty() {
            return Err(DeleteGroupError::InvalidGroupId);
        }
        {
            let mut state = self.shared.lock();
            let group = state.groups.get(group_id).ok_or(DeleteGroupError::GroupIdNotFound)?;
            if !group.is_empty() || group.state != GroupState::Empty {
                return Err(DeleteGroupError::NonEmptyGroup);
            }
            state.groups.remove(group_id);
            state.scheduled.remove(group_id);
        }
        let ops = vec![
            MetaOp::delete_prefix(Table::GroupOffsets, store::offsets_prefix(group_id)),
            MetaOp::delete(Table::Groups, group_id),
        ];
        let id = group_id.to_string();
        // Commits queued before this deletion land in memory before it; clear them as the store did.
        let apply: Apply = Box::new(move |groups: &mut HashMap<String, Group>| {
            if let Some(group) = groups.get_mut(&id) {
                group.offsets.clear();
            }
        });
        match self.write(group_id, ops, Some(apply)).await {
            Ok(()) => Ok(()),
            Err(WriteFailed::Store(e)) => Err(DeleteGroupError::Storage(e)),
            Err(WriteFailed::Closed) => Err(DeleteGroupError::CoordinatorNotAvailable),
        }
    }

    /// Deletes some committed offsets of a group, except those of topics its members consume.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<TopicPartition>,
    ) -> Result<OffsetDeleteResults, OffsetDeleteError> {
        if group_id.is_empty() {
            return Err(OffsetDeleteError::InvalidGroupId);
        }
        let mut results = Vec::with_capacity(partitions.len());
        let mut deleted = Vec::new();
        {
            let mut state = self.shared.lock();
            let group = state.groups.get_mut(group_id).ok_or(OffsetDeleteError::GroupIdNotFound)?;
            if group.state != GroupState::Empty && group.protocol_type.as_deref() != Some("consumer") {
                return Err(OffsetDeleteError::NonEmptyGroup);
            }
            for tp in partitions {
                if group.state != GroupState::Empty && group.is_subscribed_to(&tp.topic) {
                    results.push((tp, Err(OffsetDeletePartitionError::GroupSubscribedToTopic)));
                    continue;
                }
                group.offsets.remove(&tp);
                deleted.push(tp.clone());
                results.push((tp, Ok(())));
            }
            self.shared.after_change(&mut state, group_id);
        }
        if deleted.is_empty() {
            return Ok(results);
        }
        let ops = deleted
            .iter()
            .map(|tp| MetaOp::delete(Table::GroupOffsets, store::offset_key(group_id, tp)))
            .collect();
        let id = group_id.to_string();
        let apply: Apply = Box::new(move |groups: &mut HashMap<String, Group>| {
            if let Some(group) = groups.get_mut(&id) {
                for tp in &deleted {
                    group.offsets.remove(tp);
                }
            }
        });
        match self.write(group_id, ops, Some(apply)).await {
            Ok(()) => Ok(results),
            Err(WriteFailed::Store(e)) => Err(OffsetDeleteError::Storage(e)),
            Err(WriteFailed::Closed) => Err(OffsetDeleteError::CoordinatorNotAvailable),
        }
    }

    async fn write(&self, group_id: &str, ops: Vec<MetaOp>, apply: Option<Apply>) -> Result<(), WriteFailed> {
        written(self.queue_write(group_id, ops, apply).await?).await
    }

    /// Queues a write for the writer thread, in call order; the receiver answers once it is stored.
    async fn queue_write(
        &self,
        group_id: &str,
        ops: Vec<MetaOp>,
        apply: Option<Apply>,
    ) -> Result<Written, WriteFailed> {
        let (done, result) = oneshot::channel();
        let job = WriteJob { group_id: group_id.to_string(), ops, apply, done: Some(done) };
        self.shared.writer.send(WriterMsg::Job(job)).await.map_err(|_| WriteFailed::Closed)?;
        Ok(result)
    }
}

/// The writer thread's answer to one queued write.
type Written = oneshot::Receiver<Result<(), MetadataError>>;

async fn written(written: Written) -> Result<(), WriteFailed> {
    match written.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(WriteFailed::Store(e)),
        Err(_) => Err(WriteFailed::Closed),
    }
}

/// An offset commit queued for the store, in order with every other write of the coordinator.
pub struct PendingCommit {
    results: CommitResults,
    written: Option<Written>,
}

impl PendingCommit {
    /// Waits until the commit is durable and visible to OffsetFetch; answers partition by partition.
    pub async fn durable(self) -> Result<CommitResults, CommitError> {
        let Some(pending) = self.written else {
            return Ok(self.results);
        };
        match written(pending).await {
            Ok(()) => Ok(self.results),
            Err(WriteFailed::Store(e)) => Err(CommitError::Storage(e)),
            Err(WriteFailed::Closed) => Err(CommitError::CoordinatorNotAvailable),
        }
    }
}

impl Drop for GroupCoordinator {
    /// Answers held requests, stops the timers, and waits for queued writes to reach the store,
    /// so that the store is released when this returns (a restart in the same process can
    /// reopen it).
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        {
            let mut state = self.shared.lock();
            for group in state.groups.values_mut() {
                group.fail_waiters();
            }
        }
        if self.shared.writer.try_send(WriterMsg::Stop).is_err() {
            // A full queue: the writer drains it, then sees the senders' end at the
            // timer task's exit; do not block on that here.
            return;
        }
        if let Some(handle) = self.writer_thread.take()
            && handle.join().is_err()
        {
            tracing::error!("group offset writer thread panicked");
        }
    }
}

enum WriteFailed {
    Store(MetadataError),
    Closed,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Group transitions do not panic half-way on any input; if one ever did, the groups are
        // still a valid map, and refusing every later request would be worse than going on.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Book-keeping after any change to a group: schedule its next deadline, persist its record
    /// if it changed, and forget it once it holds nothing.
    fn after_change(&self, state: &mut State, group_id: &str) {
        let Some(group) = state.groups.get_mut(group_id) else {
            return;
        };
        if group.is_empty() && group.state == GroupState::Empty && group.offsets.is_empty() {
            let stored = group.has_record();
            state.groups.remove(group_id);
            state.scheduled.remove(group_id);
            if stored {
                self.enqueue(group_id, vec![MetaOp::delete(Table::Groups, group_id)]);
            }
            return;
        }
        if let Some(record) = group.take_record_change() {
            self.enqueue(group_id, vec![store::put_group(group_id, &record)]);
        }
        let membership = group.next_deadline_ms();
        let retention = group.next_offset_expiry_ms(self.config.offsets_retention_ms);
        let Some(deadline) = membership.into_iter().chain(retention).min() else {
            return;
        };
        if state.scheduled.get(group_id).is_some_and(|at| *at <= deadline) {
            return;
        }
        state.scheduled.insert(group_id.to_string(), deadline);
        let was_earliest = state.timers.peek().is_none_or(|Reverse((at, _))| deadline < *at);
        state.timers.push(Reverse((deadline, group_id.to_string())));
        if was_earliest {
            self.wake.notify_one();
        }
    }

    /// Queues a write nobody waits for (group records, expiries). Such writes are small and rare;
    /// if the queue is full the record is written with the group's next change instead.
    fn enqueue(&self, group_id: &str, ops: Vec<MetaOp>) {
        let job = WriteJob { group_id: group_id.to_string(), ops, apply: None, done: None };
        if self.writer.try_send(WriterMsg::Job(job)).is_err() {
            tracing::warn!(group = %group_id, "group write queue full; record deferred");
        }
    }

    /// Runs every deadline due at `now_ms`.
    fn fire_due(&self, now_ms: i64) {
        let mut state = self.lock();
        // Bounded so that a deadline that keeps coming back due can never hold the lock forever.
        let mut budget = state.timers.len() + 1024;
        while let Some(Reverse((at, _))) = state.timers.peek() {
            if *at > now_ms || budget == 0 {
                break;
            }
            budget -= 1;
            let Some(Reverse((at, group_id))) = state.timers.pop() else {
                break;
            };
            if state.scheduled.get(&group_id) != Some(&at) {
                continue;
            }
            state.scheduled.remove(&group_id);
            let Some(group) = state.groups.get_mut(&group_id) else {
                continue;
            };
            group.on_timer(now_ms, &self.config);
            let expired = group.expired_offsets(now_ms, self.config.offsets_retention_ms);
            if !expired.is_empty() {
                for tp in &expired {
                    group.offsets.remove(tp);
                }
                tracing::info!(group = %group_id, partitions = expired.len(), "committed offsets expired");
                let ops: Vec<MetaOp> = expired
                    .iter()
                    .map(|tp| MetaOp::delete(Table::GroupOffsets, store::offset_key(&group_id, tp)))
                    .collect();
                let id = group_id.clone();
                let apply: Apply = Box::new(move |groups: &mut HashMap<String, Group>| {
                    if let Some(group) = groups.get_mut(&id) {
                        for tp in &expired {
                            group.offsets.remove(tp);
                        }
                    }
                });
                let job = WriteJob { group_id: group_id.clone(), ops, apply: Some(apply), done: None };
                if self.writer.try_send(WriterMsg::Job(job)).is_err() {
                    tracing::warn!(group = %group_id, "group write queue full; offset expiry deferred to restart");
                }
            }
            self.after_change(&mut state, &group_id);
        }
    }

    fn next_deadline_ms(&self) -> Option<i64> {
        self.lock().timers.peek().map(|Reverse((at, _))| *at)
    }
}

impl Applier for Shared {
    fn apply(&self, changes: Vec<(String, Apply)>) {
        let mut state = self.lock();
        for (group_id, apply) in changes {
            apply(&mut state.groups);
            self.after_change(&mut state, &group_id);
        }
    }
}

/// The timer task: sleeps until the earliest deadline (or a wake-up), then runs what is due.
async fn run_timers(shared: Arc<Shared>) {
    while !shared.shutdown.load(Ordering::Acquire) {
        let sleep = match shared.next_deadline_ms() {
            Some(at) => shared.clock.sleep_until(at),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            _ = sleep => shared.fire_due(shared.clock.now_ms()),
            _ = shared.wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests;
