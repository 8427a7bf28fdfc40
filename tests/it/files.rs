//! What a command does with the files it is given: no output ever replaces an input or
//! another output, an output that cannot be written is refused before any training, every
//! input is bounded before it is read, and the messages about bad settings and odd rows say
//! what is true and where. The CPU reference trains (these tests are about files, not
//! kernels).

use crate::cli::{fails, json, ok, BREAST_CANCER};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A folder with a small copy of the bundled data, `d.csv`, and a model trained on it.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(BREAST_CANCER).unwrap();
        let head: Vec<&str> = text.lines().take(80).collect();
        std::fs::write(dir.path().join("d.csv"), head.join("\n") + "\n").unwrap();
        let scene = Scene { dir };
        ok(&[
            "train",
            &scene.s("d.csv"),
            "--target",
            "malignant",
            "--epochs",
            "2",
            "--backend",
            "cpu",
            "-q",
            "--out",
            &scene.s("m.safetensors"),
        ]);
        scene
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.p(name).display().to_string()
    }

    /// The bytes of every file in the folder, to show a refused command changed none.
    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                (p.file_name().unwrap().to_string_lossy().into_owned(), bytes)
            })
            .collect();
        all.sort();
        all
    }

    /// Runs a command that must be refused naming both `flags`, changing no file.
    fn refused(&self, args: &[&str], flags: [&str; 2]) {
        let before = self.snapshot();
        let line = fails(args);
        for flag in flags {
            assert!(line.contains(flag), "{args:?}: {line:?} names {flag}");
        }
        assert_eq!(self.snapshot(), before, "{args:?} changed a file");
    }
}

fn train<'a>(s: &'a Scene, extra: &[&'a str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        &s.s("d.csv"),
        "--target",
        "malignant",
        "--epochs",
        "2",
        "--backend",
        "cpu",
        "-q",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn no_output_flag_replaces_an_input() {
    let s = Scene::new();
    let data = s.s("d.csv");
    let model = s.s("m.safetensors");
    for flag in ["--out", "--metrics-csv", "--checkpoint"] {
        s.refused(&strs(&train(&s, &[flag, &data])), [flag, "DATA"]);
    }
    // A plot's name must end in .svg or .png: data named so.
    std::fs::copy(s.p("d.csv"), s.p("d.svg")).unwrap();
    let mut args = train(&s, &["--plot", &s.s("d.svg")]);
    args[1] = s.s("d.svg");
    s.refused(&strs(&args), ["--plot", "DATA"]);
    // The same file through a link, and through another spelling of its path.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(s.p("d.csv"), s.p("link.csv")).unwrap();
        s.refused(
            &strs(&train(&s, &["--out", &s.s("link.csv")])),
            ["--out", "DATA"],
        );
        std::fs::hard_link(s.p("d.csv"), s.p("hard.csv")).unwrap();
        s.refused(
            &strs(&train(&s, &["--metrics-csv", &s.s("hard.csv")])),
            ["--metrics-csv", "DATA"],
        );
    }
    let dotted = format!("{}/./d.csv", s.dir.path().display());
    s.refused(&strs(&train(&s, &["--out", &dotted])), ["--out", "DATA"]);
    // The config file, named as the output inside itself.
    std::fs::write(
        s.p("c.toml"),
        "data = \"d.csv\"\ntarget = \"malignant\"\nepochs = 2\nout = \"c.toml\"\n",
    )
    .unwrap();
    s.refused(
        &["train", "--config", &s.s("c.toml"), "--backend", "cpu"],
        ["--out", "--config"],
    );
    // predict, eval and export.
    for out in [&data, &model] {
        s.refused(
            &["predict", &model, &data, "--out", out, "--backend", "cpu"],
            ["--out", if out == &data { "DATA" } else { "MODEL" }],
        );
    }
    s.refused(
        &["eval", &model, &data, "--plot", &model, "--backend", "cpu"],
        ["--plot", "MODEL"],
    );
    for out in [&model, &data] {
        let line = fails(&["export", &model, "--out", out]);
        assert!(line.contains("--out"), "{line}");
    }
    // Two outputs in one file.
    let c = s.s("run.ckpt");
    s.refused(
        &strs(&train(&s, &["--out", &c, "--checkpoint", &c])),
        ["--out", "--checkpoint"],
    );
}

#[test]
fn a_resumed_run_keeps_writing_the_checkpoint_it_continues() {
    let s = Scene::new();
    let c = s.s("run.ckpt");
    let out = s.s("r.safetensors");
    ok(&strs(&train(
        &s,
        &["--out", &out, "--checkpoint", &c, "--checkpoint-every", "1"],
    )));
    // Resuming a finished run trains nothing more, but checks and writes its files.
    ok(&["train", "--resume", &c, "--backend", "cpu", "-q"]);
    ok(&[
        "train",
        "--resume",
        &c,
        "--checkpoint",
        &c,
        "--backend",
        "cpu",
        "-q",
    ]);
    // The resumed checkpoint still cannot become the model.
    let line = fails(&["train", "--resume", &c, "--out", &c, "--backend", "cpu"]);
    assert!(
        line.contains("--out") && line.contains("--resume"),
        "{line}"
    );
}

