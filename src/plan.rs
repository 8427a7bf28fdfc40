//! Fitting a training run into the device's limits before anything is allocated: every
//! buffer a run binds is compared with `max_storage_buffer_binding_size` (and
//! `max_buffer_size`). What can be split is split (a dataset too large to bind is streamed
//! through a window, validation and prediction run in fewer rows at a time); what cannot is
//! refused with the limit, the size asked for and what to change.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Step};
use crate::model::Mlp;

/// Most rows per forward pass in prediction and validation.
const PREDICT_ROWS: usize = 4096;
/// Most step losses kept on the GPU between readbacks (whole epochs are kept together).
const MAX_LOSS_SLOTS: usize = 4096;
/// Most shuffled row indices kept for the epochs in flight.
const MAX_ORDER: usize = 1 << 22;

/// How a training run fits the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RunPlan {
    /// Epochs recorded between two readbacks of losses.
    pub epochs_per_chunk: usize,
    /// `Some(rows)` when the dataset is too large to bind whole: the rows of each submission
    /// are gathered on the host, in step order, into a window of this many rows.
    pub window_rows: Option<usize>,
    /// Most steps a submission may hold (the window's, or the fused step buffer's, room).
    pub max_steps_per_submission: usize,
}

/// The largest binding this device allows, in bytes.
pub(crate) fn binding_limit(gpu: &Gpu) -> u64 {
    let l = gpu.limits();
    l.max_storage_buffer_binding_size.min(l.max_buffer_size)
}

/// Refuses a buffer of `elements` 4-byte elements that the device cannot bind.
pub(crate) fn check_fits(gpu: &Gpu, what: &str, elements: usize, advice: &str) -> Result<()> {
    let limit = binding_limit(gpu);
    let needed = 4 * elements as u64;
    if needed > limit {
        return Err(Error::Limit {
            what: what.to_string(),
            needed,
            limit,
            limit_name: "max_storage_buffer_binding_size",
            unit: "bytes",
            advice: advice.to_string(),
        });
    }
    Ok(())
}

/// The widest layer (inputs included): the activations of one row.
fn widest(model: &Mlp) -> usize {
    model
        .layers()
        .iter()
        .map(|l| l.outputs)
        .chain(std::iter::once(model.spec().inputs))
        .max()
        .unwrap_or(1)
}

/// Rows per forward pass (prediction, validation) that fit the device: at most
/// `PREDICT_ROWS`, fewer when a layer's activations would not fit a binding.
pub(crate) fn forward_rows(gpu: &Gpu, model: &Mlp, rows: usize) -> Result<usize> {
    let fit = (binding_limit(gpu) / 4) as usize / widest(model);
    if fit == 0 {
        return Err(Error::Limit {
            what: format!("one row's activations ({} values)", widest(model)),
            needed: 4 * widest(model) as u64,
            limit: binding_limit(gpu),
            limit_name: "max_storage_buffer_binding_size",
            unit: "bytes",
            advice: "use narrower layers".into(),
        });
    }
    Ok(rows.clamp(1, PREDICT_ROWS).min(fit))
}

/// Plans a run of `model` over `rows` rows in batches of `batch` on `gpu`: at most
/// `steps_per_submission` steps a submission (fewer when a window or the fused kernel's step
/// buffer must fit a binding), `fused` when one dispatch runs them all.
pub(crate) fn plan_run(
    gpu: &Gpu,
    model: &Mlp,
    rows: usize,
    batch: usize,
    steps_per_submission: usize,
    fused: bool,
) -> Result<RunPlan> {
    let spec = model.spec();
    let limit = (binding_limit(gpu) / 4) as usize;
    check_fits(
        gpu,
        &format!("the network's {} parameters", model.params().len()),
        model.params().len(),
        "use fewer or narrower hidden layers",
    )?;
    let width = widest(model).max(spec.outputs + 1);
    check_fits(
        gpu,
        &format!("a batch's activations ({batch} rows × {width})"),
        batch * width,
        &format!("use a batch size of at most {}", (limit / width).max(1)),
    )?;
    let steps_per_epoch = rows.div_ceil(batch);
    check_fits(
        gpu,
        &format!("the losses of one epoch's {steps_per_epoch} steps"),
        steps_per_epoch,
        "use a larger batch size",
    )?;
    let row_width = spec.inputs.max(spec.outputs + 1);
    let window_rows = (rows * row_width > limit).then_some(limit / row_width);
    let order_room = match window_rows {
        Some(_) => usize::MAX,
        None => limit / rows.max(1),
    };
    let epochs_per_chunk = (MAX_LOSS_SLOTS / steps_per_epoch)
        .min(MAX_ORDER / rows.max(1))
        .min(order_room)
        .min(limit / steps_per_epoch)
        .max(1);
    let step_words = std::mem::size_of::<Step>() / 4;
    let mut max_steps = steps_per_submission.min(epochs_per_chunk * steps_per_epoch);
    if fused {
        max_steps = max_steps.min(limit / step_words);
    }
    if let Some(window) = window_rows {
        max_steps = max_steps.min(window / batch);
    }
    Ok(RunPlan {
        epochs_per_chunk,
        window_rows,
        max_steps_per_submission: max_steps.max(1),
    })
}
