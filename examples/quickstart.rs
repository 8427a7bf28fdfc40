//! Trains two tiny networks on the GPU and prints the adapter, the losses and the predictions:
//! the 3-2-1 sigmoid network this project grew from (on 3-bit majority) and XOR.
//!
//! cargo run --release --example quickstart

use gpumlp::{Activation, Dataset, Gpu, Mlp, MlpSpec, TrainConfig};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> gpumlp::Result<()> {
    let gpu = Gpu::from_env()?;
    println!("adapter: {}", gpu.describe());

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
