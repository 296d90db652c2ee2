//! Scenario files (`--scenario file.toml`): stages of target bot counts over time, groups
//! of bots (a share of the swarm each, with its behaviour and link), thresholds and other
//! settings. Flags given on the command line override the file (the CLI merges them).
//!
//! ```toml
//! name = "smoke"
//!
//! [[stages]]            # k6-style: from the previous stage's target (0 at first) to `bots`
//! name = "ramp up"
//! duration = 2          # seconds
//! bots = 8
//!
//! [[stages]]
//! name = "spike"
//! duration = 3
//! bots = 16
//! shape = "step"        # jump at the stage's start, then hold (default "linear")
//!
//! [[groups]]            # shares of the swarm, assigned through the join order
//! share = 70
//! behavior = "wander"
//!
//! [[groups]]
//! share = 30
//! behavior = "chase"
//! latency-ms = 50
//! jitter-ms = 10
//!
//! [thresholds]
//! max-join-errors = 0
//! rtt-p99-ms = 100
//! ```

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::brain::Behavior;
use crate::link::LinkConfig;

/// Longest stage, seconds.
const MAX_STAGE_S: f64 = 3600.0;
/// Most added latency or jitter, ms (as the flags).
const MAX_LINK_MS: u64 = 10_000;

/// A scenario file, as written (every key optional but `stages` when there are no
/// `count`/`duration`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScenarioFile {
    /// Shown as the report's title.
    pub name: Option<String>,
    /// Server WebSocket URL.
    pub url: Option<String>,
    /// Seed of the bots' decisions.
    pub seed: Option<u64>,
    /// Bots decoding every snapshot (see `--probes`).
    pub probes: Option<usize>,
    /// Runtime threads.
    pub threads: Option<u64>,
    /// Without stages: bots started.
    pub count: Option<usize>,
    /// Without stages: seconds measured.
    pub duration: Option<f64>,
    /// Without stages: bots started per second.
    pub ramp: Option<f64>,
    /// Without stages: seconds between the ramp and the window.
    pub warmup: Option<f64>,
    /// Planned TCP drops about this often per bot, seconds.
    pub drop_every: Option<f64>,
    /// Planned page reloads about this often per bot, seconds.
    pub reload_every: Option<f64>,
    /// Target bot counts over time.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Shares of the swarm with their behaviour and link.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Limits checked at the end (the flags of the same names).
    #[serde(default)]
    pub thresholds: FileThresholds,
}

/// How a stage moves from the previous target to its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Evenly over the stage (a ramp; equal targets: a hold).
    #[default]
    Linear,
    /// At once at the stage's start, then held (a spike).
    Step,
}

/// One stage: reach `bots` over `duration` seconds.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Stage {
    /// Its name in the report (default "stage N").
    #[serde(default)]
    pub name: String,
    /// Seconds (> 0, at most 3600).
    pub duration: f64,
    /// Bots connected at the end of the stage.
    pub bots: usize,
    /// Linear (a ramp or a hold) or a step (a spike).
    #[serde(default)]
    pub shape: Shape,
}

/// A share of the swarm.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Group {
    /// Its name in the report (default: its behaviour).
    #[serde(default)]
    pub name: String,
    /// Its weight (the shares need not add up to 100).
    pub share: f64,
    /// What its bots do (default: `--behavior`'s default, wander).
    pub behavior: Option<Behavior>,
    /// Link conditioner: added one-way latency, ms.
    #[serde(default)]
    pub latency_ms: u64,
    /// Link conditioner: each frame's delay is latency ± this, ms.
    #[serde(default)]
    pub jitter_ms: u64,
    /// Link conditioner: bandwidth cap each way, kbit/s.
    pub bandwidth_kbps: Option<u64>,
}

/// Thresholds in a file (named as the flags).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(missing_docs)]
pub struct FileThresholds {
    pub max_join_errors: Option<u64>,
    pub max_disconnects: Option<u64>,
    pub max_desyncs: Option<u64>,
    pub max_errors: Option<u64>,
    pub rtt_p99_ms: Option<f64>,
    pub min_snapshot_rate: Option<f64>,
    pub max_resume_failures: Option<u64>,
    pub resume_p99_ms: Option<f64>,
}

