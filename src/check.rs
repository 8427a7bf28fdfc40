//! `gpumlp check`: everything training would run on this adapter and driver, against the CPU
//! reference, with the test suite's tolerances ([`crate::tolerance`]): the driver's loop
//! budget, every kernel and matmul variant, and short training runs on each path (one
//! dispatch per op, and fused) with each loss and optimiser. A user on an unknown driver
//! learns from it whether to trust the results. What training never runs on this adapter (a
//! matmul variant it never picks, the fused kernel where it cannot run) is reported as
//! skipped, with the reason, and never counted as passed.
//!
//! ```no_run
//! # fn main() -> gpumlp::Result<()> {
//! let gpu = gpumlp::Gpu::from_env()?;
//! let report = gpumlp::check::run(&gpu);
//! for item in &report.items {
//!     println!("{} {:?} {}", item.name, item.outcome, item.note);
//! }
//! assert!(report.passed(), "{} of {} failed", report.failures(), report.items.len());
//! # Ok(())
//! # }
//! ```

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels;
use crate::model::{Activation, Loss, Mlp, MlpSpec};
use crate::optim::{OptimizerConfig, OptimizerKind};
use crate::tolerance::{Comparison, Tolerance};
use crate::train::{TrainConfig, Trainer};
use crate::Dataset;

/// How one item of the check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Run, and within tolerance (for the probe: measured).
    Passed,
    /// Run, and out of tolerance, or it could not run.
    Failed,
    /// Not run, because training never takes this path on this adapter; the note says why.
    Skipped,
}

/// One line of the check.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckItem {
    /// What was checked, e.g. "matmul block8" or "train fused mse adamw".
    pub name: String,
    /// Passed, failed, or skipped (never run here).
    pub outcome: Outcome,
    /// The largest |gpu − cpu| seen.
    pub worst_error: Option<f32>,
    /// The worst error as a multiple of what the tolerance allows (≤ 1 passes).
    pub worst_ratio: Option<f32>,
    /// The tolerance compared with.
    pub tolerance: Option<Tolerance>,
    /// Where it went wrong, or what else there is to know.
    pub note: String,
    /// Seconds it took, pipeline compiles included (the first run of a kernel on a driver
    /// with an empty shader cache pays them).
    pub seconds: f64,
}

/// What [`run`] found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckReport {
    /// The adapter and driver checked.
    pub adapter: String,
    /// The driver's loop budget (`None`: no limit seen).
    pub loop_budget: Option<u64>,
    /// One entry per kernel, variant or training path.
    pub items: Vec<CheckItem>,
    /// Wall time of the whole check.
    pub seconds: f64,
}

impl CheckReport {
    /// Whether no item failed (skipped items did not pass either: see [`CheckReport::skipped`]).
    pub fn passed(&self) -> bool {
        self.failures() == 0
    }

    /// How many items failed.
    pub fn failures(&self) -> usize {
        self.count(Outcome::Failed)
    }

    /// How many items were skipped: paths training never takes on this adapter.
    pub fn skipped(&self) -> usize {
        self.count(Outcome::Skipped)
    }

    fn count(&self, outcome: Outcome) -> usize {
        self.items.iter().filter(|i| i.outcome == outcome).count()
    }
}

impl CheckItem {
    /// Whether the item was run and passed.
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Passed
    }

    /// An item not run here, and why.
    fn skipped(name: String, why: &str) -> CheckItem {
        CheckItem {
            name,
            outcome: Outcome::Skipped,
            worst_error: None,
            worst_ratio: None,
            tolerance: None,
            note: why.into(),
            seconds: 0.0,
        }
    }

    fn compared(name: String, outcome: Result<Comparison>, note: &str) -> CheckItem {
        match outcome {
            Ok(c) => CheckItem {
                name,
                outcome: match c.passed() {
                    true => Outcome::Passed,
                    false => Outcome::Failed,
                },
                worst_error: Some(c.max_abs),
                worst_ratio: Some(c.worst_ratio()),
                tolerance: Some(c.tolerance),
                note: match c.passed() {
                    true => note.to_string(),
                    false => format!("{c}{}{note}", if note.is_empty() { "" } else { "; " }),
                },
                seconds: 0.0,
            },
            Err(e) => CheckItem {
                name,
                outcome: Outcome::Failed,
                worst_error: None,
                worst_ratio: None,
                tolerance: None,
                note: format!("could not run: {e}"),
                seconds: 0.0,
            },
        }
    }
}

