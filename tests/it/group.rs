//! Models trained side by side in one group (src/train/group.rs): each one's weights
//! bit-identical to training it alone through the wide fused kernel, whatever the others do.

use crate::common::gpu;
use crate::training::{clustered, separable};
use gpumlp::train::group::{Candidate, Group, Rows};
use gpumlp::train::{fit_with, FitReport, Trainer};
use gpumlp::{
    Activation, Dataset, Gpu, Loss, Mlp, MlpSpec, OptimizerConfig, OptimizerKind, TrainConfig,
};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// One model of a test: its start, its training rows, its validation rows and its settings.
struct Case {
    start: Mlp,
    data: Dataset,
    val: Option<Dataset>,
    config: TrainConfig,
}

/// Trains `cases` alone, one `Trainer` each (the wide fused kernel).
fn alone(cases: &[Case]) -> Vec<gpumlp::Result<(Vec<f32>, FitReport)>> {
    alone_on(cases, "fused wide")
}

/// Trains `cases` alone, one `Trainer` each, on the path `path`.
fn alone_on(cases: &[Case], path: &str) -> Vec<gpumlp::Result<(Vec<f32>, FitReport)>> {
    cases
        .iter()
        .map(|c| {
            let mut trainer =
                Trainer::with_validation(gpu(), &c.start, &c.data, c.val.as_ref(), &c.config)?;
            assert_eq!(trainer.path(), path, "alone through the same kernels");
            let report = fit_with(
                &mut trainer,
                &c.config,
                c.data.rows(),
                c.val.as_ref(),
                &mut |_| {},
            )?;
            Ok((trainer.model()?.params().to_vec(), report))
        })
        .collect()
}

fn candidate(c: &Case) -> Candidate<'_> {
    Candidate {
        start: &c.start,
        data: Rows::Own(&c.data),
        val: c.val.as_ref(),
        config: &c.config,
    }
}

/// Trains `cases` side by side, one thread each.
fn together(cases: &[Case]) -> Vec<gpumlp::Result<(Vec<f32>, FitReport)>> {
    let members: Vec<_> = cases.iter().map(candidate).collect();
    together_as(cases, &members)
}

