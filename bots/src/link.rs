//! A link conditioner: makes a loopback connection behave like a player's link, with added
//! latency, jitter and a bandwidth cap per bot and per direction.
//!
//! Frames are not dropped or reordered (WebSocket runs over TCP): each frame is released
//! at `max(previous release, wire free + latency + jitter)`, where the wire is busy for
//! `bytes / bandwidth` per frame. Time is passed in, so the schedule is a pure function
//! of the frames and the seed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tickwire_shared::rng::Rng;

/// The conditions of one bot's link (the same in both directions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkConfig {
    /// Delay added to every frame, each way (the round trip grows by twice this).
    pub latency: Duration,
    /// A further delay drawn uniformly in `[0, jitter]` for every frame.
    pub jitter: Duration,
    /// Bits per second each way; `None` for no cap.
    pub bandwidth_bps: Option<u64>,
}

impl LinkConfig {
    /// Whether the link adds nothing (frames go straight through).
    #[must_use]
    pub fn is_transparent(&self) -> bool {
        self.latency.is_zero() && self.jitter.is_zero() && self.bandwidth_bps.is_none()
    }
}

/// One direction of a conditioned link: frames waiting for their release time.
#[derive(Debug)]
pub struct Lane<T> {
    config: LinkConfig,
    rng: Rng,
    /// When the wire finishes sending the frames already queued.
    wire_free: Option<Instant>,
    /// Release time of the newest queued frame (releases never go backwards).
    last_release: Option<Instant>,
    queue: VecDeque<(Instant, T)>,
}

impl<T> Lane<T> {
    /// An empty lane with `config`, jitter drawn from `seed`.
    #[must_use]
    pub fn new(config: LinkConfig, seed: u64) -> Lane<T> {
        Lane {
            config,
            rng: Rng::new(seed),
            wire_free: None,
            last_release: None,
            queue: VecDeque::new(),
        }
    }

    /// Queues a frame of `len` bytes that entered the link at `now`; returns when it
    /// comes out.
    pub fn push(&mut self, now: Instant, len: usize, frame: T) -> Instant {
        let start = self.wire_free.map_or(now, |f| f.max(now));
        let sent = match self.config.bandwidth_bps {
            Some(bps) if bps > 0 => start + Duration::from_secs_f64(len as f64 * 8.0 / bps as f64),
            _ => start,
        };
        self.wire_free = Some(sent);
        let jitter = if self.config.jitter.is_zero() {
            Duration::ZERO
        } else {
            let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            self.config.jitter.mul_f64(u)
        };
        let mut release = sent + self.config.latency + jitter;
        if let Some(last) = self.last_release {
            release = release.max(last);
        }
        self.last_release = Some(release);
        self.queue.push_back((release, frame));
        release
    }

    /// Release time of the oldest waiting frame.
    #[must_use]
    pub fn next_release(&self) -> Option<Instant> {
        self.queue.front().map(|(t, _)| *t)
    }

    /// The oldest frame, if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.queue.front().is_some_and(|(t, _)| *t <= now) {
            self.queue.pop_front().map(|(_, f)| f)
        } else {
            None
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
            bandwidth_bps: None,
        };
        let mut lane = Lane::new(cfg, 1);
        let t0 = Instant::now();
        let mut last = t0;
        for i in 0..200u64 {
            let now = t0 + ms(i);
            let out = lane.push(now, 100, i);
            assert!(out >= now + ms(50) && out >= last, "frame {i}");
            assert!(out <= now + ms(80) || out == last);
            last = out;
        }
        let mut seen = Vec::new();
        while let Some(f) = lane.pop_due(last) {
            seen.push(f);
        }
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
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
}
