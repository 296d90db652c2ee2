//! `--out DIR`: the JSON summary, the time series (JSON lines and CSV) and a
//! self-contained HTML report with inline SVG plots (no script, no network to view it).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::report::Report;
use crate::series::{self, SeriesRow};

/// The files `--out` writes, in `DIR`.
pub const FILES: [&str; 4] = ["summary.json", "series.jsonl", "series.csv", "report.html"];

/// Creates `dir` (and its parents) and checks that a file can be written there; run before
/// the swarm so that a bad `--out` fails at once.
///
/// # Errors
/// The directory cannot be created or written.
pub fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".tickwire-bots-write-test");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

/// Writes [`FILES`] for `report` into `dir`; returns their paths.
///
/// # Errors
/// A file cannot be written.
pub fn write_dir(dir: &Path, report: &Report) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let contents = [
        report.to_json() + "\n",
        series::to_jsonl(&report.series),
        series::to_csv(&report.series),
        render(report),
    ];
    let mut paths = Vec::new();
    for (name, text) in FILES.iter().zip(contents) {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        paths.push(path);
    }
    Ok(paths)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = "
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px auto;
  max-width: 1000px; color: #1d2330; background: #fbfbfd; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.sub { color: #5a6275; margin: 0 0 12px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff;
  font-weight: 600; font-size: 14px; vertical-align: 3px; margin-left: 8px; }
