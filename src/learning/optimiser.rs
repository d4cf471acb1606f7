//! The per-synapse optimiser of method 2 (`learning.optimiser`): how a synapse turns its
//! batch-mean G2 into a change of its own coefficient, keeping only state of its own.
//!
//! Every rule (`bsp`, `linearised`, `adjoint`) first forms, per synapse, the batch mean of
//! its G2 (for `adjoint` the batch-mean −∂L/∂C), `g`, in the units the update adds: with
//! `sgd` the change is `lr · g`, exactly the engines' plain update. The other optimisers keep
//! one or two numbers per synapse, read nothing but that synapse's own `g` and its own
//! state, and share only the step count (a clock, the same for every synapse):
//!
//! * `momentum {beta}`: m ← β·m + g; ΔC = lr · m (heavy ball, lr in sgd's units);
//! * `adam {beta1, beta2, eps}`: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g²,
//!   ΔC = lr · m̂ / (√v̂ + eps) with m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t)
//!   (lr is then a step in coefficient units, about the size of each synapse's change).
//!
//! Method 1 by a gradient rule (`fixed_points` with `linearised` or `adjoint`) uses the
//! same optimisers per neuron, on ln K3 (see `fixed_points::apply_rates`).
//!
//! No global norm and no statistic across synapses or neurons: the arithmetic is element by
//! element, so it does not depend on the thread count or on the order of the synapses.
//!
//! Beside any of them, `learning.weight_decay` λ (decoupled weight decay, AdamW's form):
//! before each update every synapse shrinks its own coefficient, C ← C − lr·λ·C, reading
//! only that C and the epoch's lr ([`decay`]); the optimiser's change, formed from g alone,
//! is then added, so C' = (1 − lr·λ)·C + ΔC. λ = 0 (the default) touches nothing.

use serde::{Deserialize, Serialize};

use super::connections;
use crate::config::Optimiser;
use crate::topology::Projection;

/// One synapse's optimiser state: its first moment `m` (momentum, adam) and second moment
/// `v` (adam).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    pub m: f32,
    pub v: f32,
}

/// One synapse's change for its batch-mean G2 `g` at step `t` (1 for the first batch), which
/// updates its own `state`. `sgd` keeps no state: `lr · g`.
#[inline(always)]
pub fn change(opt: Optimiser, lr: f32, t: u64, g: f32, state: &mut Moments) -> f32 {
    match opt {
        Optimiser::Sgd => lr * g,
        Optimiser::Momentum { beta } => {
            state.m = beta * state.m + g;
            lr * state.m
        }
        Optimiser::Adam { beta1, beta2, eps } => {
            state.m = beta1 * state.m + (1.0 - beta1) * g;
            state.v = beta2 * state.v + (1.0 - beta2) * g * g;
            let (c1, c2) = corrections(beta1, beta2, t);
            let m_hat = state.m / c1;
            let v_hat = state.v / c2;
            lr * m_hat / (v_hat.sqrt() + eps)
        }
    }
}

/// Steps a run of synapses at once, for an engine that keeps each synapse's batch-mean G2
/// and moments itself (the asynchronous workers, over the rows they own): for every synapse
/// `k`, `delta[k]` = [`change`]`(opt, lr, t, g[k], (m[k], v[k]))`, and `c[k] += delta[k]`.
/// `m` is empty for `sgd`, `v` unless `adam`; `g`, `c` and `delta` have one entry per
/// synapse. The arithmetic is [`OptimiserState::apply`]'s, synapse by synapse, so both
/// engines move a synapse alike for the same `g`; an option that reads the synapse's own
/// coefficient belongs here too (it has `c`).
#[allow(clippy::too_many_arguments)]
pub fn step_synapses(
    opt: Optimiser,
    lr: f32,
    t: u64,
    g: &[f32],
    c: &mut [f32],
    m: &mut [f32],
    v: &mut [f32],
    delta: &mut [f32],
) {
    debug_assert!(g.len() == c.len() && delta.len() == c.len());
    for k in 0..c.len() {
        let mut s = Moments {
            m: m.get(k).copied().unwrap_or(0.0),
            v: v.get(k).copied().unwrap_or(0.0),
        };
        let d = change(opt, lr, t, g[k], &mut s);
        c[k] += d;
        delta[k] = d;
        if let Some(x) = m.get_mut(k) {
            *x = s.m;
        }
        if let Some(x) = v.get_mut(k) {
            *x = s.v;
        }
    }
}

