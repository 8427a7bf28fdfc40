//! Adapter choice and the errors a user sees when it fails.

use gpumlp::{BackendChoice, Error, Gpu, GpuOptions};

#[test]
fn an_adapter_is_found() {
    let gpu = crate::common::gpu();
    assert!(!gpu.adapter_info().name.is_empty());
    let listed = gpumlp::gpu::list_adapters(&GpuOptions::default());
    assert!(!listed.is_empty(), "list_adapters finds the adapter in use");
}

#[test]
fn no_matching_adapter_is_a_typed_error_with_advice() {
    let options = GpuOptions {
        backend: None,
        adapter: Some("no-such-adapter-name".into()),
        ..GpuOptions::default()
    };
    let err = Gpu::new(&options).unwrap_err();
    assert!(matches!(err, Error::NoAdapter { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("no-such-adapter-name"), "{text}");
    assert!(text.contains("mesa-vulkan-drivers"), "{text}");
}

#[test]
fn backend_names_parse() {
    assert_eq!(
        BackendChoice::parse("Vulkan").unwrap(),
        Some(BackendChoice::Vulkan)
    );
    assert_eq!(BackendChoice::parse("gl").unwrap(), Some(BackendChoice::Gl));
    assert_eq!(BackendChoice::parse("auto").unwrap(), None);
    let err = BackendChoice::parse("cuda").unwrap_err();
    assert!(err.to_string().contains("cuda"), "{err}");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    use gpumlp::{Activation, Dataset, Mlp, MlpSpec, TrainConfig};
    assert!(Dataset::new(vec![1.0, 2.0, 3.0], vec![0.0, 1.0], 2).is_err());
    assert!(Dataset::new(vec![f32::NAN, 2.0], vec![0.0], 2).is_err());
    assert!(Dataset::new(vec![1.0, 2.0], vec![2.0], 2).is_err());
    assert!(Mlp::new(&MlpSpec::new(0), 0).is_err());
    assert!(Mlp::new(&MlpSpec::new(2).hidden(0, Activation::Relu), 0).is_err());
    let data = Dataset::new(vec![1.0, 2.0], vec![1.0], 2).unwrap();
    let mut model = Mlp::new(&MlpSpec::new(3), 0).unwrap();
    let err = gpumlp::fit(
        crate::common::gpu(),
        &mut model,
        &data,
        &TrainConfig::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("features"), "{err}");
    let mut model = Mlp::new(&MlpSpec::new(2), 0).unwrap();
    let zero_batch = TrainConfig {
        batch_size: 0,
        ..TrainConfig::default()
    };
    assert!(gpumlp::fit(crate::common::gpu(), &mut model, &data, &zero_batch).is_err());
    assert!(gpumlp::predict(crate::common::gpu(), &model, &[1.0, 2.0, 3.0]).is_err());
}

#[test]
fn a_lost_device_is_a_typed_error_not_a_panic() {
    let gpu = Gpu::from_env().expect("an adapter (see the other tests for how to get one)");
    let spec = gpumlp::MlpSpec::new(3).hidden(4, gpumlp::Activation::Relu);
    let model = gpumlp::Mlp::new(&spec, 1).unwrap();
    let data = gpumlp::Dataset::new(vec![0.5; 30], vec![1.0; 10], 3).unwrap();
    // Lost in the middle of training: the next call says so.
    let mut trainer =
        gpumlp::Trainer::new(&gpu, &model, &data, &gpumlp::TrainConfig::default()).unwrap();
    trainer.run_epochs(&[1e-3; 2]).unwrap();
    gpu.device().destroy();
    let e = trainer.run_epochs(&[1e-3; 2]).unwrap_err();
    assert!(matches!(e, Error::DeviceLost { .. }), "{e:?}");
    // And anything new.
    let e = gpumlp::Trainer::new(&gpu, &model, &data, &gpumlp::TrainConfig::default())
        .err()
        .expect("nothing runs on a destroyed device");
    assert!(matches!(e, Error::DeviceLost { .. }), "{e:?}");
    assert!(e.to_string().contains("device was lost"), "{e}");
    let e = gpumlp::logits(&gpu, &model, &[0.0; 3]).unwrap_err();
    assert!(matches!(e, Error::DeviceLost { .. }), "{e:?}");
}
