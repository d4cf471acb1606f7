//! The `bsp-sim causal` report: a model's (or the default single neuron's) element graph,
//! the per-neuron tables, the parameter-to-variable distances and the invariance check,
//! rendered as Markdown or JSON. Building the report does no I/O; the binary prints it.

use serde::Serialize;

use super::tables::{neuron_tables, param_distances};
use super::{
    check_invariance_sampled, system_name, CausalError, DistanceTable, ElementGraph,
    InvarianceReport, ParamDistance,
};
use crate::config::Model;
use crate::neuron::{Element, NeuronParams, System};
use crate::topology::Network;

/// Everything `bsp-sim causal` reports.
#[derive(Debug, Clone, Serialize)]
pub struct CausalReport {
    /// The model's name, or "single neuron" for the default.
    pub model: String,
    pub layers: Vec<usize>,
    pub input: Element,
    pub output: Element,
    /// Element nodes (five per neuron) and edges of each system.
    pub element_nodes: usize,
    pub forward_edges: usize,
    pub reversed_edges: usize,
    /// Generative, inhibitory and combined tables, each forward then reversed (the first
    /// four are Fig. 5 a-d).
    pub tables: Vec<DistanceTable>,
    /// Distances from every k1 and k3 to the input and output elements, both systems.
    pub parameters: Vec<ParamDistance>,
    pub invariance: InvarianceReport,
}

/// The neuron of Fig. 5 and of the model defaults: k1 = 2, k2 = 1, k3 = 1, input J,
/// output S.
pub fn default_neuron() -> NeuronParams {
    NeuronParams::new([2.0; 5], [1.0; 5], [1.0; 5], Element::J, Element::S, true)
        .expect("the default rates have a positive fixed point")
}

/// The report for one model: its network as `run` would build it from the model's seed
/// (random wiring included), checked on every pair or on `sample` seeded sources.
pub fn analyze(model: &Model, sample: Option<usize>) -> Result<CausalReport, CausalError> {
    let net = crate::topology::build::build_network(model, model.seed);
    analyze_network(&model.name, &net, &model.neuron, sample, model.seed)
}

/// The report for a single neuron (with [`default_neuron`], the paper's Fig. 5 case);
/// `sample` as in [`analyze`], seed 0.
pub fn analyze_neuron(
    params: &NeuronParams,
    sample: Option<usize>,
) -> Result<CausalReport, CausalError> {
    let g = ElementGraph::neuron(params);
    let invariance = check_invariance_sampled(&g, sample, 0)?;
    Ok(assemble("single neuron".into(), &g, params, invariance))
}

/// The report for any network whose neurons all share `params`; `seed` draws the sample.
pub fn analyze_network(
    name: &str,
    net: &Network,
    params: &NeuronParams,
    sample: Option<usize>,
    seed: u64,
) -> Result<CausalReport, CausalError> {
    let g = ElementGraph::from_network(net, params);
    let invariance = check_invariance_sampled(&g, sample, seed)?;
    Ok(assemble(name.into(), &g, params, invariance))
}

fn assemble(
    model: String,
    g: &ElementGraph,
    params: &NeuronParams,
    invariance: InvarianceReport,
) -> CausalReport {
    CausalReport {
        model,
        layers: g.layers.clone(),
        input: params.input,
        output: params.output,
        element_nodes: g.node_count(),
        forward_edges: g.forward.edge_count(),
        reversed_edges: g.reversed.edge_count(),
        tables: neuron_tables(params),
        parameters: param_distances(params),
        invariance,
    }
}

