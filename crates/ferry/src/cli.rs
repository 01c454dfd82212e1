//! The command line. Every option of `ferry serve` can also be set by a `FERRY_*` environment
//! variable or in the TOML file given with `--config`; a flag wins over the variable, which wins
//! over the file. The client commands' arguments are in `cli/client.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod client;
pub use client::*;

/// ferry: one broker for event streams (Kafka protocol), work queues (SQS API) and routing.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None, after_long_help = EXIT_CODES)]
pub struct Cli {
    /// The client commands' options given before the command word (`ferry --url ... queue list`).
    #[command(flatten)]
    pub client: LeadingClientOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker: open the data directory and serve every protocol listener.
    Serve(Box<ServeArgs>),
    /// Load generator for ferry and the brokers it is compared with (`ferry bench --help`).
    ///
    /// Runs the `ferry-bench` binary installed beside `ferry` (build it with
    /// `cargo build --release -p ferry-bench`), passing every argument on.
    #[command(disable_help_flag = true)]
    Bench(BenchArgs),

    /// Topics (Kafka-style partitioned logs): create, list, describe, alter, delete.
    Topic(TopicArgs),
    /// Queues (leased messages): create, list, describe, alter, peek, purge, delete, redrive.
    Queue(QueueArgs),
    /// Exchanges (routing to queues, exchanges and topics): create, list, describe, delete.
    Exchange(ExchangeArgs),
    /// Bind a queue, exchange or topic to an exchange; `ferry unbind` removes the binding.
    Bind(BindArgs),
    /// Publish one message to an exchange, which routes it by its bindings.
    Publish(PublishArgs),
    /// Remove a binding made with `ferry bind` (the same arguments).
    Unbind(BindArgs),
    /// List bindings, optionally of one source or destination.
    Bindings(BindingsArgs),
    /// Append records to a topic: one per line of stdin, or JSON lines with --json.
    Produce(ProduceArgs),
    /// Print the records of a topic, one value per line (JSON lines with -o json).
    Consume(ConsumeArgs),
    /// Send one message to a queue; the body is the argument, or stdin without one.
    Send(SendArgs),
    /// Receive messages from a queue and acknowledge them (or --no-ack, --nack, --reject).
    Receive(ReceiveArgs),
    /// Consumer groups: list, describe (offsets and lag), reset-offsets, delete.
    Group(GroupArgs),
    /// A live view of queues and consumer groups, refreshed every second until Ctrl-C.
    Stats(StatsArgs),
    /// Print a shell completion script: `ferry completions bash > /etc/bash_completion.d/ferry`.
    Completions(CompletionsArgs),
}

impl Command {
    /// A command that talks to a running broker's REST API (and so takes --url and --output).
    pub fn is_client(&self) -> bool {
        !matches!(self, Command::Serve(_) | Command::Bench(_) | Command::Completions(_))
    }
}

/// Printed at the end of `ferry --help`.
const EXIT_CODES: &str = "\
The client commands (topic, queue, exchange, bind, publish, unbind, bindings, produce, consume, send,
receive, group, stats) talk to the REST API of a running `ferry serve`, at --url or $FERRY_URL
[default: http://127.0.0.1:8080].

Exit codes:
  0  success
  1  the server answered with an error (e.g. no such queue); the message is on stderr
  2  usage error: bad flags or arguments, or unreadable input on stdin
  3  the server cannot be reached (not running, wrong --url, no answer in time)";

/// Arguments of `ferry bench`, passed on to `ferry-bench` unread.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

/// How appended data is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncMode {
    /// Acknowledge a write only once it is on disk; concurrent writes share one fsync.
    Always,
    /// fsync every `--fsync-interval-ms`; a crash may lose the last interval of acknowledged writes.
    Interval,
    /// Never fsync explicitly; the operating system writes back when it chooses.
    Never,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file (see README for its sections); flags and FERRY_* variables override it.
    #[arg(long, short = 'c', env = "FERRY_CONFIG")]
    pub config: Option<PathBuf>,

    /// Directory holding every log, journal and the metadata store [default: ./ferry-data].
    #[arg(long, env = "FERRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Log filter, in tracing's env-filter syntax, e.g. `info` or `ferry_kafka=debug` [default: info].
    #[arg(long, env = "FERRY_LOG")]
    pub log: Option<String>,

    /// Durability of appends [default: always].
    #[arg(long, env = "FERRY_FSYNC", value_enum)]
    pub fsync: Option<FsyncMode>,

    /// With `--fsync interval`: milliseconds between fsyncs [default: 1000].
    #[arg(long, env = "FERRY_FSYNC_INTERVAL_MS")]
    pub fsync_interval_ms: Option<u64>,

    /// Size at which a log segment is closed and a new one started, in bytes [default: 1073741824].
    #[arg(long, env = "FERRY_SEGMENT_BYTES")]
    pub segment_bytes: Option<u64>,

    /// Resident memory above which publishers are blocked (AMQP `connection.blocked`), in bytes;
    /// overrides `[memory] high_watermark` [default: 0.6 of the memory available].
    #[arg(long, env = "FERRY_MEMORY_HIGH_WATERMARK_BYTES")]
    pub memory_high_watermark_bytes: Option<u64>,

    /// Address of the Kafka listener [default: 127.0.0.1:9092]; `[kafka]` in the file holds the rest.
    #[arg(long, env = "FERRY_KAFKA_LISTEN")]
    pub kafka_listen: Option<std::net::SocketAddr>,

    /// Address of the SQS listener [default: 127.0.0.1:9324]; `[sqs]` in the file holds the rest.
    #[arg(long, env = "FERRY_SQS_LISTEN")]
    pub sqs_listen: Option<std::net::SocketAddr>,

    /// Address of the AMQP 0-9-1 listener [default: 127.0.0.1:5672]; `[amqp]` in the file holds the rest.
    #[arg(long, env = "FERRY_AMQP_LISTEN")]
    pub amqp_listen: Option<std::net::SocketAddr>,

    /// Address of the HTTP listener: REST API, metrics, console [default: 127.0.0.1:8080];
    /// `[http]` in the file holds the rest.
    #[arg(long, env = "FERRY_HTTP_LISTEN")]
    pub http_listen: Option<std::net::SocketAddr>,

    /// How long an AMQP client may hold a delivery unacknowledged before its channel is closed
    /// (406), in milliseconds, unless the queue or consumer sets x-consumer-timeout [default: 1800000].
    #[arg(long, env = "FERRY_AMQP_CONSUMER_TIMEOUT_MS")]
    pub amqp_consumer_timeout_ms: Option<u64>,
}
