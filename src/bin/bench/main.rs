//! The benchmark: `cargo run --release --bin bench [-- --quick] [--large] [--validate-only]
//! [--json]`.
//!
//! Validates each timed kernel against the CPU reference first (a kernel that fails is
//! reported, not timed, and the run exits non-zero; `--validate-only` validates and times
//! nothing), then measures the adapter's roofline (peak FMA throughput and copy
//! bandwidth), every matmul form and variant at square and workload shapes, the fixed costs
//! of a dispatch, a submission and a readback, three training workloads on the GPU and on
//! the CPU reference in the same run, and a table trained read whole and streamed from disk,
//! from CSV and from Parquet. Every figure is the median of repeated runs after a
//! warm-up, with min and max.

use gpumlp::cpu::CpuTrainer;
use gpumlp::kernels::matmul::reference as matmul_reference;
use gpumlp::kernels::matmul::{product, Form, Variant, VARIANTS};
use gpumlp::kernels::roofline::reference as roofline_reference;
use gpumlp::kernels::{self, roofline, Dispatch};
use gpumlp::{Activation, Dataset, Gpu, Mlp, MlpSpec, TrainConfig, Trainer};
use serde_json::{json, Value};
use std::time::Instant;

mod streaming;

/// Median, min and max of repeated measurements.
#[derive(Clone, Copy, Debug)]
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(mut samples: Vec<f64>) -> Stats {
        samples.sort_by(f64::total_cmp);
        Stats {
            median: samples[samples.len() / 2],
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }

    fn json(&self) -> Value {
        json!({"median": self.median, "min": self.min, "max": self.max})
    }
}

/// Seconds per call of `f`: one warm-up call, then `runs` timed calls.
fn time<F: FnMut() -> gpumlp::Result<()>>(runs: usize, mut f: F) -> gpumlp::Result<Stats> {
    f()?;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed().as_secs_f64());
    }
    Ok(Stats::of(samples))
}

/// Seconds per launch of `d`, recorded `reps` times into one pass per timed run.
fn time_dispatch(gpu: &Gpu, d: &Dispatch, runs: usize, min_seconds: f64) -> gpumlp::Result<Stats> {
    let t = Instant::now();
    kernels::run(gpu, &[d])?;
    let once = t.elapsed().as_secs_f64().max(1e-6);
    let reps = ((min_seconds / once).ceil() as usize).clamp(1, 1000);
    let s = time(runs, || kernels::run_repeated(gpu, &[d], reps))?;
    Ok(Stats {
        median: s.median / reps as f64,
        min: s.min / reps as f64,
        max: s.max / reps as f64,
    })
}

fn uniform(seed: u64, n: usize) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// Worst |got − want| and whether every element is within atol + rtol·|want|.
fn compare(got: &[f32], want: &[f32], atol: f32, rtol: f32) -> (f32, bool) {
    let mut worst = 0.0f32;
    let mut ok = got.len() == want.len();
    for (g, w) in got.iter().zip(want) {
        let d = (g - w).abs();
        worst = worst.max(d);
        ok &= d <= atol + rtol * w.abs();
    }
    (worst, ok)
}

struct Options {
    quick: bool,
    /// Also time each form at 4096³ with the tuner's pick.
    large: bool,
    /// Validate every kernel and workload, time nothing.
    validate_only: bool,
    json: bool,
    runs: usize,
    min_seconds: f64,
}

struct Report {
    json: bool,
    sections: serde_json::Map<String, Value>,
    /// Kernels and workloads that failed validation: the run then exits non-zero.
    failures: Vec<String>,
}

impl Report {
    fn failed(&mut self, what: String) {
        self.failures.push(what);
    }

    fn line(&self, text: String) {
        if !self.json {
            println!("{text}");
        }
    }
}

fn form_name(form: Form) -> &'static str {
    match form {
        Form::Nn => "X·W",
        Form::Tn => "Xᵀ·dZ",
        Form::Nt => "dZ·Wᵀ",
    }
}

/// The CPU reference of one matmul form.
fn cpu_product(form: Form, a: &[f32], b: &[f32], c: &mut [f32], m: usize, n: usize, k: usize) {
    match form {
        Form::Nn => matmul_reference::matmul(a, b, c, m, n, k),
        Form::Tn => matmul_reference::matmul_tn(a, b, c, m, n, k),
        Form::Nt => matmul_reference::matmul_nt(a, b, c, m, n, k),
    }
}

