//! A neuron actor: one neuron's forward and reversed five-element systems with their own
//! inputs, local integration, send-on-delta output and window integrals.
//!
//! The input of each system is piecewise constant: it changes only when an event arrives
//! (at a step boundary; delays are whole steps). Between events the actor integrates its
//! own equations with the model's integrator, either one step per `dt` or adaptively
//! (error-controlled sub-steps). After each step it compares its output deviation with the
//! last value it sent and emits a new event when it has moved by at least `theta`.

use crate::config::LocalStep;
use crate::neuron::kernel;
use crate::neuron::{clamp_nonneg, Coefficients, Integrator, System, ELEMENTS};

/// One system (forward or reversed) of a neuron actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemState {
    pub x: [f32; ELEMENTS],
    /// Input current into the system's input element (sum of delivered events).
    pub input: f32,
    /// Last value sent (the deviation the synapses currently carry).
    pub sent: f32,
    /// Integral of the own output deviation over the open window.
    pub integral: f32,
    /// Integral of the sent signal over the open window: what every outgoing synapse
    /// observes from the events it carries.
    pub sent_integral: f32,
    /// Sample slot of the open window, if one is open.
    pub window: Option<usize>,
    /// Step at which the open window closes.
    pub closes: u64,
    /// Current adaptive sub-step exponent (step = dt / 2^k).
    pub halvings: u32,
    /// Events the element actors sent each other (element granularity).
    pub element_events: u64,
    /// Resting (nothing to integrate until an input arrives).
    pub quiescent: bool,
    /// Element granularity: the value each element actor last sent to the elements it
    /// drives (what the others integrate with).
    pub elements_sent: [f32; ELEMENTS],
}

/// What one integration step needs besides the state.
#[derive(Debug, Clone, Copy)]
pub struct StepRule {
    pub dt: f32,
    pub integrator: Integrator,
    pub local: LocalStep,
    pub clamp: bool,
    /// Send-on-delta thresholds of the forward and the reversed system.
    pub theta: f32,
    pub theta_backward: f32,
    /// `Some(theta)` when every element is its own actor.
    pub element_theta: Option<f32>,
}

impl SystemState {
    /// Opens a window for sample `slot`: back to rest, integrals cleared.
    pub fn open(&mut self, slot: usize, closes: u64, rest: &[f32; ELEMENTS]) {
        self.x = *rest;
        self.integral = 0.0;
        self.sent_integral = 0.0;
        self.window = Some(slot);
        self.closes = closes;
        self.quiescent = self.input == 0.0;
        self.elements_sent = *rest;
    }

