//! Pass or fail: the thresholds a run is held to, the harness's own health, and how the
//! run ended ([`Outcome`], which the CLI turns into its exit code).

use serde::Serialize;

use crate::report::Report;

/// Limits a run must stay within (`None`: not checked).
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// Most seats refused plus joins failed.
    pub max_join_errors: Option<u64>,
    /// Most sessions ended by the server or the socket before the run did.
    pub max_disconnects: Option<u64>,
    /// Most desyncs (default 0: a desync is always a bug).
    pub max_desyncs: Option<u64>,
    /// Most client-side errors (undecodable or unexpected server messages, failed resumes).
    pub max_errors: Option<u64>,
    /// Highest input round-trip p99, ms.
    pub rtt_p99_ms: Option<f64>,
    /// Fewest snapshots per client per second over the window.
    pub min_snapshot_rate: Option<f64>,
    /// Most resumes that failed.
    pub max_resume_failures: Option<u64>,
    /// Highest resume p99 (cut to first snapshot), ms.
    pub resume_p99_ms: Option<f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_join_errors: None,
            max_disconnects: None,
            max_desyncs: Some(0),
            max_errors: None,
            rtt_p99_ms: None,
            min_snapshot_rate: None,
            max_resume_failures: None,
            resume_p99_ms: None,
        }
    }
}

/// One threshold, checked.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// The flag that set it, e.g. `max-desyncs`.
    pub name: String,
    /// The limit, as given.
    pub limit: f64,
    /// What the run measured (`null`: nothing to measure, which fails).
    pub value: Option<f64>,
    /// Within the limit.
    pub pass: bool,
}

impl Check {
    fn at_most(name: &str, limit: f64, value: Option<f64>) -> Check {
        Check {
            name: name.into(),
            limit,
            value,
            pass: value.is_some_and(|v| v <= limit),
        }
    }

    fn at_least(name: &str, limit: f64, value: Option<f64>) -> Check {
        Check {
            name: name.into(),
            limit,
            value,
            pass: value.is_some_and(|v| v >= limit),
        }
    }

    /// `PASS max-desyncs: 0 <= 0` / `FAIL rtt-p99-ms: 48.2 > 40`.
    #[must_use]
    pub fn line(&self) -> String {
        let v = self.value.map_or("none measured".to_owned(), fmt_num);
        let lower = self.name.starts_with("min-");
        let op = match (self.pass, lower) {
            (true, false) => "<=",
            (true, true) => ">=",
            (false, false) => ">",
            (false, true) => "<",
        };
        let op = if self.value.is_none() { "vs" } else { op };
        format!(
            "{} {}: {v} {op} {}",
            if self.pass { "PASS" } else { "FAIL" },
            self.name,
            fmt_num(self.limit)
        )
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Checks `r` against `t`, in the order of the flags.
#[must_use]
pub fn checks(r: &Report, t: &Thresholds) -> Vec<Check> {
    let n = |v: u64| Some(v as f64);
    let resume_failures: u64 = r.resumes.resume_failures.values().sum();
    let mut out = Vec::new();
    let mut most = |name: &str, limit: Option<u64>, v: u64| {
        if let Some(l) = limit {
            out.push(Check::at_most(name, l as f64, n(v)));
        }
    };
    most(
        "max-join-errors",
        t.max_join_errors,
        r.connect_errors + r.matchmake_errors,
    );
    most("max-disconnects", t.max_disconnects, r.disconnects);
    most("max-desyncs", t.max_desyncs, r.desyncs);
    most("max-errors", t.max_errors, r.errors);
    most(
        "max-resume-failures",
        t.max_resume_failures,
        resume_failures,
    );
    if let Some(l) = t.rtt_p99_ms {
        out.push(Check::at_most("rtt-p99-ms", l, r.rtt_ms.p99));
    }
    if let Some(l) = t.resume_p99_ms {
        out.push(Check::at_most("resume-p99-ms", l, r.resumes.resume_ms.p99));
    }
    if let Some(l) = t.min_snapshot_rate {
        let v = (r.client_seconds > 0.0).then_some(r.snapshots_per_client_per_s);
        out.push(Check::at_least("min-snapshot-rate", l, v));
    }
    out
}

/// How a run ended, most serious first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Ran to its end; every threshold passed; the harness kept up.
    Pass,
    /// Ran to its end; a threshold failed.
    Fail,
    /// The harness could not keep up: its figures do not describe the server.
    Invalid,
    /// The server went away (or ended every session) during the run: stopped early.
    ServerGone,
    /// The server could not be reached, or refused every bot: stopped at once.
    Unreachable,
    /// Stopped by a signal (Ctrl-C, SIGTERM): a partial window.
    Interrupted,
}

impl Outcome {
    /// Its word in the table.
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL (a threshold)",
            Outcome::Invalid => "INVALID (the harness could not keep up)",
            Outcome::ServerGone => "STOPPED EARLY",
            Outcome::Unreachable => "COULD NOT RUN",
            Outcome::Interrupted => "INTERRUPTED",
        }
    }

    /// The exit code of `tickwire-bots` (130 for Ctrl-C, 143 for SIGTERM: the CLI's).
    #[must_use]
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Pass => 0,
            Outcome::Fail => 1,
            Outcome::Unreachable => 3,
            Outcome::ServerGone => 4,
            Outcome::Invalid => 5,
            Outcome::Interrupted => 130,
        }
    }
}