fn roofline_section(gpu: &Gpu, o: &Options, r: &mut Report) -> gpumlp::Result<(f64, f64)> {
    // Validate both kernels on an odd size.
    let n = 1000;
    let src = uniform(1, n);
    let (ts, td) = (gpu.upload("src", &src)?, gpu.zeros("dst", n)?);
    let mut want = vec![0.0; n];
    kernels::run(gpu, &[&roofline::fma_peak(gpu, &ts, &td, n, 100)?])?;
    roofline_reference::fma_peak(&src, &mut want, 100);
    let (fma_err, fma_ok) = compare(&gpu.read(&td)?, &want, 1e-4, 1e-5);
    kernels::run(gpu, &[&roofline::copy(gpu, &ts, &td, n)?])?;
    let (copy_err, copy_ok) = compare(&gpu.read(&td)?, &src, 0.0, 0.0);
    r.line(format!(
        "validation: fma_peak worst |gpu-cpu| {fma_err:.1e} ({}), copy {copy_err:.1e} ({})",
        if fma_ok { "ok" } else { "FAILED" },
        if copy_ok { "ok" } else { "FAILED" }
    ));
    if !fma_ok {
        r.failed("roofline fma_peak".into());
    }
    if !copy_ok {
        r.failed("roofline copy".into());
    }
    if o.validate_only {
        return Ok((f64::NAN, f64::NAN));
    }

    let threads = if o.quick { 1 << 14 } else { 1 << 16 };
    let iterations = if o.quick { 1024 } else { 4096 };
    let (ts, td) = (
        gpu.upload("src", &uniform(2, threads))?,
        gpu.zeros("dst", threads)?,
    );
    let peak = if fma_ok {
        let d = roofline::fma_peak(gpu, &ts, &td, threads, iterations)?;
        let s = time_dispatch(gpu, &d, o.runs, o.min_seconds)?;
        roofline::fma_peak_flop(threads, iterations) / s.median / 1e9
    } else {
        f64::NAN
    };
    let len = if o.quick { 1 << 20 } else { 1 << 24 };
    let (cs, cd) = (gpu.zeros("copy src", len)?, gpu.zeros("copy dst", len)?);
    let bandwidth = if copy_ok {
        let d = roofline::copy(gpu, &cs, &cd, len)?;
        let s = time_dispatch(gpu, &d, o.runs, o.min_seconds)?;
        (2 * 4 * len) as f64 / s.median / 1e9
    } else {
        f64::NAN
    };
    r.line(format!(
        "roofline: peak FMA {peak:.1} GFLOP/s, copy bandwidth {bandwidth:.1} GB/s\n"
    ));
    r.sections.insert(
        "roofline".into(),
        json!({"fma_gflops": peak, "copy_gbps": bandwidth,
               "validation": {"fma_peak": {"worst_abs_err": fma_err, "ok": fma_ok},
                              "copy": {"worst_abs_err": copy_err, "ok": copy_ok}}}),
    );
    Ok((peak, bandwidth))
}

/// Validates one variant and form on awkward shapes against the CPU reference.
fn validate_matmul(
    gpu: &Gpu,
    variant: &'static Variant,
    form: Form,
) -> gpumlp::Result<(f32, bool)> {
    let mut worst = 0.0f32;
    let mut all_ok = true;
    let shapes = [
        (1, 1, 1),
        (3, 5, 7),
        (33, 65, 17),
        (70, 130, 129),
        (4, 4, 4),
        (68, 132, 36),
    ];
    for (i, &(m, n, k)) in shapes.iter().enumerate() {
        if !variant.supports(m, n, k) {
            continue;
        }
        let a = uniform(10 + i as u64, m * k);
        let b = uniform(20 + i as u64, k * n);
        let mut want = vec![0.0; m * n];
        cpu_product(form, &a, &b, &mut want, m, n, k);
        let (ta, tb) = (gpu.upload("a", &a)?, gpu.upload("b", &b)?);
        let tc = gpu.upload("c", &vec![f32::NAN; m * n])?;
        kernels::run(
            gpu,
            &[&product(gpu, variant, form, &ta, &tb, &tc, m, n, k)?],
        )?;
        let (err, ok) = compare(&gpu.read(&tc)?, &want, 1e-4, 1e-4);
        worst = worst.max(err);
        all_ok &= ok;
    }
    Ok((worst, all_ok))
}

