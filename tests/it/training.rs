//! Whole training runs: GPU against the CPU reference, learning, and determinism.

use crate::common::{assert_close, gpu, report, uniform};
use gpumlp::train::StopMetric;
use gpumlp::{
    cpu, Activation, Dataset, Loss, Mlp, MlpSpec, OptimizerConfig, OptimizerKind, Schedule,
    TrainConfig,
};

/// Two Gaussian-ish blobs, labelled by the side of a random hyperplane with a margin.
pub(crate) fn separable(seed: u64, rows: usize, features: usize) -> Dataset {
    let normal = uniform(seed, features, -1.0, 1.0);
    let mut x = Vec::with_capacity(rows * features);
    let mut y = Vec::with_capacity(rows);
    let candidates = uniform(seed + 1, rows * features * 4, -3.0, 3.0);
    for row in candidates.chunks(features) {
        if y.len() == rows {
            break;
        }
        let side: f32 = row.iter().zip(&normal).map(|(a, b)| a * b).sum();
        if side.abs() < 0.5 {
            continue; // keep a margin
        }
        x.extend_from_slice(row);
        y.push(if side > 0.0 { 1.0 } else { 0.0 });
    }
    assert_eq!(y.len(), rows, "enough candidates");
    Dataset::new(x, y, features).unwrap()
}

fn accuracy(p: &[f32], y: &[f32]) -> f32 {
    let right = p
        .iter()
        .zip(y)
        .filter(|(p, y)| (**p >= 0.5) == (**y >= 0.5))
        .count();
    right as f32 / y.len() as f32
}

/// Parameters and epoch losses of GPU runs against the CPU reference run: one dispatch per
/// op, and (for networks small enough) the fused kernel.
fn compare_runs(what: &str, spec: &MlpSpec, data: &Dataset, config: &TrainConfig) {
    let start = Mlp::new(spec, 11).unwrap();
    for allow_fused in [false, true] {
        let config = TrainConfig {
            allow_fused,
            ..config.clone()
        };
        let fused = gpumlp::Trainer::new(gpu(), &start, data, &config)
            .unwrap()
            .is_fused();
        // The fused path is taken whenever the network is small enough, the device can run
        // the kernel and a step fits the driver's loop budget; never skipped unseen.
        let budget = gpumlp::kernels::probe::loop_budget(gpu()).unwrap();
        let batch = config.batch_size.min(data.rows());
        let kind = gpumlp::kernels::fused::kind(gpu(), &start);
        let can_fuse = kind.is_some_and(|kind| {
            let cost = gpumlp::kernels::fused::loop_iterations(kind, &start, batch);
            gpumlp::kernels::fused::steps_within(budget, cost).is_some()
        });
        assert_eq!(fused, allow_fused && can_fuse, "{what}: fused path taken");
        if allow_fused && !fused {
            crate::common::report(&format!("{what}: too large for the fused kernel"));
            continue;
        }
        let what = match (fused, kind) {
            (true, Some(kind)) => format!("{what} (fused, {kind:?})"),
            _ => what.to_string(),
        };
        compare_run(&what, &start, data, &config);
    }
}

fn compare_run(what: &str, start: &Mlp, data: &Dataset, config: &TrainConfig) {
    let mut on_gpu = start.clone();
    let mut on_cpu = start.clone();
    let g = gpumlp::fit(gpu(), &mut on_gpu, data, config).unwrap();
    let c = cpu::fit(&mut on_cpu, data, config).unwrap();
    // Rounding differences (exp, tanh, FMA contraction) compound over the steps: loose
    // enough for a real GPU, tight enough that any wrong op fails.
    let p = assert_close(
        &format!("{what}: parameters"),
        on_gpu.params(),
        on_cpu.params(),
        1e-4,
        1e-3,
    );
    let l = assert_close(
        &format!("{what}: epoch losses"),
        &g.epoch_losses,
        &c.epoch_losses,
        1e-5,
        1e-4,
    );
    report(&format!(
        "{what}: largest |gpu - cpu| parameter {p:e}, epoch loss {l:e}"
    ));
    assert_ne!(
        on_gpu.params(),
        start.params(),
        "{what}: training changed the weights"
    );
}

#[test]
fn gpu_training_matches_reference() {
    // Two hidden layers, mixed activations, a partial last batch: 3 steps × 10 epochs.
    let spec = MlpSpec::new(5)
        .hidden(16, Activation::Tanh)
        .hidden(12, Activation::Relu);
    let data = separable(1, 64, 5);
    let config = TrainConfig {
        epochs: 10,
        batch_size: 24,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::AdamW,
            lr: 0.01,
            weight_decay: 0.01,
            ..OptimizerConfig::default()
        },
        seed: 3,
        ..TrainConfig::default()
    };
    compare_runs("5-16-12-1 tanh/relu", &spec, &data, &config);
}

