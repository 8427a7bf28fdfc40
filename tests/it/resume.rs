//! Checkpoints and resume: a run stopped at any step, saved, loaded and continued ends with
//! the same weights, bit for bit, and the same history as a run never stopped, on the GPU
//! (per-op and fused) and on the CPU reference.

use crate::common::{gpu, report, uniform};
use gpumlp::train::fit::{fit_controlled, fit_with, Backend, Checkpoint, FitControl, FitReport};
use gpumlp::train::StopMetric;
use gpumlp::{
    cpu, Activation, Dataset, Error, Loss, Mlp, MlpSpec, OptimizerConfig, OptimizerKind, Schedule,
    TrainConfig, Trainer,
};
use std::cell::Cell;

/// Rows of `features` features in `classes` noisy clusters, one-hot targets.
fn clustered(seed: u64, rows: usize, features: usize, classes: usize) -> Dataset {
    let centres = uniform(seed, classes * features, -2.0, 2.0);
    let noise = uniform(seed + 1, rows * features, -1.5, 1.5);
    let mut x = Vec::with_capacity(rows * features);
    let mut y = vec![0.0; rows * classes];
    for r in 0..rows {
        let c = r % classes;
        for f in 0..features {
            x.push(centres[c * features + f] + noise[r * features + f]);
        }
        y[r * classes + c] = 1.0;
    }
    Dataset::with_targets(x, y, features, classes, None).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Which trainer a run uses.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    GpuPerOp,
    GpuFused,
    /// The wide fused kernel with the validation rows in its dispatch: several epochs a
    /// call, ahead of the epoch loop.
    GpuAhead,
    Cpu,
}

fn backend<'a>(
    kind: Kind,
    start: &Mlp,
    data: &'a Dataset,
    val: Option<&Dataset>,
    config: &TrainConfig,
) -> Box<dyn Backend + 'a> {
    match kind {
        Kind::GpuAhead => {
            let mut t = Trainer::with_validation(gpu(), start, data, val, config).unwrap();
            assert_eq!(t.path(), "fused wide");
            assert!(t.lookahead_epochs() > 1 && t.validates_in_dispatch());
            t.set_steps_per_submission(3);
            Box::new(t)
        }
        Kind::GpuPerOp | Kind::GpuFused => {
            let config = TrainConfig {
                allow_fused: matches!(kind, Kind::GpuFused),
                ..config.clone()
            };
            let mut t = Trainer::new(gpu(), start, data, &config).unwrap();
            assert_eq!(t.is_fused(), matches!(kind, Kind::GpuFused), "{kind:?}");
            // Small submissions, so stops land part way through epochs.
            t.set_steps_per_submission(3);
            Box::new(t)
        }
        Kind::Cpu => Box::new(cpu::CpuTrainer::new(start, data, config).unwrap()),
    }
}

/// The comparable part of a report.
fn history(r: &FitReport) -> (Vec<u32>, Vec<u32>, Vec<u32>, Option<usize>, bool) {
    (
        bits(&r.epoch_losses),
        bits(&r.val_losses),
        bits(&r.lrs),
        r.best_epoch,
        r.stopped_early,
    )
}

/// How a stopped and resumed run went.
struct Resumed {
    /// Times it was stopped.
    stops: usize,
    /// Of those, stops part way through an epoch.
    mid_epoch: usize,
    /// The report of the run never stopped (equal, bit for bit, to the resumed one's).
    report: FitReport,
}

