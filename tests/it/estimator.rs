//! The estimators, as a Rust user with data in memory uses them: fit, predict, save, load, on
//! the GPU and on the CPU reference, with the same results as the workflow behind `train`.

use crate::common::{gpu, uniform};
use gpumlp::{Device, FittedClassifier, FittedRegressor, MlpClassifier, MlpRegressor};

/// Three classes around three centres, with a NaN (missing) feature now and then.
fn three_classes(rows: usize) -> (Vec<Vec<f32>>, Vec<String>) {
    let noise = uniform(5, rows * 3, -0.4, 0.4);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for r in 0..rows {
        let c = r % 3;
        let mut row: Vec<f32> = (0..3)
            .map(|j| [0.0, 2.0, 4.0][(c + j) % 3] + noise[r * 3 + j])
            .collect();
        if r % 17 == 0 {
            row[1] = f32::NAN;
        }
        x.push(row);
        y.push(["red", "green", "blue"][c].to_string());
    }
    (x, y)
}

#[test]
fn a_classifier_fits_predicts_saves_and_loads_on_gpu_and_cpu() {
    let (x, y) = three_classes(240);
    let classifier = MlpClassifier::new().hidden([16]).epochs(80).seed(3);
    let dir = tempfile::tempdir().unwrap();
    for device in [Device::Gpu(gpu()), Device::Cpu] {
        let model = classifier.fit(device, &x, &y).unwrap();
        assert_eq!(model.classes().len(), 3);
        let predicted = model.predict(device, &x).unwrap();
        let right = predicted.iter().zip(&y).filter(|(p, t)| p == t).count();
        assert!(
            right * 100 >= 95 * y.len(),
            "{right} of {} right on {}",
            y.len(),
            device.describe()
        );
        let p = model.predict_proba(device, &x[..5]).unwrap();
        assert!(
            p.iter()
                .all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-5),
            "{p:?}"
        );
        let path = dir.path().join("c.safetensors");
        model.save(&path).unwrap();
        let back = FittedClassifier::load(&path).unwrap();
        assert_eq!(
            back.predict(device, &x).unwrap(),
            predicted,
            "the same answers after a load"
        );
        assert!(
            FittedRegressor::load(&path).is_err(),
            "a classifier is not a regressor"
        );
    }
    // Bad rows are errors, not panics.
    assert!(classifier.fit(Device::Cpu, &x, &y[..10]).is_err());
    let ragged = vec![vec![1.0, 2.0], vec![1.0]];
    assert!(classifier.fit(Device::Cpu, &ragged, &["a", "b"]).is_err());
    let infinite = vec![vec![f32::INFINITY, 0.0], vec![1.0, 1.0]];
    assert!(classifier.fit(Device::Cpu, &infinite, &["a", "b"]).is_err());
}

#[test]
fn a_regressor_learns_a_line_in_the_targets_units() {
    let xs = uniform(9, 300, -1.0, 1.0);
    let x: Vec<[f32; 1]> = xs.iter().map(|&v| [v]).collect();
    let y: Vec<f32> = xs.iter().map(|&v| 500.0 + 300.0 * v).collect();
    let model = MlpRegressor::new()
        .hidden([8])
        .epochs(150)
        .learning_rate(0.01)
        .validation_fraction(0.0)
        .early_stopping(None)
        .fit(Device::Gpu(gpu()), &x, &y)
        .unwrap();
    let p = model.predict(Device::Gpu(gpu()), &[[0.5], [-0.5]]).unwrap();
    assert!(
        (p[0] - 650.0).abs() < 15.0 && (p[1] - 350.0).abs() < 15.0,
        "{p:?}"
    );
    assert!(model.history().unwrap().epoch_losses.len() == 150);
}
