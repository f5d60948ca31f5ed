//! Seeded random streams. Every random choice in vanish (initial weights, synthetic data, the split,
//! the per-epoch shuffle) draws from its own ChaCha8 stream of the run's seed, so changing how one is
//! used never changes another, and both engines see exactly the same numbers.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Which independent stream of a seed to draw from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Init = 0,
    Data = 1,
    Split = 2,
    Shuffle = 3,
    /// Random inputs for tests and benchmarks.
    Test = 4,
    /// Initial biases (`BiasInit`), apart from the weights: a σ_b² sweep keeps each seed's weights.
    Bias = 5,
}

/// The generator for `stream` of `seed`.
pub fn rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}
