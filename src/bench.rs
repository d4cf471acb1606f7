//! Throughput measurement for BENCHMARKS.md: training samples per second of a model, its
//! floating-point work per sample, and the ratio to a matrix-multiply roofline measured on
//! the same machine, with the same threads, in the same run.

use std::fmt;
use std::time::Instant;

use crate::config::Model;
use crate::engine::{Engine, Tally};
use crate::error::Result;
use crate::run::{build_sync_engine, epoch_order, load_data, thread_count};

/// Flops of one Euler step of one neuron's five elements (both systems have the same form:
/// per element 3 multiplies, 2 subtractions, 1 multiply-add for the step, the clamp and the
/// signal bookkeeping).
pub const FLOPS_PER_NEURON_STEP: f64 = 5.0 * 7.0 + 3.0;

/// What `bsp-sim bench` measured; `Display` gives the aligned table it prints.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The model's name.
    pub model: String,
    pub threads: usize,
    pub batch_size: usize,
    pub samples: usize,
    pub seconds: f64,
    pub samples_per_second: f64,
    /// Synaptic multiply-adds per training sample (forward, backward, update).
    pub synaptic_macs_per_sample: f64,
    /// All floating-point operations per training sample (2 per multiply-add plus neurons).
    pub flops_per_sample: f64,
    pub achieved_gflops: f64,
    /// sgemm throughput on the model's largest layer shape, all threads busy.
    pub roofline_gflops: f64,
    /// Shape (m, k, n) the roofline was measured on.
    pub roofline_shape: (usize, usize, usize),
    /// Samples per second the roofline would allow for this flop count.
    pub roofline_samples_per_second: f64,
    pub tally: Tally,
}

impl BenchReport {
    /// How far from the roofline: roofline samples/s divided by achieved samples/s.
    pub fn ratio_to_roofline(&self) -> f64 {
        self.roofline_samples_per_second / self.samples_per_second
    }
}

/// Times `samples` training samples of `model` (after one warm-up minibatch) and measures
/// the roofline right after, in the same process.
pub fn bench(
    model: &Model,
    samples: usize,
    threads: Option<usize>,
    data_dir: Option<std::path::PathBuf>,
) -> Result<BenchReport> {
    let threads = thread_count(threads);
    let batch = model.training.batch_size;
    let seed = model.seed;
    let (split, order) = bench_data(model, samples, data_dir)?;
    let mut engine = build_sync_engine(model, seed, threads);
    let lr = model.training.lr;
    let (warm, timed) = order.split_at(batch.min(order.len()));
    engine.train_batch(&split.train, warm, lr)?;
    let t0 = Instant::now();
    let mut tally = Tally::default();
    for chunk in timed.chunks(batch) {
        tally.add(engine.train_batch(&split.train, chunk, lr)?);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let macs = engine.synaptic_macs_per_training_sample();
    let flops = 2.0 * macs + FLOPS_PER_NEURON_STEP * engine.neuron_steps_per_training_sample();
    let sps = tally.samples as f64 / seconds;

    // Roofline: the forward drive of the largest layer pair for each thread's block of the
    // minibatch, every thread busy at once.
    let (pre, post) = engine
        .projections()
        .iter()
        .map(|p| (p.pre(), p.post()))
        .max_by_key(|(a, b)| a * b)
        .unwrap_or((1, 1));
    let rows = batch.div_ceil(threads).max(1);
    let roofline = sgemm_gflops(rows, pre, post, threads, 1.0);
    Ok(BenchReport {
        model: model.name.clone(),
        threads,
        batch_size: batch,
        samples: tally.samples,
        seconds,
        samples_per_second: sps,
        synaptic_macs_per_sample: macs,
        flops_per_sample: flops,
        achieved_gflops: sps * flops / 1e9,
        roofline_gflops: roofline,
        roofline_shape: (rows, pre, post),
        roofline_samples_per_second: roofline * 1e9 / flops,
        tally,
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
        writeln!(f, "model              {}", self.model)?;
        writeln!(f, "threads            {}", self.threads)?;
        writeln!(f, "batch size         {}", self.batch_size)?;
        writeln!(
            f,
            "samples timed      {} in {:.2} s",
            self.samples, self.seconds
        )?;
        writeln!(
            f,
            "training           {:.1} samples/s",
            self.samples_per_second
        )?;
        writeln!(
            f,
            "synaptic MACs      {:.3e} per sample",
            self.synaptic_macs_per_sample
        )?;
        writeln!(
            f,
            "flops              {:.3e} per sample ({:.2} GFLOP/s achieved)",
            self.flops_per_sample, self.achieved_gflops
        )?;
        let (a, b, c) = self.roofline_shape;
        writeln!(
            f,
            "sgemm roofline     {:.2} GFLOP/s ({a}x{b} by {b}x{c}, {} threads)",
            self.roofline_gflops, self.threads
        )?;
        writeln!(
            f,
            "roofline bound     {:.1} samples/s",
            self.roofline_samples_per_second
        )?;
        write!(f, "ratio to roofline  {:.2}x", self.ratio_to_roofline())
    }
}

impl fmt::Display for EventBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
