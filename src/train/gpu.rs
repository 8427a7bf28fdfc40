//! The GPU trainer: every buffer allocated once, every dispatch built once, whole steps
//! recorded into one compute pass each and many steps into one submission. The loss of each
//! step stays on the GPU until the chunk of epochs in flight is done.

use super::eval::Eval;
use super::fit::{fit_with, Backend, FitReport, TrainerState};
use super::forward::Forward;
use super::step::{activation_buffers, step_plan, Side, StepBuffers};
use super::TrainConfig;
use super::MAX_LOOKAHEAD;
use super::{check_inputs, epoch_loss, limits, resume_shuffle, shuffle_pos, PartialEpoch};
use crate::data::stream::RowStream;
use crate::data::{Dataset, Shuffler};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, StepSlots, StepUniform, Tensor};
use crate::kernels::{self, Dispatch};
use crate::model::{Mlp, PARAM_ALIGN};
use crate::optim::OptimizerKind;

/// Steps recorded per submission: each has its own uniform slot.
const STEP_SLOTS: usize = 256;
/// Steps per submission unless set: a stop (Ctrl-C) waits for at most this many steps.
const DEFAULT_STEPS_PER_SUBMISSION: usize = 32;
/// The same for the fused kernel, whose steps are small.
const DEFAULT_FUSED_STEPS_PER_SUBMISSION: usize = 1024;

/// Everything the trainer keeps on the GPU.
pub(super) struct Buffers {
    pub(super) params: Tensor,
    pub(super) grads: Tensor,
    /// Adam's first moment, or SGD's velocity.
    pub(super) m: Tensor,
    pub(super) v: Tensor,
    pub(super) x_all: Tensor,
    /// Targets and row weights, (rows, outputs + 1).
    pub(super) t_all: Tensor,
    /// Shuffled row order of the epochs in flight, epoch after epoch.
    pub(super) order: Tensor,
    pub(super) t_batch: Tensor,
    /// Mean loss of each step of the epochs in flight.
    pub(super) losses: Tensor,
    /// `losses` and, after it, the wide fused kernel's gradient scratch: what a fused
    /// kernel binds.
    pub(super) losses_bound: Tensor,
    /// Where `losses` is copied to be read, kept so a readback allocates nothing.
    pub(super) losses_staging: wgpu::Buffer,
    pub(super) acts: Vec<Tensor>,
    /// `deltas[l]`: gradient of the loss with respect to `acts[l + 1]`.
    pub(super) deltas: Vec<Tensor>,
    /// The parameters of the best epoch so far (early stopping), copied on the GPU.
    pub(super) best: Tensor,
    /// The parameters before the chunk of steps in flight: put back if it diverges.
    pub(super) good: Tensor,
    /// The optimiser state before a call that runs ahead (put back with `good` to run it
    /// again up to an epoch that diverged).
    pub(super) good_m: Tensor,
    pub(super) good_v: Tensor,
}

impl Buffers {
    /// What the per-op step binds.
    fn for_steps(&self) -> StepBuffers<'_> {
        StepBuffers {
            params: &self.params,
            grads: &self.grads,
            m: &self.m,
            v: &self.v,
            x_all: &self.x_all,
            t_all: &self.t_all,
            order: &self.order,
            t_batch: &self.t_batch,
            acts: &self.acts,
            deltas: &self.deltas,
            losses: &self.losses,
        }
    }
}