/// Trains once without stopping, then again stopping after every `every` stop checks, each
/// time saving the checkpoint to a file, loading it and continuing in a fresh trainer; both
/// must end bit for bit the same, and some stops must land inside an epoch.
fn interrupted_equals_uninterrupted(
    kind: Kind,
    start: &Mlp,
    train: &Dataset,
    val: Option<&Dataset>,
    config: &TrainConfig,
    every: usize,
) -> Resumed {
    let rows = train.rows();
    let mut whole = backend(kind, start, train, val, config);
    let want = fit_with(&mut *whole, config, rows, val, &mut |_| {}).unwrap();
    let want_params = whole.model().unwrap().params().to_vec();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ckpt");
    let mut resume: Option<Checkpoint> = None;
    let mut stops = 0;
    let mut mid_epoch = 0;
    let mut periodic = 0;
    let got = loop {
        let mut trainer = backend(kind, start, train, val, config);
        let checks = Cell::new(0usize);
        let stop = || {
            checks.set(checks.get() + 1);
            checks.get().is_multiple_of(every)
        };
        let mut saved = Vec::new();
        let mut save = |c: &Checkpoint| {
            saved.push(c.clone());
            Ok(())
        };
        let control = FitControl {
            stop: &stop,
            checkpoint_every: Some(7),
            save: Some(&mut save),
            resume: resume.take(),
        };
        match fit_controlled(&mut *trainer, config, rows, val, &mut |_| {}, control) {
            Ok(report) => break (report, trainer.model().unwrap().params().to_vec()),
            Err(Error::Interrupted { epochs_done, steps }) => {
                stops += 1;
                mid_epoch += usize::from(steps > 0);
                assert!(stops < 500, "the run never ends");
                let last = saved.last().expect("a checkpoint is saved on a stop");
                assert_eq!(last.state.epochs_done, epochs_done);
                assert_eq!(last.state.partial_losses.len(), steps);
                periodic += saved.len() - 1;
                let job = serde_json::json!({ "stop": stops });
                last.save(&path, &job).unwrap();
                let (loaded, job_back) = Checkpoint::load(&path).unwrap();
                assert_eq!(job_back, job);
                assert_eq!(loaded.state, last.state);
                assert_eq!(
                    bits(&loaded.history.epoch_losses),
                    bits(&last.history.epoch_losses)
                );
                assert_eq!(
                    bits(&loaded.history.val_losses),
                    bits(&last.history.val_losses)
                );
                assert_eq!(bits(&loaded.history.lrs), bits(&last.history.lrs));
                resume = Some(loaded);
            }
            Err(e) => panic!("{kind:?}: {e}"),
        }
    };
    let (got_report, got_params) = got;
    assert!(stops > 0, "{kind:?}: the run was never stopped");
    // A call that runs ahead is one submission: its stops land between calls.
    assert!(
        mid_epoch > 0 || kind == Kind::GpuAhead,
        "{kind:?}: no stop landed inside an epoch"
    );
    assert!(periodic > 0, "{kind:?}: no periodic checkpoint was taken");
    assert_eq!(history(&got_report), history(&want), "{kind:?}: history");
    let worst = got_params
        .iter()
        .zip(&want_params)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert!(
        worst.is_none(),
        "{kind:?}: parameter {} differs: {} resumed, {} uninterrupted",
        worst.unwrap_or(0),
        got_params[worst.unwrap_or(0)],
        want_params[worst.unwrap_or(0)]
    );
    Resumed {
        stops,
        mid_epoch,
        report: want,
    }
}

fn early_stopping_setup(hidden: usize) -> (Mlp, Dataset, Dataset, TrainConfig) {
    let spec = MlpSpec::new(5)
        .hidden(hidden, Activation::Relu)
        .output(3, Loss::SoftmaxCe);
    let train = clustered(3, 45, 5, 3);
    let val = clustered(4, 60, 5, 3);
    let config = TrainConfig {
        epochs: 60,
        batch_size: 8,
        optimizer: OptimizerConfig {
            lr: 0.01,
            ..OptimizerConfig::default()
        },
        schedule: Schedule::Plateau {
            factor: 0.5,
            patience: 2,
            min_lr: 1e-4,
        },
        patience: Some(10),
        min_delta: 1e-4,
        seed: 5,
        early_stopping_metric: StopMetric::Loss,
        allow_fused: true,
    };
    (Mlp::new(&spec, 9).unwrap(), train, val, config)
}

#[test]
fn resumed_runs_equal_uninterrupted_runs_with_validation_plateau_and_early_stopping() {
    for (kind, hidden) in [
        (Kind::GpuPerOp, 24),
        (Kind::GpuFused, 12),
        (Kind::GpuAhead, 24),
        (Kind::Cpu, 24),
    ] {
        let (start, train, val, mut config) = early_stopping_setup(hidden);
        if kind == Kind::GpuAhead {
            // A schedule that follows the loss looks at every epoch before the next.
            config.schedule = Schedule::Constant;
        }
        // 45 rows in batches of 8: 6 steps an epoch, the last one short.
        let r = interrupted_equals_uninterrupted(kind, &start, &train, Some(&val), &config, 5);
        // Early stopping fired (the resumed run replayed it: their histories are equal), and
        // the weights are the best epoch's.
        let (ran, best) = (r.report.epoch_losses.len(), r.report.best_epoch);
        assert!(
            r.report.stopped_early && ran < config.epochs,
            "{kind:?}: early stopping never fired ({ran} epochs)"
        );
        let best = best.expect("a best epoch is kept");
        assert_eq!(
            ran,
            best + 10,
            "{kind:?}: stopped after 10 epochs without progress"
        );
        report(&format!(
            "resume {kind:?}: {} stops ({} inside an epoch), stopped early after epoch {ran}, \
             kept {best}; bit-identical",
            r.stops, r.mid_epoch
        ));
    }
}