#[test]
fn gpu_training_matches_reference_over_many_submissions() {
    // 8 steps per epoch (batch 1) for 600 epochs: 4800 steps, many submissions of 256 steps
    // and two readback chunks.
    let spec = MlpSpec::new(3).hidden(2, Activation::Sigmoid);
    let data = separable(2, 8, 3);
    let config = TrainConfig {
        epochs: 600,
        batch_size: 1,
        optimizer: OptimizerConfig {
            lr: 0.01,
            ..OptimizerConfig::default()
        },
        seed: 4,
        ..TrainConfig::default()
    };
    compare_runs("3-2-1 sigmoid, batch 1", &spec, &data, &config);
}

#[test]
fn gpu_training_matches_reference_sigmoid_wide() {
    // Layers wider than a matmul tile, a batch not a multiple of anything.
    let spec = MlpSpec::new(37)
        .hidden(70, Activation::Sigmoid)
        .hidden(33, Activation::Tanh);
    let data = separable(3, 300, 37);
    let config = TrainConfig {
        epochs: 4,
        batch_size: 97,
        seed: 5,
        ..TrainConfig::default()
    };
    compare_runs("37-70-33-1 sigmoid/tanh", &spec, &data, &config);
}

#[test]
fn four_layer_network_matches_reference_on_both_paths() {
    // The fused kernel's most: four layers (widths[1] and seg_*[1].zw in fused.wgsl), every
    // width up to 16, softmax over three classes, weighted rows, a partial last batch.
    let spec = MlpSpec::new(16)
        .hidden(16, Activation::Tanh)
        .hidden(12, Activation::Relu)
        .hidden(15, Activation::Sigmoid)
        .output(3, Loss::SoftmaxCe);
    let data = clustered(8, 150, 16, 3, true);
    let config = TrainConfig {
        epochs: 6,
        batch_size: 40,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::AdamW,
            lr: 0.01,
            weight_decay: 0.01,
            ..OptimizerConfig::default()
        },
        seed: 6,
        ..TrainConfig::default()
    };
    let start = Mlp::new(&spec, 11).unwrap();
    assert!(
        gpumlp::Trainer::new(gpu(), &start, &data, &config)
            .unwrap()
            .is_fused(),
        "four layers of at most 16 run fused"
    );
    compare_runs("16-16-12-15-3 softmax, AdamW", &spec, &data, &config);
}

#[test]
fn gpu_predictions_match_reference() {
    let spec = MlpSpec::new(6).hidden(9, Activation::Relu);
    let model = Mlp::new(&spec, 8).unwrap();
    // More rows than one prediction chunk, and not a multiple of it.
    let x = uniform(9, 5000 * 6, -2.0, 2.0);
    let got = gpumlp::predict(gpu(), &model, &x).unwrap();
    let want = cpu::predict(&model, &x).unwrap();
    assert_close("predict", &got, &want, 1e-6, 1e-5);
}

#[test]
fn xor_is_learned() {
    let x = vec![0., 0., 0., 1., 1., 0., 1., 1.];
    let y = vec![0., 1., 1., 0.];
    let data = Dataset::new(x.clone(), y.clone(), 2).unwrap();
    let spec = MlpSpec::new(2).hidden(8, Activation::Tanh);
    let mut model = Mlp::new(&spec, 1).unwrap();
    let config = TrainConfig {
        epochs: 500,
        batch_size: 4,
        optimizer: OptimizerConfig {
            lr: 0.05,
            ..OptimizerConfig::default()
        },
        seed: 0,
        ..TrainConfig::default()
    };
    let report = gpumlp::fit(gpu(), &mut model, &data, &config).unwrap();
    let p = gpumlp::predict(gpu(), &model, &x).unwrap();
    assert!(accuracy(&p, &y) >= 0.99, "XOR: p = {p:?}");
    assert!(
        *report.epoch_losses.last().unwrap() < 0.05,
        "{:?}",
        report.epoch_losses.last()
    );
}

#[test]
fn separable_set_is_learned() {
    let data = separable(4, 500, 10);
    let spec = MlpSpec::new(10).hidden(16, Activation::Relu);
    let mut model = Mlp::new(&spec, 2).unwrap();
    let config = TrainConfig {
        epochs: 30,
        batch_size: 32,
        optimizer: OptimizerConfig {
            lr: 0.01,
            ..OptimizerConfig::default()
        },
        seed: 1,
        ..TrainConfig::default()
    };
    gpumlp::fit(gpu(), &mut model, &data, &config).unwrap();
    let p = gpumlp::predict(gpu(), &model, data.x()).unwrap();
    let labels: Vec<f32> = (0..data.rows()).map(|r| data.target(r, 0)).collect();
    let acc = accuracy(&p, &labels);
    assert!(acc >= 0.99, "training accuracy {acc}");
}

