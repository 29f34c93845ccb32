//! Colour-blind-safe colours: the Okabe–Ito palette for distinct roles (data, fit, frontier)
//! and viridis for ordered groups (feature counts, budgets) and continuous colour scales.
//!
//! ## Reference
//! Okabe & Ito (2008), "Color Universal Design (CUD): how to make figures and presentations
//! that are friendly to colorblind people", jfly.uni-koeln.de/color (the eight colours below).
//! Viridis: van der Walt & Smith (2015), the matplotlib colormap; the anchors are its 11
//! evenly spaced colours as R's viridisLite `viridis(11)` lists them.

/// An sRGB colour.
pub type Rgb = (u8, u8, u8);

/// Okabe–Ito black.
pub const BLACK: Rgb = (0, 0, 0);
/// Okabe–Ito orange.
pub const ORANGE: Rgb = (230, 159, 0);
/// Okabe–Ito sky blue.
pub const SKY_BLUE: Rgb = (86, 180, 233);
/// Okabe–Ito bluish green.
pub const BLUISH_GREEN: Rgb = (0, 158, 115);
/// Okabe–Ito yellow.
pub const YELLOW: Rgb = (240, 228, 66);
/// Okabe–Ito blue.
pub const BLUE: Rgb = (0, 114, 178);
/// Okabe–Ito vermillion.
pub const VERMILLION: Rgb = (213, 94, 0);
/// Okabe–Ito reddish purple.
pub const REDDISH_PURPLE: Rgb = (204, 121, 167);
/// Neutral grey for reference lines (not a data colour).
pub const GREY: Rgb = (120, 120, 120);

const VIRIDIS: [Rgb; 11] = [
    (0x44, 0x01, 0x54),
    (0x48, 0x25, 0x76),
    (0x41, 0x44, 0x87),
    (0x35, 0x60, 0x8d),
    (0x2a, 0x78, 0x8e),
    (0x21, 0x90, 0x8c),
    (0x22, 0xa8, 0x84),
    (0x43, 0xbf, 0x71),
    (0x7a, 0xd1, 0x51),
    (0xbb, 0xdf, 0x27),
    (0xfd, 0xe7, 0x25),
];

/// Viridis at `t` ∈ [0, 1] (clamped), linear between the anchors.
pub fn viridis(t: f64) -> Rgb {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let pos = t * (VIRIDIS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + f * (f64::from(b) - f64::from(a))).round() as u8;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Upper end of viridis used for data: its last tenth is too light to read on white.
pub const VIRIDIS_MAX: f64 = 0.88;

/// Colour `i` of `n` ordered groups (dark to light viridis).
pub fn ordered(i: usize, n: usize) -> Rgb {
    if n <= 1 {
        return viridis(0.0);
    }
    viridis(VIRIDIS_MAX * i as f64 / (n - 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_hits_its_anchors_and_interpolates() {
        assert_eq!(viridis(0.0), (0x44, 0x01, 0x54));
        assert_eq!(viridis(1.0), (0xfd, 0xe7, 0x25));
        assert_eq!(viridis(0.5), (0x21, 0x90, 0x8c));
        let mid = viridis(0.05);
        assert!(mid.0 >= 0x44 && mid.0 <= 0x48 && mid.1 > 0x01 && mid.1 < 0x25);
        assert_eq!(ordered(0, 5), viridis(0.0));
        assert_eq!(ordered(4, 5), viridis(VIRIDIS_MAX));
    }
}
