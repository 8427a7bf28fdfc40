//! Hostile input, bounded so it runs in every CI: thousands of generated CSV files and damaged
//! model and checkpoint files go through the reader, the preprocessing and the loaders, which
//! must return values or errors and never panic or allocate what a header claims. (The fuzz/
//! folder holds the same three targets for cargo-fuzz, for longer runs.)

use crate::common::lies::{self, Kind};
use gpumlp::data::prep::{label, MissingPolicy, Preprocessor};
use gpumlp::data::table::Table;
use gpumlp::model_file::SavedModel;
use gpumlp::train::fit::Checkpoint;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, keeping the largest single allocation this test binary asked for:
/// no file may make gpumlp allocate more than [`MOST_BYTES`] at once.
struct Measured;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
const MOST_BYTES: usize = 1 << 30;

// SAFETY: every call goes straight to the system allocator with the same arguments.
unsafe impl GlobalAlloc for Measured {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Measured = Measured;

impl lies::Choices for ChaCha8Rng {
    fn below(&mut self, n: usize) -> usize {
        self.random_range(0..n.max(1))
    }
}

const CELLS: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "1.5",
    "1e308",
    "-1e308",
    "1e999",
    "NaN",
    "inf",
    "-inf",
    "NA",
    "?",
    "null",
    "None",
    "n/a",
    "red",
    "blue",
    "\"quoted, comma\"",
    "\"a\"\"b\"",
    "é",
    "🦀",
    " 7 ",
    "0x10",
    "1,5",
    "\"",
    "\r",
    "\n",
    "yes",
    "no",
    "TRUE",
    "3",
    "4",
    "2",
];

/// A CSV-like document: a header and ragged or regular rows of awkward cells, or raw bytes.
fn csv_case(rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.random_bool(0.15) {
        let n = rng.random_range(0..200);
        return (0..n).map(|_| rng.random()).collect();
    }
    let cols = rng.random_range(1..6);
    let rows = rng.random_range(0..40);
    let mut s = String::new();
    for c in 0..cols {
        if c > 0 {
            s.push(',');
        }
        if rng.random_bool(0.9) {
            s += &format!("c{c}");
        } else {
            s += CELLS[rng.random_range(0..CELLS.len())];
        }
    }
    s.push('\n');
    for _ in 0..rows {
        let n = if rng.random_bool(0.9) {
            cols
        } else {
            rng.random_range(0..cols + 2)
        };
        for c in 0..n {
            if c > 0 {
                s.push(',');
            }
            s += CELLS[rng.random_range(0..CELLS.len())];
        }
        s.push('\n');
    }
    s.into_bytes()
}

fn run_pipeline(bytes: &[u8]) {
    let Ok(table) = Table::from_reader("case.csv", bytes) else {
        return;
    };
    for target in table.columns.clone() {
        for missing in [MissingPolicy::Impute, MissingPolicy::Drop] {
            let Ok(labelled) = label(&table, &target, None, missing) else {
                continue;
            };
            let all: Vec<usize> = (0..labelled.rows.len()).collect();
            if let Ok(prep) = Preprocessor::fit(&table, &labelled, &all) {
                let _ = prep.transform(&table, &labelled.rows);
            }
        }
    }
}

#[test]
fn generated_csv_files_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..20000 {
        run_pipeline(&csv_case(&mut rng));
    }
}

/// A real model file, written by `gpumlp train` on the CPU reference.
fn model_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("t.csv");
    std::fs::write(&data, "a,colour,y\n1,red,0\n2,blue,1\n3,red,0\n4,blue,1\n").unwrap();
    let path = dir.path().join("m.safetensors");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpumlp"))
        .args([
            "train",
            "--backend",
            "cpu",
            "--epochs",
            "2",
            "--val-fraction",
            "0",
            "-q",
        ])
        .arg(&data)
        .args(["--target", "y", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&path).unwrap()
}

#[test]
fn damaged_model_files_never_panic_or_load() {
    let good = model_bytes();
    assert!(SavedModel::from_bytes("good", &good).is_ok());
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for case in 0..3000 {
        let bytes = damage(&good, case, &mut rng);
        if bytes != good {
            assert!(
                SavedModel::from_bytes("damaged", &bytes).is_err(),
                "case {case}: a damaged file loaded"
            );
        }
    }
}

#[test]
fn metadata_claiming_a_huge_network_is_refused_before_allocating() {
    // Rewrite the architecture in a valid file's metadata to claim 10⁹ hidden units.
    let good = model_bytes();
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&good[8..8 + n]).unwrap();
    let forged = header.replacen("\\\"hidden\\\":[[64,", "\\\"hidden\\\":[[1000000000,", 1);
    assert_ne!(forged, header, "the metadata holds the hidden widths");
    let mut bytes = (forged.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(forged.as_bytes());
    bytes.extend_from_slice(&good[8 + n..]);
    let e = SavedModel::from_bytes("forged", &bytes)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("forged") && e.contains("spec") && e.contains("1000000000"),
        "{e}"
    );
}

