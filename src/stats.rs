//! Summaries over seeds: the mean with a 95% confidence interval from Student's t distribution
//! (quantiles from `statrs`).

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean and the half-width of its two-sided 95% confidence interval,
/// $t_{0.975,\,n-1}\, s / \sqrt{n}$ with $s$ the sample standard deviation. One value: the
/// half-width is NaN (no interval from one seed); no value: both NaN.
///
/// ```
/// let (m, h) = lottery::stats::mean_ci95(&[1.0, 2.0, 3.0]);
/// assert_eq!(m, 2.0);
/// // s = 1, t(0.975, 2) = 4.303: 4.303 / sqrt(3).
/// assert!((h - 2.4842).abs() < 1e-3);
/// ```
pub fn mean_ci95(v: &[f64]) -> (f64, f64) {
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (m, f64::NAN);
    }
    let s2 = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .expect("n - 1 >= 1 degrees of freedom")
        .inverse_cdf(0.975);
    (m, t * (s2 / n as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_uses_t_quantiles_and_shrinks_with_n() {
        // t(0.975, 1) = 12.706: two values 0 and 2 have s = sqrt(2).
        let (m, h) = mean_ci95(&[0.0, 2.0]);
        assert_eq!(m.to_bits(), 1f64.to_bits());
        assert!((h - 12.706 * 1.0).abs() < 1e-3, "{h}");
        let many: Vec<f64> = (0..1000).map(|i| (i % 2) as f64).collect();
        let (_, h) = mean_ci95(&many);
        assert!((h - 1.962 * 0.5003 / 1000f64.sqrt()).abs() < 1e-3, "{h}");
        assert!(mean_ci95(&[3.0]).1.is_nan());
    }
}
