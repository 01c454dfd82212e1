//! Many runs' JSON lines into one Markdown section (a table per workload, ferry's ratio to each
//! peer, each system's durability beside its figures) and an SVG chart per workload.
//!
//! The section is written between two marker comments of the document, so the rest of the
//! document stays as it is; without the markers it is appended.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use plotters::prelude::*;

use crate::outcome::{Outcome, micros};

const BEGIN: &str = "<!-- ferry-bench report: begin -->";
const END: &str = "<!-- ferry-bench report: end -->";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// JSON lines written by runs with --json.
    #[arg(long)]
    input: PathBuf,
    /// Markdown document to write the section into (between its ferry-bench report markers).
    #[arg(long)]
    doc: PathBuf,
    /// Directory for the SVG charts; the document links them relative to itself.
    #[arg(long)]
    charts: PathBuf,
    /// The command that produced the runs, quoted in the section.
    #[arg(long, default_value = "scripts/bench-peers")]
    command: String,
    /// A sentence about the machine and the run, quoted in the section.
    #[arg(long, default_value = "")]
    context: String,
}

/// What a group of runs is compared on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Measure {
    /// Messages per second, higher is better.
    Throughput,
    /// Latency at a fixed rate, lower is better.
    Latency,
    /// Server memory, lower is better.
    Memory,
}

/// Runs of the same workload and shape, one row per system.
struct Group {
    title: String,
    slug: String,
    measure: Measure,
    rows: Vec<Outcome>,
}

pub fn write(args: &ReportArgs) -> Result<()> {
    let text =
        std::fs::read_to_string(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let mut outcomes = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let outcome: Outcome =
            serde_json::from_str(line).with_context(|| format!("{} line {}", args.input.display(), n + 1))?;
        outcomes.push(outcome);
    }
    if outcomes.is_empty() {
        bail!("{} holds no runs", args.input.display());
    }
    let groups = group(outcomes);
    std::fs::create_dir_all(&args.charts).with_context(|| format!("creating {}", args.charts.display()))?;
    let link_base = relative(args.doc.parent().unwrap_or(Path::new(".")), &args.charts);
    let mut section = String::new();
    writeln!(section, "{BEGIN}")?;
    writeln!(
        section,
        "Produced by `{}`; every system ran on the same machine in the same run, one at a time.",
        args.command
    )?;
    if !args.context.is_empty() {
        writeln!(section, "{}", args.context)?;
    }
    writeln!(section)?;
    writeln!(
        section,
        "msg/s and MB/s are counted over the measured window; latencies are HdrHistogram percentiles; \
         *durability* says who has the message on disk (fsync) before the publisher hears back.\n"
    )?;
    for g in &groups {
        let chart = args.charts.join(format!("{}.svg", g.slug));
        draw(g, &chart).with_context(|| format!("drawing {}", chart.display()))?;
        write_group(&mut section, g, &format!("{link_base}{}.svg", g.slug))?;
    }
    writeln!(section, "{END}")?;
    let doc = std::fs::read_to_string(&args.doc).unwrap_or_default();
    let updated = match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{}{}", &doc[..b], section.trim_end(), &doc[e + END.len()..])
        }
        _ if doc.is_empty() => section,
        _ => format!("{}\n\n{}", doc.trim_end(), section),
    };
    std::fs::write(&args.doc, updated).with_context(|| format!("writing {}", args.doc.display()))?;
    Ok(())
}

/// `charts` as seen from `base`, with a trailing slash ("" when they are the same).
fn relative(base: &Path, charts: &Path) -> String {
    match charts.strip_prefix(base) {
        Ok(rest) if rest.as_os_str().is_empty() => String::new(),
        Ok(rest) => format!("{}/", rest.display()),
        Err(_) => format!("{}/", charts.display()),
    }
}

fn group(outcomes: Vec<Outcome>) -> Vec<Group> {
    let mut groups: BTreeMap<(u8, String), Group> = BTreeMap::new();
    for o in outcomes {
        let (order, title, slug, measure) = describe(&o);
        groups
            .entry((order, slug.clone()))
            .or_insert_with(|| Group { title, slug, measure, rows: Vec::new() })
            .rows
            .push(o);
    }
    groups.into_values().collect()
}