/// The dispatches of the training steps.
enum StepPlan {
    /// One dispatch per op: a step over a full batch, and over the last, shorter one (whose
    /// products are sized for it rather than padded).
    PerOp {
        full: Vec<Dispatch>,
        partial: Option<Vec<Dispatch>>,
    },
    /// Small and typical networks: every step of a chunk in one dispatch of the fused kernel
    /// `kind`, the step values in `steps`.
    Fused {
        fused: Box<kernels::fused::FusedSteps>,
        steps: Tensor,
        kind: kernels::fused::Kind,
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
    /// The validation rows the wide fused kernel runs forward after each call's steps.
    eval: Option<Eval>,
    /// Epochs a call may run ahead of the epoch loop (see [`Backend::lookahead`]); each
    /// epoch of such a call ends with its validation logits and a snapshot of its weights.
    lookahead: usize,
    /// The most the buffers hold.
    max_lookahead: usize,
    /// Where those snapshots go in the loss buffer, one model's parameters each.
    snap_at: usize,
    /// The step count after each epoch the last call finished.
    call_ts: Vec<u64>,
}

/// Training rows kept off the device, each submission's rows copied into a window the
/// kernels read through an identity order.
enum HostRows {
    /// A dataset too large for the device to bind whole, kept on the host.
    Memory {
        x: Vec<f32>,
        t: Vec<f32>,
        x_cols: usize,
        t_cols: usize,
    },
    /// Rows streamed from a file larger than memory, in the stream's own order; `at` is the
    /// epoch and row it will yield next.
    Stream {
        rows: Box<dyn RowStream>,
        at: Option<(u64, usize)>,
    },
}

/// Where a trainer's rows come from.
enum Rows<'a> {
    /// A dataset in memory.
    Memory(&'a Dataset),
    /// A stream, through a window of at most this many rows.
    Stream(Box<dyn RowStream>, usize),
}

impl Rows<'_> {
    fn rows(&self) -> usize {
        match self {
            Rows::Memory(data) => data.rows(),
            Rows::Stream(rows, _) => rows.rows(),
        }
    }

    fn features(&self) -> usize {
        match self {
            Rows::Memory(data) => data.features(),
            Rows::Stream(rows, _) => rows.features(),
        }
    }

    fn outputs(&self) -> usize {
        match self {
            Rows::Memory(data) => data.outputs(),
            Rows::Stream(rows, _) => rows.outputs(),
        }
    }
}

impl HostRows {
    /// The rows `steps` read, in step order, and the steps re-pointed at them: the window
    /// the kernels read through an identity order. A step's rows are `order`'s (in memory),
    /// or the stream's rows at its place in its epoch, `first_epoch` being the epoch of its
    /// first `rows` row offsets.
    // order: (epochs in flight × rows) → x: (Σ rows, x_cols), t: (Σ rows, t_cols)
    fn window(
        &mut self,
        order: &[u32],
        steps: &[StepUniform],
        (first_epoch, rows): (u64, usize),
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<StepUniform>)> {
        let (mut x, mut t) = (Vec::new(), Vec::new());
        let mut moved = Vec::with_capacity(steps.len());
        let mut held = 0;
        for step in steps {
            let start = step.row_offset as usize;
            let mut here = *step;
            here.row_offset = held as u32;
            held += step.rows as usize;
            moved.push(here);
            match self {
                HostRows::Memory {
                    x: xs,
                    t: ts,
                    x_cols,
                    t_cols,
                } => {
                    for &r in &order[start..start + step.rows as usize] {
                        let r = r as usize;
                        x.extend_from_slice(&xs[r * *x_cols..(r + 1) * *x_cols]);
                        t.extend_from_slice(&ts[r * *t_cols..(r + 1) * *t_cols]);
                    }
                }
                HostRows::Stream { rows: stream, at } => {
                    let epoch = first_epoch + (start / rows) as u64;
                    let row = start % rows;
                    if *at != Some((epoch, row)) {
                        // Another place than the stream's (a resumed run, or a stop that
                        // read ahead): the epoch again from its start, up to the step.
                        stream.start_epoch(epoch)?;
                        let (mut skip_x, mut skip_t) = (Vec::new(), Vec::new());
                        let mut skipped = 0;
                        while skipped < row {
                            let n = (row - skipped).min(4096);
                            stream.next_rows(n, &mut skip_x, &mut skip_t)?;
                            skip_x.clear();
                            skip_t.clear();
                            skipped += n;
                        }
                    }
                    stream.next_rows(step.rows as usize, &mut x, &mut t)?;
                    *at = Some((epoch, row + step.rows as usize));
                }
            }
        }
        Ok((x, t, moved))
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
        Trainer::with_validation(gpu, model, data, None, config)
    }

