//! The input layer's actors under their stimulus: a layer-0 actor's input is its pixel's
//! value, constant over the forward window, and nothing else reaches it, so its whole
//! window — the events it sends, its integrals at the close — is a function of that value
//! alone. The worker integrates each distinct value once (on the same kernel, with the same
//! send-on-delta, as the actors would) and the actors replay their value's response: an
//! MNIST image has at most 256 distinct values over its ~150 lit pixels, and a data set
//! reuses them image after image. Where values do not repeat (fewer than half of the first
//! 4,096 actors reuse one), the worker stops replaying and integrates.
//!
//! Replay gives the numbers of integrating: the kernel's arithmetic is lane by lane, the
//! same for one actor as for a batch. It applies where nothing else looks at the actors'
//! states during the window: the layer's neurons alike (shared coefficients, one rest
//! state), plain fixed steps (no element actors), no trace of layer 0, and no `linearised`
//! record of it. Elsewhere the actors integrate as before.

use rustc_hash::FxHashMap;

use super::population::Population;
use crate::engine::asynchronous::actor::StepRule;
use crate::neuron::layer::{self as kernel, LayerCoefficients, Ports, Stepping};
use crate::neuron::{Coefficients, Integrator, System, ELEMENTS};

/// One input value's forward window, as an actor at rest would live it.
#[derive(Debug, Clone)]
struct Response {
    /// (step of the window, value sent) of every event it sends.
    events: Vec<(u32, f32)>,
    /// The step at which its output deviation is not finite (the window stops there).
    nonfinite: Option<u32>,
    /// Its integrals and last value sent at the close.
    integral: f32,
    sent_integral: f32,
    sent: f32,
}

/// Responses kept at most (then forgotten, and computed again as values come back): inputs
/// of continuous values rarely repeat.
const MAX_RESPONSES: usize = 1 << 16;

/// What the responses depend on besides the input value.
#[derive(Debug, Clone, PartialEq)]
struct Basis {
    coefficients: Coefficients<f32>,
    rest: [f32; ELEMENTS],
    reference: f32,
    steps: u64,
    input: usize,
    output: usize,
    /// The step: integrator, dt, clamp, and the forward send-on-delta threshold.
    integrator: Integrator,
    dt: f32,
    clamp: bool,
    theta: f32,
}

/// The input layer's replayed windows of one worker.
#[derive(Debug, Default)]
pub(super) struct Stimulus {
    basis: Option<Basis>,
    /// Responses by input value (its bits).
    responses: FxHashMap<u32, usize>,
    computed: Vec<Response>,
    /// The open window's replaying actors: (own index, response).
    actors: Vec<(u32, u32)>,
    /// The open window's events by step: those of step m are `timeline[starts[m]..starts[m
    /// + 1]]`, (own index, value sent) in actor order.
    timeline: Vec<(u32, f32)>,
    starts: Vec<usize>,
    /// The first step at which a replaying actor's output is not finite.
    stops: Option<u32>,
    /// Step at which the open window opened; `None` when it integrates instead.
    opened: Option<u64>,
    /// Awake actors seen at openings, and how many of them found their value's response
    /// already computed.
    seen: u64,
    reused: u64,
}

/// After this many awake actors, replay stops for good if fewer than half of them reused a
/// response: inputs of continuous values (the synthetic set) never repeat, and computing a
/// response for each costs more than integrating in place.
const TRIAL: u64 = 4096;

/// What [`Stimulus::step`] found.
pub(super) enum Replayed {
    /// Not replaying: integrate.
    No,
    /// The actors that fired are in `fired`, their values in `sent`.
    Yes,
    /// An output deviation stopped being finite.
    NonFinite,
}

