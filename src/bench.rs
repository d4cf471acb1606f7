//! Throughput measurement for BENCHMARKS.md: training samples per second of a model (the
//! sync engine with its dense and its sparse input drive, at 1 thread and at all threads,
//! interleaved), its floating-point work per sample, and the ratio to a matrix-multiply
//! roofline measured on the same machine, with the same threads, in the same run; each
//! report opens with the machine and the date (`machine`).

use std::fmt;
use std::time::Instant;

mod machine;

pub use machine::Machine;

use crate::config::Model;
use crate::engine::{Engine, Tally};
use crate::error::Result;
use crate::run::{build_sync_engine, epoch_order, load_data, thread_count};

/// Flops of one Euler step of one neuron's five elements (both systems have the same form:
/// per element 3 multiplies, 2 subtractions, 1 multiply-add for the step, the clamp and the
/// signal bookkeeping).
pub const FLOPS_PER_NEURON_STEP: f64 = 5.0 * 7.0 + 3.0;

/// Rounds of a sync bench: every configuration is timed once per round, the rounds one
/// after the other, so that a change of the machine's load reaches every configuration.
pub const ROUNDS: usize = 2;

/// Seconds of sgemm per roofline measurement (one per thread count and round).
const ROOFLINE_SECONDS: f64 = 0.5;

/// How the forward window drives layer 1 (`engine::sync`'s sparse input drive, or the dense
/// product over every input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPath {
    Dense,
    Sparse,
}

impl InputPath {
    pub fn name(self) -> &'static str {
        match self {
            InputPath::Dense => "dense",
            InputPath::Sparse => "sparse",
        }
    }
}

/// One configuration of a sync bench, its times summed over the rounds.
#[derive(Debug, Clone)]
pub struct BenchRow {
    pub threads: usize,
    pub path: InputPath,
    pub samples: usize,
    pub seconds: f64,
    pub tally: Tally,
    /// sgemm GFLOP/s at this thread count, measured between the same rounds.
    pub roofline_gflops: f64,
}

/// What `bsp-sim bench` measured for a sync model: training samples/s with the dense and
/// the sparse input drive, at 1 thread and at the requested count, interleaved in one
/// process, each against the sgemm roofline at its thread count measured between the same
/// rounds. `Display` gives the aligned table it prints.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Where it ran.
    pub machine: Machine,
    /// The model's name.
    pub model: String,
    pub batch_size: usize,
    /// Samples per configuration and round.
    pub samples: usize,
    pub rounds: usize,
    /// Synaptic multiply-adds per training sample of the dense path (forward, backward,
    /// update).
    pub synaptic_macs_per_sample: f64,
    /// All floating-point operations per training sample of the dense path (2 per
    /// multiply-add plus neurons): the work the roofline bound is computed from.
    pub flops_per_sample: f64,
    /// Shape (k, n) of the largest layer pair, whose forward drive the roofline runs
    /// (rows: each thread's block of the minibatch).
    pub roofline_shape: (usize, usize),
    /// Whether the sparse input drive applies to this model (else only dense rows).
    pub sparse_applies: bool,
    pub rows: Vec<BenchRow>,
}

impl BenchRow {
    pub fn samples_per_second(&self) -> f64 {
        self.samples as f64 / self.seconds
    }

    /// Samples per second the roofline would allow for the dense path's flops.
    pub fn roofline_samples_per_second(&self, flops_per_sample: f64) -> f64 {
        self.roofline_gflops * 1e9 / flops_per_sample
    }

    /// Time per sample over the roofline bound's (below 1: faster than any dense
    /// implementation running at the sgemm rate could be).
    pub fn ratio_to_roofline(&self, flops_per_sample: f64) -> f64 {
        self.roofline_samples_per_second(flops_per_sample) / self.samples_per_second()
    }
}

impl BenchReport {
    /// The row of `threads` and `path`, if measured.
    pub fn row(&self, threads: usize, path: InputPath) -> Option<&BenchRow> {
        self.rows
            .iter()
            .find(|r| r.threads == threads && r.path == path)
    }

    /// Samples/s of `b` over those of `a`.
    fn speedup(a: Option<&BenchRow>, b: Option<&BenchRow>) -> Option<f64> {
        Some(b?.samples_per_second() / a?.samples_per_second())
    }
}

