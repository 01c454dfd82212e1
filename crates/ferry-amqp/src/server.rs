//! The accept loop: bounded connections, graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ferry_broker::Broker;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::{AmqpConfig, connection};

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) config: Arc<AmqpConfig>,
    pub(crate) broker: Arc<Broker>,
    /// Exclusive queues and the connection that owns each.
    exclusive: Mutex<HashMap<String, u64>>,
    next_connection: AtomicU64,
}

impl Shared {
    /// A number for a new connection, unique while the listener runs.
    pub(crate) fn connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// The connection owning `queue` when it is exclusive.
    pub(crate) fn exclusive_owner(&self, queue: &str) -> Option<u64> {
        self.exclusive.lock().unwrap_or_else(PoisonError::into_inner).get(queue).copied()
    }

    /// Records `connection` as the owner of the exclusive `queue`.
    pub(crate) fn own(&self, queue: &str, connection: u64) {
        self.exclusive.lock().unwrap_or_else(PoisonError::into_inner).insert(queue.to_owned(), connection);
    }

    /// Forgets the owner of `queue` (deleted, or its connection closed).
    pub(crate) fn disown(&self, queue: &str) {
        self.exclusive.lock().unwrap_or_else(PoisonError::into_inner).remove(queue);
    }
}

/// Serves AMQP 0-9-1 on `listener` over `broker` until `shutdown` completes, then closes every
/// connection (each is sent `connection.close` 320 CONNECTION_FORCED). Fails at once on
/// settings that [`AmqpConfig::validate`] refuses.
pub async fn serve(
    listener: TcpListener,
    config: AmqpConfig,
    broker: Arc<Broker>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    config.validate().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let shared = Arc::new(Shared {
        config: Arc::new(config),
        broker,
        exclusive: Mutex::new(HashMap::new()),
        next_connection: AtomicU64::new(1),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tracing::info!(addr = %listener.local_addr()?, "amqp listener started");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                    tracing::warn!(%peer, limit = shared.config.max_connections, "connection limit reached; closing");
                    continue;
                };
                let shared = Arc::clone(&shared);
                let stop = stop_rx.clone();
                tasks.spawn(async move {
                    connection::run(stream, peer, shared, stop).await;
                    drop(permit);
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    tracing::info!("amqp listener stopped");
    Ok(())
}
