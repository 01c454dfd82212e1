//! What the client commands print: aligned tables for people, the API's JSON for scripts.

use std::fmt::Write as _;

use serde_json::Value;

/// A table with a header row; columns are as wide as their widest cell, separated by two spaces,
/// numbers aligned to the right.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table { headers: headers.iter().map(|h| h.to_uppercase()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// A row of `item`'s fields, one per column, `-` for a field it lacks.
    pub fn row_of(&mut self, item: &Value, fields: &[&str]) {
        self.row(fields.iter().map(|f| cell(field(item, f))).collect());
    }

    /// Replaces every cell of `column` that reads `from`.
    pub fn rename_cell(&mut self, column: usize, from: &str, to: &str) {
        for row in &mut self.rows {
            if let Some(c) = row.get_mut(column).filter(|c| c.as_str() == from) {
                *c = to.to_owned();
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        // A column is aligned right when it holds numbers and nothing else but dashes.
        let mut numeric = vec![true; columns];
        let mut any_number = vec![false; columns];
        for row in &self.rows {
            for (i, c) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(width(c));
                numeric[i] &= c == "-" || looks_numeric(c);
                any_number[i] |= looks_numeric(c);
            }
        }
        for (n, any) in numeric.iter_mut().zip(&any_number) {
            *n &= *any;
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            let mut text = String::new();
            for i in 0..columns {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = widths[i] - width(c);
                if i > 0 {
                    text.push_str("  ");
                }
                if numeric[i] {
                    text.extend(std::iter::repeat_n(' ', pad));
                    text.push_str(c);
                } else {
                    text.push_str(c);
                    if i + 1 < columns {
                        text.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&mut out, &self.headers);
        for row in &self.rows {
            line(&mut out, row);
        }
        out
    }
}

/// Characters on screen; names and bodies may hold any UTF-8.
fn width(s: &str) -> usize {
    s.chars().count()
}

fn looks_numeric(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_digit() || ".%smhdkMGKiB".contains(c))
}

/// A field of an object by a dotted path (`stats.ready`).
pub fn field<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// One cell: strings bare, `-` for null, absent or empty, other JSON as JSON.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) if s.is_empty() => "-".to_owned(),
        Some(Value::String(s)) => one_line(s),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
        Some(Value::Array(a)) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            a.iter().map(|x| cell(Some(x))).collect::<Vec<_>>().join(",")
        }
        Some(other) => other.to_string(),
    }
}

/// Control characters shown escaped, so a message body cannot break a table or the terminal.
pub fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
        .collect()
}

/// A duration in milliseconds, shortened for a column: `850ms`, `12.5s`, `3m20s`, `2h05m`.
pub fn duration_ms(v: Option<&Value>) -> String {
    let Some(ms) = v.and_then(Value::as_u64) else { return cell(v) };
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// A size in bytes with a binary unit: `512B`, `1.5KiB`, `20.0MiB`.
pub fn bytes(v: Option<&Value>) -> String {
    let Some(n) = v.and_then(Value::as_u64) else { return cell(v) };
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut x = n as f64 / 1024.0;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    format!("{x:.1}{}", UNITS[unit])
}

/// An object for a person: scalar fields as `key  value` lines (nested objects with dotted
/// keys), then each array of objects as a table of its own under its name.
pub fn describe(v: &Value) -> String {
    let mut pairs = Vec::new();
    let mut tables = Vec::new();
    flatten("", v, &mut pairs, &mut tables);
    let key_width = pairs.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let mut out = String::new();
    for (k, val) in &pairs {
        let _ = writeln!(out, "{k:key_width$}  {val}");
    }
    for (name, items) in tables {
        let _ = write!(out, "\n{name}:\n");
        if items.is_empty() {
            out.push_str("  (none)\n");
            continue;
        }
        let mut columns: Vec<String> = Vec::new();
        for item in items {
            if let Some(obj) = item.as_object() {
                for k in obj.keys() {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
            }
        }
        let headers: Vec<&str> = columns.iter().map(String::as_str).collect();
        let mut table = Table::new(&headers);
        for item in items {
            table.row_of(item, &headers);
        }
        for line in table.render().lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

fn flatten<'a>(
    prefix: &str,
    v: &'a Value,
    pairs: &mut Vec<(String, String)>,
    tables: &mut Vec<(String, &'a [Value])>,
) {
    match v {
        Value::Object(obj) => {
            for (k, val) in obj {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, val, pairs, tables);
            }
        }
        Value::Array(items)
            if items.iter().any(Value::is_object) || (items.is_empty() && !prefix.is_empty()) =>
        {
            tables.push((prefix.to_owned(), items));
        }
        other => pairs.push((prefix.to_owned(), cell(Some(other)))),
    }
}

/// Writes to stdout and flushes. A reader that went away (`ferry queue list | head -1`) ends the
/// command quietly with success, as other command-line tools do, instead of a panic.
pub fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("ferry: cannot write to stdout: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
}

/// Prints JSON for scripts: one document, pretty, ending with a newline.
pub fn print_json(v: &Value) {
    emit(&format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_text_left_and_numbers_right() {
        let mut t = Table::new(&["name", "ready"]);
        t.row(vec!["orders".into(), "5".into()]);
        t.row(vec!["a".into(), "1200".into()]);
        assert_eq!(t.render(), "NAME    READY\norders      5\na        1200\n");
    }

    #[test]
    fn table_counts_characters_not_bytes() {
        let mut t = Table::new(&["name", "x"]);
        t.row(vec!["café".into(), "b".into()]);
        t.row(vec!["tea".into(), "c".into()]);
        assert_eq!(t.render(), "NAME  X\ncafé  b\ntea   c\n");
    }

    #[test]
    fn empty_table_is_its_header() {
        assert_eq!(Table::new(&["name", "ready"]).render(), "NAME  READY\n");
    }

    #[test]
    fn missing_and_null_fields_show_a_dash() {
        let mut t = Table::new(&["name", "dlq", "ready"]);
        t.row_of(
            &json!({"name": "q", "dead_letter_queue": null, "stats": {"ready": 3}}),
            &["name", "dead_letter_queue", "stats.ready"],
        );
        assert_eq!(t.render(), "NAME  DLQ  READY\nq     -        3\n");
    }

    #[test]
    fn cells_escape_control_characters() {
        assert_eq!(cell(Some(&json!("a\nb\tc"))), "a\\nb\\tc");
    }

    #[test]
    fn durations_and_sizes_are_short() {
        assert_eq!(duration_ms(Some(&json!(850))), "850ms");
        assert_eq!(duration_ms(Some(&json!(12_500))), "12.5s");
        assert_eq!(duration_ms(Some(&json!(200_000))), "3m20s");
        assert_eq!(duration_ms(Some(&json!(7_500_000))), "2h05m");
        assert_eq!(duration_ms(None), "-");
        assert_eq!(bytes(Some(&json!(512))), "512B");
        assert_eq!(bytes(Some(&json!(1536))), "1.5KiB");
        assert_eq!(bytes(Some(&json!(20 * 1024 * 1024))), "20.0MiB");
    }

    #[test]
    fn describe_lists_fields_then_tables() {
        let v = json!({
            "name": "t",
            "config": {"retention_ms": 1000},
            "partitions": [{"partition": 0, "end_offset": 7}],
        });
        assert_eq!(
            describe(&v),
            "config.retention_ms  1000\nname                 t\n\npartitions:\n  END_OFFSET  PARTITION\n           7          0\n"
        );
    }
}
