//! A link conditioner: makes a loopback connection behave like a player's link, with added
//! latency, jitter, stalls and a bandwidth cap per bot and per direction.
//!
//! Frames are not dropped or reordered (WebSocket runs over TCP): each frame is released
//! at `max(previous release, wire free + latency ± jitter)`, where the wire is busy for
//! `bytes / bandwidth` per frame. `latency` is the one-way delay, so the round trip grows by
//! twice it; `jitter` J draws each frame's delay uniformly in `[latency - J, latency + J]`
//! (never below 0), so the round trip is `2 x latency ± 2J`. A stall (`stall_every`,
//! `stall`) is what a lost TCP segment looks like: every frame due during it comes out at
//! its end, in order. A capped link holds at most [`LinkConfig::queue_bytes`] waiting: when
//! that is full the bot stops reading its socket, TCP pushes back and the server's
//! skip path for slow clients is reached, as on a congested link. Time is passed in, so
//! the schedule is a pure function of the frames and the seed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tickwire_shared::rng::Rng;

/// Frames a lane holds at most when its link has no bandwidth cap.
pub const MAX_HELD_FRAMES: usize = 256;
/// Seconds of a capped link's bandwidth its queue holds at most (a router's buffer).
pub const QUEUE_SECONDS: f64 = 0.25;
/// Smallest queue of a capped link, bytes.
pub const MIN_QUEUE_BYTES: usize = 4096;

/// The conditions of one bot's link (the same in both directions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkConfig {
    /// One-way delay added to every frame (the round trip grows by twice this).
    pub latency: Duration,
    /// Each frame's delay is drawn uniformly in `latency ± jitter` (clamped at 0).
    pub jitter: Duration,
    /// Bits per second each way; `None` for no cap.
    pub bandwidth_bps: Option<u64>,
    /// A stall this often (`None`: never): frames due during it wait for its end.
    pub stall_every: Option<Duration>,
    /// How long each stall lasts.
    pub stall: Duration,
}

impl LinkConfig {
    /// Whether the link adds nothing (frames go straight through).
    #[must_use]
    pub fn is_transparent(&self) -> bool {
        self.latency.is_zero()
            && self.jitter.is_zero()
            && self.bandwidth_bps.is_none()
            && (self.stall_every.is_none() || self.stall.is_zero())
    }

    /// Bytes a capped link holds waiting at most (`None` without a cap: then
    /// [`MAX_HELD_FRAMES`] frames).
    #[must_use]
    pub fn queue_bytes(&self) -> Option<usize> {
        self.bandwidth_bps
            .map(|bps| ((bps as f64 / 8.0 * QUEUE_SECONDS) as usize).max(MIN_QUEUE_BYTES))
    }
}

/// One direction of a conditioned link: frames waiting for their release time.
#[derive(Debug)]
pub struct Lane<T> {
    config: LinkConfig,
    rng: Rng,
    /// When the first frame entered (stalls are placed from there, with a random phase).
    origin: Option<Instant>,
    /// Offset of the first stall from `origin`, as a fraction of `stall_every`.
    stall_phase: f64,
    /// When the wire finishes sending the frames already queued.
    wire_free: Option<Instant>,
    /// Release time of the newest queued frame (releases never go backwards).
    last_release: Option<Instant>,
    queue: VecDeque<(Instant, usize, T)>,
    queued_bytes: usize,
}

impl<T> Lane<T> {
    /// An empty lane with `config`, jitter and stall phase drawn from `seed`.
    #[must_use]
    pub fn new(config: LinkConfig, seed: u64) -> Lane<T> {
        let mut rng = Rng::new(seed);
        let stall_phase = unit(&mut rng);
        Lane {
            config,
            rng,
            origin: None,
            stall_phase,
            wire_free: None,
            last_release: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
        }
    }

    /// Queues a frame of `len` bytes that entered the link at `now`; returns when it
    /// comes out.
    pub fn push(&mut self, now: Instant, len: usize, frame: T) -> Instant {
        let origin = *self.origin.get_or_insert(now);
        let start = self.wire_free.map_or(now, |f| f.max(now));
        let sent = match self.config.bandwidth_bps {
            Some(bps) if bps > 0 => start + Duration::from_secs_f64(len as f64 * 8.0 / bps as f64),
            _ => start,
        };
        self.wire_free = Some(sent);
        let mut release = if self.config.jitter.is_zero() {
            sent + self.config.latency
        } else {
            // Uniform in [latency - J, latency + J], never before the frame was sent.
            let u = unit(&mut self.rng) * 2.0 - 1.0;
            let delay = self.config.latency.as_secs_f64() + u * self.config.jitter.as_secs_f64();
            sent + Duration::from_secs_f64(delay.max(0.0))
        };
        if let Some(end) = self.stall_end(origin, release) {
            release = end;
        }
        if let Some(last) = self.last_release {
            release = release.max(last);
        }
        self.last_release = Some(release);
        self.queue.push_back((release, len, frame));
        self.queued_bytes += len;
        release
    }

