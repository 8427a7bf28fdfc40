//! gpumlp from Rust, on the GPU: an estimator fitted to rows in memory, its cross-validation
//! and a small search (the front door), then two tiny networks through the low-level `fit`:
//! the 3-2-1 sigmoid network this project grew from (on 3-bit majority) and XOR.
//!
//! cargo run --release --example quickstart

use gpumlp::estimator::SearchOptions;
use gpumlp::{Activation, Dataset, Device, Gpu, Mlp, MlpClassifier, MlpSpec, TrainConfig};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> gpumlp::Result<()> {
    let gpu = Gpu::from_env()?;
    println!("adapter: {}", gpu.describe());
    let device = Device::Gpu(&gpu);

    // Which side of a line a point lies on: fit, predict, cross-validate, search.
    let x: Vec<[f32; 2]> = (0..400)
        .map(|i| [(i % 20) as f32, (i / 20) as f32])
        .collect();
    let y: Vec<&str> = x
        .iter()
        .map(|p| if p[0] > p[1] { "above" } else { "below" })
        .collect();
    let clf = MlpClassifier::new().hidden([16, 8]).epochs(60).seed(1);
    let model = clf.fit(device, &x, &y)?;
    println!(
        "\nclassifier: {:?} for (15, 2) and (1, 9)",
        model.predict(device, &[[15.0, 2.0], [1.0, 9.0]])?
    );
    let cv = clf.cross_validate(device, &x, &y, 5)?;
    for s in cv.summary.iter().filter(|s| s.name == "accuracy") {
        println!(
            "5-fold cross-validation: accuracy {:.3} ± {:.3}",
            s.mean, s.std
        );
    }
    let space = [("lr", "0.001|0.01"), ("hidden", "8|16,8")];
    let (board, _best) = clf.search(device, &x, &y, &space, &SearchOptions::default())?;
    for (rank, e) in board.entries.iter().enumerate() {
        println!(
            "  search #{}: {} {:.4} ± {:.4} with {:?}",
            rank + 1,
            board.metric,
            e.mean,
            e.std,
            e.candidate.varied
        );
    }

    // 3-2-1: the label is the majority of three bits.
    let mut x = Vec::new();
    let mut y = Vec::new();
    for bits in 0..8u32 {
        let row: Vec<f32> = (0..3).map(|i| ((bits >> i) & 1) as f32).collect();
        y.push(if bits.count_ones() >= 2 { 1.0 } else { 0.0 });
        x.extend(row);
    }
    let spec = MlpSpec::new(3).hidden(2, Activation::Sigmoid);
    train(
        "3-2-1 sigmoid, 3-bit majority",
        &gpu,
        &spec,
        x,
        y,
        3,
        0.05,
        1000,
    )?;

    // XOR needs a hidden layer.
    let x = vec![0., 0., 0., 1., 1., 0., 1., 1.];
    let y = vec![0., 1., 1., 0.];
    let spec = MlpSpec::new(2).hidden(8, Activation::Tanh);
    train("2-8-1 tanh, XOR", &gpu, &spec, x, y, 2, 0.05, 500)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn train(
    title: &str,
    gpu: &Gpu,
    spec: &MlpSpec,
    x: Vec<f32>,
    y: Vec<f32>,
    features: usize,
    lr: f32,
    epochs: usize,
) -> gpumlp::Result<()> {
    let data = Dataset::new(x.clone(), y.clone(), features)?;
    let mut model = Mlp::new(spec, 7)?;
    let mut config = TrainConfig {
        epochs,
        batch_size: data.rows(),
        ..TrainConfig::default()
    };
    config.optimizer.lr = lr;
    let report = gpumlp::fit(gpu, &mut model, &data, &config)?;
    let losses = &report.epoch_losses;
    println!(
        "\n{title}: {} parameters, {epochs} epochs",
        model.num_params()
    );
    for e in [0, epochs / 10, epochs / 4, epochs / 2, epochs - 1] {
        println!("  epoch {:>5}  loss {:.5}", e + 1, losses[e]);
    }
    let p = gpumlp::predict(gpu, &model, &x)?;
    let correct = p
        .iter()
        .zip(&y)
        .filter(|(p, y)| (**p >= 0.5) == (**y >= 0.5))
        .count();
    println!("  accuracy {correct}/{}", y.len());
    for (row, (p, y)) in x.chunks(features).zip(p.iter().zip(&y)) {
        println!("  {row:?} -> p = {p:.3} (label {y})");
    }
    Ok(())
}