#[test]
fn network_3_2_1_loss_falls() {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for bits in 0..8u32 {
        x.extend((0..3).map(|i| ((bits >> i) & 1) as f32));
        y.push(if bits.count_ones() >= 2 { 1.0 } else { 0.0 });
    }
    let data = Dataset::new(x, y, 3).unwrap();
    let spec = MlpSpec::new(3).hidden(2, Activation::Sigmoid);
    let mut model = Mlp::new(&spec, 7).unwrap();
    let config = TrainConfig {
        epochs: 300,
        batch_size: 8,
        optimizer: OptimizerConfig {
            lr: 0.05,
            ..OptimizerConfig::default()
        },
        seed: 0,
        ..TrainConfig::default()
    };
    let losses = gpumlp::fit(gpu(), &mut model, &data, &config)
        .unwrap()
        .epoch_losses;
    assert!(
        losses[299] < 0.5 * losses[0],
        "loss {} -> {}",
        losses[0],
        losses[299]
    );
    assert!(
        losses.windows(50).all(|w| w[49] < w[0]),
        "loss falls over every 50 epochs"
    );
}

#[test]
fn same_seed_same_bits_other_seed_other_weights() {
    let data = separable(5, 100, 4);
    let spec = MlpSpec::new(4)
        .hidden(8, Activation::Relu)
        .hidden(8, Activation::Sigmoid);
    let config = TrainConfig {
        epochs: 5,
        batch_size: 16,
        seed: 9,
        ..TrainConfig::default()
    };
    let run = |model_seed: u64| {
        let mut model = Mlp::new(&spec, model_seed).unwrap();
        let report = gpumlp::fit(gpu(), &mut model, &data, &config).unwrap();
        (model, report)
    };
    let (a, ra) = run(21);
    let (b, rb) = run(21);
    let bits = |m: &Mlp| m.params().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b), "same seed: identical weights");
    let loss_bits = |r: &gpumlp::FitReport| {
        r.epoch_losses
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        loss_bits(&ra),
        loss_bits(&rb),
        "same seed: identical losses"
    );
    let (c, _) = run(22);
    assert_ne!(bits(&a), bits(&c), "another seed: other weights");
    assert_ne!(
        Mlp::new(&spec, 21).unwrap().params(),
        Mlp::new(&spec, 22).unwrap().params()
    );
}

/// `rows` rows of `features` features with `classes` one-hot labels (the nearest of `classes`
/// random centres) and, when `weighted`, a weight per class.
pub(crate) fn clustered(
    seed: u64,
    rows: usize,
    features: usize,
    classes: usize,
    weighted: bool,
) -> Dataset {
    let centres = uniform(seed, classes * features, -2.0, 2.0);
    let x = uniform(seed + 1, rows * features, -3.0, 3.0);
    let mut y = vec![0.0; rows * classes];
    let mut w = Vec::with_capacity(rows);
    for (r, row) in x.chunks(features).enumerate() {
        let dist = |c: usize| -> f32 {
            let centre = &centres[c * features..(c + 1) * features];
            row.iter().zip(centre).map(|(a, b)| (a - b) * (a - b)).sum()
        };
        let best = (0..classes)
            .min_by(|&a, &b| dist(a).total_cmp(&dist(b)))
            .unwrap();
        y[r * classes + best] = 1.0;
        w.push(if weighted { 0.5 + best as f32 } else { 1.0 });
    }
    Dataset::with_targets(x, y, features, classes, Some(w)).unwrap()
}

#[test]
fn gpu_training_matches_reference_softmax_sgd_cosine_class_weights() {
    let spec = MlpSpec::new(7)
        .hidden(19, Activation::Relu)
        .output(5, Loss::SoftmaxCe);
    let data = clustered(20, 150, 7, 5, true);
    let config = TrainConfig {
        epochs: 12,
        batch_size: 32,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::Sgd,
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 1e-3,
            ..OptimizerConfig::default()
        },
        schedule: Schedule::Cosine { min_lr: 0.001 },
        seed: 6,
        ..TrainConfig::default()
    };
    compare_runs(
        "7-19-5 softmax, SGD, cosine, weights",
        &spec,
        &data,
        &config,
    );
}

