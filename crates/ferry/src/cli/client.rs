//! The arguments of the client commands (`ferry queue …`, `send`, `consume`, `stats`, …), which
//! `crate::client` carries out against a running broker's REST API.

use clap::{Args, Subcommand, ValueEnum};

/// The server the client commands talk to when neither --url nor $FERRY_URL says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Where the client commands find the server, and how they print; accepted after any client
/// command word (`ferry queue list --url ...` or `ferry queue --url ... list`). A value given
/// here wins over one given before the command word, which wins over $FERRY_URL; the variable is
/// read in `client`, not by clap, so that a flag in either place wins over it.
#[derive(Clone, Debug, Default, Args)]
pub struct ClientOpts {
    /// Base URL of ferry's HTTP listener [env: FERRY_URL] [default: http://127.0.0.1:8080].
    #[arg(long, global = true)]
    pub url: Option<String>,

    /// Output format: aligned tables for people, or the API's JSON for scripts (a list: the items
    /// of all its pages as one array; consume: one record per line) [default: table].
    #[arg(long, short = 'o', value_enum, global = true)]
    pub output: Option<Output>,
}

/// `--url` and `--output` before the command word; only the client commands take them.
#[derive(Clone, Debug, Default, Args)]
pub struct LeadingClientOpts {
    /// Base URL of ferry's HTTP listener, for the client commands [env: FERRY_URL]
    /// [default: http://127.0.0.1:8080].
    #[arg(long)]
    pub url: Option<String>,

    /// Output format of the client commands: table or json [default: table].
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Output>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// `KEY=VALUE`, as given to `--header` and `--config`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

#[derive(Debug, Args)]
pub struct TopicArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: TopicCommand,
}

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        /// The topic.
        name: String,
        /// Number of partitions.
        #[arg(long, short = 'p', default_value_t = 1)]
        partitions: u32,
        /// A setting, e.g. `retention_ms=86400000` or `cleanup_policy=compact`; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        config: Vec<(String, String)>,
    },
    /// List topics with their partitions, records and size.
    List,
    /// A topic's settings and each partition's offsets.
    Describe {
        /// The topic.
        name: String,
    },
    /// Add partitions (never fewer) or change settings.
    Alter {
        /// The topic.
        name: String,
        /// The new number of partitions.
        #[arg(long, short = 'p')]
        partitions: Option<u32>,
        /// A setting to change, e.g. `retention_ms=3600000`; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        config: Vec<(String, String)>,
    },
    /// Delete a topic and its records.
    Delete {
        /// The topic.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: QueueCommand,
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Create a queue (answers as success when it exists with the same settings).
    Create {
        /// The queue.
        name: String,
        #[command(flatten)]
        settings: QueueSettings,
    },
    /// List queues with their depth, in-flight and oldest message age.
    List {
        /// Only queues whose name starts with this.
        #[arg(long)]
        prefix: Option<String>,
    },
    /// A queue's settings, figures and counters.
    Describe {
        /// The queue.
        name: String,
    },
    /// Change settings of a queue; only those given change.
    Alter {
        /// The queue.
        name: String,
        #[command(flatten)]
        settings: QueueSettings,
    },
    /// Show messages without receiving them (no lease, no delivery counted).
    Peek {
        /// The queue.
        name: String,
        /// Most messages shown.
        #[arg(long, short = 'n', default_value_t = 10)]
        max: u32,
    },
    /// Drop every ready message of a queue.
    Purge {
        /// The queue.
        name: String,
    },
    /// Delete a queue and its messages.
    Delete {
        /// The queue.
        name: String,
    },
    /// Move the messages of a dead-letter queue back to the queue they came from.
    Redrive {
        /// The dead-letter queue.
        name: String,
        /// Move them to this queue instead.
        #[arg(long, value_name = "QUEUE")]
        to: Option<String>,
    },
}

