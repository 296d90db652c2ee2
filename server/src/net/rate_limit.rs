//! A token bucket: how many messages a client may send, on average and in a burst.

use std::time::Instant;

/// Refills `rate` tokens per second up to `burst`; each message takes one.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes a token at time `now`; `false` when the bucket is empty.
    pub fn take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 5.0);
        assert_eq!((0..10).filter(|_| b.take_at(t0)).count(), 5);
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..10).filter(|_| b.take_at(t1)).count(), 5);
    }
}
