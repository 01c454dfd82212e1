//! Reads every figure the metrics page shows from the broker at one moment. Runs on the
//! blocking pool: each queue's figures take its lock briefly (and the age of its oldest message
//! may read its log), so a scrape of many queues never holds an async worker.

use std::collections::HashSet;

use ferry_broker::Broker;
use ferry_broker::queues::QueueStats;
use ferry_broker::telemetry::{HistogramSnapshot, Protocol};

/// One queue's figures.
pub struct QueueFigures {
    pub name: String,
    pub stats: QueueStats,
    /// Whether another queue dead-letters into this one.
    pub is_dead_letter_queue: bool,
}

/// One partition's figures.
pub struct PartitionFigures {
    pub topic: String,
    pub partition: u32,
    pub start_offset: u64,
    pub end_offset: u64,
    pub high_watermark: u64,
    pub bytes: u64,
}

/// A group's committed offset on one partition, and how far behind the partition's end it is.
pub struct LagFigures {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    pub lag: u64,
}

/// One share group's figures on one partition.
pub struct ShareFigures {
    pub group: String,
    pub topic: String,
    pub partition: u32,
    pub stats: ferry_broker::shares::ShareStats,
    /// Records not archived yet: the partition's high watermark minus the start offset.
    pub lag: u64,
}

/// Connections, channels and request latencies of one protocol.
pub struct ProtocolFigures {
    pub protocol: Protocol,
    pub connections: u64,
    pub channels: u64,
    pub requests: Vec<(String, HistogramSnapshot)>,
}

/// The process and its storage.
pub struct ProcessFigures {
    pub resident_bytes: Option<u64>,
    pub open_files: Option<u64>,
    pub disk_free_bytes: Option<u64>,
    pub disk_alarm: bool,
    pub memory_alarm: bool,
}

/// Everything at one moment.
pub struct Figures {
    pub queues: Vec<QueueFigures>,
    pub partitions: Vec<PartitionFigures>,
    pub lags: Vec<LagFigures>,
    pub shares: Vec<ShareFigures>,
    pub groups: usize,
    pub exchanges: usize,
    pub bindings: usize,
    pub topics: usize,
    pub protocols: Vec<ProtocolFigures>,
    pub process: ProcessFigures,
}

/// Reads the figures (blocking: call on the blocking pool).
pub fn collect(broker: &Broker) -> Figures {
    let names = broker.queues().list_queues(None);
    let mut dead_letter_targets = HashSet::new();
    let mut queues = Vec::with_capacity(names.len());
    for name in names {
        if let Ok(attrs) = broker.queues().queue_attributes(&name)
            && let Some(target) = attrs.dead_letter
        {
            dead_letter_targets.insert(target);
        }
        // A queue deleted since the list was taken is left out.
        if let Ok(stats) = broker.queues().queue_stats(&name) {
            queues.push(QueueFigures { name, stats, is_dead_letter_queue: false });
        }
    }
    for q in &mut queues {
        q.is_dead_letter_queue = dead_letter_targets.contains(&q.name);
    }

    let topics = broker.topics().topics();
    let mut partitions = Vec::new();
    for topic in &topics {
        for index in 0..topic.partitions {
            if let Some(p) = broker.topics().partition(&topic.name, index) {
                let offsets = p.offsets();
                partitions.push(PartitionFigures {
                    topic: topic.name.clone(),
                    partition: index,
                    start_offset: offsets.log_start_offset,
                    end_offset: offsets.log_end_offset,
                    high_watermark: offsets.high_watermark,
                    bytes: p.size_bytes(),
                });
            }
        }
    }

    let listings = broker.groups().list();
    let mut lags = Vec::new();
    for listing in &listings {
        for (tp, committed) in broker.groups().fetch_offsets(&listing.group_id, None) {
            let Some(committed) = committed else { continue };
            let end = u32::try_from(tp.partition)
                .ok()
                .and_then(|p| broker.topics().partition(&tp.topic, p))
                .map(|p| p.high_watermark());
            let Some(end) = end else { continue };
            let lag = end.saturating_sub(u64::try_from(committed.offset).unwrap_or(0));
            lags.push(LagFigures {
                group: listing.group_id.clone(),
                topic: tp.topic,
                partition: tp.partition,
                committed: committed.offset,
                lag,
            });
        }
    }

    let shares = broker
        .shares()
        .map(|s| s.stats())
        .unwrap_or_default()
        .into_iter()
        .map(|(group, topic, partition, stats)| {
            let end = broker.topics().partition(&topic, partition).map_or(0, |p| p.high_watermark());
            let lag = end.saturating_sub(stats.start_offset);
            ShareFigures { group, topic, partition, stats, lag }
        })
        .collect();

    let telemetry = broker.telemetry();
    let protocols = Protocol::ALL
        .iter()
        .map(|&protocol| ProtocolFigures {
            protocol,
            connections: telemetry.connections(protocol),
            channels: telemetry.channels(protocol),
            requests: telemetry.request_latencies(protocol),
        })
        .collect();

    Figures {
        queues,
        partitions,
        lags,
        shares,
        groups: listings.len(),
        exchanges: broker.router().exchange_count(),
        bindings: broker.router().binding_count(),
        topics: topics.len(),
        protocols,
        process: ProcessFigures {
            resident_bytes: ferry_broker::alarms::resident_bytes().ok(),
            open_files: open_files(),
            disk_free_bytes: broker.disk_alarm().free_bytes().ok(),
            disk_alarm: broker.disk_alarm().is_raised(),
            memory_alarm: broker.memory_alarm().is_raised(),
        },
    }
}

/// File descriptors the process holds open (Linux's /proc).
fn open_files() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd").ok().map(|entries| entries.count() as u64)
}
