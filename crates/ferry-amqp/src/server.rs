//! The accept loop: bounded connections, graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use ferry_broker::Broker;

use ferry_broker::telemetry::Protocol;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::{AmqpConfig, connection};

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) config: Arc<AmqpConfig>,
    pub(crate) broker: Arc<Broker>,
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
    let shared = Arc::new(Shared { config: Arc::new(config), broker });
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
                let local = stream.local_addr().unwrap_or(peer);
                let open = shared.broker.telemetry().connection_opened(Protocol::Amqp, peer, local);
                let shared = Arc::clone(&shared);
                let stop = stop_rx.clone();
                tasks.spawn(async move {
                    connection::run(stream, peer, shared, stop).await;
                    drop(open);
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
