//! The workloads: producers and consumers on tasks, the warm-up, the measured window, the drain.
//!
//! Load is either closed (each producer keeps `inflight` messages unacknowledged and sends as
//! soon as there is room) or open (`rate`: each send has a time in a fixed schedule, and its
//! latency counts from that time, so a broker that stalls is charged for every message the stall
//! delayed rather than for the one it held up — no coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::sleep_until;

use crate::outcome::{self, Latency, Memory, Outcome};
use crate::payload::{self, Phase};
use crate::target::{Consumer, Plan, Producer, Target};

/// How a run drives its producers and consumers.
#[derive(Clone, Debug)]
pub struct Load {
    pub size: usize,
    pub producers: usize,
    pub consumers: usize,
    pub batch: usize,
    pub inflight: usize,
    /// Messages per second across all producers; `None` for a closed loop.
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub duration: Duration,
    /// Measured messages to send across all producers; the window then lasts until the last of
    /// them is acknowledged (produce) or received (e2e, fan-out) instead of `duration`.
    pub count: Option<u64>,
    /// How long to wait after the window for measured messages still on their way.
    pub drain: Duration,
}

/// Shared by every task of a run.
struct Run {
    started: Instant,
    /// Nanoseconds since the epoch at which the measured window opens; 0 while warming up.
    measure_from_ns: AtomicU64,
    window: Duration,
    acked: AtomicU64,
    received: AtomicU64,
    /// Measured messages received, per subscription.
    received_measured: Vec<AtomicU64>,
    /// Warm-up messages received, per subscription.
    received_warmup: Vec<AtomicU64>,
    stop_consumers: AtomicBool,
    /// With a message count: measured messages sent so far, and the count.
    measured_sent: AtomicU64,
    count: Option<u64>,
}

impl Run {
    fn new(subscriptions: usize, window: Duration) -> Arc<Run> {
        Run::counted(subscriptions, window, None)
    }

    /// A run whose window is `load`'s: a duration, or open until `count` messages are sent.
    fn of(subscriptions: usize, load: &Load) -> Arc<Run> {
        match load.count {
            Some(count) => Run::counted(subscriptions, Duration::MAX / 4, Some(count)),
            None => Run::new(subscriptions, load.duration),
        }
    }

    fn counted(subscriptions: usize, window: Duration, count: Option<u64>) -> Arc<Run> {
        Arc::new(Run {
            started: Instant::now(),
            measure_from_ns: AtomicU64::new(0),
            window,
            acked: AtomicU64::new(0),
            received: AtomicU64::new(0),
            received_measured: (0..subscriptions).map(|_| AtomicU64::new(0)).collect(),
            received_warmup: (0..subscriptions).map(|_| AtomicU64::new(0)).collect(),
            stop_consumers: AtomicBool::new(false),
            measured_sent: AtomicU64::new(0),
            count,
        })
    }

    fn open_window(&self, at: Instant) {
        self.measure_from_ns.store(payload::nanos(at).max(1), Ordering::Release);
    }

    /// The measured window, once it is open.
    fn window(&self) -> Option<(Instant, Instant)> {
        match self.measure_from_ns.load(Ordering::Acquire) {
            0 => None,
            ns => {
                let from = payload::epoch() + Duration::from_nanos(ns);
                Some((from, from + self.window))
            }
        }
    }
}

/// An acknowledgement on its way, with the send's stamp, phase and message count.
type PendingAck = futures::future::BoxFuture<'static, (Result<()>, Instant, Phase, usize)>;

/// What one producer saw.
struct Published {
    /// Measured messages acknowledged (at any time).
    measured: u64,
    /// Measured messages acknowledged inside the window.
    in_window: u64,
    latency: Histogram<u64>,
    last_ack: Option<Instant>,
}

