//! `ferry send`, `ferry receive`, `ferry queue peek` and `ferry publish`: messages.

use std::io::{IsTerminal, Read};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use serde_json::{Value, json};

use super::http::segment;
use super::output::{self, Table};
use super::{ClientError, Ctx, done, string_map};
use crate::cli::{PublishArgs, ReceiveArgs, SendArgs};

/// The body from the command line, or else all of stdin.
fn body_arg_or_stdin(arg: Option<&str>) -> Result<Value, ClientError> {
    match arg {
        Some(text) => Ok(json!({"body": text})),
        None => {
            if std::io::stdin().is_terminal() {
                eprintln!(
                    "ferry: reading the body from stdin; end it with Ctrl-D (or give it as an argument)"
                );
            }
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| ClientError::usage(format!("cannot read the body from stdin: {e}")))?;
            Ok(body_json(bytes))
        }
    }
}

pub fn send(ctx: &Ctx, args: &SendArgs) -> Result<(), ClientError> {
    let mut body = body_arg_or_stdin(args.body.as_deref())?;
    if !args.headers.is_empty() {
        body["headers"] = Value::Object(string_map(&args.headers));
    }
    if let Some(d) = args.delay_ms {
        body["delay_ms"] = json!(d);
    }
    if let Some(p) = args.priority {
        body["priority"] = json!(p);
    }
    if let Some(g) = &args.group_id {
        body["group_id"] = json!(g);
    }
    if let Some(d) = &args.dedup_id {
        body["deduplication_id"] = json!(d);
    }
    let answer = ctx.client.post(&format!("/queues/{}/messages", segment(&args.queue)), &body)?;
    done(ctx, &answer, || match answer.get("message_id") {
        Some(id) => format!("sent {} to {}", output::cell(Some(id)), args.queue),
        None => format!("sent to {}", args.queue),
    });
    Ok(())
}

/// A body read from stdin: text without its final newline (what `echo` adds), or any other
/// bytes unchanged as base64.
fn body_json(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.ends_with('\n') {
                text.pop();
                if text.ends_with('\r') {
                    text.pop();
                }
            }
            json!({"body": text})
        }
        Err(e) => json!({"body_base64": BASE64.encode(e.as_bytes())}),
    }
}

pub fn publish(ctx: &Ctx, args: &PublishArgs) -> Result<(), ClientError> {
    let mut body = body_arg_or_stdin(args.body.as_deref())?;
    body["routing_key"] = json!(args.routing_key);
    if !args.headers.is_empty() {
        body["headers"] = Value::Object(string_map(&args.headers));
    }
    let answer = ctx.client.post(&format!("/exchanges/{}/publish", segment(&args.exchange)), &body)?;
    done(ctx, &answer, || match answer.get("routed").and_then(Value::as_bool) {
        Some(false) => {
            format!("published to {}; no binding matched, so the message was dropped", args.exchange)
        }
        _ => format!("published to {}", args.exchange),
    });
    Ok(())
}

/// `ferry queue peek`: the first messages of a queue, left where they are.
pub fn peek(ctx: &Ctx, queue: &str, max: u32) -> Result<(), ClientError> {
    let answer =
        ctx.client.get(&format!("/queues/{}/messages", segment(queue)), &[("limit", max.to_string())])?;
    if ctx.json {
        output::print_json(&answer);
        return Ok(());
    }
    let messages =
        answer.get("messages").and_then(Value::as_array).or(answer.as_array()).cloned().unwrap_or_default();
    if messages.is_empty() {
        eprintln!("no message ready in {queue}");
        return Ok(());
    }
    let mut table = Table::new(&["message_id", "deliveries", "headers", "body"]);
    for m in &messages {
        table.row(vec![
            output::cell(m.get("message_id")),
            output::cell(m.get("delivery_count")),
            headers_cell(m.get("headers")),
            body_cell(m),
        ]);
    }
    output::emit(&table.render());
    Ok(())
}

pub fn receive(ctx: &Ctx, args: &ReceiveArgs) -> Result<(), ClientError> {
    let path = format!("/queues/{}", segment(&args.queue));
    let mut request = json!({"max": args.max, "wait_ms": args.wait_ms});
    if let Some(lease) = args.lease_ms {
        request["lease_ms"] = json!(lease);
    }
    let answer = ctx.client.post(&format!("{path}/receive"), &request)?;
    let messages = answer.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
    // Printed before acknowledging: a failed ack leaves a message to be delivered again rather
    // than one that was acknowledged and never shown.
    if ctx.json {
        output::print_json(&answer);
    } else if messages.is_empty() {
        eprintln!("no message ready in {}", args.queue);
    } else {
        let mut headers = vec!["message_id", "deliveries", "headers", "body"];
        if args.no_ack {
            headers.push("receipt");
        }
        let mut table = Table::new(&headers);
        for m in &messages {
            let mut row = vec![
                output::cell(m.get("message_id")),
                output::cell(m.get("delivery_count")),
                headers_cell(m.get("headers")),
                body_cell(m),
            ];
            if args.no_ack {
                row.push(output::cell(m.get("receipt")));
            }
            table.row(row);
        }
        output::emit(&table.render());
    }
    if args.no_ack {
        return Ok(());
    }
    for m in &messages {
        let Some(receipt) = m.get("receipt") else { continue };
        if args.nack || args.reject {
            let body = json!({"receipt": receipt, "requeue": args.nack});
            ctx.client.post(&format!("{path}/nack"), &body)?;
        } else {
            ctx.client.post(&format!("{path}/ack"), &json!({"receipt": receipt}))?;
        }
    }
    Ok(())
}

fn headers_cell(v: Option<&Value>) -> String {
    match v.and_then(Value::as_object) {
        Some(h) if !h.is_empty() => {
            h.iter().map(|(k, v)| format!("{k}={}", output::cell(Some(v)))).collect::<Vec<_>>().join(",")
        }
        _ => "-".to_owned(),
    }
}

/// The text of a body, or `base64:...` when it is not UTF-8.
pub fn body_cell(m: &Value) -> String {
    match (m.get("body"), m.get("body_base64")) {
        (Some(Value::String(text)), _) => output::one_line(text),
        (_, Some(Value::String(b64))) => format!("base64:{b64}"),
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_text_loses_its_final_newline_only() {
        assert_eq!(body_json(b"hello\n".to_vec()), json!({"body": "hello"}));
        assert_eq!(body_json(b"a\r\n".to_vec()), json!({"body": "a"}));
        assert_eq!(body_json(b"two\n\n".to_vec()), json!({"body": "two\n"}));
        assert_eq!(body_json(b"no newline".to_vec()), json!({"body": "no newline"}));
    }

    #[test]
    fn bytes_that_are_not_utf8_go_as_base64() {
        assert_eq!(body_json(vec![0xff, 0x00, 0x10]), json!({"body_base64": "/wAQ"}));
    }
}
