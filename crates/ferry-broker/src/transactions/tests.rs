use std::path::Path;
use std::sync::Arc;

use ferry_log::record::{NewRecord, encode_batch};

use super::*;
use crate::clock::ManualClock;
use crate::groups::GroupConfig;
use crate::metadata::RedbStore;
use crate::topics::{Isolation, TopicConfig, TopicServiceConfig};

struct Node {
    topics: Arc<TopicService>,
    groups: Arc<GroupCoordinator>,
    txns: Arc<TransactionCoordinator>,
    clock: ManualClock,
}

fn open(dir: &Path, clock: &ManualClock) -> Node {
    let store: Arc<dyn MetadataStore> = Arc::new(RedbStore::open(dir.join("metadata.redb")).expect("store"));
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let topics = Arc::new(
        TopicService::open(
            TopicServiceConfig {
                data_dir: dir.join("topics"),
                durability: ferry_log::Durability::Always,
                default_config: TopicConfig::default(),
                limits: Default::default(),
            },
            Arc::clone(&store),
            Arc::clone(&shared),
        )
        .expect("topics"),
    );
    let groups = GroupCoordinator::open(Arc::clone(&store), Arc::clone(&shared), GroupConfig::default())
        .expect("groups");
    let txns = TransactionCoordinator::open(
        store,
        Arc::clone(&topics),
        Arc::clone(&groups),
        shared,
        TransactionConfig::default(),
    )
    .expect("transactions");
    Node { topics, groups, txns, clock: clock.clone() }
}

/// One transactional batch of `count` records from `pid`/`epoch`, numbered from `seq`.
fn txn_batch(pid: i64, epoch: i16, seq: i32, count: usize) -> Vec<u8> {
    let records: Vec<NewRecord<'_>> =
        (0..count).map(|_| NewRecord { timestamp: 1, value: Some(b"v"), ..NewRecord::default() }).collect();
    let mut batch = encode_batch(&records);
    let attributes = i16::from_be_bytes([batch[21], batch[22]]) | 0x10;
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
    batch[43..51].copy_from_slice(&pid.to_be_bytes());
    batch[51..53].copy_from_slice(&epoch.to_be_bytes());
    batch[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

impl Node {
    fn topic(&self, name: &str) {
        self.topics.create_topic(name, 1, TopicConfig::default()).expect("topic");
    }

    async fn produce(&self, pid: i64, epoch: i16, seq: i32, count: usize) -> Result<(), ProduceError> {
        let appended =
            self.txns.produce("t", 0, &txn_batch(pid, epoch, seq, count), pid, epoch, false).await?;
        appended.durable().await.map(|_| ())
    }

    fn offsets(&self) -> crate::topics::PartitionOffsets {
        self.topics.partition("t", 0).expect("partition").offsets()
    }

    fn read_committed(&self, from: u64) -> crate::topics::ReadOutcome {
        self.topics
            .partition("t", 0)
            .expect("partition")
            .read_isolated(from, 1 << 20, true, Isolation::ReadCommitted)
            .expect("read")
    }
}

fn partitions() -> Vec<(String, u32)> {
    vec![("t".to_string(), 0)]
}

#[tokio::test]
async fn open_transaction_holds_the_stable_offset_and_its_marker_releases_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path(), &ManualClock::new(0));
    node.topic("t");
    let id = node.txns.init_producer("tx", 60_000, None).await.expect("init");
    node.txns.add_partitions("tx", id.producer_id, id.epoch, &partitions()).await.expect("add");
    node.produce(id.producer_id, id.epoch, 0, 2).await.expect("produce");
    let offsets = node.offsets();
    assert_eq!((offsets.high_watermark, offsets.last_stable_offset), (2, 0));
    assert!(node.read_committed(0).records.is_empty());

    node.txns.end("tx", id.producer_id, id.epoch, true).await.expect("commit");
    let offsets = node.offsets();
    assert_eq!((offsets.high_watermark, offsets.last_stable_offset), (3, 3), "records and the marker");
    let read = node.read_committed(0);
    assert_eq!(ferry_log::batches(&read.records).count(), 2);
    assert!(read.aborted.is_empty());
    let info = node.txns.describe("tx").await.expect("known");
    assert_eq!(info.state, TxnState::CompleteCommit);
}