/// The settings of a queue; each is sent only when given.
#[derive(Debug, Default, Args)]
pub struct QueueSettings {
    /// A FIFO queue: order kept within a message group, deduplication.
    #[arg(long)]
    pub fifo: bool,
    /// FIFO: deduplicate by a hash of the body when a message has no deduplication id.
    #[arg(long)]
    pub content_based_dedup: bool,
    /// How long a received message stays leased before others may receive it.
    #[arg(long, value_name = "MS")]
    pub visibility_timeout_ms: Option<u64>,
    /// Delay before a sent message becomes ready.
    #[arg(long, value_name = "MS")]
    pub delay_ms: Option<u64>,
    /// How long a message is kept.
    #[arg(long, value_name = "MS")]
    pub retention_ms: Option<u64>,
    /// Messages older than this expire (dead-lettered when the queue has a target).
    #[arg(long, value_name = "MS")]
    pub message_ttl_ms: Option<u64>,
    /// Largest body accepted.
    #[arg(long, value_name = "BYTES")]
    pub max_message_bytes: Option<u64>,
    /// Default long-poll wait of a receive.
    #[arg(long, value_name = "MS")]
    pub receive_wait_ms: Option<u64>,
    /// Deliveries after which a message goes to the dead-letter queue.
    #[arg(long, value_name = "N")]
    pub max_deliveries: Option<u32>,
    /// Where messages go after --max-deliveries, or when rejected or expired.
    #[arg(long, value_name = "QUEUE")]
    pub dead_letter_queue: Option<String>,
    /// Most messages the queue holds.
    #[arg(long, value_name = "N")]
    pub max_length: Option<u64>,
    /// Highest priority a message may have (0 = no priorities).
    #[arg(long, value_name = "N")]
    pub max_priority: Option<u8>,
}

#[derive(Debug, Args)]
pub struct ExchangeArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: ExchangeCommand,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExchangeType {
    Direct,
    Fanout,
    Topic,
    Headers,
}

