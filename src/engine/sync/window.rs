//! One window of a block of samples: the forward or the backward wave through every layer,
//! integrated layer by layer over chunks of steps, so that a layer's drive over a chunk is one
//! matrix product.
//!
//! Within a window no layer reads a layer downstream of it (the forward wave flows input side
//! first, the backward wave output side first). So layer l can take the steps t..t+S of a
//! chunk before layer l+1 takes any of them, and layer l+1's drive over those steps is then
//! one product with S·rows rows instead of S products with `rows` rows each. Every element is
//! the same dot product, summed in the same order (the matrix kernel's sum over the
//! presynaptic index does not depend on the number of rows), so the numbers are bit for bit
//! those of stepping all layers in lockstep; only the rate differs. A product of a block of
//! 25-50 rows per step leaves the kernel repacking the whole coefficient matrix every step,
//! and at two threads (blocks of 25) it ran at about 60% of a large product's rate.
//!
//! With a probe recording, a chunk is one step, so the probe sees the layers in step order.

use super::{SyncEngine, Workspace};
use crate::config::{BackwardInput, Coupling};
use crate::error::SimError;
use crate::learning::injection;
use crate::neuron::layer::{self, Drive, Ports};
use crate::neuron::System;
use crate::trace::{Selection, Wave};

use super::Block;

/// Rows (samples x steps) a chunk's drive product aims at: enough for the matrix kernel's
/// full rate, few enough that a layer's drive and signals over the chunk stay in the core's
/// cache for the neuron kernel (`mnist.yaml`, 3,000 samples at one thread: the kernel took
/// 1,630-1,740 profile samples at 512, 1,770-1,890 at 384, 2,060-2,120 at 256, 2,020-2,230
/// at 1,024; the products the same).
const CHUNK_ROWS: usize = 512;

/// Steps per chunk for a block of `rows` samples and a window of `steps` steps.
pub(super) fn chunk_steps(rows: usize, steps: usize) -> usize {
    CHUNK_ROWS.div_ceil(rows.max(1)).clamp(1, steps.max(1))
}

/// Per-thread buffers of the layer-by-layer window, reused from window to window.
#[derive(Debug, Default)]
pub(super) struct History {
    /// Steps per chunk these buffers hold.
    chunk: usize,
    rows: usize,
    /// Per layer, its output signal, `(chunk + 1) x rows x n`: slot 0 is the signal before
    /// the chunk (zero at the window's start; what a `delayed` coupling reads at the chunk's
    /// first step), slot i+1 the signal after the chunk's step i.
    signal: Vec<Vec<f32>>,
    /// One layer's drive over the chunk, `chunk x rows x n`.
    drive: Vec<f32>,
}

impl History {
    fn ensure(&mut self, sizes: &[usize], rows: usize, chunk: usize) {
        if self.chunk == chunk && self.rows == rows && self.signal.len() == sizes.len() {
            return;
        }
        self.chunk = chunk;
        self.rows = rows;
        self.signal = sizes
            .iter()
            .map(|&n| vec![0.0; (chunk + 1) * rows * n])
            .collect();
        let widest = sizes.iter().copied().max().unwrap_or(0);
        self.drive = vec![0.0; chunk * rows * widest];
    }
}

