//! The vector-Jacobian product of one neuron's step: the step of the discrete adjoint.
//!
//! It differentiates exactly the step the engines take (`neuron::kernel::raw`: Euler,
//! semi-implicit or RK4 on the forward system, then the clamp at zero), recomputing the
//! step from the recorded state before it, so the adjoint's forward pass is the engine's own
//! layer kernel (`neuron::layer::step`, generic over the number type) and a change to the
//! neuron step cannot leave the gradient behind. The adjoint of the clamp is 0 where the
//! step clamped (the pre-clamp value was negative) and 1 elsewhere. [`adjoint_layer`] runs
//! it over a layer's samples and neurons stored structure-of-arrays, so that the loop
//! vectorises like the engine's.
//!
//! With [`Rates`] it also accumulates the adjoint of the neuron's fifteen rates (K1, K2,
//! K3 of each element of the forward system): through every step, and, by the implicit
//! function theorem, through the rest state the window starts from ([`rest_rates`]).

use super::kernel::{self, derivative, inh, src, EULER, RK4, SEMI_IMPLICIT};
use super::layer::LayerCoefficients;
use super::{Coefficients, Integrator, ELEMENTS};
use crate::real::Real;

/// How a step is taken: scheme, step size, clamp and input element.
#[derive(Debug, Clone, Copy)]
pub struct Scheme<T> {
    pub integrator: Integrator,
    pub dt: T,
    pub clamp: bool,
    /// Element receiving the input current.
    pub input: usize,
}

impl<T: Real> Scheme<T> {
    /// 0 where the clamp acted on the pre-clamp value `v`, else 1, applied to `a`.
    #[inline(always)]
    fn pass(&self, v: T, a: T) -> T {
        if self.clamp && v < T::ZERO {
            T::ZERO
        } else {
            a
        }
    }
}

/// Which rate of a forward system's element: `K1` (generative, `gen`), `K2` (self-decay,
/// `decay`), `K3` (inhibition, `inhib`); the index into a [`RateAdjoint`].
pub const K1: usize = 0;
pub const K2: usize = 1;
pub const K3: usize = 2;

/// The adjoint of one neuron's fifteen rates, `[K1, K2, K3][element]`.
pub type RateAdjoint<T> = [[T; ELEMENTS]; 3];

/// Per-(sample, neuron) accumulators of [`RateAdjoint`], structure-of-arrays like the
/// layer's state: `rates[rate][element][row · n + j]`.
pub type Rates<T> = [[Vec<T>; ELEMENTS]; 3];

/// wᵀ ∂f/∂k at `z` for the forward system: f_i = K1_i z_src − K2_i z_i − K3_i z_i z_inh.
#[inline(always)]
fn rates_of<T: Real>(z: &[T; 5], w: &[T; 5]) -> RateAdjoint<T> {
    let mut r = [[T::ZERO; 5]; 3];
    for i in 0..ELEMENTS {
        let (s, q) = (src(i, false), inh(i, false));
        r[K1][i] = w[i] * z[s];
        r[K2][i] = -(w[i] * z[i]);
        r[K3][i] = -(w[i] * z[i] * z[q]);
    }
    r
}

#[inline(always)]
fn add_rates<T: Real>(acc: &mut RateAdjoint<T>, r: &RateAdjoint<T>) {
    for (a, b) in acc.iter_mut().zip(r) {
        for (x, y) in a.iter_mut().zip(b) {
            *x += *y;
        }
    }
}

/// Adjoint of [`derivative`] at `z`: returns (wᵀ ∂f/∂z, wᵀ ∂f/∂u).
#[inline(always)]
fn derivative_adjoint<T: Real>(
    c: &Coefficients<T>,
    z: &[T; 5],
    w: &[T; 5],
    input: usize,
) -> ([T; 5], T) {
    let mut a = [T::ZERO; 5];
    for i in 0..ELEMENTS {
        let (s, q) = (src(i, false), inh(i, false));
        a[s] += w[i] * c.gen[i];
        a[i] += w[i] * (-c.decay[i] - c.inhib[i] * z[q]);
        a[q] += -(w[i] * c.inhib[i] * z[i]);
    }
    (a, w[input])
}

/// ∂f/∂x of the forward system at `x`: `jac[i][k] = ∂f_i/∂x_k`.
fn jacobian<T: Real>(c: &Coefficients<T>, x: &[T; 5]) -> [[T; 5]; 5] {
    let mut jac = [[T::ZERO; 5]; 5];
    for i in 0..ELEMENTS {
        let (s, q) = (src(i, false), inh(i, false));
        jac[i][s] += c.gen[i];
        jac[i][i] += -c.decay[i] - c.inhib[i] * x[q];
        jac[i][q] += -(c.inhib[i] * x[i]);
    }
    jac
}

