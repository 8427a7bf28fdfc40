//! Several models of one network shape trained side by side, the folds of `gpumlp cv` and
//! the candidates of `gpumlp search`: one workgroup each in every dispatch of the wide fused
//! kernel (src/kernels/fused/wide.wgsl) where it takes the network, and otherwise one layer
//! each of the grid of every per-op dispatch (src/train/step.rs), a step of every model at a
//! time. On a CPU driver each workgroup is a thread, so small models trained together use
//! every core; on a GPU they fill more compute units.
//!
//! Each model keeps its own rows, learning rates, shuffle stream and early stopping: its fit
//! runs in a thread of its own through a [`Member`], the same `fit_controlled` loop as a lone
//! [`super::Trainer`], and the group runs a round of steps once every member still training
//! has asked for its next epochs. A member's weights are bit-identical to training it alone
//! through the same kernels (tests/it/group.rs).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::eval::Eval;
use super::fit::{Backend, TrainerState};
use super::forward::Forward;
use super::step::{activation_buffers, step_plan, Side, StepBuffers};
use super::{check_inputs, epoch_loss, limits, TrainConfig};
use crate::data::{Dataset, Shuffler};
use crate::error::{Error, Result};
use crate::gpu::StepSlots;
use crate::gpu::{Gpu, StepUniform, Tensor};
use crate::kernels::fused::{self, wide, FusedSteps, Kind};
use crate::kernels::Dispatch;
use crate::model::{Mlp, MlpSpec, PARAM_ALIGN};

/// Steps of every model per submission of the per-op dispatches.
const PER_OP_STEPS_PER_SUBMISSION: usize = 64;
/// Most steps of one model in one dispatch (as for a lone trainer's fused steps).
const MAX_STEPS_PER_DISPATCH: usize = 1024;
/// Most epochs of one model between two readbacks.
const MAX_EPOCHS_PER_CHUNK: usize = 64;
/// Bytes of row orders (every model's, each epoch of a chunk) a group keeps, unless its
/// rows take more.
const ORDER_BUDGET: usize = 64 << 20;
use super::MAX_LOOKAHEAD;

mod rows;
pub use rows::Rows;

/// One model for [`Group::new`]: its starting weights, training rows, validation rows (whose
/// logits the training dispatch then computes after each round) and settings.
#[derive(Clone, Copy)]
pub struct Candidate<'a> {
    /// The network as it starts: every candidate of a group has the same shape.
    pub start: &'a Mlp,
    /// Its training rows.
    pub data: Rows<'a>,
    /// Its validation rows, if any.
    pub val: Option<&'a Dataset>,
    /// Its settings: candidates of a group differ at most in rates, epochs, batch size,
    /// seed and early stopping.
    pub config: &'a TrainConfig,
}

/// Models of one shape trained in the same dispatches. Build it with [`Group::new`], hand
/// each model's [`Member`] to its own thread, and drop every member when its fit ends.
pub struct Group<'g> {
    gpu: &'g Gpu,
    spec: MlpSpec,
    shared: Mutex<Shared>,
    /// Woken when a round ends or a member leaves.
    turn: Condvar,
}

/// What the members' threads share, behind the group's lock.
struct Shared {
    models: Vec<Model>,
    bufs: Buffers,
    engine: Engine,
    epochs_per_chunk: usize,
    /// Rows on the device: each distinct source of rows once.
    rows_on_device: usize,
    /// Epochs a member's call may run ahead of its epoch loop (see
    /// [`Backend::lookahead`]): each such epoch ends with its validation logits and a
    /// snapshot of its weights.
    lookahead: usize,
}

/// How the group's steps run.
enum Engine {
    /// Many steps of every model in one dispatch of the wide fused kernel, one workgroup a
    /// model; `steps_per_dispatch` of each model, the stride between models in `bufs.steps`.
    Wide {
        fused: FusedSteps,
        steps_per_dispatch: usize,
    },
    /// One dispatch per op, a step of every model at a time (each model a layer of the grid,
    /// its step in its place of the slot); a plan for each batch size the models' steps take,
    /// smallest first (a slot runs the smallest that holds its largest step).
    PerOp {
        slots: StepSlots,
        plans: Vec<(usize, Vec<Dispatch>)>,
    },
}

impl Engine {
    /// How the steps run: one of [`super::fit::PATHS`].
    fn path(&self) -> &'static str {
        match self {
            Engine::Wide { .. } => "fused wide",
            Engine::PerOp { .. } => "per-op",
        }
    }
}

/// The group's device memory: each model's parameters, optimiser state and snapshots at
/// `params_at`; its rows at `row_base`; its row orders and losses in regions of their own.
struct Buffers {
    params: Tensor,
    m: Tensor,
    v: Tensor,
    best: Tensor,
    good: Tensor,
    x_all: Tensor,
    t_all: Tensor,
    order: Tensor,
    steps: Tensor,
    /// Each model's step losses, then the kernel's health slot.
    losses: Tensor,
    /// `losses` and, after it, the kernel's gradient scratch: what the kernel binds.
    losses_bound: Tensor,
    losses_staging: wgpu::Buffer,
}