#[test]
fn gpu_training_matches_reference_regression_adam_l2_step_schedule() {
    let spec = MlpSpec::new(6)
        .hidden(10, Activation::Tanh)
        .output(2, Loss::Mse);
    let x = uniform(30, 90 * 6, -1.0, 1.0);
    let y: Vec<f32> = x
        .chunks(6)
        .flat_map(|r| [r[0] * 2.0 - r[1] + 0.5, r[2] * r[3]])
        .collect();
    let data = Dataset::with_targets(x, y, 6, 2, None).unwrap();
    let config = TrainConfig {
        epochs: 15,
        batch_size: 20,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::Adam,
            lr: 0.01,
            weight_decay: 0.01,
            ..OptimizerConfig::default()
        },
        schedule: Schedule::Step {
            every: 5,
            gamma: 0.5,
        },
        seed: 7,
        ..TrainConfig::default()
    };
    compare_runs("6-10-2 mse, Adam+L2, step", &spec, &data, &config);
}

#[test]
fn early_stopping_and_plateau_agree_with_reference_and_keep_the_best_weights() {
    let spec = MlpSpec::new(5)
        .hidden(32, Activation::Relu)
        .output(3, Loss::SoftmaxCe);
    // Few, noisy training rows: validation loss turns up while training loss falls.
    let all = clustered(40, 240, 5, 3, false);
    let part = |rows: std::ops::Range<usize>| {
        let x = all.x()[rows.start * 5..rows.end * 5].to_vec();
        let y: Vec<f32> = rows
            .flat_map(|r| (0..3).map(move |c| (r, c)))
            .map(|(r, c)| all.target(r, c))
            .collect();
        Dataset::with_targets(x, y, 5, 3, None).unwrap()
    };
    let (train, val) = (part(0..40), part(40..240));
    let config = TrainConfig {
        epochs: 400,
        batch_size: 8,
        optimizer: OptimizerConfig {
            lr: 0.003,
            ..OptimizerConfig::default()
        },
        schedule: Schedule::Plateau {
            factor: 0.5,
            patience: 3,
            min_lr: 1e-4,
        },
        patience: Some(15),
        min_delta: 1e-4,
        seed: 8,
        early_stopping_metric: StopMetric::Loss,
        allow_fused: true,
    };
    let start = Mlp::new(&spec, 12).unwrap();
    let mut seen = Vec::new();
    let mut gpu_trainer = gpumlp::Trainer::new(gpu(), &start, &train, &config).unwrap();
    let g = gpumlp::train::fit::fit_with(&mut gpu_trainer, &config, 40, Some(&val), &mut |e| {
        seen.push((e.epoch, e.val_logits.map(|l| l.len())))
    })
    .unwrap();
    let mut cpu_trainer = cpu::CpuTrainer::new(&start, &train, &config).unwrap();
    let c = gpumlp::train::fit::fit_with(&mut cpu_trainer, &config, 40, Some(&val), &mut |_| {})
        .unwrap();
    report(&format!(
        "early stopping: gpu best epoch {:?} of {} run, cpu {:?} of {}; lr {} -> {}",
        g.best_epoch,
        g.epoch_losses.len(),
        c.best_epoch,
        c.epoch_losses.len(),
        g.lrs[0],
        g.lrs.last().unwrap()
    ));
    assert!(
        g.stopped_early,
        "validation loss must turn up in this setup"
    );
    assert!(
        g.best_epoch.unwrap() > 5,
        "the best epoch is not the first few"
    );
    assert_eq!(g.best_epoch, c.best_epoch);
    assert_eq!(g.epoch_losses.len(), c.epoch_losses.len());
    assert_eq!(g.epoch_losses.len(), g.best_epoch.unwrap() + 15);
    assert!(
        g.lrs.last().unwrap() < &g.lrs[0],
        "plateau lowered the rate"
    );
    assert_eq!(seen.len(), g.epoch_losses.len());
    assert!(seen.iter().all(|(_, n)| *n == Some(200 * 3)));
    assert_close("val losses", &g.val_losses, &c.val_losses, 1e-5, 1e-4);
    // The weights are the best epoch's: their validation loss is the smallest seen.
    let model = gpu_trainer.model().unwrap();
    let logits = gpumlp::logits(gpu(), &model, val.x()).unwrap();
    let best = gpumlp::kernels::loss::reference::batch_loss(
        Loss::SoftmaxCe,
        &logits,
        val.targets(),
        200,
        3,
        200,
    );
    let min = g.val_losses.iter().cloned().fold(f32::INFINITY, f32::min);
    assert!(
        (best - min).abs() <= 1e-6,
        "restored loss {best}, best seen {min}"
    );
    assert_close(
        "restored weights",
        model.params(),
        cpu_trainer.model().params(),
        1e-4,
        1e-3,
    );
}

