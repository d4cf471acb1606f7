//! The sparse input drive of the synchronous engine: layer 0 tabulated per input value, and
//! layer 1's forward drive summed over the inputs whose signal is not identically zero.
//!
//! A layer-0 neuron is driven only by its own input current (gain · pixel), so while every
//! layer-0 neuron has the same rates, rest state and reference, its whole forward trajectory
//! depends on that one number. A block's distinct currents (at most 256 for 8-bit images)
//! are integrated once, by the same `neuron::layer::step` as the dense path, so layer 0's
//! signals, integrals and final states are bit for bit those of the dense path. A current
//! whose signal is zero at every step (a zero pixel, when the rest state is an exact fixed
//! point) contributes nothing, and the others are grouped by value: sample r's layer-1 drive
//! over the whole window is `U_r = T_r · S_r`, with `S_r[g] = Σ_{i: current_i = g} C_{:,i}`
//! (one vector per distinct active value) and `T_r[t][g]` value g's signal at step t, one
//! matrix product of steps x values x post instead of steps x 784 x post multiply-adds.
//! Only the order of the sums differs from the dense product, so results agree to float
//! rounding (tests/input_table.rs states the tolerance); each sample's product has the
//! same shape whatever block it is in, so no result depends on the thread count.

use crate::config::Settings;
use crate::neuron::layer::{self, LayerCoefficients, LayerState, Ports};
use crate::neuron::{Coefficients, LayerNeurons, System};
use crate::topology::Projection;

/// Per-thread tables and buffers of the sparse input drive, reused from block to block.
#[derive(Debug, Default)]
pub struct InputDrive {
    /// Set by [`InputDrive::prepare`] for the block whose drive is tabulated.
    pub ready: bool,
    /// The block's distinct input currents, sorted by their bits.
    currents: Vec<f32>,
    /// Index into `currents` of every (row, input neuron).
    value_of: Vec<u32>,
    /// Signal of each value at each step, `[value][step]`.
    signal: Vec<f32>,
    /// Whether a value's signal is non-zero at some step.
    active: Vec<bool>,
    /// Each value's window integral and final state.
    integral: Vec<f32>,
    state: LayerState,
    /// The first projection's coefficients transposed: `[pre][post]`.
    transposed: Vec<f32>,
    /// Layer 1's drive of each row at each step, `[step][row][post]`: a step's drive of the
    /// whole block is one contiguous slice.
    drive: Vec<f32>,
    /// Rows of the block `drive` was prepared for.
    rows: usize,
    /// Scratch of one sample: (value, input neuron) pairs, the grouped columns, the values'
    /// signals.
    pairs: Vec<(u32, u32)>,
    columns: Vec<f32>,
    signals: Vec<f32>,
    steps: usize,
    post: usize,
}

/// Whether the sparse drive applies to this network: layer 0's neurons all alike (rates,
/// rest, reference) and a dense first projection.
pub fn applies(neurons: &LayerNeurons, first: &Projection) -> bool {
    let alike = |v: &[f32]| v.iter().all(|x| x.to_bits() == v[0].to_bits());
    matches!(first, Projection::Dense { .. })
        && neurons.n > 0
        && neurons.forward.shared().is_some()
        && neurons.rest.iter().all(|e| alike(e))
        && alike(&neurons.reference)
}

impl InputDrive {
    /// Integrates the distinct currents of `current` (`rows` x n, the block's layer-0 input)
    /// over the forward window and computes layer 1's drive of every row at every step.
    pub fn prepare(
        &mut self,
        s: &Settings,
        neurons: &LayerNeurons,
        first: &Projection,
        rows: usize,
        current: &[f32],
    ) {
        let (n, post, steps) = (neurons.n, first.post(), s.forward_steps);
        let current = &current[..rows * n];
        self.steps = steps;
        self.post = post;
        self.tabulate(s, neurons, current);
        // C is post x pre; its transpose gives each input's column as a contiguous row.
        let c = first.coefficients();
        self.transposed.resize(n * post, 0.0);
        for (j, row) in c.chunks_exact(n).enumerate() {
            for (i, &w) in row.iter().enumerate() {
                self.transposed[i * post + j] = w;
            }
        }
        self.rows = rows;
        self.drive.resize(rows * steps * post, 0.0);
        for r in 0..rows {
            self.sample_drive(r, n);
        }
        self.ready = true;
    }