.pass { background: #1a7f37; } .fail { background: #c62828; } .other { background: #b26a00; }
table { border-collapse: collapse; width: 100%; background: #fff; }
td, th { border-bottom: 1px solid #e4e6ee; padding: 4px 8px; text-align: left;
  vertical-align: top; }
th { background: #f0f2f7; font-weight: 600; }
td.k { color: #5a6275; white-space: nowrap; width: 1%; }
.checks li { list-style: none; font-family: ui-monospace, monospace; }
.checks { padding-left: 0; }
.ok { color: #1a7f37; } .bad { color: #c62828; font-weight: 600; }
.plots { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
figure { margin: 0; background: #fff; border: 1px solid #e4e6ee; border-radius: 6px;
  padding: 6px; }
svg { width: 100%; height: auto; display: block; }
svg text { font: 11px system-ui, sans-serif; fill: #5a6275; }
svg .title { font-size: 13px; font-weight: 600; fill: #1d2330; }
.params td { font-family: ui-monospace, monospace; font-size: 13px; }
@media (max-width: 760px) { .plots { grid-template-columns: 1fr; } }
";

/// The self-contained HTML report of `report` (its series included).
#[must_use]
pub fn render(r: &Report) -> String {
    let p = &r.params;
    let title = p.name.clone().unwrap_or_else(|| "bot swarm run".to_owned());
    let class = match r.outcome {
        crate::verdict::Outcome::Pass => "pass",
        crate::verdict::Outcome::Fail => "fail",
        _ => "other",
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>tickwire-bots: {t}</title><style>{CSS}</style></head><body>\n\
         <h1>tickwire-bots: {t}<span class=\"badge {class}\">{o}</span></h1>\n\
         <p class=\"sub\">{url} &middot; {n} bots (peak) &middot; {w:.1} s measured &middot; exit {code}{why}</p>\n",
        t = esc(&title),
        o = esc(r.outcome.word()),
        url = esc(&p.url),
        n = p.count,
        w = r.window_s,
        code = r.outcome.exit_code(),
        why = r
            .stop_reason
            .as_ref()
            .map_or(String::new(), |s| format!(" &middot; {}", esc(s))),
    );

    // Pass/fail lines.
    h.push_str("<h2>Thresholds</h2>\n<ul class=\"checks\">\n");
    if r.checks.is_empty() {
        h.push_str("<li>none checked</li>\n");
    }
    for c in &r.checks {
        let _ = writeln!(
            h,
            "<li class=\"{}\">{}</li>",
            if c.pass { "ok" } else { "bad" },
            esc(&c.line())
        );
    }
    for why in &r.harness.invalid_reasons {
        let _ = writeln!(h, "<li class=\"bad\">INVALID RUN: {}</li>", esc(why));
    }
    h.push_str("</ul>\n");

    // Plots.
    h.push_str("<h2>Over time</h2>\n<div class=\"plots\">\n");
    for svg in plots(&r.series) {
        let _ = writeln!(h, "<figure>{svg}</figure>");
    }
    h.push_str("</div>\n");

    // Summary.
    h.push_str("<h2>Summary</h2>\n<table class=\"summary\">\n");
    for (k, v) in r.rows() {
        let _ = writeln!(
            h,
            "<tr><td class=\"k\">{}</td><td>{}</td></tr>",
            esc(k),
            esc(&v)
        );
    }
    h.push_str("</table>\n");

    if !r.failures.is_empty() {
        h.push_str(
            "<h2>Failures by kind</h2>\n<table>\n<tr><th>count</th><th>kind</th><th>e.g.</th></tr>\n",
        );
        let mut groups: Vec<_> = r.failures.iter().collect();
        groups.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        for (kind, g) in groups {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                g.count,
                esc(kind),
                esc(g.examples.first().map_or("", String::as_str))
            );
        }
        h.push_str("</table>\n");
    }

    if let Some(stages) = &p.stages {
        h.push_str("<h2>Stages</h2>\n<table>\n<tr><th>stage</th><th>seconds</th><th>bots at its end</th><th>shape</th></tr>\n");
        for s in &stages.0 {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:?}</td></tr>",
                esc(&s.name),
                s.duration,
                s.bots,
                s.shape
            );
        }
        h.push_str("</table>\n");
    }
    if !p.groups.is_empty() {
        h.push_str("<h2>Groups</h2>\n<table>\n<tr><th>group</th><th>share</th><th>behaviour</th><th>link</th></tr>\n");
        let total: f64 = p.groups.iter().map(|g| g.share).sum();
        for g in &p.groups {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{:.0} %</td><td>{:?}</td><td>+{} ms, jitter {} ms, cap {}</td></tr>",
                esc(&g.name),
                g.share / total * 100.0,
                g.behavior,
                g.latency_ms,
                g.jitter_ms,
                g.bandwidth_kbps
                    .map_or("none".to_owned(), |k| format!("{k} kbit/s"))
            );
        }
        h.push_str("</table>\n");
    }

    // The run's parameters, as the JSON has them.
    h.push_str("<h2>Parameters</h2>\n<table class=\"params\">\n");
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(p) {
        for (k, v) in map {
            if matches!(k.as_str(), "stages" | "groups") {
                continue;
            }
            let _ = writeln!(
                h,
                "<tr><td class=\"k\">{}</td><td>{}</td></tr>",
                esc(&k),
                esc(&v.to_string())
            );
        }
    }
    h.push_str(
        "</table>\n<p class=\"sub\">Written by tickwire-bots; the same figures are in \
         summary.json, and one row a second in series.jsonl and series.csv.</p>\n</body></html>\n",
    );
    h
}

/// One line of a plot: its name, colour, dashed or not, and its points.
struct Line {
    name: String,
    color: &'static str,
    dashed: bool,
    points: Vec<(f64, Option<f64>)>,
}

const COLORS: [&str; 6] = [
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
];

fn line(
    name: &str,
    color: &'static str,
    rows: &[SeriesRow],
    f: impl Fn(&SeriesRow) -> Option<f64>,
) -> Line {
    Line {
        name: name.to_owned(),
        color,
        dashed: false,
        points: rows.iter().map(|r| (r.t, f(r))).collect(),
    }
}

fn plots(rows: &[SeriesRow]) -> Vec<String> {
    // Where the phase or stage changes: vertical marks on every plot.
    let mut marks: Vec<(f64, String)> = Vec::new();
    let mut last = "";
    let mut prev_t = 0.0;
    for r in rows {
        if r.phase != last {
            marks.push((prev_t, r.phase.clone()));
            last = &r.phase;
        }
        prev_t = r.t;
    }
    let mut target = line("target", "#6b7280", rows, |r| Some(r.target as f64));
    target.dashed = true;
    let bots = vec![
        line("connected", COLORS[0], rows, |r| Some(r.connected as f64)),
        target,
        line("joins/s", COLORS[2], rows, |r| Some(r.joins as f64)),
    ];
    let snaps = vec![
        line("snapshots/s", COLORS[0], rows, |r| Some(r.snapshots_per_s)),
        line("inputs/s", COLORS[2], rows, |r| Some(r.inputs_per_s)),
    ];
    let rtt = vec![
        line("p50", COLORS[0], rows, |r| r.rtt_p50_ms),
        line("p99", COLORS[1], rows, |r| r.rtt_p99_ms),
    ];
    let bytes = vec![
        line("down", COLORS[0], rows, |r| {
            Some(r.bytes_down_per_s / 1000.0)
        }),
        line("up", COLORS[4], rows, |r| Some(r.bytes_up_per_s / 1000.0)),
    ];
    // Errors: the total, and the most frequent kinds.
    let mut kinds: std::collections::BTreeMap<&str, u64> = Default::default();
    for r in rows {
        for (k, n) in &r.errors_by_kind {
            *kinds.entry(k.as_str()).or_default() += n;
        }
    }
    let mut kinds: Vec<(&str, u64)> = kinds.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut errors = vec![line("all failures", COLORS[1], rows, |r| {
        Some(r.errors as f64)
    })];
    for (i, (kind, _)) in kinds.iter().take(4).enumerate() {
        let k = (*kind).to_owned();
        errors.push(line(kind, COLORS[(i + 2) % COLORS.len()], rows, move |r| {
            Some(r.errors_by_kind.get(&k).copied().unwrap_or(0) as f64)
        }));
    }
    errors.push(line("resumes", COLORS[0], rows, |r| Some(r.resumes as f64)));
    vec![
        chart("Bots connected", "bots", &bots, &marks),
        chart("Snapshots and inputs, all bots", "per s", &snaps, &marks),
        chart("Input round trip, each second", "ms", &rtt, &marks),
        chart("Bytes, all bots", "kB/s", &bytes, &marks),
        chart(
            "Failures and resumes, each second",
            "per s",
            &errors,
            &marks,
        ),
    ]
}

/// A round step for about `n` ticks over `0..max`.
fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let f = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

fn fmt_tick(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A line chart as an inline SVG element.
fn chart(title: &str, unit: &str, lines: &[Line], marks: &[(f64, String)]) -> String {
    const W: f64 = 480.0;
    const H: f64 = 240.0;
    const L: f64 = 48.0;
    const R: f64 = 10.0;
    const T: f64 = 44.0;
    const B: f64 = 28.0;
    let (pw, ph) = (W - L - R, H - T - B);
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let y_raw = lines
        .iter()
        .flat_map(|l| l.points.iter().filter_map(|p| p.1))
        .fold(0.0f64, f64::max);
    // Counts of nothing still get an axis up to 1.
    let y_raw = y_raw.max(1.0);
    let y_step = nice_step(y_raw, 4.0);
    let y_max = (y_raw / y_step).ceil().max(1.0) * y_step;
    let x = |t: f64| L + t / x_max * pw;
    let y = |v: f64| T + ph - v / y_max * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{t}\">\
         <text class=\"title\" x=\"{L}\" y=\"16\">{t}</text>\
         <text x=\"4\" y=\"{ly}\">{u}</text>",
        t = esc(title),
        u = esc(unit),
        ly = T - 8.0,
    );
    // Grid and y ticks.
    let mut v = 0.0;
    while v <= y_max + 1e-9 {
        let _ = write!(
            s,
            "<line x1=\"{L}\" x2=\"{x2:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e4e6ee\"/>\
             <text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"end\">{l}</text>",
            x2 = L + pw,
            yy = y(v),
            tx = L - 4.0,
            ty = y(v) + 4.0,
            l = fmt_tick(v),
        );
        v += y_step;
    }
    // X ticks, seconds.
    let x_step = nice_step(x_max, 6.0).max(1.0);
    let mut t = 0.0;
    while t <= x_max + 1e-9 {
        let _ = write!(
            s,
            "<text x=\"{xx:.1}\" y=\"{yy:.1}\" text-anchor=\"middle\">{l}</text>",
            xx = x(t),
            yy = T + ph + 16.0,
            l = fmt_tick(t),
        );
        t += x_step;
    }
    let _ = write!(
        s,
        "<text x=\"{xx:.1}\" y=\"{yy:.1}\" text-anchor=\"end\">s</text>",
        xx = L + pw,
        yy = T + ph + 26.0
    );
    // Phase and stage marks.
    for (at, name) in marks {
        let _ = write!(
            s,
            "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{T}\" y2=\"{y2:.1}\" stroke=\"#9ca3af\" stroke-dasharray=\"3 3\"/>\
             <text x=\"{tx:.1}\" y=\"{ty:.1}\" font-size=\"10\">{n}</text>",
            xx = x(*at),
            y2 = T + ph,
            tx = x(*at) + 3.0,
            ty = T + 10.0,
            n = esc(name),
        );
    }
    // Axes.
    let _ = write!(
        s,
        "<line x1=\"{L}\" x2=\"{L}\" y1=\"{T}\" y2=\"{yb:.1}\" stroke=\"#9ca3af\"/>\
         <line x1=\"{L}\" x2=\"{xr:.1}\" y1=\"{yb:.1}\" y2=\"{yb:.1}\" stroke=\"#9ca3af\"/>",
        yb = T + ph,
        xr = L + pw,
    );
    // Lines, split where a value is missing.
    for l in lines {
        let dash = if l.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let mut seg: Vec<String> = Vec::new();
        let flush = |seg: &mut Vec<String>, s: &mut String| {
            if seg.len() == 1 {
                let _ = write!(
                    s,
                    "<circle cx=\"{}\" r=\"2\" fill=\"{}\"/>",
                    seg[0].replace(',', "\" cy=\""),
                    l.color
                );
            } else if seg.len() > 1 {
                let _ = write!(
                    s,
                    "<polyline class=\"series\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"{dash} points=\"{}\"/>",
                    l.color,
                    seg.join(" ")
                );
            }
            seg.clear();
        };
        for (t, v) in &l.points {
            match v {
                Some(v) => seg.push(format!("{:.1},{:.1}", x(*t), y(*v))),
                None => flush(&mut seg, &mut s),
            }
        }
        flush(&mut seg, &mut s);
    }
    // Legend, top right, one entry after another.
    let mut lx = L + pw;
    for l in lines.iter().rev() {
        let w = 18.0 + 6.5 * l.name.chars().count() as f64;
        lx -= w + 8.0;
        let dash = if l.dashed {
            " stroke-dasharray=\"4 3\""
        } else {
            ""
        };
        let _ = write!(
            s,
            "<line x1=\"{lx:.1}\" x2=\"{x2:.1}\" y1=\"28\" y2=\"28\" stroke=\"{c}\" stroke-width=\"2\"{dash}/>\
             <text x=\"{tx:.1}\" y=\"32\">{n}</text>",
            x2 = lx + 14.0,
            c = l.color,
            tx = lx + 17.0,
            n = esc(&l.name),
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100.0, 4.0), 50.0);
        assert_eq!(nice_step(7.0, 4.0), 2.0);
        assert_eq!(nice_step(0.3, 4.0), 0.1);
    }

    #[test]
    fn a_chart_escapes_and_splits_at_gaps() {
        let rows: Vec<SeriesRow> = (1..=4)
            .map(|i| SeriesRow {
                t: f64::from(i),
                phase: "a<b".into(),
                rtt_p50_ms: (i != 2).then_some(10.0),
                ..SeriesRow::default()
            })
            .collect();
        let line = line("p50", COLORS[0], &rows, |r| r.rtt_p50_ms);
        let svg = chart("RTT <ms>", "ms", &[line], &[(0.0, "a<b".into())]);
        assert!(svg.contains("RTT &lt;ms&gt;") && svg.contains("a&lt;b"));
        assert_eq!(svg.matches("<polyline").count(), 1, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 1, "{svg}");
    }
}
