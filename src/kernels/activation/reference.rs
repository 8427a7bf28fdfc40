//! Reference for shaders/activation.wgsl (in place; derivatives from the output a = act(z)).

use crate::model::Activation;

/// σ(x) = 1/(1+e^(−x)), never overflowing: e^(−|x|) ≤ 1.
pub fn sigmoid(x: f32) -> f32 {
    let e = (-x.abs()).exp();
    if x >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// tanh with the shader's clamp (a no-op in f32: tanh(±15) rounds to ±1).
fn tanh_safe(x: f32) -> f32 {
    x.clamp(-15.0, 15.0).tanh()
}

/// x ← act(x).
// x: (n)
pub fn activation_forward(act: Activation, x: &mut [f32]) {
    for xi in x {
        *xi = match act {
            Activation::Sigmoid => sigmoid(*xi),
            Activation::Relu => xi.max(0.0),
            Activation::Tanh => tanh_safe(*xi),
        };
    }
}

/// d ← d ⊙ act'(z), with act' written in terms of a = act(z).
// a: (n), d: (n)
pub fn activation_backward(act: Activation, a: &[f32], d: &mut [f32]) {
    for (di, &ai) in d.iter_mut().zip(a) {
        *di = match act {
            Activation::Sigmoid => *di * (ai * (1.0 - ai)),
            Activation::Relu => {
                if ai > 0.0 {
                    *di
                } else {
                    0.0
                }
            }
            Activation::Tanh => *di * (1.0 - ai * ai),
        };
    }
}
