//! The GPU trainer: every buffer allocated once, every dispatch built once, whole steps
//! recorded into one compute pass each and many steps into one submission. The loss of each
//! step stays on the GPU until the chunk of epochs in flight is done.

use crate::data::{Dataset, Shuffler};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Step, StepSlots, Tensor};
use crate::model::{Activation, Mlp, PARAM_ALIGN};
use crate::ops::{self, Dispatch};
use crate::optim::AdamConfig;

/// Steps recorded per submission: each has its own uniform slot.
const STEP_SLOTS: usize = 256;
/// Most step losses kept on the GPU between readbacks (whole epochs are kept together).
const MAX_LOSS_SLOTS: usize = 4096;
/// Most shuffled row indices kept on the GPU for the epochs in flight.
const MAX_ORDER: usize = 1 << 22;
/// Rows per forward pass in [`predict_proba`].
const PREDICT_ROWS: usize = 4096;

/// How to train.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Rows per optimiser step; the last batch of an epoch holds the remainder. Clamped to the
    /// number of rows.
    pub batch_size: usize,
    /// Optimiser settings.
    pub adam: AdamConfig,
    /// Seeds the shuffle of each epoch.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 100,
            batch_size: 64,
            adam: AdamConfig::default(),
            seed: 0,
        }
    }
}

impl TrainConfig {
    pub(crate) fn validate(&self, model: &Mlp, data: &Dataset) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::InvalidConfig("batch size must be at least 1".into()));
        }
        self.adam.validate()?;
        if data.features() != model.spec().inputs {
            return Err(Error::InvalidData(format!(
                "the data has {} features but the network expects {}",
                data.features(),
                model.spec().inputs
            )));
        }
        Ok(())
    }
}

/// What a fit measured.
#[derive(Clone, Debug, PartialEq)]
pub struct FitReport {
    /// Mean training loss over the rows of each epoch, as the weights were during that epoch.
    pub epoch_losses: Vec<f32>,
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

/// Forward dispatches for `rows` rows: matmul, bias add and activation per layer.
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
        let z = &acts[l + 1];
        plan.push(ops::matmul::matmul(
            gpu,
            &acts[l],
            &w,
            z,
            rows,
            layer.outputs,
            layer.inputs,
        )?);
        plan.push(ops::bias::bias_add(gpu, z, &b, rows, layer.outputs)?);
        if let Some(act) = layer.activation {
            plan.push(ops::activation::activation_forward(
                gpu,
                act,
                z,
                rows * layer.outputs,
            )?);
        }
    }
    Ok(())
}

/// Everything the trainer keeps on the GPU.
struct Buffers {
    params: Tensor,
    grads: Tensor,
    m: Tensor,
    v: Tensor,
    x_all: Tensor,
    y_all: Tensor,
    /// Shuffled row order of the epochs in flight, epoch after epoch.
    order: Tensor,
    y_batch: Tensor,
    /// Mean loss of each step of the epochs in flight.
    losses: Tensor,
    /// Where `losses` is copied to be read, kept so a readback allocates nothing.
    losses_staging: wgpu::Buffer,
    acts: Vec<Tensor>,
    /// `deltas[l]`: gradient of the loss with respect to `acts[l + 1]`.
    deltas: Vec<Tensor>,
}

