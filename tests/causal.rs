//! Causal distance (paper 3.2, Fig. 5): the four per-neuron tables as reviewed snapshots,
//! hand-checked distances, parameter-to-variable distances for ports J -> S, the invariance
//! dist_forward(a, b) == dist_reversed(b, a) on random topologies, the pair count of the
//! whole-network check, and the `bsp-sim causal` command.

use assert_cmd::Command;
use bsp_sim::causal::{
    check_invariance, check_invariance_sampled, default_neuron, neuron_tables, param_distances,
    CausalError, DistanceTable, ElementGraph, Loop, ParamKind,
};
use bsp_sim::config::{Connectivity, InitSection};
use bsp_sim::neuron::{Element, NeuronParams, System};
use bsp_sim::topology::Network;
use petgraph::graph::NodeIndex;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use Element::{H, J, M, S, T};

const INIT: InitSection = InitSection::Normal {
    mean: 0.0,
    std: 1.0,
    fan_in_scaled: true,
};

fn neuron(input: Element, output: Element) -> NeuronParams {
    NeuronParams::new([2.0; 5], [1.0; 5], [1.0; 5], input, output, true).unwrap()
}

fn table(system: System, which: Loop) -> DistanceTable {
    DistanceTable::of_neuron(&default_neuron(), system, which)
}

fn network(layers: &[usize], conn: &[Connectivity], seed: u64) -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Network::build(layers, conn, INIT, &mut rng)
}

// Fig. 5 a-d. Reviewed by hand: forward generative J->S->M->H->T->J, so row J reads
// 0 1 2 3 4 and dist(S, J) = 4; the reversed generative loop is its transpose
// (dist(S, J) = 1); forward inhibitory J->M->T->S->H->J, so row J reads J 0, M 1, T 2,
// S 3, H 4; the reversed inhibitory table is its transpose.

#[test]
fn fig5a_generative_forward() {
    insta::assert_snapshot!(table(System::Forward, Loop::Generative).to_markdown());
}

#[test]
fn fig5b_generative_reversed() {
    insta::assert_snapshot!(table(System::Reversed, Loop::Generative).to_markdown());
}

#[test]
fn fig5c_inhibitory_forward() {
    insta::assert_snapshot!(table(System::Forward, Loop::Inhibitory).to_markdown());
}

#[test]
fn fig5d_inhibitory_reversed() {
    insta::assert_snapshot!(table(System::Reversed, Loop::Inhibitory).to_markdown());
}

#[test]
fn combined_tables_forward_and_reversed() {
    let s = format!(
        "forward\n{}\nreversed\n{}",
        table(System::Forward, Loop::Combined).to_markdown(),
        table(System::Reversed, Loop::Combined).to_markdown()
    );
    insta::assert_snapshot!(s);
}

#[test]
fn hand_checked_distances() {
    let fg = table(System::Forward, Loop::Generative);
    assert_eq!(fg.get(J, S), Some(1));
    assert_eq!(fg.get(J, T), Some(4));
    assert_eq!(fg.get(S, J), Some(4));
    // The paper's example: J's derivative depends on T directly; H reaches J through T.
    assert_eq!(fg.get(T, J), Some(1));
    assert_eq!(fg.get(H, J), Some(2));
    let rg = table(System::Reversed, Loop::Generative);
    assert_eq!(rg.get(S, J), Some(1));
    assert_eq!(rg.get(J, S), Some(4));
    assert_eq!(rg.get(J, T), Some(1));
    // "metal restrains wood": J inhibits M; in the reversed system M restrains J.
    let fi = table(System::Forward, Loop::Inhibitory);
    assert_eq!(fi.get(J, M), Some(1));
    assert_eq!(fi.get(H, J), Some(1));
    assert_eq!(fi.get(J, S), Some(3));
    assert_eq!(fi.get(J, H), Some(4));
    let ri = table(System::Reversed, Loop::Inhibitory);
    assert_eq!(ri.get(M, J), Some(1));
    assert_eq!(ri.get(S, J), Some(3));
    // Both loops together: J reaches S and M in one hop, H and T in two.
    let fc = table(System::Forward, Loop::Combined);
    assert_eq!([S, M, H, T].map(|e| fc.get(J, e)), [1, 1, 2, 2].map(Some));
    for t in neuron_tables(&default_neuron()) {
        for e in Element::ALL {
            assert_eq!(t.get(e, e), Some(0), "{}", t.title());
        }
    }
}

#[test]
fn reversed_tables_are_the_transposed_forward_tables() {
    for which in Loop::ALL {
        let (f, r) = (
            table(System::Forward, which),
            table(System::Reversed, which),
        );
        for a in Element::ALL {
            for b in Element::ALL {
                assert_eq!(f.get(a, b), r.get(b, a), "{which:?} {a}->{b}");
            }
        }
    }
}