#[derive(Debug, Subcommand)]
pub enum ExchangeCommand {
    /// Create an exchange.
    Create {
        /// The exchange.
        name: String,
        /// How it routes.
        #[arg(long = "type", short = 't', value_enum)]
        kind: ExchangeType,
        /// Not kept across restarts.
        #[arg(long)]
        transient: bool,
        /// Deleted when its last binding goes.
        #[arg(long)]
        auto_delete: bool,
        /// Only other exchanges may publish to it.
        #[arg(long)]
        internal: bool,
        /// An argument, e.g. `alternate-exchange=unrouted`; repeatable.
        #[arg(long = "argument", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        arguments: Vec<(String, String)>,
    },
    /// List exchanges.
    List,
    /// An exchange with its bindings.
    Describe {
        /// The exchange.
        name: String,
    },
    /// Delete an exchange and its bindings.
    Delete {
        /// The exchange.
        name: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DestinationType {
    Queue,
    Exchange,
    Topic,
}

#[derive(Debug, Args)]
pub struct BindArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The exchange messages come from.
    pub source: String,
    /// The queue, exchange or topic they go to.
    pub destination: String,
    /// What the destination is.
    #[arg(long, short = 'd', value_enum, default_value_t = DestinationType::Queue)]
    pub destination_type: DestinationType,
    /// The routing key (direct and topic exchanges; `#` and `*` patterns on topic exchanges).
    #[arg(long, short = 'k', default_value = "")]
    pub routing_key: String,
    /// A binding argument, e.g. `x-match=all` on a headers exchange; repeatable.
    #[arg(long = "argument", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub arguments: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The exchange.
    pub exchange: String,
    /// The message body [default: all of stdin].
    pub body: Option<String>,
    /// The routing key.
    #[arg(long, short = 'k', default_value = "")]
    pub routing_key: String,
    /// A message header; repeatable.
    #[arg(long = "header", short = 'H', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub struct BindingsArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// Only bindings from this exchange.
    #[arg(long)]
    pub source: Option<String>,
    /// Only bindings to this queue, exchange or topic.
    #[arg(long)]
    pub destination: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The topic.
    pub topic: String,
    /// Each line is a JSON object `{"key", "value", "headers": {k: v}, "partition"}` (or any
    /// other JSON, taken as the value).
    #[arg(long)]
    pub json: bool,
    /// Key of every record (a JSON line's own key wins).
    #[arg(long, short = 'k')]
    pub key: Option<String>,
    /// A header of every record; repeatable.
    #[arg(long = "header", short = 'H', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// Partition of every record [default: the key's, or round-robin without a key].
    #[arg(long, short = 'p')]
    pub partition: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The topic.
    pub topic: String,
    /// Start at the first record kept [default: start at the end, i.e. only new records].
    #[arg(long, conflicts_with_all = ["offset", "timestamp"])]
    pub from_beginning: bool,
    /// Start at this offset (of each partition read).
    #[arg(long, conflicts_with = "timestamp")]
    pub offset: Option<u64>,
    /// Start at the first record written at or after this time (ms since the epoch).
    #[arg(long, value_name = "MS")]
    pub timestamp: Option<u64>,
    /// Read only this partition [default: all].
    #[arg(long, short = 'p')]
    pub partition: Option<u32>,
    /// Keep polling for new records until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Start where this consumer group's committed offsets are, and commit what was printed.
    #[arg(long, short = 'g')]
    pub group: Option<String>,
    /// Stop after this many records.
    #[arg(long, short = 'n')]
    pub max: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The queue.
    pub queue: String,
    /// The message body [default: all of stdin].
    pub body: Option<String>,
    /// A message header; repeatable.
    #[arg(long = "header", short = 'H', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,
    /// Deliver no sooner than this.
    #[arg(long, value_name = "MS")]
    pub delay_ms: Option<u64>,
    /// FIFO queues: the message group, ordered within itself.
    #[arg(long)]
    pub group_id: Option<String>,
    /// FIFO queues: a second message with this id within the deduplication window is dropped.
    #[arg(long)]
    pub dedup_id: Option<String>,
    /// Priority (queues with a max priority).
    #[arg(long)]
    pub priority: Option<u8>,
}

#[derive(Debug, Args)]
pub struct ReceiveArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// The queue.
    pub queue: String,
    /// Most messages to receive (1-100).
    #[arg(long, short = 'n', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max: u32,
    /// Wait up to this long for a message when none is ready (0-20000).
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=20_000))]
    pub wait_ms: u64,
    /// Leave the messages leased (invisible to others until the lease ends) instead of acking.
    #[arg(long, conflicts_with_all = ["nack", "reject"])]
    pub no_ack: bool,
    /// Nack instead of acking: the messages are delivered again (up to the queue's max deliveries).
    #[arg(long, conflicts_with = "reject")]
    pub nack: bool,
    /// Reject instead of acking: the messages go to the dead-letter queue (dropped without one).
    #[arg(long)]
    pub reject: bool,
    /// With --no-ack: how long the lease lasts [default: the queue's visibility timeout].
    #[arg(long, value_name = "MS", requires = "no_ack")]
    pub lease_ms: Option<u64>,
}

#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: GroupCommand,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List consumer groups with their state and members.
    List,
    /// A group's members and, per partition, committed offset and lag.
    Describe {
        /// The consumer group.
        group: String,
    },
    /// Move a group's committed offsets on a topic (refused while the group has members).
    #[command(group(clap::ArgGroup::new("to").required(true).args(["to_earliest", "to_latest", "to_timestamp", "to_offset"])))]
    ResetOffsets {
        /// The consumer group.
        group: String,
        /// The topic whose offsets move.
        #[arg(long, short = 't')]
        topic: String,
        /// Only this partition; repeatable [default: every partition].
        #[arg(long = "partition", short = 'p')]
        partitions: Vec<u32>,
        /// To the first record kept.
        #[arg(long)]
        to_earliest: bool,
        /// To the end: skip everything not yet consumed.
        #[arg(long)]
        to_latest: bool,
        /// To the first record at or after this time (ms since the epoch).
        #[arg(long, value_name = "MS")]
        to_timestamp: Option<u64>,
        /// To this offset.
        #[arg(long, value_name = "N")]
        to_offset: Option<u64>,
    },
    /// Delete a group and its offsets (refused while it has members).
    Delete {
        /// The consumer group.
        group: String,
    },
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    /// Print one frame and exit.
    #[arg(long)]
    pub once: bool,
    /// Refresh period.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..))]
    pub interval_ms: u64,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}