    /// The end of the stall `at` falls in, if any. Stall k covers
    /// `[origin + (k + phase) * every, + stall)`.
    fn stall_end(&self, origin: Instant, at: Instant) -> Option<Instant> {
        let every = self.config.stall_every?.as_secs_f64();
        let stall = self.config.stall.as_secs_f64();
        if every <= 0.0 || stall <= 0.0 {
            return None;
        }
        let t = at.saturating_duration_since(origin).as_secs_f64() - self.stall_phase * every;
        if t < 0.0 {
            return None;
        }
        let into = t % every;
        (into < stall).then(|| at + Duration::from_secs_f64(stall - into))
    }

    /// Release time of the oldest waiting frame.
    #[must_use]
    pub fn next_release(&self) -> Option<Instant> {
        self.queue.front().map(|(t, _, _)| *t)
    }

    /// The oldest frame, if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.queue.front().is_some_and(|(t, _, _)| *t <= now) {
            self.queue.pop_front().map(|(_, len, f)| {
                self.queued_bytes -= len;
                f
            })
        } else {
            None
        }
    }

    /// Whether the lane holds all it may: its reader should stop taking frames in (a
    /// capped link's queue of [`LinkConfig::queue_bytes`], else [`MAX_HELD_FRAMES`]).
    #[must_use]
    pub fn is_full(&self) -> bool {
        match self.config.queue_bytes() {
            Some(max) => self.queued_bytes >= max,
            None => self.queue.len() >= MAX_HELD_FRAMES,
        }
    }

    /// Frames waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no frame waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Uniform in `[0, 1)`.
fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn latency_and_jitter_delay_without_reordering() {
        let cfg = LinkConfig {
            latency: ms(50),
            jitter: ms(30),
            ..LinkConfig::default()
        };
        let mut lane = Lane::new(cfg, 1);
        let t0 = Instant::now();
        let mut last = t0;
        for i in 0..200u64 {
            let now = t0 + ms(i);
            let out = lane.push(now, 100, i);
            assert!(out >= now + ms(20) && out >= last, "frame {i}");
            assert!(out <= now + ms(80) || out == last);
            last = out;
        }
        let mut seen = Vec::new();
        while let Some(f) = lane.pop_due(last) {
            seen.push(f);
        }
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        // Spaced wider than the jitter (no frame waits behind another), frames come out
        // anywhere in latency ± J.
        let mut lane = Lane::new(cfg, 2);
        let (mut early, mut late) = (0, 0);
        for i in 0..200u64 {
            let now = t0 + ms(i * 100);
            let d = lane.push(now, 100, i).duration_since(now);
            assert!(d >= ms(20) && d <= ms(80), "{d:?}");
            early += usize::from(d < ms(40));
            late += usize::from(d > ms(60));
        }
        assert!(
            early > 40 && late > 40,
            "±J around the latency: {early} {late}"
        );
    }

    #[test]
    fn bandwidth_spaces_frames_by_their_size() {
        let cfg = LinkConfig {
            bandwidth_bps: Some(80_000), // 10 kB/s: 1000 bytes take 100 ms
            ..LinkConfig::default()
        };
        let mut lane = Lane::new(cfg, 1);
        let t0 = Instant::now();
        assert_eq!(lane.push(t0, 1000, ()), t0 + ms(100));
        assert_eq!(lane.push(t0, 1000, ()), t0 + ms(200));
        // After an idle gap the wire is free again.
        assert_eq!(lane.push(t0 + ms(500), 500, ()), t0 + ms(550));
        assert!(lane.pop_due(t0 + ms(99)).is_none());
        assert!(lane.pop_due(t0 + ms(100)).is_some());
        assert_eq!(lane.len(), 2);
    }

    #[test]
    fn a_capped_queue_fills_and_empties() {
        let cfg = LinkConfig {
            bandwidth_bps: Some(80_000), // a 4096-byte queue (the minimum)
            ..LinkConfig::default()
        };
        assert_eq!(cfg.queue_bytes(), Some(MIN_QUEUE_BYTES));
        let mut lane = Lane::new(cfg, 1);
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(!lane.is_full());
            lane.push(t0, 1000, ());
        }
        assert!(!lane.is_full(), "4000 bytes of 4096");
        lane.push(t0, 1000, ());
        assert!(lane.is_full());
        assert!(lane.pop_due(t0 + ms(100)).is_some());
        assert!(!lane.is_full());
    }

    #[test]
    fn a_stall_holds_every_frame_due_during_it_until_its_end() {
        let cfg = LinkConfig {
            latency: ms(10),
            stall_every: Some(ms(1000)),
            stall: ms(200),
            ..LinkConfig::default()
        };
        let mut lane = Lane::new(cfg, 3);
        let t0 = Instant::now();
        let mut outs = Vec::new();
        for i in 0..300u64 {
            // A frame every 10 ms for 3 s.
            outs.push((t0 + ms(i * 10), lane.push(t0 + ms(i * 10), 100, ())));
        }
        let held: Vec<Duration> = outs
            .iter()
            .map(|(i, o)| o.duration_since(*i))
            .filter(|d| *d > ms(10))
            .collect();
        // Three stalls of 200 ms in 3 s (the last may be cut by the end): about 20 frames
        // each are held, the longest nearly the whole stall.
        assert!((40..=62).contains(&held.len()), "{}", held.len());
        assert!(held.iter().all(|d| *d <= ms(210)));
        assert!(held.iter().any(|d| *d >= ms(190)));
        assert!(outs.windows(2).all(|w| w[1].1 >= w[0].1), "in order");
    }
}
