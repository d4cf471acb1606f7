//! One neuron's forward step, exactly as the synchronous engine's layer kernel computes it
//! (`neuron::layer`: Euler, semi-implicit or RK4, then the clamp at zero), and its
//! vector-Jacobian product: the step of the discrete adjoint.
//!
//! The forward expressions are written in the kernel's order of operations, so in `f32` a
//! step gives the engine's numbers. The adjoint of the clamp is 0 where the step clamped
//! (the pre-clamp value was negative) and 1 elsewhere.

use super::real::Real;
use crate::neuron::{Integrator, ELEMENTS};

/// Index of the element feeding element `i` in the forward system (generative loop).
#[inline(always)]
const fn src(i: usize) -> usize {
    (i + 4) % ELEMENTS
}

/// Index of the element inhibiting element `i` in the forward system.
#[inline(always)]
const fn inh(i: usize) -> usize {
    (i + 3) % ELEMENTS
}

/// The forward-system rates of one neuron in the kernel's form
/// `d_i = gen_i x_{i-1} - decay_i x_i - inhib_i x_i x_{i-2} (+ u at the input element)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit<T> {
    pub gen: [T; ELEMENTS],
    pub decay: [T; ELEMENTS],
    pub inhib: [T; ELEMENTS],
}

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
    #[inline(always)]
    fn clamp(&self, v: T) -> T {
        if self.clamp && v < T::ZERO {
            T::ZERO
        } else {
            v
        }
    }

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

/// Time derivative of the forward system (the RK4 kernel's form).
#[inline(always)]
fn derivative<T: Real>(c: &Unit<T>, x: &[T; 5], u: T, input: usize) -> [T; 5] {
    std::array::from_fn(|i| {
        let mut d = c.gen[i] * x[src(i)] - c.decay[i] * x[i] - c.inhib[i] * x[i] * x[inh(i)];
        if i == input {
            d += u;
        }
        d
    })
}

/// Adjoint of [`derivative`] at `z`: returns (wᵀ ∂f/∂z, wᵀ ∂f/∂u).
#[inline(always)]
fn derivative_adjoint<T: Real>(c: &Unit<T>, z: &[T; 5], w: &[T; 5], input: usize) -> ([T; 5], T) {
    let mut a = [T::ZERO; 5];
    for i in 0..ELEMENTS {
        let (s, q) = (src(i), inh(i));
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

/// The state after one step from `x` under input current `u`, before the clamp.
#[inline(always)]
pub fn raw_step<T: Real>(c: &Unit<T>, s: &Scheme<T>, x: &[T; 5], u: T) -> [T; 5] {
    let dt = s.dt;
    match s.integrator {
        Integrator::Euler | Integrator::SemiImplicit => std::array::from_fn(|i| {
            let m = if i == s.input { T::ONE } else { T::ZERO };
            let produce = c.gen[i] * x[src(i)] + m * u;
            let loss_rate = c.decay[i] + c.inhib[i] * x[inh(i)];
            if s.integrator == Integrator::SemiImplicit {
                (x[i] + dt * produce) / (T::ONE + dt * loss_rate)
            } else {
                x[i] + dt * (produce - loss_rate * x[i])
            }
        }),
        Integrator::Rk4 => {
            let half = dt / T::from_f32(2.0);
            let k1 = derivative(c, x, u, s.input);
            let k2 = derivative(c, &axpy(x, half, &k1), u, s.input);
            let k3 = derivative(c, &axpy(x, half, &k2), u, s.input);
            let k4 = derivative(c, &axpy(x, dt, &k3), u, s.input);
            let sixth = dt / T::from_f32(6.0);
            let two = T::from_f32(2.0);
            std::array::from_fn(|i| x[i] + sixth * (k1[i] + two * k2[i] + two * k3[i] + k4[i]))
        }
    }
}

/// One step of the engine: [`raw_step`], then the clamp. Returns the new state and how many
/// elements the clamp set to zero.
#[inline(always)]
pub fn step<T: Real>(c: &Unit<T>, s: &Scheme<T>, x: &[T; 5], u: T) -> ([T; 5], usize) {
    let raw = raw_step(c, s, x, u);
    let clamped = raw.iter().filter(|&&v| s.clamp && v < T::ZERO).count();
    (raw.map(|v| s.clamp(v)), clamped)
}

/// The adjoint of one step: given `lambda`, the adjoint of the state after the step taken
/// from `x` under current `u`, returns the adjoint of `x` and of `u`.
///
/// This is the exact derivative of [`step`] (recomputed from `x`, so the forward pass only
/// stores states): the clamp passes the adjoint where it did not act; Euler and the
/// semi-implicit scheme are differentiated in closed form, RK4 stage by stage in reverse.
/// Cost: about three times a forward step (five for RK4).
pub fn step_adjoint<T: Real>(
    c: &Unit<T>,
    s: &Scheme<T>,
    x: &[T; 5],
    u: T,
    lambda: &[T; 5],
) -> ([T; 5], T) {
    let dt = s.dt;
    match s.integrator {
        Integrator::Euler => {
            let mut a = [T::ZERO; 5];
            let mut au = T::ZERO;
            for i in 0..ELEMENTS {
                let (p, q) = (src(i), inh(i));
                let m = if i == s.input { T::ONE } else { T::ZERO };
                let loss_rate = c.decay[i] + c.inhib[i] * x[q];
                let raw = x[i] + dt * (c.gen[i] * x[p] + m * u - loss_rate * x[i]);
                let mu = s.pass(raw, lambda[i]);
                a[i] += mu * (T::ONE - dt * loss_rate);
                a[p] += mu * dt * c.gen[i];
                a[q] += -(mu * dt * c.inhib[i] * x[i]);
                au += mu * dt * m;
            }
            (a, au)
        }
        Integrator::SemiImplicit => {
            let mut a = [T::ZERO; 5];
            let mut au = T::ZERO;
            for i in 0..ELEMENTS {
                let (p, q) = (src(i), inh(i));
                let m = if i == s.input { T::ONE } else { T::ZERO };
                let den = T::ONE + dt * (c.decay[i] + c.inhib[i] * x[q]);
                let raw = (x[i] + dt * (c.gen[i] * x[p] + m * u)) / den;
                let mu = s.pass(raw, lambda[i]) / den;
                a[i] += mu;
                a[p] += mu * dt * c.gen[i];
                a[q] += -(mu * raw * dt * c.inhib[i]);
                au += mu * dt * m;
            }
            (a, au)
        }
        Integrator::Rk4 => {
            let half = dt / T::from_f32(2.0);
            let k1 = derivative(c, x, u, s.input);
            let z2 = axpy(x, half, &k1);
            let k2 = derivative(c, &z2, u, s.input);
            let z3 = axpy(x, half, &k2);
            let k3 = derivative(c, &z3, u, s.input);
            let z4 = axpy(x, dt, &k3);
            let k4 = derivative(c, &z4, u, s.input);
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
