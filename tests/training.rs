//! Whole training runs: GPU against the CPU reference, learning, and determinism.

mod common;

use common::{assert_close, gpu, report, uniform};
use gpumlp::{cpu, Activation, AdamConfig, Dataset, Mlp, MlpSpec, TrainConfig};

/// Two Gaussian-ish blobs, labelled by the side of a random hyperplane with a margin.
fn separable(seed: u64, rows: usize, features: usize) -> Dataset {
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

/// Parameters and epoch losses of a GPU run against the CPU reference run.
fn compare_runs(what: &str, spec: &MlpSpec, data: &Dataset, config: &TrainConfig) {
    let start = Mlp::new(spec, 11).unwrap();
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
        adam: AdamConfig {
            lr: 0.01,
            weight_decay: 0.01,
            ..AdamConfig::default()
        },
        seed: 3,
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
        adam: AdamConfig {
            lr: 0.01,
            ..AdamConfig::default()
        },
        seed: 4,
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
fn gpu_predictions_match_reference() {
    let spec = MlpSpec::new(6).hidden(9, Activation::Relu);
    let model = Mlp::new(&spec, 8).unwrap();
    // More rows than one prediction chunk, and not a multiple of it.
    let x = uniform(9, 5000 * 6, -2.0, 2.0);
    let got = gpumlp::predict_proba(gpu(), &model, &x).unwrap();
    let want = cpu::predict_proba(&model, &x).unwrap();
    assert_close("predict_proba", &got, &want, 1e-6, 1e-5);
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
        adam: AdamConfig {
            lr: 0.05,
            ..AdamConfig::default()
        },
        seed: 0,
    };
    let report = gpumlp::fit(gpu(), &mut model, &data, &config).unwrap();
    let p = gpumlp::predict_proba(gpu(), &model, &x).unwrap();
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
        adam: AdamConfig {
            lr: 0.01,
            ..AdamConfig::default()
        },
        seed: 1,
    };
    gpumlp::fit(gpu(), &mut model, &data, &config).unwrap();
    let p = gpumlp::predict_proba(gpu(), &model, data.x()).unwrap();
    let acc = accuracy(&p, data.y());
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
        adam: AdamConfig {
            lr: 0.05,
            ..AdamConfig::default()
        },
        seed: 0,
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
