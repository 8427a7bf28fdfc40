//! The validation pass inside the wide fused kernel's training dispatch.

use crate::data::Dataset;
use crate::gpu::StepUniform;

/// Validation rows on the device beside the training rows: the wide fused kernel writes their
/// logits after the last step of each call (or of each epoch of a call that runs ahead of the
/// epoch loop), read back with the step losses, so a validated epoch costs no forward pass of
/// its own.
pub(super) struct Eval {
    /// The rows, to know them when the fit loop asks for their logits.
    x: Vec<f32>,
    rows: usize,
    /// Where their indices (rows after the training rows, in order) sit in the row order.
    order_at: usize,
    /// Where their logits go in the loss buffer (the first epoch's of a call; each later
    /// epoch's after them).
    logits_at: usize,
    /// The logits the weights after step `t` give, for each epoch the last call ended with
    /// them.
    logits: Vec<(u64, Vec<f32>)>,
}

impl Eval {
    /// `val`'s rows, their indices at `order_at` of the row order and their logits at
    /// `logits_at` of the loss buffer.
    pub(super) fn new(val: &Dataset, order_at: usize, logits_at: usize) -> Eval {
        Eval {
            x: val.x().to_vec(),
            rows: val.rows(),
            order_at,
            logits_at,
            logits: Vec::new(),
        }
    }

    /// How many rows it holds.
    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    /// Where the logits of a call's epoch `epoch` go in the loss buffer.
    fn at(&self, outputs: usize, epoch: usize) -> usize {
        self.logits_at + epoch * self.rows * outputs
    }

    /// Keeps the logits a call's epoch `epoch` wrote, from a readback of the loss buffer, as
    /// the weights after step `t` give them.
    pub(super) fn keep(&mut self, read: &[f32], outputs: usize, epoch: usize, t: u64) {
        let logits = read[self.at(outputs, epoch)..][..self.rows * outputs].to_vec();
        self.logits.push((t, logits));
    }

    /// Forgets the logits kept (the weights are about to change).
    pub(super) fn forget(&mut self) {
        self.logits.clear();
    }

    /// The forward-only steps that write the rows' logits for a call's epoch `epoch`, at most
    /// `batch` rows each (so each costs no more of the loop budget than a training step).
    pub(super) fn steps(
        &self,
        batch: usize,
        outputs: usize,
        params_at: u32,
        map_at: u32,
        epoch: usize,
    ) -> Vec<StepUniform> {
        let at = self.at(outputs, epoch);
        (0..self.rows)
            .step_by(batch)
            .map(|r| {
                StepUniform::forward_only(
                    (self.order_at + r) as u32,
                    batch.min(self.rows - r) as u32,
                    (at + r * outputs) as u32,
                )
                .with_params_at(params_at)
                .with_map_at(map_at)
            })
            .collect()
    }

    /// Whether `x` is these rows.
    pub(super) fn holds(&self, x: &[f32]) -> bool {
        x == self.x.as_slice()
    }

    /// Whether `eval` gives every epoch the logits of `val` (or there is no validation): only
    /// then may a call run ahead of the epoch loop.
    pub(super) fn serves(eval: Option<&Eval>, val: Option<&Dataset>) -> bool {
        match (val, eval) {
            (None, _) => true,
            (Some(val), Some(eval)) => eval.holds(val.x()),
            (Some(_), None) => false,
        }
    }

    /// The logits of `x` after step `t`, if the last call left them.
    pub(super) fn logits_of(&self, x: &[f32], t: u64) -> Option<Vec<f32>> {
        if !self.holds(x) {
            return None;
        }
        let (_, logits) = self.logits.iter().find(|(at, _)| *at == t)?;
        Some(logits.clone())
    }
}
