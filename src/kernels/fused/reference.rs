//! The reference of one whole training step, which the fused kernel runs on the GPU in one
//! dispatch and the CPU trainer (`crate::train::cpu`) runs step by step: each layer forward,
//! the loss and its gradient, each layer backward, from the other kernels' references.

use crate::kernels::activation::reference::activation_backward;
use crate::kernels::bias::reference::bias_grad;
use crate::kernels::loss::reference::loss_and_grad;
use crate::kernels::matmul::reference::{linear, matmul_nt, matmul_tn};
use crate::model::Mlp;

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
        let x = acts.last().expect("input");
        linear(
            x,
            w,
            b,
            layer.activation,
            &mut z,
            rows,
            layer.outputs,
            layer.inputs,
        );
        acts.push(z);
    }
    acts
}

/// Loss of the batch and its gradient for every parameter, in the flat layout.
// x: (rows, inputs), t: (rows, outputs + 1) → grads: (model.params().len())
pub fn gradients(model: &Mlp, x: &[f32], t: &[f32], rows: usize) -> (f32, Vec<f32>) {
    let acts = forward(model, x, rows);
    let mut grads = vec![0.0; model.params().len()];
    let loss = backward(model, &acts, t, rows, &mut grads);
    (loss, grads)
}

/// Loss and backward pass from the forward activations; writes every layer's dW and db.
// t: (rows, outputs + 1)
pub(crate) fn backward(
    model: &Mlp,
    acts: &[Vec<f32>],
    t: &[f32],
    rows: usize,
    grads: &mut [f32],
) -> f32 {
    let layers = model.layers();
    let params = model.params();
    let spec = model.spec();
    let logits = acts.last().expect("logits");
    let mut delta = vec![0.0; logits.len()];
    let loss = loss_and_grad(spec.loss, logits, t, &mut delta, rows, spec.outputs, rows);
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
