//! Clocks, samples and their summaries.

use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::engines::Engine;
use crate::workload::Request;

/// The distribution of the time one check took, in nanoseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Summary {
    pub(crate) median_ns: f64,
    pub(crate) p99_ns: f64,
    pub(crate) mean_ns: f64,
    pub(crate) samples: usize,
}

impl Summary {
    /// Summarizes samples (nanoseconds per check); `None` when there are none.
    pub(crate) fn of(mut samples: Vec<f64>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        let mean_ns = samples.iter().sum::<f64>() / samples.len() as f64;
        Some(Self {
            median_ns: percentile(&samples, 50.0),
            p99_ns: percentile(&samples, 99.0),
            mean_ns,
            samples: samples.len(),
        })
    }
}

/// The nearest-rank percentile of sorted, non-empty samples.
fn percentile(sorted: &[f64], percent: f64) -> f64 {
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Times consecutive groups of `batch` checks with one pair of clock
/// readings each, and records each group's time divided by `batch`: the
/// clock's own cost is spread over the group, at the price of smoothing the
/// tail within a group.
pub(crate) fn batched<E: Engine>(
    engine: &E,
    requests: &[Request],
    batch: usize,
    rounds: usize,
) -> Vec<f64> {
    let mut samples = Vec::with_capacity(rounds * requests.len() / batch.max(1));
    for _ in 0..rounds {
        for group in requests.chunks_exact(batch.max(1)) {
            let start = Instant::now();
            for request in group {
                black_box(engine.check(black_box(request)));
            }
            let elapsed = start.elapsed();
            samples.push(elapsed.as_nanos() as f64 / group.len() as f64);
        }
    }
    samples
}

/// Times every check on its own; each sample includes one clock reading's
/// overhead (see [`timer_overhead`]).
pub(crate) fn per_call<E: Engine>(engine: &E, requests: &[Request], rounds: usize) -> Vec<f64> {
    let mut samples = Vec::with_capacity(rounds * requests.len());
    for _ in 0..rounds {
        for request in requests {
            let start = Instant::now();
            black_box(engine.check(black_box(request)));
            let elapsed = start.elapsed();
            samples.push(elapsed.as_nanos() as f64);
        }
    }
    samples
}

/// What a pair of clock readings with nothing between them costs.
pub(crate) fn timer_overhead() -> Option<Summary> {
    const PAIRS: usize = 200_000;
    let mut samples = Vec::with_capacity(PAIRS);
    for _ in 0..PAIRS {
        let start = Instant::now();
        let elapsed = black_box(start).elapsed();
        samples.push(elapsed.as_nanos() as f64);
    }
    Summary::of(samples)
}

/// The peak resident memory of this process so far, in MiB (Linux only).
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let summary = Summary::of(samples).unwrap();
        assert_eq!(summary.median_ns, 50.0);
        assert_eq!(summary.p99_ns, 99.0);
        assert_eq!(summary.mean_ns, 50.5);
        assert!(Summary::of(Vec::new()).is_none());
        assert_eq!(Summary::of(vec![7.0]).unwrap().p99_ns, 7.0);
    }
}
