//! Optimiser settings and the per-step scalars computed from them on the host.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// Which update rule the optimiser step applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam; weight decay is an L2 penalty added to the gradient (PyTorch's `Adam`).
    Adam,
    /// Adam with decoupled weight decay (PyTorch's `AdamW`).
    #[cfg_attr(feature = "cli", value(name = "adamw"))]
    AdamW,
    /// Stochastic gradient descent with momentum (PyTorch's `SGD`, no dampening).
    Sgd,
}

impl OptimizerKind {
    /// The lower-case name used on the command line and in model files.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
            OptimizerKind::Sgd => "sgd",
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OptimizerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "adam" => Ok(OptimizerKind::Adam),
            "adamw" => Ok(OptimizerKind::AdamW),
            "sgd" => Ok(OptimizerKind::Sgd),
            other => Err(Error::InvalidConfig(format!(
                "unknown optimizer {other:?}: expected adam, adamw or sgd"
            ))),
        }
    }
}

/// The optimiser and its hyperparameters. Defaults are PyTorch's Adam: lr 1e-3, β1 0.9,
/// β2 0.999, ε 1e-8, no weight decay; momentum 0.9 applies to SGD only.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimizerConfig {
    /// The update rule.
    pub kind: OptimizerKind,
    /// Base learning rate (a schedule scales it per epoch).
    pub lr: f32,
    /// Adam: decay of the first-moment average.
    pub beta1: f32,
    /// Adam: decay of the second-moment average.
    pub beta2: f32,
    /// Adam: added to the denominator so it never divides by zero.
    pub eps: f32,
    /// L2 penalty (Adam, SGD) or decoupled decay (AdamW); 0 disables it.
    pub weight_decay: f32,
    /// SGD: momentum of the velocity.
    pub momentum: f32,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            kind: OptimizerKind::Adam,
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.9,
        }
    }
}

/// The scalars one optimiser step needs, computed once on the host so that the GPU kernel and
/// the CPU reference use bit-identical values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepValues {
    /// Learning rate of this step.
    pub lr: f32,
    /// 1 − β1^t.
    pub bias_correction1: f32,
    /// 1 − β2^t.
    pub bias_correction2: f32,
    /// The optimiser's constants, carried by each step so that models whose constants differ
    /// can share a dispatch (the wide fused kernel reads them from the step).
    pub constants: Constants,
}

/// The optimiser's constants besides its kind and learning rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constants {
    /// Adam's β1.
    pub beta1: f32,
    /// Adam's β2.
    pub beta2: f32,
    /// Adam's ε.
    pub eps: f32,
    /// L2 penalty (adam, sgd) or decoupled decay (adamw).
    pub weight_decay: f32,
    /// SGD's momentum.
    pub momentum: f32,
}

impl StepValues {
    /// The uniform slot of a step with these values whose batch starts at `row_offset` of the
    /// row order and whose loss goes to `loss_slot`.
    pub fn uniform(&self, row_offset: u32, loss_slot: u32) -> crate::gpu::StepUniform {
        crate::gpu::StepUniform::new(
            row_offset,
            loss_slot,
            self.lr,
            self.bias_correction1,
            self.bias_correction2,
        )
        .with_constants(self.constants)
    }
}

impl OptimizerConfig {
    /// Whether `other` is the same optimiser, its learning rate and constants aside (each
    /// step carries those): then one dispatch can train models of both
    /// (src/train/group.rs).
    pub fn same_kind(&self, other: &OptimizerConfig) -> bool {
        self.kind == other.kind
    }

    /// Its constants, as each step carries them.
    pub fn constants(&self) -> Constants {
        Constants {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
            momentum: self.momentum,
        }
    }

    /// Rejects settings that cannot train: non-finite or out-of-range values.
    pub fn validate(&self) -> Result<()> {
        let checks: [(&str, f32, bool, &str); 6] = [
            ("lr", self.lr, self.lr > 0.0, "a number > 0"),
            (
                "beta1",
                self.beta1,
                (0.0..1.0).contains(&self.beta1),
                "in [0, 1)",
            ),
            (
                "beta2",
                self.beta2,
                (0.0..1.0).contains(&self.beta2),
                "in [0, 1)",
            ),
            ("eps", self.eps, self.eps > 0.0, "a number > 0"),
            (
                "weight-decay",
                self.weight_decay,
                self.weight_decay >= 0.0,
                "a number ≥ 0",
            ),
            (
                "momentum",
                self.momentum,
                (0.0..1.0).contains(&self.momentum),
                "in [0, 1)",
            ),
        ];
        match checks
            .iter()
            .find(|(_, value, ok, _)| !(value.is_finite() && *ok))
        {
            None => Ok(()),
            Some((name, value, _, want)) => Err(Error::InvalidConfig(format!(
                "{name} is {value}; it must be {want}"
            ))),
        }
    }

    /// The values of step `t` (counted from 1) at learning rate `lr`.
    pub fn step_values(&self, t: u64, lr: f32) -> StepValues {
        let t = t.min(i32::MAX as u64) as i32;
        StepValues {
            lr,
            bias_correction1: (1.0 - f64::from(self.beta1).powi(t)) as f32,
            bias_correction2: (1.0 - f64::from(self.beta2).powi(t)) as f32,
            constants: self.constants(),
        }
    }
}
