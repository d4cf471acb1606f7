//! Assembly of a run: the worker threads, the network and engine a model and seed build,
//! the data set (checked against the network's shape), a checkpoint restored into an engine,
//! and each epoch's seeded sample order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::checkpoint::Checkpoint;
use crate::config::{Connectivity, DataSource, EngineKind, Model};
use crate::data::{self, DataSearch, Dataset, Split};
use crate::distributed::Collective;
use crate::engine::asynchronous::parts::Parted;
use crate::engine::asynchronous::AsyncEngine;
use crate::engine::sync::SyncEngine;
use crate::engine::Engine;
use crate::error::{CheckpointError, Result, SimError};
use crate::neuron::LayerNeurons;
use crate::progress::Progress;
use crate::topology::build::{build_network, build_network_part};
use crate::topology::{Network, Projection};

/// Streams `SHUFFLE_STREAM + epoch` order each epoch's training samples.
const SHUFFLE_STREAM: u64 = 1000;

/// Number of worker threads: the option, else the machine's parallelism.
pub fn thread_count(threads: Option<usize>) -> usize {
    threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// The model's engine as one of the processes of `comm`, or the only one: across MPI ranks
/// the asynchronous engine builds and keeps only this rank's part of each dense layer pair
/// ([`crate::engine::asynchronous::parts`]); the synchronous engine keeps everything.
pub fn build_engine_on(
    model: &Model,
    seed: u64,
    threads: usize,
    comm: &Arc<dyn Collective>,
) -> Result<Box<dyn Engine>> {
    let mut engine: Box<dyn Engine> = match model.engine {
        EngineKind::Async if comm.ranks() > 1 => Box::new(build_async_part(
            model,
            seed,
            threads,
            comm.rank(),
            comm.ranks(),
        )),
        _ => build_engine(model, seed, threads)?,
    };
    engine.set_collective(Arc::clone(comm))?;
    Ok(engine)
}

/// Rank `rank`'s asynchronous engine of `ranks` with `threads` workers each: its part of
/// every dense (`full`) layer pair, the sparse ones whole.
fn build_async_part(
    model: &Model,
    seed: u64,
    threads: usize,
    rank: usize,
    ranks: usize,
) -> AsyncEngine {
    let layers = &model.network.layers;
    let workers = threads * ranks;
    let local = rank * threads..(rank + 1) * threads;
    let keeps: Vec<Option<_>> = (model.network.connectivity.iter().enumerate())
        .take(layers.len() - 1)
        .map(|(l, c)| {
            matches!(c, Connectivity::Full)
                .then(|| Parted::keeps(layers[l], layers[l + 1], workers, &local))
        })
        .collect();
    let net = build_network_part(model, seed, |l, j, i| {
        keeps[l].as_ref().is_none_or(|keep| keep(j, i))
    });
    let (projections, parted) = (0..keeps.len())
        .map(|l| match keeps[l] {
            Some(_) => (
                Projection::Dense {
                    pre: layers[l],
                    post: layers[l + 1],
                    c: Vec::new(),
                },
                Some(Parted::compile(&net, l, workers, local.clone())),
            ),
            None => (net.projection(l), None),
        })
        .unzip();
    AsyncEngine::with_parts(
        model.settings.clone(),
        &model.asynchronous,
        projections,
        parted,
        layer_neurons(model, &net),
        threads,
        seed,
    )
}

/// Builds the network from the seed and compiles it into the model's engine.
pub fn build_engine(model: &Model, seed: u64, threads: usize) -> Result<Box<dyn Engine>> {
    Ok(match model.engine {
        EngineKind::Sync => Box::new(build_sync_engine(model, seed, threads)),
        EngineKind::Async => Box::new(build_async_engine(model, seed, threads)),
    })
}

fn layer_neurons(model: &Model, net: &Network) -> Vec<LayerNeurons> {
    net.layers
        .iter()
        .map(|&n| LayerNeurons::uniform(&model.neuron, n))
        .collect()
}

/// The synchronous engine over the network the seed builds.
pub fn build_sync_engine(model: &Model, seed: u64, threads: usize) -> SyncEngine {
    let net = build_network(model, seed);
    SyncEngine::new(
        model.settings.clone(),
        net.projections(),
        layer_neurons(model, &net),
        threads,
    )
}

/// The asynchronous engine over the network the seed builds (same initial C).
pub fn build_async_engine(model: &Model, seed: u64, threads: usize) -> AsyncEngine {
    let net = build_network(model, seed);
    AsyncEngine::new(
        model.settings.clone(),
        &model.asynchronous,
        net.projections(),
        layer_neurons(model, &net),
        threads,
        seed,
    )
}

/// Loads (or generates) the model's data, applies the limits and checks the shapes.
pub fn load_data(
    model: &Model,
    seed: u64,
    data_dir: Option<PathBuf>,
    offline: bool,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    progress: &dyn Progress,
) -> Result<Split> {
    let mut split = match &model.data {
        DataSource::Synthetic(spec) => data::synthetic::generate(spec, seed),
        DataSource::Named {
            name,
            dir,
            download,
        } => {
            let search = DataSearch::from_environment(data_dir, dir.clone());
            data::load(*name, &search, *download && !offline, progress)?
        }
    };
    if let Some(n) = train_limit.or(model.train_limit) {
        split.train.truncate(n);
    }
    if let Some(n) = test_limit.or(model.test_limit) {
        split.test.truncate(n);
    }
    check_shapes(model, &split.train)?;
    Ok(split)
}

fn check_shapes(model: &Model, data: &Dataset) -> Result<(), SimError> {
    let layers = &model.network.layers;
    if data.dim != layers[0] {
        return Err(SimError::InputSize {
            expected: layers[0],
            found: data.dim,
        });
    }
    let out = *layers.last().expect("validated: at least two layers");
    if data.classes != out {
        return Err(SimError::OutputSize {
            expected: out,
            found: data.classes,
        });
    }
    Ok(())
}

/// The training order of `epoch`: a permutation drawn from the seed's own stream for that
/// epoch, so a resumed run draws exactly what an uninterrupted one would.
pub fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(SHUFFLE_STREAM + epoch as u64);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    order
}