impl Stimulus {
    /// At the opening (step `n`) of the input layer's forward window: replay it if `basis`
    /// (the layer's shared coefficients, rest and reference, `None` where its neurons
    /// differ) allows, computing the responses of input values not seen yet.
    pub(super) fn open(
        &mut self,
        pop: &Population,
        basis: Option<(Coefficients<f32>, [f32; ELEMENTS], f32)>,
        n: u64,
        rule: &StepRule,
        (steps, input, output): (u64, usize, usize),
    ) {
        self.opened = None;
        self.actors.clear();
        let Some((coefficients, rest, reference)) = basis else {
            return;
        };
        if self.seen >= TRIAL && 2 * self.reused < self.seen {
            return;
        }
        let basis = Basis {
            coefficients,
            rest,
            reference,
            steps,
            input,
            output,
            integrator: rule.integrator,
            dt: rule.dt,
            clamp: rule.clamp,
            theta: rule.theta,
        };
        if self.basis.as_ref() != Some(&basis) {
            self.responses.clear();
            self.computed.clear();
            self.basis = Some(basis.clone());
        }
        if self.computed.len() > MAX_RESPONSES {
            self.responses.clear();
            self.computed.clear();
        }
        // Values not seen yet are integrated together, one lane each.
        let mut new = Vec::new();
        for jj in 0..pop.len() {
            if pop.quiescent[jj] {
                continue;
            }
            let u = pop.input[jj];
            let next = self.computed.len() + new.len();
            let k = *self.responses.entry(u.to_bits()).or_insert_with(|| {
                new.push(u);
                next
            });
            self.actors.push((jj as u32, k as u32));
        }
        self.seen += self.actors.len() as u64;
        self.reused += (self.actors.len() - new.len()) as u64;
        if !new.is_empty() {
            self.computed.extend(respond(&basis, &new));
        }
        self.lay_out(steps as usize);
        self.opened = Some(n);
    }

    /// Sorts the replaying actors' events by step (a counting sort: each actor's events are
    /// in step order, and the actors are in actor order).
    fn lay_out(&mut self, steps: usize) {
        self.starts.clear();
        self.starts.resize(steps + 2, 0);
        self.stops = None;
        for &(_, k) in &self.actors {
            let response = &self.computed[k as usize];
            for &(m, _) in &response.events {
                self.starts[m as usize + 2] += 1;
            }
            self.stops = match (self.stops, response.nonfinite) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        for m in 2..self.starts.len() {
            self.starts[m] += self.starts[m - 1];
        }
        self.timeline.clear();
        self.timeline.resize(self.starts[steps + 1], (0, 0.0));
        // starts[m + 1] is the next free place of step m while filling.
        for &(jj, k) in &self.actors {
            for &(m, value) in &self.computed[k as usize].events {
                let at = &mut self.starts[m as usize + 1];
                self.timeline[*at] = (jj, value);
                *at += 1;
            }
        }
    }

    /// Step `n` of the window: the replaying actors whose response sends now set their
    /// value sent and are listed in `fired`, in actor order.
    pub(super) fn step(&mut self, pop: &mut Population, n: u64, fired: &mut Vec<u32>) -> Replayed {
        let Some(opened) = self.opened else {
            return Replayed::No;
        };
        let m = (n - opened) as u32;
        if self.stops == Some(m) {
            return Replayed::NonFinite;
        }
        let events = self
            .timeline
            .get(self.starts[m as usize]..self.starts[m as usize + 1]);
        for &(jj, value) in events.unwrap_or_default() {
            pop.sent[jj as usize] = value;
            fired.push(jj);
        }
        Replayed::Yes
    }

    /// At the close: the replaying actors' integrals and last values sent, as integrating
    /// would have left them.
    pub(super) fn close(&mut self, pop: &mut Population) {
        if self.opened.take().is_none() {
            return;
        }
        for &(jj, k) in &self.actors {
            let (jj, response) = (jj as usize, &self.computed[k as usize]);
            pop.integral[jj] = response.integral;
            pop.sent_integral[jj] = response.sent_integral;
            pop.sent[jj] = response.sent;
        }
    }
}

/// Integrates actors at rest with constant inputs `inputs`, one lane each, over the
/// window: the batched kernel, then send-on-delta, as `integrate_batch` and `step_layer`
/// do for the awake actors of a layer (lane by lane the same arithmetic).
fn respond(basis: &Basis, inputs: &[f32]) -> Vec<Response> {
    let k = inputs.len();
    let mut pop = Population::new(k);
    pop.input.copy_from_slice(inputs);
    pop.open(0, basis.steps, |_| basis.rest);
    let coefficients = LayerCoefficients::uniform(&basis.coefficients, k);
    let stepping = Stepping {
        integrator: basis.integrator,
        dt: basis.dt,
        clamp: basis.clamp,
    };
    let reference = vec![basis.reference; k];
    let (mut signal, mut scratch) = (vec![0.0f32; k], vec![0.0f32; k]);
    let mut responses = vec![
        Response {
            events: Vec::new(),
            nonfinite: None,
            integral: 0.0,
            sent_integral: 0.0,
            sent: 0.0,
        };
        k
    ];
    for m in 0..basis.steps as u32 {
        kernel::step(
            System::Forward,
            &coefficients,
            &mut pop.state,
            Ports {
                input: basis.input,
                current: &pop.input,
                output: basis.output,
                reference: &reference,
                signal: &mut signal,
                integral: &mut scratch,
            },
            stepping,
        );
        for (lane, response) in responses.iter_mut().enumerate() {
            if response.nonfinite.is_some() {
                continue;
            }
            let d = signal[lane];
            if pop.signal_one(lane, d, basis.theta, basis.dt) {
                response.events.push((m, pop.sent[lane]));
            }
            if !d.is_finite() {
                response.nonfinite = Some(m);
            }
        }
    }
    for (lane, response) in responses.iter_mut().enumerate() {
        response.integral = pop.integral[lane];
        response.sent_integral = pop.sent_integral[lane];
        response.sent = pop.sent[lane];
    }
    responses
}

#[cfg(test)]
mod tests {
    use super::{respond, Basis, Replayed, Stimulus, TRIAL};
    use crate::config::LocalStep;
    use crate::engine::asynchronous::actor::StepRule;
    use crate::engine::asynchronous::worker::population::Population;
    use crate::neuron::{Coefficients, Integrator, System};

