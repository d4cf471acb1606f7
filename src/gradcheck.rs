//! `bsp-sim gradcheck`: how close is the BSP update to the true descent direction?
//!
//! For one minibatch, per layer pair, it sets the engine's BSP modulation signal G1 (summed
//! over the batch, before the limiter, in the sign the engine applies: ΔC ∝ +G1) and the
//! linearised rule's G1 against −∂L/∂C from the discrete adjoint (in `f64`), and reports
//! the cosine, the angle, the fraction of synapses whose signs agree, and the norm ratio.
//! With the model's limiter on (`kt` > 0) it also sets the linearised rule's G2 summed over
//! the batch, each sample's product through the limiter first: the update the synapses
//! actually add up, which the limiter can turn away from G1 when a few samples dominate.
//! For a model of method 1 (`fixed_points`) it does the same for the neurons: each rule's
//! change of ln K3 (the output element's inhibition rate, what method 1 moves) against
//! −∂L/∂ln K3, the adjoint carried through every step and through the rest state.

use serde::Serialize;

use crate::config::{FixedPointSignal, LearningMethod};
use crate::data::Dataset;
use crate::engine::sync::SyncEngine;
use crate::engine::Engine;
use crate::error::SimError;
use crate::learning::adjoint::{run_batch, Mode, Net};
use crate::neuron::adjoint::K3;

/// Samples per adjoint pass: bounds the tape's memory (about 2.4 MB per sample and pass for
/// `mnist.yaml` in `f64`); partial sums are added in chunk order, whatever the threads.
const CHUNK: usize = 32;

/// How one update direction compares with the descent direction −∂L/∂C.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Layer pair (synapses from layer `pair` to `pair + 1`), or `None` for all pairs.
    pub pair: Option<usize>,
    /// `bsp` (the engine's G1) or `linearised`.
    pub rule: &'static str,
    /// How many parameters the directions cover: synapses (method 2's C), or neurons
    /// (method 1's ln K3, one per neuron).
    pub parameters: usize,
    /// cos(angle) between the update and −∂L/∂C.
    pub cosine: f64,
    pub angle_degrees: f64,
    /// Fraction of synapses with sign(update) == sign(−∂L/∂C), over those where both are
    /// nonzero (`signs_compared` of them).
    pub sign_agreement: f64,
    pub signs_compared: usize,
    /// |update| / |∂L/∂C| (BSP's G1 is about T² / beta times the gradient for softmax).
    pub norm_ratio: f64,
}

/// The whole gradient check of one minibatch.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: String,
    pub samples: usize,
    /// Mean loss of the batch (the configured loss, through the engine's dynamics).
    pub mean_loss: f64,
    /// Fraction of element updates in the forward windows that the clamp set to zero: how
    /// far the network is from the linear regime BSP assumes.
    pub clamped_fraction: f64,
    /// |∂L/∂C| summed over the batch, per layer pair.
    pub gradient_norms: Vec<f64>,
    /// Self-check of the adjoint: the central finite difference of the batch loss along the
    /// BSP direction, (L(C + h u) − L(C − h u)) / 2h with u = G1 / |G1|, against the adjoint's
    /// ∂L/∂C · u, as relative error (small unless h crosses many kinks of the clamp).
    pub finite_difference_error: f64,
    pub comparisons: Vec<Comparison>,
    /// Method 1 only (else empty): |∂L/∂ln K3| summed over the batch, per layer.
    pub k3_gradient_norms: Vec<f64>,
    /// Method 1 only: the central finite difference of the batch loss along −∂L/∂ln K3
    /// (every neuron's rest state solved again) against the adjoint's, as relative error.
    pub k3_finite_difference_error: Option<f64>,
    /// Method 1 only: each rule's change of ln K3 against −∂L/∂ln K3, per layer (`pair` is
    /// the layer here) and over all layers: `bsp (paper)` and `bsp (reversed)` (the two
    /// `fixed_point_signal`s, −ΣG1), `linearised` (the local gradient rule's ΣG1).
    pub k3_comparisons: Vec<Comparison>,
}

