//! The Wuxing neuron: the forward five-element system (paper Eq. 8/10/11), its reversed system
//! (Eq. 12/13), their fixed points (Eq. 15, solved exactly by Newton's method), and the batched
//! integration kernels every engine uses.
//!
//! Elements in generative order are J, S, M, H, T (index 0..4, all indices mod 5):
//!
//! ```text
//! forward:   dE_i/dt = k1_i E_{i-1} - k2_i E_i - k3_i     E_i E_{i-2} + u_i
//! reversed:  dÊ_i/dt = k1_{i+1} Ê_{i+1} - k2_i Ê_i - k3_{i+2} Ê_i Ê_{i+2} + û_i
//! ```
//!
//! Both have the same shape `d_i = g_i x_{src(i)} - k2_i x_i - h_i x_i x_{inh(i)} + input`,
//! with (src, inh) = (i-1, i-2) forward and (i+1, i+2) reversed, so one kernel serves both.
//! Elements are non-negative: after every step each is clamped at zero (the unit's only
//! nonlinearity besides the quadratic inhibition). NaN is deliberately *not* clamped away, so
//! a diverging integration is detected by the engine instead of hidden.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::real::Real;

/// Number of elements of a Wuxing unit.
pub const ELEMENTS: usize = 5;

/// One of the five elements, in generative order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
pub enum Element {
    /// metal
    J = 0,
    /// water
    S = 1,
    /// wood
    M = 2,
    /// fire
    H = 3,
    /// soil
    T = 4,
}

impl Element {
    pub const ALL: [Element; ELEMENTS] =
        [Element::J, Element::S, Element::M, Element::H, Element::T];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(i: usize) -> Element {
        Element::ALL[i % ELEMENTS]
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl FromStr for Element {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "J" => Ok(Element::J),
            "S" => Ok(Element::S),
            "M" => Ok(Element::M),
            "H" => Ok(Element::H),
            "T" => Ok(Element::T),
            _ => Err(format!("unknown element `{s}`; use one of J, S, M, H, T")),
        }
    }
}

/// Forward system or its reversed ("backward") mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Forward,
    Reversed,
}

impl System {
    /// Index of the element feeding element `i` through the generative loop.
    #[inline]
    pub fn source(self, i: usize) -> usize {
        match self {
            System::Forward => (i + 4) % ELEMENTS,
            System::Reversed => (i + 1) % ELEMENTS,
        }
    }

    /// Index of the element inhibiting element `i`.
    #[inline]
    pub fn inhibitor(self, i: usize) -> usize {
        match self {
            System::Forward => (i + 3) % ELEMENTS,
            System::Reversed => (i + 2) % ELEMENTS,
        }
    }
}

/// Integration scheme for a fixed step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Integrator {
    /// Explicit Euler: one derivative evaluation per step.
    #[default]
    Euler,
    /// Classical fourth-order Runge-Kutta; the clamp is applied after the full step.
    Rk4,
    /// Semi-implicit (Patankar) Euler: production terms explicit, loss terms implicit,
    /// `x' = (x + dt (g x_src + u)) / (1 + dt (k2 + h x_inh))`. First order like Euler and
    /// equal to it as dt -> 0, but stable at any state size: explicit Euler becomes
    /// unstable once `dt * k3 * x_inh > 2`, which large trained weights can reach.
    /// Needs the clamp (the denominator assumes non-negative states).
    SemiImplicit,
}

/// Coefficients of one system in the shared form `g_i x_src - k2_i x_i - h_i x_i x_inh`, in
/// the number type `T` (`f32` in the engines, `f64` for the gradient check).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coefficients<T = f32> {
    pub gen: [T; ELEMENTS],
    pub decay: [T; ELEMENTS],
    pub inhib: [T; ELEMENTS],
}

impl Coefficients {
    /// Whether `other` holds the same bits: a cache built from one serves the other. One
    /// comparison of 60 bytes, where `==` takes fifteen float comparisons (for NaN and −0).
    #[inline]
    pub fn same_bits(&self, other: &Coefficients) -> bool {
        let bits = |c: &Coefficients| -> [[u32; ELEMENTS]; 3] {
            [c.gen, c.decay, c.inhib].map(|v| v.map(f32::to_bits))
        };
        bits(self) == bits(other)
    }

