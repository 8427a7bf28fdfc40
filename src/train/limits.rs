//! Fitting a training run into the device's limits before anything is allocated: every
//! buffer a run binds is compared with `max_storage_buffer_binding_size` (and
//! `max_buffer_size`). What can be split is split (a dataset too large to bind is streamed
//! through a window, validation and prediction run in fewer rows at a time); what cannot is
//! refused with the limit, the size asked for and what to change. The same holds for the
//! driver's loop budget (`kernels::probe`): the loops one invocation of a kernel runs in all.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, StepUniform};
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

/// Loop iterations of one invocation of a matmul variant whose sum runs over `k` (the most any
/// variant runs: `packed` runs 1.5 per k where its inner loops are not unrolled, `tiled` 1.13,
/// the others 1, as measured on Mesa 22.3.6).
pub(crate) fn matmul_loops(k: usize) -> u64 {
    2 * k as u64 + 64
}

/// Refuses a kernel whose invocations would run more loop iterations than the driver's
/// budget allows (`None`: no limit); past it the driver would cut the loops short silently.
pub(crate) fn check_loops(
    budget: Option<u64>,
    what: &str,
    iterations: u64,
    advice: &str,
) -> Result<()> {
    match budget {
        Some(limit) if iterations > limit => Err(Error::Limit {
            what: what.to_string(),
            needed: iterations,
            limit,
            unit: "loop iterations per invocation",
            limit_name: "the driver's loop budget, measured by gpumlp (half of it through GL): \
                         Mesa up to 24.x ends a shader's loops after 65535 iterations",
            advice: advice.to_string(),
        }),
        _ => Ok(()),
    }
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
    let widest_input = model.layers().iter().map(|l| l.inputs).max().unwrap_or(1);
    check_loops(
        crate::kernels::probe::loop_budget(gpu)?,
        &format!("a forward product over {widest_input} inputs"),
        matmul_loops(widest_input),
        "use fewer inputs, or another adapter or driver",
    )?;
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
/// buffer must fit a binding). `fused` is `Some` when one dispatch runs them all (the caller
/// has fitted its steps into `loop_budget`; a step of one dispatch per op is checked here),
/// holding the floats the fused kernel's loss buffer binds besides the step losses.
pub(crate) fn plan_run(
    gpu: &Gpu,
    model: &Mlp,
    rows: usize,
    batch: usize,
    steps_per_submission: usize,
    fused: Option<usize>,
    loop_budget: Option<u64>,
) -> Result<RunPlan> {
    let loss_extra = fused.unwrap_or(0);
    let spec = model.spec();
    let limit = (binding_limit(gpu) / 4) as usize;
    if fused.is_none() {
        // The longest loops of a step: the weight gradient and the bias gradient sum the
        // batch's rows; the other products sum a layer's width.
        let widest = widest(model);
        let longest = matmul_loops(batch.max(widest));
        let most_batch = loop_budget.map_or(batch, |b| (b.saturating_sub(64) / 2) as usize);
        check_loops(
            loop_budget,
            &format!("a training step's sums over {batch} rows and layers {widest} wide"),
            longest,
            &format!("use a batch size of at most {}", most_batch.max(1)),
        )?;
    }
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
        .min(limit.saturating_sub(loss_extra) / steps_per_epoch)
        .max(1);
    let step_words = std::mem::size_of::<StepUniform>() / 4;
    let mut max_steps = steps_per_submission.min(epochs_per_chunk * steps_per_epoch);
    if fused.is_some() {
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
