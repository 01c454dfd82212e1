//! The share-group coordinator: groups, members, share sessions and share-partitions (the
//! timer and dead-letter moves are in `timer` and `deadletter`).
//!
//! Methods that may open a share-partition or write its journal are blocking (`*_blocking`);
//! front-ends call them from the blocking pool. Dead-letter moves are async (they enqueue).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ferry_log::Disk;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::queues::QueueService;
use crate::topics::TopicService;

use super::config::ShareGroupConfig;
use super::partition::{Acquisition, SharePartition};
use super::state::{AckError, AckKind, ShareStats};

/// Longest group id a share group may have: its journal directory is named by it, in hex.
pub const GROUP_ID_BYTES_MAX: usize = 120;
/// Most members one share group holds.
pub const MEMBERS_MAX: usize = 1_000;
/// Most share groups the coordinator holds.
pub const GROUPS_MAX: usize = 10_000;

/// A topic partition named by topic id, as share groups name them.
pub type TopicPartition = (u128, u32);

/// Why a share-group call was refused (each maps onto one Kafka error code).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShareError {
    /// The group id is empty or too long.
    #[error("invalid group id: {0}")]
    InvalidGroupId(String),
    /// The member is not (or no longer) in the group.
    #[error("unknown member {0}")]
    UnknownMember(String),
    /// The group or broker holds as many as it may.
    #[error("{0}")]
    Full(String),
    /// The topic partition does not exist.
    #[error("unknown topic partition")]
    UnknownTopicPartition,
    /// The group has members, and the operation needs it empty.
    #[error("the group has members")]
    NotEmpty,
    /// A journal or log operation failed.
    #[error("storage: {0}")]
    Storage(String),
}

fn storage(e: impl std::fmt::Display) -> ShareError {
    ShareError::Storage(e.to_string())
}

/// One member of a share group.
#[derive(Clone, Debug)]
pub struct ShareMember {
    /// Its id (chosen by the client).
    pub member_id: String,
    /// Bumped whenever its assignment changes.
    pub epoch: i32,
    /// Topics it subscribes to.
    pub subscribed: Vec<String>,
    /// What it is assigned: partitions by topic id.
    pub assignment: BTreeMap<u128, Vec<u32>>,
    /// Client id and host, for describe.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Its rack, if it named one.
    pub rack_id: Option<String>,
    pub(super) last_seen_ms: i64,
    /// The partitions its share session fetches from.
    session: BTreeSet<TopicPartition>,
}

#[derive(Debug, Default)]
pub(super) struct Group {
    pub(super) epoch: i32,
    pub(super) members: HashMap<String, ShareMember>,
    pub(super) partitions: HashMap<TopicPartition, Arc<SharePartition>>,
    pub(super) config: ShareGroupConfig,
    /// Woken when records become available again (released, lock expired).
    pub(super) available: Arc<Notify>,
}

/// A heartbeat's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    /// The member's id.
    pub member_id: String,
    /// Its epoch (-1 after leaving).
    pub epoch: i32,
    /// Its assignment, when the member must be told it (joined, changed, or behind).
    pub assignment: Option<BTreeMap<u128, Vec<u32>>>,
}

/// A group as described.
#[derive(Clone, Debug)]
pub struct ShareGroupDescription {
    /// Bumped on every membership or assignment change.
    pub epoch: i32,
    /// Its members.
    pub members: Vec<ShareMember>,
}

/// Acknowledgements of one partition: (first offset, last offset, kinds).
pub type AckBatches = Vec<(u64, u64, Vec<AckKind>)>;

/// Share groups and their share-partitions.
pub struct ShareCoordinator {
    pub(super) dir: PathBuf,
    pub(super) disk: Arc<dyn Disk>,
    pub(super) topics: Arc<TopicService>,
    pub(super) queues: Arc<QueueService>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) groups: Mutex<HashMap<String, Group>>,
    /// Woken when a lock is taken, so the timer task looks at the new deadline.
    pub(super) timer: Arc<Notify>,
    pub(super) this: Weak<ShareCoordinator>,
}