/// One model of the group: where its data sits and where its training stands.
struct Model {
    config: TrainConfig,
    rows: usize,
    batch: usize,
    steps_per_epoch: usize,
    /// Where its rows are in `x_all` and `t_all`, and its row map.
    place: rows::Place,
    /// Its region of `order`: epochs_per_chunk × rows.
    order_at: usize,
    /// Its region of `losses`: epochs_per_chunk × steps_per_epoch.
    loss_at: usize,
    /// Where its parameters, optimiser state and snapshots start.
    params_at: usize,
    /// Its validation rows, whose logits each round ends with.
    eval: Option<Eval>,
    /// Where its weights snapshots go in `losses`, one model's parameters each.
    snap_at: usize,
    /// The step count after each epoch its last call finished.
    call_ts: Vec<u64>,
    /// The divergence a call that ran ahead met after epochs it returned: the next call's
    /// answer.
    pending: Option<Error>,
    shuffler: Shuffler,
    t: u64,
    epochs_done: usize,
    /// The learning rates of the epochs it asked for and is waiting on.
    request: Option<Vec<f32>>,
    /// The answer to its request, until its thread takes it.
    result: Option<Result<Vec<f32>>>,
    /// Whether its fit still runs (a dropped [`Member`] leaves the group).
    live: bool,
}

impl Model {
    /// Whether this model holds up the next round: still training and not yet asking again
    /// (an answer it has not taken yet counts: it will ask again, or leave, once it has).
    fn holds_up(&self) -> bool {
        self.live && self.request.is_none()
    }
}

/// How many parameters a model takes in the group's buffers.
fn stride(model: &Mlp) -> usize {
    model.params().len().div_ceil(PARAM_ALIGN) * PARAM_ALIGN
}

