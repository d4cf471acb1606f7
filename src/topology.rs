//! The network as a petgraph graph: one node per neuron, one edge per synapse carrying its
//! coefficient C (paper Eq. 20). Built from the model's layer sizes and per-pair
//! connectivity; the single graph type every engine consumes.
//!
//! Edges are added in a canonical order (layer pair by layer pair; within a pair, by
//! postsynaptic neuron, then presynaptic neuron), so a layer pair's synapses are one
//! contiguous range of edge indices and compile directly into a [`Projection`] and back.

use std::ops::Range;

use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::config::{Connectivity, InitSection};

pub mod build;
pub mod projection;
pub use projection::Projection;

/// A neuron: its layer and its index within the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neuron {
    pub layer: usize,
    pub index: usize,
}

/// A synapse from a presynaptic neuron's output element to a postsynaptic neuron's input
/// element, with coefficient C.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Synapse {
    pub c: f32,
}

/// The synapses between layer `l` and `l + 1`.
#[derive(Debug, Clone)]
pub struct LayerPair {
    pub connectivity: Connectivity,
    /// Edge indices of this pair's synapses, in canonical order.
    pub edges: Range<usize>,
}

/// A layered network of Wuxing neurons.
#[derive(Debug, Clone)]
pub struct Network {
    pub graph: DiGraph<Neuron, Synapse>,
    pub layers: Vec<usize>,
    pub pairs: Vec<LayerPair>,
    first_node: Vec<usize>,
}

impl Network {
    /// Builds the network, drawing every C from `init` with `rng` in canonical edge order.
    pub fn build(
        layers: &[usize],
        connectivity: &[Connectivity],
        init: InitSection,
        rng: &mut impl Rng,
    ) -> Network {
        Self::build_part(layers, connectivity, init, rng, |_, _, _| true)
    }

    /// Builds only the synapses `keep(l, j, i)` accepts (layer pair `l`, postsynaptic `j`,
    /// presynaptic `i`), with the same draws as [`Network::build`]: every wiring and every
    /// C is drawn in canonical order, kept or not, so a kept synapse has the C it has in the
    /// whole network. What an MPI rank builds of a network too large to replicate: the
    /// synapses its workers read, without the graph's 20 bytes for each of the others.
    pub fn build_part(
        layers: &[usize],
        connectivity: &[Connectivity],
        init: InitSection,
        rng: &mut impl Rng,
        keep: impl Fn(usize, usize, usize) -> bool,
    ) -> Network {
        let mut graph = DiGraph::with_capacity(layers.iter().sum(), 0);
        let mut first_node = Vec::with_capacity(layers.len());
        for (layer, &n) in layers.iter().enumerate() {
            first_node.push(graph.node_count());
            for index in 0..n {
                graph.add_node(Neuron { layer, index });
            }
        }
        let mut pairs = Vec::with_capacity(layers.len() - 1);
        for (l, &conn) in connectivity.iter().enumerate().take(layers.len() - 1) {
            let (n_pre, n_post) = (layers[l], layers[l + 1]);
            let inputs = Inputs::draw(conn, n_pre, n_post, rng);
            let kept: usize = (0..n_post)
                .map(|j| inputs.of(j).filter(|&i| keep(l, j, i)).count())
                .sum();
            graph.reserve_exact_edges(kept);
            let start = graph.edge_count();
            for j in 0..n_post {
                let fan_in = inputs.of(j).len();
                for i in inputs.of(j) {
                    let c = draw(init, fan_in, rng);
                    if keep(l, j, i) {
                        graph.add_edge(
                            NodeIndex::new(first_node[l] + i),
                            NodeIndex::new(first_node[l + 1] + j),
                            Synapse { c },
                        );
                    }
                }
            }
            pairs.push(LayerPair {
                connectivity: conn,
                edges: start..graph.edge_count(),
            });
        }
        Network {
            graph,
            layers: layers.to_vec(),
            pairs,
            first_node,
        }
    }

