//! The synchronous engine's parameter changes: BSP's batch update from the window integrals
//! in the workspaces (method 2's coefficients or method 1's K3), BSP's G1 for the gradient
//! check, and a minibatch of the gradient rules (`linearised`, `adjoint`) through the tape.

use super::SyncEngine;
use crate::config::{LearningMethod, LearningRule};
use crate::data::Dataset;
use crate::engine::Tally;
use crate::error::SimError;
use crate::learning::adjoint;
use crate::learning::optimiser;
use crate::learning::{connections, fixed_points, injection};

impl SyncEngine {
    /// Applies the BSP update for a minibatch of `batch` samples whose window integrals sit in the
    /// workspaces.
    pub(super) fn update(&mut self, batch: usize, lr: f32) -> Result<(), SimError> {
        let kt = self.settings.kt;
        let scale = connections::scale(lr, batch, self.settings.error_scale);
        // Validation allows weight decay only with method 2; a no-op at λ 0.
        optimiser::decay(&mut self.projections, lr, self.settings.weight_decay);
        match self.settings.method {
            LearningMethod::Connections if !self.settings.optimiser.is_sgd() => {
                let n = self.projections.len();
                let pre: Vec<_> = (0..n).map(|l| self.gather(l, batch, false)).collect();
                let post: Vec<_> = (0..n).map(|l| self.gather(l + 1, batch, true)).collect();
                let unit = connections::scale(1.0, batch, self.settings.error_scale);
                self.optimiser.apply(
                    self.settings.optimiser,
                    &mut self.projections,
                    batch,
                    &pre.iter().map(Vec::as_slice).collect::<Vec<_>>(),
                    &post.iter().map(Vec::as_slice).collect::<Vec<_>>(),
                    unit,
                    kt,
                    lr,
                    self.threads,
                );
            }
            LearningMethod::Connections => {
                for l in 0..self.projections.len() {
                    let pre = self.gather(l, batch, false);
                    let post = self.gather(l + 1, batch, true);
                    let threads = self.threads;
                    let p = &mut self.projections[l];
                    connections::update(p, batch, &pre, &post, scale, kt, threads);
                }
            }
            LearningMethod::FixedPoints => {
                let window = self.settings.forward_window();
                let signal = self.settings.fixed_point_signal;
                let (opt, adaptive) = (self.settings.optimiser, !self.settings.optimiser.is_sgd());
                let unit = connections::scale(1.0, batch, self.settings.error_scale);
                self.optimiser.step += u64::from(adaptive);
                for l in 0..self.sizes.len() {
                    let fwd = self.gather(l, batch, false);
                    let rev = self.gather(l, batch, true);
                    let n = self.sizes[l];
                    for j in 0..n {
                        let g2: f32 = (0..batch)
                            .map(|r| {
                                let k = r * n + j;
                                fixed_points::g2(signal, fwd[k], rev[k], window, kt)
                            })
                            .sum();
                        let applied = if adaptive {
                            // The neuron's own optimiser on its descent direction of ln K3.
                            let state = &mut self.optimiser;
                            let mut moments = state.moments(l, j);
                            let step =
                                optimiser::change(opt, lr, state.step, -unit * g2, &mut moments);
                            state.set_moments(l, j, moments);
                            fixed_points::apply(&mut self.neurons[l], j, -step, 1.0)
                        } else {
                            fixed_points::apply(&mut self.neurons[l], j, g2, scale)
                        };
                        applied.map_err(|detail| SimError::FixedPoint {
                            layer: l,
                            neuron: j,
                            detail,
                        })?;
                    }
                }
            }
        }
        Ok(())
    }

    /// BSP's modulation signal G1 = ∫D_pre dt · ∫D̂_post dt per synapse, summed over the
    /// samples `indices` of `data`, before the limiter and with `error.scale` divided out:
    /// the direction the update moves C in (ΔC ∝ +G1). Coefficients in canonical order, one
    /// vector per layer pair; the engine's weights are not changed. For `bsp-sim gradcheck`.
    pub fn bsp_g1(&mut self, data: &Dataset, indices: &[usize]) -> Result<Vec<Vec<f32>>, SimError> {
        self.for_blocks(data, indices, "the gradient check", |this, ws, block| {
            this.forward(ws, &block, None)?;
            this.backward(ws, &block, None)
        })?;
        let batch = indices.len();
        let mut out = Vec::with_capacity(self.projections.len());
        for l in 0..self.projections.len() {
            let pre = self.gather(l, batch, false);
            let post = self.gather(l + 1, batch, true);
            let mut g = self.projections[l].clone();
            g.coefficients_mut().fill(0.0);
            let scale = 1.0 / self.settings.error_scale;
            connections::update(&mut g, batch, &pre, &post, scale, 0.0, self.threads);
            out.push(g.coefficients().to_vec());
        }
        Ok(out)
    }