    /// Integrates one step and returns the new value to send, if the output moved by at
    /// least theta. `input` and `output` are element indices; `reference` the rest level the
    /// deviation is measured from.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn step(
        &mut self,
        system: System,
        c: &Coefficients,
        input: usize,
        output: usize,
        reference: f32,
        rule: &StepRule,
    ) -> Option<f32> {
        self.integrate(system, c, input, rule);
        self.observe(system, output, reference, rule)
    }

    /// Advances the state one `dt` (the first half of [`SystemState::step`]; the worker
    /// integrates whole layers at once with the batched kernel instead where it can).
    #[inline(always)]
    pub fn integrate(&mut self, system: System, c: &Coefficients, input: usize, rule: &StepRule) {
        match (rule.local, rule.element_theta) {
            (_, Some(theta)) => {
                self.element_events += self.elements_step(system, c, input, rule, theta);
            }
            (LocalStep::Fixed, None) => {
                // The synchronous kernel's own step, so both engines round alike.
                let reversed = system == System::Reversed;
                let (x, u) = (&self.x, self.input);
                self.x = kernel::step(
                    reversed,
                    rule.integrator,
                    c,
                    x,
                    input,
                    u,
                    rule.dt,
                    rule.clamp,
                );
            }
            (
                LocalStep::Adaptive {
                    tolerance,
                    max_halvings,
                },
                None,
            ) => self.adaptive(system, c, input, rule, tolerance, max_halvings),
        }
    }

    /// After a step: the output deviation joins the window integrals, and the value to
    /// send if it moved by at least theta since the last event.
    #[inline(always)]
    pub fn observe(
        &mut self,
        system: System,
        output: usize,
        reference: f32,
        rule: &StepRule,
    ) -> Option<f32> {
        let d = self.x[output] - reference;
        let theta = match system {
            System::Forward => rule.theta,
            System::Reversed => rule.theta_backward,
        };
        self.signal(d, theta, rule.dt)
    }

    /// The step's output signal `d` joins the window integrals; returns it when it moved by
    /// at least `theta` since the last event (any change when 0): send-on-delta.
    #[inline(always)]
    pub fn signal(&mut self, d: f32, theta: f32, dt: f32) -> Option<f32> {
        self.integral += dt * d;
        send_on_delta(d, &mut self.sent, &mut self.sent_integral, theta, dt).then_some(d)
    }

    /// Element granularity: each element advances its own equation one step from its own
    /// value and the values its source (k1) and inhibitor (k3) elements last sent it, then
    /// sends its new value to the elements it drives if it moved by at least `theta` (any
    /// change when 0). Returns the internal events sent. With theta 0 every element sees its
    /// neighbours' values of the previous step: explicit Euler exactly.
    fn elements_step(
        &mut self,
        system: System,
        c: &Coefficients,
        input: usize,
        rule: &StepRule,
        theta: f32,
    ) -> u64 {
        let sent = self.elements_sent;
        let implicit = rule.integrator == Integrator::SemiImplicit;
        let mut events = 0;
        for i in 0..ELEMENTS {
            let mask = if i == input { 1.0 } else { 0.0 };
            let x = self.x[i];
            let produce = c.gen[i] * sent[system.source(i)] + mask * self.input;
            let loss_rate = c.decay[i] + c.inhib[i] * sent[system.inhibitor(i)];
            let v = if implicit {
                (x + rule.dt * produce) / (1.0 + rule.dt * loss_rate)
            } else {
                x + rule.dt * (produce - loss_rate * x)
            };
            self.x[i] = if rule.clamp { clamp_nonneg(v) } else { v };
            let moved = self.x[i] - sent[i];
            if (theta == 0.0 && moved != 0.0) || (theta > 0.0 && moved.abs() >= theta) {
                self.elements_sent[i] = self.x[i];
                events += 1;
            }
        }
        events
    }

    /// Heun sub-steps over one `dt`, each checked against the Euler step from the same
    /// point: a sub-step whose largest element difference exceeds `tolerance` is redone at
    /// half the size; after two accepted sub-steps well inside the tolerance the actor tries
    /// a step twice as long. The step size persists between events.
    fn adaptive(
        &mut self,
        system: System,
        c: &Coefficients,
        input: usize,
        rule: &StepRule,
        tolerance: f32,
        max_halvings: u32,
    ) {
        let mut u = [0.0; ELEMENTS];
        u[input] = self.input;
        let mut done = 0u64; // progress in units of dt / 2^max_halvings
        let whole = 1u64 << max_halvings;
        let mut easy = 0;
        while done < whole {
            let k = self.halvings.min(max_halvings);
            let mut units = 1u64 << (max_halvings - k);
            // Never step past the end of this dt.
            while units > whole - done {
                units >>= 1;
            }
            let h = rule.dt * units as f32 / whole as f32;
            let d1 = c.derivative(system, &self.x, &u);
            let euler: [f32; ELEMENTS] = std::array::from_fn(|i| self.x[i] + h * d1[i]);
            let d2 = c.derivative(system, &euler, &u);
            let heun: [f32; ELEMENTS] =
                std::array::from_fn(|i| self.x[i] + 0.5 * h * (d1[i] + d2[i]));
            let err = (0..ELEMENTS)
                .map(|i| (heun[i] - euler[i]).abs())
                .fold(0.0f32, f32::max);
            if err > tolerance && k < max_halvings && err.is_finite() {
                self.halvings = k + 1;
                easy = 0;
                continue;
            }
            self.x = if rule.clamp {
                heun.map(clamp_nonneg)
            } else {
                heun
            };
            done += units;
            if err < tolerance / 4.0 {
                easy += 1;
                if easy >= 2 && self.halvings > 0 {
                    self.halvings -= 1;
                    easy = 0;
                }
            }
        }
    }
}

/// Send-on-delta of one system whose output deviation is now `d`: whether it moved by at
/// least `theta` since the value last sent (any change when 0), in which case `d` becomes
/// the value sent; the value sent then joins its window integral.
#[inline(always)]
pub fn send_on_delta(d: f32, sent: &mut f32, sent_integral: &mut f32, theta: f32, dt: f32) -> bool {
    let moved = d - *sent;
    let emit = if theta == 0.0 {
        moved != 0.0
    } else {
        moved.abs() >= theta
    };
    if emit {
        *sent = d;
    }
    *sent_integral += dt * *sent;
    emit
}

/// Element granularity: how many steps a step input into a resting neuron takes to reach
/// each element (the step after which the element first sends a changed value), for
/// `system` with the input at its input port. Each hop between element actors takes one
/// step, so this is the causal distance from the input element plus one (tested against
/// `causal`). `None`: not reached within `max_steps`.
pub fn first_arrivals(
    params: &crate::neuron::NeuronParams,
    system: System,
    current: f32,
    dt: f32,
    max_steps: u64,
) -> [Option<u64>; ELEMENTS] {
    let (rest, input, output) = match system {
        System::Forward => (params.rest, params.input.index(), params.output.index()),
        System::Reversed => (
            params.rest_reversed,
            params.output.index(),
            params.input.index(),
        ),
    };
    let rule = StepRule {
        dt,
        integrator: Integrator::Euler,
        local: LocalStep::Fixed,
        clamp: params.clamp,
        theta: 0.0,
        theta_backward: 0.0,
        element_theta: Some(0.0),
    };
    let c = params.coefficients(system);
    let mut s = SystemState {
        input: current,
        ..SystemState::default()
    };
    s.open(0, max_steps, &rest);
    let mut arrival = [None; ELEMENTS];
    for step in 1..=max_steps {
        s.step(system, &c, input, output, rest[output], &rule);
        for (e, a) in arrival.iter_mut().enumerate() {
            if a.is_none() && s.elements_sent[e] != rest[e] {
                *a = Some(step);
            }
        }
    }
    arrival
}
