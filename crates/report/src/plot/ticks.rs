//! Axis ticks and their labels: decades on log axes (1e18, 1e19, …; with 2× and 5× when an
//! axis spans few decades, and "nice" linear steps when it spans less than one), and steps of
//! 1, 2, 2.5 or 5 × 10ᵏ on linear axes. Labels are short and exact: `1e18`, `2.5e-05` style is
//! avoided in favour of `1e18`, `2.5e-5`, `0.05`, `128`, `2000`.

/// Ticks of one axis, in axis space (log10 of the value on log axes).
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    /// Labelled ticks.
    pub major: Vec<f64>,
    /// Unlabelled grid lines.
    pub minor: Vec<f64>,
}

/// Ticks of a log axis spanning `lo..hi` in log10 units.
pub fn log_ticks(lo: f64, hi: f64) -> Ticks {
    let span = hi - lo;
    if !(span > 0.0) || !lo.is_finite() || !hi.is_finite() {
        return Ticks { major: vec![lo], minor: Vec::new() };
    }
    let inside = |v: f64| v >= lo - 1e-9 && v <= hi + 1e-9;
    if span < 1.0 {
        // 1, 2, 5 × 10ᵏ when that gives three ticks, else linear steps.
        let one_two_five: Vec<f64> = (lo.floor() as i64..=hi.ceil() as i64)
            .flat_map(|k| [1.0f64, 2.0, 5.0].map(|m| k as f64 + m.log10()))
            .filter(|&v| inside(v))
            .collect();
        if one_two_five.len() >= 3 {
            return Ticks { major: one_two_five, minor: Vec::new() };
        }
        let linear = linear_ticks(10f64.powf(lo), 10f64.powf(hi));
        return Ticks { major: linear.major.iter().map(|v| v.log10()).collect(), minor: Vec::new() };
    }
    let step = if span <= 8.0 { 1 } else { (span / 8.0).ceil() as i64 };
    let (first, last) = (lo.floor() as i64, hi.ceil() as i64);
    let mut major = Vec::new();
    let mut minor = Vec::new();
    for k in first..=last {
        let decade = k as f64;
        if k.rem_euclid(step) == 0 && inside(decade) {
            major.push(decade);
        }
        if step == 1 {
            for m in 2..10 {
                let v = decade + f64::from(m).log10();
                if !inside(v) {
                    continue;
                }
                if span <= 2.5 && (m == 2 || m == 5) {
                    major.push(v);
                } else {
                    minor.push(v);
                }
            }
        }
    }
    major.sort_by(f64::total_cmp);
    Ticks { major, minor }
}

/// Ticks of a linear axis spanning `lo..hi`: multiples of a step of 1, 2, 2.5 or 5 × 10ᵏ,
/// four to seven of them.
pub fn linear_ticks(lo: f64, hi: f64) -> Ticks {
    let span = hi - lo;
    if !(span > 0.0) || !span.is_finite() {
        return Ticks { major: vec![lo], minor: Vec::new() };
    }
    let raw = span / 6.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&s| s >= raw).unwrap_or(10.0 * magnitude);
    // A hair of tolerance: 10^log10(40) is 40.000000000000007.
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // Round each multiple to the step's decimals so that 3 × 0.2 prints and compares as 0.6.
    let decimals = (-(step.log10().floor()) as i32 + 1).max(0) as usize;
    let major = (first..=last)
        .map(|i| format!("{:.decimals$}", i as f64 * step).parse::<f64>().unwrap_or(i as f64 * step))
        .map(|v| if v == 0.0 { 0.0 } else { v })
        .collect();
    Ticks { major, minor: Vec::new() }
}

/// A tick label for `value`: at most four significant digits, trailing zeros dropped;
/// `1e18` style from 1e5 up and below 1e-3; a true minus sign (U+2212), as typeset figures use.
pub fn format_tick(value: f64) -> String {
    ascii_tick(value).replace('-', "\u{2212}")
}

fn ascii_tick(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    if !value.is_finite() {
        return value.to_string();
    }
    let exponent = value.abs().log10().floor() as i32;
    // Round to 4 significant digits (float noise from 10^log10(v) disappears).
    let scale = 10f64.powi(3 - exponent);
    let rounded = (value * scale).round() / scale;
    let exponent = if rounded == 0.0 { exponent } else { rounded.abs().log10().floor() as i32 };
    if !(-3..5).contains(&exponent) {
        let mantissa = rounded / 10f64.powi(exponent);
        return format!("{}e{exponent}", trim(&format!("{mantissa:.3}")));
    }
    let decimals = (3 - exponent).max(0) as usize;
    trim(&format!("{rounded:.decimals$}"))
}

/// Drops trailing zeros after a decimal point (and the point itself).
fn trim(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_short_and_exact() {
        assert_eq!(format_tick(1e18), "1e18");
        assert_eq!(format_tick(10f64.powf(18.0 + 2f64.log10())), "2e18");
        assert_eq!(format_tick(2.5e-5), "2.5e\u{2212}5");
        assert_eq!(format_tick(0.05), "0.05");
        assert_eq!(format_tick(128.0000001), "128");
        assert_eq!(format_tick(2000.0), "2000");
        assert_eq!(format_tick(10000.0), "10000");
        assert_eq!(format_tick(100000.0), "1e5");
        assert_eq!(format_tick(-0.25), "\u{2212}0.25");
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(1.5), "1.5");
    }

    #[test]
    fn wide_log_axes_get_decades_and_minor_lines() {
        let t = log_ticks(17.6, 21.3);
        assert_eq!(t.major, vec![18.0, 19.0, 20.0, 21.0]);
        assert!(t.minor.iter().any(|&v| (v - (18.0 + 2f64.log10())).abs() < 1e-12));
        let wide = log_ticks(0.0, 30.0);
        assert!(wide.major.len() <= 9 && wide.major.len() >= 5, "{:?}", wide.major);
    }

    #[test]
    fn narrow_log_axes_get_125_or_linear_steps() {
        let t = log_ticks(2.0, 3.4);
        let values: Vec<String> = t.major.iter().map(|&v| format_tick(10f64.powf(v))).collect();
        assert_eq!(values, ["100", "200", "500", "1000", "2000"]);
        let t = log_ticks(40f64.log10(), 60f64.log10());
        let values: Vec<String> = t.major.iter().map(|&v| format_tick(10f64.powf(v))).collect();
        assert_eq!(values, ["40", "45", "50", "55", "60"]);
        let t = log_ticks(11.0, 11.95);
        let values: Vec<String> = t.major.iter().map(|&v| format_tick(10f64.powf(v))).collect();
        assert_eq!(values, ["1e11", "2e11", "5e11"]);
    }

    #[test]
    fn linear_steps_are_nice() {
        assert_eq!(linear_ticks(0.0, 1.0).major, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(linear_ticks(-0.03, 0.05).major, vec![-0.02, 0.0, 0.02, 0.04]);
        assert_eq!(linear_ticks(2.1, 5.1).major, vec![2.5, 3.0, 3.5, 4.0, 4.5, 5.0]);
    }
}