fn matmul_section(gpu: &Gpu, o: &Options, peak: f64, r: &mut Report) -> gpumlp::Result<()> {
    // (label, batch, in, out): the product shapes of a dense layer; square shapes have all three
    // equal. Each form takes its own (m, n, k) from them, as the trainer does.
    let mut shapes: Vec<(String, usize, usize, usize)> = vec![
        ("256³".into(), 256, 256, 256),
        ("1024³".into(), 1024, 1024, 1024),
    ];
    if !o.quick {
        shapes.push(("2048³".into(), 2048, 2048, 2048));
        shapes.push(("tabular 1024, 64→256".into(), 1024, 64, 256));
        shapes.push(("tabular 1024, 256→256".into(), 1024, 256, 256));
        shapes.push(("tabular 1024, 256→1".into(), 1024, 256, 1));
        shapes.push(("wide 4096, 64→1024".into(), 4096, 64, 1024));
        shapes.push(("wide 4096, 1024→1024".into(), 4096, 1024, 1024));
        shapes.push(("toy 1024, 3→2".into(), 1024, 3, 2));
    }
    if !o.validate_only {
        r.line(format!(
            "{:<22} {:<8} {:<7} {:>16} {:>9} {:>9} {:>9} {:>8}",
            "matmul shape", "form", "variant", "m×n×k", "GFLOP/s", "min", "max", "of peak"
        ));
    }
    let mut rows = Vec::new();
    for variant in &VARIANTS {
        if !variant.runs_on(gpu) {
            r.line(format!("{:<22} this adapter cannot run it", variant.name));
            continue;
        }
        for form in [Form::Nn, Form::Tn, Form::Nt] {
            let (err, ok) = validate_matmul(gpu, variant, form)?;
            if !ok {
                r.line(format!(
                    "{:<22} {:<8} {:<7} FAILED validation (worst |gpu-cpu| {err:.1e}): not timed",
                    "all",
                    form_name(form),
                    variant.name
                ));
                rows.push(json!({"variant": variant.name, "form": form_name(form),
                                 "validated": false, "worst_abs_err": err}));
                r.failed(format!("matmul {} {}", variant.name, form_name(form)));
                continue;
            }
            if o.validate_only {
                r.line(format!(
                    "matmul {} {}: ok (worst |gpu-cpu| {err:.1e})",
                    variant.name,
                    form_name(form)
                ));
                rows.push(json!({"variant": variant.name, "form": form_name(form),
                                 "validated": true, "worst_abs_err": err}));
                continue;
            }
            for (label, batch, inputs, outputs) in &shapes {
                // Forward Z = X·W, weight gradient dW = Xᵀ·dZ, input gradient dX = dZ·Wᵀ.
                let (m, n, k) = match form {
                    Form::Nn => (*batch, *outputs, *inputs),
                    Form::Tn => (*inputs, *outputs, *batch),
                    Form::Nt => (*batch, *inputs, *outputs),
                };
                if !variant.supports(m, n, k) || (variant.name == "single" && m * n > 65536) {
                    continue; // single is for few outputs; vec4 needs multiples of 4
                }
                // The operands of this form, as the layer would hold them.
                let (a_len, b_len) = (m * k, k * n);
                let ta = gpu.upload("a", &uniform(1, a_len))?;
                let tb = gpu.upload("b", &uniform(2, b_len))?;
                let tc = gpu.zeros("c", m * n)?;
                let d = product(gpu, variant, form, &ta, &tb, &tc, m, n, k)?;
                let flop = 2.0 * (m * n * k) as f64;
                // Products of seconds each: fewer repeats keep the full run in minutes.
                let runs = if flop > 4e9 { 2 } else { o.runs };
                let s = time_dispatch(gpu, &d, runs, o.min_seconds)?;
                let g = |t: f64| flop / t / 1e9;
                r.line(format!(
                    "{:<22} {:<8} {:<7} {:>16} {:>9.2} {:>9.2} {:>9.2} {:>7.1}%",
                    label,
                    form_name(form),
                    variant.name,
                    format!("{m}×{n}×{k}"),
                    g(s.median),
                    g(s.max),
                    g(s.min),
                    100.0 * g(s.median) / peak
                ));
                rows.push(json!({"variant": variant.name, "form": form_name(form),
                                 "shape": label, "m": m, "n": n, "k": k, "validated": true,
                                 "worst_abs_err": err, "gflops": g(s.median),
                                 "gflops_min": g(s.max), "gflops_max": g(s.min),
                                 "fraction_of_peak": g(s.median) / peak,
                                 "seconds": s.json()}));
            }
        }
    }
    if o.validate_only {
        r.sections.insert("matmul".into(), Value::Array(rows));
        return Ok(());
    }
    // What the trainer would use: the tuner's pick per form and shape (measured now or cached).
    let mut picks = Vec::new();
    for (label, batch, inputs, outputs) in &shapes {
        let mut line = format!("tuner picks for {label}:");
        for form in [Form::Nn, Form::Tn, Form::Nt] {
            let (m, n, k) = match form {
                Form::Nn => (*batch, *outputs, *inputs),
                Form::Tn => (*inputs, *outputs, *batch),
                Form::Nt => (*batch, *inputs, *outputs),
            };
            let (v, how) = gpumlp::kernels::matmul::choose(gpu, form, m, n, k)?;
            line += &format!(" {} {} ({how:?});", form_name(form), v.name);
            picks.push(
                json!({"shape": label, "form": form_name(form), "variant": v.name,
                              "how": format!("{how:?}")}),
            );
        }
        r.line(line);
    }
    if o.large {
        large_matmul(gpu, peak, r)?;
    }
    r.line(String::new());
    r.sections.insert("matmul".into(), Value::Array(rows));
    r.sections.insert("tuner".into(), Value::Array(picks));
    Ok(())
}

