//! Long runs stay bounded: after a warm-up, many more epochs (with a validation pass after
//! each chunk) allocate no GPU buffers, bind groups or memory that stay alive, and host memory
//! stays flat. Uses wgpu's live-object counters (the `counters` feature).

use crate::common::{gpu, report, uniform};
use gpumlp::{Activation, Dataset, Mlp, MlpSpec, TrainConfig, Trainer};

/// Resident set size of this process, in bytes (Linux; 0 elsewhere, where only the GPU
/// counters are checked).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Live buffers, bind groups and buffer memory on the device.
fn live(g: &gpumlp::Gpu) -> (isize, isize, isize) {
    let c = g.device().get_internal_counters();
    (
        c.hal.buffers.read(),
        c.hal.bind_groups.read(),
        c.hal.buffer_memory.read(),
    )
}

fn run(allow_fused: bool) {
    let g = gpu();
    let features = 8;
    let x = uniform(70, 600 * features, -1.0, 1.0);
    let y: Vec<f32> = x.chunks(features).map(|r| f32::from(r[0] > r[1])).collect();
    let data = Dataset::new(x.clone(), y, features).unwrap();
    let spec = MlpSpec::new(features).hidden(12, Activation::Relu);
    let config = TrainConfig {
        batch_size: 50,
        allow_fused,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(g, &Mlp::new(&spec, 1).unwrap(), &data, &config).unwrap();
    let lr = config.optimizer.lr;
    let val = &x[..100 * features];
    // Warm-up: lazily built validation pass, pipelines, the first readbacks.
    trainer.run_epochs(&[lr; 3]).unwrap();
    trainer.logits(val).unwrap();
    // The counters and the RSS are the whole process's, and the other tests of this binary
    // run beside this one: a window of 300 epochs counts if nothing grew in it, and a real
    // per-step leak grows in every window, so eight windows that all grew fail. (Three were
    // too few on Mesa 22.3.6 in CI, whose slower tests beside this one grew the RSS in each.)
    let mut grew = Vec::new();
    for _ in 0..8 {
        let (buffers, groups, memory) = live(g);
        assert!(buffers > 0, "wgpu's counters are on (the counters feature)");
        let host = rss_bytes();
        for _ in 0..60 {
            trainer.run_epochs(&[lr; 5]).unwrap();
            trainer.logits(val).unwrap();
        }
        let (buffers2, groups2, memory2) = live(g);
        let host2 = rss_bytes();
        report(&format!(
            "300 more epochs (fused {}): live buffers {buffers} -> {buffers2}, bind groups \
             {groups} -> {groups2}, buffer memory {memory} -> {memory2} B, host RSS {} -> {} KiB",
            trainer.is_fused(),
            host / 1024,
            host2 / 1024
        ));
        // A buffer freed by wgpu after its last use may still be counted for one more poll.
        let flat = buffers2 <= buffers + 2
            && groups2 <= groups + 2
            && memory2 <= memory + (1 << 20)
            && host2 <= host + (16 << 20);
        if flat {
            return;
        }
        grew.push(format!(
            "buffers {buffers} -> {buffers2}, bind groups {groups} -> {groups2}, GPU memory \
             {memory} -> {memory2} B, host {} -> {} KiB",
            host / 1024,
            host2 / 1024
        ));
    }
    panic!("something grew in every window of 300 epochs: {grew:#?}");
}

#[test]
fn long_runs_allocate_nothing_per_step() {
    run(false);
    run(true);
}