impl<'g> Group<'g> {
    /// A group training each `(start, data, config)` side by side on `gpu`, or `None` where
    /// they cannot share dispatches: different shapes or optimisers, a network the
    /// wide fused kernel does not take (or does not pass its check on this driver), fusing
    /// turned off, or data the device cannot bind whole. Train them one by one then.
    pub fn new<'a>(gpu: &'g Gpu, models: &[Candidate<'a>]) -> Result<Option<Self>> {
        let Some(&Candidate {
            start: first,
            config: first_config,
            ..
        }) = models.first()
        else {
            return Ok(None);
        };
        for c in models {
            c.data.validate(c.config, c.start, c.val)?;
        }
        let same = models.iter().all(|c| {
            c.start.spec() == first.spec() && c.config.optimizer.same_kind(&first_config.optimizer)
        });
        let batch_most = models
            .iter()
            .map(|c| c.config.batch_size.min(c.data.len()))
            .max()
            .unwrap_or(1);
        if !same || models.len() > gpu.limits().max_compute_workgroups_per_dimension as usize {
            return Ok(None);
        }
        // The wide kernel where it takes the network (and fusing is on), its steps within
        // the driver's loop budget; the per-op dispatches otherwise.
        let wide_room = match models.iter().all(|c| c.config.allow_fused)
            && wide::supports(first)
            && wide::fits(gpu)
            && fused::trusted(
                gpu,
                Kind::Wide,
                first,
                first_config.optimizer.kind,
                batch_most,
            )? {
            true => {
                let budget = crate::kernels::probe::loop_budget(gpu)?;
                let cost = fused::loop_iterations(Kind::Wide, first, batch_most);
                fused::steps_within(budget, cost)
            }
            false => None,
        };
        let per_op = wide_room.is_none();
        let steps_per_dispatch = wide_room.map_or(1, |room| room.min(MAX_STEPS_PER_DISPATCH));

        let limit = (limits::binding_limit(gpu) / 4) as usize;
        // Per-op, each model validates through a forward pass of its own after its epochs
        // (src/train/forward.rs): its validation rows stay on the host.
        let val_of = |c: &Candidate<'a>| c.val.filter(|_| !per_op);
        let val_rows = |c: &Candidate<'a>| val_of(c).map_or(0, Dataset::rows);
        let all_rows: usize = models.iter().map(|c| c.data.len()).sum();
        let all_val: usize = models.iter().map(val_rows).sum();
        let outputs = first.spec().outputs;
        let n = stride(first);
        let spes: Vec<usize> = models
            .iter()
            .map(|c| c.data.len().div_ceil(c.config.batch_size.min(c.data.len())))
            .collect();
        let all_steps: usize = spes.iter().sum();
        // The wide kernel's gradient sums, laid out as the parameters (each padded to the
        // stride).
        let scratch = if per_op { 0 } else { models.len() * n };
        let sources: Vec<(Rows<'_>, Option<&Dataset>)> =
            models.iter().map(|c| (c.data, val_of(c))).collect();
        let layout = rows::layout(&sources, outputs);
        // Each epoch of a chunk holds every model's row order: at most as many epochs as a
        // model trains, and as the order budget holds (so that many models on large data keep
        // per-model state below the data's size).
        let budget = ORDER_BUDGET.max(4 * layout.x.len()) / (4 * all_rows.max(1));
        let most_epochs = models.iter().map(|c| c.config.epochs).max().unwrap_or(1);
        let epochs_per_chunk = (limit.saturating_sub(all_val) / all_rows.max(1))
            .min(limit.saturating_sub(all_val * outputs + 1 + scratch) / all_steps.max(1))
            .min(MAX_EPOCHS_PER_CHUNK)
            .min(budget.max(1))
            .min(most_epochs.max(1));
        // Epochs a call runs ahead: as many as the loss binding holds each epoch's logits and
        // weights for, beside the step losses.
        let fixed = epochs_per_chunk * all_steps + 1 + scratch;
        let lookahead = match per_op {
            true => 1,
            false => (limit.saturating_sub(fixed) / (all_val * outputs + models.len() * n))
                .min(MAX_LOOKAHEAD)
                .min(epochs_per_chunk)
                .max(1),
        };
        let snaps = if lookahead > 1 { lookahead * n } else { 0 };
        let step_words = std::mem::size_of::<StepUniform>() / 4;
        let fits = epochs_per_chunk > 0
            && layout.x.len() <= limit
            && layout.t.len() <= limit
            && models.len() * n <= limit
            && models.len() * steps_per_dispatch * step_words <= limit
            // Per-op: each layer's activations of every model's batch.
            && (!per_op
                || first.layers().iter().all(|l| {
                    models.len() * batch_most * l.inputs.max(l.outputs) <= limit
                }));
        if !fits {
            return Ok(None);
        }

        let mut params = Vec::new();
        let mut members = Vec::with_capacity(models.len());
        let (mut order_at, mut loss_at) = (0, 0);
        let mut identities = Vec::new();
        for ((c, &spe), place) in models.iter().zip(&spes).zip(layout.places) {
            let (model, config) = (c.start, c.config);
            let rows = c.data.len();
            // Its validation rows' indices after its row orders, their logits after its step
            // losses.
            let eval = val_of(c).map(|val| {
                identities.push((order_at + epochs_per_chunk * rows, place.val.clone()));
                Eval::new(
                    val,
                    order_at + epochs_per_chunk * rows,
                    loss_at + epochs_per_chunk * spe,
                )
            });
            let val = val_rows(c);
            let snap_at = loss_at + epochs_per_chunk * spe + lookahead * val * outputs;
            members.push(Model {
                config: config.clone(),
                rows,
                batch: config.batch_size.min(rows),
                steps_per_epoch: spe,
                place,
                order_at,
                loss_at,
                params_at: params.len(),
                eval,
                snap_at,
                call_ts: Vec::new(),
                pending: None,
                shuffler: Shuffler::new(config.seed),
                t: 0,
                epochs_done: 0,
                request: None,
                result: None,
                live: true,
            });
            params.extend_from_slice(model.params());
            params.resize(params.len().div_ceil(PARAM_ALIGN) * PARAM_ALIGN, 0.0);
            order_at += epochs_per_chunk * rows + val;
            loss_at = snap_at + snaps;
        }
        let losses_bound = gpu.zeros("group losses", loss_at + 1 + params.len())?;
        let bufs = Buffers {
            m: gpu.zeros("group optimizer m", params.len())?,
            v: gpu.zeros("group optimizer v", params.len())?,
            best: gpu.zeros("group best params", params.len())?,
            good: gpu.zeros("group last good params", params.len())?,
            params: gpu.upload("group params", &params)?,
            x_all: gpu.upload("group x", &layout.x)?,
            t_all: gpu.upload("group targets", &layout.t)?,
            order: gpu.zeros("group order", order_at)?,
            steps: gpu.zeros(
                "group steps",
                match per_op {
                    true => 1,
                    false => models.len() * steps_per_dispatch * step_words,
                },
            )?,
            losses: losses_bound.slice(0, loss_at as u64 + 1),
            losses_bound,
            losses_staging: gpu.staging(loss_at + 1),
        };
        let engine = match per_op {
            true => {
                // Each batch size, and the largest last batch of the models that take it.
                let batch_of = |c: &Candidate<'_>| c.config.batch_size.min(c.data.len());
                let mut sizes = Vec::new();
                for c in models {
                    let batch = batch_of(c);
                    sizes.push(batch);
                    let tail = models
                        .iter()
                        .filter(|o| batch_of(o) == batch)
                        .map(|o| o.data.len() % batch)
                        .max()
                        .unwrap_or(0);
                    if tail > 0 {
                        sizes.push(tail);
                    }
                }
                sizes.sort_unstable();
                sizes.dedup();
                per_op_engine(gpu, first, first_config, &bufs, &sizes, models.len())?
            }
            false => Engine::Wide {
                fused: wide::build_with_rows(
                    gpu,
                    first,
                    &first_config.optimizer,
                    wide::chunk_rows_for(first, batch_most),
                    models.len(),
                    [
                        &bufs.steps,
                        &bufs.order,
                        &bufs.x_all,
                        &bufs.t_all,
                        &bufs.params,
                        &bufs.m,
                        &bufs.v,
                        &bufs.losses_bound,
                    ],
                )?,
                steps_per_dispatch,
            },
        };
        for (at, identity) in identities {
            gpu.write(
                &bufs.order.slice(at as u64, identity.len() as u64),
                &identity,
            );
        }
        Ok(Some(Group {
            gpu,
            spec: first.spec().clone(),
            shared: Mutex::new(Shared {
                models: members,
                bufs,
                engine,
                epochs_per_chunk,
                lookahead,
                rows_on_device: layout.rows,
            }),
            turn: Condvar::new(),
        }))
    }

    /// How its steps run: `fused wide` or `per-op` (see [`super::fit::PATHS`]).
    pub fn path(&self) -> &'static str {
        self.lock().engine.path()
    }

