//! `ferry produce` and `ferry consume`: a topic's records through the REST API.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::http::segment;
use super::output;
use super::{ClientError, Ctx, string_map};
use crate::cli::{ConsumeArgs, ProduceArgs};

/// Most records sent in one request; a pipe is also flushed whenever it has nothing more buffered,
/// so lines typed by hand are sent as they are typed.
const PRODUCE_BATCH: usize = 500;
/// Records asked for per partition in one read.
const CONSUME_BATCH: u64 = 500;
/// Pause between polls of a follow that found nothing new.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

pub fn produce(ctx: &Ctx, args: &ProduceArgs) -> Result<(), ClientError> {
    let path = format!("/topics/{}/records", segment(&args.topic));
    if std::io::stdin().is_terminal() {
        eprintln!("ferry: one record per line; end with Ctrl-D");
    }
    let mut reader = BufReader::with_capacity(256 * 1024, std::io::stdin().lock());
    let mut batch = Vec::new();
    let mut offsets = Vec::new();
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ClientError::usage(format!("cannot read stdin: {e}")))?;
        if n > 0 {
            line_no += 1;
            if line.ends_with(b"\n") {
                line.pop();
                if line.ends_with(b"\r") {
                    line.pop();
                }
            }
            if let Some(record) = record_of(&line, args)
                .map_err(|e| ClientError::usage(format!("stdin line {line_no}: {e}")))?
            {
                batch.push(record);
            }
        }
        let at_end = n == 0;
        if !batch.is_empty() && (at_end || batch.len() >= PRODUCE_BATCH || reader.buffer().is_empty()) {
            let answer = ctx.client.post(&path, &json!({"records": std::mem::take(&mut batch)}))?;
            if let Some(o) = answer.get("offsets").and_then(Value::as_array) {
                offsets.extend(o.iter().cloned());
            }
        }
        if at_end {
            break;
        }
    }
    if ctx.json {
        output::print_json(&json!({"offsets": offsets}));
    } else {
        let mut per_partition: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for o in &offsets {
            if let (Some(p), Some(off)) =
                (o.get("partition").and_then(Value::as_u64), o.get("offset").and_then(Value::as_u64))
            {
                let e = per_partition.entry(p).or_insert((off, off));
                e.0 = e.0.min(off);
                e.1 = e.1.max(off);
            }
        }
        let ranges: Vec<String> =
            per_partition.iter().map(|(p, (lo, hi))| format!("partition {p}: {lo}..={hi}")).collect();
        let detail = if ranges.is_empty() { String::new() } else { format!(" ({})", ranges.join(", ")) };
        output::emit(&format!("produced {} records to {}{detail}\n", offsets.len(), args.topic));
    }
    Ok(())
}

/// The record a line of stdin stands for; `None` for a blank line in JSON mode.
fn record_of(line: &[u8], args: &ProduceArgs) -> Result<Option<Value>, String> {
    let mut record = Map::new();
    let mut headers = string_map(&args.headers);
    if let Some(k) = &args.key {
        record.insert("key".into(), json!(k));
    }
    if let Some(p) = args.partition {
        record.insert("partition".into(), json!(p));
    }
    if !args.json {
        match std::str::from_utf8(line) {
            Ok(text) => record.insert("value".into(), json!(text)),
            Err(_) => record.insert("value_base64".into(), json!(BASE64.encode(line))),
        };
    } else {
        let text = std::str::from_utf8(line).map_err(|_| "not UTF-8, so not JSON".to_owned())?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        let parsed: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
        let fields = ["key", "value", "value_base64", "headers", "partition"];
        match parsed {
            Value::Object(obj) if obj.keys().any(|k| fields.contains(&k.as_str())) => {
                if let Some(unknown) = obj.keys().find(|k| !fields.contains(&k.as_str())) {
                    return Err(format!("unknown field {unknown:?}; a record has {}", fields.join(", ")));
                }
                for (k, v) in obj {
                    match k.as_str() {
                        "headers" => {
                            let Value::Object(h) = v else { return Err("headers must be an object".into()) };
                            for (hk, hv) in h {
                                headers.insert(hk, Value::String(as_text(hv)));
                            }
                        }
                        "partition" if !v.is_u64() => return Err("partition must be a number".into()),
                        "partition" => {
                            record.insert(k, v);
                        }
                        "key" if v.is_null() => {
                            record.remove("key");
                        }
                        _ => {
                            record.insert(k, Value::String(as_text(v)));
                        }
                    }
                }
                if !record.contains_key("value") && !record.contains_key("value_base64") {
                    return Err("a record needs a value (or value_base64)".into());
                }
            }
            _ => {
                record.insert("value".into(), json!(text));
            }
        }
    }
    if !headers.is_empty() {
        record.insert("headers".into(), Value::Object(headers));
    }
    Ok(Some(Value::Object(record)))
}

