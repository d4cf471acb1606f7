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
    let mid = a > TAN_PI_8;
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
    (base + odd_polynomial(z)).copysign(x)
}

/// tan(π/8): up to it `atan` needs no range reduction.
const TAN_PI_8: f32 = 0.414_213_57;

/// Cephes' odd polynomial for atan on [0, tan(π/8)].
#[inline(always)]
fn odd_polynomial(z: f32) -> f32 {
    let z2 = z * z;
    let p = ((8.053_744_5e-2 * z2 - 1.387_768_5e-1) * z2 + 1.997_771_1e-1) * z2 - 3.333_295e-1;
    p * z2 * z + z
}

/// Lanes of [`atan_in_place`]'s blocks: one AVX-512 register, two AVX ones.
const LANES: usize = 16;

/// [`atan`] of every value, in place, bit for bit.
///
/// Vectorised, every lane of [`atan`] divides (its three branches share one division), and
/// the division is its costliest step. Where a block's every magnitude is at most
/// tan(π/8), as nearly all are in the limiter (|kt · G1| is small), the division is by one,
/// exactly a no-op: such a block takes the polynomial alone.
pub fn atan_in_place(values: &mut [f32]) {
    let mut blocks = values.chunks_exact_mut(LANES);
    for block in &mut blocks {
        atan_block(block.try_into().expect("a block of LANES"));
    }
    // The rest as one block padded with zeros (whose atan is not kept).
    let rest = blocks.into_remainder();
    let mut last = [0.0; LANES];
    last[..rest.len()].copy_from_slice(rest);
    atan_block(&mut last);
    rest.copy_from_slice(&last[..rest.len()]);
}

#[inline(always)]
fn atan_block(block: &mut [f32; LANES]) {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    {
        // SAFETY: the build has AVX-512F (the cfg above).
        if !unsafe { simd::small_block(block) } {
            for x in block.iter_mut() {
                *x = atan(*x);
            }
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
    atan_block_portable(block);
}

/// [`atan_block`] in the vectors the compiler chooses (256-bit ones on x86-64).
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "avx512f"),
    allow(dead_code)
)]
#[inline(always)]
fn atan_block_portable(block: &mut [f32; LANES]) {
    let small = block
        .iter()
        .fold(true, |all, x| all & (x.abs() <= TAN_PI_8));
    if small {
        for x in block.iter_mut() {
            *x = (0.0 + odd_polynomial(x.abs())).copysign(*x);
        }
    } else {
        for x in block.iter_mut() {
            *x = atan(*x);
        }
    }
}

/// A small block of [`atan_in_place`] in one 512-bit register, which the compiler, preferring
/// 256-bit vectors, does not use by itself: the same operations lane by lane.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
mod simd {
    use super::{LANES, TAN_PI_8};
    use std::arch::x86_64::*;

    /// If every magnitude in `block` is at most tan(π/8) (NaN is not), its atan in place, as
    /// `(0.0 + odd_polynomial(|x|)).copysign(x)`, and `true`; else `false`, untouched.
    #[target_feature(enable = "avx512f")]
    pub(super) fn small_block(block: &mut [f32; LANES]) -> bool {
        // SAFETY: `block` holds sixteen values.
        let x = unsafe { _mm512_loadu_ps(block.as_ptr()) };
        let a = _mm512_abs_ps(x);
        if _mm512_cmp_ps_mask::<_CMP_LE_OQ>(a, _mm512_set1_ps(TAN_PI_8)) != !0 {
            return false;
        }
        let c = _mm512_set1_ps;
        let z2 = _mm512_mul_ps(a, a);
        let p = _mm512_sub_ps(_mm512_mul_ps(c(8.053_744_5e-2), z2), c(1.387_768_5e-1));
        let p = _mm512_add_ps(_mm512_mul_ps(p, z2), c(1.997_771_1e-1));
        let p = _mm512_sub_ps(_mm512_mul_ps(p, z2), c(3.333_295e-1));
        let r = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, z2), a), a);
        let r = _mm512_add_ps(_mm512_setzero_ps(), r);
        // copysign: the magnitude of r, the sign of x.
        let sign = _mm512_set1_epi32(i32::MIN);
        let bits = _mm512_or_si512(
            _mm512_andnot_si512(sign, _mm512_castps_si512(r)),
            _mm512_and_si512(sign, _mm512_castps_si512(x)),
        );
        // SAFETY: as the load.
        unsafe { _mm512_storeu_ps(block.as_mut_ptr(), _mm512_castsi512_ps(bits)) };
        true
    }
}
