//! In-memory training data and the seeded shuffle shared by the GPU trainer and the reference.

pub mod chunks;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod prep;
pub mod records;
pub mod shuffle_buffer;
pub mod split;
pub mod stream;
pub mod table;

use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Rows of features and their targets, row-major. Each target row also carries the row's
/// weight (1, or its class weight): `targets` is (rows, outputs + 1), the layout the loss
/// kernels read (shaders/loss.wgsl).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    x: Vec<f32>,
    targets: Vec<f32>,
    features: usize,
    outputs: usize,
}

impl Dataset {
    /// Binary labels: `x`: (rows, features) row-major, `y`: (rows) labels in [0, 1], every row
    /// weighted 1.
    pub fn new(x: Vec<f32>, y: Vec<f32>, features: usize) -> Result<Dataset> {
        if let Some(i) = y.iter().position(|v| !(0.0..=1.0).contains(v)) {
            return Err(Error::InvalidData(format!(
                "label of row {i} is {}; binary labels must lie in [0, 1]",
                y[i]
            )));
        }
        Dataset::with_targets(x, y, features, 1, None)
    }

    /// `x`: (rows, features), `y`: (rows, outputs), `weights`: (rows) or `None` for all 1.
    /// Every value must be finite and every weight ≥ 0.
    pub fn with_targets(
        x: Vec<f32>,
        y: Vec<f32>,
        features: usize,
        outputs: usize,
        weights: Option<Vec<f32>>,
    ) -> Result<Dataset> {
        if features == 0 || outputs == 0 {
            return Err(Error::InvalidData(
                "a dataset needs at least one feature and one target".into(),
            ));
        }
        if y.is_empty() {
            return Err(Error::InvalidData("the dataset has no rows".into()));
        }
        if !y.len().is_multiple_of(outputs) {
            return Err(Error::InvalidData(format!(
                "{} target values do not make whole rows of {outputs}",
                y.len()
            )));
        }
        let rows = y.len() / outputs;
        if x.len() != rows * features {
            return Err(Error::InvalidData(format!(
                "{rows} target rows need {} feature values ({features} per row), got {}",
                rows * features,
                x.len()
            )));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidData(format!(
                "feature {} of row {} is {} (not finite)",
                i % features,
                i / features,
                x[i]
            )));
        }
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidData(format!(
                "target {} of row {} is {} (not finite)",
                i % outputs,
                i / outputs,
                y[i]
            )));
        }
        let weights = weights.unwrap_or_else(|| vec![1.0; rows]);
        if weights.len() != rows {
            return Err(Error::InvalidData(format!(
                "{} weights for {rows} rows",
                weights.len()
            )));
        }
        if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::InvalidData(format!(
                "the weight of row {i} is {}; weights must be finite and ≥ 0",
                weights[i]
            )));
        }
        let mut targets = Vec::with_capacity(rows * (outputs + 1));
        for (row, w) in y.chunks(outputs).zip(&weights) {
            targets.extend_from_slice(row);
            targets.push(*w);
        }
        Ok(Dataset {
            x,
            targets,
            features,
            outputs,
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.targets.len() / (self.outputs + 1)
    }

    /// Number of features per row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Number of targets per row.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Features, (rows, features) row-major.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// Targets and weight of each row, (rows, outputs + 1).
    pub fn targets(&self) -> &[f32] {
        &self.targets
    }

    /// Target `c` of row `r`.
    pub fn target(&self, r: usize, c: usize) -> f32 {
        self.targets[r * (self.outputs + 1) + c]
    }
}

/// The row order of each epoch, from a seeded ChaCha stream: the GPU trainer and the CPU
/// reference draw the same orders from the same seed.
#[derive(Clone, Debug)]
pub struct Shuffler {
    rng: ChaCha8Rng,
}

impl Shuffler {
    /// A shuffle stream for `seed` (independent of the weight-initialisation stream).
    pub fn new(seed: u64) -> Shuffler {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1);
        Shuffler { rng }
    }

    /// A fresh permutation of 0..rows.
    pub fn next_order(&mut self, rows: usize) -> Vec<u32> {
        let mut order: Vec<u32> = (0..rows as u32).collect();
        order.shuffle(&mut self.rng);
        order
    }

    /// Where the stream stands (ChaCha's word position), for checkpoints.
    pub fn position(&self) -> u128 {
        self.rng.get_word_pos()
    }

    /// Moves the stream to a position returned by [`Shuffler::position`].
    pub fn seek(&mut self, position: u128) {
        self.rng.set_word_pos(position);
    }
}
