//! The BSP learning rule's local pieces: the output error that starts the backward wave,
//! the modulation signal G1 = ∫D_pre dt · ∫D̂_post dt (paper Eq. 22) and its limiter
//! G2 = atan(kt · G1) / kt (Eq. 18).
//!
//! Nothing here reads a global quantity: the output error is formed from an output neuron's
//! own readout and the teacher value; G1 and G2 from one synapse's (or one neuron's) two
//! traces.

use crate::config::ErrorKind;

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
    let (base, z) = if big {
        (FRAC_PI_2, -1.0 / a)
    } else if mid {
        (FRAC_PI_4, (a - 1.0) / (a + 1.0))
    } else {
        (0.0, a)
    };
    let z2 = z * z;
    let p = ((8.053_744_5e-2 * z2 - 1.387_768_5e-1) * z2 + 1.997_771_1e-1) * z2 - 3.333_295e-1;
    (base + (p * z2 * z + z)).copysign(x)
}

/// How the output error is formed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputError {
    pub kind: ErrorKind,
    /// Softmax inverse temperature.
    pub beta: f32,
    /// Height of the squared error's one-hot target.
    pub amplitude: f32,
}

impl OutputError {
    /// Writes the error `e` injected into the reversed output systems for readout `y` and
    /// class `label`, and returns the sample's loss (half squared error, or cross-entropy of
    /// softmax(beta · y)).
    ///
    /// `squared`: e = amplitude · onehot − y. `softmax`: e = onehot − softmax(beta · y). Both
    /// are minus the derivative of their loss with respect to y (up to the factor beta for
    /// softmax), so injecting e descends the loss.
    pub fn error(&self, y: &[f32], label: usize, e: &mut [f32]) -> f32 {
        match self.kind {
            ErrorKind::Squared => {
                let mut loss = 0.0;
                for (k, (ek, &yk)) in e.iter_mut().zip(y).enumerate() {
                    let target = if k == label { self.amplitude } else { 0.0 };
                    *ek = target - yk;
                    loss += 0.5 * *ek * *ek;
                }
                loss
            }
            ErrorKind::Softmax => {
                let max = y
                    .iter()
                    .fold(f32::NEG_INFINITY, |m, &v| m.max(self.beta * v));
                let mut z = 0.0f32;
                for (ek, &yk) in e.iter_mut().zip(y) {
                    *ek = (self.beta * yk - max).exp();
                    z += *ek;
                }
                for (k, ek) in e.iter_mut().enumerate() {
                    let p = *ek / z;
                    *ek = if k == label { 1.0 - p } else { -p };
                }
                let logit = self.beta * y[label] - max;
                z.ln() - logit
            }
        }
    }
}

/// Index of the largest value (first on ties).
pub fn argmax(y: &[f32]) -> usize {
    let mut best = 0;
    for (k, &v) in y.iter().enumerate() {
        if v > y[best] {
            best = k;
        }
    }
    best
}
