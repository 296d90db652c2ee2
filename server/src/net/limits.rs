//! Connection admission: a cap on open connections (kept below the descriptor limit), a cap
//! per client address, and a few spare slots to refuse politely with 1013 or 503 when full.
//!
//! Counting happens under one short lock, taken at accept and when a connection ends; the
//! guards release their slot in `Drop` (which cannot panic: the lock does not poison).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

/// Descriptors kept free for everything that is not a client connection (the listener,
/// the runtime, static files being read, logs).
pub const RESERVED_FDS: u64 = 32;
/// Connections beyond the cap that are still answered (1013 / 503) rather than closed at
/// once; above this, new connections are dropped unread.
pub const REFUSAL_SLOTS: usize = 16;

/// The soft `RLIMIT_NOFILE` of this process, from `/proc/self/limits` (`None` when it
/// cannot be read, e.g. not on Linux, or when unlimited).
#[must_use]
pub fn descriptor_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_nofile(&text)
}

fn parse_nofile(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The connection cap in force: `configured`, lowered so that connections, refusal slots
/// and [`RESERVED_FDS`] fit under the descriptor limit `nofile`.
#[must_use]
pub fn effective_max_connections(configured: usize, nofile: Option<u64>) -> usize {
    let Some(nofile) = nofile else {
        return configured;
    };
    let room = nofile.saturating_sub(RESERVED_FDS + REFUSAL_SLOTS as u64);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    configured.min(room).max(1)
}

/// Connection counters shared by the accept loop and the connection tasks.
#[derive(Debug)]
pub struct ConnLimits {
    max_total: usize,
    max_per_ip: usize,
    count_loopback: bool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    open: usize,
    refusing: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// What to do with a freshly accepted connection.
#[derive(Debug)]
pub enum Admission {
    /// Serve it; the slot is released when dropped.
    Admitted(ConnSlot),
    /// Over the cap: answer with a refusal (1013 / 503), then close.
    Refuse(RefusalSlot),
    /// Far over the cap: close at once without reading.
    Drop,
}

/// Where a connection that is read stands under the caps (an [`Admission`] but `Drop`).
#[derive(Debug)]
pub enum Capacity {
    /// Within the caps.
    Within(ConnSlot),
    /// Over the total cap: answer with a refusal.
    Over(RefusalSlot),
}

impl ConnLimits {
    /// At most `max_total` connections, `max_per_ip` per client address (0: no limit;
    /// loopback addresses are counted only when `count_loopback`).
    #[must_use]
    pub fn new(max_total: usize, max_per_ip: usize, count_loopback: bool) -> Arc<ConnLimits> {
        Arc::new(ConnLimits {
            max_total,
            max_per_ip,
            count_loopback,
            state: Mutex::new(State::default()),
        })
    }

    /// The connection cap in force.
    #[must_use]
    pub fn max_total(&self) -> usize {
        self.max_total
    }

    /// Connections holding a slot now.
    #[must_use]
    pub fn open(&self) -> usize {
        self.state.lock().open
    }

    /// Decides about a connection just accepted.
    #[must_use]
    pub fn admit(self: &Arc<Self>) -> Admission {
        let mut s = self.state.lock();
        if s.open < self.max_total {
            s.open += 1;
            Admission::Admitted(ConnSlot {
                limits: self.clone(),
                ip: None,
            })
        } else if s.refusing < REFUSAL_SLOTS {
            s.refusing += 1;
            Admission::Refuse(RefusalSlot {
                limits: self.clone(),
            })
        } else {
            Admission::Drop
        }
    }
}

/// An admitted connection's place under the caps.
#[derive(Debug)]
pub struct ConnSlot {
    limits: Arc<ConnLimits>,
    ip: Option<IpAddr>,
}

impl ConnSlot {
    /// Counts the connection against its client address; `false` (and not counted) when
    /// that address already has its maximum. Called once, when the address is known.
    pub fn claim_ip(&mut self, ip: IpAddr) -> bool {
        if self.ip.is_some() || (ip.is_loopback() && !self.limits.count_loopback) {
            return true;
        }
        let mut s = self.limits.state.lock();
        let n = s.per_ip.entry(ip).or_insert(0);
        if self.limits.max_per_ip != 0 && *n >= self.limits.max_per_ip {
            if *n == 0 {
                s.per_ip.remove(&ip);
            }
            return false;
        }
        *n += 1;
        self.ip = Some(ip);
        true
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut s = self.limits.state.lock();
        s.open = s.open.saturating_sub(1);
        if let Some(ip) = self.ip {
            if let Some(n) = s.per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    s.per_ip.remove(&ip);
                }
            }
        }
    }
}

/// A connection being refused, counted so that refusals stay cheap and bounded.
#[derive(Debug)]
pub struct RefusalSlot {
    limits: Arc<ConnLimits>,
}

impl Drop for RefusalSlot {
    fn drop(&mut self) {
        let mut s = self.limits.state.lock();
        s.refusing = s.refusing.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_descriptor_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max open files            1024                 4096                 files     \n";
        assert_eq!(parse_nofile(text), Some(1024));
        assert_eq!(
            parse_nofile("Max open files unlimited unlimited files"),
            None
        );
        assert_eq!(effective_max_connections(10_000, Some(1024)), 1024 - 48);
        assert_eq!(effective_max_connections(100, Some(1 << 20)), 100);
        assert_eq!(effective_max_connections(100, Some(10)), 1);
        assert_eq!(effective_max_connections(100, None), 100);
    }

    #[test]
    fn caps_total_and_per_ip_and_releases_on_drop() {
        let limits = ConnLimits::new(2, 1, true);
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let Admission::Admitted(mut a) = limits.admit() else {
            panic!("first is admitted")
        };
        assert!(a.claim_ip(ip));
        let Admission::Admitted(mut b) = limits.admit() else {
            panic!("second is admitted")
        };
        assert!(!b.claim_ip(ip), "one per address");
        assert!(b.claim_ip("127.0.0.3".parse().unwrap()));
        let refusals: Vec<Admission> = (0..REFUSAL_SLOTS + 1).map(|_| limits.admit()).collect();
        assert!(matches!(refusals[0], Admission::Refuse(_)));
        assert!(matches!(refusals[REFUSAL_SLOTS], Admission::Drop));
        drop(refusals);
        drop(a);
        assert_eq!(limits.open(), 1);
        let Admission::Admitted(mut c) = limits.admit() else {
            panic!("a slot was freed")
        };
        assert!(c.claim_ip(ip), "the address's slot was freed");
        drop((b, c));
        assert_eq!(limits.open(), 0);
        assert!(limits.state.lock().per_ip.is_empty());

        let lenient = ConnLimits::new(10, 1, false);
        for _ in 0..3 {
            let Admission::Admitted(mut s) = lenient.admit() else {
                panic!("admitted")
            };
            assert!(s.claim_ip(ip), "loopback is not counted unless asked");
            std::mem::forget(s);
        }
    }
}
