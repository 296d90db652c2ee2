//! Feel probes (`tickwire-bots --feel`): bots that run the browser's whole client core
//! (`tickwire_client_wasm::game::GameClient`: input timing, prediction, smoothing, the
//! render clock and interpolation) behind the link conditioner, one frame every 1/60 s,
//! and report how the game feels from where a player sits ([`Feel`], the names of the F3
//! overlay): mispredicted ticks, corrections, teleports, underruns and stalls, backward
//! steps, snapshot age, repeated and folded inputs.
//!
//! Each probe plays as its behaviour decides (aim, fire), except that with `crowd` it walks
//! into the nearest living enemy instead of keeping its distance: a brawl, where players
//! push each other all the time (the hardest case for prediction). Each probe joins
//! (quick play), plays `warmup`, then its figures are taken over `duration`. Bounded: at most [`MAX_PROBES`] probes, every wait has a timeout.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use tickwire_client_wasm::game::GameClient;
use tickwire_shared::protocol::{codec, ServerMsg};
use tickwire_shared::replica::feel::Feel;
use tickwire_shared::rng::Rng;
use tickwire_shared::Controls;

use crate::brain::{decide, Behavior, Brain, Sight};
use crate::connection::{BotConnection, DecodeMode};
use crate::link::{Lane, LinkConfig};

/// Most feel probes one run starts (each decodes everything and runs a client at 60 fps).
pub const MAX_PROBES: usize = 64;
/// Frames per second each probe draws.
pub const FPS: f64 = 60.0;
/// Longest wait for a join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A feel run.
#[derive(Clone, Debug)]
pub struct FeelConfig {
    /// Server WebSocket URL (loopback).
    pub url: String,
    /// Probes.
    pub count: usize,
    /// Played before the figures are taken.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// What they do.
    pub behavior: Behavior,
    /// Their link.
    pub link: LinkConfig,
    /// Seed of brains and links.
    pub seed: u64,
    /// Walk into the nearest living enemy (a brawl) rather than as the behaviour says.
    pub crowd: bool,
}

/// What a feel run measured.
#[derive(Clone, Debug, Default)]
pub struct FeelReport {
    /// Probes that joined.
    pub joined: usize,
    /// Probes whose session failed (server message did not apply, socket error).
    pub failed: usize,
    /// First failure, if any.
    pub failure: Option<String>,
    /// Every probe's figures over the window, merged.
    pub feel: Feel,
    /// Window, seconds.
    pub window_s: f64,
}

impl FeelReport {
    /// The figures as JSON (the names of [`Feel`]).
    #[must_use]
    pub fn to_json(&self, config: &FeelConfig) -> Value {
        let f = &self.feel;
        let r2 = |v: f64| (v * 100.0).round() / 100.0;
        json!({
            "probes": config.count,
            "joined": self.joined,
            "failed": self.failed,
            "failure": self.failure,
            "behavior": format!("{:?}", config.behavior).to_lowercase(),
            "latency_ms": config.link.latency.as_millis() as u64,
            "jitter_ms": config.link.jitter.as_millis() as u64,
            "stall_every_s": config.link.stall_every.map(|d| d.as_secs_f64()),
            "stall_ms": config.link.stall.as_millis() as u64,
            "crowd": config.crowd,
            "window_s": r2(self.window_s),
            "living_ticks": f.living_ticks,
            "mispredicted_ticks": f.mispredicted_ticks,
            "mispredicted_pct": r2(f.mispredicted_pct()),
            "correction_p50": r2(f64::from(f.correction.quantile(0.5))),
            "correction_p99": r2(f64::from(f.correction.quantile(0.99))),
            "correction_max": r2(f64::from(f.correction.max())),
            "teleports": f.teleports,
            "visible_jump_p99": r2(f64::from(f.visible_jump.quantile(0.99))),
            "visible_jump_max": r2(f64::from(f.visible_jump.max())),
            "frames": f.frames,
            "underrun_pct": r2(f.underrun_pct()),
            "stall_pct": r2(f.stall_pct()),
            "backward_steps": f.backward_steps,
            "snapshot_age_p50_ms": r2(f64::from(f.snapshot_age_ms.quantile(0.5))),
            "snapshot_age_p99_ms": r2(f64::from(f.snapshot_age_ms.quantile(0.99))),
            "repeated_inputs": f.repeated_inputs,
            "folded_inputs": f.folded_inputs,
        })
    }

    /// The report as lines for a terminal.
    #[must_use]
    pub fn table(&self, config: &FeelConfig) -> String {
        let mut out = format!(
            "feel: {} probes joined ({} failed), {:?}, link {} ms ± {} ms each way{}, window {:.1} s\n",
            self.joined,
            self.failed,
            config.behavior,
            config.link.latency.as_millis(),
            config.link.jitter.as_millis(),
            config.link.stall_every.map_or(String::new(), |e| format!(
                ", a {} ms stall every {:.1} s",
                config.link.stall.as_millis(),
                e.as_secs_f64()
            )),
            self.window_s
        );
        for l in self.feel.lines() {
            out.push_str("  ");
            out.push_str(&l);
            out.push('\n');
        }
        if let Some(f) = &self.failure {
            out.push_str(&format!("  first failure: {f}\n"));
        }
        out
    }
}