#[test]
fn resumed_runs_equal_uninterrupted_runs_without_validation_sgd_and_adamw() {
    let spec = MlpSpec::new(4).hidden(10, Activation::Tanh);
    let data = clustered(7, 50, 4, 1);
    for (kind, optimizer) in [
        (Kind::GpuPerOp, OptimizerKind::Sgd),
        (Kind::GpuFused, OptimizerKind::AdamW),
        (Kind::Cpu, OptimizerKind::Sgd),
        (Kind::Cpu, OptimizerKind::AdamW),
    ] {
        let config = TrainConfig {
            epochs: 30,
            batch_size: 16,
            optimizer: OptimizerConfig {
                kind: optimizer,
                lr: 0.05,
                weight_decay: 0.01,
                ..OptimizerConfig::default()
            },
            schedule: Schedule::Cosine { min_lr: 0.001 },
            seed: 2,
            ..TrainConfig::default()
        };
        let start = Mlp::new(&spec, 4).unwrap();
        let r = interrupted_equals_uninterrupted(kind, &start, &data, None, &config, 4);
        report(&format!(
            "resume {kind:?} {optimizer:?}: {} stops ({} inside an epoch), bit-identical",
            r.stops, r.mid_epoch
        ));
    }
}

#[test]
fn a_checkpoint_from_another_network_is_refused() {
    let (start, train, _, config) = early_stopping_setup(24);
    let mut trainer = backend(Kind::GpuPerOp, &start, &train, None, &config);
    let mut state = trainer.state().unwrap();
    state.params.pop();
    let e = trainer.set_state(&state).unwrap_err().to_string();
    assert!(e.contains("parameters"), "{e}");
}

#[test]
fn a_resumed_run_takes_the_path_its_checkpoint_recorded() {
    use gpumlp::data::table::Table;
    use gpumlp::workflow::{train_controlled, Device, TrainOptions};
    // A network the wide fused kernel takes, trained one dispatch per op and stopped.
    let mut text = String::from("a,b,c,d,e,y\n");
    let x = uniform(21, 120 * 5, -2.0, 2.0);
    for r in 0..120 {
        let row = &x[r * 5..(r + 1) * 5];
        let y = u8::from(row[0] + row[1] * row[2] > 0.0);
        text.push_str(&format!(
            "{},{},{},{},{},{y}\n",
            row[0], row[1], row[2], row[3], row[4]
        ));
    }
    let table = Table::from_reader("t.csv", text.as_bytes()).unwrap();
    let mut opts = TrainOptions {
        target: "y".into(),
        hidden: vec![40, 20],
        ..TrainOptions::default()
    };
    opts.config.epochs = 6;
    opts.config.batch_size = 16;
    let per_op = TrainOptions {
        config: TrainConfig {
            allow_fused: false,
            ..opts.config.clone()
        },
        ..opts.clone()
    };
    let whole = train_controlled(
        &table,
        &per_op,
        Device::Gpu(gpu()),
        &mut |_, _| {},
        FitControl::none(),
    )
    .unwrap();
    let saved: std::cell::RefCell<Option<Checkpoint>> = Default::default();
    let calls = Cell::new(0);
    let stop = || {
        calls.set(calls.get() + 1);
        calls.get() == 3
    };
    let mut save = |c: &Checkpoint| {
        *saved.borrow_mut() = Some(c.clone());
        Ok(())
    };
    let control = FitControl {
        stop: &stop,
        checkpoint_every: None,
        save: Some(&mut save),
        resume: None,
    };
    let stopped = train_controlled(&table, &per_op, Device::Gpu(gpu()), &mut |_, _| {}, control);
    assert!(matches!(stopped, Err(Error::Interrupted { .. })), "stopped");
    let checkpoint = saved.borrow_mut().take().expect("a checkpoint on the stop");
    assert_eq!(checkpoint.state.path, "per-op");
    // Continued with the fused kernel allowed: the recorded path wins.
    let control = FitControl {
        resume: Some(checkpoint),
        ..FitControl::none()
    };
    let resumed =
        train_controlled(&table, &opts, Device::Gpu(gpu()), &mut |_, _| {}, control).unwrap();
    let (got, want) = (
        bits(resumed.model.mlp.params()),
        bits(whole.model.mlp.params()),
    );
    let differ = got.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(
        differ, None,
        "the resumed run is the run that never stopped, bit for bit (first differing parameter)"
    );
}
