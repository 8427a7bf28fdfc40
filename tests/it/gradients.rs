//! The CPU reference's gradients against central finite differences of its own loss.

use crate::common::uniform;
use gpumlp::{Activation, Loss, Mlp, MlpSpec};

/// Target rows for `loss` with a weight column: (rows, outputs + 1).
fn targets(loss: Loss, rows: usize, outputs: usize) -> Vec<f32> {
    let mut t = Vec::new();
    for r in 0..rows {
        for c in 0..outputs {
            t.push(match loss {
                Loss::Bce => [0.0, 1.0, 0.3][(r + c) % 3],
                Loss::SoftmaxCe => f32::from(c == r % outputs),
                Loss::Mse => (r as f32 - 3.0) * 0.7 + c as f32,
            });
        }
        t.push([1.0, 0.5, 2.0][r % 3]);
    }
    t
}

#[test]
fn reference_gradients_match_finite_differences() {
    // Every activation and every loss, two hidden layers, a batch of 7 with soft and hard
    // labels and unequal row weights.
    for (seed, acts, loss, outputs) in [
        (1, [Activation::Tanh, Activation::Sigmoid], Loss::Bce, 1),
        (2, [Activation::Relu, Activation::Tanh], Loss::Bce, 2),
        (
            3,
            [Activation::Sigmoid, Activation::Relu],
            Loss::SoftmaxCe,
            3,
        ),
        (4, [Activation::Tanh, Activation::Tanh], Loss::Mse, 2),
    ] {
        let spec = MlpSpec::new(4)
            .hidden(5, acts[0])
            .hidden(3, acts[1])
            .output(outputs, loss);
        let mut model = Mlp::new(&spec, seed).unwrap();
        // Nonzero biases so that every bias gradient path is exercised.
        let biases: Vec<_> = model.layers().iter().map(|l| l.bias.clone()).collect();
        for (i, b) in biases.into_iter().enumerate() {
            let vals = uniform(seed * 10 + i as u64, b.len(), -0.5, 0.5);
            model.params_mut()[b].copy_from_slice(&vals);
        }
        let rows = 7;
        let x = uniform(seed + 100, rows * 4, -2.0, 2.0);
        let y = targets(loss, rows, outputs);
        let (_, grads) = gpumlp::kernels::fused::reference::gradients(&model, &x, &y, rows);

        let eps = 1e-3f32;
        let mut checked = 0;
        for layer in model.layers().to_vec() {
            for i in layer.weights.clone().chain(layer.bias.clone()) {
                let orig = model.params()[i];
                model.params_mut()[i] = orig + eps;
                let (up, _) = gpumlp::kernels::fused::reference::gradients(&model, &x, &y, rows);
                model.params_mut()[i] = orig - eps;
                let (down, _) = gpumlp::kernels::fused::reference::gradients(&model, &x, &y, rows);
                model.params_mut()[i] = orig;
                let numeric = (up - down) / (2.0 * eps);
                // f32 loss differences over 2e-3: about 1e-4 of rounding noise.
                let tol = 5e-4 + 1e-2 * numeric.abs();
                assert!(
                    (grads[i] - numeric).abs() <= tol,
                    "{acts:?} {loss:?}: parameter {i}: analytic {} vs numeric {numeric}",
                    grads[i]
                );
                checked += 1;
            }
        }
        assert_eq!(checked, model.num_params());
    }
}

#[test]
fn padding_gets_no_gradient() {
    let spec = MlpSpec::new(3).hidden(2, Activation::Sigmoid);
    let model = Mlp::new(&spec, 0).unwrap();
    let x = uniform(5, 9, -1.0, 1.0);
    let (_, grads) =
        gpumlp::kernels::fused::reference::gradients(&model, &x, &targets(Loss::Bce, 3, 1), 3);
    let used: Vec<bool> = (0..grads.len())
        .map(|i| {
            model
                .layers()
                .iter()
                .any(|l| l.weights.contains(&i) || l.bias.contains(&i))
        })
        .collect();
    for (i, g) in grads.iter().enumerate() {
        if !used[i] {
            assert_eq!(*g, 0.0, "padding element {i}");
        }
    }
}