/// One way of damaging a file, chosen by `case`.
fn damage(good: &[u8], case: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut bytes = good.to_vec();
    match case % 4 {
        0 => {
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] ^= 1 << rng.random_range(0..8);
            }
        }
        1 => bytes.truncate(rng.random_range(0..bytes.len())),
        2 => {
            let i = rng.random_range(0..bytes.len());
            let junk: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
            bytes.splice(i..i, junk);
        }
        _ => {
            let claim: u64 = rng.random_range(bytes.len() as u64..u64::MAX);
            bytes[..8].copy_from_slice(&claim.to_le_bytes());
        }
    }
    bytes
}

#[test]
fn damaged_checkpoints_never_panic_load_or_resume() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("t.csv");
    let mut csv = String::from("a,b,y\n");
    for i in 0..40 {
        csv += &format!("{},{},{}\n", i % 7, (i * 3) % 5, i % 2);
    }
    std::fs::write(&data, &csv).unwrap();
    let ckpt = dir.path().join("run.ckpt");
    let gpumlp = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gpumlp"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = gpumlp(&[
        "train".as_ref(),
        "--backend".as_ref(),
        "cpu".as_ref(),
        data.as_os_str(),
        "--target".as_ref(),
        "y".as_ref(),
        "--epochs".as_ref(),
        "3".as_ref(),
        "--checkpoint".as_ref(),
        ckpt.as_os_str(),
        "--checkpoint-every".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        dir.path().join("m.safetensors").as_os_str(),
        "-q".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let good = std::fs::read(&ckpt).unwrap();
    assert!(Checkpoint::from_bytes("good", &good).is_ok());

    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let damaged_path = dir.path().join("damaged.ckpt");
    for case in 0..2000 {
        let bytes = damage(&good, case, &mut rng);
        if bytes == good {
            continue;
        }
        assert!(
            Checkpoint::from_bytes("damaged", &bytes).is_err(),
            "case {case}: a damaged checkpoint loaded"
        );
        // Some of them all the way through the command line.
        if case % 100 == 0 {
            std::fs::write(&damaged_path, &bytes).unwrap();
            let out = gpumlp(&[
                "train".as_ref(),
                "--resume".as_ref(),
                damaged_path.as_os_str(),
            ]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "case {case}: {stderr}");
            assert!(!stderr.contains("panicked"), "case {case}: {stderr}");
            assert!(stderr.contains("damaged.ckpt"), "names the file: {stderr}");
        }
    }

    // A whole checkpoint whose data file has changed since: refused, named.
    std::fs::write(&data, csv.replace("6,", "5,")).unwrap();
    let out = gpumlp(&["train".as_ref(), "--resume".as_ref(), ckpt.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("changed since the checkpoint"), "{stderr}");
}

/// A run of three classes with a text column and missing cells, trained on the CPU reference
/// with a checkpoint every epoch: the model, the checkpoint, and the data's folder.
fn run_files() -> (tempfile::TempDir, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("t.csv");
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
    let (model, ckpt) = (
        dir.path().join("m.safetensors"),
        dir.path().join("run.ckpt"),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpumlp"))
        .args([
            "train",
            "--backend",
            "cpu",
            "--epochs",
            "3",
            "--hidden",
            "5",
            "-q",
        ])
        .arg(&data)
        .args(["--target", "y", "--checkpoint-every", "1", "--out"])
        .arg(&model)
        .arg("--checkpoint")
        .arg(&ckpt)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (m, c) = (
        std::fs::read(&model).unwrap(),
        std::fs::read(&ckpt).unwrap(),
    );
    (dir, m, c)
}

/// What a model that loaded must do with the real rows it was trained on: predict them, with
/// finite probabilities that sum to 1 (or finite values), unless the table lacks a column the
/// model names or a weight is so large (the liar writes 3e38) that the outputs overflow;
/// then predict refuses, saying exactly that. Any other failure is a lie the loader let
/// through. Returns whether it predicted.
fn predicts_or_is_refused_for_a_reason(case: usize, model: &SavedModel, table: &Table) -> bool {
    let device = gpumlp::workflow::Device::Cpu;
    let missing: Vec<&str> = model
        .meta
        .preprocessor
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|name| !table.columns.iter().any(|c| c == name))
        .collect();
    let huge = model.mlp.params().iter().any(|w| w.abs() > 1e30);
    match gpumlp::workflow::predict(model, table, device) {
        Ok(p) => {
            assert!(
                missing.is_empty(),
                "case {case}: predicted without {missing:?}"
            );
            assert_eq!(p.rows.len(), table.rows.len(), "case {case}: every row");
            assert!(p.values.iter().all(|v| v.is_finite()), "case {case}");
            if !p.classes.is_empty() {
                for row in p.values.chunks(p.classes.len()) {
                    let sum: f32 = row.iter().sum();
                    assert!((sum - 1.0).abs() < 1e-4, "case {case}: {row:?}");
                }
                assert!(p.labels.iter().all(|&l| l < p.classes.len()), "case {case}");
            }
            true
        }
        Err(gpumlp::Error::Input { message, .. })
            if missing.iter().any(|m| message.contains(&format!("{m:?}"))) =>
        {
            false
        }
        Err(gpumlp::Error::InvalidModel(message))
            if huge && message.contains("too large for f32") =>
        {
            false
        }
        Err(e) => panic!("case {case}: a lying model loaded but cannot predict: {e}"),
    }
}

