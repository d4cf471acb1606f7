//! The invariance check of causal distance over a whole network:
//! `dist_forward(a, b) == dist_reversed(b, a)` for every ordered pair of elements (or for
//! every pair whose `a` lies in a seeded sample of sources).
//!
//! For each source `a` it runs two breadth-first searches on compressed adjacency arrays
//! built from the two element graphs: one along the forward graph's edges from `a`
//! (`dist_forward(a, ·)`), one against the *reversed* graph's edges from `a`
//! (`dist_reversed(·, a)`), and compares them node by node. Both graphs are built
//! independently from their own equations, so a mismatch means the reversed equations do
//! not reverse some causal arrow. Cost: O(sources * (V + E)) time, O(V + E) memory per
//! worker thread; the sources are split over threads in contiguous blocks and the results
//! merged in source order, so the report does not depend on the thread count.

use std::time::Instant;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{CausalError, Coupling, ElementGraph, ElementNode};

/// At most this many violations are kept in a report (all are counted).
pub const MAX_REPORTED: usize = 100;

/// A pair whose forward and reversed distances differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub from: ElementNode,
    pub to: ElementNode,
    /// `dist_forward(from, to)`, `None` when unreachable.
    pub forward: Option<u32>,
    /// `dist_reversed(to, from)`.
    pub reversed: Option<u32>,
}

/// What the invariance check saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvarianceReport {
    /// Element nodes in the network (five per neuron).
    pub nodes: usize,
    /// Sources `a` checked: every node, or the sample.
    pub sources_checked: usize,
    /// Whether the sources were a seeded sample rather than every node.
    pub sampled: bool,
    /// Seed of the sample (only when `sampled`).
    pub sample_seed: Option<u64>,
    /// Ordered pairs (a, b) checked: `sources_checked * nodes`, including `a == b` and the
    /// pairs unreachable in both systems (checked as such).
    pub pairs_checked: u64,
    /// Of those, the pairs with a finite forward distance.
    pub reachable_pairs: u64,
    /// Largest finite forward distance seen.
    pub max_distance: u32,
    /// Number of violating pairs.
    pub violation_count: u64,
    /// The first [`MAX_REPORTED`] violations, in source order.
    pub violations: Vec<Violation>,
    /// Wall-clock time of the check.
    pub seconds: f64,
    pub threads: usize,
}

impl InvarianceReport {
    /// Whether the invariance held on every pair checked.
    pub fn holds(&self) -> bool {
        self.violation_count == 0
    }
}

/// Checks `dist_forward(a, b) == dist_reversed(b, a)` for every ordered pair of element
/// nodes of `g`.
pub fn check_invariance(g: &ElementGraph) -> InvarianceReport {
    let sources: Vec<u32> = (0..g.node_count() as u32).collect();
    run(g, &sources, None)
}

/// Like [`check_invariance`], but with `sample: Some(n)` only for `n` source nodes drawn
/// without replacement by a ChaCha8 generator seeded with `seed` (every target is still
/// checked for each source). A sample at least as large as the network checks every pair.
pub fn check_invariance_sampled(
    g: &ElementGraph,
    sample: Option<usize>,
    seed: u64,
) -> Result<InvarianceReport, CausalError> {
    let n = g.node_count();
    match sample {
        Some(0) => Err(CausalError::EmptySample),
        Some(k) if k < n => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut sources: Vec<u32> = rand::seq::index::sample(&mut rng, n, k)
                .into_iter()
                .map(|i| i as u32)
                .collect();
            sources.sort_unstable();
            Ok(run(g, &sources, Some(seed)))
        }
        _ => Ok(check_invariance(g)),
    }
}

