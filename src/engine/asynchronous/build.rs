//! Building the asynchronous engine: each synapse's delay drawn, the sample timing those
//! delays give, the workers with their actors, and the per-synapse optimiser.

use std::collections::VecDeque;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::actor::StepRule;
use super::delays::{delay_stats, draw_delays, Delays};
use super::optimiser::Optimiser;
use super::parts::Parted;
use super::schedule::Timing;
use super::worker::{Role, Work, Worker};
use super::{ranks, AsyncEngine, DELAY_STREAM};
use crate::config::{AsyncSettings, LearningMethod, LearningRule, LocalStep, Settings};
use crate::engine::Counters;
use crate::neuron::{LayerNeurons, System};
use crate::topology::Projection;

impl AsyncEngine {
    /// [`AsyncEngine::new`] for one MPI rank that keeps only its part of the layer pairs
    /// `parted` (their `projections` entries carry no coefficients); the collective it is
    /// then given must be the one the parts were cut for.
    pub fn with_parts(
        settings: Settings,
        config: &AsyncSettings,
        projections: Vec<Projection>,
        parted: Vec<Option<Parted>>,
        neurons: Vec<LayerNeurons>,
        threads: usize,
        seed: u64,
    ) -> Self {
        let dt = settings.dt;
        let steps = |v: f32| (v / dt).round().max(0.0) as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(DELAY_STREAM);
        let delays: Vec<Delays> = (projections.iter().zip(&parted))
            .map(|(p, q)| {
                let synapses = q.as_ref().map_or(p.synapses(), |q| q.pre * q.post);
                draw_delays(config.delay, synapses, dt, &mut rng)
            })
            .collect();
        let stats: Vec<(u64, u64, u64)> = delays.iter().map(delay_stats).collect();
        let min_delay = stats.iter().map(|s| s.0).min().unwrap_or(0);
        let mean: Vec<u64> = stats.iter().map(|s| s.1).collect();
        let max: Vec<u64> = stats.iter().map(|s| s.2).collect();
        let first_reversed = match settings.method {
            LearningMethod::Connections => 1,
            LearningMethod::FixedPoints => 0,
        };
        let forward = settings.forward_steps as u64;
        let backward = settings.backward_steps as u64;
        let interval = config
            .sample_interval
            .map_or(forward.max(backward), steps)
            .max(forward.max(backward));
        let timing = Timing::new(
            forward,
            backward,
            interval,
            &mean,
            max.clone(),
            min_delay,
            first_reversed,
        );
        let sizes: Vec<usize> = neurons.iter().map(|l| l.n).collect();
        let mut base = vec![0u32; sizes.len() + 1];
        for (l, &n) in sizes.iter().enumerate() {
            base[l + 1] = base[l] + n as u32;
        }
        let threads = threads.max(1);
        let slots = config.max_in_flight;
        let ring = max.iter().copied().max().unwrap_or(0) + 1;
        let stored: Vec<usize> = (projections.iter().zip(&parted))
            .map(|(p, q)| q.as_ref().map_or(p.coefficients().len(), Parted::kept))
            .collect();
        let optimiser = Optimiser::new(&settings, &stored, &sizes);
        let wave_fits =
            wave_split_fits(&settings, config, &projections, &parted, &delays) && !optimiser.active;
        let rule = StepRule {
            dt,
            integrator: settings.integrator,
            local: config.step,
            clamp: settings.clamp,
            theta: config.theta,
            theta_backward: config.theta_backward,
            element_theta: config.element_theta,
        };
        let mut engine = AsyncEngine {
            settings,
            rule,
            timing,
            projections,
            parted,
            neurons,
            delays,
            sizes,
            base,
            slots,
            workers: Vec::new(),
            pool: None,
            waves: false,
            wave_fits,
            pool_inputs: true,
            spans: true,
            rows_behind: false,
            ring,
            now: 0,
            next_start: 0,
            next_seq: 0,
            in_flight: VecDeque::new(),
            slot_free: vec![0; slots],
            recent: VecDeque::new(),
            counters: Counters::default(),
            work: Work::default(),
            trace: None,
            neurons_changed: false,
            optimiser,
            ranks: ranks::Ranks::single(threads),
        };
        // At zero delay the neuron split exchanges every step; with longer windows it
        // does not, and each worker's half of C caches better than a wave's whole copy.
        let waves = threads == 2 && min_delay == 0 && wave_fits;
        engine.build_workers(threads, waves);
        engine
    }