#[test]
fn explicit_reversed_graph_equals_petgraph_reversed_adaptor() {
    // Distances into `a` along the forward graph's edges (petgraph's `Reversed` adaptor)
    // equal distances from `a` in the separately built reversed system.
    let net = network(
        &[3, 2, 2],
        &[
            Connectivity::Full,
            Connectivity::OneToOne { shuffle: false },
        ],
        1,
    );
    let g = ElementGraph::from_network(&net, &neuron(J, M));
    for which in Loop::ALL {
        for a in 0..g.node_count() {
            let a = NodeIndex::new(a);
            assert_eq!(
                g.distances_to(System::Forward, which, a),
                g.distances_from(System::Reversed, which, a),
                "{which:?} from {a:?}"
            );
        }
    }
}

#[test]
fn parameter_distances_for_ports_j_to_s() {
    let rows = param_distances(&neuron(J, S));
    let col =
        |system: System, kind: ParamKind, f: fn(&bsp_sim::causal::ParamDistance) -> Option<u32>| {
            let v: Vec<u32> = rows
                .iter()
                .filter(|p| p.system == system && p.kind == kind)
                .map(|p| f(p).unwrap())
                .collect();
            v
        };
    let out = |p: &bsp_sim::causal::ParamDistance| p.to_output;
    let inp = |p: &bsp_sim::causal::ParamDistance| p.to_input;
    // Forward: the edge into S carries k1_S and k3_S (distance 1 from the output S); k1_J
    // and k1_T feed J and T, one hop from S; the paper's k1_J is at distance 1 from J and
    // k1_T ("k15") at 2.
    //                                                  J  S  M  H  T
    assert_eq!(col(System::Forward, ParamKind::K1, out), [2, 1, 3, 3, 2]);
    assert_eq!(col(System::Forward, ParamKind::K3, out), [2, 1, 3, 3, 2]);
    assert_eq!(col(System::Forward, ParamKind::K1, inp), [1, 3, 3, 2, 2]);
    assert_eq!(col(System::Forward, ParamKind::K3, inp), [1, 3, 3, 2, 2]);
    // Reversed: k1_j sits on E_j -> E_{j-1}, k3_j on E_j -> E_{j-2}; the reversed output is
    // read at J, one hop from k1_S (S -> J) and k3_M (M -> J).
    assert_eq!(col(System::Reversed, ParamKind::K1, inp), [3, 1, 2, 2, 3]);
    assert_eq!(col(System::Reversed, ParamKind::K3, inp), [3, 3, 1, 2, 2]);
    assert_eq!(col(System::Reversed, ParamKind::K1, out), [3, 3, 1, 2, 2]);
    assert_eq!(col(System::Reversed, ParamKind::K3, out), [2, 3, 3, 1, 2]);
    let k1_s = rows
        .iter()
        .find(|p| p.system == System::Forward && p.kind == ParamKind::K1 && p.element == S)
        .unwrap();
    assert_eq!((k1_s.name().as_str(), k1_s.edge), ("k1_S", (J, S)));
    let k1_s_rev = rows
        .iter()
        .find(|p| p.system == System::Reversed && p.kind == ParamKind::K1 && p.element == S)
        .unwrap();
    assert_eq!(k1_s_rev.edge, (S, J));
}

#[test]
fn whole_network_check_counts_every_ordered_pair() {
    // [2, 1] fully connected, ports J -> S: 15 element nodes, 225 ordered pairs. Each
    // layer-0 element reaches its own 5 elements and, through S -> J, the 5 of the output
    // neuron (100 pairs); the output neuron's elements reach its own 5 (25 pairs). The
    // longest path: M or H -> S (2 hops), the synapse, then J -> H or T (2 hops) = 5.
    let net = network(&[2, 1], &[Connectivity::Full], 3);
    let g = ElementGraph::from_network(&net, &neuron(J, S));
    let r = check_invariance(&g);
    assert_eq!(r.nodes, 15);
    assert_eq!(r.sources_checked, 15);
    assert!(!r.sampled);
    assert_eq!(r.pairs_checked, 225);
    assert_eq!(r.reachable_pairs, 125);
    assert_eq!(r.max_distance, 5);
    assert!(r.holds(), "{:?}", r.violations);

    let net = network(&[3, 2, 2], &[Connectivity::Full], 3);
    let g = ElementGraph::from_network(&net, &neuron(J, S));
    let r = check_invariance(&g);
    assert_eq!(r.pairs_checked, 35 * 35);
    assert!(r.holds());
}

#[test]
fn bfs_check_agrees_with_petgraph_dijkstra() {
    let net = network(
        &[4, 3, 2],
        &[Connectivity::Random { fan_in: 2 }, Connectivity::Full],
        9,
    );
    let g = ElementGraph::from_network(&net, &neuron(S, H));
    let (mut reachable, mut longest) = (0u64, 0u32);
    for a in 0..g.node_count() {
        for d in g
            .distances_from(System::Forward, Loop::Combined, NodeIndex::new(a))
            .into_iter()
            .flatten()
        {
            reachable += 1;
            longest = longest.max(d);
        }
    }
    let r = check_invariance(&g);
    assert_eq!((r.reachable_pairs, r.max_distance), (reachable, longest));
}

