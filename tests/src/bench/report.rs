//! The figures: a printed table and the `--json` list of
//! `{name, value, unit, baseline, baseline_value, ratio}` (plus `target` and `pass`).
use serde_json::{Value, json};

/// One measured figure, optionally paired with a baseline measured in the same run.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// What the baseline ran (e.g. `tar -c | openssl enc`).
    pub baseline: Option<String>,
    pub baseline_value: Option<f64>,
    /// `value / baseline_value` (both throughputs, so above 1 is faster than the baseline).
    pub ratio: Option<f64>,
    /// The target as text, and whether this run met it.
    pub target: Option<(String, bool)>,
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64, unit: &str) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.into(),
            baseline: None,
            baseline_value: None,
            ratio: None,
            target: None,
        }
    }

    /// Pairs a throughput with its baseline's throughput (same unit).
    pub fn against(mut self, baseline: &str, baseline_value: f64) -> Self {
        self.baseline = Some(baseline.into());
        self.baseline_value = Some(baseline_value);
        self.ratio = (baseline_value > 0.0).then(|| self.value / baseline_value);
        self
    }

    /// A target on the ratio: `ratio >= min`.
    pub fn ratio_at_least(mut self, min: f64) -> Self {
        let pass = self.ratio.is_some_and(|r| r >= min);
        self.target = Some((format!("ratio ≥ {min}×"), pass));
        self
    }

    /// A target on the value itself.
    pub fn target(mut self, text: &str, pass: bool) -> Self {
        self.target = Some((text.into(), pass));
        self
    }

    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "value": round(self.value),
            "unit": self.unit,
            "baseline": self.baseline,
            "baseline_value": self.baseline_value.map(round),
            "ratio": self.ratio.map(round),
            "target": self.target.as_ref().map(|(t, _)| t),
            "pass": self.target.as_ref().map(|(_, p)| p),
        })
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The table, one line per figure.
pub fn table(figures: &[Figure]) -> String {
    let mut rows = vec![[
        "figure".to_owned(),
        "value".to_owned(),
        "unit".to_owned(),
        "baseline".to_owned(),
        "ratio".to_owned(),
        "target".to_owned(),
    ]];
    for f in figures {
        rows.push([
            f.name.clone(),
            num(f.value),
            f.unit.clone(),
            match (&f.baseline, f.baseline_value) {
                (Some(b), Some(v)) => format!("{} ({b})", num(v)),
                _ => "-".into(),
            },
            f.ratio.map_or("-".into(), |r| format!("{r:.2}×")),
            f.target.as_ref().map_or("-".into(), |(t, pass)| {
                format!("{} {t}", if *pass { "PASS" } else { "MISS" })
            }),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                let pad = " ".repeat(w - cell.chars().count());
                if c == 1 || c == 4 {
                    format!("{pad}{cell}")
                } else {
                    format!("{cell}{pad}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&rule.join("  "));
            out.push('\n');
        }
    }
    out
}

/// The `--json` document: a list of figures.
pub fn json(figures: &[Figure]) -> Value {
    Value::Array(figures.iter().map(Figure::to_json).collect())
}
