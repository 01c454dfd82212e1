//! `ferry-bench` (also run as `ferry bench`): load for ferry and for the brokers it is compared
//! with, through the clients their users run, with latencies that count stalls honestly.
//!
//! # Layout
//!
//! - `target`: what a broker must offer the workloads (producers, consumers, destinations).
//! - `targets`: one module per protocol and client (Kafka via librdkafka, SQS over HTTP, ...).
//! - `payload`: the timestamped bytes every message carries.
//! - `run`: the workloads, closed and open loop, warm-up, measured window, drain.
//! - `outcome`: the figures of a run, as a table or one JSON line.
//! - `report`: tables and SVG charts from many runs' JSON lines, written into a Markdown file.

mod outcome;
mod payload;
mod report;
mod run;
mod target;
mod targets;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::outcome::Outcome;
use crate::run::Load;
use crate::target::Plan;
use crate::targets::Kind;

/// Load generator for ferry and the brokers people compare it with.
///
/// Each workload creates its own topics or queues (named ferry-bench-<time>-...), warms up until
/// every consumer is receiving, measures for --duration seconds, waits for the messages still
/// on their way, and deletes what it created. Without --rate, producers send as fast as their
/// in-flight window allows (closed loop); with --rate, sends follow a fixed schedule and latency
/// counts from the scheduled time, so a stall is charged to every message it delayed.
#[derive(Debug, Parser)]
#[command(name = "ferry-bench", bin_name = "ferry bench", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publishers only: acknowledged publishes per second, publish-to-acknowledgement latency.
    Produce(Options),
    /// Fill a queue or topic with --count messages, then drain it: messages consumed per second.
    Consume(ConsumeOptions),
    /// Producers and consumers together (a work queue): receipts per second, send-to-receipt latency.
    E2e(Options),
    /// One stream of messages, each delivered to every one of --fanout subscriptions.
    Fanout(FanoutOptions),
    /// Many queues with a few messages left in each: server memory per queue and per message.
    Queues(QueuesOptions),
    /// Turn runs' JSON lines into Markdown tables and SVG charts.
    Report(report::ReportArgs),
}

#[derive(Debug, Args)]
struct Options {
    /// The broker and protocol to drive.
    #[arg(long, value_enum, default_value_t = Kind::Kafka)]
    target: Kind,
    /// Where it listens: host:port for Kafka, a URL for the others [default: the protocol's usual port on 127.0.0.1].
    #[arg(long)]
    addr: Option<String>,
    /// Message size in bytes (at least 17: the send time travels in the message).
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Seconds of the measured window.
    #[arg(long, default_value_t = 10.0, conflicts_with = "count")]
    duration: f64,
    /// Measure this many messages instead of a duration (consume: fill with this many, default 100000).
    #[arg(long)]
    count: Option<u64>,
    /// Seconds of warm-up before the window (the window also waits for every consumer to receive).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds to wait after the window for messages still on their way.
    #[arg(long, default_value_t = 30.0)]
    drain: f64,
    /// Producers, each with its own connection.
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// Consumers per subscription, each with its own connection (a RabbitMQ stream takes one: its consumers do not share messages).
    #[arg(long, default_value_t = 1)]
    consumers: usize,
    /// Partitions of each topic (Kafka).
    #[arg(long, default_value_t = 1)]
    partitions: usize,
    /// Messages per send call (SQS: at most 10).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Messages a consumer may hold unacknowledged (AMQP prefetch, JetStream max_ack_pending, Redis XREADGROUP COUNT; SQS: messages per receive, at most 10).
    #[arg(long, default_value_t = 100)]
    prefetch: usize,
    /// Messages a producer may have sent but not yet acknowledged.
    #[arg(long, default_value_t = 256)]
    inflight: usize,
    /// Fixed send rate in messages per second across all producers (open loop) [default: as fast as possible].
    #[arg(long)]
    rate: Option<f64>,
    /// Process id of the broker, to report its resident memory (queues workload).
    #[arg(long)]
    server_pid: Option<u32>,
    /// How the broker under test makes data durable before acknowledging, reported beside the figures (not set).
    #[arg(long, alias = "broker-fsync", default_value = "")]
    durability: String,
    /// Name of the system in reports [default: the target's name].
    #[arg(long)]
    label: Option<String>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ConsumeOptions {
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Args)]
struct FanoutOptions {
    #[command(flatten)]
    options: Options,
    /// Subscriptions (consumer groups, bound queues, ...) that each receive every message.
    #[arg(long, default_value_t = 5)]
    fanout: usize,
}