impl CausalReport {
    /// Pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serialises")
    }

    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "# Causal distance: {}\n\nLayers {:?}; input element {}, output element {}; \
             {} element nodes, {} forward and {} reversed edges.\n\
             Distances are shortest directed paths in hops; rows are the cause, columns \
             the effect; `-` is unreachable.\n",
            self.model,
            self.layers,
            self.input,
            self.output,
            self.element_nodes,
            self.forward_edges,
            self.reversed_edges
        );
        s.push_str("\n## Per-neuron tables (paper Fig. 5: a, b = generative; c, d = inhibitory)\n");
        for t in &self.tables {
            s.push_str(&format!("\n### {}\n\n{}", t.title(), t.to_markdown()));
        }
        s.push_str(&format!(
            "\n## Parameter-to-variable distances\n\n\
             A rate on the edge x -> y is at distance 1 from y and 1 + dist(y, z) from z \
             (combined graph). The reversed system is driven at {out} and read at {inp}.\n\n\
             | parameter | forward edge | fwd to {out} (output) | fwd to {inp} (input) | reversed edge | rev to {out} | rev to {inp} |\n\
             |---|---|---|---|---|---|---|\n",
            out = self.output,
            inp = self.input
        ));
        let (fwd, rev): (Vec<_>, Vec<_>) = self
            .parameters
            .iter()
            .partition(|p| p.system == System::Forward);
        for (f, r) in fwd.iter().zip(&rev) {
            s.push_str(&format!(
                "| {} | {}->{} | {} | {} | {}->{} | {} | {} |\n",
                f.name(),
                f.edge.0,
                f.edge.1,
                show(f.to_output),
                show(f.to_input),
                r.edge.0,
                r.edge.1,
                show(r.to_output),
                show(r.to_input)
            ));
        }
        for (system, rows) in [(System::Forward, &fwd), (System::Reversed, &rev)] {
            for (port, elem) in [("output", self.output), ("input", self.input)] {
                s.push_str(&format!(
                    "\n{} system, from the {port} element {elem}: {}",
                    system_name(system),
                    by_distance(rows, |p| if port == "output" {
                        p.to_output
                    } else {
                        p.to_input
                    })
                ));
            }
        }
        let v = &self.invariance;
        s.push_str(&format!(
            "\n\n## Invariance dist_forward(a, b) == dist_reversed(b, a)\n\n\
             {}: {} of {} source elements ({}), {} ordered pairs checked ({} reachable, \
             longest distance {}), {} violations; {:.2} s on {} threads.\n",
            if v.holds() { "holds" } else { "VIOLATED" },
            v.sources_checked,
            v.nodes,
            match v.sample_seed {
                Some(seed) => format!("seeded sample, seed {seed}"),
                None => "every source".into(),
            },
            v.pairs_checked,
            v.reachable_pairs,
            v.max_distance,
            v.violation_count,
            v.seconds,
            v.threads
        ));
        for x in &v.violations {
            s.push_str(&format!(
                "- layer {} neuron {} {} -> layer {} neuron {} {}: forward {}, reversed {}\n",
                x.from.layer,
                x.from.neuron,
                x.from.element,
                x.to.layer,
                x.to.neuron,
                x.to.element,
                show(x.forward),
                show(x.reversed)
            ));
        }
        s
    }
}

fn show(d: Option<u32>) -> String {
    d.map_or("-".into(), |d| d.to_string())
}

/// "d=1: k1_S, k3_S; d=2: ..." for one column of the parameter table.
fn by_distance(rows: &[&ParamDistance], col: impl Fn(&ParamDistance) -> Option<u32>) -> String {
    let max = rows.iter().filter_map(|p| col(p)).max().unwrap_or(0);
    let mut parts = Vec::new();
    for d in 1..=max {
        let names: Vec<String> = rows
            .iter()
            .filter(|p| col(p) == Some(d))
            .map(|p| p.name())
            .collect();
        if !names.is_empty() {
            parts.push(format!("d={d}: {}", names.join(", ")));
        }
    }
    let unreachable: Vec<String> = rows
        .iter()
        .filter(|p| col(p).is_none())
        .map(|p| p.name())
        .collect();
    if !unreachable.is_empty() {
        parts.push(format!("unreachable: {}", unreachable.join(", ")));
    }
    parts.join("; ")
}