    /// Splits the engine's two workers by waves ([`Role::Wave`]) or back by neurons,
    /// before anything has run. Without a call the engine chooses: by waves where it may
    /// and the minimum delay is zero.
    pub fn split_by_waves(&mut self, waves: bool) -> Result<(), String> {
        if self.now > 0 || !self.in_flight.is_empty() {
            return Err("the split is chosen before the first sample".into());
        }
        if waves && (self.workers.len() != 2 || !self.wave_fits || self.ranks.spread()) {
            return Err(
                "only two workers of one process, on method 2 with the bsp rule, \
                 sgd, neuron actors, fixed steps, dense wiring and fixed delays, split by waves"
                    .into(),
            );
        }
        self.build_workers(self.workers.len(), waves);
        Ok(())
    }

    /// Pools the input layer's events by pixel value where the model allows it (the
    /// default), or delivers them pixel by pixel: the two differ by float rounding. For
    /// comparisons and benchmarks.
    pub fn pool_input_events(&mut self, on: bool) {
        self.pool_inputs = on;
    }

    /// Runs plain steps layer by layer where the workers may (the default), or every step
    /// for all layers at once: the two give the same numbers. For comparisons and
    /// benchmarks.
    pub fn run_spans(&mut self, on: bool) {
        self.spans = on;
    }

    /// Whether the workers are split by waves.
    pub fn split_is_by_waves(&self) -> bool {
        self.waves
    }

    /// Fresh workers: `threads` splitting the neurons, or two splitting the waves.
    fn build_workers(&mut self, threads: usize, waves: bool) {
        let (sizes, slots, ring, neurons) = (&self.sizes, self.slots, self.ring, &self.neurons);
        let fixed_points =
            (self.settings.method == LearningMethod::FixedPoints).then_some(&self.optimiser.state);
        self.workers = if waves {
            // One logical worker owning every neuron, its two waves on two threads.
            [System::Forward, System::Reversed]
                .map(|s| {
                    Worker::new(0, 1, sizes, slots, ring, neurons, None).in_role(Role::Wave(s))
                })
                .into()
        } else {
            (0..threads)
                .map(|w| Worker::new(w, threads, sizes, slots, ring, neurons, fixed_points))
                .collect()
        };
        self.waves = waves;
    }
}

/// Whether two workers may split this engine by waves ([`Role::Wave`]) rather than by
/// neurons: the waves must meet only where windows close and updates fall. Method 1 moves
/// both systems' fixed points, the `linearised` rule's reversed pass replays the forward
/// states, and element actors and adaptive steps are per-neuron paths, so those keep the
/// neuron split; so do the per-synapse optimisers (their row state belongs to one worker),
/// sparse wiring and per-synapse delays (their forward deliveries read the rows the
/// reversed wave updates), and an engine whose coefficients MPI ranks share.
fn wave_split_fits(
    settings: &Settings,
    config: &AsyncSettings,
    projections: &[Projection],
    parted: &[Option<Parted>],
    delays: &[Delays],
) -> bool {
    settings.method == LearningMethod::Connections
        && settings.rule == LearningRule::Bsp
        && config.element_theta.is_none()
        && config.step == LocalStep::Fixed
        && projections
            .iter()
            .all(|p| matches!(p, Projection::Dense { .. }))
        && parted.iter().all(Option::is_none)
        && delays.iter().all(|d| matches!(d, Delays::Fixed(_)))
}