/// One synapse's coefficient after decoupled weight decay λ at learning rate `lr`:
/// C − lr·λ·C, its own C and nothing else.
#[inline(always)]
pub fn decayed(c: f32, lr: f32, lambda: f32) -> f32 {
    c - lr * lambda * c
}

/// Decoupled weight decay on every synapse of `projections` ([`decayed`]), applied before
/// the update's change; `lambda` 0 returns at once, so the default leaves every coefficient
/// bit for bit as it was. Element by element: independent of threads and synapse order.
pub fn decay(projections: &mut [Projection], lr: f32, lambda: f32) {
    if lambda == 0.0 {
        return;
    }
    for p in projections {
        for c in p.coefficients_mut() {
            *c = decayed(*c, lr, lambda);
        }
    }
}

/// Adam's bias corrections 1 − β1^t and 1 − β2^t (computed in f64, rounded once).
fn corrections(beta1: f32, beta2: f32, t: u64) -> (f32, f32) {
    let t = t.min(i32::MAX as u64) as i32;
    let c = |b: f32| (1.0 - (b as f64).powi(t)) as f32;
    (c(beta1), c(beta2))
}

/// The optimiser state of a whole network: the step count and, per projection, each
/// synapse's moments (in the projection's coefficient order), plus a scratch copy of each
/// projection that receives the batch-mean G2. Saved in the checkpoint (without the scratch)
/// so that `--resume` continues exactly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OptimiserState {
    /// Batches applied so far.
    pub step: u64,
    /// Per projection: first moments (empty for `sgd`).
    pub m: Vec<Vec<f32>>,
    /// Per projection: second moments (empty unless `adam`).
    pub v: Vec<Vec<f32>>,
    #[serde(skip)]
    scratch: Vec<Projection>,
}

/// Coefficients per projection.
fn lengths(projections: &[Projection]) -> Vec<usize> {
    projections.iter().map(|p| p.coefficients().len()).collect()
}

impl OptimiserState {
    /// Zero moments for these projections (no memory at all for `sgd`).
    pub fn new(opt: Optimiser, projections: &[Projection]) -> Self {
        Self::zeros(opt, &lengths(projections))
    }

    /// Zero moments for one parameter per entry of `lens` per group: per projection its
    /// coefficients (method 2), or per layer its neurons' K3 (method 1 by a gradient rule).
    pub fn zeros(opt: Optimiser, lens: &[usize]) -> Self {
        let zeros = || lens.iter().map(|&n| vec![0.0f32; n]).collect();
        let (m, v) = match opt {
            Optimiser::Sgd => (Vec::new(), Vec::new()),
            Optimiser::Momentum { .. } => (zeros(), Vec::new()),
            Optimiser::Adam { .. } => (zeros(), zeros()),
        };
        OptimiserState {
            step: 0,
            m,
            v,
            scratch: Vec::new(),
        }
    }

    /// Whether this state fits `opt` on these projections (one moment per coefficient).
    pub fn fits(&self, opt: Optimiser, projections: &[Projection]) -> bool {
        self.fits_lengths(opt, &lengths(projections))
    }

    /// Whether this state fits `opt` with groups of `lens` parameters (see [`Self::zeros`]).
    pub fn fits_lengths(&self, opt: Optimiser, lens: &[usize]) -> bool {
        let shape = |x: &Vec<Vec<f32>>| {
            x.len() == lens.len() && x.iter().zip(lens).all(|(a, &n)| a.len() == n)
        };
        match opt {
            Optimiser::Sgd => self.m.is_empty() && self.v.is_empty(),
            Optimiser::Momentum { .. } => shape(&self.m) && self.v.is_empty(),
            Optimiser::Adam { .. } => shape(&self.m) && shape(&self.v),
        }
    }

