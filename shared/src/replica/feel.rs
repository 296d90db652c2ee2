//! How the netcode feels, measured where the player sits: the figures the browser's F3
//! overlay shows and the probe bots report (`tickwire-bots`, `cargo xtask bench feel`),
//! under the same names.
//!
//! - `living_ticks`, `mispredicted_ticks`: snapshots reconciled while the own player was
//!   alive before and after, and those whose state differed from the prediction;
//! - `correction` p50/p99/max: how far (units) a misprediction moved the prediction, before
//!   smoothing; `teleports`: respawns and corrections too large to smooth, snapped and
//!   counted apart (not in `correction`);
//! - `visible_jump` max: the largest move of the drawn own player in one frame that its
//!   inputs did not make (what smoothing lets through);
//! - `frames`, `underruns` (frames drawn past the newest state, extrapolated), `stalls`
//!   (frames past the extrapolation bound: others held still), `backward_steps` (frames
//!   whose render time was before the previous one's);
//! - `snapshot_age` p50/p99: how far behind the server's present (its estimate) the others
//!   are drawn, ms;
//! - `repeated_inputs` (ticks the server ran with no input of ours: it repeated the last
//!   one) and `folded_inputs` (inputs merged into another), as the snapshots' acknowledged
//!   sequence numbers show them.

/// Samples kept at most per distribution (then every other one is dropped, so the kept
/// ones stay spread over the whole run).
const MAX_SAMPLES: usize = 1 << 15;

/// A bounded set of samples for percentiles.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: Vec<f32>,
    /// Keep one sample in `stride`.
    stride: u32,
    seen: u32,
    max: f32,
    count: u64,
}

impl Samples {
    /// Adds a sample.
    pub fn add(&mut self, v: f32) {
        self.count += 1;
        self.max = self.max.max(v);
        self.stride = self.stride.max(1);
        self.seen += 1;
        if self.seen < self.stride {
            return;
        }
        self.seen = 0;
        self.values.push(v);
        if self.values.len() >= MAX_SAMPLES {
            let mut i = 0;
            self.values.retain(|_| {
                i += 1;
                i % 2 == 0
            });
            self.stride *= 2;
        }
    }

    /// Adds every sample of `other` (kept ones; its count and max exactly).
    pub fn merge(&mut self, other: &Samples) {
        for v in &other.values {
            self.add(*v);
        }
        self.count += other.count.saturating_sub(other.values.len() as u64);
        self.max = self.max.max(other.max);
    }

    /// The `q` quantile (0..=1) of the kept samples; 0 when there are none.
    #[must_use]
    pub fn quantile(&self, q: f64) -> f32 {
        if self.values.is_empty() {
            return 0.0;
        }
        let mut v = self.values.clone();
        v.sort_by(f32::total_cmp);
        let i = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        v[i]
    }

    /// The largest sample.
    #[must_use]
    pub fn max(&self) -> f32 {
        self.max
    }

    /// Samples added.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// The feel figures of one client (or of several, merged).
#[derive(Debug, Clone, Default)]
pub struct Feel {
    /// Snapshots reconciled with the own player alive before and after.
    pub living_ticks: u64,
    /// Of those, the ones that disagreed with the prediction.
    pub mispredicted_ticks: u64,
    /// Correction sizes (units, before smoothing) of the mispredicted ticks.
    pub correction: Samples,
    /// Respawns and corrections too large to smooth: snapped.
    pub teleports: u64,
    /// Per-frame moves of the drawn own player not made by its inputs (units), frames
    /// with one only.
    pub visible_jump: Samples,
    /// Frames drawn.
    pub frames: u64,
    /// Frames drawn past the newest state (extrapolated).
    pub underruns: u64,
    /// Frames past the extrapolation bound (others held still).
    pub stalls: u64,
    /// Frames whose render time was before the previous frame's.
    pub backward_steps: u64,
    /// How far behind the server's present the others were drawn, ms, per frame.
    pub snapshot_age_ms: Samples,
    /// Ticks the server ran without an input of ours (it repeated the last one).
    pub repeated_inputs: u64,
    /// Inputs the server folded into another.
    pub folded_inputs: u64,
}

impl Feel {
    /// Mispredicted ticks, % of living ticks.
    #[must_use]
    pub fn mispredicted_pct(&self) -> f64 {
        pct(self.mispredicted_ticks, self.living_ticks)
    }

    /// Underrun frames, % of frames.
    #[must_use]
    pub fn underrun_pct(&self) -> f64 {
        pct(self.underruns, self.frames)
    }

    /// Stalled frames, % of frames.
    #[must_use]
    pub fn stall_pct(&self) -> f64 {
        pct(self.stalls, self.frames)
    }

    /// Adds another client's figures.
    pub fn merge(&mut self, o: &Feel) {
        self.living_ticks += o.living_ticks;
        self.mispredicted_ticks += o.mispredicted_ticks;
        self.correction.merge(&o.correction);
        self.teleports += o.teleports;
        self.visible_jump.merge(&o.visible_jump);
        self.frames += o.frames;
        self.underruns += o.underruns;
        self.stalls += o.stalls;
        self.backward_steps += o.backward_steps;
        self.snapshot_age_ms.merge(&o.snapshot_age_ms);
        self.repeated_inputs += o.repeated_inputs;
        self.folded_inputs += o.folded_inputs;
    }

    /// The figures as the overlay and the reports name them, one `name value` line each.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!(
                "mispredicted_ticks {} of {} living ({:.2} %)",
                self.mispredicted_ticks,
                self.living_ticks,
                self.mispredicted_pct()
            ),
            format!(
                "correction p50 {:.2} p99 {:.2} max {:.2} u",
                self.correction.quantile(0.5),
                self.correction.quantile(0.99),
                self.correction.max()
            ),
            format!(
                "teleports {}  visible_jump max {:.2} u",
                self.teleports,
                self.visible_jump.max()
            ),
            format!(
                "underruns {:.2} %  stalls {:.2} %  backward_steps {}",
                self.underrun_pct(),
                self.stall_pct(),
                self.backward_steps
            ),
            format!(
                "snapshot_age p50 {:.0} p99 {:.0} ms",
                self.snapshot_age_ms.quantile(0.5),
                self.snapshot_age_ms.quantile(0.99)
            ),
            format!(
                "repeated_inputs {}  folded_inputs {}",
                self.repeated_inputs, self.folded_inputs
            ),
        ]
    }
}

fn pct(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 * 100.0 / of as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_stay_bounded_and_keep_their_quantiles() {
        let mut s = Samples::default();
        for i in 0..200_000u32 {
            s.add((i % 1000) as f32);
        }
        assert!(s.values.len() < MAX_SAMPLES);
        assert_eq!(s.count(), 200_000);
        assert_eq!(s.max(), 999.0);
        let p50 = s.quantile(0.5);
        assert!((450.0..550.0).contains(&p50), "{p50}");
        let mut m = Samples::default();
        m.merge(&s);
        m.merge(&s);
        assert_eq!(m.count(), 400_000);
        assert_eq!(m.max(), 999.0);
    }

    #[test]
    fn percentages_of_nothing_are_zero() {
        let f = Feel::default();
        assert_eq!(f.mispredicted_pct(), 0.0);
        assert_eq!(f.lines().len(), 6);
    }
}