/// Where a run belongs: its order among the groups, title, chart name and what it is compared on.
fn describe(o: &Outcome) -> (u8, String, String, Measure) {
    let size = o.size;
    match (o.workload.as_str(), o.rate) {
        ("produce", _) => (
            1,
            format!("Stream append, {size} B messages, every publish acknowledged"),
            format!("produce-{size}"),
            Measure::Throughput,
        ),
        // Runs with another prefetch are another shape: they get a table of their own.
        ("e2e", None) => (
            2,
            format!(
                "Work queue, {} producer(s) and {} consumer(s), {size} B persistent messages, each acknowledged, prefetch {}",
                o.producers, o.consumers, o.prefetch
            ),
            format!("work-queue-{size}-prefetch-{}", o.prefetch),
            Measure::Throughput,
        ),
        ("e2e", Some(rate)) => (
            3,
            format!(
                "Latency at {rate:.0} msg/s, {size} B, prefetch {}, from the scheduled send to the consumer's receipt",
                o.prefetch
            ),
            format!("latency-{rate:.0}-{size}-prefetch-{}", o.prefetch),
            Measure::Latency,
        ),
        ("fanout", _) => (
            4,
            format!("Fan-out, 1 producer to {} subscriptions, {size} B", o.subscriptions),
            format!("fanout-{}-{size}", o.subscriptions),
            Measure::Throughput,
        ),
        ("queues", _) => (
            5,
            format!("{} queues with light traffic, {size} B messages left queued", o.destinations),
            format!("queues-{}", o.destinations),
            Measure::Memory,
        ),
        (other, _) => (6, format!("{other}, {size} B"), format!("{other}-{size}"), Measure::Throughput),
    }
}

/// ferry's rows of a group: each peer gets a ratio to each of them.
fn ferry_rows(g: &Group) -> Vec<&Outcome> {
    g.rows.iter().filter(|o| is_ferry(o)).collect()
}

fn is_ferry(o: &Outcome) -> bool {
    o.label.starts_with("ferry")
}

/// How much better `f` (a ferry row) did than `o` on the group's measure: above 1 when ferry
/// did better.
fn advantage(measure: Measure, f: &Outcome, o: &Outcome) -> f64 {
    let p99 = |x: &Outcome| x.latency.as_ref().map_or(f64::NAN, |l| l.p99_us as f64);
    match measure {
        Measure::Throughput => f.msg_per_s / o.msg_per_s,
        Measure::Latency => p99(o) / p99(f),
        Measure::Memory => per_queue(o) / per_queue(f),
    }
}

fn per_queue(o: &Outcome) -> f64 {
    o.memory.as_ref().map_or(f64::NAN, |m| m.per_queue_bytes)
}

fn per_message(o: &Outcome) -> f64 {
    o.memory.as_ref().map_or(f64::NAN, |m| m.per_message_bytes)
}

fn ratio(x: f64) -> String {
    if x.is_finite() { format!("{x:.2}×") } else { "–".into() }
}

fn write_group(out: &mut String, g: &Group, chart: &str) -> Result<()> {
    writeln!(out, "### {}\n", g.title)?;
    let ferries = ferry_rows(g);
    let ratio_heads: String = ferries
        .iter()
        .map(|f| match g.measure {
            Measure::Throughput => format!(" {} ÷ this (msg/s) |", f.label),
            Measure::Latency => format!(" this p99 ÷ {} p99 |", f.label),
            Measure::Memory => format!(" this ÷ {} (per queue) |", f.label),
        })
        .collect();
    let ratio_rule = "---:|".repeat(ferries.len());
    let ratios = |o: &Outcome| -> String {
        ferries
            .iter()
            .map(|f| match is_ferry(o) {
                true => " – |".to_owned(),
                false => format!(" {} |", ratio(advantage(g.measure, f, o))),
            })
            .collect()
    };
    let latency = |o: &Outcome, f: fn(&crate::outcome::Latency) -> u64| {
        o.latency.as_ref().map_or("–".into(), |l| micros(f(l)))
    };
    match g.measure {
        Measure::Throughput | Measure::Latency => {
            writeln!(out, "| system | durability | msg/s | MB/s | p50 | p99 | p99.9 |{ratio_heads}")?;
            writeln!(out, "|---|---|---:|---:|---:|---:|---:|{ratio_rule}")?;
            for o in &g.rows {
                writeln!(
                    out,
                    "| {} | {} | {:.0} | {:.2} | {} | {} | {} |{}",
                    o.label,
                    o.durability,
                    o.msg_per_s,
                    o.mb_per_s,
                    latency(o, |l| l.p50_us),
                    latency(o, |l| l.p99_us),
                    latency(o, |l| l.p999_us),
                    ratios(o),
                )?;
            }
        }
        Measure::Memory => {
            writeln!(
                out,
                "| system | durability | create (s) | memory per queue | memory per queued message | fill msg/s |{ratio_heads}"
            )?;
            writeln!(out, "|---|---|---:|---:|---:|---:|{ratio_rule}")?;
            for o in &g.rows {
                writeln!(
                    out,
                    "| {} | {} | {:.2} | {} | {} | {:.0} |{}",
                    o.label,
                    o.durability,
                    o.setup_secs.unwrap_or(f64::NAN),
                    bytes(per_queue(o)),
                    bytes(per_message(o)),
                    o.msg_per_s,
                    ratios(o),
                )?;
            }
        }
    }
    let behind: Vec<String> = g
        .rows
        .iter()
        .filter_map(|o| o.published_per_s.filter(|p| *p > o.msg_per_s * 1.1).map(|p| (o, p)))
        .map(|(o, p)| format!("{} ({p:.0} msg/s published)", o.label))
        .collect();
    if !behind.is_empty() {
        writeln!(out, "\nConsumers fell behind the producer, which built a backlog: {}.", behind.join(", "))?;
    }
    let missing: Vec<String> =
        g.rows.iter().filter(|o| o.missing > 0).map(|o| format!("{}: {}", o.label, o.missing)).collect();
    if !missing.is_empty() {
        writeln!(
            out,
            "\nAcknowledged but not received before the run stopped waiting: {}.",
            missing.join(", ")
        )?;
    }
    if let Some(o) = g.rows.first() {
        let load = o.rate.map_or("as fast as possible".to_owned(), |r| format!("fixed rate {r:.0} msg/s"));
        let window = match g.measure {
            Measure::Memory => {
                "messages sent as fast as possible, memory read 2 s after creating and after filling"
                    .to_owned()
            }
            _ => format!("{:.0} s measured, {load}", o.secs),
        };
        writeln!(
            out,
            "\nShape: {} producer(s), {} consumer(s) in all, batch {}, {} in flight per producer, prefetch {}, {window}. \
             Ratios above 1 are in ferry's favour.",
            o.producers, o.consumers, o.batch, o.inflight, o.prefetch
        )?;
    }
    writeln!(out, "\n![{}]({chart})\n", g.title)?;
    Ok(())
}

