//! Latency percentiles over the samples a phase recorded.

use serde::Serialize;

/// The nearest-rank `p`th percentile (0 < p <= 100) of ascending `sorted`:
/// the smallest sample with at least p% of the samples at or below it.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let len = sorted.len();
    // p is in (0, 100], so the rank is in [1, len]. The small allowance
    // keeps a product such as 99.9% of 1000 (999.0000000000001 in floating
    // point) at its exact rank.
    let rank = ((p / 100.0) * len as f64 - 1e-9).ceil() as usize;
    sorted.get(rank.clamp(1, len) - 1).copied()
}

/// How a set of latencies (recorded in microseconds) is distributed, in
/// milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// Sorts `micros` and summarises it; all zeros when it is empty.
    pub fn of(micros: &mut [u32]) -> Self {
        micros.sort_unstable();
        let ms = |p| percentile(micros, p).map_or(0.0, |us| f64::from(us) / 1000.0);
        let sum: u64 = micros.iter().map(|&us| u64::from(us)).sum();
        let mean_ms = if micros.is_empty() {
            0.0
        } else {
            sum as f64 / micros.len() as f64 / 1000.0
        };
        Self {
            count: micros.len(),
            mean_ms,
            p50_ms: ms(50.0),
            p90_ms: ms(90.0),
            p99_ms: ms(99.0),
            p999_ms: ms(99.9),
            max_ms: ms(100.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 90.0), Some(90));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        let thousand: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&thousand, 99.9), Some(999));
        assert_eq!(percentile(&samples, 0.5), Some(1));
        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!(percentile(&ten, 99.0), Some(10));
        assert_eq!(percentile(&ten, 50.0), Some(5));
        assert_eq!(percentile(&ten, 51.0), Some(6));
    }

    #[test]
    fn percentiles_of_nothing_or_out_of_range_are_none() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1], 0.0), None);
        assert_eq!(percentile(&[1], 100.5), None);
        assert_eq!(percentile(&[1], f64::NAN), None);
        assert_eq!(percentile(&[7], 1.0), Some(7));
    }

    #[test]
    fn latencies_are_summarised_in_milliseconds() {
        let mut micros = vec![3000, 1000, 2000, 4000];
        let latency = Latency::of(&mut micros);
        assert_eq!(micros, [1000, 2000, 3000, 4000]);
        assert_eq!(latency.count, 4);
        assert!((latency.mean_ms - 2.5).abs() < 1e-9);
        assert!((latency.p50_ms - 2.0).abs() < 1e-9);
        assert!((latency.p99_ms - 4.0).abs() < 1e-9);
        assert!((latency.p999_ms - 4.0).abs() < 1e-9);
        assert!((latency.max_ms - 4.0).abs() < 1e-9);
        assert_eq!(Latency::of(&mut []), Latency::default());
    }
}