/// Trains `cases` side by side as `members` give their rows, one thread each.
fn together_as(
    cases: &[Case],
    members: &[Candidate<'_>],
) -> Vec<gpumlp::Result<(Vec<f32>, FitReport)>> {
    let group = Group::new(gpu(), members)
        .unwrap()
        .expect("the group takes models of one shape");
    assert_eq!(group.len(), cases.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut member = group.member(i, &c.start);
                scope.spawn(move || {
                    let report = fit_with(
                        &mut member,
                        &c.config,
                        c.data.rows(),
                        c.val.as_ref(),
                        &mut |_| {},
                    )?;
                    // Out of the rounds first: the others go on while this one is read.
                    member.finish();
                    let params = gpumlp::train::Backend::model(&member)?.params().to_vec();
                    Ok((params, report))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn config(epochs: usize, batch: usize, lr: f32, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: batch,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::AdamW,
            lr,
            weight_decay: 0.01,
            ..OptimizerConfig::default()
        },
        seed,
        ..TrainConfig::default()
    }
}

#[test]
fn models_side_by_side_match_each_trained_alone_bit_for_bit() {
    // Different rows (one model smaller than a chunk), batch sizes (so steps per epoch and
    // pauses differ), rates, optimiser constants (weight decay, betas, eps: each step carries
    // its model's), seeds and epoch counts (so models leave the group at different rounds);
    // one validates and stops early, keeping its best epoch.
    let spec = MlpSpec::new(9)
        .hidden(40, Activation::Relu)
        .hidden(17, Activation::Tanh)
        .output(3, Loss::SoftmaxCe);
    let all = clustered(21, 200, 9, 3, true);
    let rows = |from: usize, to: usize| {
        let x = all.x()[from * 9..to * 9].to_vec();
        let t = all.targets()[from * 4..to * 4].to_vec();
        let y: Vec<f32> = t.chunks(4).flat_map(|r| r[..3].to_vec()).collect();
        let w: Vec<f32> = t.chunks(4).map(|r| r[3]).collect();
        Dataset::with_targets(x, y, 9, 3, Some(w)).unwrap()
    };
    let mut early = config(40, 32, 0.05, 4);
    early.patience = Some(2);
    let cases = vec![
        Case {
            start: Mlp::new(&spec, 1).unwrap(),
            data: rows(0, 120),
            val: None,
            config: config(5, 50, 0.01, 1),
        },
        Case {
            start: Mlp::new(&spec, 2).unwrap(),
            data: rows(120, 123),
            val: None,
            config: config(9, 8, 0.003, 2),
        },
        Case {
            start: Mlp::new(&spec, 3).unwrap(),
            data: rows(123, 160),
            val: Some(rows(160, 200)),
            config: early,
        },
        Case {
            start: Mlp::new(&spec, 4).unwrap(),
            data: rows(0, 77),
            val: None,
            config: {
                let mut c = config(3, 16, 0.02, 3);
                c.optimizer.weight_decay = 0.3;
                c.optimizer.beta1 = 0.8;
                c.optimizer.beta2 = 0.99;
                c.optimizer.eps = 1e-6;
                c
            },
        },
    ];
    let (want, got) = (alone(&cases), together(&cases));
    for (i, (w, g)) in want.into_iter().zip(got).enumerate() {
        let ((wp, wr), (gp, gr)) = (w.unwrap(), g.unwrap());
        assert_eq!(bits(&gp), bits(&wp), "model {i}: weights");
        assert_eq!(
            bits(&gr.epoch_losses),
            bits(&wr.epoch_losses),
            "model {i}: losses"
        );
        assert_eq!(gr.best_epoch, wr.best_epoch, "model {i}: best epoch");
        assert_eq!(gr.stopped_early, wr.stopped_early, "model {i}: early stop");
    }
}

/// A table of `rows` rows with a number column missing in every 7th row, a text column
/// missing in every 10th (and a category in 3 rows only), and a target: three classes of
/// unequal sizes, or a quantity far from 0.
fn mixed_table(rows: usize, regression: bool) -> gpumlp::data::table::Table {
    let mut text = String::from("a,b,colour,y\n");
    for i in 0..rows {
        let a = if i % 7 == 3 {
            String::new()
        } else {
            format!("{}", (i * 37 % 110) as f64 / 10.0)
        };
        let b = (i * i % 13) as f64 - 6.0;
        let colour = match i {
            _ if i % 10 == 4 => "",
            5 | 50 | 95 => "violet",
            _ => ["red", "green", "blue"][i % 3],
        };
        let y = match regression {
            true => format!("{}", 1000.0 + 3.0 * (i * 37 % 110) as f64 / 10.0 - b),
            false => ["p", "q", "q", "r", "r", "r"][(i * 7 + (b as usize % 5)) % 6].to_string(),
        };
        text += &format!("{a},{b},{colour},{y}\n");
    }
    gpumlp::data::table::Table::from_reader("mixed.csv", text.as_bytes()).unwrap()
}

#[test]
fn folds_reading_one_copy_of_shared_rows_match_each_trained_alone_bit_for_bit() {
    // Three folds of a table with missing cells and a text column, encoded once: side by
    // side, each reads the one copy through its own row map in the kernel (its means and
    // stds, its fills for missing cells, its class weights or its target's scale); alone,
    // each trains on its rows as its map encodes them on the host. The two agree bit for
    // bit, for classes (softmax, class weights) and for a quantity (MSE, target map); in the
    // wide fused kernel (24 wide) and in the per-op dispatches, each model a layer of their
    // grid (136 wide: wider than the wide kernel takes), whose folds' last batches differ.
    use gpumlp::data::prep::{label, MissingPolicy, Preprocessor, RowMap, SharedRows, TargetScale};
    for (regression, width, path) in [
        (false, 24, "fused wide"),
        (true, 24, "fused wide"),
        (false, 136, "per-op"),
        (true, 136, "per-op"),
    ] {
        let table = mixed_table(150, regression);
        let lab = label(&table, "y", None, MissingPolicy::Impute).unwrap();
        let n = lab.rows.len();
        let all: Vec<usize> = (0..n).collect();
        let prep = Preprocessor::fit(&table, &lab, &all).unwrap();
        let scale_of = |pos: &[usize]| {
            regression.then(|| TargetScale::fit(&pos.iter().map(|&p| lab.y[p]).collect::<Vec<_>>()))
        };
        let rows = SharedRows::encode(&table, &lab, &prep, scale_of(&all)).unwrap();
        assert!(
            rows.x().iter().any(|v| v.is_nan()),
            "missing cells are marked"
        );
        let classes = lab.classes.len();
        let (outputs, loss) = match regression {
            true => (1, Loss::Mse),
            false => (classes, Loss::SoftmaxCe),
        };
        let spec = MlpSpec::new(rows.features())
            .hidden(width, Activation::Tanh)
            .output(outputs, loss);
        let mut picks = Vec::new();
        let mut maps = Vec::new();
        let mut cases = Vec::new();
        for f in 0..3usize {
            let train: Vec<usize> = all.iter().copied().filter(|p| p % 3 != f).collect();
            let (train, val) = match f {
                // One fold validates on a part of its rows and stops early.
                1 => (train[..80].to_vec(), train[80..].to_vec()),
                _ => (train, Vec::new()),
            };
            let fitted = prep.refit(&table, &lab, &train).unwrap();
            let weights: Vec<f32> = (0..classes).map(|k| 0.5 + (k + f) as f32 * 0.75).collect();
            let map = RowMap::new(
                &prep,
                &fitted,
                (scale_of(&all), scale_of(&train)),
                (!regression).then_some(weights.as_slice()),
                classes,
            )
            .unwrap();
            let mut config = config(6 + f, 16 + 5 * f, 0.01, f as u64);
            if f == 1 {
                config.patience = Some(2);
            }
            cases.push(Case {
                start: Mlp::new(&spec, f as u64).unwrap(),
                data: map.dataset(&rows, &train).unwrap(),
                val: (!val.is_empty()).then(|| map.dataset(&rows, &val).unwrap()),
                config,
            });
            maps.push(map);
            picks.push((train, val));
        }
        let members: Vec<Candidate<'_>> = cases
            .iter()
            .zip(&maps)
            .zip(&picks)
            .map(|((c, map), (train, val))| Candidate {
                start: &c.start,
                data: Rows::Shared {
                    rows: &rows,
                    map,
                    train,
                    val,
                },
                val: c.val.as_ref(),
                config: &c.config,
            })
            .collect();
        let group = Group::new(gpu(), &members).unwrap().expect("one shape");
        assert_eq!(group.rows_on_device(), n, "one copy of the rows");
        assert_eq!(group.path(), path, "{width} wide");
        drop(group);
        let (want, got) = (alone_on(&cases, path), together_as(&cases, &members));
        for (i, (w, g)) in want.into_iter().zip(got).enumerate() {
            let ((wp, wr), (gp, gr)) = (w.unwrap(), g.unwrap());
            let what = match regression {
                true => format!("regression, {path}"),
                false => format!("classes, {path}"),
            };
            assert_eq!(bits(&gp), bits(&wp), "{what}, fold {i}: weights");
            assert_eq!(
                bits(&gr.epoch_losses),
                bits(&wr.epoch_losses),
                "{what}, fold {i}: losses"
            );
            assert_eq!(gr.best_epoch, wr.best_epoch, "{what}, fold {i}: best epoch");
        }
    }
}

#[test]
fn a_model_that_diverges_leaves_the_others_untouched() {
    let spec = MlpSpec::new(5).hidden(20, Activation::Relu);
    let sgd = |lr: f32, epochs: usize| TrainConfig {
        epochs,
        batch_size: 16,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::Sgd,
            lr,
            momentum: 0.9,
            ..OptimizerConfig::default()
        },
        seed: 5,
        ..TrainConfig::default()
    };
    let cases: Vec<Case> = [(0.01, 6), (1e30, 6), (0.02, 4)]
        .into_iter()
        .enumerate()
        .map(|(i, (lr, epochs))| Case {
            start: Mlp::new(&spec, i as u64).unwrap(),
            data: separable(30 + i as u64, 50, 5),
            val: None,
            config: sgd(lr, epochs),
        })
        .collect();
    let (want, got) = (alone(&cases), together(&cases));
    for (i, (w, g)) in want.into_iter().zip(got).enumerate() {
        match (w, g) {
            (Ok((wp, _)), Ok((gp, _))) => assert_eq!(bits(&gp), bits(&wp), "model {i}"),
            (Err(we), Err(ge)) => {
                assert!(
                    matches!(ge, gpumlp::Error::Diverged { .. }),
                    "model {i}: {ge}"
                );
                assert_eq!(we.to_string(), ge.to_string(), "model {i}");
            }
            (w, g) => panic!("model {i}: alone {:?}, together {:?}", w.err(), g.err()),
        }
    }
}

fn cand<'a>(start: &'a Mlp, data: &'a Dataset, config: &'a TrainConfig) -> Candidate<'a> {
    Candidate {
        start,
        data: Rows::Own(data),
        val: None,
        config,
    }
}