/// Times `samples` training samples of `model` per configuration and round (after one
/// warm-up minibatch per engine): the dense and the sparse input drive, at 1 thread and at
/// `threads` (all cores by default), interleaved over [`ROUNDS`] rounds, with the sgemm
/// roofline at each thread count measured in every round.
pub fn bench(
    model: &Model,
    samples: usize,
    threads: Option<usize>,
    data_dir: Option<std::path::PathBuf>,
) -> Result<BenchReport> {
    let most = thread_count(threads);
    let batch = model.training.batch_size;
    let seed = model.seed;
    let (split, order) = bench_data(model, samples, data_dir)?;
    let lr = model.training.lr;
    let (warm, timed) = order.split_at(batch.min(order.len()));
    let counts: Vec<usize> = if most > 1 { vec![1, most] } else { vec![1] };
    let sparse_applies = build_sync_engine(model, seed, 1).sparse_input();
    let paths: &[InputPath] = if sparse_applies {
        &[InputPath::Dense, InputPath::Sparse]
    } else {
        &[InputPath::Dense]
    };
    let mut engines = Vec::new();
    let mut rows = Vec::new();
    for &t in &counts {
        for &path in paths {
            let mut engine = build_sync_engine(model, seed, t);
            engine.set_sparse_input(path == InputPath::Sparse);
            engine.train_batch(&split.train, warm, lr)?;
            engines.push(engine);
            rows.push(BenchRow {
                threads: t,
                path,
                samples: 0,
                seconds: 0.0,
                tally: Tally::default(),
                roofline_gflops: 0.0,
            });
        }
    }
    let (pre, post) = engines[0]
        .projections()
        .iter()
        .map(|p| (p.pre(), p.post()))
        .max_by_key(|(a, b)| a * b)
        .unwrap_or((1, 1));
    let mut roofline = vec![0.0; counts.len()];
    for _ in 0..ROUNDS {
        for (engine, row) in engines.iter_mut().zip(&mut rows) {
            let t0 = Instant::now();
            for chunk in timed.chunks(batch) {
                row.tally.add(engine.train_batch(&split.train, chunk, lr)?);
            }
            row.seconds += t0.elapsed().as_secs_f64();
            row.samples += timed.len();
        }
        for (g, &t) in roofline.iter_mut().zip(&counts) {
            let block = batch.div_ceil(t).max(1);
            *g += sgemm_gflops(block, pre, post, t, ROOFLINE_SECONDS) / ROUNDS as f64;
        }
    }
    for row in &mut rows {
        let k = counts.iter().position(|&t| t == row.threads).unwrap_or(0);
        row.roofline_gflops = roofline[k];
    }
    let macs = engines[0].synaptic_macs_per_training_sample();
    let flops = 2.0 * macs + FLOPS_PER_NEURON_STEP * engines[0].neuron_steps_per_training_sample();
    Ok(BenchReport {
        machine: Machine::this(),
        model: model.name.clone(),
        batch_size: batch,
        samples: timed.len(),
        rounds: ROUNDS,
        synaptic_macs_per_sample: macs,
        flops_per_sample: flops,
        roofline_shape: (pre, post),
        sparse_applies,
        rows,
    })
}

/// The first `samples` training samples plus a warm-up minibatch, in epoch 0's order.
fn bench_data(
    model: &Model,
    samples: usize,
    data_dir: Option<std::path::PathBuf>,
) -> Result<(crate::data::Split, Vec<usize>)> {
    let batch = model.training.batch_size;
    let split = load_data(
        model,
        model.seed,
        data_dir,
        true,
        Some(samples + batch),
        Some(1),
        &crate::progress::NoProgress,
    )?;
    let order = epoch_order(model.seed, 0, split.train.len());
    Ok((split, order))
}

