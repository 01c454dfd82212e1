//! Idempotent producers (librdkafka, enable.idempotence=true) through a proxy that loses responses.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::TestBroker;
use common::clients::{consumer, producer, read, text};
use ferry_kafka::KafkaConfig;
use rdkafka::Offset;
use rdkafka::producer::FutureRecord;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PRODUCE: i16 = 0;

/// Forwards connections to `upstream`; after forwarding a Produce request while `drops` is positive,
/// waits for the broker's answer and then closes both sides instead of passing it on.
async fn lossy_proxy(listener: TcpListener, upstream: String, drops: Arc<AtomicUsize>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { return };
        let upstream = upstream.clone();
        let drops = Arc::clone(&drops);
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else { return };
            let (mut client_r, mut client_w) = client.into_split();
            let (mut server_r, mut server_w) = server.into_split();
            let (drop_tx, mut drop_rx) = tokio::sync::watch::channel(false);
            let requests = async move {
                loop {
                    let mut size = [0u8; 4];
                    client_r.read_exact(&mut size).await?;
                    let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
                    client_r.read_exact(&mut frame).await?;
                    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
                    let lose = api_key == PRODUCE
                        && drops
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| d.checked_sub(1))
                            .is_ok();
                    if lose {
                        // Flag first, so the answer cannot slip through before the flag is seen.
                        let _ = drop_tx.send(true);
                    }
                    server_w.write_all(&size).await?;
                    server_w.write_all(&frame).await?;
                    if lose {
                        return Ok::<(), std::io::Error>(());
                    }
                }
            };
            let responses = async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = server_r.read(&mut buf).await?;
                    if n == 0 || *drop_rx.borrow_and_update() {
                        // The broker's answer to the dropped request is read and discarded.
                        if *drop_rx.borrow() {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        return Ok::<(), std::io::Error>(());
                    }
                    client_w.write_all(&buf[..n]).await?;
                }
            };
            let _ = tokio::join!(requests, responses);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_retries_lost_responses_without_duplicates_or_gaps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let proxy_port = proxy.local_addr().expect("addr").port();
    let config = KafkaConfig {
        advertised_host: Some("127.0.0.1".into()),
        advertised_port: Some(proxy_port),
        ..KafkaConfig::default()
    };
    let broker = TestBroker::start_with(dir.path(), config).await;
    let drops = Arc::new(AtomicUsize::new(0));
    tokio::spawn(lossy_proxy(proxy, broker.bootstrap.clone(), Arc::clone(&drops)));
    let bootstrap = format!("127.0.0.1:{proxy_port}");

    let producer = producer(
        &bootstrap,
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "2"),
            ("batch.num.messages", "10"),
            ("message.timeout.ms", "60000"),
            ("retry.backoff.ms", "50"),
        ],
    );
    // Warm up: metadata and producer id, then lose three responses while producing.
    producer
        .send(FutureRecord::<(), _>::to("exactly-once").payload("m0"), Duration::from_secs(30))
        .await
        .expect("first");
    drops.store(3, Ordering::SeqCst);
    let mut sends = Vec::new();
    for i in 1..200 {
        let value = format!("m{i}");
        sends.push(
            producer
                .send_result(FutureRecord::<(), String>::to("exactly-once").payload(&value))
                .map_err(|(e, _)| e)
                .expect("queued"),
        );
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for send in sends {
        send.await.expect("not cancelled").expect("delivered");
    }
    assert_eq!(drops.load(Ordering::SeqCst), 0, "the proxy dropped responses");

    let consumer = consumer(&broker.bootstrap, "exactly-once", 0, Offset::Beginning);
    let messages = read(&consumer, 200).await;
    let expected: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    assert_eq!(messages.iter().map(text).collect::<Vec<_>>(), expected);
    let offsets = broker.topics.partition("exactly-once", 0).expect("partition").offsets();
    assert_eq!(offsets.log_end_offset, 200, "no duplicate was appended");
    broker.stop().await;
}