impl SyncEngine {
    /// One window of a block, the input current of its entry layer already set (the image
    /// for the forward wave, the injected error for the backward one). The two windows are
    /// mirror images: the forward wave integrates the forward systems input side first, each
    /// layer driven by C·D from below; the backward wave the reversed systems output side
    /// first, each driven by Cᵀ·D̂ from above, with the ports swapped. With `coupling:
    /// same_step` a layer's drive at step t is its source layer's signal after step t, with
    /// `delayed` after step t−1. A window starts at rest and fails on a non-finite integral,
    /// naming the phase, layer and sample.
    pub(super) fn window(
        &self,
        wave: Wave,
        ws: &mut Workspace,
        block: &Block<'_>,
        trace: Option<&Selection>,
    ) -> Result<(), SimError> {
        let s = &self.settings;
        let rows = block.indices.len();
        let last = self.sizes.len() - 1;
        let forward = wave == Wave::Forward;
        let (first, system, steps, t0) = match wave {
            Wave::Forward => (0, System::Forward, s.forward_steps, 0),
            Wave::Backward => {
                let first = self.first_reversed_layer();
                (first, System::Reversed, s.backward_steps, s.forward_steps)
            }
        };
        let (input, output) = match wave {
            Wave::Forward => (s.input_port, s.output_port),
            Wave::Backward => (s.output_port, s.input_port),
        };
        let Workspace {
            forward: forward_state,
            reversed: reversed_state,
            current,
            integral: forward_integral,
            rintegral,
            output_trace,
            probe,
            input: tabulated,
            history,
            ..
        } = ws;
        let (state, integral) = match wave {
            Wave::Forward => (forward_state, forward_integral),
            Wave::Backward => (reversed_state, rintegral),
        };
        for l in first..=last {
            let neurons = &self.neurons[l];
            state[l].reset(if forward {
                &neurons.rest
            } else {
                &neurons.rest_reversed
            });
            integral[l].fill(0.0);
        }
        // The entry layer, then each layer away from it.
        let entry = if forward { first } else { last };
        let layers = last - first + 1;
        let layer_at = |k: usize| if forward { first + k } else { last - k };
        let delayed = s.coupling == Coupling::Delayed;
        let varying = !forward && s.backward_input == BackwardInput::TimeVarying;
        let record = forward && s.backward_input == BackwardInput::TimeVarying;
        let classes = self.sizes[last];
        let injected = injection(s.rule, s.error_scale);
        let trace_len = rows * classes;
        let probe_sel = trace.filter(|_| probe.is_active());
        // With the sparse input drive, layer 0 is read from its table (and still integrated
        // when a probe records it: the same numbers), layer 1's drive from the precomputed one.
        let tabulated = (forward && tabulated.ready).then_some(&*tabulated);
        let skip_entry = tabulated.is_some() && probe_sel.is_none();
        probe.begin_window();
        let dt = crate::trace::decimal(s.dt);
        let chunk = match probe_sel {
            Some(_) => 1,
            None => chunk_steps(rows, steps),
        };
        history.ensure(&self.sizes, rows, chunk);
        let History {
            signal: past,
            drive,
            ..
        } = history;
        for start in (0..steps).step_by(chunk) {
            let len = chunk.min(steps - start);
            for l in (0..layers).map(layer_at) {
                if l == entry && skip_entry {
                    continue;
                }
                let width = rows * self.sizes[l];
                let slot = |i: usize| i * width..(i + 1) * width;
                if start == 0 {
                    past[l][slot(0)].fill(0.0);
                } else {
                    past[l].copy_within(slot(chunk), 0);
                }
                // Layer l's drive over the chunk, C·D_{l−1} forward, Cᵀ·D̂_{l+1} backward,
                // as one product over the source layer's signals (the entry layer has none,
                // and layer 1 on the sparse input drive reads its table step by step).
                let table = tabulated.filter(|_| l == 1);
                if l != entry && table.is_none() {
                    let src = if forward { l - 1 } else { l + 1 };
                    let src_width = rows * self.sizes[src];
                    let first = usize::from(!delayed);
                    let d = &past[src][first * src_width..(first + len) * src_width];
                    let out = &mut drive[..len * width];
                    match wave {
                        Wave::Forward => self.projections[l - 1].forward(len * rows, d, out),
                        Wave::Backward => self.projections[l].backward(len * rows, d, out),
                    }
                }
                let neurons = &self.neurons[l];
                let (coefficients, reference) = match wave {
                    Wave::Forward => (&neurons.forward, &neurons.reference),
                    Wave::Backward => (&neurons.reversed, &neurons.reference_reversed),
                };
                if probe_sel.is_none() && !(l == entry && varying) {
                    // The whole chunk in one call, each block of neurons in registers. Layer 1
                    // on a delayed table has no drive at the window's first step.
                    let lead = usize::from(table.is_some() && delayed && start == 0);
                    if lead == 1 {
                        current[l][..width].fill(0.0);
                    }
                    let mut span = |from: usize, to: usize, current: &[f32], drive| {
                        let ports = Ports {
                            input,
                            current,
                            output,
                            reference,
                            signal: &mut past[l][(from + 1) * width..(to + 1) * width],
                            integral: &mut integral[l],
                        };
                        let stepping = s.stepping();
                        layer::steps(
                            system,
                            coefficients,
                            &mut state[l],
                            ports,
                            stepping,
                            (to - from, drive),
                        );
                    };
                    if lead == 1 {
                        span(0, 1, &current[l][..width], Drive::Held);
                    }
                    match table {
                        Some(t) => span(
                            lead,
                            len,
                            t.span_drive(start + lead, len - lead, delayed),
                            Drive::PerStep,
                        ),
                        None if l == entry => span(0, len, &current[l][..width], Drive::Held),
                        None => span(0, len, &drive[..len * width], Drive::PerStep),
                    }
                    if record && l == last {
                        output_trace.extend_from_slice(&past[l][width..(len + 1) * width]);
                    }
                    continue;
                }
                for i in 0..len {
                    let step = start + i;
                    if l == entry && varying {
                        // Replay the forward output signal: e(t) = target - D(t), step by step.
                        let t = step.min(s.forward_steps - 1);
                        let d = &output_trace[t * trace_len..(t + 1) * trace_len];
                        for r in 0..rows {
                            let label = block.data.labels[block.indices[r]] as usize;
                            let range = r * classes..(r + 1) * classes;
                            let cur = &mut current[last][range.clone()];
                            s.error.error(&d[range], label, cur);
                            for c in cur.iter_mut() {
                                *c *= injected;
                            }
                        }
                    }
                    let drive_now = match table.map(|t| t.step_drive(step, delayed)) {
                        Some(Some(d)) => d,
                        Some(None) => {
                            current[l][..width].fill(0.0);
                            &current[l][..width]
                        }
                        None if l == entry => &current[l][..width],
                        None => &drive[slot(i)],
                    };
                    layer::step(
                        system,
                        coefficients,
                        &mut state[l],
                        Ports {
                            input,
                            current: drive_now,
                            output,
                            reference,
                            signal: &mut past[l][slot(i + 1)],
                            integral: &mut integral[l],
                        },
                        s.stepping(),
                    );
                    let signal = &past[l][slot(i + 1)];
                    if record && l == last {
                        output_trace.extend_from_slice(signal);
                    }
                    if let Some(sel) = probe_sel {
                        let time = crate::trace::step_time(t0 + step + 1, dt);
                        let (n, x) = (self.sizes[l], &state[l].x);
                        probe.observe(sel, wave, l, step, time, n, signal, x);
                    }
                }
            }
        }
        if let (true, Some(t)) = (skip_entry, tabulated) {
            t.finish(&mut state[entry], &mut integral[entry]);
        }
        for l in first..=last {
            if let Some(pos) = integral[l].iter().position(|v| !v.is_finite()) {
                return Err(SimError::NonFinite {
                    phase: if forward { "forward" } else { "backward" },
                    layer: l,
                    sample: block.indices[pos / self.sizes[l]],
                    dt: s.dt,
                });
            }
        }
        Ok(())
    }
}
