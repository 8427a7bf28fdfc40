//! Files that lie: a real model and a real checkpoint, their metadata and tensors rewritten as
//! the fuzzer's bytes choose (tests/common/lies.rs), their checksums recomputed. Each goes
//! through load, predict and evaluate, or resume and a few steps of training: a clear error
//! or a sound result, never a panic, never a huge allocation (run with -malloc_limit_mb=1024).
#![no_main]

#[path = "../../tests/it/common/lies.rs"]
mod lies;

use gpumlp::data::table::Table;
use gpumlp::job::{Job, Outputs, ResumeArgs};
use gpumlp::model_file::SavedModel;
use gpumlp::train::fit::{Checkpoint, FitControl};
use gpumlp::workflow::{self as pipeline, Device, TrainOptions};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Bytes<'a, 'b>(&'a mut Unstructured<'b>);

impl lies::Choices for Bytes<'_, '_> {
    fn below(&mut self, n: usize) -> usize {
        self.0.int_in_range(0..=n.max(1) - 1).unwrap_or(0)
    }
}

/// The seed files, made once: a CSV file on disk, a model trained on it and a checkpoint of
/// that run.
struct Seeds {
    dir: PathBuf,
    table: Table,
    model: Vec<u8>,
    checkpoint: Vec<u8>,
}

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gpumlp-fuzz-lies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("t.csv");
        let mut csv = String::from("a,colour,b,y\n");
        for i in 0..60 {
            let colour = ["red", "blue", "", "green"][i % 4];
            csv += &format!(
                "{},{colour},{},{}\n",
                i % 7,
                (i * 3) % 5,
                ["x", "y", "z"][i % 3]
            );
        }
        std::fs::write(&data, &csv).unwrap();
        let table = Table::read(&data).unwrap();
        let mut options = TrainOptions {
            target: "y".into(),
            hidden: vec![5],
            ..TrainOptions::default()
        };
        options.config.epochs = 3;
        let mut saved: Option<Checkpoint> = None;
        let mut save = |c: &Checkpoint| {
            saved = Some(c.clone());
            Ok(())
        };
        let control = FitControl {
            stop: &|| false,
            checkpoint_every: Some(1),
            save: Some(&mut save),
            resume: None,
        };
        let trained =
            pipeline::train_controlled(&table, &options, Device::Cpu, &mut |_, _| {}, control)
                .unwrap();
        // Built as `gpumlp train` builds it, so that new fields cannot leave this target behind.
        let outputs = Outputs {
            out: Some(dir.join("m.safetensors")),
            checkpoint: Some((dir.join("run.ckpt"), 1)),
            ..Outputs::default()
        };
        let mut job = Job::new(&data, options, outputs).unwrap();
        job.adapter = "cpu".into();
        let job = serde_json::to_value(&job).unwrap();
        let checkpoint = saved.unwrap().to_bytes(&job).unwrap();
        Seeds {
            dir,
            table,
            model: trained.model.to_bytes().unwrap(),
            checkpoint,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let s = seeds();
    let mut u = Unstructured::new(data);
    let model = u.arbitrary::<bool>().unwrap_or(true);
    let mut choices = Bytes(&mut u);
    if model {
        let bytes = lies::lie(lies::Kind::Model, &s.model, &mut choices);
        if let Ok(m) = SavedModel::from_bytes("lie.safetensors", &bytes) {
            // A model that loads predicts the rows it was trained on, unless it names a column
            // they lack or holds weights so large that its outputs overflow (as
            // tests/it/hostile.rs checks).
            let missing: Vec<&str> = m
                .meta
                .preprocessor
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .filter(|n| !s.table.columns.iter().any(|c| c == n))
                .collect();
            let huge = m.mlp.params().iter().any(|w| w.abs() > 1e30);
            match pipeline::predict(&m, &s.table, Device::Cpu) {
                Ok(p) => assert!(p.values.iter().all(|v| v.is_finite())),
                Err(gpumlp::Error::Input { message, .. })
                    if missing.iter().any(|c| message.contains(&format!("{c:?}"))) => {}
                Err(gpumlp::Error::InvalidModel(message))
                    if huge && message.contains("too large for f32") => {}
                Err(e) => panic!("a lying model loaded but cannot predict: {e}"),
            }
            let _ = pipeline::evaluate(&m, &s.table, Device::Cpu);
        }
    } else {
        let bytes = lies::lie(lies::Kind::Checkpoint, &s.checkpoint, &mut choices);
        let path = s.dir.join("lie.ckpt");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok((job, checkpoint)) = Job::resume(&path, &ResumeArgs::default()) {
            assert!(job.out.parent() == Some(s.dir.as_path()));
            let Ok(table) = Table::read(&job.data) else {
                return;
            };
            let asked = std::cell::Cell::new(0);
            let stop = || {
                asked.set(asked.get() + 1);
                asked.get() > 3
            };
            let control = FitControl {
                stop: &stop,
                checkpoint_every: None,
                save: None,
                resume: Some(checkpoint),
            };
            let _ = pipeline::train_controlled(
                &table,
                &job.options,
                Device::Cpu,
                &mut |_, _| {},
                control,
            );
        }
    }
});