#[test]
fn models_that_cannot_share_a_dispatch_are_refused() {
    let data = separable(1, 40, 6);
    let a = Mlp::new(&MlpSpec::new(6).hidden(20, Activation::Relu), 1).unwrap();
    let b = Mlp::new(&MlpSpec::new(6).hidden(21, Activation::Relu), 1).unwrap();
    let c = config(2, 8, 0.01, 1);
    let mut other_kind = c.clone();
    other_kind.optimizer.kind = OptimizerKind::Adam;
    // Models on the same rows (one `&Dataset`) share one copy of them on the device.
    let mut faster = c.clone();
    faster.optimizer.lr = 0.1;
    let shared = Group::new(gpu(), &[cand(&a, &data, &c), cand(&a, &data, &faster)])
        .unwrap()
        .expect("one shape");
    assert_eq!(shared.rows_on_device(), data.rows());
    let copy = data.clone();
    let apart = Group::new(gpu(), &[cand(&a, &data, &c), cand(&a, &copy, &faster)])
        .unwrap()
        .expect("one shape");
    assert_eq!(apart.rows_on_device(), 2 * data.rows());
    assert!(
        Group::new(gpu(), &[cand(&a, &data, &c), cand(&b, &data, &c)])
            .unwrap()
            .is_none(),
        "shapes"
    );
    assert!(
        Group::new(gpu(), &[cand(&a, &data, &c), cand(&a, &data, &other_kind)])
            .unwrap()
            .is_none(),
        "optimisers"
    );
    // With fusing off, models share the per-op dispatches instead.
    let mut per_op = c.clone();
    per_op.allow_fused = false;
    let group = Group::new(gpu(), &[cand(&a, &data, &per_op), cand(&a, &data, &per_op)]);
    assert_eq!(group.unwrap().expect("fusing off").path(), "per-op");
    let mut other_rate = c.clone();
    other_rate.optimizer.lr = 0.3;
    assert!(
        Group::new(gpu(), &[cand(&a, &data, &c), cand(&a, &data, &other_rate)])
            .unwrap()
            .is_some(),
        "rates differ per step"
    );
}