    fn rule() -> StepRule {
        StepRule {
            dt: 0.1,
            integrator: Integrator::Euler,
            local: LocalStep::Fixed,
            clamp: true,
            theta: 0.02,
            theta_backward: 0.001,
            element_theta: None,
        }
    }

    fn basis() -> (Coefficients, [f32; 5], f32) {
        let c = Coefficients::new(System::Forward, [2.0; 5], [1.0; 5], [1.0; 5]);
        (c, [0.5, 0.4, 0.3, 0.2, 0.1], 0.3)
    }

    /// A value's response does not depend on the other values integrated beside it.
    #[test]
    fn a_response_is_the_same_in_any_company() {
        let (coefficients, rest, reference) = basis();
        let r = rule();
        let b = Basis {
            coefficients,
            rest,
            reference,
            steps: 40,
            input: 0,
            output: 1,
            integrator: r.integrator,
            dt: r.dt,
            clamp: r.clamp,
            theta: r.theta,
        };
        let together = respond(&b, &[0.7, 3.0, 0.7, 0.01]);
        let alone = respond(&b, &[0.7]);
        let key = |r: &super::Response| {
            let events: Vec<(u32, u32)> = r.events.iter().map(|&(m, v)| (m, v.to_bits())).collect();
            (
                events,
                r.integral.to_bits(),
                r.sent_integral.to_bits(),
                r.sent.to_bits(),
            )
        };
        assert_eq!(key(&together[0]), key(&alone[0]));
        assert_eq!(key(&together[2]), key(&alone[0]));
        assert_ne!(key(&together[1]), key(&alone[0]));
        assert!(!alone[0].events.is_empty() && alone[0].nonfinite.is_none());
    }

    /// Values that never repeat switch the replay off after the trial; repeated ones keep it.
    #[test]
    fn replay_stops_where_values_do_not_repeat() {
        for repeating in [true, false] {
            let mut stimulus = Stimulus::default();
            let mut pop = Population::new(64);
            let mut k = 0u32;
            for window in 0..(2 * TRIAL / 64) {
                for u in pop.input.iter_mut() {
                    k += 1;
                    *u = if repeating {
                        0.25 * (k % 5 + 1) as f32
                    } else {
                        1.0 + k as f32 * 1e-4
                    };
                }
                pop.open(0, 10, |_| basis().1);
                let tried = stimulus.seen >= TRIAL;
                stimulus.open(&pop, Some(basis()), 100 * window, &rule(), (10, 0, 1));
                let replaying = stimulus.step(&mut pop, 100 * window, &mut Vec::new());
                let expected = repeating || !tried;
                assert_eq!(
                    matches!(replaying, Replayed::Yes),
                    expected,
                    "window {window}"
                );
                stimulus.close(&mut pop);
            }
        }
    }
}