/// Sends until the window closes (or `limit` messages), keeping at most `inflight` unacknowledged.
async fn publish(
    mut producer: Box<dyn Producer>,
    run: Arc<Run>,
    load: Load,
    rate: Option<f64>,
    destinations: usize,
    limit: Option<u64>,
) -> Result<Published> {
    let mut out = Published { measured: 0, in_window: 0, latency: outcome::histogram(), last_ack: None };
    let mut pending: FuturesUnordered<PendingAck> = FuturesUnordered::new();
    let mut pending_msgs = 0usize;
    let mut sent = 0u64;
    let mut batches = 0u64;
    let settle = |done: (Result<()>, Instant, Phase, usize), out: &mut Published| -> Result<()> {
        let (result, stamp, phase, n) = done;
        result.context("the broker did not acknowledge a send")?;
        let now = Instant::now();
        run.acked.fetch_add(n as u64, Ordering::Relaxed);
        if phase == Phase::Measured {
            out.last_ack = Some(now);
            out.measured += n as u64;
            if run.window().is_some_and(|(_, until)| now <= until) {
                out.in_window += n as u64;
            }
            out.latency.saturating_record_n(
                (now.saturating_duration_since(stamp).as_micros() as u64).max(1),
                n as u64,
            );
        }
        Ok(())
    };
    loop {
        if limit.is_some_and(|l| sent >= l) {
            break;
        }
        let due = match rate {
            Some(r) => run.started + Duration::from_secs_f64(batches as f64 * load.batch as f64 / r),
            None => Instant::now(),
        };
        if run.window().is_some_and(|(_, until)| due >= until) {
            break;
        }
        // Take what is already acknowledged first, so each acknowledgement is timed when it
        // arrives rather than when the window next runs full.
        while let Some(Some(done)) = pending.next().now_or_never() {
            pending_msgs -= done.3;
            settle(done, &mut out)?;
        }
        loop {
            let room = pending_msgs + load.batch <= load.inflight.max(load.batch);
            if room && Instant::now() >= due {
                break;
            }
            tokio::select! {
                Some(done) = pending.next(), if !pending.is_empty() => {
                    pending_msgs -= done.3;
                    settle(done, &mut out)?;
                }
                _ = sleep_until(due.into()), if room => {}
            }
        }
        let stamp = if rate.is_some() { due } else { Instant::now() };
        let phase = match run.window() {
            Some((from, _)) if stamp >= from => Phase::Measured,
            _ if limit.is_some() => Phase::Measured,
            _ => Phase::WarmUp,
        };
        let n = match limit {
            Some(l) => load.batch.min((l - sent) as usize),
            None => load.batch,
        };
        if phase == Phase::Measured
            && let Some(count) = run.count
            && run.measured_sent.fetch_add(n as u64, Ordering::Relaxed) >= count
        {
            break;
        }
        let payloads = (0..n).map(|_| payload::encode(stamp, phase, load.size)).collect();
        let destination = (batches % destinations as u64) as usize;
        let ack = producer.send(destination, payloads).await?;
        let settled: PendingAck = Box::pin(async move { (ack.await, stamp, phase, n) });
        pending.push(settled);
        pending_msgs += n;
        sent += n as u64;
        batches += 1;
    }
    let drained = tokio::time::timeout(load.drain, async {
        while let Some(done) = pending.next().await {
            settle(done, &mut out)?;
        }
        anyhow::Ok(())
    })
    .await;
    match drained {
        Ok(result) => result?,
        Err(_) => bail!(
            "sends still unacknowledged {} s after the window closed: the broker stalled, or a longer --drain is needed",
            load.drain.as_secs()
        ),
    }
    Ok(out)
}

