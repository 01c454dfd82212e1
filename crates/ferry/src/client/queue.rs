//! `ferry queue create|list|describe|alter|peek|purge|delete|redrive`.

use serde_json::{Map, Value, json};

use super::http::segment;
use super::output::{self, Table};
use super::{ClientError, Ctx, done};
use crate::cli::{QueueCommand, QueueSettings};

pub fn run(ctx: &Ctx, command: QueueCommand) -> Result<(), ClientError> {
    match command {
        QueueCommand::Create { name, settings } => {
            let settings = settings_json(&settings);
            let mut body = json!({"name": name});
            if !settings.is_empty() {
                body["settings"] = Value::Object(settings);
            }
            let answer = ctx.client.post("/queues", &body)?;
            done(ctx, &answer, || format!("created queue {name}"));
        }
        QueueCommand::List { prefix } => {
            let query: Vec<(&str, String)> = prefix.into_iter().map(|p| ("prefix", p)).collect();
            let items = ctx.client.list("/queues", &query)?;
            if ctx.json {
                output::print_json(&Value::Array(items));
            } else {
                output::emit(&table(&items).render());
            }
        }
        QueueCommand::Describe { name } => {
            let answer = ctx.client.get(&format!("/queues/{}", segment(&name)), &[])?;
            if ctx.json {
                output::print_json(&answer);
            } else {
                output::emit(&output::describe(&answer));
            }
        }
        QueueCommand::Alter { name, settings } => {
            let settings = settings_json(&settings);
            if settings.is_empty() {
                return Err(ClientError::usage(
                    "queue alter: nothing to change; give a setting (see --help)",
                ));
            }
            let answer =
                ctx.client.patch(&format!("/queues/{}", segment(&name)), &json!({"settings": settings}))?;
            done(ctx, &answer, || format!("altered queue {name}"));
        }
        QueueCommand::Peek { name, max } => super::messages::peek(ctx, &name, max)?,
        QueueCommand::Purge { name } => {
            let answer = ctx.client.post(&format!("/queues/{}/purge", segment(&name)), &json!({}))?;
            done(ctx, &answer, || format!("purged queue {name}"));
        }
        QueueCommand::Delete { name } => {
            let answer = ctx.client.delete(&format!("/queues/{}", segment(&name)), &[])?;
            done(ctx, &answer, || format!("deleted queue {name}"));
        }
        QueueCommand::Redrive { name, to } => {
            let mut body = json!({});
            if let Some(to) = &to {
                body["destination"] = json!(to);
            }
            let answer = ctx.client.post(&format!("/queues/{}/redrive", segment(&name)), &body)?;
            done(ctx, &answer, || {
                let target = to.as_deref().unwrap_or("their source queues");
                match (answer.get("moved"), answer.get("total")) {
                    (Some(moved), Some(total)) => format!(
                        "redrive of {name} to {target}: {} of {} moved ({})",
                        output::cell(Some(moved)),
                        output::cell(Some(total)),
                        output::cell(answer.get("status"))
                    ),
                    _ => format!("redrive of {name} to {target} started"),
                }
            });
        }
    }
    Ok(())
}

/// The queues of a list as a table; `stats` draws the same.
pub fn table(items: &[Value]) -> Table {
    let mut table =
        Table::new(&["name", "ready", "in_flight", "delayed", "bytes", "oldest", "dead_letter_queue"]);
    for q in items {
        let name = output::cell(q.get("name"));
        let fifo = q.get("fifo").and_then(Value::as_bool).unwrap_or(false);
        table.row(vec![
            if fifo && !name.ends_with(".fifo") { format!("{name} (fifo)") } else { name },
            output::cell(q.get("ready")),
            output::cell(q.get("in_flight")),
            output::cell(q.get("delayed")),
            output::bytes(q.get("ready_bytes")),
            // An empty queue has no oldest message, whatever age the API puts there.
            if q.get("ready").and_then(Value::as_u64) == Some(0) {
                "-".to_owned()
            } else {
                output::duration_ms(q.get("oldest_ready_age_ms"))
            },
            output::cell(q.get("dead_letter_queue")),
        ]);
    }
    table
}

/// The settings given on the command line, under the API's names.
fn settings_json(s: &QueueSettings) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    put("fifo", s.fifo.then_some(json!(true)));
    put("content_based_dedup", s.content_based_dedup.then_some(json!(true)));
    put("visibility_timeout_ms", s.visibility_timeout_ms.map(Value::from));
    put("delay_ms", s.delay_ms.map(Value::from));
    put("retention_ms", s.retention_ms.map(Value::from));
    put("message_ttl_ms", s.message_ttl_ms.map(Value::from));
    put("max_message_bytes", s.max_message_bytes.map(Value::from));
    put("receive_wait_ms", s.receive_wait_ms.map(Value::from));
    put("max_deliveries", s.max_deliveries.map(Value::from));
    put("dead_letter_queue", s.dead_letter_queue.clone().map(Value::from));
    put("max_length", s.max_length.map(Value::from));
    put("max_priority", s.max_priority.map(Value::from));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_given_settings_are_sent() {
        let s = QueueSettings {
            max_deliveries: Some(3),
            dead_letter_queue: Some("dlq".into()),
            ..Default::default()
        };
        assert_eq!(
            Value::Object(settings_json(&s)),
            json!({"max_deliveries": 3, "dead_letter_queue": "dlq"})
        );
        assert!(settings_json(&QueueSettings::default()).is_empty());
    }
}
