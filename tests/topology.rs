//! The network on petgraph: wiring rules, seeded initialisation, and the projection
//! round trip.

use bsp_sim::config::{Connectivity, InitSection};
use bsp_sim::topology::{one_to_one, Network};
use petgraph::Direction;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const NORMAL: InitSection = InitSection::Normal {
    mean: 0.0,
    std: 1.0,
    fan_in_scaled: true,
};

fn build(layers: &[usize], conn: Connectivity, seed: u64) -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Network::build(layers, &vec![conn; layers.len() - 1], NORMAL, &mut rng)
}

fn degrees(net: &Network, layer: usize, dir: Direction) -> Vec<usize> {
    (0..net.layers[layer])
        .map(|i| {
            net.graph
                .neighbors_directed(net.node(layer, i), dir)
                .count()
        })
        .collect()
}

#[test]
fn one_to_one_shrinking_has_fan_out_one_and_balanced_fan_in() {
    let net = build(
        &[784, 839, 283, 96, 32, 10],
        Connectivity::OneToOne { shuffle: false },
        1,
    );
    for l in 1..5 {
        let (pre, post) = (net.layers[l], net.layers[l + 1]);
        assert!(
            degrees(&net, l, Direction::Outgoing)
                .iter()
                .all(|&d| d == 1),
            "layer {l} fan-out"
        );
        let fan_in = degrees(&net, l + 1, Direction::Incoming);
        let ceil = pre.div_ceil(post);
        assert!(
            fan_in.iter().all(|&d| d >= 1 && d <= ceil),
            "layer {} fan-in {fan_in:?}",
            l + 1
        );
        assert_eq!(fan_in.iter().sum::<usize>(), pre);
    }
}

#[test]
fn one_to_one_growing_feeds_every_neuron_once() {
    // 784 -> 839: each presynaptic neuron feeds one, the 55 extra neurons one each.
    let lists = one_to_one(784, 839);
    assert!(lists.iter().all(|l| l.len() == 1));
    assert_eq!(lists[0], vec![0]);
    assert_eq!(lists[783], vec![783]);
    assert_eq!(lists[784], vec![0]);
    assert_eq!(lists[838], vec![54]);
}

#[test]
fn full_and_random_wiring_counts() {
    let full = build(&[5, 4, 3], Connectivity::Full, 1);
    assert_eq!(full.synapse_count(), 5 * 4 + 4 * 3);
    let random = build(&[50, 20, 10], Connectivity::Random { fan_in: 7 }, 1);
    assert!(degrees(&random, 1, Direction::Incoming)
        .iter()
        .all(|&d| d == 7));
    // Distinct presynaptic neurons per postsynaptic neuron.
    for j in 0..20 {
        let mut pre: Vec<_> = random
            .graph
            .neighbors_directed(random.node(1, j), Direction::Incoming)
            .collect();
        pre.sort();
        pre.dedup();
        assert_eq!(pre.len(), 7);
    }
}

#[test]
fn initialisation_is_seeded_and_fan_in_scaled() {
    let a = build(&[400, 300], Connectivity::Full, 5);
    let b = build(&[400, 300], Connectivity::Full, 5);
    let c = build(&[400, 300], Connectivity::Full, 6);
    let coef = |n: &Network| n.projection(0).coefficients().to_vec();
    assert_eq!(coef(&a), coef(&b));
    assert_ne!(coef(&a), coef(&c));
    let v = coef(&a);
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32).sqrt();
    // N(0, 1/400): std 0.05; 120k draws pin it to well under 1%.
    assert!(mean.abs() < 1e-3, "mean {mean}");
    assert!((std - 0.05).abs() < 5e-4, "std {std}");
}

#[test]
fn projection_round_trip_through_the_graph() {
    let mut net = build(&[6, 5, 3], Connectivity::OneToOne { shuffle: false }, 2);
    let mut p = net.projection(0);
    for (k, c) in p.coefficients_mut().iter_mut().enumerate() {
        *c = k as f32;
    }
    net.store(0, &p);
    assert_eq!(net.projection(0), p);
    // Sparse forward drive equals the sum over the graph's incoming edges.
    let d: Vec<f32> = (0..6).map(|i| i as f32 + 1.0).collect();
    let mut out = vec![0.0; 5];
    p.forward(1, &d, &mut out);
    for j in 0..5 {
        let expected: f32 = net
            .graph
            .edges_directed(net.node(1, j), Direction::Incoming)
            .map(|e| {
                use petgraph::visit::EdgeRef;
                e.weight().c * d[net.graph[e.source()].index]
            })
            .sum();
        assert_eq!(out[j], expected);
    }
}

#[test]
fn shuffled_one_to_one_keeps_fan_out_one_and_mixes_the_layer() {
    let net = build(
        &[784, 839, 283, 96, 32, 10],
        Connectivity::OneToOne { shuffle: true },
        1,
    );
    for l in 1..5 {
        assert!(
            degrees(&net, l, Direction::Outgoing)
                .iter()
                .all(|&d| d == 1),
            "layer {l} fan-out"
        );
    }
    // Output neuron 0 gathers layer-4 neurons that are not one contiguous block.
    let mut pre: Vec<usize> = net
        .graph
        .neighbors_directed(net.node(5, 0), Direction::Incoming)
        .map(|n| net.graph[n].index)
        .collect();
    pre.sort();
    assert!(pre.windows(2).any(|w| w[1] != w[0] + 1), "{pre:?}");
}

/// A part keeps exactly the synapses asked for, each with the C it has in the whole
/// network, for every wiring kind (the random ones draw their wiring before the C).
#[test]
fn a_part_keeps_the_whole_networks_draws() {
    let layers = [13, 11, 7];
    for conn in [
        Connectivity::Full,
        Connectivity::Random { fan_in: 4 },
        Connectivity::OneToOne { shuffle: true },
    ] {
        let whole = build(&layers, conn, 9);
        let keep = |l: usize, j: usize, i: usize| !(l + 2 * j + 3 * i).is_multiple_of(5);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let part = Network::build_part(&layers, &[conn, conn], NORMAL, &mut rng, keep);
        for l in 0..2 {
            let want: Vec<_> = whole
                .synapses(l)
                .filter(|&(j, i, _)| keep(l, j, i))
                .collect();
            let got: Vec<_> = part.synapses(l).collect();
            assert!(!got.is_empty());
            assert_eq!(got, want, "{conn:?}, pair {l}");
            if conn == Connectivity::Full {
                assert!(got.len() < whole.synapses(l).count());
            }
        }
    }
}
