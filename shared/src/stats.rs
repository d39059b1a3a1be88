//! How every part of the project turns samples into percentiles (the server's tick times, the
//! benchmark, the bots' report), so that a "p99" means the same everywhere: the nearest rank
//! of the sorted samples, at index `round((n − 1) · p)`.

/// The index of percentile `p` (0 to 1) among `n` sorted samples; `None` when there are none.
pub fn rank(n: usize, p: f64) -> Option<usize> {
    (n > 0).then(|| ((n - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize)
}

/// Percentile `p` (0 to 1) of samples sorted in ascending order; `None` when there are none.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    rank(sorted.len(), p).map(|i| sorted[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest rank: p0 is the smallest, p1 the largest, p50 of 1..=100 is 51 (index 49.5
    /// rounds up), and no samples give none.
    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!([0.0, 0.05, 0.5, 0.99, 1.0].map(|p| percentile(&v, p)), [1, 6, 51, 99, 100].map(Some));
        assert_eq!(percentile::<f32>(&[], 0.5), None);
        assert_eq!(rank(1, 0.99), Some(0));
    }
}