/// Why a scenario file is refused.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    /// Not TOML of this shape (the message names the key and line).
    #[error("{0}: {1}")]
    Parse(String, String),
    /// A value out of range.
    #[error("{0}: {1}")]
    Invalid(String, String),
}

impl ScenarioFile {
    /// Reads and checks `path`.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the file, and the key or the rule broken.
    pub fn load(path: &Path) -> Result<ScenarioFile, ScenarioError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| ScenarioError::Read(shown.clone(), e))?;
        let file: ScenarioFile = toml::from_str(&text)
            .map_err(|e| ScenarioError::Parse(shown.clone(), e.to_string()))?;
        file.check()
            .map_err(|why| ScenarioError::Invalid(shown, why))?;
        Ok(file)
    }

    fn check(&self) -> Result<(), String> {
        for (i, s) in self.stages.iter().enumerate() {
            if !(s.duration.is_finite() && s.duration > 0.0 && s.duration <= MAX_STAGE_S) {
                return Err(format!(
                    "stage {}: duration must be > 0 and at most {MAX_STAGE_S} s",
                    i + 1
                ));
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            if !(g.share.is_finite() && g.share > 0.0) {
                return Err(format!("group {}: share must be > 0", i + 1));
            }
            if g.latency_ms > MAX_LINK_MS || g.jitter_ms > MAX_LINK_MS {
                return Err(format!(
                    "group {}: latency-ms and jitter-ms are 0..={MAX_LINK_MS}",
                    i + 1
                ));
            }
            if g.bandwidth_kbps
                .is_some_and(|k| !(8..=10_000_000).contains(&k))
            {
                return Err(format!("group {}: bandwidth-kbps is 8..=10000000", i + 1));
            }
        }
        Ok(())
    }
}

/// Stages of a run, with their names filled in.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stages(pub Vec<Stage>);

impl Stages {
    /// Names the unnamed stages.
    #[must_use]
    pub fn new(mut stages: Vec<Stage>) -> Stages {
        for (i, s) in stages.iter_mut().enumerate() {
            if s.name.is_empty() {
                s.name = format!("stage {}", i + 1);
            }
        }
        Stages(stages)
    }

    /// Every stage's length together.
    #[must_use]
    pub fn total(&self) -> Duration {
        Duration::from_secs_f64(self.0.iter().map(|s| s.duration).sum())
    }

    /// Most bots at once.
    #[must_use]
    pub fn peak(&self) -> usize {
        self.0.iter().map(|s| s.bots).max().unwrap_or(0)
    }

    /// Bots started over the whole run: every rise of the target (bots stopped when the
    /// target falls are not started again; new ones are).
    #[must_use]
    pub fn starts(&self) -> usize {
        let mut from = 0;
        let mut n = 0;
        for s in &self.0 {
            n += s.bots.saturating_sub(from);
            from = s.bots;
        }
        n
    }

    /// The stage at `t` seconds from the start and the target bot count then (`None` after
    /// the last stage).
    #[must_use]
    pub fn at(&self, t: f64) -> Option<(&Stage, usize)> {
        let (mut start, mut from) = (0.0, 0usize);
        for s in &self.0 {
            if t < start + s.duration {
                let target = match s.shape {
                    Shape::Step => s.bots,
                    Shape::Linear => {
                        let f = ((t - start) / s.duration).clamp(0.0, 1.0);
                        (from as f64 + (s.bots as f64 - from as f64) * f).round() as usize
                    }
                };
                return Some((s, target));
            }
            start += s.duration;
            from = s.bots;
        }
        None
    }

    /// When each stage starts, seconds from the start of the run.
    #[must_use]
    pub fn starts_at(&self) -> Vec<(f64, &str)> {
        let mut t = 0.0;
        self.0
            .iter()
            .map(|s| {
                let at = t;
                t += s.duration;
                (at, s.name.as_str())
            })
            .collect()
    }
}