/// Compares `update` with the descent direction `descent` (= −∂L/∂C).
pub fn compare(update: &[f64], descent: &[f64]) -> (f64, f64, usize, f64) {
    let dot: f64 = update.iter().zip(descent).map(|(a, b)| a * b).sum();
    let na = update.iter().map(|a| a * a).sum::<f64>().sqrt();
    let nb = descent.iter().map(|b| b * b).sum::<f64>().sqrt();
    let cosine = if na > 0.0 && nb > 0.0 {
        (dot / (na * nb)).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let (mut agree, mut seen) = (0usize, 0usize);
    for (a, b) in update.iter().zip(descent) {
        if *a != 0.0 && *b != 0.0 {
            seen += 1;
            agree += usize::from((*a > 0.0) == (*b > 0.0));
        }
    }
    let ratio = if nb > 0.0 { na / nb } else { f64::INFINITY };
    (cosine, agree as f64 / seen.max(1) as f64, seen, ratio)
}

fn comparison(
    pair: Option<usize>,
    rule: &'static str,
    update: &[f64],
    descent: &[f64],
) -> Comparison {
    let (cosine, sign_agreement, signs_compared, norm_ratio) = compare(update, descent);
    Comparison {
        pair,
        rule,
        parameters: update.len(),
        cosine,
        angle_degrees: cosine.acos().to_degrees(),
        sign_agreement,
        signs_compared,
        norm_ratio,
    }
}

/// What one adjoint pass over a batch gives, per layer pair, summed over the samples.
pub struct Directions {
    /// The outer products: −∂L/∂C (`Exact`) or the linearised G1.
    pub sums: Vec<Vec<f64>>,
    /// With a limiter kt: each sample's product through atan(kt · x) / kt (`learning::limiter`
    /// in `f64`) before the sum, the G2 the synapses add up.
    pub limited: Option<Vec<Vec<f64>>>,
    pub mean_loss: f64,
    pub clamped_fraction: f64,
}

/// Per layer pair, the sum over `indices` of the outer products the adjoint pass in `mode`
/// gives, in `f64`; with `limiter` (`Linearised` only: the limiter acts per sample) also
/// their sum after the limiter, from the same pass. Also the mean loss and the clamped
/// fraction.
pub fn directions(
    net: &Net<f64>,
    data: &Dataset,
    indices: &[usize],
    mode: Mode,
    limiter: Option<f64>,
    threads: usize,
) -> Result<Directions, SimError> {
    assert!(
        limiter.is_none() || mode == Mode::Linearised,
        "the limiter acts on the linearised rule's per-sample products"
    );
    let mut tapes = Vec::new();
    let zeros = || -> Vec<Vec<f64>> {
        (net.weights.iter())
            .map(|w| vec![0.0; w.coefficients().len()])
            .collect()
    };
    let (mut sums, mut limited) = (zeros(), limiter.map(|_| zeros()));
    let add = |sum: &mut Vec<f64>, g: Vec<f64>| {
        for (s, v) in sum.iter_mut().zip(g) {
            *s += v;
        }
    };
    let (mut loss, mut clamped, mut steps) = (0.0, 0usize, 0usize);
    for chunk in indices.chunks(CHUNK) {
        let b = run_batch(net, data, chunk, mode, threads, &mut tapes)?;
        for (l, w) in net.weights.iter().enumerate() {
            add(&mut sums[l], w.outer(b.rows, &b.pre[l], &b.post[l]));
            if let (Some(kt), Some(limited)) = (limiter, limited.as_mut()) {
                let g2 = |g1: f64| (kt * g1).atan() / kt;
                add(
                    &mut limited[l],
                    w.outer_map(b.rows, &b.pre[l], &b.post[l], g2),
                );
            }
        }
        loss += b.losses.iter().sum::<f64>();
        clamped += b.clamped;
        steps += b.element_steps;
    }
    Ok(Directions {
        sums,
        limited,
        mean_loss: loss / indices.len().max(1) as f64,
        clamped_fraction: clamped as f64 / steps.max(1) as f64,
    })
}

/// Per layer and neuron, the sum over `indices` of K3 times the rate adjoint of the output
/// element's K3 from the adjoint pass in `mode`: −∂L/∂ln K3 (`Exact`) or the linearised
/// rule's G1 for method 1 (`Linearised`), in `f64`.
pub fn k3_directions(
    net: &Net<f64>,
    data: &Dataset,
    indices: &[usize],
    mode: Mode,
    threads: usize,
) -> Result<Vec<Vec<f64>>, SimError> {
    let net = net.clone().with_rates();
    let (sizes, out) = (net.sizes().to_vec(), net.output());
    let mut tapes = Vec::new();
    let mut sums: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
    for chunk in indices.chunks(CHUNK) {
        let b = run_batch(&net, data, chunk, mode, threads, &mut tapes)?;
        for (l, sum) in sums.iter_mut().enumerate() {
            let n = sizes[l];
            for (j, s) in sum.iter_mut().enumerate() {
                let k3 = net.rate(l, j, K3, out);
                for r in 0..chunk.len() {
                    *s += k3 * b.rates[l][K3][out][r * n + j];
                }
            }
        }
    }
    Ok(sums)
}

/// Relative error of the adjoint's −∂L/∂ln K3 along itself against a central finite
/// difference of the batch loss, every neuron's rest solved again (step 1e-4 in ln K3).
fn k3_directional_check(
    net: &Net<f64>,
    data: &Dataset,
    indices: &[usize],
    descent: &[Vec<f64>],
) -> Result<f64, SimError> {
    let norm = descent.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Ok(0.0);
    }
    let h = 1e-4;
    let out = net.output();
    let shifted = |sign: f64| -> Result<f64, SimError> {
        let mut n = net.clone();
        for (l, d) in descent.iter().enumerate() {
            for (j, v) in d.iter().enumerate() {
                let k3 = net.rate(l, j, K3, out);
                let delta = k3 * ((sign * h * v / norm).exp() - 1.0);
                n.perturb_rate(l, j, K3, out, delta)
                    .ok_or_else(|| SimError::FixedPoint {
                        layer: l,
                        neuron: j,
                        detail: "no fixed point near the old one after the finite-difference step"
                            .into(),
                    })?;
            }
        }
        let mut total = 0.0;
        for chunk in indices.chunks(CHUNK) {
            total += crate::learning::adjoint::losses(&n, data, chunk)?
                .iter()
                .sum::<f64>();
        }
        Ok(total)
    };
    let fd = (shifted(1.0)? - shifted(-1.0)?) / (2.0 * h);
    Ok((fd + norm).abs() / norm)
}

