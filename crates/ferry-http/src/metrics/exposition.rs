//! Writes metric families in Prometheus's text format (0.0.4) or in OpenMetrics 1.0, which
//! differ in how a counter's family is named, in the content type and in the closing `# EOF`.

use std::fmt::Write;

use ferry_broker::telemetry::HistogramSnapshot;

/// Prometheus's text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// OpenMetrics' text format.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The kind of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// Samples are written with `_total` after the family name.
    Counter,
    Histogram,
}

/// A metrics page being written.
pub struct Exposition {
    out: String,
    openmetrics: bool,
}

impl Exposition {
    pub fn new(openmetrics: bool) -> Exposition {
        Exposition { out: String::with_capacity(64 * 1024), openmetrics }
    }

    /// Starts the family `name` (a counter's without `_total`).
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let (type_name, kind_name) = match kind {
            Kind::Gauge => (name.to_owned(), "gauge"),
            Kind::Counter if self.openmetrics => (name.to_owned(), "counter"),
            Kind::Counter => (format!("{name}_total"), "counter"),
            Kind::Histogram => (name.to_owned(), "histogram"),
        };
        let _ = writeln!(self.out, "# HELP {type_name} {help}");
        let _ = writeln!(self.out, "# TYPE {type_name} {kind_name}");
    }

    /// One gauge sample.
    pub fn gauge(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.sample(name, "", labels, value);
    }

    /// One counter sample (written as `<name>_total`).
    pub fn counter(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.sample(name, "_total", labels, value as f64);
    }

    /// The samples of one histogram, its observations divided by `divisor` (1e9 turns
    /// nanoseconds into seconds).
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot, divisor: f64) {
        for (bound, count) in h.bounds.iter().zip(&h.cumulative) {
            let le = format_value(*bound as f64 / divisor);
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(name, "_bucket", &with_le, *count as f64);
        }
        let mut with_le: Vec<(&str, &str)> = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(name, "_bucket", &with_le, h.count as f64);
        self.sample(name, "_sum", labels, h.sum as f64 / divisor);
        self.sample(name, "_count", labels, h.count as f64);
    }

    fn sample(&mut self, name: &str, suffix: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        self.out.push_str(suffix);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(key);
                self.out.push_str("=\"");
                escape_into(&mut self.out, value);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&format_value(value));
        self.out.push('\n');
    }

    /// The page, closed as its format wants.
    pub fn finish(mut self) -> String {
        if self.openmetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value: whole numbers without a fraction, others in the shortest form that reads
/// back exactly.
fn format_value(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() }
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_as_each_format_wants() {
        let mut p = Exposition::new(false);
        p.family("ferry_x", Kind::Counter, "X.");
        p.counter("ferry_x", &[("queue", "a")], 3);
        let text = p.finish();
        assert!(text.contains("# TYPE ferry_x_total counter\n"));
        assert!(text.contains("ferry_x_total{queue=\"a\"} 3\n"));
        assert!(!text.contains("# EOF"));

        let mut o = Exposition::new(true);
        o.family("ferry_x", Kind::Counter, "X.");
        o.counter("ferry_x", &[], 3);
        let text = o.finish();
        assert!(text.contains("# TYPE ferry_x counter\n"));
        assert!(text.contains("ferry_x_total 3\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut p = Exposition::new(false);
        p.gauge("g", &[("queue", "a\"b\\c\nd")], 1.5);
        assert_eq!(p.finish(), "g{queue=\"a\\\"b\\\\c\\nd\"} 1.5\n");
    }

    #[test]
    fn histograms_have_cumulative_buckets_sum_and_count() {
        let h = HistogramSnapshot {
            bounds: &[1_000_000, 2_000_000],
            cumulative: vec![1, 3],
            count: 4,
            sum: 9_000_000,
        };
        let mut p = Exposition::new(false);
        p.histogram("h_seconds", &[("op", "x")], &h, 1e9);
        let text = p.finish();
        assert!(text.contains("h_seconds_bucket{op=\"x\",le=\"0.001\"} 1\n"), "{text}");
        assert!(text.contains("h_seconds_bucket{op=\"x\",le=\"0.002\"} 3\n"));
        assert!(text.contains("h_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"));
        assert!(text.contains("h_seconds_sum{op=\"x\"} 0.009\n"));
        assert!(text.contains("h_seconds_count{op=\"x\"} 4\n"));
    }
}
