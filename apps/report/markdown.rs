//! Markdown tables and the number formats their cells use.

use super::summary::Summary;

/// A markdown table: a header row and body rows of preformatted cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column titles.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        Table { header: header.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    /// Appends one row; it must have one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.header.len(), "a row needs one cell per column");
        self.rows.push(cells);
    }

    /// The table as markdown, ending in a newline.
    pub fn render(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut out = line(&self.header);
        out.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// "median (min-max)" with `decimals` places, or `n/a`.
pub fn median_min_max(s: Option<Summary>, decimals: usize) -> String {
    match s {
        Some(s) => format!("{:.d$} ({:.d$}-{:.d$})", s.median, s.min, s.max, d = decimals),
        None => "n/a".into(),
    }
}

/// A value with `decimals` places, or `n/a`.
pub fn number(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.decimals$}"))
}

/// A latency in microseconds: one decimal below 10 us, none above.
pub fn micros(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
        None => "n/a".into(),
    }
}

/// Several latencies joined by `/` ("p50/p99/p99.9").
pub fn latencies(values: &[Option<f64>]) -> String {
    values.iter().map(|v| micros(*v)).collect::<Vec<_>>().join("/")
}