/// Method 1's part of the report: norms, the finite-difference self-check and the rules'
/// comparisons for ln K3.
#[allow(clippy::type_complexity)]
fn method_one(
    engine: &mut SyncEngine,
    net: &Net<f64>,
    data: &Dataset,
    indices: &[usize],
    threads: usize,
) -> Result<(Vec<f64>, f64, Vec<Comparison>), SimError> {
    let descent = k3_directions(net, data, indices, Mode::Exact, threads)?;
    let linearised = k3_directions(net, data, indices, Mode::Linearised, threads)?;
    let mut comparisons = Vec::new();
    for (rule, signal) in [
        ("bsp (paper)", Some(FixedPointSignal::Paper)),
        ("bsp (reversed)", Some(FixedPointSignal::Reversed)),
        ("linearised", None),
    ] {
        let update: Vec<Vec<f64>> = match signal {
            Some(signal) => engine
                .fixed_point_g1(data, indices, signal)?
                .into_iter()
                .map(|g| g.into_iter().map(|v| -f64::from(v)).collect())
                .collect(),
            None => linearised.clone(),
        };
        for (l, (u, d)) in update.iter().zip(&descent).enumerate() {
            comparisons.push(comparison(Some(l), rule, u, d));
        }
        comparisons.push(comparison(None, rule, &update.concat(), &descent.concat()));
    }
    let fd = k3_directional_check(net, data, indices, &descent)?;
    let norms = descent
        .iter()
        .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    Ok((norms, fd, comparisons))
}

/// Runs the gradient check on the minibatch `indices` of `data` with the engine's current
/// coefficients (the engine is not changed).
pub fn gradcheck(
    model: &str,
    engine: &mut SyncEngine,
    data: &Dataset,
    indices: &[usize],
    threads: usize,
) -> Result<Report, SimError> {
    let bsp: Vec<Vec<f64>> = engine
        .bsp_g1(data, indices)?
        .into_iter()
        .map(|g| g.into_iter().map(f64::from).collect())
        .collect();
    let net = Net::<f64>::new(&engine.settings, engine.projections(), engine.neurons());
    let Directions {
        sums: descent,
        mean_loss,
        clamped_fraction,
        ..
    } = directions(&net, data, indices, Mode::Exact, None, threads)?;
    // With the model's limiter on, also what the synapses add up: the update itself.
    let kt = f64::from(engine.settings.kt);
    let limiter = (kt != 0.0).then_some(kt);
    let Directions {
        sums: linearised,
        limited,
        ..
    } = directions(&net, data, indices, Mode::Linearised, limiter, threads)?;
    let finite_difference_error = directional_check(&net, data, indices, &bsp, &descent)?;
    let (k3_gradient_norms, k3_finite_difference_error, k3_comparisons) =
        if engine.settings.method == LearningMethod::FixedPoints {
            let (norms, fd, cmp) = method_one(engine, &net, data, indices, threads)?;
            (norms, Some(fd), cmp)
        } else {
            (Vec::new(), None, Vec::new())
        };
    let mut comparisons = Vec::new();
    let rules = [("bsp", Some(&bsp)), ("linearised", Some(&linearised))];
    let limiter = [("linearised, G2 after the limiter", limited.as_ref())];
    for (rule, update) in rules.into_iter().chain(limiter) {
        let Some(update) = update else { continue };
        for (l, (u, d)) in update.iter().zip(&descent).enumerate() {
            comparisons.push(comparison(Some(l), rule, u, d));
        }
        let all_u: Vec<f64> = update.concat();
        comparisons.push(comparison(None, rule, &all_u, &descent.concat()));
    }
    Ok(Report {
        model: model.to_string(),
        samples: indices.len(),
        mean_loss,
        clamped_fraction,
        gradient_norms: descent
            .iter()
            .map(|g| g.iter().map(|v| v * v).sum::<f64>().sqrt())
            .collect(),
        finite_difference_error,
        comparisons,
        k3_gradient_norms,
        k3_finite_difference_error,
        k3_comparisons,
    })
}