#[test]
fn an_output_that_cannot_be_written_is_refused_before_training() {
    let s = Scene::new();
    let start = Instant::now();
    // 200 epochs would take seconds: the refusal comes first.
    let mut args = train(&s, &["--out", "/no/such/dir/m.safetensors"]);
    args[5] = "200".into();
    let line = fails(&strs(&args));
    assert!(
        line.contains("/no/such/dir/m.safetensors") && line.contains("does not exist"),
        "{line}"
    );
    assert!(!line.contains(".tmp"), "names the user's path: {line}");
    assert!(start.elapsed() < Duration::from_secs(5), "refused at once");
    let line = fails(&[
        "predict",
        &s.s("m.safetensors"),
        &s.s("d.csv"),
        "--out",
        "/no/such/dir/p.csv",
        "--backend",
        "cpu",
    ]);
    assert!(line.contains("--out /no/such/dir/p.csv"), "{line}");
    let line = fails(&[
        "eval",
        &s.s("m.safetensors"),
        &s.s("d.csv"),
        "--plot",
        "/no/such/dir/e.png",
        "--backend",
        "cpu",
    ]);
    assert!(line.contains("--plot /no/such/dir/e.png"), "{line}");
    #[cfg(unix)]
    {
        let line = fails(&strs(&train(&s, &["--out", "/dev/null"])));
        assert!(line.contains("not a regular file"), "{line}");
    }
}

/// Runs `args`, which must fail with one error line within two seconds, and returns the line
/// and the peak resident memory in KiB (from /proc, sampled while it runs).
#[cfg(target_os = "linux")]
fn bounded_failure(args: &[&str]) -> (String, u64) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gpumlp"))
        .args(args)
        .env_remove("XDG_RUNTIME_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(2) {
            child.kill().ok();
            panic!("{args:?} still running after 2 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one error line: {stderr}");
    (lines[0].to_string(), peak)
}

#[cfg(target_os = "linux")]
#[test]
fn devices_and_huge_sparse_files_end_in_one_line_at_once() {
    let s = Scene::new();
    let model = s.s("m.safetensors");
    let data = s.s("d.csv");
    let sparse_model = s.p("huge.safetensors");
    let sparse_csv = s.p("huge.csv");
    // Past every cap: 20 GB, or past half the memory available on a larger machine (a
    // CSV file under that cap is read whole).
    let size = (20u64 << 30).max(gpumlp::files::max_csv_bytes() + (1 << 30));
    for path in [&sparse_model, &sparse_csv] {
        let f = std::fs::File::create(path).unwrap();
        f.set_len(size).unwrap();
    }
    let (sm, sc) = (
        sparse_model.display().to_string(),
        sparse_csv.display().to_string(),
    );
    // A named pipe no one writes to: opening it to read would wait for ever.
    let fifo = s.p("pipe.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let fifo = fifo.display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["predict", &model, "/dev/zero", "--backend", "cpu"],
        vec!["predict", "/dev/zero", &data, "--backend", "cpu"],
        vec!["predict", &model, "/dev/urandom", "--backend", "cpu"],
        vec!["predict", &model, &sc, "--backend", "cpu"],
        vec!["eval", &model, "/dev/zero", "--backend", "cpu"],
        vec!["info", "/dev/zero"],
        vec!["info", "/dev/urandom"],
        vec!["info", &sm],
        vec!["export", "/dev/zero", "--out", "/tmp/never.onnx"],
        vec!["export", &sm],
        vec!["train", "/dev/zero", "--target", "y", "--backend", "cpu"],
        vec!["train", &sc, "--target", "y", "--backend", "cpu"],
        vec!["train", "--resume", "/dev/zero", "--backend", "cpu"],
        vec![
            "train",
            &data,
            "--target",
            "malignant",
            "--config",
            "/dev/zero",
        ],
        vec!["cv", "/dev/zero", "--target", "y", "--backend", "cpu"],
        vec!["train", &fifo, "--target", "y", "--backend", "cpu"],
        vec!["cv", &fifo, "--target", "y", "--backend", "cpu"],
        vec![
            "search",
            &fifo,
            "--target",
            "y",
            "--lr",
            "0.1|0.2",
            "--backend",
            "cpu",
        ],
        vec!["predict", &model, &fifo, "--backend", "cpu"],
    ];
    for args in cases {
        let (line, peak_kib) = bounded_failure(&args);
        // `train` streams a file of any size, so its refusal is the first line's: NUL bytes
        // past the longest line a CSV may have.
        assert!(
            line.contains("not a regular file")
                || line.contains("may hold at most")
                || (args[0] == "train"
                    && line.contains("line 1")
                    && line.contains("may be at most")),
            "{args:?}: {line}"
        );
        assert!(peak_kib < 256 << 10, "{args:?} peaked at {peak_kib} KiB");
    }
}

