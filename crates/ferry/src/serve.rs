//! `ferry serve`: lock the data directory, open the stores, start the listeners, and on
//! SIGINT/SIGTERM stop accepting, let the listeners finish, and sync what is held.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use ferry_broker::Broker;
use ferry_broker::alarms::{DiskAlarm, MemoryAlarm, total_memory_bytes};
use ferry_broker::clock::SystemClock;
use ferry_broker::groups::GroupCoordinator;
use ferry_broker::metadata::{MetadataStore, RedbStore};
use ferry_broker::queues::{QueueService, QueueServiceConfig};
use ferry_broker::routing::Router;
use ferry_broker::shares::ShareCoordinator;
use ferry_broker::telemetry::Telemetry;
use ferry_broker::topics::{TopicConfig, TopicService, TopicServiceConfig};
use ferry_broker::transactions::{TransactionConfig, TransactionCoordinator};
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::cli::FsyncMode;
use crate::config::Settings;

/// How often retention and compaction run over every partition.
const MAINTENANCE_INTERVAL_MS: u64 = 30_000;
/// How often the disk-free alarm measures the data directory's free space.
const DISK_CHECK_INTERVAL_MS: u64 = 1_000;
/// How often the memory alarm measures the resident memory.
const MEMORY_CHECK_INTERVAL_MS: u64 = 1_000;

/// The log durability `--fsync` asks for.
fn durability(settings: &Settings) -> ferry_log::Durability {
    match settings.storage.fsync {
        FsyncMode::Always => ferry_log::Durability::Always,
        FsyncMode::Interval => ferry_log::Durability::IntervalMs(settings.storage.fsync_interval_ms),
        FsyncMode::Never => ferry_log::Durability::Never,
    }
}

/// The memory alarm's high watermark in bytes (0: off, also when the memory available is unknown).
fn memory_limit(settings: &Settings) -> u64 {
    if let Some(bytes) = settings.memory.high_watermark_bytes {
        return bytes;
    }
    match total_memory_bytes() {
        Ok(total) => settings.memory.limit_bytes(total),
        Err(e) => {
            warn!(error = %e, "memory available unknown; the memory alarm is off");
            0
        }
    }
}

/// Installs the global tracing subscriber with the `log` filter (falls back to `info` if invalid).
/// Colours only on a terminal, and never when `NO_COLOR` is set (no-color.org): a log written to a
/// file or a pipe stays plain text.
pub fn init_tracing(filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).init();
}

/// Runs the broker until a shutdown signal arrives.
pub fn run(settings: Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ferry")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(settings))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let data_dir = DataDir::lock(&settings.data_dir)?;
    raise_open_files_limit(&settings);
    let metadata: Arc<dyn MetadataStore> = Arc::new(
        RedbStore::open(data_dir.path().join("metadata.redb")).context("cannot open the metadata store")?,
    );
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut listeners: JoinSet<std::io::Result<()>> = JoinSet::new();
    let topics = Arc::new(
        TopicService::open(
            TopicServiceConfig {
                data_dir: data_dir.path().to_owned(),
                durability: durability(&settings),
                default_config: TopicConfig {
                    segment_bytes: settings.storage.segment_bytes,
                    ..TopicConfig::default()
                },
                limits: settings.topics,
            },
            Arc::clone(&metadata),
            SystemClock::shared(),
        )
        .context("cannot open the topics")?,
    );
    let maintenance = tokio::spawn(Arc::clone(&topics).maintenance_loop(MAINTENANCE_INTERVAL_MS));
    let disk_alarm = Arc::new(DiskAlarm::new(data_dir.path(), settings.storage.disk_free_limit_bytes));
    let disk_watch = tokio::spawn({
        let alarm = Arc::clone(&disk_alarm);
        async move { alarm.watch(DISK_CHECK_INTERVAL_MS).await }
    });
    let memory_alarm = Arc::new(MemoryAlarm::new(memory_limit(&settings)));
    let memory_watch = tokio::spawn({
        let alarm = Arc::clone(&memory_alarm);
        async move { alarm.watch(MEMORY_CHECK_INTERVAL_MS).await }
    });
    let telemetry = Telemetry::new();
    let kafka = bind("kafka", settings.kafka.listen, &telemetry).await?;
    let groups =
        GroupCoordinator::open(Arc::clone(&metadata), SystemClock::shared(), settings.groups.clone())
            .context("cannot open the consumer groups")?;
    let transactions = TransactionCoordinator::open(
        Arc::clone(&metadata),
        Arc::clone(&topics),
        Arc::clone(&groups),
        SystemClock::shared(),
        TransactionConfig::default(),
    )
    .context("cannot open the transactions")?;
    let queues = QueueService::open(
        data_dir.path().to_owned(),
        Arc::clone(&metadata),
        SystemClock::shared(),
        QueueServiceConfig { durability: durability(&settings), ..QueueServiceConfig::default() },
    )
    .await
    .context("cannot open the queues")?;
    let shares = ShareCoordinator::open(
        data_dir.path().to_owned(),
        Arc::new(ferry_log::StdDisk),
        Arc::clone(&topics),
        Arc::clone(&queues),
        SystemClock::shared(),
    );
    let kafka_ctx = ferry_kafka::KafkaContext {
        topics: Arc::clone(&topics),
        groups: Arc::clone(&groups),
        shares: Arc::clone(&shares),
        transactions,
        telemetry: Arc::clone(&telemetry),
    };
    listeners.spawn(ferry_kafka::serve(kafka, settings.kafka.clone(), kafka_ctx, shutdown(&shutdown_rx)));
    let router =
        Arc::new(Router::open(Arc::clone(&metadata)).context("cannot open the exchanges and bindings")?);
    let broker = Arc::new(
        Broker::new(Arc::clone(&topics), Arc::clone(&queues), groups, router, Arc::clone(&disk_alarm))
            .with_memory_alarm(memory_alarm)
            .with_telemetry(Arc::clone(&telemetry))
            .with_shares(shares),
    );
    let sqs = bind("sqs", settings.sqs.listen, &telemetry).await?;
    listeners.spawn(ferry_sqs::serve(sqs, settings.sqs.clone(), Arc::clone(&broker), shutdown(&shutdown_rx)));
    let amqp = bind("amqp", settings.amqp.listen, &telemetry).await?;
    listeners.spawn(ferry_amqp::serve(
        amqp,
        settings.amqp.clone(),
        Arc::clone(&broker),
        shutdown(&shutdown_rx),
    ));
    let http = bind("http", settings.http.listen, &telemetry).await?;
    let ready = Arc::new(AtomicBool::new(false));
    let http_ctx = Arc::new(ferry_http::HttpContext {
        broker,
        config: settings.http.clone(),
        ready: Arc::clone(&ready),
        started: std::time::Instant::now(),
    });
    listeners.spawn(ferry_http::serve(http, http_ctx, shutdown(&shutdown_rx)));

    let signals = ShutdownSignals::install()?;
    ready.store(true, Ordering::SeqCst);
    println!("ferry {} serving from {}", env!("CARGO_PKG_VERSION"), data_dir.path().display());
    info!(data_dir = %data_dir.path().display(), fsync = ?settings.storage.fsync, "ferry started");

    signals.wait().await;
    info!("shutting down");
    let _ = shutdown_tx.send(true);
    while let Some(joined) = listeners.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "a listener stopped with an error"),
            Err(e) => warn!(error = %e, "a listener task failed"),
        }
    }
    maintenance.abort();
    disk_watch.abort();
    memory_watch.abort();
    let flushed = Arc::clone(&topics);
    if let Err(e) = tokio::task::spawn_blocking(move || flushed.sync_all()).await {
        warn!(error = %e, "syncing the topics at shutdown failed");
    }
    if let Err(e) = queues.close().await {
        warn!(error = %e, "syncing the queues at shutdown failed");
    }
    info!("stopped");
    Ok(())
}

