//! The one neuron step every engine and the adjoint take: a five-element system advanced by
//! one step of an integrator, generic over the number type (`f32` to train, `f64` to check),
//! with the system's couplings and the scheme fixed at compile time.
//!
//! [`raw`] is the step before the clamp, in the order of operations the engines rely on
//! for bit-identical results: the batched layer kernel (`neuron::layer`), an asynchronous
//! actor stepping alone, and the discrete adjoint's forward pass all call it, and the
//! adjoint's vector-Jacobian product (`neuron::adjoint`) differentiates exactly it.
//! `step_one` in `neuron` stays the textbook form `x + dt·f(x)`, the independent reference
//! the tests hold this kernel against.

use super::{Coefficients, Integrator, ELEMENTS};
use crate::real::Real;

/// Scheme codes for the monomorphised kernels (a `const` parameter).
pub const EULER: u8 = 0;
pub const SEMI_IMPLICIT: u8 = 1;
pub const RK4: u8 = 2;

/// The scheme code of an integrator.
pub fn code(i: Integrator) -> u8 {
    match i {
        Integrator::Euler => EULER,
        Integrator::SemiImplicit => SEMI_IMPLICIT,
        Integrator::Rk4 => RK4,
    }
}

/// Index of the element feeding element `i` through the generative loop (`REV`: the
/// reversed system).
#[inline(always)]
pub const fn src(i: usize, rev: bool) -> usize {
    if rev {
        (i + 1) % ELEMENTS
    } else {
        (i + 4) % ELEMENTS
    }
}

/// Index of the element inhibiting element `i`.
#[inline(always)]
pub const fn inh(i: usize, rev: bool) -> usize {
    if rev {
        (i + 2) % ELEMENTS
    } else {
        (i + 3) % ELEMENTS
    }
}

/// Clamp at zero that keeps NaN (so divergence stays visible).
#[inline(always)]
pub fn clamp_nonneg<T: Real>(v: T) -> T {
    if v < T::ZERO {
        T::ZERO
    } else {
        v
    }
}

/// Time derivative of the system at `x` under current `u` into element `input` (paper
/// Eq. 11 / 13): `g_i x_src − k2_i x_i − h_i x_i x_inh (+ u)`.
#[inline(always)]
pub fn derivative<T: Real, const REV: bool>(
    c: &Coefficients<T>,
    x: &[T; ELEMENTS],
    u: T,
    input: usize,
) -> [T; ELEMENTS] {
    std::array::from_fn(|i| {
        let d = c.gen[i] * x[src(i, REV)] - c.decay[i] * x[i] - c.inhib[i] * x[i] * x[inh(i, REV)];
        if i == input {
            d + u
        } else {
            d
        }
    })
}

#[inline(always)]
fn axpy<T: Real>(x: &[T; ELEMENTS], s: T, k: &[T; ELEMENTS]) -> [T; ELEMENTS] {
    std::array::from_fn(|i| x[i] + s * k[i])
}

/// One step of scheme `K` from `x` under current `u` into element `input`, before the clamp.
///
/// Euler: `x + dt (g x_src + u − (k2 + h x_inh) x)`; semi-implicit (Patankar):
/// `(x + dt (g x_src + u)) / (1 + dt (k2 + h x_inh))`; RK4: the classical four stages.
/// Cost: about 20 flops per neuron (Euler), four times that for RK4.
#[inline(always)]
pub fn raw<T: Real, const REV: bool, const K: u8>(
    c: &Coefficients<T>,
    x: &[T; ELEMENTS],
    input: usize,
    u: T,
    dt: T,
) -> [T; ELEMENTS] {
    match K {
        EULER | SEMI_IMPLICIT => std::array::from_fn(|i| {
            // The current enters only its element (a select, not a 0/1 factor: `0 * u`
            // would cost a multiply and an add in every element of the batched loops).
            let drive = c.gen[i] * x[src(i, REV)];
            let produce = if i == input { drive + u } else { drive };
            let loss_rate = c.decay[i] + c.inhib[i] * x[inh(i, REV)];
            if K == SEMI_IMPLICIT {
                (x[i] + dt * produce) / (T::ONE + dt * loss_rate)
            } else {
                x[i] + dt * (produce - loss_rate * x[i])
            }
        }),
        _ => {
            let half = dt / T::from_f32(2.0);
            let k1 = derivative::<T, REV>(c, x, u, input);
            let k2 = derivative::<T, REV>(c, &axpy(x, half, &k1), u, input);
            let k3 = derivative::<T, REV>(c, &axpy(x, half, &k2), u, input);
            let k4 = derivative::<T, REV>(c, &axpy(x, dt, &k3), u, input);
            let sixth = dt / T::from_f32(6.0);
            let two = T::from_f32(2.0);
            std::array::from_fn(|i| x[i] + sixth * (k1[i] + two * k2[i] + two * k3[i] + k4[i]))
        }
    }
}

/// One clamped (if `clamp`) step of a single neuron, dispatched on the system and scheme:
/// what an asynchronous actor takes when it steps alone.
#[allow(clippy::too_many_arguments)]
pub fn step<T: Real>(
    reversed: bool,
    integrator: Integrator,
    c: &Coefficients<T>,
    x: &[T; ELEMENTS],
    input: usize,
    u: T,
    dt: T,
    clamp: bool,
) -> [T; ELEMENTS] {
    let next = match (reversed, code(integrator)) {
        (false, EULER) => raw::<T, false, EULER>(c, x, input, u, dt),
        (false, SEMI_IMPLICIT) => raw::<T, false, SEMI_IMPLICIT>(c, x, input, u, dt),
        (false, _) => raw::<T, false, RK4>(c, x, input, u, dt),
        (true, EULER) => raw::<T, true, EULER>(c, x, input, u, dt),
        (true, SEMI_IMPLICIT) => raw::<T, true, SEMI_IMPLICIT>(c, x, input, u, dt),
        (true, _) => raw::<T, true, RK4>(c, x, input, u, dt),
    };
    if clamp {
        next.map(clamp_nonneg)
    } else {
        next
    }
}