    /// Group `group`'s moments of parameter `i` (zero when the optimiser keeps none), and a
    /// way to store them back: for parameters other than synapses (method 1's K3).
    pub fn moments(&self, group: usize, i: usize) -> Moments {
        let at = |x: &Vec<Vec<f32>>| x.get(group).map_or(0.0, |g| g[i]);
        Moments {
            m: at(&self.m),
            v: at(&self.v),
        }
    }

    /// Stores group `group`'s moments of parameter `i` (where the optimiser keeps them).
    pub fn set_moments(&mut self, group: usize, i: usize, state: Moments) {
        if let Some(g) = self.m.get_mut(group) {
            g[i] = state.m;
        }
        if let Some(g) = self.v.get_mut(group) {
            g[i] = state.v;
        }
    }

    /// Applies one minibatch: `pre[l]`, `post[l]` are the `rows` x pre and `rows` x post
    /// window integrals (or per-step signals) of projection `l`, `unit` the factor that
    /// turns `Σ_r G2` into the batch-mean G2 (`connections::scale(1, batch, injected)`).
    /// Each synapse's `g` is formed exactly as the plain update forms its sum, then moved
    /// by [`change`] with `lr`.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        opt: Optimiser,
        projections: &mut [Projection],
        rows: usize,
        pre: &[&[f32]],
        post: &[&[f32]],
        unit: f32,
        kt: f32,
        lr: f32,
        threads: usize,
    ) {
        if self.scratch.len() != projections.len() {
            self.scratch = projections.to_vec();
        }
        self.step += 1;
        let t = self.step;
        for (l, p) in projections.iter_mut().enumerate() {
            let g = &mut self.scratch[l];
            g.coefficients_mut().fill(0.0);
            connections::update(g, rows, pre[l], post[l], unit, kt, threads);
            let gs = g.coefficients();
            let c = p.coefficients_mut();
            match opt {
                Optimiser::Sgd => {
                    for (cv, &gv) in c.iter_mut().zip(gs) {
                        *cv += change(opt, lr, t, gv, &mut Moments::default());
                    }
                }
                Optimiser::Momentum { .. } => {
                    for ((cv, &gv), m) in c.iter_mut().zip(gs).zip(&mut self.m[l]) {
                        let mut s = Moments { m: *m, v: 0.0 };
                        *cv += change(opt, lr, t, gv, &mut s);
                        *m = s.m;
                    }
                }
                Optimiser::Adam { .. } => {
                    let (ms, vs) = (&mut self.m[l], &mut self.v[l]);
                    for (((cv, &gv), m), v) in c.iter_mut().zip(gs).zip(ms).zip(vs) {
                        let mut s = Moments { m: *m, v: *v };
                        *cv += change(opt, lr, t, gv, &mut s);
                        (*m, *v) = (s.m, s.v);
                    }
                }
            }
        }
    }

    /// Bytes of optimiser memory per synapse (4 per f32 moment).
    pub fn bytes_per_synapse(opt: Optimiser) -> usize {
        match opt {
            Optimiser::Sgd => 0,
            Optimiser::Momentum { .. } => 4,
            Optimiser::Adam { .. } => 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADAM: Optimiser = Optimiser::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };

    /// One synapse, g = 1, −2, 0.5 at lr 0.1. Worked by hand:
    /// t=1: m = 0.1, v = 0.001, m̂ = 1, v̂ = 1, Δ = 0.1 · 1 / (1 + 1e-8) = 0.1.
    /// t=2: m = 0.09 − 0.2 = −0.11, v = 0.000999 + 0.004 = 0.004999,
    ///      m̂ = −0.11 / 0.19 = −0.578947, v̂ = 0.004999 / 0.001999 = 2.500750,
    ///      Δ = 0.1 · −0.578947 / 1.581377 = −0.0366104.
    /// t=3: m = −0.099 + 0.05 = −0.049, v = 0.004994001 + 0.00025 = 0.005244001,
    ///      m̂ = −0.049 / 0.271 = −0.180812, v̂ = 0.005244001 / 0.002997001 = 1.749750,
    ///      Δ = 0.1 · −0.180812 / 1.322781 = −0.0136691.
    #[test]
    fn adam_matches_hand_worked_steps() {
        let mut s = Moments::default();
        let want = [0.1f32, -0.036_610_35, -0.013_669_07];
        for (t, (&g, &w)) in [1.0f32, -2.0, 0.5].iter().zip(&want).enumerate() {
            let d = change(ADAM, 0.1, t as u64 + 1, g, &mut s);
            assert!((d - w).abs() < 2e-6, "step {}: {d} vs {w}", t + 1);
        }
        assert!(
            (s.m + 0.049).abs() < 1e-6 && (s.v - 0.005_244_001).abs() < 1e-7,
            "{s:?}"
        );
    }

    /// Heavy ball, β 0.5, lr 0.1, g = 1, 1, −4: m = 1, 1.5, −3.25; Δ = 0.1, 0.15, −0.325.
    #[test]
    fn momentum_matches_hand_worked_steps() {
        let opt = Optimiser::Momentum { beta: 0.5 };
        let mut s = Moments::default();
        let got: Vec<f32> = [1.0f32, 1.0, -4.0]
            .iter()
            .enumerate()
            .map(|(t, &g)| change(opt, 0.1, t as u64 + 1, g, &mut s))
            .collect();
        for (d, w) in got.iter().zip([0.1f32, 0.15, -0.325]) {
            assert!((d - w).abs() < 1e-7, "{got:?}");
        }
    }

    /// Adam's first step moves every synapse by lr in the direction of its own g, whatever
    /// its size (the per-synapse normalisation), and sgd is lr · g.
    #[test]
    fn first_adam_step_is_sign_times_lr_and_sgd_is_plain() {
        for g in [1e-3f32, -3.0, 250.0] {
            let d = change(ADAM, 0.01, 1, g, &mut Moments::default());
            assert!((d - 0.01 * g.signum()).abs() < 1e-4 * 0.01, "{g}: {d}");
            let d = change(Optimiser::Sgd, 0.01, 1, g, &mut Moments::default());
            assert_eq!(d, 0.01 * g);
        }
    }

    /// Decoupled decay λ 0.5 at lr 0.1 on C = 2: C − 0.1 · 0.5 · 2 = 1.9; twice: 1.9 − 0.095
    /// = 1.805 = 2 · 0.95²; and on a projection, each coefficient alone (−4 → −3.8, 0 stays).
    #[test]
    fn weight_decay_matches_hand_worked_steps() {
        assert!((decayed(2.0, 0.1, 0.5) - 1.9).abs() < 1e-7);
        assert!((decayed(decayed(2.0, 0.1, 0.5), 0.1, 0.5) - 1.805).abs() < 1e-6);
        let mut p = vec![Projection::dense(
            2,
            2,
            [(0, 0, 2.0), (0, 1, -4.0), (1, 0, 0.0), (1, 1, 1.0)].into_iter(),
        )];
        decay(&mut p, 0.1, 0.5);
        let want = [1.9f32, -3.8, 0.0, 0.95];
        for (c, w) in p[0].coefficients().iter().zip(want) {
            assert!((c - w).abs() < 1e-6, "{:?}", p[0].coefficients());
        }
        let before = p.clone();
        decay(&mut p, 0.1, 0.0);
        assert_eq!(p, before, "λ 0 must leave the coefficients bit for bit");
    }

    #[test]
    fn memory_per_synapse() {
        assert_eq!(OptimiserState::bytes_per_synapse(Optimiser::Sgd), 0);
        assert_eq!(OptimiserState::bytes_per_synapse(ADAM), 8);
    }
}
