//! Causal distance (paper 3.2, Fig. 5; bsp-model.md §2): the element-level graph of a
//! network, shortest-hop distances in its forward and reversed systems, the per-neuron
//! tables of Fig. 5, parameter-to-variable distances, and the invariance check
//! `dist_forward(a, b) == dist_reversed(b, a)`.
//!
//! The element graph has one node per element of every neuron. Its edges are read off the
//! equations the engines integrate ([`System::source`], [`System::inhibitor`]), not written
//! out separately: in the forward system `E_{i-1} -> E_i` (generative, k1_i) and
//! `E_{i-2} -> E_i` (inhibitory, k3_i), and a synapse runs from a neuron's output element to
//! the next layer's input element. The reversed system is built the same way from the
//! reversed equations (`E_{i+1} -> E_i` carrying k1_{i+1}, `E_{i+2} -> E_i` carrying
//! k3_{i+2}) and reversed synapses (input element of the postsynaptic neuron -> output
//! element of the presynaptic one). Because the two graphs are built independently, the
//! invariance check is a real test that the reversed equations reverse every causal arrow.
//!
//! Submodules: [`tables`] (Fig. 5 and parameter distances for one neuron), [`invariance`]
//! (the all-pairs check over a whole network), [`report`] (the Markdown and JSON report).

use petgraph::algo::dijkstra;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{EdgeFiltered, EdgeRef, Reversed};
use serde::Serialize;

use crate::neuron::{Element, NeuronParams, System, ELEMENTS};
use crate::topology::Network;

pub mod invariance;
pub mod report;
pub mod tables;

/// Defined in [`crate::error`], which folds every subsystem's errors.
pub use crate::error::CausalError;
pub use invariance::{check_invariance, check_invariance_sampled, InvarianceReport, Violation};
pub use report::{analyze, analyze_network, analyze_neuron, default_neuron, CausalReport};
pub use tables::{neuron_tables, param_distances, DistanceTable, ParamDistance, ParamKind};

/// One element of one neuron: a node of the element graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ElementNode {
    pub layer: usize,
    pub neuron: usize,
    pub element: Element,
}

/// What an edge of the element graph stands for: a term of an element's equation, or a
/// synapse. `param` names the element whose rate the edge carries (k1_J is the k1 of J).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Coupling {
    /// Generative-loop term, coefficient k1 of element `param`.
    Generative { param: Element, k1: f32 },
    /// Inhibitory-loop term, coefficient k3 of element `param`.
    Inhibitory { param: Element, k3: f32 },
    /// A synapse with coefficient C.
    Synapse { c: f32 },
}

/// Which edges a distance follows: the generative loop alone, the inhibitory ("diminish")
/// loop alone, or every edge (the neuron's full causal graph).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loop {
    Generative,
    Inhibitory,
    Combined,
}

impl Loop {
    pub const ALL: [Loop; 3] = [Loop::Generative, Loop::Inhibitory, Loop::Combined];

    /// Whether an edge of this kind belongs to the loop. Synapses belong to every loop, so
    /// a loop's distances across a network go through the synapses.
    pub fn admits(self, c: &Coupling) -> bool {
        matches!(
            (self, c),
            (Loop::Combined, _)
                | (_, Coupling::Synapse { .. })
                | (Loop::Generative, Coupling::Generative { .. })
                | (Loop::Inhibitory, Coupling::Inhibitory { .. })
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Loop::Generative => "generative",
            Loop::Inhibitory => "inhibitory",
            Loop::Combined => "combined",
        }
    }
}

/// Name of a system for reports ("forward" or "reversed").
pub fn system_name(system: System) -> &'static str {
    match system {
        System::Forward => "forward",
        System::Reversed => "reversed",
    }
}

/// The element-level graphs of a network: the forward system and, built independently
/// from the reversed equations, the reversed system. Node `5 * n + e` is element `e` of the
/// network's neuron node `n` in both graphs.
#[derive(Debug, Clone)]
pub struct ElementGraph {
    pub forward: DiGraph<ElementNode, Coupling>,
    pub reversed: DiGraph<ElementNode, Coupling>,
    /// Neurons per layer.
    pub layers: Vec<usize>,
    pub input: Element,
    pub output: Element,
    first_neuron: Vec<usize>,
}

impl ElementGraph {
    /// Builds both systems' element graphs for `net`, every neuron with the rates and ports
    /// of `params`. Cost: O(neurons + synapses) time and memory.
    pub fn from_network(net: &Network, params: &NeuronParams) -> ElementGraph {
        let neurons: Vec<(usize, usize)> = net
            .graph
            .node_indices()
            .map(|n| (net.graph[n].layer, net.graph[n].index))
            .collect();
        let synapses: Vec<(usize, usize, f32)> = net
            .graph
            .edge_references()
            .map(|e| (e.source().index(), e.target().index(), e.weight().c))
            .collect();
        let mut first_neuron = Vec::with_capacity(net.layers.len());
        let mut acc = 0;
        for &n in &net.layers {
            first_neuron.push(acc);
            acc += n;
        }
        ElementGraph {
            forward: build(System::Forward, &neurons, &synapses, params),
            reversed: build(System::Reversed, &neurons, &synapses, params),
            layers: net.layers.clone(),
            input: params.input,
            output: params.output,
            first_neuron,
        }
    }

