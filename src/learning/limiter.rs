//! The limiter G2 = atan(kt · G1) / kt (paper Eq. 18), with the branch-free arctangent that
//! lets the per-synapse, per-sample limiter vectorise.

/// The limiter G2 = atan(kt · G1) / kt; the identity when `kt == 0` (its limit).
#[inline(always)]
pub fn limiter(g1: f32, kt: f32) -> f32 {
    if kt == 0.0 {
        g1
    } else {
        atan(kt * g1) / kt
    }
}

/// Branch-free arctangent for f32, within a few ulp of the exact value (tested against
/// `f64::atan`).
///
/// The limiter runs once per synapse and sample; unlike `f32::atan` this form vectorises,
/// which keeps the limiter about as cheap as the multiply-add it follows. It is Cephes'
/// `atanf`: reduce |x| to [0, tan(π/8)] with `atan(x) = π/2 − atan(1/x)` above tan(3π/8) and
/// `π/4 + atan((x−1)/(x+1))` in between, then a degree-9 odd polynomial.
#[inline(always)]
pub fn atan(x: f32) -> f32 {
    use std::f32::consts::{FRAC_PI_2, FRAC_PI_4};
    let a = x.abs();
    let big = a > 2.414_213_5;
    let mid = a > 0.414_213_57;
    // One division for the three branches (a / 1 is a, exactly): vectorised, every lane
    // takes both sides of a branch, so two divisions would cost two.
    let (base, num, den) = if big {
        (FRAC_PI_2, -1.0, a)
    } else if mid {
        (FRAC_PI_4, a - 1.0, a + 1.0)
    } else {
        (0.0, a, 1.0)
    };
    let z = num / den;
    let z2 = z * z;
    let p = ((8.053_744_5e-2 * z2 - 1.387_768_5e-1) * z2 + 1.997_771_1e-1) * z2 - 3.333_295e-1;
    (base + (p * z2 * z + z)).copysign(x)
}
