//! Times one training step of a 64-256-256-1 sigmoid network at batch 1024 on the GPU and on
//! the CPU reference, on synthetic data. A quick measurement, not the benchmark.
//!
//! cargo run --release --example step_time [-- --repeats N]

use gpumlp::{cpu::CpuTrainer, Activation, Dataset, Gpu, Mlp, MlpSpec, TrainConfig, Trainer};
use rand::{Rng, SeedableRng};
use std::time::Instant;

const BATCH: usize = 1024;
const STEPS_PER_EPOCH: usize = 8;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run() -> gpumlp::Result<()> {
    let repeats: usize = std::env::args()
        .skip_while(|a| a != "--repeats")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let gpu = Gpu::from_env()?;
    println!("adapter: {}", gpu.describe());

    let rows = BATCH * STEPS_PER_EPOCH;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let x: Vec<f32> = (0..rows * 64)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let y: Vec<f32> = x
        .chunks(64)
        .map(|r| if r[0] + r[1] > 0.0 { 1.0 } else { 0.0 })
        .collect();
    let data = Dataset::new(x, y, 64)?;
    let spec = MlpSpec::new(64)
        .hidden(256, Activation::Sigmoid)
        .hidden(256, Activation::Sigmoid);
    let model = Mlp::new(&spec, 0)?;
    let config = TrainConfig {
        epochs: 1,
        batch_size: BATCH,
        ..TrainConfig::default()
    };

    let mut trainer = Trainer::new(&gpu, &model, &data, &config)?;
    trainer.run_epochs(&[config.optimizer.lr])?; // warm-up: pipeline compilation, first touches
    let mut gpu_ms = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        trainer.run_epochs(&[config.optimizer.lr])?; // ends with the loss readback, so the GPU work is done
        gpu_ms.push(t.elapsed().as_secs_f64() * 1e3 / STEPS_PER_EPOCH as f64);
    }

    let mut reference = CpuTrainer::new(&model, &data, &config)?;
    reference.run_epochs(&[config.optimizer.lr])?;
    let mut cpu_ms = Vec::new();
    for _ in 0..repeats.min(3) {
        let t = Instant::now();
        reference.run_epochs(&[config.optimizer.lr])?;
        cpu_ms.push(t.elapsed().as_secs_f64() * 1e3 / STEPS_PER_EPOCH as f64);
    }

    let (g, c) = (median(gpu_ms.clone()), median(cpu_ms.clone()));
    let flops = 6.0 * BATCH as f64 * (64.0 * 256.0 + 256.0 * 256.0 + 256.0) / 1e9;
    println!(
        "64-256-256-1 sigmoid, batch {BATCH}, {} dispatches per step",
        trainer.dispatches_per_step()
    );
    println!(
        "  GPU           median {g:.2} ms/step (min {:.2}, max {:.2}, {repeats} runs of {STEPS_PER_EPOCH} steps), {:.1} GFLOP/s, {:.0} samples/s",
        gpu_ms.iter().cloned().fold(f64::INFINITY, f64::min),
        gpu_ms.iter().cloned().fold(0.0, f64::max),
        flops / (g / 1e3),
        BATCH as f64 / (g / 1e3)
    );
    println!(
        "  CPU reference median {c:.2} ms/step ({} runs), {:.1} GFLOP/s",
        cpu_ms.len(),
        flops / (c / 1e3)
    );
    println!("  GPU / CPU speed-up {:.2}x", c / g);
    Ok(())
}
