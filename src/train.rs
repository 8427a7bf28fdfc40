//! The GPU trainer: every buffer allocated once, every dispatch built once, whole steps
//! recorded into one compute pass each and many steps into one submission. The loss of each
//! step stays on the GPU until the chunk of epochs in flight is done.

use crate::data::{Dataset, Shuffler};
use crate::error::{Error, Result};
use crate::fit::{fit_with, Backend, FitReport, TrainerState};
use crate::gpu::{Gpu, Step, StepSlots, Tensor};
use crate::model::{Loss, Mlp, PARAM_ALIGN};
use crate::ops::{self, Dispatch};
use crate::optim::{OptimizerConfig, OptimizerKind};
use crate::plan;
use crate::schedule::Schedule;

/// Steps recorded per submission: each has its own uniform slot.
const STEP_SLOTS: usize = 256;
/// Steps per submission unless set: a stop (Ctrl-C) waits for at most this many steps.
const DEFAULT_STEPS_PER_SUBMISSION: usize = 32;
/// The same for the fused kernel, whose steps are small.
const DEFAULT_FUSED_STEPS_PER_SUBMISSION: usize = 1024;

/// The most epochs one run trains: every epoch keeps its losses and rate in the history.
pub const MAX_EPOCHS: usize = 1_000_000;

/// How to train.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Rows per optimiser step; the last batch of an epoch holds the remainder. Clamped to the
    /// number of rows.
    pub batch_size: usize,
    /// Optimiser and its settings.
    pub optimizer: OptimizerConfig,
    /// How the learning rate changes from epoch to epoch.
    pub schedule: Schedule,
    /// Early stopping: stop after this many epochs without an improvement of the monitored
    /// loss (validation loss, or training loss without validation) by more than `min_delta`,
    /// and keep the best epoch's weights. `None` trains every epoch.
    pub patience: Option<usize>,
    /// The least decrease of the monitored loss that counts as an improvement.
    pub min_delta: f32,
    /// Seeds the shuffle of each epoch.
    pub seed: u64,
    /// Train networks small enough for shaders/fused.wgsl with one dispatch per chunk of
    /// steps; `false` always runs one dispatch per op (the GPU trainer only).
    pub allow_fused: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 100,
            batch_size: 64,
            optimizer: OptimizerConfig::default(),
            schedule: Schedule::Constant,
            patience: None,
            min_delta: 0.0,
            seed: 0,
            allow_fused: true,
        }
    }
}