/// Puts a checkpoint's coefficients and neuron state into a freshly built engine, after
/// checking the checkpoint against its own model ([`Checkpoint::check`]) and that its
/// layers and wiring are the engine's.
pub fn restore(
    engine: &mut dyn Engine,
    ck: &Checkpoint,
    file: &Path,
) -> Result<(), CheckpointError> {
    let mismatch = |detail: String| CheckpointError::Mismatch {
        path: file.to_path_buf(),
        detail,
    };
    // First whether the file agrees with itself (its own model's network), then whether it
    // is a checkpoint of this engine's network.
    ck.check(file, &ck.model.network.layers)?;
    let layers: Vec<usize> = engine.neurons().iter().map(|n| n.n).collect();
    if layers != ck.model.network.layers {
        return Err(mismatch(format!(
            "its network has layers {:?}, the model's has {layers:?}",
            ck.model.network.layers
        )));
    }
    let projections = engine.projections_mut();
    if projections.len() != ck.projections.len() {
        return Err(mismatch(format!(
            "{} layer pairs in the model, {} in the checkpoint",
            projections.len(),
            ck.projections.len()
        )));
    }
    for (l, (p, c)) in projections.iter_mut().zip(&ck.projections).enumerate() {
        if p.pre() != c.pre() || p.post() != c.post() || p.synapses() != c.synapses() {
            return Err(mismatch(format!("layer pair {l} has a different shape")));
        }
        let same_wiring = match (&*p, c) {
            (Projection::Dense { .. }, Projection::Dense { .. }) => true,
            (
                Projection::Sparse {
                    row_ptr: a, col: x, ..
                },
                Projection::Sparse {
                    row_ptr: b, col: y, ..
                },
            ) => a == b && x == y,
            _ => false,
        };
        if !same_wiring {
            return Err(mismatch(format!(
                "layer pair {l} is wired differently from the network the model and seed build"
            )));
        }
        *p = c.clone();
    }
    for (l, (n, s)) in engine.neurons_mut().iter_mut().zip(&ck.neurons).enumerate() {
        n.restore(s)
            .map_err(|e| mismatch(format!("layer {l}: {e}")))?;
    }
    // The optimiser's moments matter only to further training (`--resume`, whose model is
    // the checkpoint's own); a model without an optimiser (eval, gradcheck of an sgd file)
    // ignores them.
    if let (Some(state), Some(_)) = (&ck.optimiser, engine.optimiser_state()) {
        engine
            .set_optimiser_state(state.clone())
            .map_err(mismatch)?;
    }
    Ok(())
}