/// Runs the probes; returns their merged figures.
///
/// # Errors
/// A configuration out of range.
pub async fn run(config: FeelConfig) -> Result<FeelReport, String> {
    if config.count == 0 || config.count > MAX_PROBES {
        return Err(format!("--count must be 1..={MAX_PROBES} with --feel"));
    }
    let stop = CancellationToken::new();
    let shared = Arc::new(Mutex::new(FeelReport::default()));
    let start = Instant::now();
    let window_start = start + config.warmup;
    let window_end = window_start + config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..config.count {
        let (config, shared, stop) = (config.clone(), shared.clone(), stop.clone());
        tasks.spawn(async move {
            let r = probe(i, &config, window_start, window_end, &stop).await;
            let mut s = shared.lock();
            match r {
                Ok(feel) => {
                    s.joined += 1;
                    s.feel.merge(&feel);
                }
                Err((joined, why)) => {
                    s.joined += usize::from(joined);
                    s.failed += 1;
                    s.failure.get_or_insert(format!("probe {i}: {why}"));
                }
            }
        });
    }
    // Bounded: every probe ends at the window's end (or its join timeout).
    let limit = window_end + JOIN_TIMEOUT + Duration::from_secs(5);
    while tokio::time::timeout_at(limit, tasks.join_next())
        .await
        .ok()
        .flatten()
        .is_some()
    {}
    stop.cancel();
    tasks.abort_all();
    let mut report = std::mem::take(&mut *shared.lock());
    report.window_s = config.duration.as_secs_f64();
    Ok(report)
}

/// One probe: joins, plays until `window_end`; its figures over the window, or whether it
/// had joined and why it failed.
async fn probe(
    index: usize,
    config: &FeelConfig,
    window_start: Instant,
    window_end: Instant,
    stop: &CancellationToken,
) -> Result<Feel, (bool, String)> {
    let name = format!("feel-{index}");
    let mut conn = tokio::time::timeout(
        JOIN_TIMEOUT,
        BotConnection::connect(&config.url, &name, DecodeMode::Full),
    )
    .await
    .map_err(|_| (false, "join timed out".to_owned()))?
    .map_err(|e| (false, format!("join failed: {e}")))?;
    let origin = Instant::now();
    let now_ms = || origin.elapsed().as_secs_f64() * 1000.0;
    let mut client = GameClient::new(&name);
    let _join = client.on_open(); // Joined already, by the connection.
    let welcome = codec::encode_server(&ServerMsg::Welcome(conn.welcome.clone()));
    client
        .on_message(&welcome, now_ms())
        .map_err(|e| (true, e))?;
    let tick_hz = conn.welcome.config.tick_hz.max(1);
    let seed = config.seed.wrapping_mul(1000).wrapping_add(index as u64);
    let mut rng = Rng::new(seed ^ 0xfee1);
    let mut brain = Brain::new(config.behavior, seed, tick_hz);
    let mut up: Lane<Vec<u8>> = Lane::new(config.link, rng.next_u64());
    let mut down: Lane<bytes::Bytes> = Lane::new(config.link, rng.next_u64());
    let mut frames = tokio::time::interval(Duration::from_secs_f64(1.0 / FPS));
    frames.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let decide_every = 1000.0 / f64::from(tick_hz);
    let mut next_decide = 0.0;
    let mut controls = Controls::default();
    let mut in_window = false;
    let never = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    loop {
        let (up_at, down_at) = (up.next_release(), down.next_release());
        tokio::select! {
            biased;
            () = stop.cancelled() => return Err((true, "stopped".into())),
            () = tokio::time::sleep_until(window_end) => break,
            () = tokio::time::sleep_until(up_at.map_or(never, Instant::from_std)), if up_at.is_some() => {
                while let Some(frame) = up.pop_due(std::time::Instant::now()) {
                    conn.send_frame(frame).await.map_err(|e| (true, e.to_string()))?;
                }
            }
            () = tokio::time::sleep_until(down_at.map_or(never, Instant::from_std)), if down_at.is_some() => {
                while let Some(frame) = down.pop_due(std::time::Instant::now()) {
                    client.on_message(&frame, now_ms()).map_err(|e| (true, e))?;
                }
            }
            _ = frames.tick() => {
                let now = now_ms();
                if !in_window && Instant::now() >= window_start {
                    in_window = true;
                    client.reset_feel();
                }
                if now >= next_decide {
                    let me = conn.welcome.player;
                    let sight = Sight {
                        me,
                        state: client.replica().entities(),
                        map: &conn.welcome.map,
                    };
                    controls = decide(&mut brain, Some(&sight));
                    if config.crowd {
                        brawl(&mut controls, me, client.predicted(), client.replica().entities());
                    }
                    next_decide = now + decide_every;
                }
                for msg in client.update(now, &controls) {
                    up.push(std::time::Instant::now(), msg.len(), msg);
                }
            }
            frame = conn.recv_frame(), if !down.is_full() => {
                let frame = frame.map_err(|e| (true, e.to_string()))?;
                down.push(std::time::Instant::now(), frame.len(), frame);
            }
        }
    }
    let feel = client.feel().clone();
    let _ = tokio::time::timeout(Duration::from_secs(3), conn.close()).await;
    Ok(feel)
}

/// A brawl: walk straight at the nearest living enemy (pushing into it), aiming at it.
fn brawl(
    c: &mut Controls,
    me: tickwire_shared::NetId,
    at: Option<glam::Vec2>,
    state: &[(tickwire_shared::NetId, tickwire_shared::NetEntity)],
) {
    let Some(at) = at else { return };
    let nearest = state
        .iter()
        .filter_map(|(id, e)| match e {
            tickwire_shared::NetEntity::Player(p) if *id != me && p.respawn_at.is_none() => {
                Some(p.pos.to_vec2())
            }
            _ => None,
        })
        .min_by(|a, b| a.distance_squared(at).total_cmp(&b.distance_squared(at)));
    if let Some(target) = nearest {
        let d = (target - at).normalize_or_zero();
        c.move_x = d.x;
        c.move_y = d.y;
        c.aim = d.y.atan2(d.x);
    }
}