/// A model file with a valid checksum and lying contents either is refused with an error that
/// names the file, or loads into a model that predicts the real rows (see
/// [`predicts_or_is_refused_for_a_reason`]) and, when it still names their target and
/// classes, evaluates them.
#[test]
fn models_that_lie_are_refused_or_predict_sensibly() {
    let (dir, good, _) = run_files();
    let table = Table::read(&dir.path().join("t.csv")).unwrap();
    let resealed = lies::reseal(Kind::Model, &good);
    let honest =
        SavedModel::from_bytes("resealed", &resealed).expect("the liar's checksum is gpumlp's");
    assert!(predicts_or_is_refused_for_a_reason(0, &honest, &table));
    let device = gpumlp::workflow::Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut refused, mut predicted, mut declined) = (0, 0, 0);
    let mut fields = std::collections::BTreeSet::new();
    for case in 0..600 {
        let bytes = lies::lie(Kind::Model, &good, &mut rng);
        match SavedModel::from_bytes("lying.safetensors", &bytes) {
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.starts_with("lying.safetensors: "),
                    "case {case}: {text}"
                );
                assert!(!text.contains('\n'), "case {case}: one line: {text}");
                if let gpumlp::Error::FileField { field, .. } = &e {
                    fields.insert(field.split(['[', '.']).next().unwrap_or("").to_string());
                }
                refused += 1;
            }
            Ok(model) => {
                if !predicts_or_is_refused_for_a_reason(case, &model, &table) {
                    declined += 1;
                    let _ = gpumlp::workflow::evaluate(&model, &table, device);
                    continue;
                }
                predicted += 1;
                let evaluated = gpumlp::workflow::evaluate(&model, &table, device);
                let meta = (&model.meta, &honest.meta);
                if meta.0.target == meta.1.target && meta.0.classes == meta.1.classes {
                    let metrics = evaluated.unwrap_or_else(|e| panic!("case {case}: {e}"));
                    let accuracy = metrics.scalars()[0].1;
                    assert!((0.0..=1.0).contains(&accuracy), "case {case}: {accuracy}");
                }
            }
        }
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    eprintln!(
        "600 lying models: {refused} refused, {predicted} loaded and predicted, {declined} \
         loaded and refused to predict (a column the table lacks, or weights too large); \
         fields named: {fields:?}; largest allocation {largest} bytes"
    );
    assert!(
        refused > 300 && predicted > 10,
        "{refused} refused, {predicted} predicted"
    );
    assert!(largest < MOST_BYTES, "an allocation of {largest} bytes");
}

/// A checkpoint with a valid checksum and lying contents is refused (naming the file) or
/// resumes within bounds: it never chooses where the run writes, never sizes anything before
/// it is checked, and never panics.
#[test]
fn checkpoints_that_lie_are_refused_or_resume_within_bounds() {
    use gpumlp::job::{Job, ResumeArgs};
    use gpumlp::train::fit::FitControl;
    let (dir, _, good) = run_files();
    let path = dir.path().join("lying.ckpt");
    std::fs::write(&path, lies::reseal(Kind::Checkpoint, &good)).unwrap();
    let (job, _) = Job::resume(&path, &ResumeArgs::default()).expect("the resealed file resumes");
    let model_path = dir.path().join("m.safetensors");
    assert_eq!(job.out, model_path, "the run's own model file");
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let (mut refused, mut resumed) = (0, 0);
    for case in 0..400 {
        std::fs::write(&path, lies::lie(Kind::Checkpoint, &good, &mut rng)).unwrap();
        match Job::resume(&path, &ResumeArgs::default()) {
            Err(e) => {
                let text = e.to_string();
                assert!(!text.contains('\n'), "case {case}: one line: {text}");
                refused += 1;
            }
            Ok((job, checkpoint)) => {
                resumed += 1;
                assert!(
                    job.out == model_path || job.out.parent() == Some(dir.path()),
                    "case {case}: writes its model to {}",
                    job.out.display()
                );
                assert_eq!(
                    job.checkpoint, path,
                    "case {case}: checkpoints go back to it"
                );
                // Train on, but no more than a few submissions.
                let table = Table::read(&job.data).unwrap();
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
                let _ = gpumlp::workflow::train_controlled(
                    &table,
                    &job.options,
                    gpumlp::workflow::Device::Cpu,
                    &mut |_, _| {},
                    control,
                );
            }
        }
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    eprintln!(
        "400 lying checkpoints: {refused} refused, {resumed} resumed; largest allocation \
         {largest} bytes"
    );
    assert!(
        refused > 200 && resumed > 10,
        "{refused} refused, {resumed} resumed"
    );
    assert!(largest < MOST_BYTES, "an allocation of {largest} bytes");
}