    /// Coefficients of `system` for the rates k1, k2, k3.
    pub fn new(system: System, k1: [f32; 5], k2: [f32; 5], k3: [f32; 5]) -> Self {
        let mut c = Coefficients {
            gen: [0.0; 5],
            decay: k2,
            inhib: [0.0; 5],
        };
        for i in 0..ELEMENTS {
            match system {
                System::Forward => {
                    c.gen[i] = k1[i];
                    c.inhib[i] = k3[i];
                }
                System::Reversed => {
                    c.gen[i] = k1[(i + 1) % ELEMENTS];
                    c.inhib[i] = k3[(i + 2) % ELEMENTS];
                }
            }
        }
        c
    }

    /// The same coefficients in the number type `T`.
    pub fn to<T: Real>(&self) -> Coefficients<T> {
        Coefficients {
            gen: self.gen.map(T::from_f32),
            decay: self.decay.map(T::from_f32),
            inhib: self.inhib.map(T::from_f32),
        }
    }

    /// Time derivative of the state `x` under the input vector `u` (paper Eq. 11 / 13).
    pub fn derivative(&self, system: System, x: &[f32; 5], u: &[f32; 5]) -> [f32; 5] {
        std::array::from_fn(|i| {
            self.gen[i] * x[system.source(i)]
                - self.decay[i] * x[i]
                - self.inhib[i] * x[i] * x[system.inhibitor(i)]
                + u[i]
        })
    }
}

/// Rates and ports of a neuron type, with the fixed points of both systems.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronParams {
    pub k1: [f32; 5],
    pub k2: [f32; 5],
    pub k3: [f32; 5],
    pub input: Element,
    pub output: Element,
    pub clamp: bool,
    /// Fixed point of the forward system (B0 per element).
    pub rest: [f32; 5],
    /// Fixed point of the reversed system (B̂0 per element).
    pub rest_reversed: [f32; 5],
}

impl NeuronParams {
    /// Builds the parameters and solves both fixed points; an error explains why no positive
    /// fixed point exists (for uniform rates it needs k1 > k2).
    pub fn new(
        k1: [f32; 5],
        k2: [f32; 5],
        k3: [f32; 5],
        input: Element,
        output: Element,
        clamp: bool,
    ) -> Result<Self, String> {
        let rest = fixed_point(System::Forward, k1, k2, k3)?;
        let rest_reversed = fixed_point(System::Reversed, k1, k2, k3)?;
        Ok(NeuronParams {
            k1,
            k2,
            k3,
            input,
            output,
            clamp,
            rest,
            rest_reversed,
        })
    }

    pub fn coefficients(&self, system: System) -> Coefficients {
        Coefficients::new(system, self.k1, self.k2, self.k3)
    }
}

/// The positive fixed point of `system` (paper Eq. 15, solved exactly).
///
/// Newton's method in f64 on the 5x5 system, started from the uniform-rate formula
/// `(mean k1 - mean k2) / mean k3`, which is exact when every group of rates is uniform.
/// Returns an error naming the fix when no positive fixed point is found.
pub fn fixed_point(
    system: System,
    k1: [f32; 5],
    k2: [f32; 5],
    k3: [f32; 5],
) -> Result<[f32; 5], String> {
    let mean = |k: [f32; 5]| k.iter().map(|&v| v as f64).sum::<f64>() / 5.0;
    let guess = (mean(k1) - mean(k2)) / mean(k3);
    if guess <= 0.0 {
        return Err(format!(
            "no positive fixed point: needs k1 > k2 (mean k1 = {:.4}, mean k2 = {:.4}); raise k1 or lower k2",
            mean(k1),
            mean(k2)
        ));
    }
    let c = Coefficients::new(system, k1, k2, k3);
    let (g, d, h) = (
        c.gen.map(f64::from),
        c.decay.map(f64::from),
        c.inhib.map(f64::from),
    );
    let mut x = [guess; 5];
    for _ in 0..100 {
        let mut f = [0.0f64; 5];
        let mut jac = [[0.0f64; 5]; 5];
        for i in 0..5 {
            let (s, q) = (system.source(i), system.inhibitor(i));
            f[i] = g[i] * x[s] - d[i] * x[i] - h[i] * x[i] * x[q];
            jac[i][s] += g[i];
            jac[i][i] += -d[i] - h[i] * x[q];
            jac[i][q] += -h[i] * x[i];
        }
        let step = solve5(jac, f).ok_or_else(|| {
            "fixed point: singular Jacobian; check that k1, k2, k3 are positive and k1 > k2"
                .to_string()
        })?;
        let mut norm = 0.0f64;
        for i in 0..5 {
            x[i] -= step[i];
            norm = norm.max(step[i].abs());
        }
        if norm < 1e-12 * guess.max(1.0) {
            break;
        }
    }
    if x.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return Err(format!(
            "no positive fixed point for these rates (Newton ended at {x:?}); make k1 exceed k2 on every element"
        ));
    }
    Ok(x.map(|v| v as f32))
}