#[test]
fn gpu_training_matches_reference_small_softmax_sgd_fused() {
    // Small enough for the fused kernel: three layers, every width ≤ 16, class weights.
    let spec = MlpSpec::new(6)
        .hidden(12, Activation::Tanh)
        .hidden(8, Activation::Relu)
        .output(4, Loss::SoftmaxCe);
    // Batches of 100 and a last one of 50: threads take several rows each.
    let data = clustered(50, 250, 6, 4, true);
    let config = TrainConfig {
        epochs: 10,
        batch_size: 100,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::Sgd,
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 1e-3,
            ..OptimizerConfig::default()
        },
        schedule: Schedule::Cosine { min_lr: 0.001 },
        seed: 9,
        ..TrainConfig::default()
    };
    let fused = gpumlp::Trainer::new(gpu(), &Mlp::new(&spec, 11).unwrap(), &data, &config)
        .unwrap()
        .is_fused();
    assert!(fused, "a 6-12-8-4 network runs fused");
    compare_runs("6-12-8-4 softmax, SGD, weights", &spec, &data, &config);
}

#[test]
fn unrolled_kernel_matches_reference_on_awkward_shapes() {
    // The small kernel generated for each network (one row a lane, 8 lanes on lavapipe):
    // width 1, a batch of one row, batches smaller than the lanes and not a multiple of them,
    // a large batch, every loss and optimiser, weighted rows, 2 to 4 layers.
    let sgd = OptimizerConfig {
        kind: OptimizerKind::Sgd,
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 1e-3,
        ..OptimizerConfig::default()
    };
    let adamw = OptimizerConfig {
        kind: OptimizerKind::AdamW,
        lr: 0.01,
        weight_decay: 0.01,
        ..OptimizerConfig::default()
    };
    let regression = {
        let x = uniform(61, 1100 * 4, -2.0, 2.0);
        let y: Vec<f32> = x
            .chunks(4)
            .flat_map(|r| [r[0] * r[1] - r[2], r[3].sin() + 0.5 * r[0]])
            .collect();
        Dataset::with_targets(x, y, 4, 2, None).unwrap()
    };
    let cases = [
        (
            "1-1-1, batch 1",
            MlpSpec::new(1).hidden(1, Activation::Sigmoid),
            {
                let x = uniform(60, 7, -2.0, 2.0);
                let y = x.iter().map(|&v| f32::from(v > 0.3)).collect();
                Dataset::new(x, y, 1).unwrap()
            },
            1,
            OptimizerConfig::default(),
        ),
        (
            "3-2-1, batch 5",
            MlpSpec::new(3).hidden(2, Activation::Tanh),
            separable(62, 23, 3),
            5,
            OptimizerConfig::default(),
        ),
        (
            "5-7-3 softmax, batch 13, SGD",
            MlpSpec::new(5)
                .hidden(7, Activation::Relu)
                .output(3, Loss::SoftmaxCe),
            clustered(63, 61, 5, 3, true),
            13,
            sgd,
        ),
        (
            "4-16-3-11-2 MSE, batch 1000, AdamW",
            MlpSpec::new(4)
                .hidden(16, Activation::Sigmoid)
                .hidden(3, Activation::Relu)
                .hidden(11, Activation::Tanh)
                .output(2, Loss::Mse),
            regression,
            1000,
            adamw,
        ),
    ];
    for (what, spec, data, batch_size, optimizer) in cases {
        let config = TrainConfig {
            epochs: 4,
            batch_size,
            optimizer,
            seed: 7,
            ..TrainConfig::default()
        };
        let start = Mlp::new(&spec, 11).unwrap();
        let trainer = gpumlp::Trainer::new(gpu(), &start, &data, &config).unwrap();
        assert_eq!(trainer.path(), "fused unrolled", "{what}");
        compare_runs(what, &spec, &data, &config);
    }
}

/// Runs one epoch per call at `lr` until one diverges; returns the weights from before that
/// call (one epoch, one chunk of steps), the weights kept after it, and the error.
fn diverge(
    run_epoch: &mut dyn FnMut() -> gpumlp::Result<Vec<f32>>,
    weights: &mut dyn FnMut() -> Vec<f32>,
) -> (Vec<f32>, Vec<f32>, gpumlp::Error) {
    for _ in 0..40 {
        let before = weights();
        if let Err(e) = run_epoch() {
            return (before, weights(), e);
        }
    }
    panic!("40 epochs at a huge rate and no divergence");
}