    /// The element graph of a single neuron (the setting of Fig. 5).
    pub fn neuron(params: &NeuronParams) -> ElementGraph {
        let neurons = [(0, 0)];
        ElementGraph {
            forward: build(System::Forward, &neurons, &[], params),
            reversed: build(System::Reversed, &neurons, &[], params),
            layers: vec![1],
            input: params.input,
            output: params.output,
            first_neuron: vec![0],
        }
    }

    /// The graph of `system`.
    pub fn system(&self, system: System) -> &DiGraph<ElementNode, Coupling> {
        match system {
            System::Forward => &self.forward,
            System::Reversed => &self.reversed,
        }
    }

    /// Number of element nodes (five per neuron).
    pub fn node_count(&self) -> usize {
        self.forward.node_count()
    }

    /// The node of `element` of neuron `index` in `layer`.
    pub fn node(&self, layer: usize, index: usize, element: Element) -> NodeIndex {
        NodeIndex::new(ELEMENTS * (self.first_neuron[layer] + index) + element.index())
    }

    /// Shortest-hop distances from `source` in `system`, following only the edges of
    /// `which` loop (synapses always count): `result[b]` is `Some(hops)` or `None` when `b`
    /// cannot be reached. Uses petgraph's Dijkstra with unit weights, O(E log V); for the
    /// all-pairs check over big networks see [`invariance`], which runs a plain BFS.
    pub fn distances_from(
        &self,
        system: System,
        which: Loop,
        source: NodeIndex,
    ) -> Vec<Option<u32>> {
        let g = EdgeFiltered::from_fn(self.system(system), |e| which.admits(e.weight()));
        let scores = dijkstra(&g, source, None, |_| 1u32);
        (0..self.node_count())
            .map(|i| scores.get(&NodeIndex::new(i)).copied())
            .collect()
    }

    /// Shortest-hop distances *into* `target` in `system`: `result[a]` is the distance from
    /// `a` to `target`. Walks the graph against its edges through petgraph's [`Reversed`]
    /// adaptor, so the transpose of the forward graph can be compared with the separately
    /// built reversed system.
    pub fn distances_to(&self, system: System, which: Loop, target: NodeIndex) -> Vec<Option<u32>> {
        let g = EdgeFiltered::from_fn(self.system(system), |e| which.admits(e.weight()));
        let scores = dijkstra(Reversed(&g), target, None, |_| 1u32);
        (0..self.node_count())
            .map(|i| scores.get(&NodeIndex::new(i)).copied())
            .collect()
    }
}

/// One system's element graph: the neuron terms read off [`System::source`] and
/// [`System::inhibitor`], then the synapses in the system's direction.
fn build(
    system: System,
    neurons: &[(usize, usize)],
    synapses: &[(usize, usize, f32)],
    p: &NeuronParams,
) -> DiGraph<ElementNode, Coupling> {
    let mut g = DiGraph::with_capacity(
        ELEMENTS * neurons.len(),
        2 * ELEMENTS * neurons.len() + synapses.len(),
    );
    for &(layer, neuron) in neurons {
        for element in Element::ALL {
            g.add_node(ElementNode {
                layer,
                neuron,
                element,
            });
        }
    }
    // The rate a term carries: forward, element i's own k1_i and k3_i; reversed, the
    // terms of Ê_i carry k1_{i+1} and k3_{i+2} (bsp-model.md §1), i.e. the rate of the
    // forward arrow (E_i -> E_{i+1}, E_i -> E_{i+2}) that the reversed edge reverses.
    type Param = fn(usize) -> usize;
    let (gen_param, inh_param): (Param, Param) = match system {
        System::Forward => (|i| i, |i| i),
        System::Reversed => (|i| (i + 1) % ELEMENTS, |i| (i + 2) % ELEMENTS),
    };
    for n in 0..neurons.len() {
        let at = |e: usize| NodeIndex::new(ELEMENTS * n + e);
        for i in 0..ELEMENTS {
            let gp = Element::from_index(gen_param(i));
            let ip = Element::from_index(inh_param(i));
            g.add_edge(
                at(system.source(i)),
                at(i),
                Coupling::Generative {
                    param: gp,
                    k1: p.k1[gp.index()],
                },
            );
            g.add_edge(
                at(system.inhibitor(i)),
                at(i),
                Coupling::Inhibitory {
                    param: ip,
                    k3: p.k3[ip.index()],
                },
            );
        }
    }
    let (out, inp) = (p.output.index(), p.input.index());
    for &(pre, post, c) in synapses {
        let (from, to) = match system {
            // D_pre at the output element drives the postsynaptic input element.
            System::Forward => (ELEMENTS * pre + out, ELEMENTS * post + inp),
            // The reversed system answers at the forward input element and is driven at
            // the forward output element, over the same synapse in the other direction.
            System::Reversed => (ELEMENTS * post + inp, ELEMENTS * pre + out),
        };
        g.add_edge(
            NodeIndex::new(from),
            NodeIndex::new(to),
            Coupling::Synapse { c },
        );
    }
    g
}