/// Gaussian elimination with partial pivoting on a 5x5 system.
fn solve5(mut a: [[f64; 5]; 5], mut b: [f64; 5]) -> Option<[f64; 5]> {
    for col in 0..5 {
        let pivot = (col..5).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..5 {
            let f = a[row][col] / a[col][col];
            for k in col..5 {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 5];
    for row in (0..5).rev() {
        let s: f64 = (row + 1..5).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// Integrates one neuron's `system` for `steps` steps under a constant current `current`
/// into its input port, returning the signal D(t) (deviation from rest) at its output port
/// after every step. The reversed system takes its input at the forward *output* element and
/// answers at the forward *input* element. Used by tests and the theory tools.
pub fn response(
    p: &NeuronParams,
    system: System,
    current: f32,
    dt: f32,
    steps: usize,
    integrator: Integrator,
) -> Vec<f32> {
    let (rest, inp, out) = match system {
        System::Forward => (p.rest, p.input.index(), p.output.index()),
        System::Reversed => (p.rest_reversed, p.output.index(), p.input.index()),
    };
    let c = p.coefficients(system);
    let mut x = rest;
    let mut u = [0.0; 5];
    u[inp] = current;
    let mut out_trace = Vec::with_capacity(steps);
    for _ in 0..steps {
        x = step_one(&c, system, &x, &u, dt, integrator, p.clamp);
        out_trace.push(x[out] - rest[out]);
    }
    out_trace
}

/// One integration step of a single neuron in the textbook form `x + dt·f(x)` (and the
/// classical RK4 stages), written independently of the engines' [`kernel`]: the reference
/// the tests hold the kernel against, and the single-neuron integrator of the theory tools.
pub fn step_one(
    c: &Coefficients,
    system: System,
    x: &[f32; 5],
    u: &[f32; 5],
    dt: f32,
    integrator: Integrator,
    clamp: bool,
) -> [f32; 5] {
    let add = |a: &[f32; 5], b: &[f32; 5], s: f32| -> [f32; 5] {
        std::array::from_fn(|i| a[i] + s * b[i])
    };
    let next = match integrator {
        Integrator::Euler => add(x, &c.derivative(system, x, u), dt),
        Integrator::SemiImplicit => std::array::from_fn(|i| {
            (x[i] + dt * (c.gen[i] * x[system.source(i)] + u[i]))
                / (1.0 + dt * (c.decay[i] + c.inhib[i] * x[system.inhibitor(i)]))
        }),
        Integrator::Rk4 => {
            let d1 = c.derivative(system, x, u);
            let d2 = c.derivative(system, &add(x, &d1, dt / 2.0), u);
            let d3 = c.derivative(system, &add(x, &d2, dt / 2.0), u);
            let d4 = c.derivative(system, &add(x, &d3, dt), u);
            std::array::from_fn(|i| x[i] + dt / 6.0 * (d1[i] + 2.0 * d2[i] + 2.0 * d3[i] + d4[i]))
        }
    };
    if clamp {
        next.map(clamp_nonneg)
    } else {
        next
    }
}

pub use kernel::clamp_nonneg;

pub mod adjoint;
pub mod kernel;
pub mod layer;
pub mod population;
pub use population::{LayerNeurons, NeuronState};