    /// [`Trainer::new`] that also keeps `val`'s rows on the device where the wide fused
    /// kernel trains: their logits then come from the training dispatch itself, after the
    /// last step of each call of [`Trainer::run_epochs`] ([`Trainer::logits`] returns them).
    pub fn with_validation(
        gpu: &'g Gpu,
        model: &Mlp,
        data: &Dataset,
        val: Option<&Dataset>,
        config: &TrainConfig,
    ) -> Result<Trainer<'g>> {
        config.validate(model, data)?;
        Trainer::build(gpu, model, Rows::Memory(data), val, config)
    }

    /// A trainer of rows streamed epoch after epoch from `rows` (a file larger than memory),
    /// each submission's rows copied into a window of at most `window_rows` rows. Epoch `e`
    /// (from 0) trains on the rows the stream yields for it, in its order; no row order of
    /// its own is drawn, so [`TrainerState::shuffle_pos`] stays 0.
    pub fn streamed(
        gpu: &'g Gpu,
        model: &Mlp,
        rows: Box<dyn RowStream>,
        window_rows: usize,
        config: &TrainConfig,
    ) -> Result<Trainer<'g>> {
        config.validate_for(model, rows.features(), rows.outputs())?;
        if rows.rows() == 0 {
            return Err(Error::InvalidData("the stream has no rows".into()));
        }
        // A step names its first row within its epoch in 32 bits.
        if rows.rows() > u32::MAX as usize {
            return Err(Error::InvalidData(format!(
                "{} training rows; a streamed run trains at most {} an epoch",
                rows.rows(),
                u32::MAX
            )));
        }
        Trainer::build(gpu, model, Rows::Stream(rows, window_rows), None, config)
    }

    fn build(
        gpu: &'g Gpu,
        model: &Mlp,
        data: Rows<'_>,
        val: Option<&Dataset>,
        config: &TrainConfig,
    ) -> Result<Trainer<'g>> {
        debug_assert_eq!(
            PARAM_ALIGN * 4 % gpu.limits().min_storage_buffer_offset_alignment as usize,
            0
        );
        let rows = data.rows();
        let batch = config.batch_size.min(rows);
        let steps_per_epoch = rows.div_ceil(batch);
        let budget = kernels::probe::loop_budget(gpu)?;
        // The fused kernel runs many steps in one invocation: as many as the driver's loop
        // budget allows, and none (one dispatch per op instead) when one step exceeds it or
        // the kernel failed its check on this driver.
        let fused_kind = match config.allow_fused {
            true => kernels::fused::kind(gpu, model),
            false => None,
        };
        let fused_kind = match fused_kind {
            Some(kind)
                if kernels::fused::trusted(gpu, kind, model, config.optimizer.kind, batch)? =>
            {
                Some(kind)
            }
            _ => None,
        };
        let limit = (limits::binding_limit(gpu) / 4) as usize;
        // The wide kernel's gradient scratch shares the loss buffer's binding with the
        // health slot and at least one epoch's losses; where that does not fit, steps run
        // one dispatch per op.
        let scratch_of = |kind| kernels::fused::scratch_len(kind, model.params().len());
        let fused_room = fused_kind
            .filter(|&kind| scratch_of(kind) + 1 + steps_per_epoch <= limit)
            .and_then(|kind| {
                let cost = kernels::fused::loop_iterations(kind, model, batch);
                kernels::fused::steps_within(budget, cost)
            });
        let fused = fused_room.is_some();
        let fused_kind = fused_kind.filter(|_| fused);
        let scratch = fused_kind.map_or(0, scratch_of);
        let room = match fused_room {
            Some(room) => room.min(DEFAULT_FUSED_STEPS_PER_SUBMISSION),
            None => STEP_SLOTS,
        };
        let fused_extra = fused.then_some(scratch + 1);
        let mut run = limits::plan_run(gpu, model, rows, batch, room, fused_extra, budget)?;
        if let Rows::Stream(_, most) = &data {
            // A stream always goes through a window: no larger than it was given, nor than a
            // binding holds.
            let row_width = model.spec().inputs.max(data.outputs() + 1);
            let window = run
                .window_rows
                .unwrap_or(limit / row_width)
                .min(*most)
                .max(batch);
            run.window_rows = Some(window);
            run.max_steps_per_submission = run.max_steps_per_submission.min(window / batch).max(1);
        }
        let epochs_per_chunk = run.epochs_per_chunk;
        let outputs = data.outputs();
        // What the loss buffer holds besides the step losses, logits and snapshots.
        let loss_fixed = epochs_per_chunk * steps_per_epoch + 1 + scratch;
        // The validation rows go after the training rows, their indices after the epochs'
        // row orders, their logits after the step losses (the health slot stays last).
        let eval = match (val, fused_kind, run.window_rows) {
            (Some(val), Some(kernels::fused::Kind::Wide), None)
                if (rows + val.rows()) * data.features() <= limit
                    && epochs_per_chunk * rows + val.rows() <= limit
                    && loss_fixed + val.rows() * outputs <= limit =>
            {
                Some(Eval::new(
                    val,
                    epochs_per_chunk * rows,
                    epochs_per_chunk * steps_per_epoch,
                ))
            }
            _ => None,
        };
        let eval_rows = eval.as_ref().map_or(0, Eval::rows);
        let eval_logits = eval_rows * outputs;
        let n = model.params().len();
        // Epochs a call may run ahead: the wide kernel's, where each epoch's validation
        // logits (if any) and weights snapshot fit the loss buffer and all its steps one
        // submission (a stop waits for no more than that).
        let lookahead = match (fused_kind, run.window_rows) {
            (Some(kernels::fused::Kind::Wide), None) if val.is_none() || eval.is_some() => {
                let steps = steps_per_epoch + eval_rows.div_ceil(batch) + 1;
                let room = limit.saturating_sub(loss_fixed);
                MAX_LOOKAHEAD
                    .min(epochs_per_chunk)
                    .min(run.max_steps_per_submission / steps)
                    .min(room / (eval_logits + n))
                    .max(1)
            }
            _ => 1,
        };
        let snap_at = epochs_per_chunk * steps_per_epoch + lookahead * eval_logits;
        let snap_slots = if lookahead > 1 { lookahead * n } else { 0 };
        // A dataset too large to bind whole lives on the host; each submission's rows are
        // copied, in step order, into a window the kernels read through an identity order.
        let features = data.features();
        let (x_all, t_all, order, host_rows) = match run.window_rows {
            None => {
                let Rows::Memory(data) = data else {
                    unreachable!("a stream always has a window")
                };
                let x_all = match val.filter(|_| eval.is_some()) {
                    Some(val) => gpu.upload("x", &[data.x(), val.x()].concat())?,
                    None => gpu.upload("x", data.x())?,
                };
                let order = gpu.zeros("order", epochs_per_chunk * rows + eval_rows)?;
                let identity: Vec<u32> = (rows as u32..(rows + eval_rows) as u32).collect();
                gpu.write(
                    &order.slice((epochs_per_chunk * rows) as u64, eval_rows as u64),
                    &identity,
                );
                (x_all, gpu.upload("targets", data.targets())?, order, None)
            }
            Some(window) => {
                let identity: Vec<u32> = (0..window as u32).collect();
                (
                    gpu.zeros("x window", window * features)?,
                    gpu.zeros("targets window", window * (outputs + 1))?,
                    gpu.upload("order", &identity)?,
                    Some(match data {
                        Rows::Memory(data) => HostRows::Memory {
                            x: data.x().to_vec(),
                            t: data.targets().to_vec(),
                            x_cols: features,
                            t_cols: outputs + 1,
                        },
                        Rows::Stream(rows, _) => HostRows::Stream { rows, at: None },
                    }),
                )
            }
        };

        let mut deltas = Vec::new();
        for layer in model.layers() {
            deltas.push(gpu.zeros("deltas", batch * layer.outputs)?);
        }
        let second_moment = match config.optimizer.kind {
            OptimizerKind::Sgd => 1,
            OptimizerKind::Adam | OptimizerKind::AdamW => n,
        };
        let readable = snap_at + snap_slots + 1;
        let losses_bound = gpu.zeros("losses", readable + scratch)?;
        let bufs = Buffers {
            params: gpu.upload("params", model.params())?,
            grads: gpu.zeros("grads", n)?,
            m: gpu.zeros("optimizer m", n)?,
            v: gpu.zeros("optimizer v", second_moment)?,
            x_all,
            t_all,
            order,
            t_batch: gpu.zeros("target batch", batch * (outputs + 1))?,
            // One slot per step of a chunk, the validation logits (of each epoch a call runs
            // ahead), the weights snapshots, and the fused kernel's health slot at the end.
            losses: losses_bound.slice(0, readable as u64),
            losses_bound,
            losses_staging: gpu.staging(readable),
            acts: activation_buffers(gpu, model, batch, 1)?,
            deltas,
            best: gpu.zeros("best params", n)?,
            good: gpu.zeros("last good params", n)?,
            good_m: gpu.zeros("last good optimizer m", n)?,
            good_v: gpu.zeros("last good optimizer v", second_moment)?,
        };
        let slots = StepSlots::new(gpu, STEP_SLOTS);
        let max_steps = match fused {
            true => run.max_steps_per_submission,
            false => run.max_steps_per_submission.min(slots.capacity()),
        };
        let plan = if fused {
            let step_words = std::mem::size_of::<StepUniform>() / 4;
            let steps = gpu.zeros("fused steps", run.max_steps_per_submission * step_words)?;
            let kind = fused_kind.ok_or_else(|| Error::Shape {
                op: "fused_steps",
                detail: "no fused kernel takes this network".into(),
            })?;
            let fused = kernels::fused::fused_steps(
                gpu,
                kind,
                model,
                &config.optimizer,
                batch,
                &steps,
                &bufs.order,
                &bufs.x_all,
                &bufs.t_all,
                &bufs.params,
                &bufs.m,
                &bufs.v,
                &bufs.losses_bound,
            )?;
            StepPlan::Fused {
                fused: Box::new(fused),
                steps,
                kind,
            }
        } else {
            let side = Side::one(model);
            let optimizer = &config.optimizer;
            let bufs = bufs.for_steps();
            let full = step_plan(gpu, model, &bufs, &slots, optimizer, batch, side)?;
            let partial = match rows % batch {
                0 => None,
                r => Some(step_plan(gpu, model, &bufs, &slots, optimizer, r, side)?),
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
            eval,
            lookahead,
            max_lookahead: lookahead,
            snap_at,
            call_ts: Vec::new(),
        })
    }

    /// How the steps run: one of [`super::fit::PATHS`].
    pub fn path(&self) -> &'static str {
        match &self.plan {
            StepPlan::PerOp { .. } => "per-op",
            StepPlan::Fused {
                kind: kernels::fused::Kind::Small,
                ..
            } => "fused small",
            StepPlan::Fused {
                kind: kernels::fused::Kind::Wide,
                ..
            } => "fused wide",
            StepPlan::Fused {
                kind: kernels::fused::Kind::Unrolled { .. },
                ..
            } => "fused unrolled",
        }
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

    /// Whether the validation rows' logits come from the training dispatch itself (see
    /// [`Trainer::with_validation`]).
    pub fn validates_in_dispatch(&self) -> bool {
        self.eval.is_some()
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

    /// Epochs one call may run before the epoch loop looks at them (see
    /// [`Backend::lookahead`]): more than 1 only on the wide fused kernel.
    pub fn lookahead_epochs(&self) -> usize {
        self.lookahead
    }

    /// Sets [`Trainer::lookahead_epochs`], from 1 to what the trainer was built for: the
    /// results are the same, bit for bit, at any setting.
    pub fn set_lookahead_epochs(&mut self, epochs: usize) {
        self.lookahead = epochs.clamp(1, self.max_lookahead);
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
        let outputs = self.model.spec().outputs;
        // A call that runs ahead of the epoch loop: each epoch ends with its validation
        // logits and a snapshot of its weights, and the whole call is one submission.
        let ahead = epochs > 1 && epochs <= self.lookahead;
        let call_pos = self.shuffler.position();
        // A stream yields its epochs' rows in its own order: none is drawn here.
        let streamed = matches!(self.host_rows, Some(HostRows::Stream { .. }));
        // Each epoch's row order, and where the shuffle stream stood before and after it.
        let mut order = Vec::with_capacity(if streamed { 0 } else { epochs * rows });
        let mut bounds = Vec::with_capacity(epochs);
        let resumed = self.partial.take();
        let replay = resumed.clone().filter(|_| ahead);
        let first_step = resumed.as_ref().map_or(0, |p| p.losses.len());
        for e in 0..epochs {
            match (&resumed, e) {
                (Some(p), 0) => {
                    order.extend_from_slice(&p.order);
                    bounds.push((p.start_pos, self.shuffler.position()));
                }
                _ if streamed => bounds.push((call_pos, call_pos)),
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
        let mut trained = 0;
        for (e, &lr) in lrs.iter().enumerate() {
            let from = if e == 0 { first_step } else { 0 };
            for s in from..spe {
                trained += 1;
                let t = t0 + trained;
                let values = self.config.optimizer.step_values(t, lr);
                steps.push(
                    values
                        .uniform((e * rows + s * batch) as u32, (e * spe + s) as u32)
                        .with_rows(batch.min(rows - s * batch) as u32),
                );
            }
            if ahead {
                if let Some(eval) = &self.eval {
                    steps.extend(eval.steps(batch, outputs, 0, StepUniform::NO_MAP, e));
                }
                let n = self.model.params().len();
                steps.push(StepUniform::snapshot((self.snap_at + e * n) as u32));
            }
        }
        // After the training steps, the validation rows' logits (wide fused kernel).
        if let Some(eval) = &mut self.eval {
            eval.forget();
            if !ahead {
                steps.extend(eval.steps(batch, outputs, 0, StepUniform::NO_MAP, 0));
            }
        }
        let per_submission = match ahead {
            true => steps.len(),
            false => self.steps_per_submission,
        };
        let mut submitted = 0;
        // One submission in flight: the next group is recorded while the GPU runs the last
        // one, and a stop waits for no more than one group of steps.
        let mut in_flight = None;
        for (g, group) in steps.chunks(per_submission).enumerate() {
            let windowed;
            let group = match &mut self.host_rows {
                None => group,
                Some(host) => {
                    let first_epoch = self.epochs_done as u64;
                    let (x, t, moved) = host.window(&order, group, (first_epoch, rows))?;
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
                if ahead {
                    record_copy(&mut encoder, &self.bufs.m, &self.bufs.good_m);
                    record_copy(&mut encoder, &self.bufs.v, &self.bufs.good_v);
                }
            }
            match &mut self.plan {
                StepPlan::Fused {
                    fused,
                    steps: slots,
                    ..
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
                        let plan = match &partial {
                            Some(partial) if step.rows as usize != batch => partial,
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

        let evaluated = submitted == steps.len() && self.eval.is_some();
        let ran: Vec<&StepUniform> = steps[..submitted]
            .iter()
            .filter(|s| s.kind == StepUniform::TRAIN)
            .collect();
        // The fused kernel reports a loop the driver cut short in the last slot: read it too.
        let slots_used = match self.is_fused() {
            true => self.bufs.losses.len as usize,
            false => ran.last().map_or(0, |s| s.loss_slot as usize + 1),
        };
        let submitted = ran.len();
        let read: Vec<f32> = gpu.read_via(
            &self.bufs.losses.slice(0, slots_used as u64),
            &self.bufs.losses_staging,
        )?;
        if self.is_fused() {
            if let Err(e) = kernels::fused::health(gpu, &read, "fused_steps") {
                self.copy_params(&self.bufs.good, &self.bufs.params)?;
                return Err(e);
            }
        }
        // The losses of every epoch touched, the resumed epoch's earlier steps first.
        let mut per_epoch: Vec<Vec<f32>> = vec![Vec::with_capacity(spe); epochs];
        per_epoch[0] = resumed.map(|p| p.losses).unwrap_or_default();
        for step in &ran {
            let slot = step.loss_slot as usize;
            let loss = read[slot];
            if !loss.is_finite() && ahead && slot / spe > 0 {
                // The epoch loop might have stopped before this epoch: run the call again
                // up to it, from where it started, so the next call meets the divergence as
                // a call of one epoch at a time would.
                self.copy_params(&self.bufs.good, &self.bufs.params)?;
                self.copy_params(&self.bufs.good_m, &self.bufs.m)?;
                self.copy_params(&self.bufs.good_v, &self.bufs.v)?;
                self.t = t0;
                self.shuffler.seek(call_pos);
                self.partial = replay;
                return self.run_chunk(&lrs[..slot / spe], stop);
            }
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
        // The step count after each finished epoch, and its validation logits.
        self.call_ts = (0..finished)
            .map(|e| t0 + ((e + 1) * spe - first_step) as u64)
            .collect();
        if let Some(eval) = self.eval.as_mut().filter(|_| evaluated) {
            match ahead {
                true => {
                    for (e, &t) in self.call_ts.iter().enumerate() {
                        eval.keep(&read, outputs, e, t);
                    }
                }
                false => eval.keep(&read, outputs, 0, self.t),
            }
        }
        self.epochs_done += finished;
        if finished < epochs {
            let losses = std::mem::take(&mut per_epoch[finished]);
            let (start_pos, end_pos) = bounds[finished];
            self.shuffler.seek(end_pos);
            if !losses.is_empty() {
                let order = match streamed {
                    true => Vec::new(),
                    false => order[finished * rows..(finished + 1) * rows].to_vec(),
                };
                self.partial = Some(PartialEpoch {
                    start_pos,
                    order,
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

    /// The logits the current weights give for the rows of `x`, computed on the GPU: by the
    /// training dispatch when `x` is the validation set it was built with and the last call
    /// ended with them, else by a forward pass.
    // x: (rows, inputs) → (rows, outputs)
    pub fn logits(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        if let Some(logits) = self.eval.as_ref().and_then(|e| e.logits_of(x, self.t)) {
            return Ok(logits);
        }
        if self.eval.as_ref().is_some_and(|e| e.holds(x)) {
            // The weights changed since (the best ones put back): the same dispatch with
            // only its forward-only steps.
            self.run_eval()?;
            if let Some(logits) = self.eval.as_ref().and_then(|e| e.logits_of(x, self.t)) {
                return Ok(logits);
            }
        }
        if self.forward.is_none() {
            let rows = check_inputs(&self.model, x)?;
            let params = self.bufs.params.clone();
            self.forward = Some(Forward::new(self.gpu, &self.model, params, rows)?);
        }
        let forward = self.forward.as_mut().expect("built above");
        forward.logits(self.gpu, &self.model, x)
    }

    /// Runs the wide fused kernel's forward-only steps alone: the validation rows' logits
    /// as the weights are now.
    fn run_eval(&mut self) -> Result<()> {
        let gpu = self.gpu;
        let (Some(eval), StepPlan::Fused { fused, steps, .. }) = (&mut self.eval, &mut self.plan)
        else {
            return Ok(());
        };
        eval.forget();
        let evals = eval.steps(
            self.batch,
            self.model.spec().outputs,
            0,
            StepUniform::NO_MAP,
            0,
        );
        for group in evals.chunks(self.max_steps_per_submission) {
            gpu.queue()
                .write_buffer(&steps.buffer, 0, bytemuck::cast_slice(group));
            fused.set_steps(gpu, group.len());
            fused.submit(gpu, "validation logits");
        }
        gpu.check("validation logits")?;
        let read: Vec<f32> = gpu.read_via(&self.bufs.losses, &self.bufs.losses_staging)?;
        kernels::fused::health(gpu, &read, "fused_steps")?;
        eval.keep(&read, self.model.spec().outputs, 0, self.t);
        Ok(())
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

    /// The snapshot of the weights after epoch `epoch` of the last call, where that call ran
    /// ahead and the epoch was not its last (whose weights are the current ones).
    fn snapshot(&self, epoch: usize) -> Option<Tensor> {
        let n = self.model.params().len();
        let ran_ahead = self.call_ts.len() > 1 && self.call_ts.len() <= self.lookahead;
        (ran_ahead && epoch + 1 < self.call_ts.len()).then(|| {
            self.bufs
                .losses
                .slice((self.snap_at + epoch * n) as u64, n as u64)
        })
    }

    /// [`Backend::logits_after`]: the logits the call's epoch `epoch` wrote, else (its last
    /// epoch) [`Trainer::logits`].
    pub fn logits_after(&mut self, x: &[f32], epoch: usize) -> Result<Vec<f32>> {
        if epoch + 1 == self.call_ts.len() || self.call_ts.is_empty() {
            return self.logits(x);
        }
        let t = self.call_ts.get(epoch).copied();
        match (&self.eval, t) {
            (Some(eval), Some(t)) => eval.logits_of(x, t),
            _ => None,
        }
        .ok_or_else(|| Error::Shape {
            op: "validation logits",
            detail: format!(
                "no logits were kept for epoch {} of the last call",
                epoch + 1
            ),
        })
    }

    /// [`Backend::keep_best_after`].
    pub fn keep_best_after(&mut self, epoch: usize) -> Result<()> {
        match self.snapshot(epoch) {
            Some(snapshot) => self.copy_params(&snapshot, &self.bufs.best),
            None => self.keep_best(),
        }
    }

    /// [`Backend::stop_after`]: the weights of the call's epoch `epoch` become the current
    /// ones (the optimiser state stays where the call left it: nothing trains after this).
    pub fn stop_after(&mut self, epoch: usize) -> Result<()> {
        if let Some(snapshot) = self.snapshot(epoch) {
            self.copy_params(&snapshot, &self.bufs.params)?;
            self.t = self.call_ts[epoch];
            self.call_ts.truncate(epoch + 1);
        }
        Ok(())
    }

    /// Puts back the weights last kept by [`Trainer::keep_best`].
    pub fn restore_best(&mut self) -> Result<()> {
        if let Some(eval) = &mut self.eval {
            eval.forget();
        }
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
    /// the GPU: enough to continue bit for bit (see [`crate::train::fit::fit_controlled`]).
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
            path: self.path().to_string(),
        })
    }

    /// Continues from `state` (taken from a trainer of the same network, data and settings).
    pub fn set_state(&mut self, state: &TrainerState) -> Result<()> {
        let n = self.model.params().len();
        state.check(n, self.is_adam(), self.steps_per_epoch)?;
        if let Some(eval) = &mut self.eval {
            eval.forget();
        }
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
        self.partial = match &mut self.host_rows {
            // The stream finds its place again when the next step asks for its rows.
            Some(HostRows::Stream { at, .. }) => {
                *at = None;
                (!state.partial_losses.is_empty()).then(|| PartialEpoch {
                    start_pos: state.shuffle_pos,
                    order: Vec::new(),
                    losses: state.partial_losses.clone(),
                })
            }
            _ => resume_shuffle(&mut self.shuffler, state, self.rows),
        };
        self.gpu.check("restoring a checkpoint")
    }
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
    fn lookahead(&self, val: Option<&Dataset>) -> usize {
        match Eval::serves(self.eval.as_ref(), val) {
            true => self.lookahead,
            false => 1,
        }
    }
    fn logits_after(&mut self, x: &[f32], epoch: usize) -> Result<Vec<f32>> {
        Trainer::logits_after(self, x, epoch)
    }
    fn keep_best_after(&mut self, epoch: usize) -> Result<()> {
        Trainer::keep_best_after(self, epoch)
    }
    fn stop_after(&mut self, epoch: usize) -> Result<()> {
        Trainer::stop_after(self, epoch)
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
