//! Interruption from outside, as users and machines do it: Ctrl-C (SIGINT) saves a checkpoint
//! and exits with 130, `--resume` then ends with the very weights of a run never stopped, and
//! kill -9 at any moment leaves the previous model and checkpoint files whole.

use gpumlp::model_file::SavedModel;
use gpumlp::train::fit::Checkpoint;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BREAST_CANCER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/data/breast_cancer.csv"
);

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gpumlp"));
    c.args(args);
    c
}

fn spawn(args: &[&str]) -> Child {
    command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gpumlp starts")
}

fn finished(child: Child) -> (Option<i32>, String) {
    let out: Output = child.wait_with_output().expect("gpumlp ends");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_ok(args: &[&str]) {
    let out = command(args).output().expect("gpumlp runs");
    assert!(
        out.status.success(),
        "gpumlp {args:?} failed ({}): {}\nIf no adapter was found, install Mesa's lavapipe \
         (apt-get install mesa-vulkan-drivers) or run with a GPU.",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until `path` exists (the run is under way and has saved once).
fn wait_for(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("gpumlp ended ({status}) before writing {}", path.display());
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill {name} failed");
}

fn weights(path: &Path) -> Vec<u32> {
    let model = SavedModel::load(path).unwrap_or_else(|e| panic!("{e}"));
    model.mlp.params().iter().map(|v| v.to_bits()).collect()
}

/// 512 training rows in batches of 8: 64 steps an epoch, two submissions, so a stop can land
/// inside an epoch.
const RUN: [&str; 11] = [
    "train",
    BREAST_CANCER,
    "--target",
    "malignant",
    "--epochs",
    "30",
    "--batch-size",
    "8",
    "--patience",
    "0",
    "-q",
];

#[test]
fn ctrl_c_saves_a_checkpoint_and_resume_ends_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let (whole, stopped, ckpt) = (
        p("whole.safetensors"),
        p("stopped.safetensors"),
        p("run.ckpt"),
    );
    run_ok(&[&RUN[..], &["--out", &whole]].concat());

    let mut child = spawn(
        &[
            &RUN[..],
            &[
                "--out",
                &stopped,
                "--checkpoint",
                &ckpt,
                "--checkpoint-every",
                "2",
            ],
        ]
        .concat(),
    );
    wait_for(Path::new(&ckpt), &mut child);
    signal(&child, "-INT");
    let (code, stderr) = finished(child);
    assert_eq!(code, Some(130), "Ctrl-C exits with 130; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("checkpoint saved to") && stderr.contains(&format!("--resume {ckpt}")),
        "says where the checkpoint is and how to continue: {stderr}"
    );
    assert!(
        !Path::new(&stopped).exists(),
        "no model from an unfinished run"
    );
    let (checkpoint, _) = Checkpoint::load(Path::new(&ckpt)).unwrap();
    eprintln!(
        "stopped after {} epochs and {} steps: {}",
        checkpoint.state.epochs_done,
        checkpoint.state.partial_losses.len(),
        stderr
            .lines()
            .find(|l| l.starts_with("interrupted"))
            .unwrap_or("")
    );

    run_ok(&["train", "--resume", &ckpt, "-q"]);
    let (a, b) = (weights(Path::new(&whole)), weights(Path::new(&stopped)));
    let differ = a.iter().zip(&b).position(|(x, y)| x != y);
    assert!(
        differ.is_none(),
        "parameter {differ:?} differs after resume"
    );
    assert!(Path::new(&ckpt).exists(), "a named checkpoint is kept");
}

#[test]
fn ctrl_c_stops_a_streamed_run_and_resume_ends_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    // 2.4 MB: more than 16 MiB in memory by gpumlp's estimate, so `train` streams it.
    let data = p("rows.csv");
    std::fs::write(&data, crate::streamed::csv(40_000)).unwrap();
    let (whole, stopped, ckpt) = (
        p("whole.safetensors"),
        p("stopped.safetensors"),
        p("r.ckpt"),
    );
    let run: [&str; 12] = [
        "train",
        &data,
        "--target",
        "label",
        "--epochs",
        "12",
        "--patience",
        "0",
        "--max-memory",
        "16MiB",
        "--val-fraction",
        "0.05",
    ];
    run_ok(&[&run[..], &["--out", &whole, "-q"]].concat());
    let mut child = spawn(
        &[
            &run[..],
            &[
                "--out",
                &stopped,
                "--checkpoint",
                &ckpt,
                "--checkpoint-every",
                "1",
            ],
        ]
        .concat(),
    );
    wait_for(Path::new(&ckpt), &mut child);
    signal(&child, "-INT");
    let (code, stderr) = finished(child);
    assert_eq!(code, Some(130), "Ctrl-C exits with 130; stderr: {stderr}");
    let (checkpoint, _) = Checkpoint::load(Path::new(&ckpt)).unwrap();
    eprintln!(
        "streamed run stopped after {} epochs and {} steps",
        checkpoint.state.epochs_done,
        checkpoint.state.partial_losses.len()
    );
    run_ok(&["train", "--resume", &ckpt, "-q"]);
    let (a, b) = (weights(Path::new(&whole)), weights(Path::new(&stopped)));
    let differ = a.iter().zip(&b).position(|(x, y)| x != y);
    assert!(
        differ.is_none(),
        "parameter {differ:?} differs after resume"
    );
}

#[test]
fn ctrl_c_without_checkpoint_flag_saves_beside_the_model_and_resume_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let implicit = dir.path().join("m.ckpt");
    // Progress lines on (no -q): the first epoch's line is the sign that training is under
    // way, however fast the device; 60 epochs leave it time to be interrupted after that.
    let mut args: Vec<&str> = RUN.iter().copied().filter(|a| *a != "-q").collect();
    let model_arg = model.display().to_string();
    args.extend(["--out", &model_arg]);
    let epochs = args.iter().position(|a| *a == "--epochs").unwrap() + 1;
    args[epochs] = "60";
    let mut child = spawn(&args);
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line.clone());
            all += &line;
            all.push('\n');
        }
        all
    });
    loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if line.starts_with("epoch 1/") => break,
            Ok(_) => {}
            Err(e) => panic!("no first epoch line from the run: {e}"),
        }
    }
    signal(&child, "-INT");
    let code = child.wait().expect("gpumlp ends").code();
    let stderr = reader.join().expect("stderr read");
    assert_ne!(
        code,
        Some(0),
        "the run finished before Ctrl-C landed; make it longer: {stderr}"
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        implicit.exists(),
        "Ctrl-C saved {}: {stderr}",
        implicit.display()
    );
    run_ok(&["train", "--resume", &implicit.display().to_string(), "-q"]);
    assert!(model.exists());
    assert!(
        !implicit.exists(),
        "the finished run's implicit checkpoint is removed"
    );
}