/// Solves `a · y = b` for a 5 × 5 system by Gaussian elimination with partial pivoting;
/// `None` when `a` is singular.
fn solve5<T: Real>(mut a: [[T; 5]; 5], mut b: [T; 5]) -> Option<[T; 5]> {
    let abs = |v: T| if v < T::ZERO { -v } else { v };
    for col in 0..5 {
        let pivot = (col..5).max_by(|&p, &q| {
            abs(a[p][col])
                .partial_cmp(&abs(a[q][col]))
                .unwrap_or(std::cmp::Ordering::Equal)
        })?;
        // Also refuses NaN pivots.
        if abs(a[pivot][col]).partial_cmp(&T::ZERO) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..5 {
            let f = a[row][col] / a[col][col];
            for k in col..5 {
                let v = a[col][k];
                a[row][k] = a[row][k] - f * v;
            }
            let v = b[col];
            b[row] = b[row] - f * v;
        }
    }
    let mut y = [T::ZERO; 5];
    for row in (0..5).rev() {
        let mut v = b[row];
        for k in row + 1..5 {
            v = v - a[row][k] * y[k];
        }
        y[row] = v / a[row][row];
    }
    Some(y)
}

/// The rates' adjoint through the rest state: a window starts from the fixed point x* of
/// f(x*, k) = 0, so with `lambda0` the adjoint of the initial state, the implicit function
/// theorem gives λ0 · ∂x*/∂k = −(J⁻ᵀ λ0) · ∂f/∂k, J = ∂f/∂x at x*. `None` when J is
/// singular (no isolated fixed point).
pub fn rest_rates<T: Real>(
    c: &Coefficients<T>,
    rest: &[T; 5],
    lambda0: &[T; 5],
) -> Option<RateAdjoint<T>> {
    let jac = jacobian(c, rest);
    let jt: [[T; 5]; 5] = std::array::from_fn(|i| std::array::from_fn(|k| jac[k][i]));
    let w = solve5(jt, *lambda0)?;
    Some(rates_of(rest, &w.map(|v| -v)))
}

/// The forward system's fixed point nearest `start` by Newton's method in `T` (for checks
/// that move one rate and need the rest state it implies to full precision). `None` when
/// Newton does not converge.
pub fn fixed_point_near<T: Real>(c: &Coefficients<T>, start: &[T; 5]) -> Option<[T; 5]> {
    let mut x = *start;
    for _ in 0..100 {
        let f = kernel::derivative::<T, false>(c, &x, T::ZERO, 0);
        let dx = solve5(jacobian(c, &x), f)?;
        let mut size = T::ZERO;
        for k in 0..5 {
            x[k] = x[k] - dx[k];
            size += dx[k] * dx[k];
        }
        if size.to_f64() < 1e-28 {
            return Some(x);
        }
    }
    None
}

#[inline(always)]
fn axpy<T: Real>(x: &[T; 5], s: T, k: &[T; 5]) -> [T; 5] {
    std::array::from_fn(|i| x[i] + s * k[i])
}

