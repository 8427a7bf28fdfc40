//! The CPU reference trainer: the whole training step (`kernels::fused::reference`, op by op
//! from each kernel's reference) and the same epoch loop, shuffle and step values as the GPU
//! trainer, on the host.

use super::fit::{fit_with, Backend, FitReport, TrainerState};
use super::{check_inputs, epoch_loss, resume_shuffle, shuffle_pos, PartialEpoch, TrainConfig};
use crate::data::{Dataset, Shuffler};
use crate::error::{Error, Result};
use crate::kernels::adam::reference::adam;
use crate::kernels::fused::reference::{backward, forward};
use crate::kernels::gather::reference::gather;
use crate::kernels::loss::reference::output_transform;
use crate::kernels::sgd::reference::sgd;
use crate::model::{Mlp, MlpSpec};
use crate::optim::{OptimizerKind, StepValues};

/// The network's logits for each row.
// x: (rows, inputs) → (rows, outputs)
pub fn logits(model: &Mlp, x: &[f32]) -> Result<Vec<f32>> {
    let rows = check_inputs(model, x)?;
    let mut acts = forward(model, x, rows);
    Ok(acts.pop().expect("logits"))
}

/// Probabilities (classifiers) or values (regression) for each row; see [`crate::predict`].
// x: (rows, inputs) → (rows, outputs)
pub fn predict(model: &Mlp, x: &[f32]) -> Result<Vec<f32>> {
    let mut out = logits(model, x)?;
    output_transform(model.spec().loss, &mut out, model.spec().outputs);
    Ok(out)
}

/// The reference trainer: parameters, optimiser state and the shuffle stream, on the host.
pub struct CpuTrainer<'d> {
    model: Mlp,
    data: &'d Dataset,
    config: TrainConfig,
    /// Adam's first moment, or SGD's velocity.
    m: Vec<f32>,
    v: Vec<f32>,
    best: Vec<f32>,
    t: u64,
    shuffler: Shuffler,
    /// Epochs finished so far.
    epochs_done: usize,
    /// The epoch a stop left unfinished.
    partial: Option<PartialEpoch>,
}