/// Trains one model on one dataset on the GPU. Built once; each call of
/// [`Trainer::run_epochs`] continues where the last one stopped (Adam moments, step count and
/// shuffle stream included).
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
    /// The dispatches of a step over a full batch, and over the last, shorter one.
    full: Vec<Dispatch>,
    partial: Option<Vec<Dispatch>>,
    shuffler: Shuffler,
    t: u64,
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
        let epochs_per_chunk = (MAX_LOSS_SLOTS / steps_per_epoch)
            .min(MAX_ORDER / rows)
            .max(1);

        let n = model.params().len();
        let mut deltas = Vec::new();
        for layer in model.layers() {
            deltas.push(gpu.zeros("deltas", batch * layer.outputs)?);
        }
        let bufs = Buffers {
            params: gpu.upload("params", model.params())?,
            grads: gpu.zeros("grads", n)?,
            m: gpu.zeros("adam m", n)?,
            v: gpu.zeros("adam v", n)?,
            x_all: gpu.upload("x", data.x())?,
            y_all: gpu.upload("y", data.y())?,
            order: gpu.zeros("order", epochs_per_chunk * rows)?,
            y_batch: gpu.zeros("y batch", batch)?,
            losses: gpu.zeros("losses", epochs_per_chunk * steps_per_epoch)?,
            losses_staging: gpu.staging(epochs_per_chunk * steps_per_epoch),
            acts: activation_buffers(gpu, model, batch)?,
            deltas,
        };
        let slots = StepSlots::new(gpu, STEP_SLOTS);
        let full = step_plan(gpu, model, &bufs, &slots, &config.adam, batch)?;
        let partial = match rows % batch {
            0 => None,
            r => Some(step_plan(gpu, model, &bufs, &slots, &config.adam, r)?),
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
            full,
            partial,
            shuffler: Shuffler::new(config.seed),
            t: 0,
        })
    }

    /// Dispatches per training step (full batch), for reports.
    pub fn dispatches_per_step(&self) -> usize {
        self.full.len()
    }

    /// Runs `epochs` epochs; returns the mean per-row training loss of each.
    pub fn run_epochs(&mut self, epochs: usize) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(epochs);
        while out.len() < epochs {
            let chunk = self.epochs_per_chunk.min(epochs - out.len());
            out.extend(self.run_chunk(chunk)?);
        }
        Ok(out)
    }

    /// Runs `epochs` (≤ epochs_per_chunk) epochs with one upload of row orders and one
    /// readback of losses.
    fn run_chunk(&mut self, epochs: usize) -> Result<Vec<f32>> {
        let (rows, batch) = (self.rows, self.batch);
        let mut order = Vec::with_capacity(epochs * rows);
        for _ in 0..epochs {
            order.extend(self.shuffler.next_order(rows));
        }
        let gpu = self.gpu;
        gpu.queue()
            .write_buffer(&self.bufs.order.buffer, 0, bytemuck::cast_slice(&order));

        let mut steps = Vec::with_capacity(epochs * self.steps_per_epoch);
        for e in 0..epochs {
            for s in 0..self.steps_per_epoch {
                self.t += 1;
                let values = self.config.adam.step_values(self.t);
                steps.push(Step::new(
                    (e * rows + s * batch) as u32,
                    (e * self.steps_per_epoch + s) as u32,
                    &values,
                ));
            }
        }
        for group in steps.chunks(self.slots.capacity()) {
            self.slots.write(gpu, group);
            let mut encoder = gpu.encoder("train steps");
            for (i, step) in group.iter().enumerate() {
                let is_last =
                    step.loss_slot as usize % self.steps_per_epoch == self.steps_per_epoch - 1;
                let plan = match (&self.partial, is_last) {
                    (Some(partial), true) => partial,
                    _ => &self.full,
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
            gpu.queue().submit([encoder.finish()]);
        }
        gpu.check("training")?;

        let losses: Vec<f32> = gpu.read_via(
            &self.bufs.losses.slice(0, steps.len() as u64),
            &self.bufs.losses_staging,
        )?;
        Ok(losses
            .chunks(self.steps_per_epoch)
            .map(|epoch| {
                let sum: f64 = epoch
                    .iter()
                    .enumerate()
                    .map(|(s, &l)| f64::from(l) * batch.min(rows - s * batch) as f64)
                    .sum();
                (sum / rows as f64) as f32
            })
            .collect())
    }

    /// The model with the current weights (read back from the GPU).
    pub fn model(&self) -> Result<Mlp> {
        let mut model = self.model.clone();
        model.set_params(self.gpu.read(&self.bufs.params)?)?;
        Ok(model)
    }
}

/// The dispatches of one training step over `rows` rows.
fn step_plan(
    gpu: &Gpu,
    model: &Mlp,
    bufs: &Buffers,
    slots: &StepSlots,
    adam: &AdamConfig,
    rows: usize,
) -> Result<Vec<Dispatch>> {
    let layers = model.layers();
    let inputs = model.spec().inputs;
    let mut plan = Vec::new();
    plan.push(ops::gather::gather(
        gpu,
        &bufs.order,
        &bufs.x_all,
        &bufs.y_all,
        &bufs.acts[0],
        &bufs.y_batch,
        slots,
        rows,
        inputs,
        1,
    )?);
    forward_plan(gpu, model, &bufs.params, &bufs.acts, rows, &mut plan)?;

    let logits = &bufs.acts[layers.len()];
    let top = &bufs.deltas[layers.len() - 1];
    plan.push(ops::loss::bce_loss(
        gpu,
        logits,
        &bufs.y_batch,
        &bufs.losses,
        slots,
        rows,
        rows,
    )?);
    plan.push(ops::loss::bce_grad(
        gpu,
        logits,
        &bufs.y_batch,
        top,
        rows,
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
            let act: Activation = layers[l - 1]
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
    plan.push(ops::adam::adam(
        gpu,
        &bufs.grads,
        &bufs.params,
        &bufs.m,
        &bufs.v,
        slots,
        n,
        adam,
    )?);
    Ok(plan)
}

/// Trains `model` in place on the GPU: mini-batches of `config.batch_size` rows in a fresh
/// seeded order each epoch, the last shorter batch included, Adam on every parameter.
pub fn fit(gpu: &Gpu, model: &mut Mlp, data: &Dataset, config: &TrainConfig) -> Result<FitReport> {
    let mut trainer = Trainer::new(gpu, model, data, config)?;
    let epoch_losses = trainer.run_epochs(config.epochs)?;
    *model = trainer.model()?;
    Ok(FitReport { epoch_losses })
}

/// Probability of class 1 for each row of `x`, computed on the GPU.
// x: (rows, inputs) → (rows)
pub fn predict_proba(gpu: &Gpu, model: &Mlp, x: &[f32]) -> Result<Vec<f32>> {
    let rows = check_inputs(model, x)?;
    if rows == 0 {
        return Ok(Vec::new());
    }
    let inputs = model.spec().inputs;
    let chunk = rows.min(PREDICT_ROWS);
    let params = gpu.upload("params", model.params())?;
    let acts = activation_buffers(gpu, model, chunk)?;
    let logits = &acts[model.layers().len()];
    let plan_for = |r: usize| -> Result<Vec<Dispatch>> {
        let mut plan = Vec::new();
        forward_plan(gpu, model, &params, &acts, r, &mut plan)?;
        plan.push(ops::activation::activation_forward(
            gpu,
            Activation::Sigmoid,
            logits,
            r,
        )?);
        Ok(plan)
    };
    let full = plan_for(chunk)?;
    let mut out = Vec::with_capacity(rows);
    for start in (0..rows).step_by(chunk) {
        let r = chunk.min(rows - start);
        let tail;
        let plan = if r == chunk {
            &full
        } else {
            tail = plan_for(r)?;
            &tail
        };
        let input = &x[start * inputs..(start + r) * inputs];
        gpu.queue()
            .write_buffer(&acts[0].buffer, 0, bytemuck::cast_slice(input));
        let refs: Vec<&Dispatch> = plan.iter().collect();
        ops::run(gpu, &refs)?;
        out.extend(gpu.read::<f32>(&logits.slice(0, r as u64))?);
    }
    Ok(out)
}