/// `--large`: each form at 4096³ with the variant the tuner picks (validated above), for the
/// fraction of a real GPU's peak; one warm-up and two timed runs.
fn large_matmul(gpu: &Gpu, peak: f64, r: &mut Report) -> gpumlp::Result<()> {
    let side = 4096;
    let (ta, tb) = (
        gpu.upload("a", &uniform(1, side * side))?,
        gpu.upload("b", &uniform(2, side * side))?,
    );
    let tc = gpu.zeros("c", side * side)?;
    let mut rows = Vec::new();
    for form in [Form::Nn, Form::Tn, Form::Nt] {
        let (v, _) = gpumlp::kernels::matmul::choose(gpu, form, side, side, side)?;
        let d = product(gpu, v, form, &ta, &tb, &tc, side, side, side)?;
        let flop = 2.0 * (side * side * side) as f64;
        let s = time_dispatch(gpu, &d, 2, 0.0)?;
        let g = flop / s.median / 1e9;
        r.line(format!(
            "{:<22} {:<8} {:<7} {:>16} {:>9.2} {:>29.1}%",
            "4096³ (tuner's pick)",
            form_name(form),
            v.name,
            format!("{side}×{side}×{side}"),
            g,
            100.0 * g / peak
        ));
        rows.push(
            json!({"form": form_name(form), "variant": v.name, "m": side, "n": side,
                         "k": side, "gflops": g, "fraction_of_peak": g / peak,
                         "seconds": s.json()}),
        );
    }
    r.sections.insert("matmul_4096".into(), Value::Array(rows));
    Ok(())
}

fn fixed_costs_section(gpu: &Gpu, o: &Options, r: &mut Report) -> gpumlp::Result<()> {
    let (ts, td) = (gpu.zeros("one", 1)?, gpu.zeros("one'", 1)?);
    let d = roofline::copy(gpu, &ts, &td, 1)?;
    let runs = o.runs.max(5) * 4;
    let many = 500;
    let one = time(runs, || kernels::run_repeated(gpu, &[&d], 1))?;
    let lots = time(o.runs, || kernels::run_repeated(gpu, &[&d], many))?;
    let per_dispatch = (lots.median - one.median) / (many - 1) as f64;
    let readback = time(runs, || gpu.read::<f32>(&td).map(|_| ()))?;
    let us = |s: f64| s * 1e6;
    r.line(format!(
        "fixed costs: one dispatch in a pass {:.1} µs; submit + wait {:.1} µs (min {:.1}, max \
         {:.1}); readback round trip {:.1} µs (min {:.1}, max {:.1})\n",
        us(per_dispatch),
        us(one.median),
        us(one.min),
        us(one.max),
        us(readback.median),
        us(readback.min),
        us(readback.max)
    ));
    r.sections.insert(
        "fixed_costs_us".into(),
        json!({"dispatch_in_pass": us(per_dispatch), "submit_and_wait": us(one.median),
               "submit_and_wait_min": us(one.min), "submit_and_wait_max": us(one.max),
               "readback": us(readback.median), "readback_min": us(readback.min),
               "readback_max": us(readback.max)}),
    );
    Ok(())
}

