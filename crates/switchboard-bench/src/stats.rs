//! Latency percentiles and throughput from raw samples.

use std::time::Duration;

/// Throughput and latency of one measured run.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

impl Run {
    pub fn from(mut latencies: Vec<Duration>, elapsed: Duration) -> Run {
        latencies.sort_unstable();
        let at = |q: f64| {
            let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
            latencies.get(i).copied().unwrap_or_default()
        };
        Run {
            per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: at(0.5),
            p99: at(0.99),
        }
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub fn rate(per_second: f64) -> String {
    if per_second >= 10_000.0 {
        format!("{:.0}k/s", per_second / 1000.0)
    } else {
        format!("{per_second:.0}/s")
    }
}