/// What one group's bots are: behaviour and link.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    /// Its name in the report.
    pub name: String,
    /// Its weight.
    pub share: f64,
    /// What its bots do.
    pub behavior: Behavior,
    /// Their link.
    #[serde(skip)]
    pub link: LinkConfig,
    /// Link conditioner: added one-way latency, ms.
    pub latency_ms: u64,
    /// Link conditioner: each frame's delay is latency ± this, ms.
    pub jitter_ms: u64,
    /// Link conditioner: bandwidth cap each way, kbit/s.
    pub bandwidth_kbps: Option<u64>,
}

impl Profile {
    /// A group of `share` with `behavior` and `link`.
    #[must_use]
    pub fn new(name: &str, share: f64, behavior: Behavior, link: LinkConfig) -> Profile {
        Profile {
            name: if name.is_empty() {
                format!("{behavior:?}").to_lowercase()
            } else {
                name.to_owned()
            },
            share,
            behavior,
            link,
            latency_ms: link.latency.as_millis() as u64,
            jitter_ms: link.jitter.as_millis() as u64,
            bandwidth_kbps: link.bandwidth_bps.map(|b| b / 1000),
        }
    }
}

/// The group of each of `n` bots in join order: each bot goes to the group furthest below
/// its share so far, so that every prefix of the join order (the bots connected while a
/// ramp climbs) holds the mix within one bot per group.
#[must_use]
pub fn assign(profiles: &[Profile], n: usize) -> Vec<usize> {
    let total: f64 = profiles.iter().map(|p| p.share).sum();
    let mut given = vec![0usize; profiles.len()];
    (0..n)
        .map(|i| {
            let behind = |g: usize| profiles[g].share / total * (i + 1) as f64 - given[g] as f64;
            let g = (0..profiles.len())
                .max_by(|a, b| behind(*a).total_cmp(&behind(*b)).then(b.cmp(a)))
                .unwrap_or(0);
            given[g] += 1;
            g
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(duration: f64, bots: usize, shape: Shape) -> Stage {
        Stage {
            name: String::new(),
            duration,
            bots,
            shape,
        }
    }

    #[test]
    fn targets_follow_the_stages() {
        let s = Stages::new(vec![
            stage(2.0, 8, Shape::Linear),
            stage(2.0, 8, Shape::Linear),
            stage(1.0, 20, Shape::Step),
            stage(2.0, 0, Shape::Linear),
        ]);
        assert_eq!(s.at(0.0).map(|x| x.1), Some(0));
        assert_eq!(s.at(1.0).map(|x| x.1), Some(4));
        assert_eq!(s.at(3.0).map(|x| x.1), Some(8));
        assert_eq!(s.at(4.0).map(|x| x.1), Some(20));
        assert_eq!(s.at(6.0).map(|x| x.1), Some(10));
        assert_eq!(s.at(7.0), None);
        assert_eq!(s.at(3.0).map(|x| x.0.name.as_str()), Some("stage 2"));
        assert_eq!((s.peak(), s.starts()), (20, 20));
        assert_eq!(s.total(), Duration::from_secs(7));
    }

    #[test]
    fn the_mix_holds_in_every_prefix() {
        let p = |share| Profile::new("", share, Behavior::Idle, LinkConfig::default());
        let g = assign(&[p(70.0), p(20.0), p(10.0)], 100);
        for n in 1..=100 {
            for (k, share) in [0.7, 0.2, 0.1].into_iter().enumerate() {
                let have = g[..n].iter().filter(|x| **x == k).count() as f64;
                assert!((have - share * n as f64).abs() <= 1.0, "{n} {k} {have}");
            }
        }
    }

    #[test]
    fn the_shipped_scenarios_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for f in ["smoke.toml", "soak.toml"] {
            let s = ScenarioFile::load(&dir.join(f)).unwrap_or_else(|e| panic!("{e}"));
            assert!(!s.stages.is_empty() && !s.groups.is_empty(), "{f}");
        }
        let bad: Result<ScenarioFile, _> = toml::from_str("[[stages]]\nduration = 1\nbot = 3\n");
        assert!(bad.is_err());
    }
}
