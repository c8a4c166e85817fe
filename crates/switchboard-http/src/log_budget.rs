//! Budgets for log lines that strangers cause (a forged webhook, a shed connection): a few a
//! second of each kind are written, the rest are counted and reported by the next line of that
//! kind that is written, so a flood of forgeries cannot flood the log. What they stand for is
//! counted in metrics whatever the log keeps (`switchboard_http_requests_total` counts every
//! refusal by route and status).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Lines of one kind held back (counter; label `kind`).
pub const LOG_LINES_SUPPRESSED: &str = "switchboard_log_lines_suppressed_total";

/// Every kind of line under a budget, for the zeros of [`LOG_LINES_SUPPRESSED`].
pub const KINDS: [&str; 4] =
    ["twilio_signature", "meta_signature", "meta_unconfigured", "connection_shed"];

/// The budget of one kind of line: `per_second` lines a second, in bursts of as many.
#[derive(Debug)]
pub struct LogBudget {
    kind: &'static str,
    level: tracing::Level,
    limiter: DefaultDirectRateLimiter,
    held_back: AtomicU64,
}

impl LogBudget {
    /// A budget for lines of `kind` logged at `level` (the level of the line that reports how
    /// many were held back).
    pub fn new(kind: &'static str, level: tracing::Level, per_second: NonZeroU32) -> LogBudget {
        LogBudget {
            kind,
            level,
            limiter: RateLimiter::direct(Quota::per_second(per_second)),
            held_back: AtomicU64::new(0),
        }
    }

    /// Whether the caller may write its line now. When it may after lines were held back, one
    /// line saying how many goes first; when it may not, the line is counted instead.
    pub fn admit(&self) -> bool {
        if self.limiter.check().is_err() {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(LOG_LINES_SUPPRESSED, "kind" => self.kind).increment(1);
            return false;
        }
        let held_back = self.held_back.swap(0, Ordering::Relaxed);
        if held_back > 0 {
            let kind = self.kind;
            let message = "log lines like the next were held back (a flood of them)";
            match self.level {
                tracing::Level::ERROR | tracing::Level::WARN => {
                    tracing::warn!(kind, suppressed = held_back, "{held_back} {message}")
                }
                tracing::Level::INFO => {
                    tracing::info!(kind, suppressed = held_back, "{held_back} {message}")
                }
                _ => tracing::debug!(kind, suppressed = held_back, "{held_back} {message}"),
            }
        }
        true
    }
}

/// Five lines a second: enough to see what is going on, too few to fill a disk.
pub(crate) const PER_SECOND: NonZeroU32 = NonZeroU32::new(5).expect("not zero");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_its_burst_and_counts_the_rest() {
        let budget = LogBudget::new("test", tracing::Level::WARN, NonZeroU32::new(3).unwrap());
        let started = std::time::Instant::now();
        let written = (0..1000).filter(|_| budget.admit()).count();
        // The burst, and what refilled while the loop ran (at three a second).
        let refilled = (started.elapsed().as_secs_f64() * 3.0).ceil() as usize;
        assert!((3..=3 + refilled).contains(&written), "{written} written");
        assert_eq!(budget.held_back.load(Ordering::Relaxed), 1000 - written as u64);
        std::thread::sleep(std::time::Duration::from_millis(400));
        assert!(budget.admit(), "the budget refills");
        assert_eq!(budget.held_back.load(Ordering::Relaxed), 0, "reported with that line");
    }
}