#[test]
fn cv_folds_side_by_side_score_as_folds_one_after_another() {
    // README's data, 5 folds with validation rows and early stopping: side by side on the
    // test device, and one after another on a device whose bindings cannot hold every fold's
    // rows at once (64 KiB: one fold's fit, five do not). The same wide kernel trains each
    // fold either way, so every fold's metrics are the same, bit for bit.
    let table = gpumlp::data::table::Table::read(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/breast_cancer.csv"
    )))
    .unwrap();
    let mut opts = gpumlp::workflow::TrainOptions {
        target: "malignant".into(),
        ..Default::default()
    };
    opts.config.epochs = 30;
    opts.config.patience = Some(3);
    let capped = Gpu::new(&gpumlp::GpuOptions {
        max_binding_bytes: Some(64 << 10),
        ..gpumlp::GpuOptions::from_env().unwrap()
    })
    .unwrap();
    let run = |gpu: &Gpu, opts: &gpumlp::workflow::TrainOptions| {
        gpumlp::workflow::cross_validate(
            &table,
            opts,
            5,
            gpumlp::workflow::Device::Gpu(gpu),
            &mut |_, _| {},
        )
        .unwrap()
        .folds
        .iter()
        .map(|m| format!("{m:?}"))
        .collect::<Vec<_>>()
    };
    let (together, apart) = (run(gpu(), &opts), run(&capped, &opts));
    assert_eq!(together.len(), 5);
    assert_eq!(together, apart);
    // Without early stopping nothing watches the validation rows after each epoch: they
    // are scored once, at the end, the same way side by side and one after another.
    opts.config.patience = None;
    let (together, apart) = (run(gpu(), &opts), run(&capped, &opts));
    assert_eq!(together, apart, "without early stopping");
}

