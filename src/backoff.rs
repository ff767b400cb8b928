//! The reconnect schedule: one failure, one decision, one delay.

use std::time::Duration;

use crate::config::Reconnect;

/// A server's hint about when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    /// No hint: follow the schedule.
    None,
    /// HTTP 429/503 `Retry-After`: wait at least this long.
    RetryAfter(Duration),
    /// Close 1012 (service restart): start the schedule again.
    Restart,
    /// Close 1013 (try again later): wait the maximum delay.
    TryLater,
}

/// Tracks consecutive failed attempts and computes each delay.
#[derive(Debug)]
pub(crate) struct Backoff {
    policy: Reconnect,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub(crate) fn new(policy: Reconnect) -> Self {
        Backoff {
            policy,
            attempt: 0,
            rng: fastrand::Rng::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn with_seed(policy: Reconnect, seed: u64) -> Self {
        Backoff {
            policy,
            attempt: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The attempt number the next [`Backoff::next_delay`] is for (1-based once failing).
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// A connection stayed up for `uptime`: reset the schedule if that is long enough.
    pub(crate) fn connection_lasted(&mut self, uptime: Duration) {
        if uptime >= self.policy.min_uptime {
            self.attempt = 0;
        }
    }

    /// The schedule's delay for attempt `n` before jitter.
    pub(crate) fn base_delay(&self, n: u32) -> Duration {
        let p = &self.policy;
        let exp = p.factor.powi(n.saturating_sub(1).min(1000) as i32);
        let secs = (p.initial.as_secs_f64() * exp).min(p.max.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// Decide about the next attempt: `Some((attempt, delay))`, or `None` when the attempt limit
    /// is reached.
    pub(crate) fn next_delay(&mut self, hint: Hint) -> Option<(u32, Duration)> {
        if hint == Hint::Restart {
            self.attempt = 0;
        }
        if let Some(max) = self.policy.max_attempts
            && self.attempt >= max
        {
            return None;
        }
        self.attempt += 1;
        let base = match hint {
            Hint::TryLater => self.policy.max,
            _ => self.base_delay(self.attempt),
        };
        let cut = base.as_secs_f64() * self.policy.jitter * self.rng.f64();
        let mut delay = base.saturating_sub(Duration::from_secs_f64(cut));
        if let Hint::RetryAfter(d) = hint {
            delay = delay.max(d.min(self.policy.retry_after_cap));
        }
        Some((self.attempt, delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn grows_to_max_without_jitter() {
        let p = Reconnect::exponential()
            .initial(ms(100))
            .max(ms(1000))
            .jitter(0.0);
        let mut b = Backoff::new(p);
        let got: Vec<_> = (0..6)
            .map(|_| b.next_delay(Hint::None).unwrap().1)
            .collect();
        assert_eq!(
            got,
            vec![ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let p = Reconnect::exponential()
            .initial(ms(1000))
            .max(ms(1000))
            .jitter(0.5);
        let mut b = Backoff::with_seed(p, 7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let d = b.next_delay(Hint::None).unwrap().1;
            assert!(d >= ms(500) && d <= ms(1000), "{d:?}");
            seen.insert(d);
        }
        assert!(seen.len() > 50, "jitter should spread delays");
    }

    #[test]
    fn max_attempts_then_none() {
        let p = Reconnect::fixed(ms(10)).max_attempts(Some(3));
        let mut b = Backoff::new(p);
        for i in 1..=3 {
            assert_eq!(b.next_delay(Hint::None), Some((i, ms(10))));
        }
        assert_eq!(b.next_delay(Hint::None), None);
    }

    #[test]
    fn resets_after_min_uptime_only() {
        let p = Reconnect::exponential()
            .initial(ms(100))
            .jitter(0.0)
            .min_uptime(ms(500));
        let mut b = Backoff::new(p);
        b.next_delay(Hint::None);
        b.next_delay(Hint::None);
        b.connection_lasted(ms(499));
        assert_eq!(b.next_delay(Hint::None), Some((3, ms(400))));
        b.connection_lasted(ms(500));
        assert_eq!(b.next_delay(Hint::None), Some((1, ms(100))));
    }

    #[test]
    fn server_hints() {
        let p = Reconnect::exponential()
            .initial(ms(100))
            .max(ms(2000))
            .jitter(0.0);
        let mut b = Backoff::new(p.clone());
        assert_eq!(
            b.next_delay(Hint::RetryAfter(ms(1500))).unwrap().1,
            ms(1500)
        );
        assert_eq!(b.next_delay(Hint::TryLater).unwrap().1, ms(2000));
        assert_eq!(b.next_delay(Hint::Restart), Some((1, ms(100))));
        let mut capped = Backoff::new(p.retry_after_cap(ms(300)));
        assert_eq!(
            capped.next_delay(Hint::RetryAfter(ms(9000))).unwrap().1,
            ms(300)
        );
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let p = Reconnect::exponential()
            .initial(ms(100))
            .max(ms(5000))
            .jitter(0.0);
        let b = Backoff::new(p);
        assert_eq!(b.base_delay(u32::MAX), ms(5000));
    }
}