/// The adjoint of one step: given `lambda`, the adjoint of the state after the (clamped)
/// step taken from `x` under current `u`, returns the adjoint of `x` and of `u`.
///
/// This is the exact derivative of the step (recomputed from `x`, so the forward pass only
/// stores states): the clamp passes the adjoint where it did not act; Euler and the
/// semi-implicit scheme are differentiated in closed form, RK4 stage by stage in reverse.
/// Cost: about three times a forward step (five for RK4).
///
/// With `P`, also the adjoint of the rates through this step (otherwise zeros).
#[inline(always)]
fn adjoint<T: Real, const K: u8, const P: bool>(
    c: &Coefficients<T>,
    s: &Scheme<T>,
    x: &[T; 5],
    u: T,
    lambda: &[T; 5],
) -> ([T; 5], T, RateAdjoint<T>) {
    let dt = s.dt;
    let mut r = [[T::ZERO; 5]; 3];
    match K {
        EULER | SEMI_IMPLICIT => {
            // The step itself, for where the clamp acted (and the semi-implicit quotient).
            let v = kernel::raw::<T, false, K>(c, x, s.input, u, dt);
            let mut a = [T::ZERO; 5];
            let mut au = T::ZERO;
            for i in 0..ELEMENTS {
                let (p, q) = (src(i, false), inh(i, false));
                let m = if i == s.input { T::ONE } else { T::ZERO };
                if K == SEMI_IMPLICIT {
                    let den = T::ONE + dt * (c.decay[i] + c.inhib[i] * x[q]);
                    let mu = s.pass(v[i], lambda[i]) / den;
                    a[i] += mu;
                    a[p] += mu * dt * c.gen[i];
                    a[q] += -(mu * v[i] * dt * c.inhib[i]);
                    au += mu * dt * m;
                    if P {
                        r[K1][i] = mu * dt * x[p];
                        r[K2][i] = -(mu * v[i] * dt);
                        r[K3][i] = -(mu * v[i] * dt * x[q]);
                    }
                } else {
                    let loss_rate = c.decay[i] + c.inhib[i] * x[q];
                    let mu = s.pass(v[i], lambda[i]);
                    a[i] += mu * (T::ONE - dt * loss_rate);
                    a[p] += mu * dt * c.gen[i];
                    a[q] += -(mu * dt * c.inhib[i] * x[i]);
                    au += mu * dt * m;
                    if P {
                        r[K1][i] = mu * dt * x[p];
                        r[K2][i] = -(mu * dt * x[i]);
                        r[K3][i] = -(mu * dt * x[i] * x[q]);
                    }
                }
            }
            (a, au, r)
        }
        _ => {
            let half = dt / T::from_f32(2.0);
            let k1 = derivative::<T, false>(c, x, u, s.input);
            let z2 = axpy(x, half, &k1);
            let k2 = derivative::<T, false>(c, &z2, u, s.input);
            let z3 = axpy(x, half, &k2);
            let k3 = derivative::<T, false>(c, &z3, u, s.input);
            let z4 = axpy(x, dt, &k3);
            let k4 = derivative::<T, false>(c, &z4, u, s.input);
            let sixth = dt / T::from_f32(6.0);
            let two = T::from_f32(2.0);
            let mu: [T; 5] = std::array::from_fn(|i| {
                let raw = x[i] + sixth * (k1[i] + two * k2[i] + two * k3[i] + k4[i]);
                s.pass(raw, lambda[i])
            });
            let mut ax = mu;
            let mut ak1 = mu.map(|v| sixth * v);
            let mut ak2 = mu.map(|v| two * sixth * v);
            let mut ak3 = ak2;
            let ak4 = ak1;
            if P {
                add_rates(&mut r, &rates_of(&z4, &ak4));
            }
            let (az4, mut au) = derivative_adjoint(c, &z4, &ak4, s.input);
            for i in 0..ELEMENTS {
                ax[i] += az4[i];
                ak3[i] += dt * az4[i];
            }
            if P {
                add_rates(&mut r, &rates_of(&z3, &ak3));
            }
            let (az3, u3) = derivative_adjoint(c, &z3, &ak3, s.input);
            for i in 0..ELEMENTS {
                ax[i] += az3[i];
                ak2[i] += half * az3[i];
            }
            if P {
                add_rates(&mut r, &rates_of(&z2, &ak2));
            }
            let (az2, u2) = derivative_adjoint(c, &z2, &ak2, s.input);
            for i in 0..ELEMENTS {
                ax[i] += az2[i];
                ak1[i] += half * az2[i];
            }
            if P {
                add_rates(&mut r, &rates_of(x, &ak1));
            }
            let (az1, u1) = derivative_adjoint(c, x, &ak1, s.input);
            for i in 0..ELEMENTS {
                ax[i] += az1[i];
            }
            au += u3 + u2 + u1;
            (ax, au, r)
        }
    }
}

/// The adjoint of one neuron's step in `f32` (see [`adjoint_layer`] for whole layers): from
/// `lambda`, the adjoint of the state after the step taken from `x` under current `u`, the
/// adjoint of the state before it and of `u`, and with `rates` the adjoint of the neuron's
/// fifteen rates through this step (zeros without).
pub fn adjoint_step(
    c: &Coefficients<f32>,
    s: &Scheme<f32>,
    (x, u): (&[f32; ELEMENTS], f32),
    lambda: &[f32; ELEMENTS],
    rates: bool,
) -> ([f32; ELEMENTS], f32, RateAdjoint<f32>) {
    match (kernel::code(s.integrator), rates) {
        (EULER, false) => adjoint::<f32, EULER, false>(c, s, x, u, lambda),
        (EULER, true) => adjoint::<f32, EULER, true>(c, s, x, u, lambda),
        (SEMI_IMPLICIT, false) => adjoint::<f32, SEMI_IMPLICIT, false>(c, s, x, u, lambda),
        (SEMI_IMPLICIT, true) => adjoint::<f32, SEMI_IMPLICIT, true>(c, s, x, u, lambda),
        (_, false) => adjoint::<f32, RK4, false>(c, s, x, u, lambda),
        (_, true) => adjoint::<f32, RK4, true>(c, s, x, u, lambda),
    }
}