#[test]
fn divergence_stops_with_epoch_and_step_and_keeps_the_last_good_weights() {
    // Targets in the thousands and SGD with a huge rate: the loss overflows within a few steps.
    let spec = MlpSpec::new(4)
        .hidden(8, Activation::Tanh)
        .output(1, Loss::Mse);
    let x = uniform(60, 64 * 4, -1.0, 1.0);
    let y: Vec<f32> = x.chunks(4).map(|r| 1e3 * (r[0] + r[1])).collect();
    let data = Dataset::with_targets(x, y, 4, 1, None).unwrap();
    let start = Mlp::new(&spec, 3).unwrap();
    let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for allow_fused in [false, true] {
        let config = TrainConfig {
            batch_size: 16,
            optimizer: OptimizerConfig {
                kind: OptimizerKind::Sgd,
                lr: 50.0,
                ..OptimizerConfig::default()
            },
            allow_fused,
            ..TrainConfig::default()
        };
        // Two sound epochs first, so the weights before the failing chunk are not the start.
        let mut trainer = gpumlp::Trainer::new(gpu(), &start, &data, &config).unwrap();
        trainer.run_epochs(&[1e-5; 2]).unwrap();
        let trainer = std::cell::RefCell::new(trainer);
        let (before, kept, err) = diverge(
            &mut || trainer.borrow_mut().run_epochs(&[50.0]),
            &mut || trainer.borrow().model().unwrap().params().to_vec(),
        );
        let gpumlp::Error::Diverged { epoch, step, loss } = err else {
            panic!("expected a divergence error, got {err}");
        };
        assert!(!loss.is_finite() && epoch > 2 && (1..=4).contains(&step));
        assert!(err.to_string().contains("learning rate"), "{err}");
        assert_ne!(
            bits(&before),
            bits(start.params()),
            "the sound epochs moved"
        );
        assert_eq!(
            bits(&kept),
            bits(&before),
            "the kept weights are those from before the chunk that diverged"
        );
        let fused = trainer.borrow().is_fused();
        report(&format!(
            "divergence (fused {fused}): epoch {epoch}, step {step}, loss {loss}"
        ));

        // The reference puts back the weights from when the call began.
        let mut reference = cpu::CpuTrainer::new(&start, &data, &config).unwrap();
        reference.run_epochs(&[1e-5; 2]).unwrap();
        let reference = std::cell::RefCell::new(reference);
        let (before, kept, err) = diverge(
            &mut || reference.borrow_mut().run_epochs(&[50.0]),
            &mut || reference.borrow().model().params().to_vec(),
        );
        assert!(matches!(err, gpumlp::Error::Diverged { .. }), "{err}");
        assert_ne!(bits(&before), bits(start.params()));
        assert_eq!(bits(&kept), bits(&before), "the reference keeps the same");
    }
}

#[test]
fn wide_fused_kernel_matches_reference_on_awkward_shapes() {
    // Widths just past the small kernel's 16, past one workgroup's 64 columns, at the wide
    // kernel's 128; one input; a batch of 1, and batches that leave a partial chunk.
    let cases: [(&str, MlpSpec, Dataset, usize); 4] = [
        (
            "1-65-17-1 relu/tanh, batch 33",
            MlpSpec::new(1)
                .hidden(65, Activation::Relu)
                .hidden(17, Activation::Tanh),
            separable(7, 100, 1),
            33,
        ),
        (
            "9-128-3 softmax, batch 50",
            MlpSpec::new(9)
                .hidden(128, Activation::Sigmoid)
                .output(3, Loss::SoftmaxCe),
            clustered(8, 120, 9, 3, true),
            50,
        ),
        (
            "20-17-1 tanh, batch 1",
            MlpSpec::new(20).hidden(17, Activation::Tanh),
            separable(9, 12, 20),
            1,
        ),
        (
            "30-64-32-1 relu, batch 64 (README's main job)",
            MlpSpec::new(30)
                .hidden(64, Activation::Relu)
                .hidden(32, Activation::Relu),
            separable(10, 200, 30),
            64,
        ),
    ];
    for (what, spec, data, batch) in cases {
        let start = Mlp::new(&spec, 11).unwrap();
        assert_eq!(
            gpumlp::kernels::fused::kind(gpu(), &start),
            Some(gpumlp::kernels::fused::Kind::Wide),
            "{what}: the wide kernel takes it"
        );
        let config = TrainConfig {
            epochs: 5,
            batch_size: batch,
            optimizer: OptimizerConfig {
                kind: OptimizerKind::AdamW,
                lr: 0.01,
                weight_decay: 0.01,
                ..OptimizerConfig::default()
            },
            seed: 6,
            ..TrainConfig::default()
        };
        compare_runs(what, &spec, &data, &config);
    }
}

