//! One neuron's forward step, exactly as the synchronous engine's layer kernel computes it
//! (`neuron::layer`: Euler, semi-implicit or RK4, then the clamp at zero), and its
//! vector-Jacobian product: the step of the discrete adjoint.
//!
//! The forward expressions are written in the kernel's order of operations, so in `f32` a
//! step repeats the engine's arithmetic (`tests/gradient.rs` checks the window's losses
//! against the engine's). The adjoint of the clamp is 0 where the step clamped (the
//! pre-clamp value was negative) and 1 elsewhere. [`forward_layer`] and [`adjoint_layer`]
//! run them over a layer's samples and neurons stored structure-of-arrays, so that the loops
//! vectorise like the engine's.

use super::{Integrator, ELEMENTS};
use crate::real::Real;

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

/// Scheme codes for the monomorphised layer loops.
const EULER: u8 = 0;
const SEMI_IMPLICIT: u8 = 1;
const RK4: u8 = 2;

fn code(i: Integrator) -> u8 {
    match i {
        Integrator::Euler => EULER,
        Integrator::SemiImplicit => SEMI_IMPLICIT,
        Integrator::Rk4 => RK4,
    }
}

/// The state after one step from `x` under input current `u`, before the clamp.
#[inline(always)]
fn raw<T: Real, const K: u8>(c: &Unit<T>, s: &Scheme<T>, x: &[T; 5], u: T) -> [T; 5] {
    let dt = s.dt;
    match K {
        EULER | SEMI_IMPLICIT => std::array::from_fn(|i| {
            let m = if i == s.input { T::ONE } else { T::ZERO };
            let produce = c.gen[i] * x[src(i)] + m * u;
            let loss_rate = c.decay[i] + c.inhib[i] * x[inh(i)];
            if K == SEMI_IMPLICIT {
                (x[i] + dt * produce) / (T::ONE + dt * loss_rate)
            } else {
                x[i] + dt * (produce - loss_rate * x[i])
            }
        }),
        _ => {
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

/// The adjoint of one step: given `lambda`, the adjoint of the state after the (clamped)
/// step taken from `x` under current `u`, returns the adjoint of `x` and of `u`.
///
/// This is the exact derivative of the step (recomputed from `x`, so the forward pass only
/// stores states): the clamp passes the adjoint where it did not act; Euler and the
/// semi-implicit scheme are differentiated in closed form, RK4 stage by stage in reverse.
/// Cost: about three times a forward step (five for RK4).
#[inline(always)]
fn adjoint<T: Real, const K: u8>(
    c: &Unit<T>,
    s: &Scheme<T>,
    x: &[T; 5],
    u: T,
    lambda: &[T; 5],
) -> ([T; 5], T) {
    let dt = s.dt;
    match K {
        EULER => {
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
        SEMI_IMPLICIT => {
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
        _ => {
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

/// A layer's rates: one set for every neuron (kept in registers), or one per neuron.
#[derive(Debug, Clone)]
pub struct LayerUnits<T> {
    pub shared: Option<Unit<T>>,
    pub per: Vec<Unit<T>>,
}

/// The adjoint of one neuron's step in `f32` (see [`adjoint_layer`] for whole layers): from
/// `lambda`, the adjoint of the state after the step taken from `x` under current `u`, the
/// adjoint of the state before it and of `u`.
pub fn adjoint_step(
    c: &Unit<f32>,
    s: &Scheme<f32>,
    x: &[f32; ELEMENTS],
    u: f32,
    lambda: &[f32; ELEMENTS],
) -> ([f32; ELEMENTS], f32) {
    match code(s.integrator) {
        EULER => adjoint::<f32, EULER>(c, s, x, u, lambda),
        SEMI_IMPLICIT => adjoint::<f32, SEMI_IMPLICIT>(c, s, x, u, lambda),
        _ => adjoint::<f32, RK4>(c, s, x, u, lambda),
    }
}

impl From<&crate::neuron::Coefficients> for Unit<f32> {
    fn from(c: &crate::neuron::Coefficients) -> Self {
        Unit {
            gen: c.gen,
            decay: c.decay,
            inhib: c.inhib,
        }
    }
}

/// Where a layer step writes its output signal.
pub struct Outputs<'a, T> {
    pub output: usize,
    pub reference: &'a [T],
    pub signal: &'a mut [T],
    pub integral: &'a mut [T],
}

/// Advances every sample of a layer by one step, state stored structure-of-arrays
/// (`x[k][r * n + j]`, as the engine's kernel), writes the output signal and adds `dt`
/// times it to the integral. Returns the number of element updates the clamp zeroed.
pub fn forward_layer<T: Real>(
    units: &LayerUnits<T>,
    s: &Scheme<T>,
    x: &mut [Vec<T>; ELEMENTS],
    u: &[T],
    out: Outputs<'_, T>,
) -> usize {
    match (code(s.integrator), units.shared) {
        (EULER, Some(c)) => fwd::<T, EULER>(|_| c, s, x, u, out),
        (EULER, None) => fwd::<T, EULER>(|j| units.per[j], s, x, u, out),
        (SEMI_IMPLICIT, Some(c)) => fwd::<T, SEMI_IMPLICIT>(|_| c, s, x, u, out),
        (SEMI_IMPLICIT, None) => fwd::<T, SEMI_IMPLICIT>(|j| units.per[j], s, x, u, out),
        (_, Some(c)) => fwd::<T, RK4>(|_| c, s, x, u, out),
        (_, None) => fwd::<T, RK4>(|j| units.per[j], s, x, u, out),
    }
}

#[inline(always)]
fn fwd<T: Real, const K: u8>(
    unit: impl Fn(usize) -> Unit<T>,
    s: &Scheme<T>,
    x: &mut [Vec<T>; ELEMENTS],
    u: &[T],
    out: Outputs<'_, T>,
) -> usize {
    let n = out.reference.len();
    let len = u.len();
    let [x0, x1, x2, x3, x4] = x;
    let (x0, x1, x2, x3, x4) = (
        &mut x0[..len],
        &mut x1[..len],
        &mut x2[..len],
        &mut x3[..len],
        &mut x4[..len],
    );
    let (sig, int) = (&mut out.signal[..len], &mut out.integral[..len]);
    let mut clamped = 0usize;
    for o in (0..len).step_by(n.max(1)) {
        for j in 0..n {
            let idx = o + j;
            let c = unit(j);
            let v = raw::<T, K>(
                &c,
                s,
                &[x0[idx], x1[idx], x2[idx], x3[idx], x4[idx]],
                u[idx],
            );
            let mut next = [T::ZERO; ELEMENTS];
            for k in 0..ELEMENTS {
                let neg = s.clamp && v[k] < T::ZERO;
                clamped += usize::from(neg);
                next[k] = if neg { T::ZERO } else { v[k] };
            }
            x0[idx] = next[0];
            x1[idx] = next[1];
            x2[idx] = next[2];
            x3[idx] = next[3];
            x4[idx] = next[4];
        }
    }
    // The output signal in a second pass over the chosen element, as the engine does: a
    // runtime index into the state inside the loop above would keep it from vectorising.
    let xo: &[T] = match out.output {
        0 => x0,
        1 => x1,
        2 => x2,
        3 => x3,
        _ => x4,
    };
    for o in (0..len).step_by(n.max(1)) {
        for j in 0..n {
            let idx = o + j;
            let d = xo[idx] - out.reference[j];
            sig[idx] = d;
            int[idx] += s.dt * d;
        }
    }
    clamped
}

/// The adjoint of [`forward_layer`] for one step: adds `a` (the adjoint of the output
/// signal) to the output element's λ, then replaces λ (adjoint of the state after the step)
/// by the adjoint of the state before it (`xs`, recorded) and writes the adjoint of the
/// input current `us` into `g`.
#[allow(clippy::too_many_arguments)]
pub fn adjoint_layer<T: Real>(
    units: &LayerUnits<T>,
    s: &Scheme<T>,
    output: usize,
    xs: [&[T]; ELEMENTS],
    us: &[T],
    a: &[T],
    lambda: &mut [Vec<T>; ELEMENTS],
    g: &mut [T],
) {
    let n = units.per.len();
    match (code(s.integrator), units.shared) {
        (EULER, Some(c)) => adj::<T, EULER>(|_| c, n, s, output, xs, us, a, lambda, g),
        (EULER, None) => adj::<T, EULER>(|j| units.per[j], n, s, output, xs, us, a, lambda, g),
        (SEMI_IMPLICIT, Some(c)) => {
            adj::<T, SEMI_IMPLICIT>(|_| c, n, s, output, xs, us, a, lambda, g)
        }
        (SEMI_IMPLICIT, None) => {
            adj::<T, SEMI_IMPLICIT>(|j| units.per[j], n, s, output, xs, us, a, lambda, g)
        }
        (_, Some(c)) => adj::<T, RK4>(|_| c, n, s, output, xs, us, a, lambda, g),
        (_, None) => adj::<T, RK4>(|j| units.per[j], n, s, output, xs, us, a, lambda, g),
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn adj<T: Real, const K: u8>(
    unit: impl Fn(usize) -> Unit<T>,
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
    // The output signal's adjoint first, in its own pass (see `fwd`).
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