    /// The distinct currents, their index per input, and each value's trajectory.
    fn tabulate(&mut self, s: &Settings, neurons: &LayerNeurons, current: &[f32]) {
        let mut bits: Vec<u32> = current.iter().map(|c| c.to_bits()).collect();
        bits.sort_unstable();
        bits.dedup();
        self.value_of.clear();
        self.value_of.extend(current.iter().map(|c| {
            // Every current is among `bits`, so the search finds it.
            bits.binary_search(&c.to_bits()).unwrap_or(0) as u32
        }));
        self.currents = bits.into_iter().map(f32::from_bits).collect();
        let (values, steps) = (self.currents.len(), self.steps);
        let shared: Coefficients = neurons
            .forward
            .shared()
            .unwrap_or_else(|| neurons.forward.get(0));
        let coefficients = LayerCoefficients::uniform(&shared, values);
        self.state = LayerState::new(1, values);
        let rest = neurons.rest.each_ref().map(|e| vec![e[0]; values]);
        self.state.reset(&rest);
        let reference = vec![neurons.reference[0]; values];
        let mut sig = vec![0.0f32; values];
        self.integral.clear();
        self.integral.resize(values, 0.0);
        self.signal.resize(values * steps, 0.0);
        for t in 0..steps {
            layer::step(
                System::Forward,
                &coefficients,
                &mut self.state,
                Ports {
                    input: s.input_port,
                    current: &self.currents,
                    output: s.output_port,
                    reference: &reference,
                    signal: &mut sig,
                    integral: &mut self.integral,
                },
                s.stepping(),
            );
            for (v, &d) in sig.iter().enumerate() {
                self.signal[v * steps + t] = d;
            }
        }
        self.active.clear();
        self.active.extend(
            self.signal
                .chunks_exact(steps.max(1))
                .map(|tr| tr.iter().any(|&d| d != 0.0)),
        );
        if steps == 0 {
            self.active.resize(values, false);
        }
    }

    /// Row `r`'s drive at every step: `U = T · S` over its active values.
    fn sample_drive(&mut self, r: usize, n: usize) {
        let (post, steps) = (self.post, self.steps);
        let values = &self.value_of[r * n..(r + 1) * n];
        self.pairs.clear();
        self.pairs.extend(
            values
                .iter()
                .enumerate()
                .filter(|&(_, &v)| self.active[v as usize])
                .map(|(i, &v)| (v, i as u32)),
        );
        // By value, then by input neuron: each group's column sum runs in input order.
        self.pairs.sort_unstable();
        self.columns.clear();
        self.signals.clear();
        let mut groups = 0;
        let mut k = 0;
        while k < self.pairs.len() {
            let v = self.pairs[k].0;
            let start = self.columns.len();
            self.columns.resize(start + post, 0.0);
            while k < self.pairs.len() && self.pairs[k].0 == v {
                let i = self.pairs[k].1 as usize;
                let column = &self.transposed[i * post..(i + 1) * post];
                for (a, &w) in self.columns[start..].iter_mut().zip(column) {
                    *a += w;
                }
                k += 1;
            }
            let v = v as usize;
            self.signals
                .extend_from_slice(&self.signal[v * steps..(v + 1) * steps]);
            groups += 1;
        }
        // Row r of step t sits at (t * rows + r) * post.
        let stride = self.rows * post;
        if groups == 0 || steps == 0 || post == 0 {
            for t in 0..steps {
                let at = t * stride + r * post;
                self.drive[at..at + post].fill(0.0);
            }
            return;
        }
        assert!(self.drive.len() >= (steps - 1) * stride + (r + 1) * post);
        // SAFETY: `signals` is groups x steps (read transposed: steps x groups), `columns`
        // groups x post, row-major; the output is steps x post with row stride `stride`
        // from row r's first element, inside `drive` (asserted above).
        unsafe {
            matrixmultiply::sgemm(
                steps,
                groups,
                post,
                1.0,
                self.signals.as_ptr(),
                1,
                steps as isize,
                self.columns.as_ptr(),
                post as isize,
                1,
                0.0,
                self.drive.as_mut_ptr().add(r * post),
                stride as isize,
                1,
            );
        }
    }

    /// Layer 1's drive of the whole block at `step`: from the signal layer 0 produced in
    /// this step (`same_step`) or in the previous one (`delayed`; `None`, a zero drive, at
    /// the first step).
    pub fn step_drive(&self, step: usize, delayed: bool) -> Option<&[f32]> {
        let t = if delayed { step.checked_sub(1)? } else { step };
        let width = self.rows * self.post;
        Some(&self.drive[t * width..(t + 1) * width])
    }

    /// Layer 1's drive of the whole block at steps `step..step + steps`, one layer per step
    /// (`delayed`: from the signal of the step before each; `step` at least 1).
    pub fn span_drive(&self, step: usize, steps: usize, delayed: bool) -> &[f32] {
        let t = if delayed { step - 1 } else { step };
        let width = self.rows * self.post;
        &self.drive[t * width..(t + steps) * width]
    }

    /// Writes layer 0's state and window integral at the end of the window, as integrating
    /// it would have left them.
    pub fn finish(&self, state: &mut LayerState, integral: &mut [f32]) {
        let used = self.value_of.len();
        for (k, x) in state.x.iter_mut().enumerate() {
            for (e, &v) in x[..used].iter_mut().zip(&self.value_of) {
                *e = self.state.x[k][v as usize];
            }
        }
        for (i, &v) in integral[..used].iter_mut().zip(&self.value_of) {
            *i = self.integral[v as usize];
        }
    }
}