/// Runs the whole check on `gpu`. Never fails as a whole: a kernel that cannot run is an item
/// that failed.
pub fn run(gpu: &Gpu) -> CheckReport {
    let start = std::time::Instant::now();
    let mut items = Timed::new();
    let budget = kernels::probe::loop_budget(gpu);
    items.push(CheckItem {
        name: "loop budget".into(),
        outcome: match budget {
            Ok(_) => Outcome::Passed,
            Err(_) => Outcome::Failed,
        },
        worst_error: None,
        worst_ratio: None,
        tolerance: None,
        note: match &budget {
            Ok(None) => "no limit seen (a loop of 2^20 iterations ran whole)".into(),
            Ok(Some(n)) => format!(
                "the driver ends a kernel's loops after {n} iterations; gpumlp keeps every \
                 dispatch within that"
            ),
            Err(e) => format!("could not run: {e}"),
        },
        seconds: 0.0,
    });
    let budget = budget.ok().flatten();

    items.push(CheckItem::compared(
        "gather".into(),
        kernels::gather::verify(gpu),
        "",
    ));
    for variant in &kernels::matmul::VARIANTS {
        let name = format!("matmul {}", variant.name);
        if !variant.considered_on(gpu) {
            let why = match variant.runs_on(gpu) {
                true => "training on a CPU adapter never picks it (GPUMLP_MATMUL forces it)",
                false => "this adapter's limits do not allow it, or its driver takes minutes to compile it (vstrip16 on GL), so it is never used",
            };
            items.push(CheckItem::skipped(name, why));
            continue;
        }
        let note = "all three products and the forward epilogues";
        items.push(CheckItem::compared(
            name,
            kernels::matmul::verify(gpu, variant),
            note,
        ));
    }
    items.push(CheckItem::compared(
        "bias".into(),
        kernels::bias::verify(gpu),
        "add and gradient",
    ));
    for act in [Activation::Sigmoid, Activation::Relu, Activation::Tanh] {
        let name = format!("activation {}", act.name());
        items.push(CheckItem::compared(
            name,
            kernels::activation::verify(gpu, act),
            "",
        ));
    }
    for loss in [Loss::Bce, Loss::SoftmaxCe, Loss::Mse] {
        let name = format!("loss {}", loss.name());
        items.push(CheckItem::compared(
            name,
            kernels::loss::verify(gpu, loss),
            "value and gradient",
        ));
    }
    for kind in [OptimizerKind::Adam, OptimizerKind::AdamW] {
        let name = format!("optimizer {}", kind.name());
        items.push(CheckItem::compared(
            name,
            kernels::adam::verify(gpu, kind),
            "",
        ));
    }
    items.push(CheckItem::compared(
        "optimizer sgd".into(),
        kernels::sgd::verify(gpu),
        "",
    ));

    if kernels::fused::fits_small(gpu) {
        let note = "a few steps of every loss and optimiser, 2 to 4 layers";
        items.push(CheckItem::compared(
            "fused kernel".into(),
            kernels::fused::verify(gpu),
            note,
        ));
        items.push(CheckItem::compared(
            "fused kernel, unrolled".into(),
            kernels::fused::verify_unrolled(gpu),
            "the same, each network through a kernel generated for it",
        ));
    } else {
        items.push(CheckItem::skipped("fused kernel".into(), NO_FUSED));
    }
    if kernels::fused::wide::fits(gpu) {
        let note = match kernels::fused::wide::shares_loads(gpu) {
            true => "a few steps of every loss and optimiser, widths up to 128, two models side by side (one reading shared rows through a row map, some cells missing), their validation logits and a snapshot of their weights (subgroups)",
            false => "a few steps of every loss and optimiser, widths up to 128, two models side by side (one reading shared rows through a row map, some cells missing), their validation logits and a snapshot of their weights",
        };
        for rc in kernels::fused::wide::CHUNK_ROWS {
            items.push(CheckItem::compared(
                format!("fused wide kernel, {rc} rows a chunk"),
                kernels::fused::verify_wide(gpu, rc),
                note,
            ));
        }
    }
    for (name, spec, optimizer) in training_cases() {
        for fused in [false, true] {
            let path = if fused { "fused" } else { "per-op" };
            let name = format!("train {path} {name}");
            items.push(training_item(gpu, name, &spec, &optimizer, fused, budget));
        }
    }
    CheckReport {
        adapter: gpu.describe(),
        loop_budget: budget,
        items: items.items,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// The items so far, each stamped with the time since the one before.
struct Timed {
    items: Vec<CheckItem>,
    last: std::time::Instant,
}

impl Timed {
    fn new() -> Timed {
        Timed {
            items: Vec::new(),
            last: std::time::Instant::now(),
        }
    }

    fn push(&mut self, mut item: CheckItem) {
        item.seconds = self.last.elapsed().as_secs_f64();
        self.last = std::time::Instant::now();
        self.items.push(item);
    }
}

/// A network, loss and optimiser for each short training run.
fn training_cases() -> Vec<(&'static str, MlpSpec, OptimizerConfig)> {
    let opt = |kind, weight_decay| OptimizerConfig {
        kind,
        lr: 0.02,
        weight_decay,
        momentum: 0.9,
        ..OptimizerConfig::default()
    };
    vec![
        (
            "bce adam",
            MlpSpec::new(5).hidden(8, Activation::Relu),
            opt(OptimizerKind::Adam, 0.0),
        ),
        (
            "softmax_ce sgd",
            MlpSpec::new(6)
                .hidden(9, Activation::Tanh)
                .output(3, Loss::SoftmaxCe),
            opt(OptimizerKind::Sgd, 0.01),
        ),
        (
            "mse adamw",
            MlpSpec::new(4)
                .hidden(10, Activation::Sigmoid)
                .hidden(6, Activation::Tanh)
                .output(2, Loss::Mse),
            opt(OptimizerKind::AdamW, 0.05),
        ),
    ]
}

/// Why the fused kernel never runs on an adapter it does not fit.
const NO_FUSED: &str = "this adapter's limits do not allow the fused kernel, so training never \
                        uses it";

/// Three epochs of 150 rows in batches of 40 on the GPU path asked for, against
/// `cpu::fit` from the same start. A fused run the trainer does not take is skipped when
/// training would never take it here either (the kernel cannot run on this adapter, failed
/// its own check, or a step exceeds the loop budget), and fails otherwise.
fn training_item(
    gpu: &Gpu,
    name: String,
    spec: &MlpSpec,
    optimizer: &OptimizerConfig,
    fused: bool,
    budget: Option<u64>,
) -> CheckItem {
    let path = if fused { "fused" } else { "per-op" };
    let batch = 40;
    let run = || -> Result<CheckItem> {
        let rows = 150;
        let (inputs, outputs) = (spec.inputs, spec.outputs);
        let x = crate::kernels::seeded(900, rows * inputs, -2.0, 2.0);
        let u = crate::kernels::seeded(901, rows * outputs, 0.0, 1.0);
        let y: Vec<f32> = (0..rows * outputs)
            .map(|i| match spec.loss {
                Loss::SoftmaxCe => f32::from(i % outputs == (i / outputs) % outputs),
                Loss::Bce => f32::from(u[i] > 0.5),
                Loss::Mse => 3.0 * u[i] - 1.0,
            })
            .collect();
        let data = Dataset::with_targets(x, y, inputs, outputs, None)?;
        let start = Mlp::new(spec, 7)?;
        let config = TrainConfig {
            epochs: 3,
            batch_size: batch,
            optimizer: *optimizer,
            seed: 5,
            allow_fused: fused,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(gpu, &start, &data, &config)?;
        if trainer.is_fused() != fused {
            // Not taken. Where training never takes it here either, skipped, saying why;
            // otherwise the trainer chose wrong and the path went unchecked: failed.
            let kind = kernels::fused::kind(gpu, &start);
            let why = if !fused || !kernels::fused::supports(&start) {
                None
            } else if let Some(kind) = kind {
                let cost = kernels::fused::loop_iterations(kind, &start, batch);
                if !kernels::fused::trusted(gpu, kind, &start, optimizer.kind, batch)? {
                    Some("the fused kernel failed its check here, so training never uses it")
                } else if kernels::fused::steps_within(budget, cost).is_none() {
                    Some(
                        "one step of this network exceeds the driver's loop budget, so training \
                         runs it one dispatch per op",
                    )
                } else {
                    None
                }
            } else {
                Some(NO_FUSED)
            };
            return Ok(match why {
                Some(why) => CheckItem::skipped(name.clone(), why),
                None => CheckItem {
                    outcome: Outcome::Failed,
                    note: format!("the trainer did not take the {path} path it was asked for"),
                    ..CheckItem::skipped(name.clone(), "")
                },
            });
        }
        let lrs = vec![optimizer.lr; config.epochs];
        let got_losses = trainer.run_epochs(&lrs)?;
        let got = trainer.model()?;
        let mut want = start.clone();
        let report = crate::train::cpu::fit(&mut want, &data, &config)?;
        let c = crate::tolerance::TRAINED_PARAMS
            .compare(got.params(), want.params())
            .worse(crate::tolerance::EPOCH_LOSSES.compare(&got_losses, &report.epoch_losses));
        let note = "3 epochs against the CPU reference";
        Ok(CheckItem::compared(name.clone(), Ok(c), note))
    };
    match run() {
        Ok(item) => item,
        Err(e) => CheckItem::compared(name, Err(e), ""),
    }
}