fn bytes(b: f64) -> String {
    match b {
        b if !b.is_finite() => "–".into(),
        b if b.abs() >= 1024.0 * 1024.0 => format!("{:.1} MiB", b / 1024.0 / 1024.0),
        b if b.abs() >= 1024.0 => format!("{:.1} KiB", b / 1024.0),
        b => format!("{b:.0} B"),
    }
}

/// One horizontal bar per system, ferry's in its own colour, the figure written beside the bar.
fn draw(g: &Group, path: &Path) -> Result<()> {
    let bars: Vec<(String, f64, String)> = g
        .rows
        .iter()
        .map(|o| match g.measure {
            Measure::Throughput => (o.label.clone(), o.msg_per_s, format!("{:.0} msg/s", o.msg_per_s)),
            Measure::Latency => {
                let l = o.latency.clone().unwrap_or_default();
                (
                    o.label.clone(),
                    l.p99_us as f64 / 1e3,
                    format!(
                        "p99 {}  (p50 {}, p99.9 {})",
                        micros(l.p99_us),
                        micros(l.p50_us),
                        micros(l.p999_us)
                    ),
                )
            }
            Measure::Memory => (
                o.label.clone(),
                per_queue(o).max(0.0) / 1024.0,
                format!("{} per queue, {} per message", bytes(per_queue(o)), bytes(per_message(o))),
            ),
        })
        .collect();
    let axis = match g.measure {
        Measure::Throughput => "messages per second (higher is better)",
        Measure::Latency => "p99 latency, ms (lower is better)",
        Measure::Memory => "server memory per queue, KiB (lower is better)",
    };
    let max = bars.iter().map(|b| b.1).filter(|v| v.is_finite()).fold(0.0, f64::max).max(1e-9);
    let height = 90 + 44 * bars.len() as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&g.title, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(8)
        .build_cartesian_2d(0.0..max * 2.0, 0.0..bars.len() as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc(axis)
        .x_labels(6)
        .x_label_formatter(&|v| compact(*v))
        .draw()?;
    let ferry_colour = RGBColor(0x1f, 0x6f, 0xb4);
    let peer_colour = RGBColor(0xa8, 0xa8, 0xa8);
    for (i, (label, value, text)) in bars.iter().enumerate() {
        let y = (bars.len() - 1 - i) as f64;
        let colour = if label.starts_with("ferry") { ferry_colour } else { peer_colour };
        let value = if value.is_finite() { *value } else { 0.0 };
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y + 0.2), (value, y + 0.8)],
            colour.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{label}: {text}"),
            (value + max * 0.02, y + 0.62),
            ("sans-serif", 13).into_font(),
        )))?;
    }
    root.present()?;
    Ok(())
}

/// 12345 as "12.3k".
fn compact(v: f64) -> String {
    match v.abs() {
        a if a >= 1e6 => format!("{:.1}M", v / 1e6),
        a if a >= 1e3 => format!("{:.0}k", v / 1e3),
        a if a >= 10.0 || a == 0.0 => format!("{v:.0}"),
        _ => format!("{v:.1}"),
    }
}