struct Workload {
    name: &'static str,
    inputs: usize,
    hidden: Vec<usize>,
    rows: usize,
    batch: usize,
    /// Epochs per timed run on the GPU and on the CPU reference.
    gpu_epochs: usize,
    cpu_epochs: usize,
}

/// Labels from a random hyperplane: learnable, and the same on every run.
fn workload_data(w: &Workload) -> gpumlp::Result<Dataset> {
    let x = uniform(7, w.rows * w.inputs);
    let normal = uniform(8, w.inputs);
    let y = x
        .chunks(w.inputs)
        .map(|row| f32::from(row.iter().zip(&normal).map(|(a, b)| a * b).sum::<f32>() > 0.0))
        .collect();
    Dataset::new(x, y, w.inputs)
}

fn workloads_section(gpu: &Gpu, o: &Options, r: &mut Report) -> gpumlp::Result<()> {
    let q = o.quick;
    let workloads = [
        Workload {
            name: "toy 3-2-1",
            inputs: 3,
            hidden: vec![2],
            rows: 1024,
            batch: 1024,
            gpu_epochs: if q { 50 } else { 500 },
            cpu_epochs: if q { 50 } else { 500 },
        },
        Workload {
            name: "tabular 64-256-256-1",
            inputs: 64,
            hidden: vec![256, 256],
            rows: if q { 2048 } else { 8192 },
            batch: 1024,
            gpu_epochs: 1,
            cpu_epochs: 1,
        },
        Workload {
            name: "wide 64-1024-1024-1",
            inputs: 64,
            hidden: if q { vec![256, 256] } else { vec![1024, 1024] },
            rows: 4096,
            batch: 4096,
            gpu_epochs: 1,
            cpu_epochs: 1,
        },
    ];
    if !o.validate_only {
        r.line(format!(
            "{:<22} {:>6} {:>12} {:>12} {:>12} {:>12} {:>8} {:>10}",
            "workload", "where", "loop (ms)", "step (ms)", "samples/s", "min", "max", "disp/step"
        ));
    }
    let mut rows = Vec::new();
    for w in &workloads {
        let data = workload_data(w)?;
        let mut spec = MlpSpec::new(w.inputs);
        for &h in &w.hidden {
            spec = spec.hidden(h, Activation::Sigmoid);
        }
        let model = Mlp::new(&spec, 1)?;
        let config = TrainConfig {
            batch_size: w.batch,
            ..TrainConfig::default()
        };
        let steps_per_epoch = w.rows.div_ceil(w.batch);

        // Validate: two epochs on each, parameters compared.
        let lr = config.optimizer.lr;
        let mut g = Trainer::new(gpu, &model, &data, &config)?;
        g.run_epochs(&[lr; 2])?;
        let mut c = CpuTrainer::new(&model, &data, &config)?;
        c.run_epochs(&[lr; 2])?;
        let (err, ok) = compare(g.model()?.params(), c.model().params(), 1e-4, 1e-3);
        if !ok {
            r.line(format!(
                "{:<22} FAILED validation against the CPU reference (worst {err:.1e}): not timed",
                w.name
            ));
            rows.push(json!({"workload": w.name, "validated": false, "worst_abs_err": err}));
            r.failed(format!("workload {}", w.name));
            continue;
        }
        if o.validate_only {
            r.line(format!(
                "workload {}: ok (worst |gpu-cpu| {err:.1e})",
                w.name
            ));
            rows.push(json!({"workload": w.name, "validated": true, "worst_abs_err": err}));
            continue;
        }
        let dispatches = g.dispatches_per_step();
        let dispatch_label = if g.is_fused() {
            "fused".to_string()
        } else {
            dispatches.to_string()
        };
        let runs = if q { 2 } else { o.runs.min(5) };
        let gpu_loop = time(runs, || g.run_epochs(&vec![lr; w.gpu_epochs]).map(|_| ()))?;
        let cpu_runs = if w.name.starts_with("wide") && !q {
            1
        } else {
            runs
        };
        let cpu_loop = time(cpu_runs, || {
            c.run_epochs(&vec![lr; w.cpu_epochs]).map(|_| ())
        })?;
        let mut entry = json!({"workload": w.name, "validated": true, "worst_abs_err": err,
                               "rows": w.rows, "batch": w.batch, "dispatches_per_step": dispatches,
                               "fused": g.is_fused()});
        for (where_, s, epochs, disp) in [
            ("gpu", gpu_loop, w.gpu_epochs, dispatch_label.clone()),
            ("cpu", cpu_loop, w.cpu_epochs, "-".into()),
        ] {
            let steps = (epochs * steps_per_epoch) as f64;
            let samples = (epochs * w.rows) as f64;
            r.line(format!(
                "{:<22} {:>6} {:>12.2} {:>12.3} {:>12.0} {:>12.0} {:>8.0} {:>10}",
                w.name,
                where_,
                s.median * 1e3,
                s.median * 1e3 / steps,
                samples / s.median,
                samples / s.max,
                samples / s.min,
                disp
            ));
            entry[where_] = json!({"epochs": epochs, "loop_seconds": s.json(),
                                   "step_ms": s.median * 1e3 / steps,
                                   "samples_per_sec": samples / s.median});
        }
        let speedup =
            (w.gpu_epochs as f64 / gpu_loop.median) / (w.cpu_epochs as f64 / cpu_loop.median);
        r.line(format!("{:<22} gpu/cpu throughput ratio {speedup:.2}×", ""));
        entry["gpu_over_cpu"] = json!(speedup);
        rows.push(entry);
    }
    r.sections.insert("workloads".into(), Value::Array(rows));
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json = args.iter().any(|a| a == "--json");
    let validate_only = args.iter().any(|a| a == "--validate-only");
    let large = args.iter().any(|a| a == "--large");
    let known = ["--quick", "--json", "--validate-only", "--large"];
    if let Some(bad) = args.iter().find(|a| !known.contains(&a.as_str())) {
        eprintln!(
            "error: unknown argument {bad:?}; usage: bench [--quick] [--large] [--validate-only] \
             [--json]"
        );
        std::process::exit(2);
    }
    let o = Options {
        quick,
        large,
        validate_only,
        json,
        runs: if quick { 3 } else { 7 },
        min_seconds: if quick { 0.01 } else { 0.1 },
    };
    match run(&o) {
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        Ok(failures) if !failures.is_empty() => {
            eprintln!(
                "error: {} failed validation against the CPU reference on this adapter: {}",
                failures.len(),
                failures.join(", ")
            );
            std::process::exit(1);
        }
        Ok(_) => {}
    }
}

