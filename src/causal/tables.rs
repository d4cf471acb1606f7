//! The per-neuron causal-distance tables of the paper's Fig. 5 (generative and inhibitory
//! loop, forward and reversed system; plus the combined graph) and the distances from the
//! rate parameters k1, k3 to the neuron's input and output elements (paper 3.2).

use petgraph::graph::NodeIndex;
use serde::{Serialize, Serializer};

use super::{system_name, Coupling, ElementGraph, Loop};
use crate::neuron::{Element, NeuronParams, System, ELEMENTS};

/// Shortest-hop distances between the five elements of one neuron, `dist[from][to]`
/// (`None`: unreachable along this loop's edges).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DistanceTable {
    #[serde(serialize_with = "serialize_system")]
    pub system: System,
    #[serde(rename = "loop")]
    pub which: Loop,
    pub dist: [[Option<u32>; ELEMENTS]; ELEMENTS],
}

impl DistanceTable {
    /// The table of `which` loop in `system` for a neuron with rates `params` (the rates do
    /// not change the distances; the ports do not enter the tables). Cost: 5 Dijkstra runs
    /// on a 5-node graph.
    pub fn of_neuron(params: &NeuronParams, system: System, which: Loop) -> DistanceTable {
        let g = ElementGraph::neuron(params);
        let mut dist = [[None; ELEMENTS]; ELEMENTS];
        for from in Element::ALL {
            let d = g.distances_from(system, which, g.node(0, 0, from));
            for to in Element::ALL {
                dist[from.index()][to.index()] = d[to.index()];
            }
        }
        DistanceTable {
            system,
            which,
            dist,
        }
    }

    /// Distance from `from` to `to`.
    pub fn get(&self, from: Element, to: Element) -> Option<u32> {
        self.dist[from.index()][to.index()]
    }

    /// The table as Markdown: rows are the cause (`from`), columns the effect (`to`);
    /// `-` marks an unreachable pair.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| from \\ to | J | S | M | H | T |\n|---|---|---|---|---|---|\n");
        for from in Element::ALL {
            s.push_str(&format!("| **{from}** |"));
            for to in Element::ALL {
                match self.get(from, to) {
                    Some(d) => s.push_str(&format!(" {d} |")),
                    None => s.push_str(" - |"),
                }
            }
            s.push('\n');
        }
        s
    }

    /// A one-line title, e.g. "generative loop, forward system".
    pub fn title(&self) -> String {
        format!(
            "{} loop, {} system",
            self.which.name(),
            system_name(self.system)
        )
    }
}

/// All six per-neuron tables: generative, inhibitory and combined, each forward then
/// reversed. The first four are the paper's Fig. 5 a-d in the order a, b, c, d.
pub fn neuron_tables(params: &NeuronParams) -> Vec<DistanceTable> {
    Loop::ALL
        .iter()
        .flat_map(|&l| {
            [System::Forward, System::Reversed].map(|s| DistanceTable::of_neuron(params, s, l))
        })
        .collect()
}

/// Which rate a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    K1,
    K3,
}

/// Causal distance from one rate parameter to the neuron's ports in one system: a
/// parameter on the edge `x -> y` is at distance 1 from `y` and `1 + dist(y, z)` from `z`
/// (bsp-model.md §2), with `dist` over the combined (generative and inhibitory) graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamDistance {
    pub kind: ParamKind,
    /// The element the rate belongs to (k1_S is the k1 of S).
    pub element: Element,
    #[serde(serialize_with = "serialize_system")]
    pub system: System,
    /// The edge that carries the parameter in this system.
    pub edge: (Element, Element),
    /// Distance to the configured output element (forward naming, in both systems).
    pub to_output: Option<u32>,
    /// Distance to the configured input element.
    pub to_input: Option<u32>,
}

impl ParamDistance {
    /// "k1_S" and the like.
    pub fn name(&self) -> String {
        let k = match self.kind {
            ParamKind::K1 => "k1",
            ParamKind::K3 => "k3",
        };
        format!("{k}_{}", self.element)
    }
}

/// Distances from every k1 and k3 of a neuron to its input and output elements, in the
/// forward system then the reversed one, each ordered k1_J..k1_T, k3_J..k3_T. The reversed
/// system is driven at the output element and read at the input element, so there the
/// input element is the one its output signal is read from.
pub fn param_distances(params: &NeuronParams) -> Vec<ParamDistance> {
    let g = ElementGraph::neuron(params);
    let mut out = Vec::with_capacity(4 * ELEMENTS);
    for system in [System::Forward, System::Reversed] {
        let to_out = g.distances_to(system, Loop::Combined, g.node(0, 0, params.output));
        let to_in = g.distances_to(system, Loop::Combined, g.node(0, 0, params.input));
        let graph = g.system(system);
        let mut rows: Vec<ParamDistance> = graph
            .edge_indices()
            .filter_map(|e| {
                let (x, y) = graph.edge_endpoints(e).expect("edge of the graph");
                let (kind, element) = match graph[e] {
                    Coupling::Generative { param, .. } => (ParamKind::K1, param),
                    Coupling::Inhibitory { param, .. } => (ParamKind::K3, param),
                    Coupling::Synapse { .. } => return None,
                };
                let via = |d: &[Option<u32>]| d[y.index()].map(|d| d + 1);
                Some(ParamDistance {
                    kind,
                    element,
                    system,
                    edge: (element_of(x), element_of(y)),
                    to_output: via(&to_out),
                    to_input: via(&to_in),
                })
            })
            .collect();
        rows.sort_by_key(|p| (p.kind, p.element));
        out.extend(rows);
    }
    out
}

fn element_of(n: NodeIndex) -> Element {
    Element::from_index(n.index() % ELEMENTS)
}

fn serialize_system<S: Serializer>(system: &System, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(system_name(*system))
}
