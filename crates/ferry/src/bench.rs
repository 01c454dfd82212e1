//! `ferry bench`: the load generator lives in its own binary, `ferry-bench`, so that librdkafka,
//! lapin and the other clients it drives stay out of the broker. This finds it beside the running
//! `ferry` (or on the PATH) and replaces this process with it.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const BINARY: &str = "ferry-bench";

pub fn run(args: Vec<OsString>) -> ExitCode {
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join(BINARY)));
    let program = match beside {
        Some(path) if path.is_file() => path,
        _ => PathBuf::from(BINARY),
    };
    let error = Command::new(&program).args(args).exec();
    if error.kind() == std::io::ErrorKind::NotFound {
        eprintln!(
            "ferry bench: {BINARY} was found neither beside ferry nor on the PATH; \
             build it with `cargo build --release -p ferry-bench` (it lands beside ferry in target/release)"
        );
    } else {
        eprintln!("ferry bench: running {}: {error}", program.display());
    }
    ExitCode::from(127)
}
