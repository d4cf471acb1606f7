//! The network a model and a seed build: the one every engine, `bsp-sim causal` and the
//! gradient check start from, so that they all see the same initial C and random wiring.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::Network;
use crate::config::Model;

/// Stream of the seeded generator that draws the initial coefficients.
const INIT_STREAM: u64 = 1;

/// Builds the model's network, drawing the initial C (and random wiring) from the seed's
/// init stream: the network every engine built from the same seed starts from.
pub fn build_network(model: &Model, seed: u64) -> Network {
    build_network_part(model, seed, |_, _, _| true)
}

/// The synapses `keep(l, j, i)` accepts of the network [`build_network`] builds, each with
/// the same C ([`Network::build_part`]).
pub fn build_network_part(
    model: &Model,
    seed: u64,
    keep: impl Fn(usize, usize, usize) -> bool,
) -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(INIT_STREAM);
    Network::build_part(
        &model.network.layers,
        &model.network.connectivity,
        model.network.init,
        &mut rng,
        keep,
    )
}