/// GFLOP/s of single-precision `m x k` by `k x n` products, `threads` at once, for about
/// `seconds` of wall time.
pub fn sgemm_gflops(m: usize, k: usize, n: usize, threads: usize, seconds: f64) -> f64 {
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; k * n];
    let start = Instant::now();
    let counts: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (a, b) = (&a, &b);
                scope.spawn(move || {
                    let mut c = vec![0.0f32; m * n];
                    let mut reps = 0;
                    while start.elapsed().as_secs_f64() < seconds {
                        // SAFETY: a is m x k, b is k x n, c is m x n, all row-major.
                        unsafe {
                            matrixmultiply::sgemm(
                                m,
                                k,
                                n,
                                1.0,
                                a.as_ptr(),
                                k as isize,
                                1,
                                b.as_ptr(),
                                n as isize,
                                1,
                                0.0,
                                c.as_mut_ptr(),
                                n as isize,
                                1,
                            );
                        }
                        reps += 1;
                    }
                    std::hint::black_box(&c);
                    reps
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let total: usize = counts.iter().sum();
    2.0 * (m * k * n) as f64 * total as f64 / elapsed / 1e9
}

/// What `bsp-sim bench` measured for a model with `engine: async`: the event engine and the
/// synchronous engine (with the same event semantics, `coupling: delayed`) on the same
/// samples, one after the other in the same process. `Display` gives the aligned table
/// `bsp-sim bench` prints.
#[derive(Debug, Clone)]
pub struct EventBenchReport {
    /// Where it ran.
    pub machine: Machine,
    /// The model's name.
    pub model: String,
    pub threads: usize,
    pub samples: usize,
    pub async_seconds: f64,
    pub async_samples_per_second: f64,
    pub events_per_sample: f64,
    pub deliveries_per_sample: f64,
    pub deliveries_per_second: f64,
    pub sync_seconds: f64,
    pub sync_samples_per_second: f64,
    pub async_tally: Tally,
    pub sync_tally: Tally,
}

impl EventBenchReport {
    /// Async over sync wall time for the same samples.
    pub fn time_ratio(&self) -> f64 {
        self.async_seconds / self.sync_seconds
    }
}

/// Times `samples` training samples through the asynchronous engine (after one warm-up
/// minibatch, including the drain of the pipeline at the end) and then through the
/// synchronous engine.
pub fn bench_async(
    model: &Model,
    samples: usize,
    threads: Option<usize>,
    data_dir: Option<std::path::PathBuf>,
) -> Result<EventBenchReport> {
    let threads = thread_count(threads);
    let batch = model.training.batch_size;
    let seed = model.seed;
    let (split, order) = bench_data(model, samples, data_dir)?;
    let lr = model.training.lr;
    let (warm, timed) = order.split_at(batch.min(order.len()));
    let time = |engine: &mut dyn Engine| -> Result<(f64, Tally, crate::engine::Counters)> {
        engine.train_batch(&split.train, warm, lr)?;
        engine.finish()?;
        let before = engine.counters();
        let t0 = Instant::now();
        let mut tally = Tally::default();
        for chunk in timed.chunks(batch) {
            tally.add(engine.train_batch(&split.train, chunk, lr)?);
        }
        engine.finish()?;
        let seconds = t0.elapsed().as_secs_f64();
        let after = engine.counters();
        let work = crate::engine::Counters {
            events: after.events - before.events,
            deliveries: after.deliveries - before.deliveries,
            ..after
        };
        Ok((seconds, tally, work))
    };
    let mut events = crate::run::build_async_engine(model, seed, threads);
    let (async_seconds, async_tally, work) = time(&mut events)?;
    let mut sync_model = model.clone();
    // The event semantics of a zero-delay synapse (only the coupling differs).
    sync_model.settings.coupling = crate::config::Coupling::Delayed;
    let mut sync = build_sync_engine(&sync_model, seed, threads);
    let (sync_seconds, sync_tally, _) = time(&mut sync)?;
    let n = async_tally.samples as f64;
    Ok(EventBenchReport {
        machine: Machine::this(),
        model: model.name.clone(),
        threads,
        samples: async_tally.samples,
        async_seconds,
        async_samples_per_second: n / async_seconds,
        events_per_sample: work.events as f64 / n,
        deliveries_per_sample: work.deliveries as f64 / n,
        deliveries_per_second: work.deliveries as f64 / async_seconds,
        sync_seconds,
        sync_samples_per_second: sync_tally.samples as f64 / sync_seconds,
        async_tally,
        sync_tally,
    })
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.machine)?;
        writeln!(f, "model              {}", self.model)?;
        writeln!(f, "batch size         {}", self.batch_size)?;
        writeln!(
            f,
            "samples timed      {} per row and round, {} rounds, rows interleaved",
            self.samples, self.rounds
        )?;
        writeln!(
            f,
            "dense work         {:.3e} flops per sample ({:.3e} synaptic MACs)",
            self.flops_per_sample, self.synaptic_macs_per_sample
        )?;
        let (k, n) = self.roofline_shape;
        writeln!(
            f,
            "sgemm roofline     (block of the batch)x{k} by {k}x{n}, every thread busy"
        )?;
        if !self.sparse_applies {
            writeln!(
                f,
                "sparse input       does not apply (layer 0's neurons differ, or sparse wiring)"
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "threads  input   samples/s  roofline GFLOP/s  roofline samples/s  time / roofline"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:>7}  {:<6}  {:>9.1}  {:>16.2}  {:>18.1}  {:>14.2}x",
                r.threads,
                r.path.name(),
                r.samples_per_second(),
                r.roofline_gflops,
                r.roofline_samples_per_second(self.flops_per_sample),
                r.ratio_to_roofline(self.flops_per_sample)
            )?;
        }
        let counts: Vec<usize> = {
            let mut c: Vec<usize> = self.rows.iter().map(|r| r.threads).collect();
            c.dedup();
            c
        };
        writeln!(f)?;
        for &t in &counts {
            let row = |p| self.row(t, p);
            if let Some(x) = Self::speedup(row(InputPath::Dense), row(InputPath::Sparse)) {
                writeln!(f, "sparse / dense     {x:.2}x at {t} thread(s)")?;
            }
        }
        if let [one, more] = counts[..] {
            for p in [InputPath::Dense, InputPath::Sparse] {
                if let Some(x) = Self::speedup(self.row(one, p), self.row(more, p)) {
                    writeln!(f, "{more} / {one} threads    {x:.2}x ({})", p.name())?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for EventBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.machine)?;
        writeln!(
            f,
            "model              {} (async vs sync, coupling: delayed)",
            self.model
        )?;
        writeln!(f, "threads            {}", self.threads)?;
        writeln!(f, "samples timed      {}", self.samples)?;
        writeln!(
            f,
            "async              {:.2} s, {:.1} samples/s, {:.0} events/sample",
            self.async_seconds, self.async_samples_per_second, self.events_per_sample
        )?;
        writeln!(
            f,
            "deliveries         {:.3e} per sample, {:.3e} per second",
            self.deliveries_per_sample, self.deliveries_per_second
        )?;
        writeln!(
            f,
            "sync               {:.2} s, {:.1} samples/s",
            self.sync_seconds, self.sync_samples_per_second
        )?;
        write!(f, "async / sync time  {:.2}", self.time_ratio())
    }
}