impl<'d> CpuTrainer<'d> {
    /// Starts from `model`'s parameters with zeroed optimiser state.
    pub fn new(model: &Mlp, data: &'d Dataset, config: &TrainConfig) -> Result<CpuTrainer<'d>> {
        config.validate(model, data)?;
        let n = model.params().len();
        Ok(CpuTrainer {
            model: model.clone(),
            data,
            config: config.clone(),
            m: vec![0.0; n],
            v: vec![0.0; n],
            best: model.params().to_vec(),
            t: 0,
            shuffler: Shuffler::new(config.seed),
            epochs_done: 0,
            partial: None,
        })
    }

    /// One optimiser step on a batch; returns its loss.
    // x: (rows, inputs), t: (rows, outputs + 1)
    pub fn step(&mut self, x: &[f32], t: &[f32], rows: usize, values: &StepValues) -> f32 {
        let acts = forward(&self.model, x, rows);
        let mut grads = vec![0.0; self.model.params().len()];
        let loss = backward(&self.model, &acts, t, rows, &mut grads);
        let config = &self.config.optimizer;
        let p = self.model.params_mut();
        match config.kind {
            OptimizerKind::Adam | OptimizerKind::AdamW => {
                adam(&grads, p, &mut self.m, &mut self.v, values, config)
            }
            OptimizerKind::Sgd => sgd(&grads, p, &mut self.m, values, config),
        }
        loss
    }

    /// Runs one epoch per learning rate; returns the mean per-row training loss of each. A NaN
    /// or infinite step loss stops it with [`Error::Diverged`], the weights put back as they
    /// were when the call began (as the GPU trainer does for its chunk).
    pub fn run_epochs(&mut self, lrs: &[f32]) -> Result<Vec<f32>> {
        self.run_epochs_until(lrs, &|| false)
    }

    /// [`CpuTrainer::run_epochs`], asking `stop` before each step: once it says yes the
    /// finished epochs' losses are returned and the unfinished epoch waits for the next call.
    pub fn run_epochs_until(&mut self, lrs: &[f32], stop: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        let good = self.model.params().to_vec();
        let rows = self.data.rows();
        let features = self.data.features();
        let t_cols = self.data.outputs() + 1;
        let batch = self.config.batch_size.min(rows);
        let mut xb = vec![0.0; batch * features];
        let mut tb = vec![0.0; batch * t_cols];
        let mut losses = Vec::with_capacity(lrs.len());
        for &lr in lrs {
            let mut epoch = match self.partial.take() {
                Some(p) => p,
                None => {
                    let start_pos = self.shuffler.position();
                    PartialEpoch {
                        start_pos,
                        order: self.shuffler.next_order(rows),
                        losses: Vec::new(),
                    }
                }
            };
            for start in (epoch.losses.len() * batch..rows).step_by(batch) {
                if stop() {
                    if epoch.losses.is_empty() {
                        self.shuffler.seek(epoch.start_pos);
                    } else {
                        self.partial = Some(epoch);
                    }
                    self.epochs_done += losses.len();
                    return Ok(losses);
                }
                let r = batch.min(rows - start);
                let (x_all, t_all) = (self.data.x(), self.data.targets());
                gather(
                    &epoch.order,
                    start,
                    x_all,
                    t_all,
                    &mut xb,
                    &mut tb,
                    r,
                    features,
                    t_cols,
                );
                self.t += 1;
                let values = self.config.optimizer.step_values(self.t, lr);
                let loss = self.step(&xb, &tb, r, &values);
                if !loss.is_finite() {
                    self.model.params_mut().copy_from_slice(&good);
                    return Err(Error::Diverged {
                        epoch: self.epochs_done + losses.len() + 1,
                        step: start / batch + 1,
                        loss,
                    });
                }
                epoch.losses.push(loss);
            }
            losses.push(epoch_loss(&epoch.losses, rows, batch));
        }
        self.epochs_done += losses.len();
        Ok(losses)
    }

    fn is_adam(&self) -> bool {
        self.config.optimizer.kind != OptimizerKind::Sgd
    }

    /// Everything needed to continue this run bit for bit.
    pub fn state(&self) -> TrainerState {
        TrainerState {
            path: "cpu".into(),
            params: self.model.params().to_vec(),
            m: self.m.clone(),
            v: match self.is_adam() {
                true => self.v.clone(),
                false => Vec::new(),
            },
            best: self.best.clone(),
            t: self.t,
            epochs_done: self.epochs_done,
            shuffle_pos: shuffle_pos(&self.shuffler, self.partial.as_ref()),
            partial_losses: self
                .partial
                .as_ref()
                .map(|p| p.losses.clone())
                .unwrap_or_default(),
        }
    }

    /// Continues from `state`.
    pub fn set_state(&mut self, state: &TrainerState) -> Result<()> {
        let n = self.model.params().len();
        let rows = self.data.rows();
        let batch = self.config.batch_size.min(rows);
        state.check(n, self.is_adam(), rows.div_ceil(batch))?;
        self.model.params_mut().copy_from_slice(&state.params);
        self.m.copy_from_slice(&state.m);
        if self.is_adam() {
            self.v.copy_from_slice(&state.v);
        }
        self.best.copy_from_slice(&state.best);
        self.t = state.t;
        self.epochs_done = state.epochs_done;
        self.partial = resume_shuffle(&mut self.shuffler, state, rows);
        Ok(())
    }

    /// The current model.
    pub fn model(&self) -> &Mlp {
        &self.model
    }
}

impl Backend for CpuTrainer<'_> {
    fn run_epochs(&mut self, lrs: &[f32], stop: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        CpuTrainer::run_epochs_until(self, lrs, stop)
    }
    fn logits(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        logits(&self.model, x)
    }
    fn keep_best(&mut self) -> Result<()> {
        self.best.copy_from_slice(self.model.params());
        Ok(())
    }
    fn restore_best(&mut self) -> Result<()> {
        self.model.params_mut().copy_from_slice(&self.best);
        Ok(())
    }
    fn model(&self) -> Result<Mlp> {
        Ok(self.model.clone())
    }
    fn spec(&self) -> &MlpSpec {
        self.model.spec()
    }
    fn state(&self) -> Result<TrainerState> {
        Ok(CpuTrainer::state(self))
    }
    fn set_state(&mut self, state: &TrainerState) -> Result<()> {
        CpuTrainer::set_state(self, state)
    }
}

/// Trains `model` in place on the CPU; the reference for [`crate::fit()`].
pub fn fit(model: &mut Mlp, data: &Dataset, config: &TrainConfig) -> Result<FitReport> {
    let mut trainer = CpuTrainer::new(model, data, config)?;
    let report = fit_with(&mut trainer, config, data.rows(), None, &mut |_| {})?;
    *model = trainer.model;
    Ok(report)
}