fn run(g: &ElementGraph, sources: &[u32], seed: Option<u64>) -> InvarianceReport {
    let start = Instant::now();
    let n = g.node_count();
    let forward_out = Csr::new(&g.forward, n, false);
    let reversed_in = Csr::new(&g.reversed, n, true);
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(sources.len().div_ceil(64))
        .max(1);
    let chunk = sources.len().div_ceil(threads).max(1);
    let parts: Vec<Partial> = std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .chunks(chunk)
            .map(|block| scope.spawn(|| check_block(&forward_out, &reversed_in, block)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("invariance worker does not panic"))
            .collect()
    });
    let mut report = InvarianceReport {
        nodes: n,
        sources_checked: sources.len(),
        sampled: seed.is_some(),
        sample_seed: seed,
        pairs_checked: sources.len() as u64 * n as u64,
        reachable_pairs: 0,
        max_distance: 0,
        violation_count: 0,
        violations: Vec::new(),
        seconds: 0.0,
        threads,
    };
    for p in parts {
        report.reachable_pairs += p.reachable;
        report.max_distance = report.max_distance.max(p.max_distance);
        report.violation_count += p.violation_count;
        for (a, b, f, r) in p.violations {
            if report.violations.len() < MAX_REPORTED {
                report.violations.push(Violation {
                    from: g.forward[NodeIndex::new(a as usize)],
                    to: g.forward[NodeIndex::new(b as usize)],
                    forward: finite(f),
                    reversed: finite(r),
                });
            }
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    report
}

/// One worker's results: counts and the first violations (a, b, forward, reversed).
struct Partial {
    reachable: u64,
    max_distance: u32,
    violation_count: u64,
    violations: Vec<(u32, u32, u32, u32)>,
}

fn check_block(forward_out: &Csr, reversed_in: &Csr, sources: &[u32]) -> Partial {
    let mut fw = Bfs::new(forward_out.len());
    let mut rv = Bfs::new(reversed_in.len());
    let mut p = Partial {
        reachable: 0,
        max_distance: 0,
        violation_count: 0,
        violations: Vec::new(),
    };
    for &a in sources {
        fw.run(forward_out, a);
        rv.run(reversed_in, a);
        p.reachable += fw.order.len() as u64;
        // Pairs reached forward: the reversed distance into `a` must be the same.
        for &b in &fw.order {
            let (f, r) = (fw.dist[b as usize], rv.dist[b as usize]);
            p.max_distance = p.max_distance.max(f);
            if f != r {
                flag(&mut p, a, b, f, r);
            }
        }
        // Pairs reached only in the reversed system (unreachable forward).
        for &b in &rv.order {
            if fw.dist[b as usize] == UNREACHED {
                flag(&mut p, a, b, UNREACHED, rv.dist[b as usize]);
            }
        }
    }
    p
}

fn flag(p: &mut Partial, a: u32, b: u32, f: u32, r: u32) {
    p.violation_count += 1;
    if p.violations.len() < MAX_REPORTED {
        p.violations.push((a, b, f, r));
    }
}

const UNREACHED: u32 = u32::MAX;

fn finite(d: u32) -> Option<u32> {
    (d != UNREACHED).then_some(d)
}

/// Compressed adjacency of a petgraph graph, along its edges or (with `incoming`) against
/// them: the BFS inner loop then reads two flat arrays instead of petgraph's edge lists.
struct Csr {
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl Csr {
    fn new(g: &DiGraph<ElementNode, Coupling>, n: usize, incoming: bool) -> Csr {
        let ends = |e: petgraph::graph::EdgeReference<'_, Coupling>| {
            let (s, t) = (e.source().index(), e.target().index());
            if incoming {
                (t, s)
            } else {
                (s, t)
            }
        };
        let mut offsets = vec![0u32; n + 1];
        for e in g.edge_references() {
            offsets[ends(e).0 + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; g.edge_count()];
        for e in g.edge_references() {
            let (from, to) = ends(e);
            targets[fill[from] as usize] = to as u32;
            fill[from] += 1;
        }
        Csr { offsets, targets }
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn neighbours(&self, v: u32) -> &[u32] {
        let v = v as usize;
        &self.targets[self.offsets[v] as usize..self.offsets[v + 1] as usize]
    }
}

/// Breadth-first search with reusable buffers: `order` is both the queue and the list of
/// visited nodes, so resetting costs only what the last search touched.
struct Bfs {
    dist: Vec<u32>,
    order: Vec<u32>,
}

impl Bfs {
    fn new(n: usize) -> Bfs {
        Bfs {
            dist: vec![UNREACHED; n],
            order: Vec::with_capacity(n),
        }
    }

    fn run(&mut self, g: &Csr, source: u32) {
        for &v in &self.order {
            self.dist[v as usize] = UNREACHED;
        }
        self.order.clear();
        self.dist[source as usize] = 0;
        self.order.push(source);
        let mut head = 0;
        while head < self.order.len() {
            let v = self.order[head];
            head += 1;
            let d = self.dist[v as usize] + 1;
            for &w in g.neighbours(v) {
                if self.dist[w as usize] == UNREACHED {
                    self.dist[w as usize] = d;
                    self.order.push(w);
                }
            }
        }
    }
}