/// Runs the benchmark; returns what failed validation.
fn run(o: &Options) -> gpumlp::Result<Vec<String>> {
    let gpu = Gpu::from_env()?;
    let mut r = Report {
        json: o.json,
        sections: serde_json::Map::new(),
        failures: Vec::new(),
    };
    r.line(format!("adapter: {}", gpu.describe()));
    match o.validate_only {
        true => r.line("mode: validate only; nothing is timed\n".into()),
        false => r.line(format!(
            "mode: {}; medians of {} runs after a warm-up\n",
            if o.quick { "quick" } else { "full" },
            o.runs
        )),
    }
    let (peak, _) = roofline_section(&gpu, o, &mut r)?;
    matmul_section(&gpu, o, peak, &mut r)?;
    if !o.validate_only {
        fixed_costs_section(&gpu, o, &mut r)?;
    }
    workloads_section(&gpu, o, &mut r)?;
    if !o.validate_only {
        streaming::streaming_section(&gpu, o, &mut r)?;
    }
    if o.json {
        r.sections.insert("adapter".into(), json!(gpu.describe()));
        r.sections.insert("quick".into(), json!(o.quick));
        r.sections.insert("failures".into(), json!(r.failures));
        println!("{}", Value::Object(r.sections.clone()));
    }
    Ok(r.failures)
}