#[test]
fn wide_kernel_validates_in_its_dispatch_as_the_reference_does() {
    // The validation rows' logits come from the training dispatch (61 rows: two forward-only
    // steps at batch 32, the second a partial chunk), early stopping on them: against the
    // CPU reference, and against a forward pass of the weights.
    let (spec, train, val) = wide_case();
    let config = TrainConfig {
        epochs: 60,
        batch_size: 32,
        optimizer: OptimizerConfig {
            lr: 0.01,
            ..OptimizerConfig::default()
        },
        patience: Some(5),
        min_delta: 1e-4,
        seed: 9,
        early_stopping_metric: StopMetric::Loss,
        ..TrainConfig::default()
    };
    let start = Mlp::new(&spec, 13).unwrap();
    let mut trainer =
        gpumlp::Trainer::with_validation(gpu(), &start, &train, Some(&val), &config).unwrap();
    assert_eq!(trainer.path(), "fused wide");
    assert!(
        trainer.validates_in_dispatch(),
        "the wide kernel takes the validation rows"
    );
    let mut checked = 0;
    let g = gpumlp::train::fit::fit_with(&mut trainer, &config, 150, Some(&val), &mut |e| {
        if let Some(logits) = e.val_logits {
            assert_eq!(logits.len(), 61 * 3);
            checked += 1;
        }
    })
    .unwrap();
    let mut cpu_trainer = cpu::CpuTrainer::new(&start, &train, &config).unwrap();
    let c = gpumlp::train::fit::fit_with(&mut cpu_trainer, &config, 150, Some(&val), &mut |_| {})
        .unwrap();
    assert_eq!(checked, g.epoch_losses.len());
    assert_close("epoch losses", &g.epoch_losses, &c.epoch_losses, 1e-5, 1e-4);
    assert_close("val losses", &g.val_losses, &c.val_losses, 1e-5, 1e-4);
    assert_eq!(g.best_epoch, c.best_epoch, "the same best epoch");
    // The weights kept are the best epoch's; their logits now come from a forward pass,
    // and their loss is the best the dispatch reported.
    let model = trainer.model().unwrap();
    let after = trainer.logits(val.x()).unwrap();
    let forward = gpumlp::logits(gpu(), &model, val.x()).unwrap();
    assert_close(
        "logits after restoring the best",
        &after,
        &forward,
        1e-6,
        1e-5,
    );
    let best = gpumlp::kernels::loss::reference::batch_loss(
        Loss::SoftmaxCe,
        &forward,
        val.targets(),
        61,
        3,
        61,
    );
    let min = g.val_losses.iter().cloned().fold(f32::INFINITY, f32::min);
    assert!(
        (best - min).abs() <= 1e-5,
        "restored loss {best}, best seen {min}"
    );
}

/// A 9-40-17-3 softmax network (the wide fused kernel) on 150 training and 61 validation rows.
fn wide_case() -> (MlpSpec, Dataset, Dataset) {
    let spec = MlpSpec::new(9)
        .hidden(40, Activation::Relu)
        .hidden(17, Activation::Tanh)
        .output(3, Loss::SoftmaxCe);
    let all = clustered(31, 211, 9, 3, false);
    let part = |rows: std::ops::Range<usize>| {
        let x = all.x()[rows.start * 9..rows.end * 9].to_vec();
        let y: Vec<f32> = rows
            .flat_map(|r| (0..3).map(move |c| (r, c)))
            .map(|(r, c)| all.target(r, c))
            .collect();
        Dataset::with_targets(x, y, 9, 3, None).unwrap()
    };
    (spec, part(0..150), part(150..211))
}

