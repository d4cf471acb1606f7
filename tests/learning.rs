//! The learning rule's pieces against hand-derived values: the output errors and the G2
//! limiter.

use bsp_sim::config::ErrorKind;
use bsp_sim::config::OutputError;
use bsp_sim::learning::connections::{change, column_changes, row_changes};
use bsp_sim::learning::limiter::atan_in_place;
use bsp_sim::learning::{argmax, atan, limiter};

#[test]
fn fast_atan_matches_f64_atan() {
    let mut worst = 0.0f64;
    let mut x = -1000.0f64;
    while x < 1000.0 {
        let err = (atan(x as f32) as f64 - x.atan()).abs();
        worst = worst.max(err);
        x += if x.abs() < 10.0 { 1e-3 } else { 0.37 };
    }
    assert!(worst < 3e-7, "worst error {worst}");
    assert_eq!(atan(0.0), 0.0);
    assert!((atan(f32::INFINITY) - std::f32::consts::FRAC_PI_2).abs() < 1e-7);
}

/// The arctangent's one division gives the bits of Cephes' `atanf` as written with one
/// division per branch (the form every recorded run used), over a sweep of f32 values.
#[test]
fn fast_atan_is_cephes_bit_for_bit() {
    fn cephes(x: f32) -> f32 {
        use std::f32::consts::{FRAC_PI_2, FRAC_PI_4};
        let a = x.abs();
        let (base, z) = if a > 2.414_213_5 {
            (FRAC_PI_2, -1.0 / a)
        } else if a > 0.414_213_57 {
            (FRAC_PI_4, (a - 1.0) / (a + 1.0))
        } else {
            (0.0, a)
        };
        let z2 = z * z;
        let p = ((8.053_744_5e-2 * z2 - 1.387_768_5e-1) * z2 + 1.997_771_1e-1) * z2 - 3.333_295e-1;
        (base + (p * z2 * z + z)).copysign(x)
    }
    let mut checked = 0;
    for bits in (0..0x7f80_0000u32).step_by(997) {
        for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
            assert_eq!(atan(x).to_bits(), cephes(x).to_bits(), "atan({x:e})");
            checked += 1;
        }
    }
    assert!(checked > 4_000_000);
}

/// The slice form gives `atan`'s bits for every value, in blocks whose every value is
/// small (no range reduction), in blocks with one large, infinite or NaN value, and in the
/// padded tail.
#[test]
fn atan_in_place_is_atan_bit_for_bit() {
    let mut values: Vec<f32> = (0..16 * 6 + 11)
        .map(|k| ((k * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.8)
        .collect();
    // Blocks 0 and 5 small throughout; one outlier each in blocks 1 to 4 and the tail.
    values[20] = 0.414_213_6; // just above tan(π/8)
    values[40] = -3.0;
    values[50] = f32::INFINITY;
    values[70] = f32::NAN;
    values[16 * 6 + 3] = 1e6;
    values[3] = -0.0;
    values[4] = 0.414_213_57; // tan(π/8) itself: no reduction in either form
    let expected: Vec<u32> = values.iter().map(|&x| atan(x).to_bits()).collect();
    let mut got = values.clone();
    atan_in_place(&mut got);
    let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
    assert_eq!(got, expected);
    let mut short = [0.3f32, -2.0, 0.1];
    atan_in_place(&mut short);
    assert_eq!(
        short.map(f32::to_bits),
        [0.3f32, -2.0, 0.1].map(|x| atan(x).to_bits())
    );
}

/// A column's and a row's changes are `change()`'s, bit for bit, with and without the
/// limiter.
#[test]
fn dense_changes_are_change_bit_for_bit() {
    let q: Vec<f32> = (0..37).map(|j| (j as f32 - 18.0) * 0.07).collect();
    let p: Vec<f32> = (0..29).map(|i| (i as f32 - 9.0) * 0.9).collect();
    for kt in [0.0f32, 0.1, 2.0] {
        let scale = 0.003 / 50.0;
        let mut out = vec![0.0; q.len()];
        column_changes(&mut out, p[3], &q, scale, kt);
        for (j, &d) in out.iter().enumerate() {
            assert_eq!(d.to_bits(), change(p[3], q[j], scale, kt, true).to_bits());
        }
        let mut out = vec![0.0; p.len()];
        row_changes(&mut out, &p, q[5], scale, kt);
        for (i, &d) in out.iter().enumerate() {
            assert_eq!(d.to_bits(), change(p[i], q[5], scale, kt, true).to_bits());
        }
    }
}

#[test]
fn limiter_is_atan_scaled_and_identity_at_zero_kt() {
    assert_eq!(limiter(3.5, 0.0), 3.5);
    // atan(0.1 * 10) / 0.1 = (π/4) / 0.1
    assert!((limiter(10.0, 0.1) - std::f32::consts::FRAC_PI_4 / 0.1).abs() < 1e-5);
    // Small G1 passes almost unchanged; large G1 saturates at π / (2 kt).
    assert!((limiter(0.01, 0.1) - 0.01).abs() < 1e-8);
    assert!(limiter(1e6, 0.1) < std::f32::consts::FRAC_PI_2 / 0.1 + 1e-4);
    assert_eq!(limiter(-10.0, 0.1), -limiter(10.0, 0.1));
}

#[test]
fn squared_error_is_target_minus_readout() {
    let err = OutputError {
        kind: ErrorKind::Squared,
        beta: 3.0,
        amplitude: 2.0,
    };
    let mut e = [0.0f32; 3];
    let loss = err.error(&[0.5, 1.0, -0.5], 1, &mut e);
    assert_eq!(e, [-0.5, 1.0, 0.5]);
    assert!((loss - 0.5 * (0.25 + 1.0 + 0.25)).abs() < 1e-6);
}

#[test]
fn softmax_error_is_one_hot_minus_probabilities() {
    let err = OutputError {
        kind: ErrorKind::Softmax,
        beta: 2.0,
        amplitude: 1.0,
    };
    let y = [0.0f32, 0.5, 1.0];
    let z: f32 = y.iter().map(|v| (2.0 * v).exp()).sum();
    let p: Vec<f32> = y.iter().map(|v| (2.0 * v).exp() / z).collect();
    let mut e = [0.0; 3];
    let loss = err.error(&y, 0, &mut e);
    assert!((e[0] - (1.0 - p[0])).abs() < 1e-6);
    assert!((e[1] + p[1]).abs() < 1e-6 && (e[2] + p[2]).abs() < 1e-6);
    assert!(
        (loss + p[0].ln()).abs() < 1e-5,
        "cross-entropy {loss} vs {}",
        -p[0].ln()
    );
    assert!(e.iter().sum::<f32>().abs() < 1e-6);
    // Large readouts do not overflow.
    let l = err.error(&[500.0, 0.0, -500.0], 2, &mut e);
    assert!(l.is_finite() && e.iter().all(|v| v.is_finite()));
}

#[test]
fn argmax_takes_the_first_maximum() {
    assert_eq!(argmax(&[0.1, 0.7, 0.7, -1.0]), 1);
}
