//! `gpumlp search` end to end: the space from flags and a config's `[search]` table, the
//! leaderboard, and the best candidate refitted, saved and describing how it was chosen.

use crate::cli::{fails, json, ok, BREAST_CANCER};
use serde_json::Value;

/// The settings a leaderboard entry chose, as `name=value` pairs.
fn chosen(entry: &Value) -> Vec<String> {
    let map = entry["settings"].as_object().expect("settings");
    map.iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect()
}

#[test]
fn a_grid_search_ranks_every_candidate_and_saves_the_best_refitted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("best.safetensors");
    let out_s = out.to_str().unwrap();
    let v = json(&ok(&[
        "search",
        BREAST_CANCER,
        "--target",
        "malignant",
        "--lr",
        "0.001|0.01",
        "--hidden",
        "8|16,8",
        "--epochs",
        "12",
        "--folds",
        "3",
        "--patience",
        "0",
        "--out",
        out_s,
        "--json",
    ]));
    assert_eq!(
        (v["candidates"].as_u64(), v["scored"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(v["metric"], "roc_auc");
    let board = v["leaderboard"].as_array().expect("a leaderboard");
    assert_eq!(board.len(), 4);
    let means: Vec<f64> = board.iter().map(|e| e["mean"].as_f64().unwrap()).collect();
    assert!(
        means.windows(2).all(|w| w[0] >= w[1]),
        "best first: {means:?}"
    );
    let mut seen: Vec<Vec<String>> = board.iter().map(chosen).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "every combination once: {seen:?}");
    for e in board {
        let scores = e["scores"].as_array().unwrap();
        assert_eq!(scores.len(), 3);
        let mean = scores.iter().map(|s| s.as_f64().unwrap()).sum::<f64>() / 3.0;
        assert!((mean - e["mean"].as_f64().unwrap()).abs() < 1e-9);
    }
    // The model file says how it was chosen, and holds the best candidate's settings.
    let info = json(&ok(&["info", out_s, "--json"]));
    let training = &info["meta"]["training"];
    let record = &training["search"];
    assert_eq!(record["candidates"], 4);
    assert_eq!(record["mean"], board[0]["mean"]);
    assert_eq!(record["folds"].as_array().unwrap().len(), 3);
    let best = chosen(&board[0]);
    let hidden = training["options"]["hidden"].clone();
    let want_hidden = if best.contains(&"hidden=8".to_string()) {
        serde_json::json!([8])
    } else {
        serde_json::json!([16, 8])
    };
    assert_eq!(hidden, want_hidden, "best {best:?}");
    let text = ok(&["info", out_s]);
    assert!(
        text.contains("best of 4 candidates by 3-fold cv: roc_auc"),
        "{text}"
    );
    let preds = dir.path().join("p.csv");
    ok(&[
        "predict",
        out_s,
        BREAST_CANCER,
        "--out",
        preds.to_str().unwrap(),
    ]);
}

#[test]
fn a_config_s_search_table_is_read_and_a_flag_replaces_its_alternatives() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        "target = \"malignant\"\nepochs = 4\nfolds = 2\npatience = 0\n[search]\nlr = \
         \"0.001|0.01\"\nbatch-size = \"32|64\"\n",
    )
    .unwrap();
    let out = dir.path().join("m.safetensors");
    let v = json(&ok(&[
        "search",
        BREAST_CANCER,
        "--config",
        config.to_str().unwrap(),
        "--batch-size",
        "16",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]));
    let board = v["leaderboard"].as_array().unwrap();
    assert_eq!(
        board.len(),
        2,
        "lr from the file; --batch-size replaced its alternatives"
    );
    for e in board {
        assert_eq!(chosen(e).len(), 1, "{e}");
        assert!(chosen(e)[0].starts_with("lr="));
    }
    let info = json(&ok(&["info", out.to_str().unwrap(), "--json"]));
    assert_eq!(
        info["meta"]["training"]["options"]["config"]["batch_size"],
        16
    );
    // train and cv refuse a [search] table rather than ignore it.
    let e = fails(&["train", BREAST_CANCER, "--config", config.to_str().unwrap()]);
    assert!(e.contains("[search]") && e.contains("gpumlp search"), "{e}");
}

#[test]
fn a_random_search_draws_from_its_ranges_with_its_seed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    let run = || {
        json(&ok(&[
            "search",
            BREAST_CANCER,
            "--target",
            "malignant",
            "--lr",
            "1e-4..1e-2",
            "--activation",
            "relu|tanh",
            "--random",
            "3",
            "--seed",
            "5",
            "--epochs",
            "3",
            "--folds",
            "2",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]))
    };
    let v = run();
    let board = v["leaderboard"].as_array().unwrap();
    assert_eq!(board.len(), 3);
    let mut lrs: Vec<f64> = board
        .iter()
        .map(|e| e["settings"]["lr"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(lrs.iter().all(|lr| (1e-4..=1e-2).contains(lr)), "{lrs:?}");
    let mut again: Vec<f64> = run()["leaderboard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["settings"]["lr"].as_str().unwrap().parse().unwrap())
        .collect();
    lrs.sort_by(f64::total_cmp);
    again.sort_by(f64::total_cmp);
    assert_eq!(lrs, again, "the same seed draws the same candidates");
}

#[test]
fn a_bad_space_fails_in_one_line_naming_the_setting() {
    let base = [
        "search",
        BREAST_CANCER,
        "--target",
        "malignant",
        "--epochs",
        "1",
    ];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [base, extra].concat()
    }
    let e = fails(&with(&base, &["--lr", "0.001|fast"]));
    assert!(e.contains("lr") && e.contains("fast"), "{e}");
    let e = fails(&with(&base, &["--optimizer", "adam|lion"]));
    assert!(e.contains("optimizer") && e.contains("lion"), "{e}");
    let e = fails(&with(&base, &["--lr", "1e-4..1e-2"]));
    assert!(e.contains("--random"), "{e}");
    let e = fails(&with(&base, &["--lr", "0.001|0.01", "--random", "0"]));
    assert!(e.contains("--random 0"), "{e}");
    let e = fails(&with(&base, &["--folds", "2", "--metric", "r2"]));
    assert!(e.contains("--metric") && e.contains("roc_auc"), "{e}");
}
