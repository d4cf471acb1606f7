//! Numbers and counts in the words a person reads: "1 epoch" but "2 epochs", and rates to
//! three significant digits without a useless ".0".

/// "1 epoch", "2 epochs", "0 epochs".
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `x` rounded to 3 significant digits: 8286.4 -> "8290", 12.345 -> "12.3", 2.0 -> "2",
/// 0.012345 -> "0.0123"; a non-finite value is "-".
pub fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let digits = x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits - 2);
    let rounded = (x / scale).round() * scale;
    // Rounding up may add a digit (999.7 -> 1000): count again.
    let digits = rounded.abs().log10().floor() as i32;
    let decimals = (2 - digits).max(0) as usize;
    let s = format!("{rounded:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(8286.42), "8290");
        assert_eq!(sig3(12.345), "12.3");
        assert_eq!(sig3(2.0), "2");
        assert_eq!(sig3(0.012345), "0.0123");
        assert_eq!(sig3(999.7), "1000");
        assert_eq!(sig3(1.5), "1.5");
        assert_eq!(sig3(-45.67), "-45.7");
        assert_eq!(sig3(0.0), "0");
        assert_eq!(sig3(f64::NAN), "-");
    }

    #[test]
    fn singular_and_plural() {
        assert_eq!(plural(1, "epoch"), "1 epoch");
        assert_eq!(plural(2, "thread"), "2 threads");
        assert_eq!(plural(0, "epoch"), "0 epochs");
    }
}