/// Relative error of the adjoint's directional derivative along `direction` against a
/// central finite difference of the batch loss (step 1e-4 of the unit direction, in f64).
fn directional_check(
    net: &Net<f64>,
    data: &Dataset,
    indices: &[usize],
    direction: &[Vec<f64>],
    descent: &[Vec<f64>],
) -> Result<f64, SimError> {
    let norm = direction
        .iter()
        .flatten()
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 {
        return Ok(0.0);
    }
    let h = 1e-4 / norm;
    let shifted = |sign: f64| -> Result<f64, SimError> {
        let mut n = net.clone();
        for (w, d) in n.weights.iter_mut().zip(direction) {
            for (c, v) in w.coefficients_mut().iter_mut().zip(d) {
                *c += sign * h * v;
            }
        }
        let mut total = 0.0;
        for chunk in indices.chunks(CHUNK) {
            total += crate::learning::adjoint::losses(&n, data, chunk)?
                .iter()
                .sum::<f64>();
        }
        Ok(total)
    };
    let fd = (shifted(1.0)? - shifted(-1.0)?) / (2.0 * 1e-4);
    let adjoint: f64 = direction
        .iter()
        .flatten()
        .zip(descent.iter().flatten())
        .map(|(d, g)| -d * g)
        .sum::<f64>()
        / norm;
    Ok((adjoint - fd).abs() / fd.abs().max(1e-300))
}

/// One Markdown table row of a comparison.
fn row(c: &Comparison, label: String) -> String {
    format!(
        "| {} | {} | {} | {:.4} | {:.2} | {:.2}% | {:.4} |\n",
        c.rule,
        label,
        c.parameters,
        c.cosine,
        c.angle_degrees,
        100.0 * c.sign_agreement,
        c.norm_ratio
    )
}

impl Report {
    /// A Markdown summary and table, one row per rule and layer pair.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "# Gradient check: {}\n\n{} samples, mean loss {:.4}, clamped element updates {:.2}%, \
             adjoint vs finite difference along G1: relative error {:.1e}.\n\
             Update directions against the descent direction −∂L/∂C from the exact discrete adjoint \
             (f64) of the synchronous engine's window; G1 summed over the batch, before the limiter \
             (with the model's kt, the linearised rule's G2 too: each sample's product through the \
             limiter, then summed).\n\n\
             | rule | layer pair | synapses | cosine | angle (°) | sign agreement | norm ratio |\n\
             |---|---|---|---|---|---|---|\n",
            self.model,
            self.samples,
            self.mean_loss,
            100.0 * self.clamped_fraction,
            self.finite_difference_error
        );
        for c in &self.comparisons {
            let pair = c
                .pair
                .map_or("all".to_string(), |l| format!("{l} → {}", l + 1));
            s.push_str(&row(c, pair));
        }
        if !self.k3_comparisons.is_empty() {
            s.push_str(&format!(
                "\n## Method 1: ln K3 of each neuron's output element\n\n\
                 Each rule's change of ln K3 against −∂L/∂ln K3 (the adjoint through every step and \
                 through the rest state, implicit function theorem); adjoint vs finite difference \
                 along it: relative error {:.1e}.\n\n\
                 | rule | layer | neurons | cosine | angle (°) | sign agreement | norm ratio |\n\
                 |---|---|---|---|---|---|---|\n",
                self.k3_finite_difference_error.unwrap_or(f64::NAN)
            ));
            for c in &self.k3_comparisons {
                let layer = c.pair.map_or("all".to_string(), |l| l.to_string());
                s.push_str(&row(c, layer));
            }
        }
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }
}
