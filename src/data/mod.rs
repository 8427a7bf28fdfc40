//! In-memory training data and the seeded shuffle shared by the GPU trainer and the reference.

pub mod prep;
pub mod split;
pub mod table;

use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Rows of features with one 0/1 label each, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    x: Vec<f32>,
    y: Vec<f32>,
    features: usize,
}

impl Dataset {
    /// `x`: (rows, features) row-major, `y`: (rows) labels in [0, 1]. Every value must be finite.
    pub fn new(x: Vec<f32>, y: Vec<f32>, features: usize) -> Result<Dataset> {
        if features == 0 {
            return Err(Error::InvalidData(
                "a dataset needs at least one feature".into(),
            ));
        }
        if y.is_empty() {
            return Err(Error::InvalidData("the dataset has no rows".into()));
        }
        if x.len() != y.len() * features {
            return Err(Error::InvalidData(format!(
                "{} labels need {} feature values ({} per row), got {}",
                y.len(),
                y.len() * features,
                features,
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
        if let Some(i) = y.iter().position(|v| !(0.0..=1.0).contains(v)) {
            return Err(Error::InvalidData(format!(
                "label of row {i} is {}; binary labels must lie in [0, 1]",
                y[i]
            )));
        }
        Ok(Dataset { x, y, features })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.y.len()
    }

    /// Number of features per row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Features, (rows, features) row-major.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// Labels, (rows).
    pub fn y(&self) -> &[f32] {
        &self.y
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
}