#[derive(Debug, Args)]
struct QueuesOptions {
    #[command(flatten)]
    options: Options,
    /// Queues (topics, streams) to create.
    #[arg(long, default_value_t = 1000)]
    queues: usize,
    /// Messages left in each queue.
    #[arg(long, default_value_t = 100)]
    per_queue: u64,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    payload::epoch();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ferry bench: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command) -> Result<()> {
    let (options, outcome) = match command {
        Command::Report(args) => return report::write(&args),
        Command::Produce(o) => {
            let out = workload(&o, 1, 1, |t, plan, load| {
                Box::pin(async move { run::produce(t, &plan, &load).await })
            })
            .await?;
            (o, out)
        }
        Command::E2e(o) => {
            let out = workload(&o, 1, 1, |t, plan, load| {
                Box::pin(async move { run::end_to_end("e2e", t, &plan, &load).await })
            })
            .await?;
            (o, out)
        }
        Command::Fanout(f) => {
            let out = workload(&f.options, 1, f.fanout, |t, plan, load| {
                Box::pin(async move { run::end_to_end("fanout", t, &plan, &load).await })
            })
            .await?;
            (f.options, out)
        }
        Command::Consume(c) => {
            let count = c.options.count.unwrap_or(100_000);
            let out = workload(&c.options, 1, 1, move |t, plan, load| {
                Box::pin(async move { run::consume(t, &plan, &load, count).await })
            })
            .await?;
            (c.options, out)
        }
        Command::Queues(q) => {
            let (per_queue, pid) = (q.per_queue, q.options.server_pid);
            let out = workload(&q.options, q.queues, 1, move |t, plan, load| {
                Box::pin(async move { run::queues(t, &plan, &load, per_queue, pid).await })
            })
            .await?;
            (q.options, out)
        }
    };
    if options.json {
        println!("{}", serde_json::to_string(&outcome)?);
    } else {
        print!("{}", outcome.table());
    }
    Ok(())
}

type Workload<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Outcome>> + 'a>>;

/// Connects, prepares the destinations (the queues workload prepares its own, to time it),
/// runs, and cleans up whether or not the run succeeded.
async fn workload<F>(o: &Options, destinations: usize, subscriptions: usize, body: F) -> Result<Outcome>
where
    F: for<'a> FnOnce(&'a dyn target::Target, Plan, Load) -> Workload<'a>,
{
    check(o, destinations, subscriptions)?;
    let addr = o.addr.clone().unwrap_or_else(|| o.target.default_addr().to_owned());
    let settings = targets::Settings { addr: &addr, inflight: o.inflight, batch: o.batch };
    let target = targets::connect(o.target, &settings)?;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let plan = Plan {
        run: format!("ferry-bench-{stamp}"),
        destinations,
        subscriptions,
        partitions: o.partitions,
        prefetch: o.prefetch,
        size: o.size,
    };
    let load = Load {
        size: o.size,
        producers: o.producers,
        consumers: o.consumers,
        batch: o.batch,
        inflight: o.inflight,
        rate: o.rate,
        warmup: Duration::from_secs_f64(o.warmup),
        duration: Duration::from_secs_f64(o.duration),
        count: o.count,
        drain: Duration::from_secs_f64(o.drain),
    };
    let prepares_itself = destinations > 1;
    if !prepares_itself {
        target.prepare(&plan).await.with_context(|| format!("preparing {}", plan.run))?;
    }
    let result = body(target.as_ref(), plan.clone(), load).await;
    let cleaned = target.cleanup(&plan).await;
    let mut outcome = result?;
    if let Err(e) = cleaned {
        eprintln!("ferry bench: cleaning up {}: {e:#}", plan.run);
    }
    outcome.target = o.target.name();
    outcome.label = o.label.clone().unwrap_or_else(|| o.target.name());
    outcome.durability = o.durability.clone();
    Ok(outcome)
}

fn check(o: &Options, destinations: usize, subscriptions: usize) -> Result<()> {
    if o.producers == 0 || o.consumers == 0 || o.batch == 0 || o.partitions == 0 || o.inflight == 0 {
        bail!("--producers, --consumers, --batch, --partitions and --inflight must be at least 1");
    }
    if o.count == Some(0) {
        bail!("--count must be at least 1");
    }
    if destinations == 0 || subscriptions == 0 {
        bail!("--queues and --fanout must be at least 1");
    }
    if o.duration.is_nan()
        || o.duration <= 0.0
        || o.warmup.is_nan()
        || o.warmup < 0.0
        || o.drain.is_nan()
        || o.drain < 0.0
    {
        bail!("--duration must be positive, --warmup and --drain not negative");
    }
    if o.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        bail!("--rate must be positive");
    }
    Ok(())
}