/// A JSON value as the text of a key, value or header: strings bare, anything else as JSON.
fn as_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Where reading a partition goes next.
struct Cursor {
    partition: u64,
    /// The next offset to read; `None` until the first read by timestamp has answered.
    offset: Option<u64>,
    timestamp_ms: Option<u64>,
    /// The last offset committed for the group, to commit only what moved.
    committed: Option<u64>,
}

pub fn consume(ctx: &Ctx, args: &ConsumeArgs) -> Result<(), ClientError> {
    let topic_path = format!("/topics/{}", segment(&args.topic));
    let topic = ctx.client.get(&topic_path, &[])?;
    let partitions = topic.get("partitions").and_then(Value::as_array).cloned().unwrap_or_default();
    let committed = match &args.group {
        Some(g) => committed_offsets(ctx, g, &args.topic)?,
        None => BTreeMap::new(),
    };
    let mut cursors = Vec::new();
    for p in &partitions {
        let Some(partition) = p.get("partition").and_then(Value::as_u64) else { continue };
        if args.partition.is_some_and(|only| u64::from(only) != partition) {
            continue;
        }
        let start = p.get("start_offset").and_then(Value::as_u64).unwrap_or(0);
        let end = p.get("end_offset").and_then(Value::as_u64).unwrap_or(0);
        let group_offset = committed.get(&partition).copied();
        let (offset, timestamp_ms) = match (group_offset, args.offset, args.timestamp) {
            (Some(c), _, _) => (Some(c), None),
            (None, Some(o), _) => (Some(o), None),
            (None, None, Some(t)) => (None, Some(t)),
            (None, None, None) if args.from_beginning => (Some(start), None),
            (None, None, None) => (Some(end), None),
        };
        cursors.push(Cursor { partition, offset, timestamp_ms, committed: group_offset });
    }
    if cursors.is_empty() {
        return Err(match args.partition {
            Some(p) => ClientError::Api {
                status: 404,
                code: Some("partition_not_found".into()),
                message: format!("topic {:?} has no partition {p}", args.topic),
            },
            None => ClientError::Api {
                status: 404,
                code: None,
                message: format!("topic {:?} has no partitions", args.topic),
            },
        });
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut printed = 0u64;
    let remaining = |printed: u64| args.max.map(|m| m.saturating_sub(printed));
    loop {
        let mut any = false;
        for cursor in &mut cursors {
            if remaining(printed) == Some(0) {
                break;
            }
            let limit = remaining(printed).map_or(CONSUME_BATCH, |r| r.min(CONSUME_BATCH));
            let mut query = vec![("partition", cursor.partition.to_string()), ("limit", limit.to_string())];
            match (cursor.offset, cursor.timestamp_ms) {
                (Some(o), _) => query.push(("offset", o.to_string())),
                (None, Some(t)) => query.push(("timestamp_ms", t.to_string())),
                (None, None) => {}
            }
            let answer = ctx.client.get(&format!("{topic_path}/records"), &query)?;
            let records = answer.get("records").and_then(Value::as_array).cloned().unwrap_or_default();
            for r in records.iter().take(limit as usize) {
                if print_record(&mut out, r, ctx.json).is_err() {
                    // The reader went away (`| head`): stop quietly, as other tools do.
                    return Ok(());
                }
                printed += 1;
            }
            let last = records
                .iter()
                .take(limit as usize)
                .next_back()
                .and_then(|r| r.get("offset"))
                .and_then(Value::as_u64);
            let next = match (records.len() as u64 > limit, last) {
                (true, Some(l)) => Some(l + 1),
                _ => answer.get("next_offset").and_then(Value::as_u64).or(last.map(|l| l + 1)),
            };
            if let Some(next) = next {
                any |= !records.is_empty();
                cursor.offset = Some(next);
            }
            let _ = out.flush();
            if let (Some(group), Some(next)) = (&args.group, cursor.offset)
                && cursor.committed != Some(next)
                && !records.is_empty()
            {
                commit(ctx, group, &args.topic, cursor.partition, next)?;
                cursor.committed = Some(next);
            }
        }
        if remaining(printed) == Some(0) {
            break;
        }
        if !any {
            if !args.follow {
                break;
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    }
    if printed == 0
        && !args.follow
        && !ctx.json
        && !args.from_beginning
        && args.offset.is_none()
        && args.timestamp.is_none()
        && args.group.is_none()
    {
        eprintln!(
            "no new records in {}; pass --from-beginning to read what it holds, or --follow to wait",
            args.topic
        );
    }
    Ok(())
}

fn print_record(out: &mut impl Write, r: &Value, json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{r}");
    }
    match (r.get("value"), r.get("value_base64")) {
        (Some(Value::String(text)), _) => out.write_all(text.as_bytes())?,
        (_, Some(Value::String(b64))) => match BASE64.decode(b64) {
            Ok(bytes) => out.write_all(&bytes)?,
            Err(_) => out.write_all(b64.as_bytes())?,
        },
        _ => {}
    }
    out.write_all(b"\n")
}

/// The group's committed offsets on `topic`, by partition; none for a group that does not exist yet.
fn committed_offsets(ctx: &Ctx, group: &str, topic: &str) -> Result<BTreeMap<u64, u64>, ClientError> {
    let answer = match ctx.client.get(&format!("/groups/{}", segment(group)), &[]) {
        Ok(a) => a,
        Err(ClientError::Api { status: 404, .. }) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let mut offsets = BTreeMap::new();
    for o in answer.get("offsets").and_then(Value::as_array).into_iter().flatten() {
        if o.get("topic").and_then(Value::as_str) != Some(topic) {
            continue;
        }
        if let (Some(p), Some(c)) =
            (o.get("partition").and_then(Value::as_u64), o.get("committed_offset").and_then(Value::as_u64))
        {
            offsets.insert(p, c);
        }
    }
    Ok(offsets)
}

/// Commits `offset` (the next record to read) for the group, through the reset-offsets endpoint,
/// which the server refuses while the group has live members: then the members own the offsets.
fn commit(ctx: &Ctx, group: &str, topic: &str, partition: u64, offset: u64) -> Result<(), ClientError> {
    let body = json!({"topic": topic, "partitions": [partition], "to": "offset", "offset": offset});
    ctx.client.post(&format!("/groups/{}/reset-offsets", segment(group)), &body).map(|_| ()).map_err(|e| {
        match e {
            ClientError::Api { status, code, message } => ClientError::Api {
                status,
                code,
                message: format!(
                    "cannot commit offset {offset} of {topic}/{partition} for group {group}: {message}"
                ),
            },
            other => other,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ClientOpts;

    fn args(json: bool) -> ProduceArgs {
        ProduceArgs {
            opts: ClientOpts::default(),
            topic: "t".into(),
            json,
            key: Some("k0".into()),
            headers: vec![("h".into(), "1".into())],
            partition: None,
        }
    }

    #[test]
    fn a_plain_line_is_the_value_with_the_flags_key_and_headers() {
        assert_eq!(
            record_of(b"hello", &args(false)).unwrap(),
            Some(json!({"key": "k0", "value": "hello", "headers": {"h": "1"}}))
        );
    }

    #[test]
    fn a_line_that_is_not_utf8_goes_as_base64() {
        assert_eq!(record_of(&[0xff], &args(false)).unwrap().unwrap()["value_base64"], json!("/w=="));
    }

    #[test]
    fn a_json_record_overrides_the_flags() {
        let r = record_of(
            br#"{"key": "k1", "value": {"n": 1}, "headers": {"x": 2}, "partition": 3}"#,
            &args(true),
        );
        assert_eq!(
            r.unwrap(),
            Some(json!({"key": "k1", "value": "{\"n\":1}", "headers": {"h": "1", "x": "2"}, "partition": 3}))
        );
    }

    #[test]
    fn other_json_is_the_value() {
        assert_eq!(record_of(b"[1, 2]", &args(true)).unwrap().unwrap()["value"], json!("[1, 2]"));
        assert_eq!(record_of(b"  ", &args(true)).unwrap(), None);
    }

    #[test]
    fn bad_json_lines_are_refused_with_a_reason() {
        assert!(record_of(b"{not json", &args(true)).unwrap_err().starts_with("not JSON"));
        assert!(
            record_of(br#"{"value": "v", "vaule": 1}"#, &args(true))
                .unwrap_err()
                .contains("unknown field \"vaule\"")
        );
        assert!(record_of(br#"{"key": "k"}"#, &args(true)).unwrap_err().contains("needs a value"));
    }
}
