//! Latency samples and their percentiles, and the process's memory.

use std::time::{Duration, Instant};

/// Latencies of one measured operation.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    nanos: Vec<u64>,
}

impl Samples {
    pub fn push(&mut self, elapsed: Duration) {
        self.nanos.push(elapsed.as_nanos() as u64);
    }

    pub fn extend(&mut self, other: Samples) {
        self.nanos.extend(other.nanos);
    }

    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// The `q` quantile (0..=1) in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.nanos.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.nanos.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[index] as f64 / 1_000.0
    }
}

/// Runs `operation` repeatedly for about `budget` (at least `min_runs`
/// times, at most `max_runs`), after a short warm-up, and returns the
/// latencies and the last result.
pub fn repeat<T>(
    budget: Duration,
    min_runs: usize,
    max_runs: usize,
    mut operation: impl FnMut() -> T,
) -> (Samples, T) {
    let mut last = operation();
    for _ in 0..min_runs.min(100) {
        last = operation();
    }
    let mut samples = Samples::default();
    let deadline = Instant::now() + budget;
    while samples.len() < max_runs && (samples.len() < min_runs || Instant::now() < deadline) {
        let started = Instant::now();
        last = std::hint::black_box(operation());
        samples.push(started.elapsed());
    }
    (samples, last)
}

/// The resident set size of this process, in bytes (Linux).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// Total size of the files under `dir`, in bytes.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