#[test]
fn epochs_run_ahead_of_the_epoch_loop_end_as_one_epoch_a_call_does() {
    // The wide kernel runs several epochs a call, each ending with its validation logits and
    // a snapshot of its weights. Early stopping inside a call, a best epoch inside a call,
    // with validation and on the training loss alone: the same run, bit for bit, as one
    // epoch a call.
    let (spec, train, val) = wide_case();
    let start = Mlp::new(&spec, 13).unwrap();
    let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for validated in [true, false] {
        let config = TrainConfig {
            epochs: 80,
            batch_size: 32,
            optimizer: OptimizerConfig {
                lr: 0.02,
                ..OptimizerConfig::default()
            },
            patience: Some(4),
            min_delta: 1e-3,
            seed: 9,
            early_stopping_metric: StopMetric::Loss,
            ..TrainConfig::default()
        };
        let val = validated.then_some(&val);
        let run = |lookahead: usize| {
            let mut trainer =
                gpumlp::Trainer::with_validation(gpu(), &start, &train, val, &config).unwrap();
            assert!(
                trainer.lookahead_epochs() >= 7,
                "the wide kernel runs ahead"
            );
            trainer.set_lookahead_epochs(lookahead);
            let r =
                gpumlp::train::fit::fit_with(&mut trainer, &config, 150, val, &mut |_| {}).unwrap();
            (r, bits(trainer.model().unwrap().params()))
        };
        let (ahead, ahead_params) = run(7);
        let (one, one_params) = run(1);
        let epochs = ahead.epoch_losses.len();
        let best = ahead.best_epoch.expect("a best epoch");
        report(&format!(
            "run ahead (validation {validated}): stopped after epoch {epochs}, best {best}"
        ));
        assert!(
            ahead.stopped_early && epochs % 7 != 0,
            "stops inside a call"
        );
        assert!(best % 7 != 0, "the best epoch is not the last of its call");
        assert_eq!(bits(&ahead.epoch_losses), bits(&one.epoch_losses));
        assert_eq!(bits(&ahead.val_losses), bits(&one.val_losses));
        assert_eq!(ahead.val_metrics, one.val_metrics);
        assert_eq!(
            (ahead.best_epoch, ahead.stopped_early),
            (one.best_epoch, one.stopped_early)
        );
        let differs = ahead_params
            .iter()
            .zip(&one_params)
            .position(|(a, b)| a != b);
        assert_eq!(differs, None, "the best epoch's weights, bit for bit");
    }
}

/// A 4-24-1 regression (the wide fused kernel) on targets in the thousands, with SGD at a rate
/// of 50: sound at a rate of 1e-5, its loss overflows within an epoch or two at the config's.
pub(crate) fn exploding_wide() -> (MlpSpec, Dataset, TrainConfig) {
    let spec = MlpSpec::new(4)
        .hidden(24, Activation::Tanh)
        .output(1, Loss::Mse);
    let x = uniform(60, 64 * 4, -1.0, 1.0);
    let y: Vec<f32> = x.chunks(4).map(|r| 1e3 * (r[0] + r[1])).collect();
    let data = Dataset::with_targets(x, y, 4, 1, None).unwrap();
    let config = TrainConfig {
        batch_size: 16,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::Sgd,
            lr: 50.0,
            ..OptimizerConfig::default()
        },
        ..TrainConfig::default()
    };
    (spec, data, config)
}

#[test]
fn an_epoch_that_diverges_inside_a_call_that_ran_ahead_is_met_by_the_next_call() {
    // Two sound epochs, then a huge rate: the call that ran ahead returns the sound epochs
    // (the loop may stop at one of them) and the next call fails as one epoch a call does,
    // with the same epoch, step and weights kept.
    let (spec, data, config) = exploding_wide();
    let start = Mlp::new(&spec, 3).unwrap();
    let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let lrs = [1e-5, 1e-5, 50.0, 50.0, 50.0];
    let mut ahead = gpumlp::Trainer::new(gpu(), &start, &data, &config).unwrap();
    assert_eq!(ahead.path(), "fused wide");
    ahead.set_lookahead_epochs(lrs.len());
    assert_eq!(ahead.lookahead_epochs(), lrs.len());
    let sound = ahead.run_epochs(&lrs).unwrap();
    assert!(
        (2..lrs.len()).contains(&sound.len()),
        "{} epochs of 5 returned",
        sound.len()
    );
    let err_ahead = ahead.run_epochs(&lrs[sound.len()..]).unwrap_err();

    let mut one = gpumlp::Trainer::new(gpu(), &start, &data, &config).unwrap();
    one.set_lookahead_epochs(1);
    let mut losses = Vec::new();
    let err_one = loop {
        match one.run_epochs(&lrs[losses.len()..=losses.len()]) {
            Ok(l) => losses.extend(l),
            Err(e) => break e,
        }
    };
    assert_eq!(bits(&sound), bits(&losses), "the sound epochs");
    let (
        gpumlp::Error::Diverged { epoch, step, loss },
        gpumlp::Error::Diverged {
            epoch: e1,
            step: s1,
            loss: l1,
        },
    ) = (&err_ahead, &err_one)
    else {
        panic!("expected divergence errors, got {err_ahead} and {err_one}");
    };
    report(&format!(
        "diverged ahead: epoch {epoch}, step {step}, loss {loss}"
    ));
    assert_eq!((epoch, step), (e1, s1));
    assert_eq!(loss.to_bits(), l1.to_bits());
    let (kept_ahead, kept_one) = (ahead.model().unwrap(), one.model().unwrap());
    let differs = (kept_ahead.params().iter().zip(kept_one.params()))
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(differs, None, "the weights kept, bit for bit");
}