    /// Layer pair `l`'s synapses in canonical order: (postsynaptic j, presynaptic i, C)
    /// (of a part, the kept ones).
    pub fn synapses(&self, l: usize) -> impl Iterator<Item = (usize, usize, f32)> + '_ {
        let (base_pre, base_post) = (self.first_node[l], self.first_node[l + 1]);
        self.pairs[l].edges.clone().map(move |e| {
            let e = EdgeIndex::new(e);
            let (a, b) = self.graph.edge_endpoints(e).expect("edge in range");
            (b.index() - base_post, a.index() - base_pre, self.graph[e].c)
        })
    }

    /// The node of neuron `index` in `layer`.
    pub fn node(&self, layer: usize, index: usize) -> NodeIndex {
        NodeIndex::new(self.first_node[layer] + index)
    }

    /// Compiles layer pair `l` into the dense or sparse form the engines compute with.
    pub fn projection(&self, l: usize) -> Projection {
        let (n_pre, n_post) = (self.layers[l], self.layers[l + 1]);
        let synapses = self.synapses(l);
        match self.pairs[l].connectivity {
            Connectivity::Full => Projection::dense(n_pre, n_post, synapses),
            _ => Projection::sparse(n_pre, n_post, synapses),
        }
    }

    /// All projections, input side first.
    pub fn projections(&self) -> Vec<Projection> {
        (0..self.pairs.len()).map(|l| self.projection(l)).collect()
    }

    /// Writes a projection's coefficients back onto the graph's edges.
    pub fn store(&mut self, l: usize, projection: &Projection) {
        let range = self.pairs[l].edges.clone();
        for (e, c) in range.zip(projection.coefficients().iter().copied()) {
            self.graph[EdgeIndex::new(e)].c = c;
        }
    }

    /// Number of synapses.
    pub fn synapse_count(&self) -> usize {
        self.graph.edge_count()
    }
}

/// Each postsynaptic neuron's presynaptic neurons, in increasing order.
enum Inputs {
    /// Every presynaptic neuron (`full`), without a list per postsynaptic neuron.
    All(usize),
    Lists(Vec<Vec<usize>>),
}

impl Inputs {
    /// Draws the wiring (random and shuffled kinds draw from `rng`).
    fn draw(conn: Connectivity, n_pre: usize, n_post: usize, rng: &mut impl Rng) -> Inputs {
        Inputs::Lists(match conn {
            Connectivity::Full => return Inputs::All(n_pre),
            Connectivity::OneToOne { shuffle: false } => one_to_one(n_pre, n_post),
            Connectivity::OneToOne { shuffle: true } => {
                let mut order: Vec<usize> = (0..n_pre).collect();
                order.shuffle(rng);
                one_to_one(n_pre, n_post)
                    .into_iter()
                    .map(|list| {
                        let mut v: Vec<usize> = list.into_iter().map(|i| order[i]).collect();
                        v.sort_unstable();
                        v
                    })
                    .collect()
            }
            Connectivity::Random { fan_in } => (0..n_post)
                .map(|_| {
                    let mut v = sample(rng, n_pre, fan_in).into_vec();
                    v.sort_unstable();
                    v
                })
                .collect(),
        })
    }

    /// The presynaptic neurons of postsynaptic neuron `j`.
    fn of(&self, j: usize) -> Box<dyn ExactSizeIterator<Item = usize> + '_> {
        match self {
            Inputs::All(n) => Box::new(0..*n),
            Inputs::Lists(lists) => Box::new(lists[j].iter().copied()),
        }
    }
}

/// One-to-one wiring (bsp-model.md §3). Shrinking (`n_pre >= n_post`): presynaptic neuron i
/// feeds postsynaptic `i * n_post / n_pre`, so each postsynaptic neuron takes a contiguous
/// block of `floor` or `ceil(n_pre / n_post)` neighbours and fan-out is exactly one.
/// Growing: neuron i feeds i, and the remaining postsynaptic neurons take one presynaptic
/// neuron each, round-robin.
pub fn one_to_one(n_pre: usize, n_post: usize) -> Vec<Vec<usize>> {
    let mut lists = vec![Vec::new(); n_post];
    if n_pre >= n_post {
        for i in 0..n_pre {
            lists[i * n_post / n_pre].push(i);
        }
    } else {
        for (j, list) in lists.iter_mut().enumerate() {
            list.push(j % n_pre);
        }
    }
    lists
}

fn draw(init: InitSection, fan_in: usize, rng: &mut impl Rng) -> f32 {
    let scale = |scaled: bool| {
        if scaled {
            1.0 / (fan_in.max(1) as f32).sqrt()
        } else {
            1.0
        }
    };
    match init {
        InitSection::Normal {
            mean,
            std,
            fan_in_scaled,
        } => {
            let s = scale(fan_in_scaled);
            // Validated: std finite and >= 0.
            Normal::new(mean, std * s)
                .expect("validated normal parameters")
                .sample(rng)
        }
        InitSection::Uniform {
            low,
            high,
            fan_in_scaled,
        } => {
            let s = scale(fan_in_scaled);
            Uniform::new(low * s, high * s)
                .expect("validated uniform bounds")
                .sample(rng)
        }
    }
}