    /// How many models the group trains.
    pub fn len(&self) -> usize {
        self.lock().models.len()
    }

    /// Rows the group holds on the device: models reading the same dataset (the same
    /// `&Dataset`) share one copy.
    pub fn rows_on_device(&self) -> usize {
        self.lock().rows_on_device
    }

    /// Whether the group trains no model (never: [`Group::new`] makes none empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The training side of model `index` (in the order given to [`Group::new`]), for its
    /// thread: one for each model, each made once. Dropping it (or [`Member::finish`]) takes
    /// the model out of the rounds that follow; until then every round waits for it.
    pub fn member(&self, index: usize, start: &Mlp) -> Member<'_, 'g> {
        Member {
            group: self,
            index,
            model: start.clone(),
            forward: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `lrs` epochs of model `index`, in a round with every other live model.
    fn run_epochs(&self, index: usize, lrs: &[f32]) -> Result<Vec<f32>> {
        let mut shared = self.lock();
        if let Some(e) = shared.models[index].pending.take() {
            // Its last call ran ahead into a divergence: this call is the one that meets it.
            return Err(e);
        }
        shared.models[index].request = Some(lrs.to_vec());
        loop {
            if let Some(result) = shared.models[index].result.take() {
                return result;
            }
            if self.shared.is_poisoned() {
                // A round panicked with this request in hand: it will never be answered.
                shared.models[index].request = None;
                return Err(Error::Gpu {
                    during: "training models side by side",
                    message: "another model's thread panicked during a round".into(),
                });
            }
            if !shared.models.iter().any(Model::holds_up) {
                self.run_round(&mut shared);
                self.turn.notify_all();
                continue;
            }
            shared = self
                .turn
                .wait(shared)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Takes model `index` out of the rounds (its fit has ended).
    fn leave(&self, index: usize) {
        let mut shared = self.lock();
        let model = &mut shared.models[index];
        model.live = false;
        model.request = None;
        model.result = None;
        self.turn.notify_all();
    }

    /// One round: every asking model's epochs, a chunk of epochs at a time; each gets its
    /// losses or its error (a model that diverges stops; the others go on).
    fn run_round(&self, shared: &mut Shared) {
        let asking: Vec<(usize, Vec<f32>)> = shared
            .models
            .iter_mut()
            .enumerate()
            .filter_map(|(i, m)| m.request.take().map(|lrs| (i, lrs)))
            .collect();
        let epc = shared.epochs_per_chunk;
        let mut answers: Vec<(usize, Result<Vec<f32>>)> =
            asking.iter().map(|(i, _)| (*i, Ok(Vec::new()))).collect();
        let chunks = asking
            .iter()
            .map(|(_, lrs)| lrs.len().div_ceil(epc))
            .max()
            .unwrap_or(0);
        for c in 0..chunks {
            let work: Vec<(usize, &[f32])> = asking
                .iter()
                .zip(&answers)
                .filter(|(_, (_, answer))| answer.is_ok())
                .filter_map(|((i, lrs), _)| {
                    let from = (c * epc).min(lrs.len());
                    let to = ((c + 1) * epc).min(lrs.len());
                    (from < to).then(|| (*i, &lrs[from..to]))
                })
                .collect();
            if work.is_empty() {
                continue;
            }
            match self.run_chunk(shared, &work) {
                Ok(results) => {
                    for (i, result) in results {
                        let answer =
                            &mut answers.iter_mut().find(|(j, _)| *j == i).expect("asked").1;
                        match (answer.as_mut(), result) {
                            (Ok(losses), Ok(more)) => losses.extend(more),
                            (Ok(_), Err(e)) => *answer = Err(e),
                            (Err(_), _) => {}
                        }
                    }
                }
                Err(e) => {
                    // The device failed the whole round: every model gets the error (a
                    // driver fault as itself, so its advice stays typed).
                    for (_, answer) in answers.iter_mut().filter(|(_, a)| a.is_ok()) {
                        *answer = Err(match &e {
                            Error::DriverFault {
                                adapter,
                                kernel,
                                detail,
                            } => Error::DriverFault {
                                adapter: adapter.clone(),
                                kernel,
                                detail: detail.clone(),
                            },
                            other => Error::Gpu {
                                during: "training models side by side",
                                message: other.to_string(),
                            },
                        });
                    }
                }
            }
        }
        for (i, answer) in answers {
            shared.models[i].result = Some(answer);
        }
    }

    /// Runs each `(model, lrs)` of `work` for its epochs, all in the same dispatches; returns
    /// each model's epoch losses (or why it stopped). An `Err` is a failure of the device,
    /// every model's weights put back as they were.
    fn run_chunk(
        &self,
        shared: &mut Shared,
        work: &[(usize, &[f32])],
    ) -> Result<Vec<(usize, Result<Vec<f32>>)>> {
        let gpu = self.gpu;
        let Shared {
            models,
            bufs,
            engine,
            lookahead,
            ..
        } = shared;
        let lookahead = *lookahead;
        let n = stride_of(bufs, models.len());
        // Each model's row orders and steps.
        let mut plans: Vec<Vec<StepUniform>> = Vec::with_capacity(work.len());
        for &(i, lrs) in work {
            let m = &mut models[i];
            // A call that runs ahead: each epoch ends with its validation logits and a
            // snapshot of its weights.
            let ahead = lrs.len() > 1 && lrs.len() <= lookahead;
            let (rows, batch, spe) = (m.rows, m.batch, m.steps_per_epoch);
            let mut order = Vec::with_capacity(lrs.len() * rows);
            for _ in lrs {
                order.extend(
                    m.shuffler
                        .next_order(rows)
                        .into_iter()
                        .map(|r| m.place.row(r)),
                );
            }
            gpu.write(
                &bufs.order.slice(m.order_at as u64, order.len() as u64),
                &order,
            );
            let mut steps = Vec::with_capacity(lrs.len() * spe);
            let mut trained = 0;
            for (e, &lr) in lrs.iter().enumerate() {
                for s in 0..spe {
                    trained += 1;
                    let t = m.t + trained;
                    let values = m.config.optimizer.step_values(t, lr);
                    steps.push(
                        values
                            .uniform(
                                (m.order_at + e * rows + s * batch) as u32,
                                (m.loss_at + e * spe + s) as u32,
                            )
                            .with_rows(batch.min(rows - s * batch) as u32)
                            .with_params_at(m.params_at as u32)
                            .with_map_at(m.place.map_at),
                    );
                }
                if ahead {
                    let at = m.params_at as u32;
                    if let Some(eval) = &m.eval {
                        steps.extend(eval.steps(batch, self.spec.outputs, at, m.place.map_at, e));
                    }
                    let snapshot = StepUniform::snapshot((m.snap_at + e * n) as u32);
                    steps.push(snapshot.with_params_at(at));
                }
            }
            // Then its validation rows' logits.
            if let Some(eval) = &mut m.eval {
                eval.forget();
                if !ahead {
                    let at = m.params_at as u32;
                    steps.extend(eval.steps(batch, self.spec.outputs, at, m.place.map_at, 0));
                }
            }
            plans.push(steps);
        }
        let mut encoder = gpu.encoder("group good params");
        record_copy(&mut encoder, &bufs.params, &bufs.good);
        gpu.queue().submit([encoder.finish()]);
        match engine {
            Engine::Wide {
                fused,
                steps_per_dispatch,
            } => {
                let per = *steps_per_dispatch;
                run_wide(gpu, fused, per, &bufs.steps, models.len(), work, &plans);
            }
            Engine::PerOp { slots, plans: ops } => {
                run_per_op(gpu, slots, ops, models.len(), work, &plans)?
            }
        }
        gpu.check("training models side by side")?;
        let read: Vec<f32> = gpu.read_via(&bufs.losses, &bufs.losses_staging)?;
        // Copies `len` floats of `from` at `at` into `to` at `to_at`, in order with the steps.
        let put_back =
            |from: &Tensor, at: usize, to: &Tensor, to_at: usize, len: usize| -> Result<()> {
                let mut encoder = gpu.encoder("group put back");
                record_copy(
                    &mut encoder,
                    &from.slice(at as u64, len as u64),
                    &to.slice(to_at as u64, len as u64),
                );
                gpu.queue().submit([encoder.finish()]);
                gpu.check("putting weights back")
            };
        let wide = matches!(engine, Engine::Wide { .. });
        let health = match wide {
            true => fused::health(gpu, &read, "fused_wide"),
            false => Ok(()),
        };
        if let Err(e) = health {
            put_back(&bufs.good, 0, &bufs.params, 0, bufs.params.len as usize)?;
            return Err(e);
        }
        let mut out = Vec::with_capacity(work.len());
        for &(i, lrs) in work {
            let m = &mut models[i];
            let spe = m.steps_per_epoch;
            let ahead = lrs.len() > 1 && lrs.len() <= lookahead;
            let mut losses = &read[m.loss_at..m.loss_at + lrs.len() * spe];
            if let Some(s) = losses.iter().position(|l| !l.is_finite()) {
                let error = Error::Diverged {
                    epoch: m.epochs_done + s / spe + 1,
                    step: s % spe + 1,
                    loss: losses[s],
                };
                let sound = s / spe;
                if !(ahead && sound > 0) {
                    put_back(&bufs.good, m.params_at, &bufs.params, m.params_at, n)?;
                    out.push((i, Err(error)));
                    continue;
                }
                // The loop might stop at one of the sound epochs: they are this call's
                // answer, with the weights of the last of them; the next call meets the
                // divergence, as a call of one epoch at a time would.
                let snap = m.snap_at + (sound - 1) * n;
                put_back(&bufs.losses, snap, &bufs.params, m.params_at, n)?;
                m.pending = Some(error);
                losses = &losses[..sound * spe];
            }
            let finished = losses.len() / spe;
            let t0 = m.t;
            m.t += losses.len() as u64;
            m.epochs_done += finished;
            m.call_ts = (1..=finished).map(|e| t0 + (e * spe) as u64).collect();
            if let Some(eval) = &mut m.eval {
                match ahead {
                    true => {
                        for (e, &t) in m.call_ts.iter().enumerate() {
                            eval.keep(&read, self.spec.outputs, e, t);
                        }
                    }
                    false => eval.keep(&read, self.spec.outputs, 0, m.t),
                }
            }
            let epochs = losses
                .chunks(spe)
                .map(|epoch| epoch_loss(epoch, m.rows, m.batch))
                .collect();
            out.push((i, Ok(epochs)));
        }
        Ok(out)
    }

    /// Copies model `index`'s slice of `from` into `to`, in order with the training.
    fn copy_model(&self, index: usize, which: Snapshot) -> Result<()> {
        let mut shared = self.lock();
        if let (Snapshot::Restore, Some(eval)) = (&which, &mut shared.models[index].eval) {
            eval.forget();
        }
        let n = stride_of(&shared.bufs, shared.models.len());
        let at = shared.models[index].params_at as u64;
        let (from, to) = match which {
            Snapshot::Keep => (&shared.bufs.params, &shared.bufs.best),
            Snapshot::Restore => (&shared.bufs.best, &shared.bufs.params),
        };
        let mut encoder = self.gpu.encoder("group snapshot");
        record_copy(
            &mut encoder,
            &from.slice(at, n as u64),
            &to.slice(at, n as u64),
        );
        self.gpu.queue().submit([encoder.finish()]);
        self.gpu.check("copying parameters")
    }

    /// Epochs model `index`'s calls may run ahead of its loop, validating on `val`.
    fn lookahead_of(&self, index: usize, val: Option<&Dataset>) -> usize {
        let shared = self.lock();
        match Eval::serves(shared.models[index].eval.as_ref(), val) {
            true => shared.lookahead,
            false => 1,
        }
    }

    /// Where model `index`'s last call keeps epoch `epoch`'s weights, when that call ran
    /// ahead and the epoch was not its last (whose weights are the current ones): the
    /// snapshot's place in `losses`, and the step count after that epoch.
    fn earlier(shared: &Shared, index: usize, epoch: usize) -> Option<(usize, u64)> {
        let m = &shared.models[index];
        let n = stride_of(&shared.bufs, shared.models.len());
        let ran_ahead = m.call_ts.len() > 1 && m.call_ts.len() <= shared.lookahead;
        (ran_ahead && epoch + 1 < m.call_ts.len())
            .then(|| (m.snap_at + epoch * n, m.call_ts[epoch]))
    }

    /// The validation logits after epoch `epoch` of model `index`'s last call, where it ran
    /// ahead past that epoch.
    fn logits_after(&self, index: usize, x: &[f32], epoch: usize) -> Option<Option<Vec<f32>>> {
        let shared = self.lock();
        let (_, t) = Group::earlier(&shared, index, epoch)?;
        Some(
            shared.models[index]
                .eval
                .as_ref()
                .and_then(|e| e.logits_of(x, t)),
        )
    }

    /// Copies epoch `epoch`'s snapshot of model `index`'s last call into `to` (its best or
    /// its current weights); false where that epoch's weights are the current ones.
    fn copy_snapshot(&self, index: usize, epoch: usize, to: Snapshot) -> Result<bool> {
        let mut shared = self.lock();
        let Some((at, t)) = Group::earlier(&shared, index, epoch) else {
            return Ok(false);
        };
        let n = stride_of(&shared.bufs, shared.models.len());
        let m = &mut shared.models[index];
        let params_at = m.params_at as u64;
        if let Snapshot::Restore = to {
            // The run ends here: these are its weights now.
            m.t = t;
            m.call_ts.truncate(epoch + 1);
        }
        let target = match to {
            Snapshot::Keep => &shared.bufs.best,
            Snapshot::Restore => &shared.bufs.params,
        };
        let mut encoder = self.gpu.encoder("group epoch snapshot");
        record_copy(
            &mut encoder,
            &shared.bufs.losses.slice(at as u64, n as u64),
            &target.slice(params_at, n as u64),
        );
        self.gpu.queue().submit([encoder.finish()]);
        self.gpu.check("copying parameters")?;
        Ok(true)
    }

    /// The logits of `x` that model `index`'s last round ended with, if `x` is its
    /// validation set.
    fn val_logits(&self, index: usize, x: &[f32]) -> Option<Vec<f32>> {
        let shared = self.lock();
        let m = &shared.models[index];
        m.eval.as_ref()?.logits_of(x, m.t)
    }

    /// Model `index`'s slice of one of the group's per-model tensors.
    fn slice_of(&self, index: usize, pick: fn(&Buffers) -> &Tensor) -> Tensor {
        let shared = self.lock();
        let n = stride_of(&shared.bufs, shared.models.len()) as u64;
        pick(&shared.bufs).slice(shared.models[index].params_at as u64, n)
    }
}

/// The per-op engine of `count` models of `first`'s shape whose parameters, rows and losses
/// are in `bufs`: each model's gradients, batch, activations and deltas, and the step's
/// dispatches over batches of each of `sizes` rows (ascending).
fn per_op_engine(
    gpu: &Gpu,
    first: &Mlp,
    config: &TrainConfig,
    bufs: &Buffers,
    sizes: &[usize],
    count: usize,
) -> Result<Engine> {
    let batch = sizes.last().copied().unwrap_or(1);
    let outputs = first.spec().outputs;
    let grads = gpu.zeros("group gradients", bufs.params.len as usize)?;
    let t_batch = gpu.zeros("group target batches", count * batch * (outputs + 1))?;
    let acts = activation_buffers(gpu, first, batch, count)?;
    let deltas = first
        .layers()
        .iter()
        .map(|l| gpu.zeros("group deltas", count * batch * l.outputs))
        .collect::<Result<Vec<_>>>()?;
    let slots = StepSlots::for_models(gpu, PER_OP_STEPS_PER_SUBMISSION, count);
    let side = Side {
        count,
        stride: stride_of(bufs, count),
    };
    let step = StepBuffers {
        params: &bufs.params,
        grads: &grads,
        m: &bufs.m,
        v: &bufs.v,
        x_all: &bufs.x_all,
        t_all: &bufs.t_all,
        order: &bufs.order,
        t_batch: &t_batch,
        acts: &acts,
        deltas: &deltas,
        losses: &bufs.losses,
    };
    let plans = sizes
        .iter()
        .map(|&rows| {
            let plan = step_plan(gpu, first, &step, &slots, &config.optimizer, rows, side)?;
            Ok((rows, plan))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Engine::PerOp { slots, plans })
}

/// Runs `plans` (each working model's steps, in `work`'s order) on the wide kernel: dispatch
/// d runs steps d·per .. (d + 1)·per of every model, at most as many as the longest plan has
/// left (the stride between models); a model with fewer steps pauses (0-row steps) while the
/// others finish.
fn run_wide(
    gpu: &Gpu,
    fused: &mut FusedSteps,
    per: usize,
    steps: &Tensor,
    count: usize,
    work: &[(usize, &[f32])],
    plans: &[Vec<StepUniform>],
) {
    let longest = plans.iter().map(Vec::len).max().unwrap_or(0);
    for from in (0..longest).step_by(per) {
        let stride = (longest - from).min(per);
        let mut block = vec![StepUniform::new(0, 0, 0.0, 1.0, 1.0); count * stride];
        for (&(i, _), steps) in work.iter().zip(plans) {
            let to = (from + stride).min(steps.len());
            if from < to {
                block[i * stride..i * stride + (to - from)].copy_from_slice(&steps[from..to]);
            }
        }
        gpu.write(steps, &block);
        fused.set_steps(gpu, stride);
        fused.submit(gpu, "group train steps");
    }
}

/// Runs `plans` (each working model's steps, in `work`'s order) through the per-op
/// dispatches `ops` (by batch size, ascending): slot s holds step s of every model (a model
/// with fewer steps, or not working this round, waits: a step of 0 rows) and runs the
/// smallest plan that holds its largest step, a submission of slots at a time.
fn run_per_op(
    gpu: &Gpu,
    slots: &StepSlots,
    ops: &[(usize, Vec<Dispatch>)],
    count: usize,
    work: &[(usize, &[f32])],
    plans: &[Vec<StepUniform>],
) -> Result<()> {
    let longest = plans.iter().map(Vec::len).max().unwrap_or(0);
    let mut in_flight = None;
    for from in (0..longest).step_by(slots.capacity()) {
        let to = (from + slots.capacity()).min(longest);
        let mut block = vec![StepUniform::new(0, 0, 0.0, 1.0, 1.0); count * (to - from)];
        for (&(i, _), steps) in work.iter().zip(plans) {
            for (s, step) in steps.iter().enumerate().take(to).skip(from) {
                block[(s - from) * count + i] = *step;
            }
        }
        slots.write(gpu, &block);
        let mut encoder = gpu.encoder("group per-op steps");
        for (s, slot) in block.chunks(count).enumerate() {
            let rows = slot
                .iter()
                .map(|step| step.rows as usize)
                .max()
                .unwrap_or(0);
            let Some((_, plan)) = ops.iter().find(|(size, _)| *size >= rows) else {
                continue;
            };
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("group per-op step"),
                timestamp_writes: None,
            });
            for d in plan {
                d.record(&mut pass, slots.offset(s));
            }
        }
        if let Some(index) = in_flight.take() {
            gpu.wait_for(index, "training models side by side")?;
        }
        in_flight = Some(gpu.queue().submit([encoder.finish()]));
    }
    Ok(())
}

/// Which snapshot [`Group::copy_model`] takes.
enum Snapshot {
    Keep,
    Restore,
}

/// Parameters per model in `bufs`.
fn stride_of(bufs: &Buffers, models: usize) -> usize {
    bufs.params.len as usize / models.max(1)
}

/// Records a copy of the whole of `from` into `to`.
fn record_copy(encoder: &mut wgpu::CommandEncoder, from: &Tensor, to: &Tensor) {
    encoder.copy_buffer_to_buffer(
        &from.buffer,
        from.offset * 4,
        &to.buffer,
        to.offset * 4,
        from.len * 4,
    );
}

/// One model of a [`Group`], trained from its own thread through the [`Backend`] every fit
/// loop drives. A stop asked for while a round runs takes effect after it.
pub struct Member<'a, 'g> {
    group: &'a Group<'g>,
    index: usize,
    /// The network as it started (its shape, for reading weights back).
    model: Mlp,
    forward: Option<Forward>,
}

impl Member<'_, '_> {
    /// Takes the model out of the rounds that follow (its fit has ended); its weights and
    /// validation logits can still be read.
    pub fn finish(&mut self) {
        self.group.leave(self.index);
    }

    fn params(&self) -> Result<Vec<f32>> {
        let mut p: Vec<f32> = self
            .group
            .gpu
            .read(&self.group.slice_of(self.index, |b| &b.params))?;
        p.truncate(self.model.params().len());
        Ok(p)
    }
}

impl Drop for Member<'_, '_> {
    fn drop(&mut self) {
        self.group.leave(self.index);
    }
}

impl Backend for Member<'_, '_> {
    fn run_epochs(&mut self, lrs: &[f32], _stop: &dyn Fn() -> bool) -> Result<Vec<f32>> {
        self.group.run_epochs(self.index, lrs)
    }

    fn logits(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        if let Some(logits) = self.group.val_logits(self.index, x) {
            return Ok(logits);
        }
        if self.forward.is_none() {
            let rows = check_inputs(&self.model, x)?;
            let n = self.model.params().len() as u64;
            let params = self.group.slice_of(self.index, |b| &b.params).slice(0, n);
            self.forward = Some(Forward::new(self.group.gpu, &self.model, params, rows)?);
        }
        let forward = self.forward.as_mut().expect("built above");
        forward.logits(self.group.gpu, &self.model, x)
    }

    fn keep_best(&mut self) -> Result<()> {
        self.group.copy_model(self.index, Snapshot::Keep)
    }

    fn lookahead(&self, val: Option<&Dataset>) -> usize {
        self.group.lookahead_of(self.index, val)
    }

    fn logits_after(&mut self, x: &[f32], epoch: usize) -> Result<Vec<f32>> {
        match self.group.logits_after(self.index, x, epoch) {
            None => self.logits(x),
            Some(kept) => kept.ok_or_else(|| Error::Shape {
                op: "validation logits",
                detail: format!(
                    "no logits were kept for epoch {} of the last call",
                    epoch + 1
                ),
            }),
        }
    }

    fn keep_best_after(&mut self, epoch: usize) -> Result<()> {
        match self
            .group
            .copy_snapshot(self.index, epoch, Snapshot::Keep)?
        {
            true => Ok(()),
            false => self.keep_best(),
        }
    }

    fn stop_after(&mut self, epoch: usize) -> Result<()> {
        if self
            .group
            .copy_snapshot(self.index, epoch, Snapshot::Restore)?
        {
            // Its logits of the epochs after are no longer the weights'.
            self.forward = None;
        }
        Ok(())
    }

    fn restore_best(&mut self) -> Result<()> {
        self.group.copy_model(self.index, Snapshot::Restore)
    }

    fn model(&self) -> Result<Mlp> {
        let mut model = self.model.clone();
        model.set_params(self.params()?)?;
        Ok(model)
    }

    fn spec(&self) -> &MlpSpec {
        &self.group.spec
    }

    fn state(&self) -> Result<TrainerState> {
        let gpu = self.group.gpu;
        let n = self.model.params().len();
        let read = |pick: fn(&Buffers) -> &Tensor| -> Result<Vec<f32>> {
            let mut v: Vec<f32> = gpu.read(&self.group.slice_of(self.index, pick))?;
            v.truncate(n);
            Ok(v)
        };
        let shared = self.group.lock();
        let m = &shared.models[self.index];
        let (t, epochs_done, shuffle_pos) = (m.t, m.epochs_done, m.shuffler.position());
        let adam = m.config.optimizer.kind != crate::optim::OptimizerKind::Sgd;
        drop(shared);
        Ok(TrainerState {
            params: read(|b| &b.params)?,
            m: read(|b| &b.m)?,
            v: if adam { read(|b| &b.v)? } else { Vec::new() },
            best: read(|b| &b.best)?,
            t,
            epochs_done,
            shuffle_pos,
            partial_losses: Vec::new(),
            path: self.group.path().to_string(),
        })
    }

    fn set_state(&mut self, _state: &TrainerState) -> Result<()> {
        Err(Error::ResumeState(
            "models trained side by side do not resume from a checkpoint; train this one \
             alone"
                .into(),
        ))
    }
}