/// What one consumer saw.
struct Received {
    in_window: u64,
    latency: Histogram<u64>,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// Receives until told to stop, counting receipts inside the window and timing measured ones.
async fn receive(mut consumer: Box<dyn Consumer>, run: Arc<Run>, subscription: usize) -> Result<Received> {
    let mut out = Received { in_window: 0, latency: outcome::histogram(), first: None, last: None };
    while !run.stop_consumers.load(Ordering::Acquire) {
        let window = run.window();
        let mut count = |payload: &[u8]| {
            let now = Instant::now();
            run.received.fetch_add(1, Ordering::Relaxed);
            out.first.get_or_insert(now);
            out.last = Some(now);
            if window.is_some_and(|(from, until)| now >= from && now <= until) {
                out.in_window += 1;
            }
            match payload::decode(payload) {
                Some((sent, Phase::Measured)) => {
                    outcome::record(&mut out.latency, now.saturating_duration_since(sent));
                    run.received_measured[subscription].fetch_add(1, Ordering::Relaxed);
                }
                Some((_, Phase::WarmUp)) => {
                    run.received_warmup[subscription].fetch_add(1, Ordering::Relaxed);
                }
                None => {}
            }
        };
        consumer.receive(Duration::from_millis(200), &mut count).await?;
    }
    Ok(out)
}

/// Shows what a run is doing on the terminal (nothing when stderr is not one).
fn progress(run: &Arc<Run>, label: &str) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {prefix} {msg}").expect("valid template"));
    bar.set_prefix(label.to_owned());
    let (shown, run) = (bar.clone(), Arc::clone(run));
    let ticker = tokio::spawn(async move {
        loop {
            let state = match run.window() {
                None => format!("warming up {:.0} s", run.started.elapsed().as_secs_f64()),
                // Counted runs and fills have no set length.
                Some((from, _)) if run.count.is_some() || run.window > Duration::from_secs(1 << 32) => {
                    format!("measuring {:.0} s", from.elapsed().as_secs_f64())
                }
                Some((from, _)) => format!(
                    "measuring {:.0}/{:.0} s",
                    from.elapsed().as_secs_f64().min(run.window.as_secs_f64()),
                    run.window.as_secs_f64()
                ),
            };
            shown.set_message(format!(
                "{state}  acknowledged {}  received {}",
                run.acked.load(Ordering::Relaxed),
                run.received.load(Ordering::Relaxed)
            ));
            shown.tick();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    (bar, ticker)
}

fn join_error(e: tokio::task::JoinError) -> anyhow::Error {
    anyhow::anyhow!("a workload task failed: {e}")
}

/// The template every workload fills in.
fn outcome_for(workload: &str, plan: &Plan, load: &Load) -> Outcome {
    Outcome {
        workload: workload.to_owned(),
        size: plan.size.max(payload::HEADER_LEN),
        producers: load.producers,
        consumers: load.consumers,
        partitions: plan.partitions,
        batch: load.batch,
        inflight: load.inflight,
        prefetch: plan.prefetch,
        rate: load.rate,
        subscriptions: plan.subscriptions,
        destinations: plan.destinations,
        ..Outcome::default()
    }
}

/// Producers only: acknowledged publishes per second and publish-to-acknowledgement latency.
pub async fn produce(target: &dyn Target, plan: &Plan, load: &Load) -> Result<Outcome> {
    let run = Run::of(plan.subscriptions, load);
    let producers = start_producers(target, plan, load, &run).await?;
    let (bar, ticker) = progress(&run, "produce");
    tokio::time::sleep(load.warmup).await;
    run.open_window(Instant::now());
    let published = collect(producers).await;
    ticker.abort();
    bar.finish_and_clear();
    let published = published?;
    let mut latency = outcome::histogram();
    let mut in_window = 0;
    for p in &published {
        latency.add(&p.latency).context("merging histograms")?;
        in_window += p.in_window;
    }
    let mut out = outcome_for("produce", plan, load);
    out.consumers = 0;
    let window = match (load.count, run.window(), published.iter().filter_map(|p| p.last_ack).max()) {
        (Some(_), Some((from, _)), Some(last)) => last.saturating_duration_since(from),
        _ => load.duration,
    };
    fill_rates(&mut out, in_window, window);
    out.latency = Some(Latency::of("publish_ack", &latency));
    Ok(out)
}

/// Producers and consumers together: messages received per second, send-to-receipt latency.
/// With `subscriptions` > 1 every message reaches each subscription (fan-out).
pub async fn end_to_end(workload: &str, target: &dyn Target, plan: &Plan, load: &Load) -> Result<Outcome> {
    let run = Run::of(plan.subscriptions, load);
    let mut consumers = Vec::new();
    for subscription in 0..plan.subscriptions {
        for _ in 0..load.consumers {
            let consumer = target.consumer(plan, 0, subscription).await?;
            consumers.push(tokio::spawn(receive(consumer, Arc::clone(&run), subscription)));
        }
    }
    let producers = start_producers(target, plan, load, &run).await?;
    let (bar, ticker) = progress(&run, workload);
    let result = async {
        tokio::time::sleep(load.warmup).await;
        // The window opens once every subscription is receiving, so that joining a group or
        // attaching a consumer is not charged to the first measured messages.
        let deadline = Instant::now() + Duration::from_secs(60);
        while run.received_warmup.iter().any(|n| n.load(Ordering::Relaxed) == 0) {
            if Instant::now() > deadline {
                bail!("no consumer received a warm-up message within 60 s: check that --target and --addr name a broker that delivers to consumers");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        run.open_window(Instant::now());
        let published = collect(producers).await?;
        let expected: u64 = published.iter().map(|p| p.measured).sum();
        let in_window: u64 = published.iter().map(|p| p.in_window).sum();
        let deadline = Instant::now() + load.drain;
        while run.received_measured.iter().any(|n| n.load(Ordering::Relaxed) < expected)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok((expected, in_window))
    }
    .await;
    run.stop_consumers.store(true, Ordering::Release);
    let received = collect(consumers).await;
    ticker.abort();
    bar.finish_and_clear();
    let ((expected, published_in_window), received) = (result?, received?);
    let mut latency = outcome::histogram();
    let mut in_window = 0;
    for r in &received {
        latency.add(&r.latency).context("merging histograms")?;
        in_window += r.in_window;
    }
    let mut out = outcome_for(workload, plan, load);
    out.consumers = load.consumers * plan.subscriptions;
    let measured: u64 = run.received_measured.iter().map(|n| n.load(Ordering::Relaxed)).sum();
    // A duration counts every receipt inside it (the consumers' pace); a count counts its own
    // messages, until the last of them arrived.
    let (messages, window) = match (load.count, run.window(), received.iter().filter_map(|r| r.last).max()) {
        (Some(_), Some((from, _)), Some(last)) => (measured, last.saturating_duration_since(from)),
        _ => (in_window, load.duration),
    };
    fill_rates(&mut out, messages, window);
    if load.count.is_none() {
        out.published_per_s = Some(published_in_window as f64 / window.as_secs_f64());
    }
    out.missing =
        run.received_measured.iter().map(|n| expected.saturating_sub(n.load(Ordering::Relaxed))).sum();
    out.latency = Some(Latency::of("end_to_end", &latency));
    Ok(out)
}

/// Fills the destination with `count` messages first, then drains it: messages consumed per second.
pub async fn consume(target: &dyn Target, plan: &Plan, load: &Load, count: u64) -> Result<Outcome> {
    let fill = Run::new(plan.subscriptions, Duration::MAX / 4);
    let (bar, ticker) = progress(&fill, "filling");
    let filled = async {
        let producer = target.producer(plan).await?;
        publish(producer, Arc::clone(&fill), load.clone(), None, 1, Some(count)).await
    }
    .await;
    ticker.abort();
    bar.finish_and_clear();
    filled?;
    let run = Run::new(plan.subscriptions, Duration::MAX / 4);
    run.open_window(Instant::now());
    let mut consumers = Vec::new();
    for _ in 0..load.consumers {
        let consumer = target.consumer(plan, 0, 0).await?;
        consumers.push(tokio::spawn(receive(consumer, Arc::clone(&run), 0)));
    }
    let (bar, ticker) = progress(&run, "consume");
    let mut last_count = 0;
    let mut last_progress = Instant::now();
    while run.received_measured[0].load(Ordering::Relaxed) < count {
        let now = run.received_measured[0].load(Ordering::Relaxed);
        if now != last_count {
            (last_count, last_progress) = (now, Instant::now());
        } else if last_progress.elapsed() > load.drain {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.stop_consumers.store(true, Ordering::Release);
    let received = collect(consumers).await;
    ticker.abort();
    bar.finish_and_clear();
    let received = received?;
    let first = received.iter().filter_map(|r| r.first).min();
    let last = received.iter().filter_map(|r| r.last).max();
    let got = run.received_measured[0].load(Ordering::Relaxed);
    let mut out = outcome_for("consume", plan, load);
    out.producers = 0;
    let secs = match (first, last) {
        (Some(first), Some(last)) => last.saturating_duration_since(first),
        _ => Duration::ZERO,
    };
    fill_rates(&mut out, got, secs);
    out.missing = count.saturating_sub(got);
    Ok(out)
}

/// Many destinations with a few messages left in each: the server's memory per destination and
/// per queued message.
pub async fn queues(
    target: &dyn Target,
    plan: &Plan,
    load: &Load,
    per_queue: u64,
    pid: Option<u32>,
) -> Result<Outcome> {
    let rss_start = rss(pid)?;
    let started = Instant::now();
    target.prepare(plan).await?;
    let setup = started.elapsed();
    let settle = Duration::from_secs(2);
    tokio::time::sleep(settle).await;
    let rss_with_queues = rss(pid)?;
    let total = per_queue * plan.destinations as u64;
    let run = Run::new(plan.subscriptions, Duration::MAX / 4);
    run.open_window(Instant::now());
    let (bar, ticker) = progress(&run, "queues");
    let started = Instant::now();
    let filled = async {
        let mut producers = Vec::new();
        for _ in 0..load.producers {
            let producer = target.producer(plan).await?;
            let share = total / load.producers as u64;
            let (run, load) = (Arc::clone(&run), load.clone());
            producers.push(tokio::spawn(publish(producer, run, load, None, plan.destinations, Some(share))));
        }
        collect(producers).await
    }
    .await;
    ticker.abort();
    bar.finish_and_clear();
    let published = filled?;
    let elapsed = started.elapsed();
    tokio::time::sleep(settle).await;
    let rss_with_messages = rss(pid)?;
    let queued: u64 = published.iter().map(|p| p.measured).sum();
    let mut out = outcome_for("queues", plan, load);
    out.consumers = 0;
    fill_rates(&mut out, queued, elapsed);
    out.setup_secs = Some(setup.as_secs_f64());
    if let (Some(start), Some(with_queues), Some(with_messages)) =
        (rss_start, rss_with_queues, rss_with_messages)
    {
        out.memory = Some(Memory {
            rss_start_bytes: start,
            rss_with_queues_bytes: with_queues,
            rss_with_messages_bytes: with_messages,
            per_queue_bytes: (with_queues as f64 - start as f64) / plan.destinations as f64,
            per_message_bytes: (with_messages as f64 - with_queues as f64) / queued.max(1) as f64,
        });
    }
    Ok(out)
}

async fn start_producers(
    target: &dyn Target,
    plan: &Plan,
    load: &Load,
    run: &Arc<Run>,
) -> Result<Vec<tokio::task::JoinHandle<Result<Published>>>> {
    let mut producers = Vec::new();
    for _ in 0..load.producers {
        let producer = target.producer(plan).await?;
        let rate = load.rate.map(|r| r / load.producers as f64);
        producers.push(tokio::spawn(publish(producer, Arc::clone(run), load.clone(), rate, 1, None)));
    }
    Ok(producers)
}

async fn collect<T>(tasks: Vec<tokio::task::JoinHandle<Result<T>>>) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(tasks.len());
    let mut first_error = None;
    for task in tasks {
        match task.await.map_err(join_error).and_then(|r| r) {
            Ok(value) => out.push(value),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn fill_rates(out: &mut Outcome, messages: u64, window: Duration) {
    let secs = window.as_secs_f64();
    out.secs = secs;
    out.messages = messages;
    if secs > 0.0 {
        out.msg_per_s = messages as f64 / secs;
        out.mb_per_s = messages as f64 * out.size as f64 / secs / 1e6;
    }
}

/// Resident memory of process `pid` in bytes, from /proc.
fn rss(pid: Option<u32>) -> Result<Option<u64>> {
    let Some(pid) = pid else { return Ok(None) };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading the memory of server process {pid}"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))?;
    Ok(Some(kib * 1024))
}