    /// Method 1's modulation signal per neuron, G1 of [`fixed_points::g2`] (`signal`, no
    /// limiter) summed over the samples `indices` of `data`, with `error.scale` divided out:
    /// the update moves ln K3 by −scale · ΣG1. One vector per layer; the engine is not
    /// changed. For `bsp-sim gradcheck`.
    pub fn fixed_point_g1(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        signal: crate::config::FixedPointSignal,
    ) -> Result<Vec<Vec<f32>>, SimError> {
        self.for_blocks(data, indices, "the gradient check", |this, ws, block| {
            this.forward(ws, &block, None)?;
            this.backward(ws, &block, None)
        })?;
        let (batch, window) = (indices.len(), self.settings.forward_window());
        let unit = 1.0 / self.settings.error_scale;
        Ok((0..self.sizes.len())
            .map(|l| {
                let (fwd, rev, n) = (
                    self.gather(l, batch, false),
                    self.gather(l, batch, true),
                    self.sizes[l],
                );
                (0..n)
                    .map(|j| {
                        let sum: f32 = (0..batch)
                            .map(|r| {
                                fixed_points::g2(
                                    signal,
                                    fwd[r * n + j],
                                    rev[r * n + j],
                                    window,
                                    0.0,
                                )
                            })
                            .sum();
                        unit * sum
                    })
                    .collect()
            })
            .collect())
    }

    /// One minibatch of the `adjoint` or `linearised` rule (see `gradient`): the forward
    /// window and the reverse pass per thread block, then C += lr/batch · Σ pre ⊗ post, which
    /// is C -= lr · batch-mean ∂L/∂C for `adjoint` (no limiter) and BSP's update with the
    /// linearised G1 for `linearised` (limiter `kt` per sample, as BSP).
    pub(super) fn train_gradient(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        lr: f32,
    ) -> Result<Tally, SimError> {
        let (mode, kt) = match self.settings.rule {
            LearningRule::Linearised => (adjoint::Mode::Linearised, self.settings.kt),
            _ => (adjoint::Mode::Exact, 0.0),
        };
        let fixed_points = self.settings.method == LearningMethod::FixedPoints;
        let mut net = adjoint::Net::<f32>::new(&self.settings, &self.projections, &self.neurons);
        if fixed_points {
            net = net.with_rates();
        }
        let b = adjoint::run_batch(&net, data, indices, mode, self.threads, &mut self.tapes)?;
        let injected = injection(self.settings.rule, self.settings.error_scale);
        optimiser::decay(&mut self.projections, lr, self.settings.weight_decay);
        if fixed_points {
            let unit = connections::scale(1.0, indices.len(), injected);
            let opt = (self.settings.optimiser, lr);
            self.optimiser.step += 1;
            for (l, rates) in b.rates.iter().enumerate() {
                let (rows, state) = (indices.len(), &mut self.optimiser);
                fixed_points::apply_rates(
                    &mut self.neurons[l],
                    l,
                    rates,
                    rows,
                    unit,
                    kt,
                    opt,
                    state,
                )
                .map_err(|(neuron, detail)| SimError::FixedPoint {
                    layer: l,
                    neuron,
                    detail,
                })?;
            }
        } else if self.settings.optimiser.is_sgd() {
            let scale = connections::scale(lr, indices.len(), injected);
            for (l, p) in self.projections.iter_mut().enumerate() {
                connections::update(p, b.rows, &b.pre[l], &b.post[l], scale, kt, self.threads);
            }
        } else {
            self.optimiser.apply(
                self.settings.optimiser,
                &mut self.projections,
                b.rows,
                &b.pre.iter().map(Vec::as_slice).collect::<Vec<_>>(),
                &b.post.iter().map(Vec::as_slice).collect::<Vec<_>>(),
                connections::scale(1.0, indices.len(), injected),
                kt,
                lr,
                self.threads,
            );
        }
        let mut t = Tally::default();
        for (k, (&loss, &pred)) in b.losses.iter().zip(&b.predictions).enumerate() {
            t.samples += 1;
            t.loss += loss as f64;
            t.correct += usize::from(pred == data.labels[indices[k]] as usize);
        }
        Ok(t)
    }
}
