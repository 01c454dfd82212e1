//! `ferry topic create|list|describe|alter|delete`.

use serde_json::{Value, json};

use super::http::segment;
use super::output::{self, Table};
use super::{ClientError, Ctx, done, settings_map};
use crate::cli::TopicCommand;

pub fn run(ctx: &Ctx, command: TopicCommand) -> Result<(), ClientError> {
    match command {
        TopicCommand::Create { name, partitions, config } => {
            let mut body = json!({"name": name, "partitions": partitions});
            if !config.is_empty() {
                body["config"] = Value::Object(settings_map(&config));
            }
            let answer = ctx.client.post("/topics", &body)?;
            done(ctx, &answer, || {
                let plural = if partitions == 1 { "" } else { "s" };
                format!("created topic {name} ({partitions} partition{plural})")
            });
        }
        TopicCommand::List => {
            let items = ctx.client.list("/topics", &[])?;
            if ctx.json {
                output::print_json(&Value::Array(items));
            } else {
                let mut table = Table::new(&["name", "partitions", "records", "bytes"]);
                for t in &items {
                    table.row(vec![
                        output::cell(t.get("name")),
                        output::cell(t.get("partitions")),
                        output::cell(t.get("end_offset_total")),
                        output::bytes(t.get("bytes")),
                    ]);
                }
                output::emit(&table.render());
            }
        }
        TopicCommand::Describe { name } => {
            let answer = ctx.client.get(&format!("/topics/{}", segment(&name)), &[])?;
            if ctx.json {
                output::print_json(&answer);
            } else {
                output::emit(&output::describe(&answer));
            }
        }
        TopicCommand::Alter { name, partitions, config } => {
            if partitions.is_none() && config.is_empty() {
                return Err(ClientError::usage(
                    "topic alter: nothing to change; give --partitions or --config",
                ));
            }
            let mut body = json!({});
            if let Some(p) = partitions {
                body["partitions"] = json!(p);
            }
            if !config.is_empty() {
                body["config"] = Value::Object(settings_map(&config));
            }
            let answer = ctx.client.patch(&format!("/topics/{}", segment(&name)), &body)?;
            done(ctx, &answer, || format!("altered topic {name}"));
        }
        TopicCommand::Delete { name } => {
            let answer = ctx.client.delete(&format!("/topics/{}", segment(&name)), &[])?;
            done(ctx, &answer, || format!("deleted topic {name}"));
        }
    }
    Ok(())
}
