//! Drivers that get things wrong: Mesa up to 24.x ends a shader's loops after 65535 iterations
//! in all, silently. gpumlp measures each driver's loop budget and keeps every dispatch within
//! it; a loop cut short anyway is caught by the fused kernel's canary, never trained through;
//! and `gpumlp check` holds every kernel to the reference on the adapter in use.

use crate::common::{assert_bits, assert_close, gpu, uniform};
use gpumlp::tolerance::{EPOCH_LOSSES, TRAINED_PARAMS};
use gpumlp::{
    cpu, Activation, Dataset, Error, Gpu, GpuOptions, LoopBudget, Mlp, MlpSpec, OptimizerConfig,
    TrainConfig, Trainer,
};

/// The tests' adapter opened again, taking `budget` as its driver's loop budget.
fn gpu_with(budget: LoopBudget) -> Gpu {
    Gpu::new(&GpuOptions {
        loop_budget: budget,
        ..GpuOptions::from_env().expect("GPUMLP_BACKEND and GPUMLP_ADAPTER parse")
    })
    .unwrap_or_else(|e| panic!("GPU tests need an adapter and none could be opened: {e}"))
}

fn data(rows: usize, features: usize) -> Dataset {
    let x = uniform(3, rows * features, -2.0, 2.0);
    let y = (0..rows)
        .map(|r| f32::from(x[r * features] + x[r * features + 1] > 0.0))
        .collect();
    Dataset::new(x, y, features).unwrap()
}

/// Four layers of 16 (the fused kernel's most), full batches of 600 rows: about 30,000 loop
/// iterations a step, so only two steps fit a dispatch under Mesa 22's budget.
fn deep() -> (Mlp, Dataset, TrainConfig) {
    let spec = MlpSpec::new(16)
        .hidden(16, Activation::Tanh)
        .hidden(16, Activation::Relu)
        .hidden(16, Activation::Sigmoid);
    let config = TrainConfig {
        epochs: 12,
        batch_size: 600,
        optimizer: OptimizerConfig {
            lr: 0.01,
            ..OptimizerConfig::default()
        },
        seed: 2,
        ..TrainConfig::default()
    };
    (Mlp::new(&spec, 4).unwrap(), data(600, 16), config)
}

/// Four layers of typical tabular widths, in full batches of 600 rows: the wide fused
/// kernel's chunks of 32 rows, about 21,000 loop iterations a step.
fn wide() -> (Mlp, Dataset, TrainConfig) {
    let spec = MlpSpec::new(24)
        .hidden(40, Activation::Tanh)
        .hidden(48, Activation::Relu)
        .hidden(20, Activation::Sigmoid);
    let (_, _, config) = deep();
    (Mlp::new(&spec, 4).unwrap(), data(600, 24), config)
}

/// A network for the small kernel generated per network (217 parameters), in batches of 4
/// rows: at most 136 loop iterations a step by its count, so 1,800 steps take several
/// dispatches under Mesa 22's budget. (Its loops never ran out of the budget on Mesa 22.3.6:
/// 1,024 of these steps in one dispatch trained as the reference does, so the two tests
/// below that provoke a cut-short loop take the other two kernels.)
fn unrolled() -> (Mlp, Dataset, TrainConfig) {
    let spec = MlpSpec::new(16).hidden(12, Activation::Tanh);
    let (_, _, config) = deep();
    let config = TrainConfig {
        batch_size: 4,
        ..config
    };
    (Mlp::new(&spec, 4).unwrap(), data(600, 16), config)
}

