//! Device limits: runs planned against a device opened with artificially small limits (16
//! and 32 KiB per binding instead of 128 MiB), so the tests stay fast. A dataset larger than
//! a binding is streamed and trains to the very same weights; what cannot be split is refused
//! with the limit, the size and what to change.

use crate::common::{assert_close, gpu, report, uniform};
use gpumlp::{
    cpu, Activation, Dataset, Error, Gpu, GpuOptions, Mlp, MlpSpec, TrainConfig, Trainer,
};
use std::sync::OnceLock;

const SMALL: u64 = 16 << 10;

/// The tests' adapter, opened again with at most 16 KiB per storage binding.
fn small_gpu() -> &'static Gpu {
    static SMALL_GPU: OnceLock<Gpu> = OnceLock::new();
    SMALL_GPU.get_or_init(|| {
        let options = GpuOptions {
            max_binding_bytes: Some(SMALL),
            ..GpuOptions::from_env().expect("GPUMLP_BACKEND and GPUMLP_ADAPTER parse")
        };
        Gpu::new(&options)
            .unwrap_or_else(|e| panic!("GPU tests need an adapter and none could be opened: {e}"))
    })
}

fn dataset(rows: usize, features: usize) -> Dataset {
    let x = uniform(1, rows * features, -2.0, 2.0);
    let y = x
        .chunks(features)
        .map(|r| if r[0] + 0.5 * r[1] > 0.0 { 1.0 } else { 0.0 })
        .collect();
    Dataset::new(x, y, features).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn a_dataset_larger_than_a_binding_is_streamed_and_trains_to_the_same_weights() {
    assert_eq!(small_gpu().limits().max_storage_buffer_binding_size, SMALL);
    // 600 rows × 12 features = 28.8 KB of inputs: more than one 16 KiB binding.
    let data = dataset(600, 12);
    let spec = MlpSpec::new(12).hidden(16, Activation::Tanh);
    let start = Mlp::new(&spec, 3).unwrap();
    for fused in [false, true] {
        let config = TrainConfig {
            epochs: 6,
            batch_size: 32,
            allow_fused: fused,
            ..TrainConfig::default()
        };
        let mut small = Trainer::new(small_gpu(), &start, &data, &config).unwrap();
        let mut whole = Trainer::new(gpu(), &start, &data, &config).unwrap();
        assert_eq!(small.is_fused(), fused);
        assert!(small.streams_data() && !whole.streams_data());
        let a = small.run_epochs(&[1e-2; 6]).unwrap();
        let b = whole.run_epochs(&[1e-2; 6]).unwrap();
        assert_eq!(bits(&a), bits(&b), "fused {fused}: epoch losses");
        let (ma, mb) = (small.model().unwrap(), whole.model().unwrap());
        assert_eq!(
            bits(ma.params()),
            bits(mb.params()),
            "fused {fused}: weights"
        );

        let mut reference = cpu::CpuTrainer::new(&start, &data, &config).unwrap();
        reference.run_epochs(&[1e-2; 6]).unwrap();
        let want = reference.model().params();
        let worst = assert_close("streamed vs CPU", ma.params(), want, 1e-4, 1e-3);
        report(&format!(
            "limits: 600×12 rows streamed through a 16 KiB binding (fused {fused}): weights equal \
             to the unlimited device's bit for bit; worst |GPU − CPU| {worst:.1e}"
        ));
    }
}

#[test]
fn prediction_runs_in_fewer_rows_at_a_time_on_a_small_device() {
    let spec = MlpSpec::new(12).hidden(64, Activation::Relu);
    let model = Mlp::new(&spec, 5).unwrap();
    // 64 wide: 64 rows per pass fit a 16 KiB binding instead of 4096.
    let x = uniform(2, 1000 * 12, -1.0, 1.0);
    let small = gpumlp::logits(small_gpu(), &model, &x).unwrap();
    let whole = gpumlp::logits(gpu(), &model, &x).unwrap();
    assert_eq!(bits(&small), bits(&whole));
}

#[test]
fn what_cannot_be_split_is_refused_with_the_limit_and_what_to_change() {
    let data = dataset(100, 12);
    let wide = Mlp::new(
        &MlpSpec::new(12)
            .hidden(200, Activation::Relu)
            .hidden(200, Activation::Relu),
        1,
    )
    .unwrap();
    let e = Trainer::new(small_gpu(), &wide, &data, &TrainConfig::default())
        .err()
        .expect("42,000 parameters do not fit 16 KiB");
    assert!(matches!(e, Error::Limit { .. }), "{e:?}");
    let text = e.to_string();
    for part in [
        "parameters",
        "max_storage_buffer_binding_size",
        "16384",
        "narrower",
    ] {
        assert!(text.contains(part), "{part:?} in: {text}");
    }

    let small = Mlp::new(&MlpSpec::new(12).hidden(16, Activation::Relu), 1).unwrap();
    let config = TrainConfig {
        batch_size: 1000,
        ..TrainConfig::default()
    };
    let data = dataset(1000, 12);
    let e = Trainer::new(small_gpu(), &small, &data, &config)
        .err()
        .expect("a batch of 1000 × 16 activations does not fit 16 KiB");
    let text = e.to_string();
    assert!(text.contains("batch size of at most 256"), "{text}");
    report(&format!("limits: refused with: {text}"));
}

#[test]
fn the_cli_trains_the_same_model_under_gpumlp_max_binding() {
    let dir = tempfile::tempdir().unwrap();
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/breast_cancer.csv"
    );
    let run = |out: &std::path::Path, max: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_gpumlp"));
        c.args([
            "train",
            data,
            "--target",
            "malignant",
            "--epochs",
            "5",
            "-q",
            "--out",
        ]);
        c.arg(out);
        if let Some(max) = max {
            c.env("GPUMLP_MAX_BINDING", max);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let model = gpumlp::model_file::SavedModel::load(out).unwrap();
        bits(model.mlp.params())
    };
    // 512 × 30 inputs (61 KB) through 32 KiB bindings.
    let small = run(&dir.path().join("small.safetensors"), Some("32768"));
    let whole = run(&dir.path().join("whole.safetensors"), None);
    assert_eq!(small, whole);

    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gpumlp"))
        .args([
            "train",
            data,
            "--target",
            "malignant",
            "--epochs",
            "1",
            "--hidden",
            "512",
        ])
        .arg("--out")
        .arg(dir.path().join("no.safetensors"))
        .env("GPUMLP_MAX_BINDING", "32768")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("max_storage_buffer_binding_size"),
        "{stderr}"
    );
    assert!(!dir.path().join("no.safetensors").exists());
}

