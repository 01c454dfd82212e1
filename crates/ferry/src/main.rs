//! The `ferry` command: `ferry serve` runs the broker; the other commands are its tools.
//!
//! # Layout
//!
//! - `cli`: the command line (clap), every option with its environment variable.
//! - `config`: the settings, merged from defaults, a TOML file, `FERRY_*` variables and flags.
//! - `serve`: opens the data directory, starts the listeners, stops gracefully on SIGINT/SIGTERM.
//! - `client`: the client commands (`ferry queue …`, `send`, `consume`, `stats`, …) over the
//!   REST API of a running broker.
//! - `bench`: hands `ferry bench` to the `ferry-bench` binary, which carries the client libraries
//!   the broker does not need.

mod bench;
mod cli;
mod client;
mod config;
mod serve;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    if (cli.client.url.is_some() || cli.client.output.is_some()) && !cli.command.is_client() {
        eprintln!("ferry: --url and --output apply to the client commands only (see ferry --help)");
        return std::process::ExitCode::from(2);
    }
    match cli.command {
        cli::Command::Bench(args) => bench::run(args.args),
        cli::Command::Completions(args) => client::completions(args.shell),
        cli::Command::Serve(args) => {
            let settings = match config::Settings::load(&args) {
                Ok(settings) => settings,
                Err(e) => {
                    eprintln!("ferry: {e:#}");
                    return std::process::ExitCode::from(2);
                }
            };
            serve::init_tracing(&settings.log);
            match serve::run(settings) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ferry: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        command => client::run(&cli.client, command),
    }
}
