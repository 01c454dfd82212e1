//! The accept loop: bounded connections, graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::dynamic_configs::DynamicConfigs;
use crate::{KafkaConfig, KafkaContext, connection};
use ferry_broker::telemetry::Protocol;

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) ctx: KafkaContext,
    pub(crate) config: KafkaConfig,
    /// Broker and group settings set through the config APIs.
    pub(crate) dynamic_configs: DynamicConfigs,
}

/// Serves the Kafka protocol on `listener` until `shutdown` completes, then closes every connection.
pub async fn serve(
    listener: TcpListener,
    config: KafkaConfig,
    ctx: KafkaContext,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let shared = Arc::new(Shared { ctx, config, dynamic_configs: DynamicConfigs::default() });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tracing::info!(addr = %listener.local_addr()?, "kafka listener started");
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
                let open = shared.ctx.telemetry.connection_opened(Protocol::Kafka, peer, local);
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
    tracing::info!("kafka listener stopped");
    Ok(())
}
