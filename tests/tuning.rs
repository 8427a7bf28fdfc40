//! The matmul tuning cache: measured once per adapter and shape, kept on disk across restarts,
//! and a corrupt file is ignored (with a warning) and rewritten. One test in its own process,
//! because it points GPUMLP_CACHE_DIR at a temporary folder.

mod common;

use gpumlp::ops::matmul::{choose, Choice, Form};
use gpumlp::{Gpu, GpuOptions};

fn open() -> Gpu {
    // A fresh device each time stands for a restart: nothing is shared but the file.
    Gpu::new(&GpuOptions::from_env().unwrap()).unwrap_or_else(|e| {
        panic!("{e}\nThese tests need a GPU adapter: install mesa-vulkan-drivers (lavapipe).")
    })
}

#[test]
fn tuning_survives_a_restart_and_a_corrupt_cache_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: the only test in this process, set before any thread reads the environment.
    unsafe { std::env::set_var("GPUMLP_CACHE_DIR", dir.path()) };
    unsafe { std::env::remove_var("GPUMLP_MATMUL") };
    let file = dir.path().join("tuning.json");

    let gpu = open();
    let (first, how) = choose(&gpu, Form::Nn, 96, 64, 32).unwrap();
    assert_eq!(how, Choice::Measured);
    assert_eq!(
        choose(&gpu, Form::Nn, 96, 64, 32).unwrap(),
        (first, Choice::Cached)
    );
    let text = std::fs::read_to_string(&file).expect("the choice is written to disk");
    assert!(
        text.contains("Nn 96x64x32") && text.contains(first.name()),
        "{text}"
    );
    drop(gpu);

    let gpu = open();
    assert_eq!(
        choose(&gpu, Form::Nn, 96, 64, 32).unwrap(),
        (first, Choice::Cached),
        "a new process reads the measured choice back"
    );
    drop(gpu);

    std::fs::write(&file, "{ this is not json").unwrap();
    let gpu = open();
    let (_, how) = choose(&gpu, Form::Nn, 96, 64, 32).unwrap();
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

    unsafe { std::env::set_var("GPUMLP_MATMUL", "block8") };
    let (v, how) = choose(&gpu, Form::Tn, 10, 20, 30).unwrap();
    assert_eq!((v.name(), how), ("block8", Choice::Forced));
    unsafe { std::env::set_var("GPUMLP_MATMUL", "vec4") };
    let (v, how) = choose(&gpu, Form::Tn, 10, 21, 30).unwrap();
    assert!(
        v.name() != "vec4" && how != Choice::Forced,
        "vec4 cannot do n = 21"
    );
}