impl ShareCoordinator {
    /// A coordinator keeping share-partitions under `data_dir/shares`, and its timer task (on
    /// the current runtime).
    pub fn open(
        data_dir: PathBuf,
        disk: Arc<dyn Disk>,
        topics: Arc<TopicService>,
        queues: Arc<QueueService>,
        clock: Arc<dyn Clock>,
    ) -> Arc<ShareCoordinator> {
        let c = Arc::new_cyclic(|this| ShareCoordinator {
            dir: data_dir.join("shares"),
            disk,
            topics,
            queues,
            clock,
            groups: Mutex::new(HashMap::new()),
            timer: Arc::new(Notify::new()),
            this: this.clone(),
        });
        tokio::spawn(super::timer::run_timer(Arc::downgrade(&c)));
        c
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The clock the coordinator runs on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn group_dir(&self, group: &str) -> PathBuf {
        let hex: String = group.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(hex)
    }

    fn check_group_id(group: &str) -> Result<(), ShareError> {
        if group.is_empty() || group.len() > GROUP_ID_BYTES_MAX {
            return Err(ShareError::InvalidGroupId(format!(
                "a share group id has 1 to {GROUP_ID_BYTES_MAX} bytes, not {}",
                group.len()
            )));
        }
        Ok(())
    }

    /// The partitions `subscribed` names, by topic id.
    fn assignment_of(&self, subscribed: &[String]) -> BTreeMap<u128, Vec<u32>> {
        subscribed
            .iter()
            .filter_map(|name| self.topics.topic(name))
            .map(|t| (t.id, (0..t.partitions).collect()))
            .collect()
    }

    /// Joins (`epoch` 0), heartbeats, or leaves (`epoch` -1) `member_id` of `group`, with the
    /// group's current `config`. `subscribed` is `None` when unchanged since the last heartbeat.
    #[allow(clippy::too_many_arguments)]
    pub fn heartbeat_blocking(
        &self,
        group: &str,
        member_id: &str,
        epoch: i32,
        subscribed: Option<Vec<String>>,
        rack_id: Option<String>,
        client: (String, String),
        config: ShareGroupConfig,
    ) -> Result<HeartbeatOutcome, ShareError> {
        Self::check_group_id(group)?;
        let now = self.clock.now_ms();
        let mut released = Vec::new();
        let outcome = {
            let mut groups = self.lock();
            if !groups.contains_key(group) && groups.len() >= GROUPS_MAX {
                return Err(ShareError::Full(format!("at most {GROUPS_MAX} share groups")));
            }
            let g = groups.entry(group.to_owned()).or_default();
            g.config = config;
            super::timer::expire_members(g, now, &mut released);
            if epoch == -1 {
                if let Some(m) = g.members.remove(member_id) {
                    g.epoch += 1;
                    released.push(m.member_id);
                }
                HeartbeatOutcome { member_id: member_id.to_owned(), epoch: -1, assignment: None }
            } else {
                let known = g.members.contains_key(member_id);
                if !known && epoch != 0 {
                    return Err(ShareError::UnknownMember(member_id.to_owned()));
                }
                if !known && g.members.len() >= MEMBERS_MAX {
                    return Err(ShareError::Full(format!("at most {MEMBERS_MAX} members in a share group")));
                }
                let member_id = if member_id.is_empty() {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    member_id.to_owned()
                };
                if !known {
                    g.epoch += 1;
                    self.timer.notify_one();
                }
                let m = g.members.entry(member_id.clone()).or_insert_with(|| ShareMember {
                    member_id: member_id.clone(),
                    epoch: 0,
                    subscribed: Vec::new(),
                    assignment: BTreeMap::new(),
                    client_id: String::new(),
                    client_host: String::new(),
                    rack_id: None,
                    last_seen_ms: now,
                    session: BTreeSet::new(),
                });
                m.last_seen_ms = now;
                (m.client_id, m.client_host) = client;
                if rack_id.is_some() {
                    m.rack_id = rack_id;
                }
                if let Some(topics) = subscribed {
                    m.subscribed = topics;
                }
                let assignment = self.assignment_of(&m.subscribed);
                let changed = assignment != m.assignment || m.epoch == 0;
                if changed {
                    m.assignment = assignment;
                    m.epoch += 1;
                    g.epoch += 1;
                }
                let tell = changed || epoch != m.epoch;
                HeartbeatOutcome { member_id, epoch: m.epoch, assignment: tell.then(|| m.assignment.clone()) }
            }
        };
        self.release_members(group, &released)?;
        Ok(outcome)
    }

    /// Releases what `members` held in every share-partition of `group`.
    pub(super) fn release_members(&self, group: &str, members: &[String]) -> Result<(), ShareError> {
        if members.is_empty() {
            return Ok(());
        }
        let Some((parts, config, available)) = self.group_parts(group) else { return Ok(()) };
        let now = self.clock.now_ms();
        for p in parts {
            let mut leaving = Vec::new();
            for m in members {
                leaving.extend(p.release_member(m, now, &config).map_err(storage)?);
            }
            self.spawn_dead_letters(group, &p, &config, leaving);
        }
        available.notify_waiters();
        Ok(())
    }

    fn group_parts(&self, group: &str) -> Option<(Vec<Arc<SharePartition>>, ShareGroupConfig, Arc<Notify>)> {
        let groups = self.lock();
        let g = groups.get(group)?;
        Some((g.partitions.values().cloned().collect(), g.config.clone(), Arc::clone(&g.available)))
    }

    /// Describes `group`, `None` when there is no such group: none in memory, and no state
    /// stored for it (a group without members is forgotten once idle, its state kept on disk).
    pub fn describe(&self, group: &str) -> Option<ShareGroupDescription> {
        let groups = self.lock();
        let Some(g) = groups.get(group) else {
            let stored = Self::check_group_id(group).is_ok()
                && self.disk.exists(&self.group_dir(group)).unwrap_or(false);
            return stored.then(|| ShareGroupDescription { epoch: 0, members: Vec::new() });
        };
        let mut members: Vec<ShareMember> = g.members.values().cloned().collect();
        members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        Some(ShareGroupDescription { epoch: g.epoch, members })
    }

    /// Updates `member`'s share session: `epoch` 0 starts a new one, others add to it; `forget`
    /// leaves partitions. Returns the session's partitions.
    pub fn update_session(
        &self,
        group: &str,
        member: &str,
        epoch: i32,
        add: &[TopicPartition],
        forget: &[TopicPartition],
        config: ShareGroupConfig,
    ) -> Result<Vec<TopicPartition>, ShareError> {
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        let g = groups.get_mut(group).ok_or_else(|| ShareError::UnknownMember(member.to_owned()))?;
        g.config = config;
        let m = g.members.get_mut(member).ok_or_else(|| ShareError::UnknownMember(member.to_owned()))?;
        m.last_seen_ms = now;
        if epoch == 0 {
            m.session.clear();
        }
        m.session.extend(add.iter().copied());
        for tp in forget {
            m.session.remove(tp);
        }
        Ok(m.session.iter().copied().collect())
    }

    /// Closes `member`'s share session (epoch -1): releases what it holds.
    pub fn close_session_blocking(&self, group: &str, member: &str) -> Result<(), ShareError> {
        {
            let mut groups = self.lock();
            if let Some(m) = groups.get_mut(group).and_then(|g| g.members.get_mut(member)) {
                m.session.clear();
            }
        }
        self.release_members(group, &[member.to_owned()])
    }

    /// The share-partition of `group` over `tp`, opened (or started) on first use.
    fn share_partition(
        &self,
        group: &str,
        tp: TopicPartition,
    ) -> Result<(Arc<SharePartition>, ShareGroupConfig), ShareError> {
        self.share_partition_of(group, tp, false)
    }

    /// [`Self::share_partition`]; with `create`, a group without members (which the timer may
    /// forget at any moment) is made again rather than refused: the admin calls on offsets.
    fn share_partition_of(
        &self,
        group: &str,
        tp: TopicPartition,
        create: bool,
    ) -> Result<(Arc<SharePartition>, ShareGroupConfig), ShareError> {
        let find = |groups: &mut HashMap<String, Group>| -> Result<(), ShareError> {
            if groups.contains_key(group) {
                return Ok(());
            }
            if !create {
                return Err(ShareError::UnknownMember(String::new()));
            }
            if groups.len() >= GROUPS_MAX {
                return Err(ShareError::Full(format!("at most {GROUPS_MAX} share groups")));
            }
            groups.insert(group.to_owned(), Group::default());
            Ok(())
        };
        let config = {
            let mut groups = self.lock();
            find(&mut groups)?;
            let g = groups.get(group).ok_or_else(|| ShareError::UnknownMember(String::new()))?;
            if let Some(p) = g.partitions.get(&tp) {
                return Ok((Arc::clone(p), g.config.clone()));
            }
            g.config.clone()
        };
        let info = self
            .topics
            .topics()
            .into_iter()
            .find(|t| t.id == tp.0)
            .ok_or(ShareError::UnknownTopicPartition)?;
        let partition = self.topics.partition(&info.name, tp.1).ok_or(ShareError::UnknownTopicPartition)?;
        let dir = self.group_dir(group).join(format!("{:032x}-{}", tp.0, tp.1));
        // Opening reads (or starts) the journal outside the groups lock; a racing opener of the
        // same share-partition gets the one that was stored first.
        let opened = SharePartition::open(self.disk.clone(), &dir, partition, tp.0, config.auto_offset_reset)
            .map_err(storage)?;
        let mut groups = self.lock();
        find(&mut groups)?;
        let g = groups.get_mut(group).ok_or_else(|| ShareError::UnknownMember(String::new()))?;
        let p = g.partitions.entry(tp).or_insert_with(|| Arc::new(opened));
        Ok((Arc::clone(p), g.config.clone()))
    }

    /// Applies `member`'s acknowledgements of `tp`; answered once the journal is synced.
    /// Returns the first refusal, if any (the others still take effect).
    pub fn acknowledge_blocking(
        &self,
        group: &str,
        member: &str,
        tp: TopicPartition,
        batches: &AckBatches,
    ) -> Result<Option<AckError>, ShareError> {
        let (p, config) = self.share_partition(group, tp)?;
        let now = self.clock.now_ms();
        let (refused, leaving) = p.acknowledge(member, batches, now, &config).map_err(storage)?;
        let released = batches.iter().any(|(_, _, kinds)| kinds.contains(&AckKind::Release));
        self.spawn_dead_letters(group, &p, &config, leaving);
        if released && let Some((_, _, available)) = self.group_parts(group) {
            available.notify_waiters();
        }
        Ok(refused)
    }

    /// Acquires up to `max_records` records of `tp` for `member` and reads their batches.
    pub fn acquire_blocking(
        &self,
        group: &str,
        member: &str,
        tp: TopicPartition,
        max_records: usize,
    ) -> Result<Acquisition, ShareError> {
        let (p, config) = self.share_partition(group, tp)?;
        let now = self.clock.now_ms();
        let member: Arc<str> = Arc::from(member);
        let (acquired, leaving) = p.acquire(&member, max_records, now, &config).map_err(storage)?;
        self.spawn_dead_letters(group, &p, &config, leaving);
        if !acquired.ranges.is_empty() {
            self.timer.notify_one();
        }
        Ok(acquired)
    }

    /// Woken when records of `group` become available again; `None` for an unknown group.
    pub fn available(&self, group: &str) -> Option<Arc<Notify>> {
        self.lock().get(group).map(|g| Arc::clone(&g.available))
    }

    /// The share-partitions `group` has state for, on disk or in memory, with their figures.
    /// Blocking: it may open journals.
    pub fn offsets_blocking(&self, group: &str) -> Result<Vec<(TopicPartition, ShareStats)>, ShareError> {
        Self::check_group_id(group)?;
        let mut out = Vec::new();
        for tp in self.stored_partitions(group) {
            match self.share_partition_of(group, tp, true) {
                Ok((p, _)) => out.push((tp, p.stats())),
                Err(ShareError::UnknownTopicPartition) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by_key(|(tp, _)| *tp);
        Ok(out)
    }

    /// Topic partitions with a journal directory, or open, for `group`.
    fn stored_partitions(&self, group: &str) -> BTreeSet<TopicPartition> {
        let mut tps: BTreeSet<TopicPartition> =
            self.lock().get(group).map(|g| g.partitions.keys().copied().collect()).unwrap_or_default();
        for name in self.disk.list(&self.group_dir(group)).unwrap_or_default() {
            if let Some((id, p)) = name.split_once('-')
                && let (Ok(id), Ok(p)) = (u128::from_str_radix(id, 16), p.parse::<u32>())
            {
                tps.insert((id, p));
            }
        }
        tps
    }

    /// True when `group` has members.
    pub fn has_members(&self, group: &str) -> bool {
        self.lock().get(group).is_some_and(|g| !g.members.is_empty())
    }

    /// Moves the start offset of `group`'s share-partition over `tp` to `offset`
    /// (AlterShareGroupOffsets). The group must be empty.
    pub fn alter_offset_blocking(
        &self,
        group: &str,
        tp: TopicPartition,
        offset: u64,
    ) -> Result<(), ShareError> {
        Self::check_group_id(group)?;
        if self.has_members(group) {
            return Err(ShareError::NotEmpty);
        }
        let (p, _) = self.share_partition_of(group, tp, true)?;
        p.reset_to(offset).map_err(storage)
    }

    /// Forgets `group`'s share-partitions of topic `topic_id` (DeleteShareGroupOffsets): the
    /// next member starts them again where `share.auto.offset.reset` says. The group must be empty.
    pub fn delete_offsets_blocking(&self, group: &str, topic_id: u128) -> Result<(), ShareError> {
        Self::check_group_id(group)?;
        if self.has_members(group) {
            return Err(ShareError::NotEmpty);
        }
        let stored = self.stored_partitions(group);
        if let Some(g) = self.lock().get_mut(group) {
            g.partitions.retain(|tp, _| tp.0 != topic_id);
        }
        for tp in stored.into_iter().filter(|tp| tp.0 == topic_id) {
            let dir = self.group_dir(group).join(format!("{:032x}-{}", tp.0, tp.1));
            self.disk.remove_dir_all(&dir).map_err(storage)?;
        }
        Ok(())
    }

    /// Figures of every open share-partition: (group, topic, partition, figures), for metrics.
    pub fn stats(&self) -> Vec<(String, String, u32, ShareStats)> {
        let groups = self.lock();
        let mut out: Vec<(String, String, u32, ShareStats)> = groups
            .iter()
            .flat_map(|(name, g)| {
                g.partitions.values().map(move |p| {
                    (name.clone(), p.partition().topic().to_owned(), p.partition().index(), p.stats())
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
        out
    }
}
