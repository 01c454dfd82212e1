//! `ferry exchange create|list|describe|delete`, `ferry bind`, `ferry unbind`, `ferry bindings`.

use serde_json::{Value, json};

use super::http::segment;
use super::output::{self, Table};
use super::{ClientError, Ctx, done, settings_map};
use crate::cli::{BindArgs, BindingsArgs, DestinationType, ExchangeCommand, ExchangeType};

pub fn run(ctx: &Ctx, command: ExchangeCommand) -> Result<(), ClientError> {
    match command {
        ExchangeCommand::Create { name, kind, transient, auto_delete, internal, arguments } => {
            let kind = match kind {
                ExchangeType::Direct => "direct",
                ExchangeType::Fanout => "fanout",
                ExchangeType::Topic => "topic",
                ExchangeType::Headers => "headers",
            };
            let mut body = json!({
                "name": name,
                "type": kind,
                "durable": !transient,
                "auto_delete": auto_delete,
                "internal": internal,
            });
            if !arguments.is_empty() {
                body["arguments"] = Value::Object(settings_map(&arguments));
            }
            let answer = ctx.client.post("/exchanges", &body)?;
            done(ctx, &answer, || format!("created {kind} exchange {name}"));
        }
        ExchangeCommand::List => {
            let items = ctx.client.list("/exchanges", &[])?;
            if ctx.json {
                output::print_json(&Value::Array(items));
            } else {
                let mut table = Table::new(&["name", "type", "durable", "auto_delete", "internal"]);
                for x in &items {
                    table.row_of(x, &["name", "type", "durable", "auto_delete", "internal"]);
                }
                // The default exchange is named by the empty string, as in AMQP.
                table.rename_cell(0, "-", "(default)");
                output::emit(&table.render());
            }
        }
        ExchangeCommand::Describe { name } => {
            let answer = ctx.client.get(&format!("/exchanges/{}", segment(&name)), &[])?;
            if ctx.json {
                output::print_json(&answer);
            } else {
                output::emit(&output::describe(&answer));
            }
        }
        ExchangeCommand::Delete { name } => {
            let answer = ctx.client.delete(&format!("/exchanges/{}", segment(&name)), &[])?;
            done(ctx, &answer, || format!("deleted exchange {name}"));
        }
    }
    Ok(())
}

fn destination_type(t: DestinationType) -> &'static str {
    match t {
        DestinationType::Queue => "queue",
        DestinationType::Exchange => "exchange",
        DestinationType::Topic => "topic",
    }
}

pub fn bind(ctx: &Ctx, args: &BindArgs) -> Result<(), ClientError> {
    let mut body = json!({
        "source": args.source,
        "destination": args.destination,
        "destination_type": destination_type(args.destination_type),
        "routing_key": args.routing_key,
    });
    if !args.arguments.is_empty() {
        body["arguments"] = Value::Object(settings_map(&args.arguments));
    }
    let answer = ctx.client.post("/bindings", &body)?;
    done(ctx, &answer, || describe_binding("bound", args));
    Ok(())
}

pub fn unbind(ctx: &Ctx, args: &BindArgs) -> Result<(), ClientError> {
    let query = [
        ("source", args.source.clone()),
        ("destination", args.destination.clone()),
        ("destination_type", destination_type(args.destination_type).to_owned()),
        ("routing_key", args.routing_key.clone()),
    ];
    let answer = ctx.client.delete("/bindings", &query)?;
    done(ctx, &answer, || describe_binding("unbound", args));
    Ok(())
}

fn describe_binding(verb: &str, args: &BindArgs) -> String {
    format!(
        "{verb} {} {} {} {} (routing key {:?})",
        destination_type(args.destination_type),
        args.destination,
        if verb == "bound" { "to" } else { "from" },
        args.source,
        args.routing_key
    )
}

pub fn bindings(ctx: &Ctx, args: &BindingsArgs) -> Result<(), ClientError> {
    let mut query = Vec::new();
    if let Some(s) = &args.source {
        query.push(("source", s.clone()));
    }
    if let Some(d) = &args.destination {
        query.push(("destination", d.clone()));
    }
    let items = ctx.client.list("/bindings", &query)?;
    if ctx.json {
        output::print_json(&Value::Array(items));
    } else {
        let columns = ["source", "destination", "destination_type", "routing_key", "arguments"];
        let mut table = Table::new(&columns);
        for b in &items {
            table.row_of(b, &columns);
        }
        output::emit(&table.render());
    }
    Ok(())
}
