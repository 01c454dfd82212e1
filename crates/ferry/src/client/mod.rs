//! The client commands of `ferry`: they talk to a running broker's REST API (docs/http-api.md).
//!
//! # Layout
//!
//! - `http`: the blocking JSON client (timeouts, escaping of names, paging).
//! - `error`: what can go wrong, the line printed for it and the exit code.
//! - `output`: tables for people, JSON for scripts.
//! - one module per command group: `topic`, `queue`, `exchange` (with bind, unbind, bindings), `records`
//!   (produce and consume), `messages` (send, receive, peek, publish), `group`, `stats`.
//!
//! A command is a straight line: parse (clap, in `cli`) → build the request → call → print.
//! Every command returns `Result<(), ClientError>`; `run` prints the error on one line of stderr
//! and turns it into the exit code.

mod error;
mod exchange;
mod group;
mod http;
mod messages;
mod output;
mod queue;
mod records;
mod stats;
mod topic;

use std::process::ExitCode;

pub use error::ClientError;
use http::Client;

use crate::cli::{ClientOpts, Command, DEFAULT_URL, LeadingClientOpts, Output};

/// What every command needs: the connection and the chosen output.
pub struct Ctx {
    pub client: Client,
    pub json: bool,
}

impl Ctx {
    /// Options after the command word win over those before it, which win over $FERRY_URL.
    fn new(leading: &LeadingClientOpts, opts: &ClientOpts) -> Result<Self, ClientError> {
        let env_url = std::env::var("FERRY_URL").ok().filter(|u| !u.is_empty());
        let url = opts
            .url
            .clone()
            .or_else(|| leading.url.clone())
            .or(env_url)
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let output = opts.output.or(leading.output).unwrap_or(Output::Table);
        Ok(Ctx { client: Client::new(&url)?, json: output == Output::Json })
    }
}

/// Runs a client command; `command` is none of `serve`, `bench`, `completions`.
pub fn run(leading: &LeadingClientOpts, command: Command) -> ExitCode {
    let ctx = |opts: &ClientOpts| Ctx::new(leading, opts);
    let result = match command {
        Command::Topic(args) => ctx(&args.opts).and_then(|ctx| topic::run(&ctx, args.command)),
        Command::Queue(args) => ctx(&args.opts).and_then(|ctx| queue::run(&ctx, args.command)),
        Command::Exchange(args) => ctx(&args.opts).and_then(|ctx| exchange::run(&ctx, args.command)),
        Command::Bind(args) => ctx(&args.opts).and_then(|ctx| exchange::bind(&ctx, &args)),
        Command::Publish(args) => ctx(&args.opts).and_then(|ctx| messages::publish(&ctx, &args)),
        Command::Unbind(args) => ctx(&args.opts).and_then(|ctx| exchange::unbind(&ctx, &args)),
        Command::Bindings(args) => ctx(&args.opts).and_then(|ctx| exchange::bindings(&ctx, &args)),
        Command::Produce(args) => ctx(&args.opts).and_then(|ctx| records::produce(&ctx, &args)),
        Command::Consume(args) => ctx(&args.opts).and_then(|ctx| records::consume(&ctx, &args)),
        Command::Send(args) => ctx(&args.opts).and_then(|ctx| messages::send(&ctx, &args)),
        Command::Receive(args) => ctx(&args.opts).and_then(|ctx| messages::receive(&ctx, &args)),
        Command::Group(args) => ctx(&args.opts).and_then(|ctx| group::run(&ctx, args.command)),
        Command::Stats(args) => ctx(&args.opts).and_then(|ctx| stats::run(&ctx, &args)),
        Command::Serve(_) | Command::Bench(_) | Command::Completions(_) => {
            Err(ClientError::usage("not a client command"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry: {e}");
            e.exit_code()
        }
    }
}

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "ferry", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// `[(k, v)]` from the command line as a JSON object of strings.
fn string_map(pairs: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    pairs.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect()
}

/// `KEY=VALUE` settings as JSON: a value that reads as JSON (a number, `true`) is sent as such,
/// anything else as a string, so `retention_ms=1000` and `cleanup_policy=compact` both work.
fn settings_map(pairs: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| {
            let value = match serde_json::from_str::<serde_json::Value>(v) {
                Ok(
                    parsed @ (serde_json::Value::Number(_)
                    | serde_json::Value::Bool(_)
                    | serde_json::Value::Null),
                ) => parsed,
                _ => serde_json::Value::String(v.clone()),
            };
            (k.clone(), value)
        })
        .collect()
}

/// Prints a done-line for people (on stdout) or the API's answer for scripts (`{}` for an
/// answer without a body, so a script can always parse what it reads).
fn done(ctx: &Ctx, answer: &serde_json::Value, line: impl FnOnce() -> String) {
    if ctx.json {
        match answer {
            serde_json::Value::Null => output::emit("{}\n"),
            other => output::print_json(other),
        }
    } else {
        output::emit(&format!("{}\n", line()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_keep_numbers_and_booleans_typed() {
        let pairs = vec![
            ("retention_ms".to_owned(), "1000".to_owned()),
            ("cleanup_policy".to_owned(), "compact".to_owned()),
            ("fifo".to_owned(), "true".to_owned()),
            ("label".to_owned(), "[1]".to_owned()),
        ];
        assert_eq!(
            serde_json::Value::Object(settings_map(&pairs)),
            json!({"retention_ms": 1000, "cleanup_policy": "compact", "fifo": true, "label": "[1]"})
        );
    }

    #[test]
    fn header_flags_parse_as_key_value() {
        use crate::cli::parse_key_value;
        assert_eq!(parse_key_value("trace-id=abc=1"), Ok(("trace-id".to_owned(), "abc=1".to_owned())));
        assert_eq!(parse_key_value("empty="), Ok(("empty".to_owned(), String::new())));
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=v").is_err());
    }
}