#[test]
fn a_search_s_candidates_side_by_side_score_as_each_cross_validated_alone() {
    // Three candidates (two rates, two weight decays, one SGD that cannot share the Adam
    // ones' dispatches) cross-validated together: 10 folds of Adam in one group, SGD's 5 in
    // another; each candidate's folds score as its own cross-validation does, bit for bit.
    let table = gpumlp::data::table::Table::read(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/breast_cancer.csv"
    )))
    .unwrap();
    let mut base = gpumlp::workflow::TrainOptions {
        target: "malignant".into(),
        ..Default::default()
    };
    base.config.epochs = 12;
    base.config.patience = Some(3);
    let mut b = base.clone();
    b.config.optimizer.lr = 0.003;
    b.config.optimizer.weight_decay = 1e-3;
    let mut c = base.clone();
    c.config.optimizer.kind = OptimizerKind::Sgd;
    c.config.optimizer.lr = 0.01;
    let configs = [base, b, c];
    let device = gpumlp::workflow::Device::Gpu(gpu());
    let shown = |cv: &gpumlp::workflow::CrossValidation| {
        cv.folds
            .iter()
            .map(|m| format!("{m:?}"))
            .collect::<Vec<_>>()
    };
    let mut seen = Vec::new();
    let together =
        gpumlp::workflow::cross_validate_many(&table, &configs, 5, device, &mut |i, _| {
            seen.push(i)
        })
        .unwrap();
    assert_eq!(seen, [0, 1, 2]);
    for (i, (opts, cv)) in configs.iter().zip(&together).enumerate() {
        let alone =
            gpumlp::workflow::cross_validate(&table, opts, 5, device, &mut |_, _| {}).unwrap();
        assert_eq!(shown(cv), shown(&alone), "candidate {i}");
    }
}

#[test]
fn a_divergence_inside_a_member_s_call_that_ran_ahead_ends_as_it_does_alone() {
    // Two sound epochs, then a huge rate, in one call of five epochs beside a model that
    // stays sound: the call returns the sound epochs (with their weights) and the next call
    // fails as the same run alone does, with the same epoch, step and weights kept.
    let (spec, data, config) = crate::training::exploding_wide();
    let start = Mlp::new(&spec, 3).unwrap();
    let sound_start = Mlp::new(&spec, 4).unwrap();
    let lrs = [1e-5, 1e-5, 50.0, 50.0, 50.0];
    let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let run = |b: &mut dyn gpumlp::train::Backend| {
        let first = b.run_epochs(&lrs, &|| false).unwrap();
        let err = b.run_epochs(&lrs[first.len()..], &|| false).unwrap_err();
        (first, err.to_string(), bits(b.model().unwrap().params()))
    };
    let mut alone = Trainer::new(gpu(), &start, &data, &config).unwrap();
    assert!(alone.lookahead_epochs() >= lrs.len());
    let want = run(&mut alone);
    let members = [
        cand(&start, &data, &config),
        cand(&sound_start, &data, &config),
    ];
    let group = Group::new(gpu(), &members).unwrap().expect("one shape");
    let got = std::thread::scope(|scope| {
        let mut diverging = group.member(0, &start);
        let mut sound = group.member(1, &sound_start);
        let other = scope.spawn(move || {
            let losses = gpumlp::train::Backend::run_epochs(&mut sound, &[1e-5; 5], &|| false);
            sound.finish();
            losses
        });
        let got = run(&mut diverging);
        diverging.finish();
        assert_eq!(other.join().unwrap().unwrap().len(), 5);
        got
    });
    assert!(
        (2..lrs.len()).contains(&want.0.len()),
        "{} sound epochs",
        want.0.len()
    );
    assert_eq!(bits(&got.0), bits(&want.0), "the sound epochs");
    assert_eq!(got.1, want.1, "the divergence");
    let differs = got.2.iter().zip(&want.2).position(|(a, b)| a != b);
    assert_eq!(differs, None, "the weights kept");
}
