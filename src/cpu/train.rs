//! Reference for the whole training step and the fit loop of `crate::train`: the same
//! sequence of ops (gather, forward, loss, backward, Adam), the same shuffle and step values.

use super::{
    activation_backward, activation_forward, adam, bce_grad, bce_loss, bias_add, bias_grad, gather,
    matmul, matmul_nt, matmul_tn, sigmoid,
};
use crate::data::{Dataset, Shuffler};
use crate::error::Result;
use crate::model::Mlp;
use crate::optim::StepValues;
use crate::train::{check_inputs, FitReport, TrainConfig};

/// Every layer's output for one batch: `acts[0]` is the input, `acts[l + 1]` the output of
/// layer `l` after its activation; the last holds the logits.
// x: (rows, inputs) → acts[l]: (rows, width of layer l's input side)
pub fn forward(model: &Mlp, x: &[f32], rows: usize) -> Vec<Vec<f32>> {
    let params = model.params();
    let mut acts = vec![x[..rows * model.spec().inputs].to_vec()];
    for layer in model.layers() {
        let mut z = vec![0.0; rows * layer.outputs];
        let w = &params[layer.weights.clone()];
        let b = &params[layer.bias.clone()];
        matmul(
            acts.last().expect("input"),
            w,
            &mut z,
            rows,
            layer.outputs,
            layer.inputs,
        );
        bias_add(&mut z, b, rows, layer.outputs);
        if let Some(act) = layer.activation {
            activation_forward(act, &mut z);
        }
        acts.push(z);
    }
    acts
}

/// Mean loss of the batch and its gradient for every parameter, in the flat layout.
// x: (rows, inputs), y: (rows) → grads: (model.params().len())
pub fn gradients(model: &Mlp, x: &[f32], y: &[f32], rows: usize) -> (f32, Vec<f32>) {
    let acts = forward(model, x, rows);
    let mut grads = vec![0.0; model.params().len()];
    let loss = backward(model, &acts, &y[..rows], rows, &mut grads);
    (loss, grads)
}

/// Loss and backward pass from the forward activations; writes every layer's dW and db.
fn backward(model: &Mlp, acts: &[Vec<f32>], y: &[f32], rows: usize, grads: &mut [f32]) -> f32 {
    let layers = model.layers();
    let params = model.params();
    let logits = acts.last().expect("logits");
    let loss = bce_loss(logits, y, rows);
    let mut delta = vec![0.0; logits.len()];
    bce_grad(logits, y, &mut delta, rows);
    for (l, layer) in layers.iter().enumerate().rev() {
        // delta: dZ of layer l, (rows, outputs)
        matmul_tn(
            &acts[l],
            &delta,
            &mut grads[layer.weights.clone()],
            layer.inputs,
            layer.outputs,
            rows,
        );
        bias_grad(&delta, &mut grads[layer.bias.clone()], rows, layer.outputs);
        if l > 0 {
            let mut below = vec![0.0; rows * layer.inputs];
            let w = &params[layer.weights.clone()];
            matmul_nt(&delta, w, &mut below, rows, layer.inputs, layer.outputs);
            let act = layers[l - 1]
                .activation
                .expect("hidden layers have an activation");
            activation_backward(act, &acts[l], &mut below);
            delta = below;
        }
    }
    loss
}

/// Probability of class 1 for each row.
// x: (rows, inputs) → (rows)
pub fn predict_proba(model: &Mlp, x: &[f32]) -> Result<Vec<f32>> {
    let rows = check_inputs(model, x)?;
    let mut acts = forward(model, x, rows);
    let mut p = acts.pop().expect("logits");
    p.iter_mut().for_each(|z| *z = sigmoid(*z));
    Ok(p)
}

/// The reference trainer: parameters, Adam moments and the shuffle stream, on the host.
pub struct CpuTrainer<'d> {
    model: Mlp,
    data: &'d Dataset,
    config: TrainConfig,
    m: Vec<f32>,
    v: Vec<f32>,
    t: u64,
    shuffler: Shuffler,
}

impl<'d> CpuTrainer<'d> {
    /// Starts from `model`'s parameters with zeroed Adam moments.
    pub fn new(model: &Mlp, data: &'d Dataset, config: &TrainConfig) -> Result<CpuTrainer<'d>> {
        config.validate(model, data)?;
        let n = model.params().len();
        Ok(CpuTrainer {
            model: model.clone(),
            data,
            config: config.clone(),
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
            shuffler: Shuffler::new(config.seed),
        })
    }

    /// One optimiser step on a batch; returns its mean loss.
    // x: (rows, inputs), y: (rows)
    pub fn step(&mut self, x: &[f32], y: &[f32], rows: usize, values: &StepValues) -> f32 {
        let acts = forward(&self.model, x, rows);
        let mut grads = vec![0.0; self.model.params().len()];
        let loss = backward(&self.model, &acts, y, rows, &mut grads);
        adam(
            &grads,
            self.model.params_mut(),
            &mut self.m,
            &mut self.v,
            values,
            &self.config.adam,
        );
        loss
    }

    /// Runs `epochs` epochs; returns the mean per-row training loss of each.
    pub fn run_epochs(&mut self, epochs: usize) -> Vec<f32> {
        let rows = self.data.rows();
        let features = self.data.features();
        let batch = self.config.batch_size.min(rows);
        let mut xb = vec![0.0; batch * features];
        let mut yb = vec![0.0; batch];
        let mut losses = Vec::with_capacity(epochs);
        for _ in 0..epochs {
            let order = self.shuffler.next_order(rows);
            let mut sum = 0.0f64;
            for start in (0..rows).step_by(batch) {
                let r = batch.min(rows - start);
                let (x_all, y_all) = (self.data.x(), self.data.y());
                gather(
                    &order, start, x_all, y_all, &mut xb, &mut yb, r, features, 1,
                );
                self.t += 1;
                let values = self.config.adam.step_values(self.t);
                let loss = self.step(&xb, &yb, r, &values);
                sum += f64::from(loss) * r as f64;
            }
            losses.push((sum / rows as f64) as f32);
        }
        losses
    }

    /// The current model.
    pub fn model(&self) -> &Mlp {
        &self.model
    }
}

/// Trains `model` in place on the CPU; the reference for [`crate::fit`].
pub fn fit(model: &mut Mlp, data: &Dataset, config: &TrainConfig) -> Result<FitReport> {
    let mut trainer = CpuTrainer::new(model, data, config)?;
    let epoch_losses = trainer.run_epochs(config.epochs);
    *model = trainer.model;
    Ok(FitReport { epoch_losses })
}