#[test]
fn a_reversed_system_missing_an_arrow_is_caught() {
    let net = network(&[2, 2], &[Connectivity::OneToOne { shuffle: false }], 1);
    let mut g = ElementGraph::from_network(&net, &neuron(J, S));
    let e = g.reversed.edge_indices().next_back().unwrap();
    g.reversed.remove_edge(e);
    let r = check_invariance(&g);
    assert!(!r.holds());
    assert!(r.violation_count > 0 && !r.violations.is_empty());
}

#[test]
fn sampled_check_reports_what_it_checked() {
    let net = network(&[5, 4, 3], &[Connectivity::Full], 2);
    let g = ElementGraph::from_network(&net, &neuron(J, S));
    let n = g.node_count();
    let r = check_invariance_sampled(&g, Some(7), 11).unwrap();
    assert!(r.sampled && r.holds());
    assert_eq!((r.sources_checked, r.pairs_checked), (7, 7 * n as u64));
    assert_eq!(r.sample_seed, Some(11));
    let again = check_invariance_sampled(&g, Some(7), 11).unwrap();
    assert_eq!(again.reachable_pairs, r.reachable_pairs);
    let all = check_invariance_sampled(&g, Some(n + 5), 11).unwrap();
    assert!(!all.sampled);
    assert_eq!(all.pairs_checked, (n * n) as u64);
    assert!(matches!(
        check_invariance_sampled(&g, Some(0), 11),
        Err(CausalError::EmptySample)
    ));
}

fn connectivity() -> impl Strategy<Value = u8> {
    0u8..3
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// dist_forward(a, b) == dist_reversed(b, a) for every pair, on random layered
    /// networks with random wiring and random (distinct) ports.
    #[test]
    fn invariance_holds_on_random_topologies(
        layers in prop::collection::vec(1usize..6, 1..5),
        kinds in prop::collection::vec((connectivity(), 1usize..6), 4),
        ports in (0usize..5, 1usize..5),
        seed in any::<u64>(),
    ) {
        let conn: Vec<Connectivity> = (0..layers.len().saturating_sub(1))
            .map(|l| match kinds[l].0 {
                0 => Connectivity::Full,
                1 => Connectivity::OneToOne { shuffle: false },
                _ => Connectivity::Random { fan_in: 1 + (kinds[l].1 - 1) % layers[l] },
            })
            .collect();
        let input = Element::from_index(ports.0);
        let output = Element::from_index(ports.0 + ports.1);
        prop_assume!(input != output);
        let net = network(&layers, &conn, seed);
        let g = ElementGraph::from_network(&net, &neuron(input, output));
        let n = g.node_count();
        prop_assert_eq!(n, 5 * layers.iter().sum::<usize>());
        let r = check_invariance(&g);
        prop_assert_eq!(r.pairs_checked, (n * n) as u64);
        prop_assert!(r.holds(), "violations {:?}", r.violations);
    }
}

fn bsp() -> Command {
    Command::cargo_bin("bsp-sim").unwrap()
}

#[test]
fn cli_default_is_the_single_neuron_of_fig5() {
    let out = bsp()
        .arg("causal")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("### generative loop, forward system"));
    assert!(text.contains("| **J** | 0 | 1 | 2 | 3 | 4 |"));
    assert!(text.contains("holds: 5 of 5 source elements (every source), 25 ordered pairs"));
    assert!(text.contains("from the output element S: d=1: k1_S, k3_S;"));
}

#[test]
fn cli_json_on_a_model_with_sample() {
    let out = bsp()
        .args(["causal", "models/demo.yaml", "--json", "--sample", "10"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let nodes = 5 * (64 + 32 + 10);
    assert_eq!(v["element_nodes"], nodes);
    assert_eq!(v["invariance"]["sampled"], true);
    assert_eq!(v["invariance"]["sources_checked"], 10);
    assert_eq!(v["invariance"]["pairs_checked"], 10 * nodes);
    assert_eq!(v["invariance"]["violation_count"], 0);
    assert_eq!(v["tables"].as_array().unwrap().len(), 6);
    assert_eq!(v["tables"][0]["loop"], "generative");
    assert_eq!(v["tables"][0]["system"], "forward");
    assert_eq!(
        v["tables"][0]["dist"][0],
        serde_json::json!([0, 1, 2, 3, 4])
    );
}

#[test]
fn cli_rejects_an_empty_sample() {
    bsp()
        .args(["causal", "--sample", "0"])
        .assert()
        .failure()
        .code(2)
        .stderr(predicates::str::contains("--sample must be at least 1"));
}
