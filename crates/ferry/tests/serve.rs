//! `ferry serve` as a process: start-up output, the data-directory lock, graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn_serve(data_dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "serve",
            "--kafka-listen",
            "127.0.0.1:0",
            "--sqs-listen",
            "127.0.0.1:0",
            "--amqp-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("FERRY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferry serve")
}

/// Reads stdout lines until one contains `needle`, failing after a generous bound.
fn wait_for_line(child: &mut Child, needle: &str) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
            && line.contains(needle)
        {
            return line;
        }
    }
    panic!("ferry serve never printed {needle:?}");
}

fn terminate(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
    assert!(status.success());
}

#[test]
fn serve_prints_its_data_dir_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_serve(dir.path());
    let line = wait_for_line(&mut child, "serving from");
    assert!(line.contains(&dir.path().canonicalize().unwrap().display().to_string()), "{line}");
    terminate(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(dir.path().join("metadata.redb").exists());
}

#[test]
fn a_second_broker_on_the_same_data_dir_exits_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = spawn_serve(dir.path());
    wait_for_line(&mut first, "serving from");

    let second = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "serve",
            "--kafka-listen",
            "127.0.0.1:0",
            "--sqs-listen",
            "127.0.0.1:0",
            "--amqp-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run second ferry serve");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another ferry broker"), "{stderr}");

    terminate(&first);
    assert!(first.wait().unwrap().success());
}

#[test]
fn an_invalid_configuration_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferry.toml");
    std::fs::write(&config, "[storage]\nfsync = \"sometimes\"\n").unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_ferry")).args(["serve", "--config"]).arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ferry.toml"), "{stderr}");
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "serve",
            "--kafka-listen",
            "127.0.0.1:0",
            "--sqs-listen",
            "127.0.0.1:0",
            "--amqp-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("FERRY_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferry serve");
    wait_for_line(&mut child, "serving from");
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ferry started"), "the info log should reach stderr: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "escape sequences in a piped log: {stderr:?}");
}

#[test]
fn serve_raises_its_open_files_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    // A shell's usual soft limit, below what the default connection limits may open.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 256 && exec \"$0\" serve --kafka-listen 127.0.0.1:0 --sqs-listen 127.0.0.1:0 --amqp-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --data-dir \"$1\"")
        .arg(env!("CARGO_BIN_EXE_ferry"))
        .arg(dir.path())
        .env("FERRY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ferry serve");
    wait_for_line(&mut child, "serving from");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    terminate(&child);
    child.wait().unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3], fields[4]);
    assert_eq!(soft, hard, "soft limit raised to the hard one: {line}");
    assert_ne!(soft, "256", "{line}");
}
