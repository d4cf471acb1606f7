//! The memory a model would take, estimated before anything is allocated: a model whose
//! sizes overflow, or whose estimate exceeds this machine's memory (or [`HARD_CAP`]), is
//! refused at validation with the field and the bytes, instead of aborting later in an
//! allocation ("capacity overflow", "memory allocation of N bytes failed").
//!
//! The estimate counts what grows with the model: per synapse the network graph's edge
//! (20 bytes: coefficient, two node indices, two links), its coefficient and index in the
//! compiled projection and the learning buffers; per neuron and minibatch sample the
//! engines' state arrays; the exact-gradient tape (`rule: adjoint`/`linearised`) per step;
//! the synthetic data set. It is a lower bound of the order of magnitude, not an account.

use super::{Connectivity, LearningRule, ModelFile};

/// Bytes per synapse: graph edge (20), compiled coefficient and index (8), learning
/// buffers (4).
const SYNAPSE_BYTES: u64 = 32;
/// Bytes per neuron: graph node and the layer's rates, rest states and references.
const NEURON_BYTES: u64 = 256;
/// Bytes per neuron and minibatch sample: the engines' five-element states, drives and
/// window integrals.
const SAMPLE_NEURON_BYTES: u64 = 160;
/// Bytes per neuron, sample and step of the tape `adjoint` and `linearised` record (five
/// elements in f64).
const TAPE_BYTES: u64 = 40;

/// The largest estimate accepted on any machine (1 TiB).
pub const HARD_CAP: u64 = 1 << 40;

/// What a model would take, by part; `None` in a part means its sizes overflow.
#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    pub synapses: Option<u64>,
    pub total: Option<u64>,
}

/// Estimates the memory of the network, engines and data a model file builds.
pub fn estimate(file: &ModelFile) -> Estimate {
    let layers = &file.network.layers;
    let conn = &file.network.connectivity;
    let pairs = layers.len().saturating_sub(1);
    let mut synapses: Option<u64> = Some(0);
    for l in 0..pairs {
        let c = if conn.len() == 1 { conn[0] } else { conn[l] };
        let (pre, post) = (layers[l] as u64, layers[l + 1] as u64);
        let n = match c {
            Connectivity::Full => pre.checked_mul(post),
            Connectivity::OneToOne { .. } => Some(pre.max(post)),
            Connectivity::Random { fan_in } => (fan_in as u64).checked_mul(post),
        };
        synapses = synapses.zip(n).and_then(|(a, b)| a.checked_add(b));
    }
    let neurons = layers
        .iter()
        .try_fold(0u64, |a, &n| a.checked_add(n as u64));
    let batch = file.learning.batch_size as u64;
    let i = &file.integration;
    let steps = ((i.forward_window + i.backward_window) / i.dt).ceil();
    let steps = if steps.is_finite() && steps < 1e18 {
        Some(steps as u64)
    } else {
        None
    };
    let tape = match file.learning.rule {
        LearningRule::Bsp => Some(0),
        _ => neurons.zip(steps).and_then(|(n, s)| {
            n.checked_mul(s)?
                .checked_mul(batch)?
                .checked_mul(TAPE_BYTES)
        }),
    };
    let data = match (&file.data.dataset[..], &file.data.synthetic) {
        ("synthetic", Some(s)) => (s.train as u64)
            .checked_add(s.test as u64)
            .and_then(|n| n.checked_mul(s.dim as u64)?.checked_mul(4)),
        _ => Some(0),
    };
    let parts = [
        synapses.and_then(|s| s.checked_mul(SYNAPSE_BYTES)),
        neurons.and_then(|n| n.checked_mul(NEURON_BYTES)),
        neurons.and_then(|n| n.checked_mul(batch)?.checked_mul(SAMPLE_NEURON_BYTES)),
        tape,
        data,
    ];
    let total = parts
        .iter()
        .try_fold(0u64, |a, p| p.and_then(|p| a.checked_add(p)));
    Estimate { synapses, total }
}

/// The most memory a model may take here: this machine's memory (Linux: `MemTotal` of
/// `/proc/meminfo`), at most [`HARD_CAP`].
pub fn limit() -> (u64, &'static str) {
    match machine_memory() {
        Some(m) if m < HARD_CAP => (m, "this machine's memory"),
        _ => (HARD_CAP, "the limit of 1 TiB"),
    }
}

fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Bytes as a person reads them (`148.0 GB`).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match b {
        b if b >= 1e12 => format!("{:.1} TB", b / 1e12),
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        _ => format!("{bytes} bytes"),
    }
}

/// Refuses a model whose estimate overflows or exceeds [`limit`]: `(field, detail)`.
pub fn check(file: &ModelFile) -> Result<(), (&'static str, String)> {
    let e = estimate(file);
    let layers = &file.network.layers;
    let (limit, what) = limit();
    match e.total {
        None => Err((
            "network.layers",
            format!(
                "{layers:?} (with learning.batch_size {} and the integration windows) would need more than \
                 {} bytes: the sizes overflow; use smaller layers",
                file.learning.batch_size,
                u64::MAX
            ),
        )),
        Some(total) if total > limit => Err((
            "network.layers",
            format!(
                "{layers:?} would need about {} ({total} bytes: {} synapses, learning.batch_size {}), \
                 more than {what} ({}); use smaller layers, sparser connectivity or a smaller batch",
                human(total),
                e.synapses.map_or("too many".into(), |s| s.to_string()),
                file.learning.batch_size,
                human(limit)
            ),
        )),
        Some(_) => Ok(()),
    }
}