#[test]
fn kill_9_at_any_moment_leaves_the_last_model_and_checkpoint_whole() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let ckpt = dir.path().join("m.ckpt");
    let kept = dir.path().join("killed.ckpt");
    let whole = dir.path().join("whole.safetensors");
    let (model_s, ckpt_s) = (model.display().to_string(), ckpt.display().to_string());
    // A model already there: a killed run must never leave it half written. And the model of
    // the same run never stopped, which a killed run's checkpoint must lead to.
    run_ok(&[&RUN[..5], &["2", "--out", &model_s]].concat());
    let before = weights(&model);
    run_ok(&[&RUN[..5], &["60", "--out", &whole.display().to_string()]].concat());
    let finished_weights = weights(&whole);
    let args = [
        &RUN[..5],
        &[
            "60",
            "--out",
            &model_s,
            "--checkpoint",
            &ckpt_s,
            "--checkpoint-every",
            "1",
        ],
    ]
    .concat();
    // Kills while the run starts, then at moments after its first checkpoint was written:
    // during training, during later checkpoint writes, near the end.
    let moments = [
        (false, 0u64),
        (false, 40),
        (false, 150),
        (true, 0),
        (true, 3),
        (true, 10),
        (true, 25),
        (true, 60),
        (true, 120),
        (true, 250),
    ];
    let (mut kills, mut checked) = (0, 0);
    for (after_checkpoint, delay_ms) in moments {
        if ckpt.exists() {
            std::fs::remove_file(&ckpt).unwrap();
        }
        let mut child = spawn(&args);
        if after_checkpoint {
            wait_for(&ckpt, &mut child);
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().ok(); // SIGKILL
        let (code, _) = finished(child);
        let killed = code.is_none();
        kills += usize::from(killed);
        let when =
            format!("after kill -9 at {delay_ms} ms (after a checkpoint: {after_checkpoint})");
        let now = weights(&model);
        assert!(
            now == before || now == finished_weights,
            "{when}: the model is the old one or the finished run's"
        );
        if after_checkpoint {
            // It was there before the kill: it must still be, whole.
            let (c, _) = Checkpoint::load(&ckpt).unwrap_or_else(|e| panic!("{when}: {e}"));
            assert!(c.state.epochs_done >= 1, "{when}");
            if killed {
                checked += 1;
                std::fs::copy(&ckpt, &kept).unwrap();
            }
        }
    }
    assert!(
        kills >= 8 && checked >= 5,
        "only {kills} runs were killed before they finished, {checked} after a checkpoint"
    );
    // The checkpoint left by the last kill after one continues to the weights of a run never
    // stopped.
    std::fs::remove_file(&model).unwrap();
    run_ok(&["train", "--resume", &kept.display().to_string(), "-q"]);
    assert_eq!(
        weights(&model),
        finished_weights,
        "resumed after kill -9: the weights of a run never stopped"
    );
    eprintln!("{kills} runs killed with SIGKILL, {checked} after a checkpoint; every file left behind loads");
}