/// The adjoint of `neuron::layer::step` on the forward system for one step: adds `a` (the
/// adjoint of the output signal) to the output element's λ, then replaces λ (adjoint of
/// the state after the step) by the adjoint of the state before it (`xs`, recorded) and
/// writes the adjoint of the input current `us` into `g`. With `rates`, also adds each
/// (sample, neuron)'s rate adjoint through this step into it.
#[allow(clippy::too_many_arguments)]
pub fn adjoint_layer<T: Real>(
    c: &LayerCoefficients<T>,
    s: &Scheme<T>,
    output: usize,
    xs: [&[T]; ELEMENTS],
    us: &[T],
    a: &[T],
    lambda: &mut [Vec<T>; ELEMENTS],
    g: &mut [T],
    rates: Option<&mut Rates<T>>,
) {
    match rates {
        None => dispatch::<T, false>(c, s, output, xs, us, a, lambda, g, None),
        Some(r) => dispatch::<T, true>(c, s, output, xs, us, a, lambda, g, Some(r)),
    }
}

#[allow(clippy::too_many_arguments)]
fn dispatch<T: Real, const P: bool>(
    c: &LayerCoefficients<T>,
    s: &Scheme<T>,
    output: usize,
    xs: [&[T]; ELEMENTS],
    us: &[T],
    a: &[T],
    lambda: &mut [Vec<T>; ELEMENTS],
    g: &mut [T],
    rates: Option<&mut Rates<T>>,
) {
    let n = c.n;
    let io = (s, output, xs, us, a);
    match (kernel::code(s.integrator), c.shared()) {
        (EULER, Some(u)) => adj::<T, EULER, P>(|_| u, n, io, lambda, g, rates),
        (EULER, None) => adj::<T, EULER, P>(|j| c.get(j), n, io, lambda, g, rates),
        (SEMI_IMPLICIT, Some(u)) => adj::<T, SEMI_IMPLICIT, P>(|_| u, n, io, lambda, g, rates),
        (SEMI_IMPLICIT, None) => adj::<T, SEMI_IMPLICIT, P>(|j| c.get(j), n, io, lambda, g, rates),
        (_, Some(u)) => adj::<T, RK4, P>(|_| u, n, io, lambda, g, rates),
        (_, None) => adj::<T, RK4, P>(|j| c.get(j), n, io, lambda, g, rates),
    }
}

/// What one step's adjoint reads: the scheme, the output element, the recorded states and
/// currents, and the output signal's adjoint.
type StepIo<'a, T> = (&'a Scheme<T>, usize, [&'a [T]; ELEMENTS], &'a [T], &'a [T]);

#[inline(always)]
fn adj<T: Real, const K: u8, const P: bool>(
    unit: impl Fn(usize) -> Coefficients<T>,
    n: usize,
    (s, output, xs, us, a): StepIo<'_, T>,
    lambda: &mut [Vec<T>; ELEMENTS],
    g: &mut [T],
    mut rates: Option<&mut Rates<T>>,
) {
    let len = us.len();
    let [l0, l1, l2, l3, l4] = lambda;
    let (l0, l1, l2, l3, l4) = (
        &mut l0[..len],
        &mut l1[..len],
        &mut l2[..len],
        &mut l3[..len],
        &mut l4[..len],
    );
    let [y0, y1, y2, y3, y4] = xs.map(|v| &v[..len]);
    let (a, g) = (&a[..len], &mut g[..len]);
    // The output signal's adjoint first, in its own pass (as the kernel writes the signal).
    let lo: &mut [T] = match output {
        0 => l0,
        1 => l1,
        2 => l2,
        3 => l3,
        _ => l4,
    };
    for (l, &av) in lo.iter_mut().zip(a) {
        *l += av;
    }
    for o in (0..len).step_by(n.max(1)) {
        for j in 0..n {
            let idx = o + j;
            let c = unit(j);
            let lam = [l0[idx], l1[idx], l2[idx], l3[idx], l4[idx]];
            let x = [y0[idx], y1[idx], y2[idx], y3[idx], y4[idx]];
            let (back, gu, r) = adjoint::<T, K, P>(&c, s, &x, us[idx], &lam);
            l0[idx] = back[0];
            l1[idx] = back[1];
            l2[idx] = back[2];
            l3[idx] = back[3];
            l4[idx] = back[4];
            g[idx] = gu;
            if P {
                if let Some(acc) = rates.as_deref_mut() {
                    for (dst, src) in acc.iter_mut().zip(&r) {
                        for (d, &v) in dst.iter_mut().zip(src) {
                            d[idx] += v;
                        }
                    }
                }
            }
        }
    }
}