impl TrainConfig {
    pub(crate) fn validate(&self, model: &Mlp, data: &Dataset) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::InvalidConfig("batch size must be at least 1".into()));
        }
        if self.epochs > MAX_EPOCHS {
            return Err(Error::InvalidConfig(format!(
                "{} epochs; a run trains at most {MAX_EPOCHS}",
                self.epochs
            )));
        }
        self.optimizer.validate()?;
        self.schedule.validate()?;
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            return Err(Error::InvalidConfig(format!(
                "min delta must be ≥ 0, got {}",
                self.min_delta
            )));
        }
        let spec = model.spec();
        if data.features() != spec.inputs || data.outputs() != spec.outputs {
            return Err(Error::InvalidData(format!(
                "the data has {} features and {} targets but the network has {} inputs and {} \
                 outputs",
                data.features(),
                data.outputs(),
                spec.inputs,
                spec.outputs
            )));
        }
        if spec.loss != Loss::Mse {
            for r in 0..data.rows() {
                for c in 0..data.outputs() {
                    let y = data.target(r, c);
                    if !(0.0..=1.0).contains(&y) {
                        return Err(Error::InvalidData(format!(
                            "target {c} of row {r} is {y}; {} targets must lie in [0, 1]",
                            spec.loss.name()
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Checks that `x` holds whole, finite rows of `model`'s inputs; returns the row count.
pub(crate) fn check_inputs(model: &Mlp, x: &[f32]) -> Result<usize> {
    let features = model.spec().inputs;
    if !x.len().is_multiple_of(features) {
        return Err(Error::InvalidData(format!(
            "{} values do not make whole rows of {features} features",
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
    Ok(x.len() / features)
}

/// The flat parameter tensor's views of one layer's W and b.
fn layer_views(params: &Tensor, layer: &crate::model::Layer) -> (Tensor, Tensor) {
    let w = params.slice(layer.weights.start as u64, layer.weights.len() as u64);
    let b = params.slice(layer.bias.start as u64, layer.bias.len() as u64);
    (w, b)
}

/// Buffers of one forward pass: `acts[0]` the input rows, `acts[l + 1]` layer `l`'s output.
fn activation_buffers(gpu: &Gpu, model: &Mlp, rows: usize) -> Result<Vec<Tensor>> {
    let mut widths = vec![model.spec().inputs];
    widths.extend(model.layers().iter().map(|l| l.outputs));
    widths
        .iter()
        .map(|w| gpu.zeros("activations", rows * w))
        .collect()
}

/// Forward dispatches for `rows` rows: one per layer (matmul with bias and activation fused).
fn forward_plan(
    gpu: &Gpu,
    model: &Mlp,
    params: &Tensor,
    acts: &[Tensor],
    rows: usize,
    plan: &mut Vec<Dispatch>,
) -> Result<()> {
    for (l, layer) in model.layers().iter().enumerate() {
        let (w, b) = layer_views(params, layer);
        plan.push(ops::matmul::linear(
            gpu,
            &acts[l],
            &w,
            &b,
            layer.activation,
            &acts[l + 1],
            rows,
            layer.outputs,
            layer.inputs,
        )?);
    }
    Ok(())
}

/// A forward pass over any number of rows, `chunk` rows at a time, through weights that stay
/// on the GPU: used for validation during training and for [`predict`].
struct Forward {
    params: Tensor,
    acts: Vec<Tensor>,
    chunk: usize,
    full: Vec<Dispatch>,
    /// The plan of the last, shorter chunk, kept while the row count stays the same.
    tail: Option<(usize, Vec<Dispatch>)>,
}

impl Forward {
    fn new(gpu: &Gpu, model: &Mlp, params: Tensor, rows: usize) -> Result<Forward> {
        let chunk = plan::forward_rows(gpu, model, rows)?;
        let acts = activation_buffers(gpu, model, chunk)?;
        let mut full = Vec::new();
        forward_plan(gpu, model, &params, &acts, chunk, &mut full)?;
        Ok(Forward {
            params,
            acts,
            chunk,
            full,
            tail: None,
        })
    }

    /// The logits of every row of `x`.
    // x: (rows, inputs) → (rows, outputs)
    fn logits(&mut self, gpu: &Gpu, model: &Mlp, x: &[f32]) -> Result<Vec<f32>> {
        let rows = check_inputs(model, x)?;
        let (inputs, outputs) = (model.spec().inputs, model.spec().outputs);
        let mut out = Vec::with_capacity(rows * outputs);
        for start in (0..rows).step_by(self.chunk) {
            let r = self.chunk.min(rows - start);
            if r != self.chunk && self.tail.as_ref().is_none_or(|(n, _)| *n != r) {
                let mut plan = Vec::new();
                forward_plan(gpu, model, &self.params, &self.acts, r, &mut plan)?;
                self.tail = Some((r, plan));
            }
            let plan = match &self.tail {
                Some((n, plan)) if *n == r && r != self.chunk => plan,
                _ => &self.full,
            };
            let input = &x[start * inputs..(start + r) * inputs];
            gpu.queue()
                .write_buffer(&self.acts[0].buffer, 0, bytemuck::cast_slice(input));
            let refs: Vec<&Dispatch> = plan.iter().collect();
            ops::run(gpu, &refs)?;
            let logits = &self.acts[model.layers().len()];
            out.extend(gpu.read::<f32>(&logits.slice(0, (r * outputs) as u64))?);
        }
        Ok(out)
    }
}

/// The mean per-row loss of an epoch from its steps' mean losses (the last batch may be
/// shorter), summed in step order in f64.
pub(crate) fn epoch_loss(step_losses: &[f32], rows: usize, batch: usize) -> f32 {
    let sum: f64 = step_losses
        .iter()
        .enumerate()
        .map(|(s, &l)| f64::from(l) * batch.min(rows - s * batch) as f64)
        .sum();
    (sum / rows as f64) as f32
}

/// An epoch stopped part way: its row order, where the shuffle stream stood before it, and
/// the losses of the steps run.
#[derive(Clone, Debug)]
pub(crate) struct PartialEpoch {
    pub(crate) start_pos: u128,
    pub(crate) order: Vec<u32>,
    pub(crate) losses: Vec<f32>,
}

/// Everything the trainer keeps on the GPU.
struct Buffers {
    params: Tensor,
    grads: Tensor,
    /// Adam's first moment, or SGD's velocity.
    m: Tensor,
    v: Tensor,
    x_all: Tensor,
    /// Targets and row weights, (rows, outputs + 1).
    t_all: Tensor,
    /// Shuffled row order of the epochs in flight, epoch after epoch.
    order: Tensor,
    t_batch: Tensor,
    /// Mean loss of each step of the epochs in flight.
    losses: Tensor,
    /// Where `losses` is copied to be read, kept so a readback allocates nothing.
    losses_staging: wgpu::Buffer,
    acts: Vec<Tensor>,
    /// `deltas[l]`: gradient of the loss with respect to `acts[l + 1]`.
    deltas: Vec<Tensor>,
    /// The parameters of the best epoch so far (early stopping), copied on the GPU.
    best: Tensor,
    /// The parameters before the chunk of steps in flight: put back if it diverges.
    good: Tensor,
}

/// The dispatches of the training steps.
enum StepPlan {
    /// One dispatch per op: a step over a full batch, and over the last, shorter one.
    PerOp {
        full: Vec<Dispatch>,
        partial: Option<Vec<Dispatch>>,
    },
    /// Small networks: every step of a chunk in one dispatch, the step values in `steps`.
    Fused {
        fused: Box<ops::fused::FusedSteps>,
        steps: Tensor,
    },
}

/// Trains one model on one dataset on the GPU. Built once; each call of
/// [`Trainer::run_epochs`] continues where the last one stopped (optimiser state, step count
/// and shuffle stream included).
pub struct Trainer<'g> {
    gpu: &'g Gpu,
    model: Mlp,
    config: TrainConfig,
    rows: usize,
    batch: usize,
    steps_per_epoch: usize,
    epochs_per_chunk: usize,
    bufs: Buffers,
    slots: StepSlots,
    /// How each step runs: one dispatch per op, or many whole steps per dispatch.
    plan: StepPlan,
    /// Forward passes over other rows (validation) through the trained weights, built on
    /// first use.
    forward: Option<Forward>,
    shuffler: Shuffler,
    t: u64,
    /// Epochs finished so far.
    epochs_done: usize,
    /// The epoch a stop left unfinished, resumed by the next call.
    partial: Option<PartialEpoch>,
    /// Steps per submission (see [`Trainer::set_steps_per_submission`]).
    steps_per_submission: usize,
    /// The most the device's limits allow.
    max_steps_per_submission: usize,
    /// The dataset, when it is too large to bind and is streamed through a window.
    host_rows: Option<HostRows>,
}

/// A dataset kept on the host because the device cannot bind it whole.
struct HostRows {
    x: Vec<f32>,
    t: Vec<f32>,
    x_cols: usize,
    t_cols: usize,
}

impl HostRows {
    /// The rows `steps` read, in step order, and the steps re-pointed at them: the window
    /// the kernels read through an identity order.
    // order: (epochs in flight × rows) → x: (Σ rows, x_cols), t: (Σ rows, t_cols)
    fn window(&self, order: &[u32], steps: &[Step]) -> (Vec<f32>, Vec<f32>, Vec<Step>) {
        let (mut x, mut t) = (Vec::new(), Vec::new());
        let mut moved = Vec::with_capacity(steps.len());
        for step in steps {
            let start = step.row_offset as usize;
            let mut here = *step;
            here.row_offset = (x.len() / self.x_cols) as u32;
            moved.push(here);
            for &r in &order[start..start + step.rows as usize] {
                let r = r as usize;
                x.extend_from_slice(&self.x[r * self.x_cols..(r + 1) * self.x_cols]);
                t.extend_from_slice(&self.t[r * self.t_cols..(r + 1) * self.t_cols]);
            }
        }
        (x, t, moved)
    }
}

impl<'g> Trainer<'g> {
    /// Uploads the data and the model and builds every dispatch of a step.
    pub fn new(
        gpu: &'g Gpu,
        model: &Mlp,
        data: &Dataset,
        config: &TrainConfig,
    ) -> Result<Trainer<'g>> {
        config.validate(model, data)?;
        debug_assert_eq!(
            PARAM_ALIGN * 4 % gpu.limits().min_storage_buffer_offset_alignment as usize,
            0
        );
        let rows = data.rows();
        let batch = config.batch_size.min(rows);
        let steps_per_epoch = rows.div_ceil(batch);
        let budget = ops::probe::loop_budget(gpu)?;
        // The fused kernel runs many steps in one invocation: as many as the driver's loop
        // budget allows, and none (one dispatch per op instead) when one step exceeds it or
        // the kernel failed its check on this driver.
        let fused_room = match config.allow_fused
            && ops::fused::supports(model)
            && ops::fused::fits(gpu)
            && ops::fused::trusted(gpu)?
        {
            true => ops::fused::steps_within(budget, ops::fused::loop_iterations(model, batch)),
            false => None,
        };
        let fused = fused_room.is_some();
        let room = match fused_room {
            Some(room) => room.min(DEFAULT_FUSED_STEPS_PER_SUBMISSION),
            None => STEP_SLOTS,
        };
        let run = plan::plan_run(gpu, model, rows, batch, room, fused, budget)?;
        let epochs_per_chunk = run.epochs_per_chunk;
        // A dataset too large to bind whole lives on the host; each submission's rows are
        // copied, in step order, into a window the kernels read through an identity order.
        let (x_all, t_all, order, host_rows) = match run.window_rows {
            None => (
                gpu.upload("x", data.x())?,
                gpu.upload("targets", data.targets())?,
                gpu.zeros("order", epochs_per_chunk * rows)?,
                None,
            ),
            Some(window) => {
                let identity: Vec<u32> = (0..window as u32).collect();
                (
                    gpu.zeros("x window", window * data.features())?,
                    gpu.zeros("targets window", window * (data.outputs() + 1))?,
                    gpu.upload("order", &identity)?,
                    Some(HostRows {
                        x: data.x().to_vec(),
                        t: data.targets().to_vec(),
                        x_cols: data.features(),
                        t_cols: data.outputs() + 1,
                    }),
                )
            }
        };

        let n = model.params().len();
        let mut deltas = Vec::new();
        for layer in model.layers() {
            deltas.push(gpu.zeros("deltas", batch * layer.outputs)?);
        }
        let second_moment = match config.optimizer.kind {
            OptimizerKind::Sgd => 1,
            OptimizerKind::Adam | OptimizerKind::AdamW => n,
        };
        let bufs = Buffers {
            params: gpu.upload("params", model.params())?,
            grads: gpu.zeros("grads", n)?,
            m: gpu.zeros("optimizer m", n)?,
            v: gpu.zeros("optimizer v", second_moment)?,
            x_all,
            t_all,
            order,
            t_batch: gpu.zeros("target batch", batch * (data.outputs() + 1))?,
            // One slot per step of a chunk, and the fused kernel's health slot at the end.
            losses: gpu.zeros("losses", epochs_per_chunk * steps_per_epoch + 1)?,
            losses_staging: gpu.staging(epochs_per_chunk * steps_per_epoch + 1),
            acts: activation_buffers(gpu, model, batch)?,
            deltas,
            best: gpu.zeros("best params", n)?,
            good: gpu.zeros("last good params", n)?,
        };
        let slots = StepSlots::new(gpu, STEP_SLOTS);
        let max_steps = match fused {
            true => run.max_steps_per_submission,
            false => run.max_steps_per_submission.min(slots.capacity()),
        };
        let plan = if fused {
            let step_words = std::mem::size_of::<Step>() / 4;
            let steps = gpu.zeros("fused steps", run.max_steps_per_submission * step_words)?;
            let fused = ops::fused::fused_steps(
                gpu,
                model,
                &config.optimizer,
                &steps,
                &bufs.order,
                &bufs.x_all,
                &bufs.t_all,
                &bufs.params,
                &bufs.m,
                &bufs.v,
                &bufs.losses,
            )?;
            StepPlan::Fused {
                fused: Box::new(fused),
                steps,
            }
        } else {
            let full = step_plan(gpu, model, &bufs, &slots, &config.optimizer, batch)?;
            let partial = match rows % batch {
                0 => None,
                r => Some(step_plan(gpu, model, &bufs, &slots, &config.optimizer, r)?),
            };
            StepPlan::PerOp { full, partial }
        };
        let default_steps = match fused {
            true => DEFAULT_FUSED_STEPS_PER_SUBMISSION,
            false => DEFAULT_STEPS_PER_SUBMISSION,
        };
        Ok(Trainer {
            gpu,
            model: model.clone(),
            config: config.clone(),
            rows,
            batch,
            steps_per_epoch,
            epochs_per_chunk,
            bufs,
            slots,
            plan,
            forward: None,
            shuffler: Shuffler::new(config.seed),
            t: 0,
            epochs_done: 0,
            partial: None,
            steps_per_submission: default_steps.min(max_steps),
            max_steps_per_submission: max_steps,
            host_rows,
        })
    }

    /// Dispatches per training step (full batch), for reports; 0 when fused (one dispatch
    /// runs all the steps of a chunk).
    pub fn dispatches_per_step(&self) -> usize {
        match &self.plan {
            StepPlan::PerOp { full, .. } => full.len(),
            StepPlan::Fused { .. } => 0,
        }
    }

    /// Whether the dataset is too large for the device to bind and is streamed from the host
    /// through a window, one submission's rows at a time.
    pub fn streams_data(&self) -> bool {
        self.host_rows.is_some()
    }

    /// Whether the steps run fused (shaders/fused.wgsl).
    pub fn is_fused(&self) -> bool {
        matches!(self.plan, StepPlan::Fused { .. })
    }

    /// Runs one epoch per learning rate in `lrs`; returns the mean per-row training loss of
    /// each. A NaN or infinite step loss stops it with [`Error::Diverged`], the weights put
    /// back as they were before the chunk of epochs in flight.
    pub fn run_epochs(&mut self, lrs: &[f32]) -> Result<Vec<f32>> {
        self.run_epochs_until(lrs, &|| false)
    }

    /// [`Trainer::run_epochs`], asking `stop` before each submission of steps: once it says
    /// yes, the steps already submitted finish, the finished epochs' losses are returned and
    /// the unfinished epoch waits for the next call (or [`Trainer::state`]).
    pub fn run_epochs_until(&mut self, lrs: &[f32], stop: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(lrs.len());
        for chunk in lrs.chunks(self.epochs_per_chunk) {
            let finished = self.run_chunk(chunk, stop)?;
            let stopped = finished.len() < chunk.len();
            out.extend(finished);
            if stopped {
                break;
            }
        }
        Ok(out)
    }

    /// Steps per submission now (for the fused kernel: per dispatch).
    pub fn steps_per_submission(&self) -> usize {
        self.steps_per_submission
    }

    /// Steps per submission: `stop` is asked between submissions, so this bounds how long a
    /// stop waits; larger groups save a little submission overhead.
    pub fn set_steps_per_submission(&mut self, steps: usize) {
        self.steps_per_submission = steps.clamp(1, self.max_steps_per_submission);
    }

    /// Runs one epoch per rate in `lrs` (≤ epochs_per_chunk), the first one from where the
    /// last call stopped, with one upload of row orders and one readback of losses. Returns
    /// the finished epochs' losses: fewer than `lrs` when `stop` said yes.
    fn run_chunk(&mut self, lrs: &[f32], stop: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        let (rows, batch, spe) = (self.rows, self.batch, self.steps_per_epoch);
        let epochs = lrs.len();
        // Each epoch's row order, and where the shuffle stream stood before and after it.
        let mut order = Vec::with_capacity(epochs * rows);
        let mut bounds = Vec::with_capacity(epochs);
        let resumed = self.partial.take();
        let first_step = resumed.as_ref().map_or(0, |p| p.losses.len());
        for e in 0..epochs {
            match (&resumed, e) {
                (Some(p), 0) => {
                    order.extend_from_slice(&p.order);
                    bounds.push((p.start_pos, self.shuffler.position()));
                }
                _ => {
                    let before = self.shuffler.position();
                    order.extend(self.shuffler.next_order(rows));
                    bounds.push((before, self.shuffler.position()));
                }
            }
        }
        let gpu = self.gpu;
        if self.host_rows.is_none() {
            gpu.queue()
                .write_buffer(&self.bufs.order.buffer, 0, bytemuck::cast_slice(&order));
        }
        let t0 = self.t;
        let mut steps = Vec::with_capacity(epochs * spe);
        for (e, &lr) in lrs.iter().enumerate() {
            let from = if e == 0 { first_step } else { 0 };
            for s in from..spe {
                let t = t0 + steps.len() as u64 + 1;
                let values = self.config.optimizer.step_values(t, lr);
                steps.push(
                    Step::new((e * rows + s * batch) as u32, (e * spe + s) as u32, &values)
                        .with_rows(batch.min(rows - s * batch) as u32),
                );
            }
        }
        let mut submitted = 0;
        // One submission in flight: the next group is recorded while the GPU runs the last
        // one, and a stop waits for no more than one group of steps.
        let mut in_flight = None;
        for (g, group) in steps.chunks(self.steps_per_submission).enumerate() {
            let windowed;
            let group = match &self.host_rows {
                None => group,
                Some(host) => {
                    let (x, t, moved) = host.window(&order, group);
                    let queue = gpu.queue();
                    queue.write_buffer(&self.bufs.x_all.buffer, 0, bytemuck::cast_slice(&x));
                    queue.write_buffer(&self.bufs.t_all.buffer, 0, bytemuck::cast_slice(&t));
                    windowed = moved;
                    &windowed[..]
                }
            };
            let mut encoder = gpu.encoder("train steps");
            if g == 0 {
                record_copy(&mut encoder, &self.bufs.params, &self.bufs.good);
            }
            match &mut self.plan {
                StepPlan::Fused {
                    fused,
                    steps: slots,
                } => {
                    gpu.queue()
                        .write_buffer(&slots.buffer, 0, bytemuck::cast_slice(group));
                    fused.set_steps(gpu, group.len());
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("fused train steps"),
                        timestamp_writes: None,
                    });
                    fused.dispatch().record(&mut pass, 0);
                }
                StepPlan::PerOp { full, partial } => {
                    self.slots.write(gpu, group);
                    for (i, step) in group.iter().enumerate() {
                        let is_last = step.loss_slot as usize % spe == spe - 1;
                        let plan = match (&partial, is_last) {
                            (Some(partial), true) => partial,
                            _ => &*full,
                        };
                        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some("train step"),
                            timestamp_writes: None,
                        });
                        let offset = self.slots.offset(i);
                        for d in plan {
                            d.record(&mut pass, offset);
                        }
                    }
                }
            }
            if let Some(index) = in_flight.take() {
                gpu.wait_for(index, "training")?;
            }
            if stop() {
                break;
            }
            in_flight = Some(gpu.queue().submit([encoder.finish()]));
            submitted += group.len();
        }
        gpu.check("training")?;

        let ran = &steps[..submitted];
        // The fused kernel reports a loop the driver cut short in the last slot: read it too.
        let slots_used = match self.is_fused() {
            true => self.bufs.losses.len as usize,
            false => ran.last().map_or(0, |s| s.loss_slot as usize + 1),
        };
        let read: Vec<f32> = gpu.read_via(
            &self.bufs.losses.slice(0, slots_used as u64),
            &self.bufs.losses_staging,
        )?;
        if self.is_fused() && read.last().is_some_and(|&health| health != 0.0) {
            self.copy_params(&self.bufs.good, &self.bufs.params)?;
            return Err(Error::DriverFault {
                adapter: gpu.describe(),
                kernel: "fused_steps",
                detail: "the driver ended the kernel's loops early (its loop budget ran out), \
                         so these steps' results are wrong; the weights from before them are \
                         kept. Train with one dispatch per op (TrainConfig::allow_fused off) \
                         and report this"
                    .into(),
            });
        }
        // The losses of every epoch touched, the resumed epoch's earlier steps first.
        let mut per_epoch: Vec<Vec<f32>> = vec![Vec::with_capacity(spe); epochs];
        per_epoch[0] = resumed.map(|p| p.losses).unwrap_or_default();
        for step in ran {
            let slot = step.loss_slot as usize;
            let loss = read[slot];
            if !loss.is_finite() {
                self.copy_params(&self.bufs.good, &self.bufs.params)?;
                return Err(Error::Diverged {
                    epoch: self.epochs_done + slot / spe + 1,
                    step: slot % spe + 1,
                    loss,
                });
            }
            per_epoch[slot / spe].push(loss);
        }
        self.t = t0 + submitted as u64;
        let finished = per_epoch.iter().take_while(|l| l.len() == spe).count();
        self.epochs_done += finished;
        if finished < epochs {
            let losses = std::mem::take(&mut per_epoch[finished]);
            let (start_pos, end_pos) = bounds[finished];
            self.shuffler.seek(end_pos);
            if !losses.is_empty() {
                self.partial = Some(PartialEpoch {
                    start_pos,
                    order: order[finished * rows..(finished + 1) * rows].to_vec(),
                    losses,
                });
            } else {
                self.shuffler.seek(start_pos);
            }
        }
        Ok(per_epoch[..finished]
            .iter()
            .map(|epoch| epoch_loss(epoch, rows, batch))
            .collect())
    }

    /// The logits the current weights give for the rows of `x`, computed on the GPU.
    // x: (rows, inputs) → (rows, outputs)
    pub fn logits(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        if self.forward.is_none() {
            let rows = check_inputs(&self.model, x)?;
            let params = self.bufs.params.clone();
            self.forward = Some(Forward::new(self.gpu, &self.model, params, rows)?);
        }
        let forward = self.forward.as_mut().expect("built above");
        forward.logits(self.gpu, &self.model, x)
    }

    /// Copies `from` to `to` on the GPU, in order with the training steps.
    fn copy_params(&self, from: &Tensor, to: &Tensor) -> Result<()> {
        let mut encoder = self.gpu.encoder("copy params");
        record_copy(&mut encoder, from, to);
        self.gpu.queue().submit([encoder.finish()]);
        self.gpu.check("copying parameters")
    }

    /// Remembers the current weights as the best so far (a copy on the GPU; no readback).
    pub fn keep_best(&mut self) -> Result<()> {
        self.copy_params(&self.bufs.params, &self.bufs.best)
    }

    /// Puts back the weights last kept by [`Trainer::keep_best`].
    pub fn restore_best(&mut self) -> Result<()> {
        self.copy_params(&self.bufs.best, &self.bufs.params)
    }

    /// The model with the current weights (read back from the GPU).
    pub fn model(&self) -> Result<Mlp> {
        let mut model = self.model.clone();
        model.set_params(self.gpu.read(&self.bufs.params)?)?;
        Ok(model)
    }

    fn is_adam(&self) -> bool {
        self.config.optimizer.kind != OptimizerKind::Sgd
    }

    /// Weights, optimiser state, shuffle position and the unfinished epoch, read back from
    /// the GPU: enough to continue bit for bit (see [`crate::fit::fit_controlled`]).
    pub fn state(&self) -> Result<TrainerState> {
        let gpu = self.gpu;
        Ok(TrainerState {
            params: gpu.read(&self.bufs.params)?,
            m: gpu.read(&self.bufs.m)?,
            v: match self.is_adam() {
                true => gpu.read(&self.bufs.v)?,
                false => Vec::new(),
            },
            best: gpu.read(&self.bufs.best)?,
            t: self.t,
            epochs_done: self.epochs_done,
            shuffle_pos: shuffle_pos(&self.shuffler, self.partial.as_ref()),
            partial_losses: self
                .partial
                .as_ref()
                .map(|p| p.losses.clone())
                .unwrap_or_default(),
        })
    }

    /// Continues from `state` (taken from a trainer of the same network, data and settings).
    pub fn set_state(&mut self, state: &TrainerState) -> Result<()> {
        let n = self.model.params().len();
        state.check(n, self.is_adam(), self.steps_per_epoch)?;
        let queue = self.gpu.queue();
        queue.write_buffer(
            &self.bufs.params.buffer,
            0,
            bytemuck::cast_slice(&state.params),
        );
        queue.write_buffer(&self.bufs.m.buffer, 0, bytemuck::cast_slice(&state.m));
        if self.is_adam() {
            queue.write_buffer(&self.bufs.v.buffer, 0, bytemuck::cast_slice(&state.v));
        }
        queue.write_buffer(&self.bufs.best.buffer, 0, bytemuck::cast_slice(&state.best));
        self.t = state.t;
        self.epochs_done = state.epochs_done;
        self.partial = resume_shuffle(&mut self.shuffler, state, self.rows);
        self.gpu.check("restoring a checkpoint")
    }
}

/// Where a checkpoint says the shuffle stream stands: before the unfinished epoch's order, or
/// where it is when no epoch is unfinished.
pub(crate) fn shuffle_pos(shuffler: &Shuffler, partial: Option<&PartialEpoch>) -> u128 {
    partial.map_or_else(|| shuffler.position(), |p| p.start_pos)
}

/// Moves `shuffler` to where `state` stood; returns the unfinished epoch, if any, with its
/// row order drawn again.
pub(crate) fn resume_shuffle(
    shuffler: &mut Shuffler,
    state: &TrainerState,
    rows: usize,
) -> Option<PartialEpoch> {
    shuffler.seek(state.shuffle_pos);
    (!state.partial_losses.is_empty()).then(|| PartialEpoch {
        start_pos: state.shuffle_pos,
        order: shuffler.next_order(rows),
        losses: state.partial_losses.clone(),
    })
}

impl Backend for Trainer<'_> {
    fn run_epochs(&mut self, lrs: &[f32], stop: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        Trainer::run_epochs_until(self, lrs, stop)
    }
    fn logits(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        Trainer::logits(self, x)
    }
    fn keep_best(&mut self) -> Result<()> {
        Trainer::keep_best(self)
    }
    fn restore_best(&mut self) -> Result<()> {
        Trainer::restore_best(self)
    }
    fn model(&self) -> Result<Mlp> {
        Trainer::model(self)
    }
    fn spec(&self) -> &crate::model::MlpSpec {
        self.model.spec()
    }
    fn state(&self) -> Result<TrainerState> {
        Trainer::state(self)
    }
    fn set_state(&mut self, state: &TrainerState) -> Result<()> {
        Trainer::set_state(self, state)
    }
}

/// Records a copy of the whole of `from` into `to` (the parameter snapshots).
fn record_copy(encoder: &mut wgpu::CommandEncoder, from: &Tensor, to: &Tensor) {
    encoder.copy_buffer_to_buffer(
        &from.buffer,
        from.offset * 4,
        &to.buffer,
        to.offset * 4,
        from.len * 4,
    );
}

/// The dispatches of one training step over `rows` rows.
fn step_plan(
    gpu: &Gpu,
    model: &Mlp,
    bufs: &Buffers,
    slots: &StepSlots,
    optimizer: &OptimizerConfig,
    rows: usize,
) -> Result<Vec<Dispatch>> {
    let layers = model.layers();
    let spec = model.spec();
    let mut plan = Vec::new();
    plan.push(ops::gather::gather(
        gpu,
        &bufs.order,
        &bufs.x_all,
        &bufs.t_all,
        &bufs.acts[0],
        &bufs.t_batch,
        slots,
        rows,
        spec.inputs,
        spec.outputs + 1,
    )?);
    forward_plan(gpu, model, &bufs.params, &bufs.acts, rows, &mut plan)?;

    let logits = &bufs.acts[layers.len()];
    let top = &bufs.deltas[layers.len() - 1];
    let targets = &bufs.t_batch;
    plan.push(ops::loss::loss_and_grad(
        gpu,
        spec.loss,
        logits,
        targets,
        &bufs.losses,
        top,
        slots,
        rows,
        spec.outputs,
        rows,
    )?);

    for (l, layer) in layers.iter().enumerate().rev() {
        let delta = &bufs.deltas[l];
        let (w, _) = layer_views(&bufs.params, layer);
        let (dw, db) = layer_views(&bufs.grads, layer);
        plan.push(ops::matmul::matmul_tn(
            gpu,
            &bufs.acts[l],
            delta,
            &dw,
            layer.inputs,
            layer.outputs,
            rows,
        )?);
        plan.push(ops::bias::bias_grad(gpu, delta, &db, rows, layer.outputs)?);
        if l > 0 {
            let below = &bufs.deltas[l - 1];
            plan.push(ops::matmul::matmul_nt(
                gpu,
                delta,
                &w,
                below,
                rows,
                layer.inputs,
                layer.outputs,
            )?);
            let act = layers[l - 1]
                .activation
                .expect("hidden layers have an activation");
            plan.push(ops::activation::activation_backward(
                gpu,
                act,
                &bufs.acts[l],
                below,
                rows * layer.inputs,
            )?);
        }
    }
    let n = model.params().len();
    plan.push(match optimizer.kind {
        OptimizerKind::Adam | OptimizerKind::AdamW => ops::adam::adam(
            gpu,
            &bufs.grads,
            &bufs.params,
            &bufs.m,
            &bufs.v,
            slots,
            n,
            optimizer,
        )?,
        OptimizerKind::Sgd => {
            ops::sgd::sgd(gpu, &bufs.grads, &bufs.params, &bufs.m, slots, n, optimizer)?
        }
    });
    Ok(plan)
}

/// Trains `model` in place on the GPU: mini-batches of `config.batch_size` rows in a fresh
/// seeded order each epoch, the last shorter batch included, the configured optimiser and
/// schedule on every parameter. No validation set: early stopping, if asked for, watches the
/// training loss.
pub fn fit(gpu: &Gpu, model: &mut Mlp, data: &Dataset, config: &TrainConfig) -> Result<FitReport> {
    let mut trainer = Trainer::new(gpu, model, data, config)?;
    let report = fit_with(&mut trainer, config, data.rows(), None, &mut |_| {})?;
    *model = trainer.model()?;
    Ok(report)
}

/// The network's logits for each row of `x`, computed on the GPU.
// x: (rows, inputs) → (rows, outputs)
pub fn logits(gpu: &Gpu, model: &Mlp, x: &[f32]) -> Result<Vec<f32>> {
    let rows = check_inputs(model, x)?;
    if rows == 0 {
        return Ok(Vec::new());
    }
    let params = gpu.upload("params", model.params())?;
    Forward::new(gpu, model, params, rows)?.logits(gpu, model, x)
}

/// The network's outputs for each row of `x`: probabilities for classifiers (sigmoid of each
/// output for [`Loss::Bce`], softmax for [`Loss::SoftmaxCe`]), values for [`Loss::Mse`].
/// The logits come from the GPU; the last transform is the CPU reference's, so both paths
/// share it.
// x: (rows, inputs) → (rows, outputs)
pub fn predict(gpu: &Gpu, model: &Mlp, x: &[f32]) -> Result<Vec<f32>> {
    let mut out = logits(gpu, model, x)?;
    crate::cpu::output_transform(model.spec().loss, &mut out, model.spec().outputs);
    Ok(out)
}
