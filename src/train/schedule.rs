//! Learning-rate schedules, stepped once per epoch on the host (as PyTorch's schedulers are),
//! so the GPU trainer and the CPU reference see the same rate in every step.

use crate::error::{Error, Result};

/// How the learning rate changes over the epochs.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiplied by `gamma` every `every` epochs (PyTorch's StepLR).
    Step {
        /// Epochs between decays.
        every: usize,
        /// Factor applied at each decay.
        gamma: f32,
    },
    /// Cosine annealing from the base rate to `min_lr` over all epochs (CosineAnnealingLR).
    Cosine {
        /// The rate reached at the last epoch.
        min_lr: f32,
    },
    /// Multiplied by `factor` when the monitored loss has not improved for `patience` epochs,
    /// never below `min_lr` (ReduceLROnPlateau).
    Plateau {
        /// Factor applied at each reduction.
        factor: f32,
        /// Epochs without improvement before a reduction.
        patience: usize,
        /// Lowest rate.
        min_lr: f32,
    },
}

impl Schedule {
    /// The schedule `name` (constant, step, cosine, plateau) with default settings for a run of
    /// `epochs` epochs: step decays by 0.1 every third of the run, cosine ends at 0, plateau
    /// halves after 5 epochs without improvement down to 1e-6.
    pub fn named(name: &str, epochs: usize) -> Result<Schedule> {
        match name.trim().to_ascii_lowercase().as_str() {
            "constant" => Ok(Schedule::Constant),
            "step" => Ok(Schedule::Step {
                every: (epochs / 3).max(1),
                gamma: 0.1,
            }),
            "cosine" => Ok(Schedule::Cosine { min_lr: 0.0 }),
            "plateau" => Ok(Schedule::Plateau {
                factor: 0.5,
                patience: 5,
                min_lr: 1e-6,
            }),
            other => Err(Error::InvalidConfig(format!(
                "unknown learning-rate schedule {other:?}: expected constant, step, cosine or \
                 plateau"
            ))),
        }
    }

    /// The schedule's name, as [`Schedule::named`] takes it.
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Step { .. } => "step",
            Schedule::Cosine { .. } => "cosine",
            Schedule::Plateau { .. } => "plateau",
        }
    }

    /// Rejects settings that cannot work.
    pub fn validate(&self) -> Result<()> {
        let ok = match *self {
            Schedule::Constant => true,
            Schedule::Step { every, gamma } => every > 0 && gamma > 0.0 && gamma.is_finite(),
            Schedule::Cosine { min_lr } => min_lr >= 0.0 && min_lr.is_finite(),
            Schedule::Plateau { factor, min_lr, .. } => {
                factor > 0.0 && factor < 1.0 && min_lr >= 0.0 && min_lr.is_finite()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidConfig(format!(
                "learning-rate schedule out of range: {self:?}"
            )))
        }
    }
}

/// Relative improvement the plateau schedule asks of the monitored loss (PyTorch's default).
const PLATEAU_THRESHOLD: f64 = 1e-4;

/// A schedule in motion: the rate of each epoch, and for plateau the losses seen so far.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scheduler {
    schedule: Schedule,
    base_lr: f32,
    epochs: usize,
    /// Plateau: the current rate, the best loss seen and epochs since it.
    current: f32,
    best: f64,
    bad_epochs: usize,
}

impl Scheduler {
    /// Starts `schedule` at `base_lr` for a run of `epochs` epochs.
    pub fn new(schedule: Schedule, base_lr: f32, epochs: usize) -> Scheduler {
        Scheduler {
            schedule,
            base_lr,
            epochs,
            current: base_lr,
            best: f64::INFINITY,
            bad_epochs: 0,
        }
    }

    /// The learning rate of epoch `epoch` (counted from 0).
    pub fn lr(&self, epoch: usize) -> f32 {
        match self.schedule {
            Schedule::Constant => self.base_lr,
            Schedule::Step { every, gamma } => {
                let decays = (epoch / every).min(i32::MAX as usize) as i32;
                (f64::from(self.base_lr) * f64::from(gamma).powi(decays)) as f32
            }
            Schedule::Cosine { min_lr } => {
                let progress = epoch as f64 / self.epochs.max(1) as f64;
                let (base, min) = (f64::from(self.base_lr), f64::from(min_lr));
                (min + 0.5 * (base - min) * (1.0 + (std::f64::consts::PI * progress).cos())) as f32
            }
            Schedule::Plateau { .. } => self.current,
        }
    }

    /// Whether [`Scheduler::observe`] must be fed each epoch's loss.
    pub fn needs_loss(&self) -> bool {
        matches!(self.schedule, Schedule::Plateau { .. })
    }

    /// Records the monitored loss after an epoch; a plateau schedule may lower the rate.
    pub fn observe(&mut self, loss: f64) {
        let Schedule::Plateau {
            factor,
            patience,
            min_lr,
        } = self.schedule
        else {
            return;
        };
        if loss < self.best * (1.0 - PLATEAU_THRESHOLD) {
            self.best = loss;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
            if self.bad_epochs > patience {
                self.current = (self.current * factor).max(min_lr);
                self.bad_epochs = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_and_cosine_follow_their_formulas() {
        let s = Scheduler::new(
            Schedule::Step {
                every: 10,
                gamma: 0.5,
            },
            1.0,
            30,
        );
        assert_eq!(
            [s.lr(0), s.lr(9), s.lr(10), s.lr(25)],
            [1.0, 1.0, 0.5, 0.25]
        );
        let c = Scheduler::new(Schedule::Cosine { min_lr: 0.0 }, 1.0, 100);
        assert_eq!(c.lr(0), 1.0);
        assert!((c.lr(50) - 0.5).abs() < 1e-6);
        assert!(c.lr(99) < 0.001);
    }

    #[test]
    fn plateau_lowers_the_rate_after_patience_epochs_without_improvement() {
        let schedule = Schedule::Plateau {
            factor: 0.5,
            patience: 2,
            min_lr: 0.2,
        };
        let mut s = Scheduler::new(schedule, 1.0, 100);
        for loss in [1.0, 0.9, 0.9, 0.9] {
            s.observe(loss);
        }
        assert_eq!(s.lr(4), 1.0);
        s.observe(0.9);
        assert_eq!(s.lr(5), 0.5);
        for _ in 0..9 {
            s.observe(0.9);
        }
        assert_eq!(s.lr(20), 0.2, "never below min_lr");
    }
}
