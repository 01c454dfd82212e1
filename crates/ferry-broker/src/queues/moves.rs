//! Message move tasks: redrive ready messages out of a (dead-letter) queue, rate-limited.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::codec::StoredMessage;
use super::error::QueueError;
use super::service::QueueService;
use super::types::{Delivery, MoveStatus, MoveTaskInfo};

/// Messages leased from the source per step.
const MOVE_BATCH: usize = 10;
/// Lease held on messages being moved.
const MOVE_LEASE_MS: u64 = 60_000;
/// Finished tasks remembered per source.
const MAX_FINISHED_PER_SOURCE: usize = 10;

/// A running or finished move.
#[derive(Debug)]
pub struct MoveTask {
    info: Mutex<MoveTaskInfo>,
    cancelled: AtomicBool,
}

impl MoveTask {
    fn snapshot(&self) -> MoveTaskInfo {
        self.info.lock().map(|i| i.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Asks the task to stop after the message it is moving.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    fn update(&self, f: impl FnOnce(&mut MoveTaskInfo)) {
        match self.info.lock() {
            Ok(mut i) => f(&mut i),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

fn stored_of(d: &Delivery) -> StoredMessage {
    StoredMessage {
        offset: 0,
        timestamp_ms: d.sent_ms,
        message_id: d.message_id.clone(),
        body: d.body.clone(),
        attributes: d.attributes.clone(),
        system_attributes: d.system_attributes.clone(),
        group_id: d.group_id.clone(),
        dedup_id: d.dedup_id.clone(),
        priority: d.priority,
        ttl_ms: None,
        delay_ms: 0,
        dead_letter_source: None,
        envelope: d.envelope.clone(),
        key: None,
    }
}

pub(super) fn start(
    svc: &QueueService,
    source: &str,
    destination: Option<&str>,
    max_per_second: Option<u32>,
) -> Result<MoveTaskInfo, QueueError> {
    let src = svc.get(source)?;
    if let Some(d) = destination {
        svc.get(d)?;
    }
    if max_per_second == Some(0) {
        return Err(QueueError::InvalidAttribute("max_per_second must be at least 1".into()));
    }
    let this = svc.this().ok_or_else(|| QueueError::MoveTask("service is shutting down".into()))?;
    let now = svc.clock().now_ms();
    let to_move = src.stats(now)?.ready;
    let info = MoveTaskInfo {
        handle: uuid::Uuid::new_v4().to_string(),
        source: source.to_string(),
        destination: destination.map(str::to_string),
        max_per_second,
        moved: 0,
        to_move,
        started_ms: now,
        status: MoveStatus::Running,
        failure: None,
    };
    let task = Arc::new(MoveTask { info: Mutex::new(info.clone()), cancelled: AtomicBool::new(false) });
    {
        let mut moves = svc.moves.lock().map_err(QueueError::storage)?;
        if moves.values().any(|t| {
            let i = t.snapshot();
            i.source == source && i.status == MoveStatus::Running
        }) {
            return Err(QueueError::MoveTask(format!("a move from {source} is already running")));
        }
        let finished: Vec<String> = moves
            .iter()
            .filter(|(_, t)| {
                let i = t.snapshot();
                i.source == source && i.status != MoveStatus::Running
            })
            .map(|(h, _)| h.clone())
            .collect();
        for h in finished.iter().take(finished.len().saturating_sub(MAX_FINISHED_PER_SOURCE - 1)) {
            moves.remove(h);
        }
        moves.insert(info.handle.clone(), task.clone());
    }
    tokio::spawn(run(this, task, info.clone()));
    Ok(info)
}

async fn run(svc: Arc<QueueService>, task: Arc<MoveTask>, info: MoveTaskInfo) {
    let result = step_all(&svc, &task, &info).await;
    task.update(|i| match result {
        Ok(()) if task.cancelled.load(Ordering::Relaxed) => i.status = MoveStatus::Cancelled,
        Ok(()) => i.status = MoveStatus::Completed,
        Err(e) => {
            i.status = MoveStatus::Failed;
            i.failure = Some(e.to_string());
        }
    });
}

async fn step_all(svc: &QueueService, task: &MoveTask, info: &MoveTaskInfo) -> Result<(), QueueError> {
    let clock = svc.clock().clone();
    let started = clock.now_ms();
    let mut moved: u64 = 0;
    let batch = info.max_per_second.map_or(MOVE_BATCH, |r| (r as usize).clamp(1, MOVE_BATCH));
    while moved < info.to_move && !task.cancelled.load(Ordering::Relaxed) {
        let src = svc.get(&info.source)?;
        let want = batch.min((info.to_move - moved) as usize);
        let (deliveries, leaving) = src.receive_now(clock.now_ms(), want, Some(MOVE_LEASE_MS), None)?;
        svc.dead_letter(&src, leaving).await;
        if deliveries.is_empty() {
            break;
        }
        let mut failed = None;
        for d in deliveries {
            if failed.is_some() || task.cancelled.load(Ordering::Relaxed) {
                // Hand the rest back at once rather than after their lease.
                let _ = src.change_lease(d.receipt, 0, clock.now_ms());
                continue;
            }
            let dest_name = info.destination.clone().or_else(|| d.dead_letter_source.clone());
            let dest = match dest_name.as_deref().map(|n| svc.get(n)) {
                Some(Ok(q)) => q,
                Some(Err(e)) => {
                    let _ = src.change_lease(d.receipt, 0, clock.now_ms());
                    failed = Some(e);
                    continue;
                }
                None => {
                    let _ = src.change_lease(d.receipt, 0, clock.now_ms());
                    failed =
                        Some(QueueError::MoveTask(format!("message {} has no source queue", d.message_id)));
                    continue;
                }
            };
            let onward = svc.put_stored(&dest, vec![stored_of(&d)]).await?;
            svc.dead_letter(&dest, onward).await;
            svc.ack(&info.source, d.receipt).await?;
            moved += 1;
            task.update(|i| i.moved = moved);
            if let Some(rate) = info.max_per_second {
                let due = started.saturating_add((moved * 1_000 / u64::from(rate)) as i64);
                clock.sleep_until(due).await;
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(())
}

pub(super) fn list(svc: &QueueService, source: &str) -> Vec<MoveTaskInfo> {
    let Ok(moves) = svc.moves.lock() else { return Vec::new() };
    let mut v: Vec<MoveTaskInfo> =
        moves.values().map(|t| t.snapshot()).filter(|i| i.source == source).collect();
    v.sort_by_key(|i| std::cmp::Reverse(i.started_ms));
    v
}

pub(super) fn cancel(svc: &QueueService, handle: &str) -> Result<MoveTaskInfo, QueueError> {
    let moves = svc.moves.lock().map_err(QueueError::storage)?;
    let task = moves.get(handle).ok_or_else(|| QueueError::MoveTask(format!("no move task {handle}")))?;
    let info = task.snapshot();
    if info.status != MoveStatus::Running {
        return Err(QueueError::MoveTask(format!("move task {handle} is not running")));
    }
    task.cancelled.store(true, Ordering::Relaxed);
    Ok(info)
}