#[test]
fn a_csv_line_past_the_cap_is_refused_naming_it() {
    let long = "1".repeat(gpumlp::files::MAX_CSV_LINE + 1);
    let text = format!("a,y\n1,0\n{long},1\n");
    let e = gpumlp::data::table::Table::from_reader("t.csv", text.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("t.csv, line 3: "), "{e}");
    assert!(e.contains("at most 67108864 bytes"), "{e}");
}

#[test]
fn bad_settings_say_which_and_why_from_flags_and_from_files() {
    let s = Scene::new();
    for (flag, value, want) in [
        ("--lr", "-1", "lr is -1; it must be a number > 0"),
        ("--lr", "nan", "lr is NaN"),
        ("--momentum", "1", "momentum is 1; it must be in [0, 1)"),
        ("--weight-decay", "-0.5", "weight-decay is -0.5"),
    ] {
        let line = fails(&strs(&train(&s, &[flag, value])));
        assert!(line.contains(want), "{flag} {value}: {line}");
        assert!(!line.contains("OptimizerConfig"), "{line}");
    }
    std::fs::write(s.p("c.toml"), "epochs = 2\n\nlr = -1\n").unwrap();
    let line = fails(&strs(&train(&s, &["--config", &s.s("c.toml")])));
    assert!(line.contains("c.toml, line 3: lr is -1"), "{line}");
    // --help shows a default the flag accepts.
    let help = ok(&["train", "--help"]);
    assert!(help.contains("[default: 64,32]"), "{help}");
}

#[test]
fn a_weight_beyond_f32_is_blamed_on_its_cell() {
    let s = Scene::new();
    let text = std::fs::read_to_string(s.p("d.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[0].push_str(",w");
    for l in lines.iter_mut().skip(1) {
        l.push_str(",1");
    }
    // Line 5 of the file: a weight beyond f32.
    lines[4] = lines[4].rsplit_once(',').unwrap().0.to_string() + ",1e39";
    std::fs::write(s.p("w.csv"), lines.join("\n") + "\n").unwrap();
    let line = fails(&[
        "train",
        &s.s("w.csv"),
        "--target",
        "malignant",
        "--sample-weight",
        "w",
        "--backend",
        "cpu",
    ]);
    assert!(
        line.contains("line 5") && line.contains("column \"w\""),
        "{line}"
    );
}

#[test]
fn predict_json_is_json_and_eval_says_what_it_scored() {
    let s = Scene::new();
    let (model, data) = (s.s("m.safetensors"), s.s("d.csv"));
    let report = json(&ok(&[
        "predict",
        &model,
        &data,
        "--json",
        "--backend",
        "cpu",
    ]));
    let rows = report["predictions"].as_array().unwrap();
    assert_eq!(rows.len(), 79);
    assert_eq!(rows[0]["row"], 1);
    assert_eq!(rows[0]["probabilities"].as_array().unwrap().len(), 2);
    // Rows without a target are counted, and the training file is recognised.
    let text = std::fs::read_to_string(&data).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let t = header.iter().position(|h| *h == "malignant").unwrap();
    let blanked: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut cells: Vec<&str> = l.split(',').collect();
            if (1..=5).contains(&i) {
                cells[t] = "";
            }
            cells.join(",")
        })
        .collect();
    std::fs::write(s.p("nt.csv"), blanked.join("\n") + "\n").unwrap();
    let out = ok(&["eval", &model, &s.s("nt.csv"), "--backend", "cpu"]);
    assert!(
        out.contains("74 rows scored, 5 of 79 rows without a \"malignant\" value left out"),
        "{out}"
    );
    assert!(!out.contains("trained on"), "{out}");
    let out = ok(&["eval", &model, &data, "--backend", "cpu"]);
    assert!(out.contains("the file the model was trained on"), "{out}");
    let report = json(&ok(&["eval", &model, &data, "--json", "--backend", "cpu"]));
    assert_eq!(report["training_data"], true);
}

#[cfg(unix)]
#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    use std::io::{BufRead, Read};
    let s = Scene::new();
    // Far more predictions than a pipe holds.
    let text = std::fs::read_to_string(s.p("d.csv")).unwrap();
    let mut lines = text.lines();
    let mut big = String::from(lines.next().unwrap());
    big.push('\n');
    let body: Vec<&str> = lines.collect();
    for _ in 0..100 {
        for l in &body {
            big.push_str(l);
            big.push('\n');
        }
    }
    std::fs::write(s.p("big.csv"), big).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gpumlp"))
        .args([
            "predict",
            &s.s("m.safetensors"),
            &s.s("big.csv"),
            "--backend",
            "cpu",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("row,prediction"), "{first}");
    // The reader is gone: the pipe is closed.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "quietly: {stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(13),
        "ended by SIGPIPE, as cat is: {status}"
    );
}
