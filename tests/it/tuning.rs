//! The tuning cache: matmul choices measured once per adapter and shape, and the verdicts of
//! the checks run before a kernel is first trusted on a driver, kept on disk across restarts;
//! a corrupt file is ignored (with a warning) and rewritten; a path whose verdict is "failed"
//! is never used. The devices here keep their cache in a temporary folder
//! (`GpuOptions::cache_dir`), so the other tests never see it.

use gpumlp::kernels::matmul::{choose, Choice, Form};
use gpumlp::{Activation, Dataset, Gpu, GpuOptions, Mlp, MlpSpec, TrainConfig, Trainer};

/// A fresh device, which stands for a restart: nothing is shared but the file in `dir`.
/// `matmul` forces a variant, as GPUMLP_MATMUL does.
fn open_with(dir: &std::path::Path, matmul: Option<&str>) -> Gpu {
    let options = GpuOptions {
        cache_dir: Some(dir.to_path_buf()),
        matmul: matmul.map(str::to_string),
        ..GpuOptions::from_env().unwrap()
    };
    Gpu::new(&options).unwrap_or_else(|e| {
        panic!("{e}\nThese tests need a GPU adapter: install mesa-vulkan-drivers (lavapipe).")
    })
}

#[test]
fn tuning_survives_a_restart_and_a_corrupt_cache_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let open = || open_with(dir.path(), None);
    let file = dir.path().join("tuning.json");

    let gpu = open();
    let (first, how) = choose(&gpu, Form::Nn, 256, 128, 128).unwrap();
    assert_eq!(how, Choice::Measured);
    assert_eq!(
        choose(&gpu, Form::Nn, 256, 128, 128).unwrap(),
        (first, Choice::Cached)
    );
    let text = std::fs::read_to_string(&file).expect("the choice is written to disk");
    assert!(
        text.contains("Nn 256x128x128") && text.contains(first.name),
        "{text}"
    );
    drop(gpu);

    let gpu = open();
    assert_eq!(
        choose(&gpu, Form::Nn, 256, 128, 128).unwrap(),
        (first, Choice::Cached),
        "a new process reads the measured choice back"
    );
    drop(gpu);

    std::fs::write(&file, "{ this is not json").unwrap();
    let gpu = open();
    let (_, how) = choose(&gpu, Form::Nn, 256, 128, 128).unwrap();
    assert_eq!(
        how,
        Choice::Measured,
        "a corrupt cache is ignored and measured again"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_ok(),
        "rewritten: {text}"
    );

    // Too small to be worth timing: the first variant that runs it, nothing stored; with a
    // single column (or row) of C, the one that computes an output a thread.
    let (v, how) = choose(&gpu, Form::Nn, 57, 64, 30).unwrap();
    assert_eq!((v.name, how), ("block4", Choice::Small));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("57x64x30"), "{text}");
    for (form, m, n, k) in [
        (Form::Nn, 1024, 1, 256),
        (Form::Tn, 256, 1, 1024),
        (Form::Nt, 3, 64, 50),
    ] {
        let (v, how) = choose(&gpu, form, m, n, k).unwrap();
        assert_eq!((v.name, how), ("single", Choice::Small), "{m}×{n}×{k}");
    }

    let gpu = open_with(dir.path(), Some("block8"));
    let (v, how) = choose(&gpu, Form::Tn, 10, 20, 30).unwrap();
    assert_eq!((v.name, how), ("block8", Choice::Forced));
    let gpu = open_with(dir.path(), Some("packed"));
    let (v, how) = choose(&gpu, Form::Tn, 10, 21, 30).unwrap();
    assert!(
        v.name != "packed" && how != Choice::Forced,
        "packed cannot do n = 21"
    );

    drop(gpu);

    // The verdicts: a small network trains fused (the kernel generated for it), after the
    // kernel passed its check here.
    let gpu = open();
    let data = Dataset::new(
        crate::common::uniform(1, 40 * 3, -1.0, 1.0),
        vec![1.0; 40],
        3,
    )
    .unwrap();
    let model = Mlp::new(&MlpSpec::new(3).hidden(4, Activation::Tanh), 1).unwrap();
    let config = TrainConfig::default();
    assert!(Trainer::new(&gpu, &model, &data, &config)
        .unwrap()
        .is_fused());
    choose(&gpu, Form::Nn, 30, 20, 10).unwrap();
    drop(gpu);
    let text = std::fs::read_to_string(&file).unwrap();
    for path in ["fused_unrolled", "matmul block4", "matmul block8"] {
        assert!(
            text.contains(&format!("\"trust.v1 {path} ")),
            "{path}'s verdict is kept: {text}"
        );
    }
    assert!(
        !text.contains("\"failed\""),
        "every kernel passed here: {text}"
    );
    // Say the fused kernel and block8 failed on this driver: neither is used again.
    let failed = text
        .split(',')
        .map(|entry| {
            match entry.contains("trust.v1 fused_unrolled ")
                || entry.contains("trust.v1 matmul block8 ")
            {
                true => entry.replace("\"ok\"", "\"failed\""),
                false => entry.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    std::fs::write(&file, failed).unwrap();
    let gpu = open_with(dir.path(), Some("block8"));
    let trainer = Trainer::new(&gpu, &model, &data, &config).unwrap();
    assert!(
        !trainer.is_fused(),
        "a fused kernel that failed here is not used"
    );
    for (m, n, k) in [(64, 64, 64), (300, 200, 100)] {
        let (v, how) = choose(&gpu, Form::Nn, m, n, k).unwrap();
        assert_ne!(
            v.name, "block8",
            "a variant that failed here is not used ({how:?})"
        );
    }
}

#[test]
fn compiled_pipelines_are_kept_on_disk_and_a_damaged_file_is_ignored() {
    // On Vulkan the driver's pipeline cache is written to the cache folder after a pipeline
    // is built; a damaged file starts an empty cache and is written again; training gives
    // the same weights either way. Other backends have no pipeline cache and write none.
    let dir = tempfile::tempdir().unwrap();
    let data = Dataset::new(
        crate::common::uniform(2, 40 * 3, -1.0, 1.0),
        vec![1.0; 40],
        3,
    )
    .unwrap();
    let model = Mlp::new(&MlpSpec::new(3).hidden(20, Activation::Relu), 1).unwrap();
    let config = TrainConfig {
        epochs: 3,
        ..TrainConfig::default()
    };
    let train = |gpu: &Gpu| {
        let mut m = model.clone();
        gpumlp::fit(gpu, &mut m, &data, &config).unwrap();
        m.params().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    let cache_files = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("wgpu_pipeline_cache"))
            })
            .collect()
    };
    let gpu = open_with(dir.path(), None);
    let vulkan = gpu
        .device()
        .features()
        .contains(wgpu::Features::PIPELINE_CACHE);
    let described = gpu.describe();
    if described.contains("Vulkan") && described.contains("llvmpipe") {
        assert!(vulkan, "lavapipe has a pipeline cache: {described}");
    }
    if !described.contains("Vulkan") {
        assert!(!vulkan, "only Vulkan has one: {described}");
    }
    let first = train(&gpu);
    drop(gpu);
    let files = cache_files();
    if !vulkan {
        assert!(files.is_empty(), "no pipeline cache, no file: {files:?}");
        return;
    }
    assert_eq!(
        files.len(),
        1,
        "one file for this adapter and driver: {files:?}"
    );
    let garbage = vec![0xA5u8; 4096];
    std::fs::write(&files[0], &garbage).unwrap();
    let gpu = open_with(dir.path(), None);
    assert_eq!(train(&gpu), first, "the same weights with a damaged cache");
    drop(gpu);
    assert_ne!(
        std::fs::read(&files[0]).unwrap(),
        garbage,
        "the damaged file is written again"
    );
}
