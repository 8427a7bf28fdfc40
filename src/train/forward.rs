//! Forward passes on the GPU through weights that stay there: validation during training, and
//! prediction.

use super::check_inputs;
use super::step::{activation_buffers, forward_plan, Side};
use crate::error::Result;
use crate::gpu::{Gpu, Tensor};
use crate::kernels::{self, Dispatch};
use crate::model::Mlp;

/// A forward pass over any number of rows, `chunk` rows at a time, through weights that stay
/// on the GPU: used for validation during training and for [`predict`].
pub(super) struct Forward {
    params: Tensor,
    acts: Vec<Tensor>,
    chunk: usize,
    full: Vec<Dispatch>,
    /// The plan of the last, shorter chunk, kept while the row count stays the same.
    tail: Option<(usize, Vec<Dispatch>)>,
}

impl Forward {
    pub(super) fn new(gpu: &Gpu, model: &Mlp, params: Tensor, rows: usize) -> Result<Forward> {
        let chunk = super::limits::forward_rows(gpu, model, rows)?;
        let acts = activation_buffers(gpu, model, chunk, 1)?;
        let mut full = Vec::new();
        forward_plan(
            gpu,
            model,
            &params,
            &acts,
            chunk,
            Side::one(model),
            &mut full,
        )?;
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
    pub(super) fn logits(&mut self, gpu: &Gpu, model: &Mlp, x: &[f32]) -> Result<Vec<f32>> {
        let rows = check_inputs(model, x)?;
        let (inputs, outputs) = (model.spec().inputs, model.spec().outputs);
        let mut out = Vec::with_capacity(rows * outputs);
        for start in (0..rows).step_by(self.chunk) {
            let r = self.chunk.min(rows - start);
            if r != self.chunk && self.tail.as_ref().is_none_or(|(n, _)| *n != r) {
                let mut plan = Vec::new();
                let side = Side::one(model);
                forward_plan(gpu, model, &self.params, &self.acts, r, side, &mut plan)?;
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
            kernels::run(gpu, &refs)?;
            let logits = &self.acts[model.layers().len()];
            out.extend(gpu.read::<f32>(&logits.slice(0, (r * outputs) as u64))?);
        }
        Ok(out)
    }
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
/// output for [`crate::Loss::Bce`], softmax for [`crate::Loss::SoftmaxCe`]), values for [`crate::Loss::Mse`].
/// The logits come from the GPU; the last transform is the CPU reference's, so both paths
/// share it.
// x: (rows, inputs) → (rows, outputs)
pub fn predict(gpu: &Gpu, model: &Mlp, x: &[f32]) -> Result<Vec<f32>> {
    let mut out = logits(gpu, model, x)?;
    crate::kernels::loss::reference::output_transform(
        model.spec().loss,
        &mut out,
        model.spec().outputs,
    );
    Ok(out)
}