#[test]
fn few_storage_buffers_per_stage_fall_back_from_fused_or_refuse_by_name() {
    let open = |cap: u32| {
        Gpu::new(&GpuOptions {
            max_storage_buffers: Some(cap),
            ..GpuOptions::from_env().unwrap()
        })
        .unwrap()
    };
    let data = dataset(100, 6);
    let start = Mlp::new(&MlpSpec::new(6).hidden(8, Activation::Relu), 2).unwrap();
    let config = TrainConfig {
        epochs: 3,
        batch_size: 16,
        ..TrainConfig::default()
    };
    // 7 per stage: the fused kernel binds 8, so the run falls back to one dispatch per op and
    // trains exactly as a per-op run does.
    let seven = open(7);
    let mut fallback = Trainer::new(&seven, &start, &data, &config).unwrap();
    assert!(!fallback.is_fused());
    let per_op = TrainConfig {
        allow_fused: false,
        ..config.clone()
    };
    let mut reference = Trainer::new(gpu(), &start, &data, &per_op).unwrap();
    assert_eq!(
        bits(&fallback.run_epochs(&[1e-2; 3]).unwrap()),
        bits(&reference.run_epochs(&[1e-2; 3]).unwrap())
    );
    // 4 per stage: the gather kernel binds 6 (its steps among them); nothing can run, and the
    // error says why.
    let four = open(4);
    let e = Trainer::new(&four, &start, &data, &config)
        .err()
        .expect("refused");
    let text = e.to_string();
    assert!(
        text.contains("max_storage_buffers_per_shader_stage") && text.contains("6 storage buffers"),
        "{text}"
    );
    report(&format!("limits: 4 storage buffers per stage: {text}"));
}