#[tokio::test]
async fn aborted_records_are_listed_for_read_committed_readers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path(), &ManualClock::new(0));
    node.topic("t");
    let id = node.txns.init_producer("tx", 60_000, None).await.expect("init");
    node.txns.add_partitions("tx", id.producer_id, id.epoch, &partitions()).await.expect("add");
    node.produce(id.producer_id, id.epoch, 0, 3).await.expect("produce");
    node.txns.end("tx", id.producer_id, id.epoch, false).await.expect("abort");
    let read = node.read_committed(0);
    assert_eq!(read.last_stable_offset, 4);
    assert_eq!(
        read.aborted,
        vec![crate::topics::txn::AbortedTxn { producer_id: id.producer_id, first_offset: 0, last_offset: 3 }]
    );
    // A retried EndTxn of the same outcome succeeds; the other outcome is refused.
    node.txns.end("tx", id.producer_id, id.epoch, false).await.expect("retried abort");
    assert!(matches!(
        node.txns.end("tx", id.producer_id, id.epoch, true).await,
        Err(TxnError::InvalidTxnState(_))
    ));
}

#[tokio::test]
async fn a_new_instance_fences_the_old_one_and_aborts_what_it_left_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path(), &ManualClock::new(0));
    node.topic("t");
    let old = node.txns.init_producer("tx", 60_000, None).await.expect("init");
    node.txns.add_partitions("tx", old.producer_id, old.epoch, &partitions()).await.expect("add");
    node.produce(old.producer_id, old.epoch, 0, 1).await.expect("produce");

    let new = node.txns.init_producer("tx", 60_000, None).await.expect("second instance");
    assert_eq!((new.producer_id, new.epoch), (old.producer_id, old.epoch + 1));
    assert!(matches!(
        node.txns.end("tx", old.producer_id, old.epoch, true).await,
        Err(TxnError::ProducerFenced)
    ));
    assert!(matches!(
        node.produce(old.producer_id, old.epoch, 1, 1).await,
        Err(ProduceError::Transaction(TxnError::ProducerFenced))
    ));
    let read = node.read_committed(0);
    assert_eq!(read.aborted.len(), 1, "the old instance's records were aborted");
    assert_eq!(node.offsets().last_stable_offset, 2);
    // The new instance starts its own transaction from sequence 0.
    node.txns.add_partitions("tx", new.producer_id, new.epoch, &partitions()).await.expect("add");
    node.produce(new.producer_id, new.epoch, 0, 1).await.expect("new instance produces");
    node.txns.end("tx", new.producer_id, new.epoch, true).await.expect("commit");
}

#[tokio::test]
async fn records_outside_an_added_partition_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path(), &ManualClock::new(0));
    node.topic("t");
    let id = node.txns.init_producer("tx", 60_000, None).await.expect("init");
    assert!(matches!(
        node.produce(id.producer_id, id.epoch, 0, 1).await,
        Err(ProduceError::TransactionNotStarted)
    ));
    // Nor may anyone append transactional batches around the coordinator.
    let batch = txn_batch(id.producer_id, id.epoch, 0, 1);
    assert!(matches!(node.topics.produce("t", 0, &batch), Err(ProduceError::TransactionNotStarted)));
    assert_eq!(node.offsets().high_watermark, 0);
}

#[tokio::test]
async fn offsets_in_a_transaction_take_effect_only_when_it_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path(), &ManualClock::new(0));
    node.topic("t");
    let tp = TopicPartition::new("t", 0);
    let who = MemberRef { member_id: String::new(), group_instance_id: None, generation_id: -1 };
    let commit = |offset| vec![(tp.clone(), OffsetCommit { offset, leader_epoch: None, metadata: None })];
    let id = node.txns.init_producer("tx", 60_000, None).await.expect("init");

    assert!(matches!(
        node.txns.commit_offsets("tx", id.producer_id, id.epoch, "g", &who, commit(5)).await,
        Err(TxnError::InvalidTxnState(_))
    ));
    node.txns.add_offsets("tx", id.producer_id, id.epoch, "g").await.expect("add offsets");
    node.txns.commit_offsets("tx", id.producer_id, id.epoch, "g", &who, commit(5)).await.expect("held");
    assert!(node.txns.holds_offset("g", &tp));
    assert_eq!(node.groups.fetch_offsets("g", Some(std::slice::from_ref(&tp)))[0].1, None);
    node.txns.end("tx", id.producer_id, id.epoch, false).await.expect("abort");
    assert!(!node.txns.holds_offset("g", &tp));
    assert_eq!(
        node.groups.fetch_offsets("g", Some(std::slice::from_ref(&tp)))[0].1,
        None,
        "aborted offsets dropped"
    );

    node.txns.add_offsets("tx", id.producer_id, id.epoch, "g").await.expect("add offsets");
    node.txns.commit_offsets("tx", id.producer_id, id.epoch, "g", &who, commit(7)).await.expect("held");
    node.txns.end("tx", id.producer_id, id.epoch, true).await.expect("commit");
    let committed =
        node.groups.fetch_offsets("g", Some(std::slice::from_ref(&tp)))[0].1.clone().expect("committed");
    assert_eq!(committed.offset, 7);
}

