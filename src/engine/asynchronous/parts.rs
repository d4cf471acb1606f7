//! A rank's part of the dense coefficients when MPI ranks share the asynchronous engine:
//! not every coefficient, only what its workers read.
//!
//! A worker delivers forward events over the rows of its own postsynaptic neurons, and
//! backward events onto its own presynaptic neurons over the rows of any postsynaptic
//! neuron. So rank r keeps, for a dense layer pair, the whole rows of its workers'
//! postsynaptic neurons and, of every other worker's rows, the column slab of the
//! presynaptic neurons rank r owns: `1/R + (R−1)/R²` of the matrix (0.75 at R = 2, 0.44
//! at R = 4). It updates the slab itself, as the owner updates the whole row (a synapse's
//! G2 reads only the two window integrals, which every rank receives, and its own state),
//! so the slab stays equal to the owner's row bit for bit without exchanging it. Sparse
//! pairs stay whole on every rank. A checkpoint gathers the whole rows to rank 0
//! ([`gather`]).

use std::ops::Range;

use super::worker::{owned, owned_by};
use crate::distributed::Collective;
use crate::error::SimError;
use crate::topology::{Network, Projection};

/// One dense layer pair's coefficients on one rank.
#[derive(Debug, Clone)]
pub struct Parted {
    pub pre: usize,
    pub post: usize,
    /// The workers this rank runs (their blocks are whole rows).
    pub local: Range<usize>,
    /// The presynaptic neurons this rank owns: the columns of the other workers' slabs.
    pub cols: Range<usize>,
    /// Per worker of all ranks: whole rows (`local`) or the slab `cols` of its rows.
    pub blocks: Vec<Vec<f32>>,
}

impl Parted {
    /// Layer pair `l` of `net`, a part built for workers `local` of `workers` whose kept
    /// synapses are [`Parted::keeps`]'s.
    pub fn compile(net: &Network, l: usize, workers: usize, local: Range<usize>) -> Parted {
        let (pre, post) = (net.layers[l], net.layers[l + 1]);
        let cols = owned_by(pre, &local, workers);
        let blocks = (0..workers)
            .map(|w| {
                let width = if local.contains(&w) { pre } else { cols.len() };
                vec![0.0; owned(post, w, workers).len() * width]
            })
            .collect();
        let mut part = Parted {
            pre,
            post,
            local,
            cols,
            blocks,
        };
        let (mut w, mut rows) = (0, owned(post, 0, workers));
        for (j, i, c) in net.synapses(l) {
            while !rows.contains(&j) {
                w += 1;
                rows = owned(post, w, workers);
            }
            let (width, col0) = part.width(w);
            part.blocks[w][(j - rows.start) * width + i - col0] = c;
        }
        part
    }

    /// Whether a rank running workers `local` of `workers` keeps synapse (j, i) of a dense
    /// pair of `pre` x `post` neurons.
    pub fn keeps(
        pre: usize,
        post: usize,
        workers: usize,
        local: &Range<usize>,
    ) -> impl Fn(usize, usize) -> bool {
        let rows = owned_by(post, local, workers);
        let cols = owned_by(pre, local, workers);
        move |j, i| rows.contains(&j) || cols.contains(&i)
    }

    /// Row width and first column of worker `w`'s block.
    pub fn width(&self, w: usize) -> (usize, usize) {
        if self.local.contains(&w) {
            (self.pre, 0)
        } else {
            (self.cols.len(), self.cols.start)
        }
    }

    /// Coefficients kept here.
    pub fn kept(&self) -> usize {
        self.blocks.iter().map(Vec::len).sum()
    }
}

/// What [`gather`] names in its exchanges (`summary.json`'s `exchanges`).
const GATHER: &str = "the checkpoint's coefficients";

/// Every rank's whole rows of `values` (per worker block, laid out as `part`'s), joined in
/// canonical order on rank 0 (`None` elsewhere): one all-gather per rank in which only
/// that rank sends, so no rank holds more than one other rank's rows at a time.
pub fn gather(
    c: &dyn Collective,
    part: &Parted,
    values: &[&[f32]],
) -> Result<Option<Vec<f32>>, SimError> {
    let threads = part.local.len();
    let mut whole = (c.rank() == 0).then(|| Vec::with_capacity(part.pre * part.post));
    for rank in 0..c.ranks() {
        let mine: Vec<u8> = if rank == c.rank() {
            (part.local.clone())
                .flat_map(|w| values[w].iter().flat_map(|v| v.to_le_bytes()))
                .collect()
        } else {
            Vec::new()
        };
        let all = c.all_gather_bytes(&mine, GATHER)?;
        if let Some(whole) = whole.as_mut() {
            let rows = &all[rank];
            let senders = rank * threads..(rank + 1) * threads;
            let posts = owned_by(part.post, &senders, c.ranks() * threads);
            if rows.len() != posts.len() * part.pre * 4 {
                return Err(SimError::Rank {
                    rank,
                    ranks: c.ranks(),
                    message: format!("{GATHER}: sent {} bytes, not its rows", rows.len()),
                    code: 1,
                });
            }
            whole.extend(
                rows.chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))),
            );
        }
    }
    Ok(whole)
}

/// `flat` (a part's values, block after block) cut into its blocks of `lens`.
pub fn blocks_of<'a>(flat: &'a [f32], lens: &[usize]) -> Vec<&'a [f32]> {
    let mut rest = flat;
    lens.iter()
        .map(|&n| {
            let (block, tail) = rest.split_at(n);
            rest = tail;
            block
        })
        .collect()
}

/// The whole projection of a gathered pair.
pub fn whole(part: &Parted, c: Vec<f32>) -> Projection {
    Projection::Dense {
        pre: part.pre,
        post: part.post,
        c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Connectivity, InitSection};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Rank 1 of 2 ranks of 2 workers: whole rows for workers 2 and 3, and of workers 0
    /// and 1 the columns of its own presynaptic neurons, each equal to the whole matrix.
    #[test]
    fn a_ranks_blocks_are_its_rows_and_its_columns_of_the_others() {
        let (layers, workers, local) = ([10, 9], 4, 2..4);
        let init = InitSection::Normal {
            mean: 0.0,
            std: 1.0,
            fan_in_scaled: true,
        };
        let net = |keep: &dyn Fn(usize, usize, usize) -> bool| {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            Network::build_part(&layers, &[Connectivity::Full], init, &mut rng, keep)
        };
        let whole = net(&|_, _, _| true).projection(0);
        let keeps = Parted::keeps(10, 9, workers, &local);
        let part = Parted::compile(&net(&|_, j, i| keeps(j, i)), 0, workers, local);
        let c = whole.coefficients();
        assert_eq!(part.cols, 5..10);
        for w in 0..workers {
            let (width, col0) = part.width(w);
            let rows = owned(9, w, workers);
            assert_eq!(part.blocks[w].len(), rows.len() * width);
            for (r, j) in rows.enumerate() {
                for k in 0..width {
                    assert_eq!(part.blocks[w][r * width + k], c[j * 10 + col0 + k]);
                }
            }
        }
        // Rows 4..9 whole (5 x 10) and the columns 5..10 of rows 0..4 (4 x 5), of 90.
        assert_eq!(part.kept(), 70);
    }
}