/// Each fused kernel's network, by the kernel's name.
fn all_fused() -> [(&'static str, (Mlp, Dataset, TrainConfig)); 3] {
    [
        ("small", deep()),
        ("unrolled", unrolled()),
        ("wide", wide()),
    ]
}

/// The kernels whose loops a driver's budget has been seen to cut short.
fn both() -> [(&'static str, (Mlp, Dataset, TrainConfig)); 2] {
    [("small", deep()), ("wide", wide())]
}

#[test]
fn the_loop_budget_is_measured_and_every_fused_dispatch_fits_it() {
    let budget = gpumlp::kernels::probe::loop_budget(gpu()).unwrap();
    crate::common::report(&format!("loop budget of this driver: {budget:?}"));
    if let Some(b) = budget {
        assert!(
            b >= 1000,
            "a budget of {b} iterations is too small to train with"
        );
    }
    for (name, (model, data, config)) in all_fused() {
        let mut trainer = Trainer::new(gpu(), &model, &data, &config).unwrap();
        assert!(trainer.is_fused(), "{name}: runs fused");
        let kind = gpumlp::kernels::fused::kind(gpu(), &model).unwrap();
        let cost = gpumlp::kernels::fused::loop_iterations(kind, &model, config.batch_size);
        if let Some(b) = budget {
            let most = (b - cost.setup) / cost.per_step;
            assert!(
                trainer.steps_per_submission() as u64 <= most,
                "{name}: {} steps a dispatch, {most} fit the budget",
                trainer.steps_per_submission()
            );
        }
        let lrs = vec![0.01; config.epochs];
        let losses = trainer.run_epochs(&lrs).expect("no loop was cut short");
        let mut want = model.clone();
        let reference = cpu::fit(&mut want, &data, &config).unwrap();
        let got = trainer.model().unwrap();
        let (p, l) = (TRAINED_PARAMS, EPOCH_LOSSES);
        let what = format!("{name} ({kind:?}) fused");
        assert_close(
            &format!("{what}: parameters"),
            got.params(),
            want.params(),
            p.atol,
            p.rtol,
        );
        assert_close(
            &format!("{what}: losses"),
            &losses,
            &reference.epoch_losses,
            l.atol,
            l.rtol,
        );
    }
}

#[test]
fn a_smaller_budget_means_fewer_steps_a_dispatch_and_the_same_bits() {
    for (name, (model, data, config)) in both() {
        let kind = gpumlp::kernels::fused::kind(gpu(), &model).unwrap();
        let cost = gpumlp::kernels::fused::loop_iterations(kind, &model, 100);
        let config = TrainConfig {
            batch_size: 100,
            ..config
        };
        let run = |gpu: &Gpu| {
            let mut t = Trainer::new(gpu, &model, &data, &config).unwrap();
            assert!(t.is_fused(), "{name}");
            t.run_epochs(&vec![0.01; config.epochs]).unwrap();
            (t.steps_per_submission(), t.model().unwrap())
        };
        let (steps, whole) = run(gpu());
        // Room for exactly one step, then for three.
        for fit in [1, 3] {
            let small = gpu_with(LoopBudget::Iterations(cost.setup + fit * cost.per_step));
            let (small_steps, model) = run(&small);
            assert_eq!(
                small_steps as u64, fit,
                "{name}: steps a dispatch under the budget"
            );
            assert!(
                steps > small_steps,
                "{name}: {steps} steps a dispatch without the cap"
            );
            assert_bits(
                &format!("{name}: parameters"),
                model.params(),
                whole.params(),
            );
        }
        // No room for one step: one dispatch per op instead.
        let tiny = gpu_with(LoopBudget::Iterations(cost.per_step / 2));
        let t = Trainer::new(&tiny, &model, &data, &config).unwrap();
        assert!(
            !t.is_fused(),
            "{name}: a step that exceeds the budget is not fused"
        );
    }
}

#[test]
fn a_driver_that_cuts_loops_short_is_caught_never_trained_through() {
    // Take the driver to have no budget: on a driver that has one, long fused dispatches then
    // run out of it, and the kernel's canary must say so.
    let measured = gpumlp::kernels::probe::loop_budget(gpu()).unwrap();
    let unlimited = gpu_with(LoopBudget::Unlimited);
    for (name, (model, data, config)) in both() {
        let mut trainer = Trainer::new(&unlimited, &model, &data, &config).unwrap();
        assert!(trainer.is_fused(), "{name}");
        let before = trainer.model().unwrap();
        let result = trainer.run_epochs(&vec![0.01; config.epochs]);
        match measured {
            Some(budget) => {
                let err = result.expect_err("a dispatch past the loop budget must fail");
                assert!(
                    matches!(
                        err,
                        Error::DriverFault {
                            kernel: "fused_steps",
                            ..
                        }
                    ),
                    "{name}: {err}"
                );
                assert!(err.to_string().contains("loop"), "{err}");
                assert_bits(
                    &format!("{name}: the weights from before the chunk are kept"),
                    trainer.model().unwrap().params(),
                    before.params(),
                );
                crate::common::report(&format!("{name}: budget {budget}: caught: {err}"));
            }
            None => {
                result.expect("a driver with no loop budget runs long dispatches");
            }
        }
    }
}

#[test]
fn one_dispatch_per_op_refuses_loops_past_the_budget() {
    let small = gpu_with(LoopBudget::Iterations(1000));
    let spec = MlpSpec::new(20).hidden(32, Activation::Relu);
    let model = Mlp::new(&spec, 1).unwrap();
    let data = data(900, 20);
    let config = TrainConfig {
        batch_size: 800,
        allow_fused: false,
        ..TrainConfig::default()
    };
    let err = Trainer::new(&small, &model, &data, &config)
        .err()
        .expect("a batch of 800 rows needs loops of 1664 iterations");
    let text = err.to_string();
    assert!(matches!(err, Error::Limit { .. }), "{text}");
    assert!(
        text.contains("loop iterations") && text.contains("batch size of at most 468"),
        "{text}"
    );
    let ok = TrainConfig {
        batch_size: 400,
        ..config
    };
    Trainer::new(&small, &model, &data, &ok).expect("a batch of 400 fits");
    let err = gpumlp::predict(
        &small,
        &Mlp::new(&MlpSpec::new(600), 1).unwrap(),
        &[0.0; 600],
    )
    .expect_err("a forward product over 600 inputs needs 1264 iterations");
    assert!(err.to_string().contains("600 inputs"), "{err}");
}

#[test]
fn the_self_check_passes_on_this_adapter() {
    use gpumlp::check::Outcome;
    let report = gpumlp::check::run(gpu());
    for item in &report.items {
        crate::common::report(&format!(
            "{:<28} {:>10} {:?} {}",
            item.name,
            item.worst_error.map_or("-".into(), |e| format!("{e:.2e}")),
            item.outcome,
            item.note
        ));
    }
    assert!(report.passed(), "{} items failed", report.failures());
    // Only what training may never take here is skipped, saying why; the rest ran and passed,
    // each with its comparison (the probe measures instead).
    for item in &report.items {
        match item.outcome {
            Outcome::Passed => assert!(
                item.name == "loop budget"
                    || (item.worst_error.is_some() && item.tolerance.is_some()),
                "{} passed without being compared: {}",
                item.name,
                item.note
            ),
            Outcome::Skipped => assert!(
                (item.name.starts_with("matmul ")
                    || item.name == "fused kernel"
                    || item.name.starts_with("train fused "))
                    && !item.note.is_empty(),
                "{} skipped: {}",
                item.name,
                item.note
            ),
            Outcome::Failed => unreachable!("the report passed"),
        }
    }
    let names: Vec<&str> = report.items.iter().map(|i| i.name.as_str()).collect();
    for want in [
        "loop budget",
        "gather",
        "matmul block8",
        "loss softmax_ce",
        "optimizer adamw",
    ] {
        assert!(names.contains(&want), "{want} is checked: {names:?}");
    }
    for loss in ["bce adam", "softmax_ce sgd", "mse adamw"] {
        assert!(
            names.contains(&format!("train per-op {loss}").as_str()),
            "{names:?}"
        );
        assert!(
            names.contains(&format!("train fused {loss}").as_str()),
            "{names:?}"
        );
    }
}
