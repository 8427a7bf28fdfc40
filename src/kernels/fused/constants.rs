//! Host side of constants.wgsl: the loss, optimiser and hidden activation the wide fused kernel
//! is compiled for, one pipeline per combination a network uses (the small kernel reads them
//! at run time: see `MODULE` in mod.rs).

use crate::model::{Activation, Loss, Mlp};
use crate::optim::OptimizerKind;

/// constants.wgsl's ACT_BY_LAYER: hidden layers whose activations differ.
pub const ACT_BY_LAYER: u32 = 255;

/// The LOSS constant for `loss` (also gather.wgsl's `loss`).
pub(crate) fn loss_code(loss: Loss) -> u32 {
    match loss {
        Loss::Bce => 0,
        Loss::SoftmaxCe => 1,
        Loss::Mse => 2,
    }
}

/// The OPTIMIZER constant for `kind`.
fn optimizer_code(kind: OptimizerKind) -> u32 {
    match kind {
        OptimizerKind::Adam => 0,
        OptimizerKind::AdamW => 1,
        OptimizerKind::Sgd => 2,
    }
}

/// The one activation of `model`'s hidden layers, if they share one.
pub fn shared_activation(model: &Mlp) -> Option<Activation> {
    let layers = model.layers();
    let hidden = &layers[..layers.len() - 1];
    let first = hidden.first()?.activation;
    hidden
        .iter()
        .all(|l| l.activation == first)
        .then_some(first)
        .flatten()
}

/// The ACT constant for `model`: its hidden layers' shared activation, or [`ACT_BY_LAYER`]
/// where they differ or there is none.
pub fn act_constant(model: &Mlp) -> u32 {
    shared_activation(model).map_or(ACT_BY_LAYER, |a| crate::kernels::activation::code(Some(a)))
}

/// The pipeline constants the wide kernel trains `model` with under optimiser `kind`, and
/// the two values it shares with the host: a step of no row map, and a missing cell's bits.
pub fn for_model(model: &Mlp, kind: OptimizerKind) -> [(&'static str, f64); 5] {
    [
        ("LOSS", f64::from(loss_code(model.spec().loss))),
        ("OPTIMIZER", f64::from(optimizer_code(kind))),
        ("ACT", f64::from(act_constant(model))),
        ("NO_MAP", f64::from(crate::gpu::StepUniform::NO_MAP)),
        (
            "MISSING_BITS",
            f64::from(crate::data::prep::shared::MISSING_BITS),
        ),
    ]
}

/// The part of the wide kernel's trust key that names its pipeline's constants.
pub fn key(model: &Mlp, kind: OptimizerKind) -> String {
    format!(
        "{:?} {kind:?} act={}",
        model.spec().loss,
        act_constant(model)
    )
}
