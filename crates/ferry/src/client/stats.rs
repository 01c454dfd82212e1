//! `ferry stats`: a top-like view of the broker, its queues and consumer groups.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::http::segment;
use super::output::{self, Table};
use super::{ClientError, Ctx, group, queue};
use crate::cli::StatsArgs;

/// Rows of each table in the live view; the rest are counted in a last line. `--once` prints all.
const LIVE_ROWS: usize = 25;
/// Groups described (for their lag) in one frame.
const GROUPS_DESCRIBED: usize = 50;

/// One look at the broker.
struct Frame {
    overview: Option<Value>,
    queues: Vec<Value>,
    /// Each group from the list, with its total lag when it could be described.
    groups: Vec<(Value, Option<u64>)>,
    taken: Instant,
}

pub fn run(ctx: &Ctx, args: &StatsArgs) -> Result<(), ClientError> {
    let mut previous: Option<Frame> = None;
    loop {
        let frame = take(ctx)?;
        if ctx.json {
            let doc = json!({
                "overview": frame.overview,
                "queues": frame.queues,
                "groups": frame.groups.iter().map(|(g, lag)| {
                    let mut g = g.clone();
                    if let Value::Object(m) = &mut g {
                        m.insert("lag".into(), json!(lag));
                    }
                    g
                }).collect::<Vec<_>>(),
            });
            if args.once {
                output::print_json(&doc);
            } else {
                output::emit(&format!("{doc}\n"));
            }
        } else {
            let text = render(ctx, &frame, previous.as_ref(), if args.once { usize::MAX } else { LIVE_ROWS });
            if args.once {
                output::emit(&text);
            } else {
                // Home and clear, then the frame: the terminal shows one frame at a time.
                output::emit(&format!("\x1b[H\x1b[2J{text}"));
            }
        }
        if args.once {
            return Ok(());
        }
        previous = Some(frame);
        std::thread::sleep(Duration::from_millis(args.interval_ms));
    }
}

fn take(ctx: &Ctx) -> Result<Frame, ClientError> {
    // A server without the overview still shows its queues and groups.
    let overview = match ctx.client.get("/overview", &[]) {
        Ok(v) => Some(v),
        Err(ClientError::Api { status: 404, .. }) => None,
        Err(e) => return Err(e),
    };
    let mut queues = ctx.client.list("/queues", &[])?;
    queues.sort_by(|a, b| {
        let ready = |q: &Value| q.get("ready").and_then(Value::as_u64).unwrap_or(0);
        ready(b).cmp(&ready(a)).then_with(|| output::cell(a.get("name")).cmp(&output::cell(b.get("name"))))
    });
    let listed = ctx.client.list("/groups", &[])?;
    let mut groups = Vec::with_capacity(listed.len());
    for (i, g) in listed.into_iter().enumerate() {
        let lag = match g.get("group_id").and_then(Value::as_str) {
            Some(id) if i < GROUPS_DESCRIBED => {
                match ctx.client.get(&format!("/groups/{}", segment(id)), &[]) {
                    Ok(d) => Some(total_lag(&d)),
                    // Deleted between the list and the look.
                    Err(ClientError::Api { .. }) => None,
                    Err(e) => return Err(e),
                }
            }
            _ => None,
        };
        groups.push((g, lag));
    }
    Ok(Frame { overview, queues, groups, taken: Instant::now() })
}

fn total_lag(group: &Value) -> u64 {
    group
        .get("offsets")
        .and_then(Value::as_array)
        .map(|o| o.iter().filter_map(|p| p.get("lag").and_then(Value::as_u64)).sum())
        .unwrap_or(0)
}

fn render(ctx: &Ctx, frame: &Frame, previous: Option<&Frame>, rows: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(ctx, frame.overview.as_ref()));
    if let Some(rates) = rates(frame, previous) {
        let _ = writeln!(out, "{rates}");
    }
    out.push('\n');

    let mut queues = queue::table(&frame.queues[..frame.queues.len().min(rows)]);
    if queues.is_empty() {
        queues.row(vec!["(no queues)".into()]);
    }
    out.push_str(&queues.render());
    if frame.queues.len() > rows {
        let _ = writeln!(out, "… and {} more queues", frame.queues.len() - rows);
    }
    out.push('\n');

    let mut groups = Table::new(&["group", "state", "members", "lag"]);
    for (g, lag) in frame.groups.iter().take(rows) {
        groups.row(vec![
            output::cell(g.get("group_id")),
            output::cell(g.get("state")),
            group::members_cell(g.get("members")),
            lag.map_or("-".to_owned(), |l| l.to_string()),
        ]);
    }
    if groups.is_empty() {
        groups.row(vec!["(no groups)".into()]);
    }
    out.push_str(&groups.render());
    if frame.groups.len() > rows {
        let _ = writeln!(out, "… and {} more groups", frame.groups.len() - rows);
    }
    out
}

