//! `ferry group list|describe|reset-offsets|delete`: consumer groups and their offsets.

use serde_json::{Value, json};

use super::http::segment;
use super::output::{self, Table};
use super::{ClientError, Ctx, done};
use crate::cli::GroupCommand;

pub fn run(ctx: &Ctx, command: GroupCommand) -> Result<(), ClientError> {
    match command {
        GroupCommand::List => {
            let items = ctx.client.list("/groups", &[])?;
            if ctx.json {
                output::print_json(&Value::Array(items));
            } else {
                let mut table = Table::new(&["group", "state", "protocol", "members"]);
                for g in &items {
                    table.row(vec![
                        output::cell(g.get("group_id")),
                        output::cell(g.get("state")),
                        output::cell(g.get("protocol_type")),
                        members_cell(g.get("members")),
                    ]);
                }
                output::emit(&table.render());
            }
        }
        GroupCommand::Describe { group } => {
            let answer = ctx.client.get(&format!("/groups/{}", segment(&group)), &[])?;
            if ctx.json {
                output::print_json(&answer);
            } else {
                output::emit(&output::describe(&answer));
            }
        }
        GroupCommand::ResetOffsets {
            group,
            topic,
            partitions,
            to_earliest,
            to_latest,
            to_timestamp,
            to_offset,
        } => {
            let mut body = json!({"topic": topic});
            if !partitions.is_empty() {
                body["partitions"] = json!(partitions);
            }
            match (to_earliest, to_latest, to_timestamp, to_offset) {
                (true, ..) => body["to"] = json!("earliest"),
                (_, true, ..) => body["to"] = json!("latest"),
                (_, _, Some(t), _) => {
                    body["to"] = json!("timestamp");
                    body["timestamp_ms"] = json!(t);
                }
                (_, _, _, Some(o)) => {
                    body["to"] = json!("offset");
                    body["offset"] = json!(o);
                }
                _ => {
                    return Err(ClientError::usage(
                        "reset-offsets: give one of --to-earliest, --to-latest, --to-timestamp, --to-offset",
                    ));
                }
            }
            let answer = ctx.client.post(&format!("/groups/{}/reset-offsets", segment(&group)), &body)?;
            if ctx.json {
                output::print_json(&answer);
            } else {
                let offsets = answer.get("offsets").or(Some(&answer)).and_then(Value::as_array);
                match offsets {
                    Some(items) => {
                        let mut table = Table::new(&["topic", "partition", "offset"]);
                        for o in items {
                            table.row(vec![
                                output::cell(o.get("topic").or(Some(&json!(topic)))),
                                output::cell(o.get("partition")),
                                output::cell(o.get("offset").or(o.get("committed_offset"))),
                            ]);
                        }
                        output::emit(&table.render());
                    }
                    None => output::emit(&output::describe(&answer)),
                }
            }
        }
        GroupCommand::Delete { group } => {
            let answer = ctx.client.delete(&format!("/groups/{}", segment(&group)), &[])?;
            done(ctx, &answer, || format!("deleted group {group}"));
        }
    }
    Ok(())
}

/// Members as a count, whether the API lists them or counts them.
pub fn members_cell(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array(m)) => m.len().to_string(),
        other => output::cell(other),
    }
}