#[test]
fn a_checkpoint_resumes_from_another_folder_and_never_shares_the_models_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(BREAST_CANCER, dir.path().join("d.csv")).unwrap();
    // Relative paths, run inside `dir`.
    let out = command(&[
        "train",
        "d.csv",
        "--target",
        "malignant",
        "--epochs",
        "3",
        "--hidden",
        "8",
        "--out",
        "m.safetensors",
        "--checkpoint",
        "run.ckpt",
        "--checkpoint-every",
        "1",
        "-q",
    ])
    .current_dir(dir.path())
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = weights(&dir.path().join("m.safetensors"));
    std::fs::remove_file(dir.path().join("m.safetensors")).unwrap();
    // From elsewhere: the checkpoint's paths still find the data and the model's place.
    let elsewhere = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("run.ckpt");
    let out = command(&["train", "--resume", &ckpt.display().to_string(), "-q"])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(weights(&dir.path().join("m.safetensors")), before);

    let out = command(&[
        "train",
        "d.csv",
        "--target",
        "malignant",
        "--out",
        "x.ckpt",
        "--checkpoint",
        "x.ckpt",
    ])
    .current_dir(dir.path())
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--checkpoint x.ckpt is the same file as --out x.ckpt"),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_stops_a_search_between_batches_with_its_leaderboard_so_far() {
    // 70 candidates of 2 folds: three batches (32, 32, 6). Ctrl-C once the first batch has
    // reported: the batch under way finishes, the leaderboard so far is printed, no model is
    // written and the exit code is 130.
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("best.safetensors");
    let lrs: Vec<String> = (1..=14).map(|i| format!("{}", i as f32 * 1e-3)).collect();
    let mut child = command(&[
        "search",
        BREAST_CANCER,
        "--target",
        "malignant",
        "--lr",
        &lrs.join("|"),
        "--hidden",
        "4|6|8|10|12",
        // Long enough a batch that the signal lands inside the second one.
        "--epochs",
        "25",
        "--folds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("gpumlp starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(
            n > 0,
            "the search ended before reporting a candidate: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with("candidate ") {
            break;
        }
    }
    signal(&child, "-INT");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("search stopped after"), "{rest}");
    let scored: usize = stdout
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a leaderboard: {stdout}"));
    assert!(
        (32..70).contains(&scored) && stdout.contains(&format!("{scored} of 70 candidates")),
        "{stdout}"
    );
    assert!(!out.exists(), "no model is refitted after a stop");
}
