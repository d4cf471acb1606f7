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
#[inline(always)]
fn adjoint<T: Real, const K: u8>(
    c: &Coefficients<T>,
    s: &Scheme<T>,
    x: &[T; 5],
    u: T,
    lambda: &[T; 5],
) -> ([T; 5], T) {
    let dt = s.dt;
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
                } else {
                    let loss_rate = c.decay[i] + c.inhib[i] * x[q];
                    let mu = s.pass(v[i], lambda[i]);
                    a[i] += mu * (T::ONE - dt * loss_rate);
                    a[p] += mu * dt * c.gen[i];
                    a[q] += -(mu * dt * c.inhib[i] * x[i]);
                    au += mu * dt * m;
                }
            }
            (a, au)
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
            let (az4, mut au) = derivative_adjoint(c, &z4, &ak4, s.input);
            for i in 0..ELEMENTS {
                ax[i] += az4[i];
                ak3[i] += dt * az4[i];
            }
            let (az3, u3) = derivative_adjoint(c, &z3, &ak3, s.input);
            for i in 0..ELEMENTS {
                ax[i] += az3[i];
                ak2[i] += half * az3[i];
            }
            let (az2, u2) = derivative_adjoint(c, &z2, &ak2, s.input);
            for i in 0..ELEMENTS {
                ax[i] += az2[i];
                ak1[i] += half * az2[i];
            }
            let (az1, u1) = derivative_adjoint(c, x, &ak1, s.input);
            for i in 0..ELEMENTS {
                ax[i] += az1[i];
            }
            au += u3 + u2 + u1;
            (ax, au)
        }
    }
}

/// The adjoint of one neuron's step in `f32` (see [`adjoint_layer`] for whole layers): from
/// `lambda`, the adjoint of the state after the step taken from `x` under current `u`, the
/// adjoint of the state before it and of `u`.
pub fn adjoint_step(
    c: &Coefficients<f32>,
    s: &Scheme<f32>,
    x: &[f32; ELEMENTS],
    u: f32,
    lambda: &[f32; ELEMENTS],
) -> ([f32; ELEMENTS], f32) {
    match kernel::code(s.integrator) {
        EULER => adjoint::<f32, EULER>(c, s, x, u, lambda),
        SEMI_IMPLICIT => adjoint::<f32, SEMI_IMPLICIT>(c, s, x, u, lambda),
        _ => adjoint::<f32, RK4>(c, s, x, u, lambda),
    }
}

/// The adjoint of `neuron::layer::step` on the forward system for one step: adds `a` (the
/// adjoint of the output signal) to the output element's λ, then replaces λ (adjoint of
/// the state after the step) by the adjoint of the state before it (`xs`, recorded) and
/// writes the adjoint of the input current `us` into `g`.
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
) {
    let n = c.n;
    match (kernel::code(s.integrator), c.shared()) {
        (EULER, Some(u)) => adj::<T, EULER>(|_| u, n, s, output, xs, us, a, lambda, g),
        (EULER, None) => adj::<T, EULER>(|j| c.get(j), n, s, output, xs, us, a, lambda, g),
        (SEMI_IMPLICIT, Some(u)) => {
            adj::<T, SEMI_IMPLICIT>(|_| u, n, s, output, xs, us, a, lambda, g)
        }
        (SEMI_IMPLICIT, None) => {
            adj::<T, SEMI_IMPLICIT>(|j| c.get(j), n, s, output, xs, us, a, lambda, g)
        }
        (_, Some(u)) => adj::<T, RK4>(|_| u, n, s, output, xs, us, a, lambda, g),
        (_, None) => adj::<T, RK4>(|j| c.get(j), n, s, output, xs, us, a, lambda, g),
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn adj<T: Real, const K: u8>(
    unit: impl Fn(usize) -> Coefficients<T>,
    n: usize,
    s: &Scheme<T>,
    output: usize,
    xs: [&[T]; ELEMENTS],
    us: &[T],
    a: &[T],
    lambda: &mut [Vec<T>; ELEMENTS],
    g: &mut [T],
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
            let (back, gu) = adjoint::<T, K>(&c, s, &x, us[idx], &lam);
            l0[idx] = back[0];
            l1[idx] = back[1];
            l2[idx] = back[2];
            l3[idx] = back[3];
            l4[idx] = back[4];
            g[idx] = gu;
        }
    }
}