/// Up to three lines: `ferry 0.1.0 at URL  up 3m20s`, then connections, disk and memory, then
/// `queues 4  topics 2 …  ready 12  in flight 3 …`.
fn headline(ctx: &Ctx, overview: Option<&Value>) -> String {
    let mut line = String::from("ferry");
    let Some(o) = overview else {
        return format!("{line} at {}", ctx.client.base());
    };
    if let Some(v) = o.get("version").and_then(Value::as_str) {
        let _ = write!(line, " {v}");
    }
    let _ = write!(line, " at {}", ctx.client.base());
    if let Some(up) = o.get("uptime_seconds").and_then(Value::as_u64) {
        let _ = write!(line, "  up {}", output::duration_ms(Some(&json!(up * 1000))));
    }
    if let Some(Value::Array(alarms)) = o.get("alarms")
        && !alarms.is_empty()
    {
        let _ = write!(line, "  ALARM {}", output::cell(Some(&Value::Array(alarms.clone()))));
    }
    let mut host = Vec::new();
    if let Some(Value::Object(c)) = o.get("connections") {
        let open: Vec<String> = c.iter().map(|(p, n)| format!("{p} {}", output::cell(Some(n)))).collect();
        host.push(format!("connections {}", if open.is_empty() { "0".to_owned() } else { open.join(" ") }));
    }
    if let Some(free) = o.get("disk_free_bytes").filter(|v| v.is_u64()) {
        host.push(format!("disk free {}", output::bytes(Some(free))));
    }
    if let Some(rss) = o.get("resident_memory_bytes").filter(|v| v.is_u64()) {
        host.push(format!("memory {}", output::bytes(Some(rss))));
    }
    if !host.is_empty() {
        let _ = write!(line, "\n{}", host.join("  "));
    }
    let mut figures = Vec::new();
    for (label, path) in [
        ("queues", "counts.queues"),
        ("topics", "counts.topics"),
        ("groups", "counts.groups"),
        ("exchanges", "counts.exchanges"),
        ("ready", "messages.ready"),
        ("in flight", "messages.in_flight"),
        ("delayed", "messages.delayed"),
        ("dead-letter", "messages.dead_letter"),
    ] {
        if let Some(v) = output::field(o, path).filter(|v| v.is_number()) {
            figures.push(format!("{label} {v}"));
        }
    }
    if !figures.is_empty() {
        let _ = write!(line, "\n{}", figures.join("  "));
    }
    line
}

/// Per-second rates of the overview's counters since the previous frame.
fn rates(frame: &Frame, previous: Option<&Frame>) -> Option<String> {
    let now = counters(frame.overview.as_ref()?);
    let before = counters(previous?.overview.as_ref()?);
    let seconds = frame.taken.duration_since(previous?.taken).as_secs_f64();
    if seconds <= 0.0 || now.is_empty() {
        return None;
    }
    let parts: Vec<String> = now
        .iter()
        .filter_map(|(k, v)| {
            let b = before.get(k)?.as_u64()?;
            let rate = v.as_u64()?.saturating_sub(b) as f64 / seconds;
            Some(format!("{k} {rate:.1}/s"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("  "))
}

/// The counters of the overview that only grow (`totals`: enqueued, delivered, acked, …).
fn counters(o: &Value) -> Map<String, Value> {
    match o.get("totals") {
        Some(Value::Object(c)) => c.clone(),
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::http::Client;

    fn overview(enqueued: u64) -> Value {
        json!({
            "version": "0.1.0",
            "uptime_seconds": 200,
            "connections": {"amqp": 2, "kafka": 1},
            "amqp_channels": 3,
            "disk_free_bytes": 1536,
            "resident_memory_bytes": null,
            "alarms": ["disk"],
            "counts": {"queues": 4, "topics": 2, "partitions": 3, "groups": 1, "exchanges": 0, "bindings": 0},
            "messages": {"ready": 12, "in_flight": 3, "delayed": 0, "dead_letter": 1},
            "totals": {"enqueued": enqueued, "delivered": 0},
        })
    }

    #[test]
    fn headline_shows_the_overview_in_two_lines() {
        let ctx = Ctx { client: Client::new("http://127.0.0.1:8080").unwrap(), json: false };
        assert_eq!(
            headline(&ctx, Some(&overview(0))),
            "ferry 0.1.0 at http://127.0.0.1:8080  up 3m20s  ALARM disk\n\
             connections amqp 2 kafka 1  disk free 1.5KiB\n\
             queues 4  topics 2  groups 1  exchanges 0  ready 12  in flight 3  delayed 0  dead-letter 1"
        );
        assert_eq!(headline(&ctx, None), "ferry at http://127.0.0.1:8080");
    }

    #[test]
    fn rates_are_counter_differences_over_the_time_between_frames() {
        let first =
            Frame { overview: Some(overview(100)), queues: vec![], groups: vec![], taken: Instant::now() };
        let second = Frame {
            overview: Some(overview(300)),
            queues: vec![],
            groups: vec![],
            taken: first.taken + Duration::from_secs(2),
        };
        assert_eq!(rates(&second, Some(&first)).unwrap(), "delivered 0.0/s  enqueued 100.0/s");
        assert_eq!(rates(&first, None), None);
    }
}