#[tokio::test]
async fn a_timed_out_transaction_is_aborted_and_its_producer_may_start_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path(), &ManualClock::new(0));
    node.topic("t");
    let id = node.txns.init_producer("tx", 1_000, None).await.expect("init");
    node.txns.add_partitions("tx", id.producer_id, id.epoch, &partitions()).await.expect("add");
    node.produce(id.producer_id, id.epoch, 0, 1).await.expect("produce");
    node.clock.advance(500);
    node.txns.check_once().await;
    assert_eq!(node.txns.describe("tx").await.expect("known").state, TxnState::Ongoing);
    node.clock.advance(600);
    node.txns.check_once().await;
    let info = node.txns.describe("tx").await.expect("known");
    assert_eq!((info.state, info.epoch), (TxnState::CompleteAbort, id.epoch + 1));
    assert_eq!(node.offsets().last_stable_offset, 2);
    assert!(matches!(
        node.txns.end("tx", id.producer_id, id.epoch, true).await,
        Err(TxnError::InvalidProducerEpoch)
    ));
    let again = node.txns.init_producer("tx", 1_000, Some(id)).await.expect("start over (KIP-360)");
    assert!(again.epoch > info.epoch);
}

#[tokio::test]
async fn a_restart_keeps_open_transactions_open_and_finishes_prepared_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(0);
    let (open_id, prepared_id) = {
        let node = open(dir.path(), &clock);
        node.topic("t");
        let a = node.txns.init_producer("a", 60_000, None).await.expect("init a");
        let b = node.txns.init_producer("b", 60_000, None).await.expect("init b");
        node.txns.add_partitions("a", a.producer_id, a.epoch, &partitions()).await.expect("add a");
        node.txns.add_partitions("b", b.producer_id, b.epoch, &partitions()).await.expect("add b");
        node.produce(a.producer_id, a.epoch, 0, 2).await.expect("produce a");
        node.produce(b.producer_id, b.epoch, 0, 3).await.expect("produce b");
        // b's EndTxn got as far as storing PrepareCommit, then the process died.
        let slot = node.txns.slot("b").expect("slot");
        let mut record = slot.lock().await.record.clone().expect("record");
        record.state = TxnState::PrepareCommit;
        node.txns.persist("b", &record).await.expect("persist");
        (a, b)
    };
    let node = open(dir.path(), &clock);
    // The restart's first check finishes b; a stays open and holds the stable offset at 0.
    node.txns.check_once().await;
    assert_eq!(node.txns.describe("b").await.expect("b").state, TxnState::CompleteCommit);
    let a = node.txns.describe("a").await.expect("a");
    assert_eq!(a.state, TxnState::Ongoing);
    assert_eq!(node.offsets().last_stable_offset, 0);
    assert!(node.topics.partition("t", 0).expect("partition").has_open_transaction(open_id.producer_id));
    assert!(!node.topics.partition("t", 0).expect("partition").has_open_transaction(prepared_id.producer_id));
    // a's producer carries on after the restart and commits.
    node.produce(open_id.producer_id, open_id.epoch, 2, 1).await.expect("produce a again");
    node.txns.end("a", open_id.producer_id, open_id.epoch, true).await.expect("commit a");
    let offsets = node.offsets();
    assert_eq!(offsets.last_stable_offset, offsets.high_watermark);
    let read = node.read_committed(0);
    assert!(read.aborted.is_empty());
    assert_eq!(
        ferry_log::batches(&read.records).filter_map(Result::ok).filter(|(h, _)| !h.is_control()).count(),
        3
    );
}

#[tokio::test]
async fn a_partition_named_twice_in_one_offset_commit_is_released_once_the_transaction_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path(), &ManualClock::new(0));
    node.topic("t");
    let tp = TopicPartition::new("t", 0);
    let who = MemberRef { member_id: String::new(), group_instance_id: None, generation_id: -1 };
    let id = node.txns.init_producer("tx", 60_000, None).await.expect("init");
    node.txns.add_offsets("tx", id.producer_id, id.epoch, "g").await.expect("add offsets");
    let twice = vec![
        (tp.clone(), OffsetCommit { offset: 3, leader_epoch: None, metadata: None }),
        (tp.clone(), OffsetCommit { offset: 4, leader_epoch: None, metadata: None }),
    ];
    node.txns.commit_offsets("tx", id.producer_id, id.epoch, "g", &who, twice).await.expect("held");
    assert!(node.txns.holds_offset("g", &tp));
    node.txns.end("tx", id.producer_id, id.epoch, true).await.expect("commit");
    assert!(!node.txns.holds_offset("g", &tp), "OffsetFetch with require_stable would wait forever");
    let committed =
        node.groups.fetch_offsets("g", Some(std::slice::from_ref(&tp)))[0].1.clone().expect("committed");
    assert_eq!(committed.offset, 4, "the later of the two");
}
