//! Latency percentiles and throughput from raw samples.

use std::time::Duration;

/// Throughput and latency of one measured run.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Requests answered.
    pub count: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
}

impl Run {
    pub fn from(mut latencies: Vec<Duration>, elapsed: Duration) -> Run {
        latencies.sort_unstable();
        let at = |q: f64| {
            let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
            latencies.get(i).copied().unwrap_or_default()
        };
        Run {
            count: latencies.len(),
            per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: latencies.last().copied().unwrap_or_default(),
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

/// What a process has used so far, read from `/proc` (Linux only): CPU time of all its threads
/// and their context switches. Compared before and after a load, it gives the cost of one
/// request in CPU time, a figure that other work on the machine disturbs far less than a rate.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessUsage {
    pub cpu: Duration,
    pub context_switches: u64,
}

impl ProcessUsage {
    /// `None` where `/proc` does not tell (not Linux, or the process is gone).
    pub fn of(pid: u32) -> Option<ProcessUsage> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, in USER_HZ ticks (100 on Linux).
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        let mut context_switches = 0;
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
            let Ok(status) = std::fs::read_to_string(task.path().join("status")) else { continue };
            for line in status.lines() {
                if let Some((key, value)) = line.split_once(':') {
                    if key.ends_with("ctxt_switches") {
                        context_switches += value.trim().parse::<u64>().unwrap_or(0);
                    }
                }
            }
        }
        Some(ProcessUsage { cpu: Duration::from_millis(ticks * 10), context_switches })
    }

    /// From `before` to `self`: (CPU time, context switches).
    pub fn since(&self, before: &ProcessUsage) -> (Duration, u64) {
        (
            self.cpu.saturating_sub(before.cpu),
            self.context_switches.saturating_sub(before.context_switches),
        )
    }
}