/// Files a segment keeps open (log, offset index, time index).
const FILES_PER_SEGMENT: u64 = 3;

/// Raises the soft limit on open files to the hard one, as most servers do (a shell's default
/// soft limit of 1024 is below what the default connection limits alone may open), and warns
/// when even the hard limit is below what the configured limits can hold open at once.
fn raise_open_files_limit(settings: &Settings) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current.unwrap_or(u64::MAX);
    if limit.maximum.is_none_or(|hard| hard > soft) {
        match setrlimit(Resource::Nofile, Rlimit { current: limit.maximum, maximum: limit.maximum }) {
            Ok(()) => soft = limit.maximum.unwrap_or(u64::MAX),
            Err(e) => warn!(error = %e, soft, "cannot raise the open-files limit"),
        }
    }
    // Connections alone, with room for the metadata store, queues and a few hundred partitions;
    // each partition segment holds FILES_PER_SEGMENT more (README).
    let connections = settings.kafka.max_connections as u64
        + settings.sqs.max_connections as u64
        + settings.amqp.max_connections as u64
        + settings.http.max_connections as u64;
    let partitions_fit = soft.saturating_sub(connections) / FILES_PER_SEGMENT;
    if soft < connections + 256 {
        warn!(
            open_files_limit = soft,
            connections,
            "the open-files limit is below what the connection limits can use; raise `ulimit -n` \
             (or LimitNOFILE) or lower max_connections"
        );
    } else {
        info!(open_files_limit = soft, partitions_fit, "open-files limit");
    }
}

/// Binds `addr` for the listener `name` and prints `<name> listening on <addr>` with the bound
/// address (tests and scripts read that line when they ask for port 0).
async fn bind(name: &'static str, addr: SocketAddr, telemetry: &Telemetry) -> anyhow::Result<TcpListener> {
    let listener =
        TcpListener::bind(addr).await.with_context(|| format!("cannot listen for {name} on {addr}"))?;
    let local = listener.local_addr()?;
    telemetry.listener_bound(name, local);
    println!("{name} listening on {local}");
    info!(%local, "{name} listening");
    Ok(listener)
}

/// A future that resolves when shutdown begins; hand one to each listener.
fn shutdown(rx: &watch::Receiver<bool>) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        // An error means the sender is gone, which only happens once shutdown is under way.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// SIGINT and SIGTERM handlers, installed before the broker says it is serving: a signal sent
/// as soon as "serving from" is printed must start a clean shutdown, not kill the process.
struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> anyhow::Result<ShutdownSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?,
        })
    }

    /// Resolves on SIGINT or SIGTERM.
    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// The data directory, held exclusively by this process for as long as the value lives.
struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates `path` if needed and takes its lock file, failing clearly if another broker holds it.
    fn lock(path: &Path) -> anyhow::Result<DataDir> {
        std::fs::create_dir_all(path)
            .with_context(|| format!("cannot create the data directory {}", path.display()))?;
        let path = path.canonicalize().with_context(|| format!("cannot resolve {}", path.display()))?;
        let lock_path = path.join("ferry.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open the lock file {}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "the data directory {} is in use by another ferry broker; stop it or choose another --data-dir",
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", lock_path.display()));
            }
        }
        Ok(DataDir { path, _lock: lock })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}
