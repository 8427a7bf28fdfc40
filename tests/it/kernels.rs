//! Every kernel of `shaders/` against its CPU reference in `gpumlp::cpu`, on awkward shapes:
//! 1, odd, below and above each workgroup tile, and large. Tolerances are stated per kernel as
//! `|got − want| ≤ atol + rtol·|want|`.

use crate::common::{assert_bits, assert_close, gpu, report, uniform};
use gpumlp::gpu::StepSlots;
use gpumlp::kernels::matmul::{product, Form, Models, VARIANTS};
use gpumlp::kernels::{self, Dispatch, EW};
use gpumlp::{Activation, Loss, OptimizerConfig, OptimizerKind};

fn run(d: &Dispatch) {
    kernels::run(gpu(), &[d]).expect("kernel ran");
}

fn read(t: &gpumlp::gpu::Tensor) -> Vec<f32> {
    gpu().read(t).expect("readback")
}

/// Element counts for the element-wise kernels (workgroups of EW threads).
fn elementwise_sizes() -> Vec<usize> {
    let ew = EW as usize;
    vec![1, 6, 17 * 33, ew - 1, ew + 1, 1000 * 512]
}

// Matmul: sums of k products of values in [-1, 1]; the GPU may contract to FMA or reorder.
const MATMUL_ATOL: f32 = 1e-4;
const MATMUL_RTOL: f32 = 1e-4;

fn matmul_shapes() -> Vec<(usize, usize, usize)> {
    let t = 32; // block4's tile, the smallest
    vec![
        (1, 1, 1),
        (3, 2, 1),
        (17, 33, 65),
        (t - 1, t - 1, t - 1),
        (t + 1, t + 1, t + 1),
        (t - 1, t + 1, 7),
        (2 * t + 1, 1, t + 1),
        (1000, 512, 256),
        // Multiples of 4 for the packed variant: one vec4, below, at and past its 64 tile.
        (4, 4, 4),
        (60, 4, 124),
        (64, 64, 64),
        (68, 132, 36),
    ]
}

type CpuMatmul = fn(&[f32], &[f32], &mut [f32], usize, usize, usize);

/// Every variant that computes the shape, and the one the tuner picks, against the reference.
fn check_matmul(name: &str, form: Form, cpu_fn: CpuMatmul) {
    let g = gpu();
    for variant in &VARIANTS {
        let mut worst = 0.0f32;
        let mut shapes = 0;
        for (i, &(m, n, k)) in matmul_shapes().iter().enumerate() {
            if !variant.supports(m, n, k) {
                continue;
            }
            // The operands hold m·k and k·n elements in every form; only their layout differs.
            let a = uniform(10 + i as u64, m * k, -1.0, 1.0);
            let b = uniform(20 + i as u64, k * n, -1.0, 1.0);
            let mut want = vec![0.0; m * n];
            cpu_fn(&a, &b, &mut want, m, n, k);
            let (ta, tb) = (g.upload("a", &a).unwrap(), g.upload("b", &b).unwrap());
            let tc = g.upload("c", &vec![f32::NAN; m * n]).unwrap();
            run(&product(g, variant, form, &ta, &tb, &tc, m, n, k).unwrap());
            let what = format!("{name} {} m={m} n={n} k={k}", variant.name);
            worst = worst.max(assert_close(
                &what,
                &read(&tc),
                &want,
                MATMUL_ATOL,
                MATMUL_RTOL,
            ));
            shapes += 1;
        }
        assert!(shapes >= 5, "{} ran on {shapes} shapes", variant.name);
        report(&format!(
            "{name} {}: largest |gpu - cpu| = {worst:e}",
            variant.name
        ));
    }
    // The tuned entry point, on a shape every variant computes.
    let (m, n, k) = (68, 132, 36);
    let a = uniform(5, m * k, -1.0, 1.0);
    let b = uniform(6, k * n, -1.0, 1.0);
    let mut want = vec![0.0; m * n];
    cpu_fn(&a, &b, &mut want, m, n, k);
    let (ta, tb) = (g.upload("a", &a).unwrap(), g.upload("b", &b).unwrap());
    let tc = g.upload("c", &vec![f32::NAN; m * n]).unwrap();
    let d = match form {
        Form::Nn => kernels::matmul::matmul(g, &ta, &tb, &tc, m, n, k),
        Form::Tn => kernels::matmul::matmul_tn(g, &ta, &tb, &tc, m, n, k, Models::ONE),
        Form::Nt => kernels::matmul::matmul_nt(g, &ta, &tb, &tc, m, n, k, Models::ONE),
    };
    run(&d.unwrap());
    assert_close(
        &format!("{name} tuned"),
        &read(&tc),
        &want,
        MATMUL_ATOL,
        MATMUL_RTOL,
    );
}

#[test]
fn matmul_matches_reference() {
    check_matmul(
        "matmul",
        Form::Nn,
        gpumlp::kernels::matmul::reference::matmul,
    );
}

#[test]
fn matmul_tn_matches_reference() {
    check_matmul(
        "matmul_tn",
        Form::Tn,
        gpumlp::kernels::matmul::reference::matmul_tn,
    );
}

#[test]
fn matmul_nt_matches_reference() {
    check_matmul(
        "matmul_nt",
        Form::Nt,
        gpumlp::kernels::matmul::reference::matmul_nt,
    );
}

/// The forward layer with its fused epilogue (bias, then each activation or none) in every
/// variant, against matmul, bias_add and activation_forward run one after the other.
#[test]
fn linear_epilogue_matches_reference() {
    let g = gpu();
    let acts = [
        None,
        Some(Activation::Sigmoid),
        Some(Activation::Relu),
        Some(Activation::Tanh),
    ];
    for variant in &VARIANTS {
        let mut worst = 0.0f32;
        for (i, &(m, n, k)) in matmul_shapes().iter().enumerate() {
            if !variant.supports(m, n, k) || m * n * k > 1 << 24 {
                continue;
            }
            // Inputs up to ±4: sums reach the saturated ends of sigmoid and tanh.
            let x = uniform(50 + i as u64, m * k, -4.0, 4.0);
            let w = uniform(60 + i as u64, k * n, -1.0, 1.0);
            let b = uniform(70 + i as u64, n, -2.0, 2.0);
            let (tx, tw, tb) = (
                g.upload("x", &x).unwrap(),
                g.upload("w", &w).unwrap(),
                g.upload("b", &b).unwrap(),
            );
            for act in acts {
                let mut want = vec![0.0; m * n];
                gpumlp::kernels::matmul::reference::linear(&x, &w, &b, act, &mut want, m, n, k);
                let tz = g.upload("z", &vec![f32::NAN; m * n]).unwrap();
                let epilogue = kernels::matmul::Epilogue::Bias(&tb, act);
                let d = kernels::matmul::product_with(
                    g,
                    variant,
                    Form::Nn,
                    &tx,
                    &tw,
                    &tz,
                    m,
                    n,
                    k,
                    epilogue,
                );
                run(&d.unwrap());
                let what = format!("linear {} {act:?} m={m} n={n} k={k}", variant.name);
                worst = worst.max(assert_close(
                    &what,
                    &read(&tz),
                    &want,
                    MATMUL_ATOL,
                    MATMUL_RTOL,
                ));
            }
        }
        report(&format!(
            "linear (matmul + bias + activation epilogue) {}: largest |gpu - cpu| = {worst:e}",
            variant.name
        ));
    }
}

/// Every matmul variant sums k in the same order, so on one adapter they agree bit for bit:
/// a resumed run whose new process's tuner picks another variant continues with the very
/// same numbers. So does the forward epilogue against matmul, bias_add and the activation
/// run apart.
#[test]
fn matmul_variants_and_the_epilogue_agree_bit_for_bit() {
    let g = gpu();
    let acts = [
        Some(Activation::Sigmoid),
        Some(Activation::Relu),
        Some(Activation::Tanh),
    ];
    let mut compared = 0;
    for (i, &(m, n, k)) in matmul_shapes().iter().enumerate() {
        let a = uniform(130 + i as u64, m * k, -4.0, 4.0);
        let b = uniform(140 + i as u64, k * n, -1.0, 1.0);
        let bias = uniform(150 + i as u64, n, -2.0, 2.0);
        let (ta, tb, tbias) = (
            g.upload("a", &a).unwrap(),
            g.upload("b", &b).unwrap(),
            g.upload("bias", &bias).unwrap(),
        );
        let out = |variant: &'static kernels::matmul::Variant,
                   form: Form,
                   epilogue: kernels::matmul::Epilogue| {
            let tc = g.upload("c", &vec![f32::NAN; m * n]).unwrap();
            let d =
                kernels::matmul::product_with(g, variant, form, &ta, &tb, &tc, m, n, k, epilogue);
            run(&d.unwrap());
            read(&tc)
        };
        for form in [Form::Nn, Form::Tn, Form::Nt] {
            let first = out(&VARIANTS[0], form, kernels::matmul::Epilogue::None);
            for variant in VARIANTS.iter().skip(1) {
                if !variant.supports(m, n, k) || !variant.runs_on(g) {
                    continue;
                }
                let got = out(variant, form, kernels::matmul::Epilogue::None);
                let what = format!(
                    "{form:?} {} against block4, m={m} n={n} k={k}",
                    variant.name
                );
                assert_bits(&what, &got, &first);
                compared += 1;
            }
        }
        for act in acts {
            let epilogue = kernels::matmul::Epilogue::Bias(&tbias, act);
            let fused = out(&VARIANTS[0], Form::Nn, epilogue);
            let tz = g.upload(
                "z",
                &out(&VARIANTS[0], Form::Nn, kernels::matmul::Epilogue::None),
            );
            let tz = tz.unwrap();
            run(&kernels::bias::bias_add(g, &tz, &tbias, m, n).unwrap());
            run(&kernels::activation::activation_forward(g, act.unwrap(), &tz, m * n).unwrap());
            let what =
                format!("linear {act:?} against matmul + bias_add + activation, m={m} n={n} k={k}");
            assert_bits(&what, &fused, &read(&tz));
        }
    }
    assert!(compared >= 30, "{compared} variant comparisons");
    report(&format!(
        "{compared} variant outputs equal block4's bit for bit"
    ));
}

/// More than 65535 workgroups of EW threads: the element-wise kernels then run on a 2-D grid
/// and rebuild the flat index (`flat_index` in common.wgsl); the last elements must be reached.
#[test]
fn elementwise_kernels_reach_every_element_of_a_two_dimensional_grid() {
    let g = gpu();
    let max = g.limits().max_compute_workgroups_per_dimension as usize;
    let n = max * EW as usize + 3 * EW as usize + 5;
    let x: Vec<f32> = (0..n).map(|i| ((i % 1013) as f32 - 506.0) / 64.0).collect();
    let mut want = x.clone();
    gpumlp::kernels::activation::reference::activation_forward(Activation::Relu, &mut want);
    let tx = g.upload("x", &x).unwrap();
    run(&kernels::activation::activation_forward(g, Activation::Relu, &tx, n).unwrap());
    assert_bits(&format!("relu over {n} elements"), &read(&tx), &want);

    let config = OptimizerConfig {
        kind: OptimizerKind::Sgd,
        lr: 0.5,
        momentum: 0.0,
        ..OptimizerConfig::default()
    };
    let slots = StepSlots::new(g, 1);
    let values = config.step_values(1, config.lr);
    slots.write(g, &[values.uniform(0, 0).with_rows(1)]);
    let (tg, tp, tu) = (
        g.upload("g", &x).unwrap(),
        g.zeros("p", n).unwrap(),
        g.zeros("u", n).unwrap(),
    );
    run(&kernels::sgd::sgd(g, &tg, &tp, &tu, &slots, n, n, &config).unwrap());
    let (mut p, mut u) = (vec![0.0; n], vec![0.0; n]);
    gpumlp::kernels::sgd::reference::sgd(&x, &mut p, &mut u, &values, &config);
    assert_bits(&format!("sgd over {n} elements"), &read(&tp), &p);
    let groups = n.div_ceil(EW as usize);
    assert!(groups > max, "{groups} workgroups need a second dimension");
    report(&format!(
        "{n} elements: {groups} workgroups, over the {max} one dimension allows"
    ));
}

fn bias_shapes() -> Vec<(usize, usize)> {
    let g = kernels::bias::GRAD_WORKGROUP;
    let ew = EW as usize;
    vec![
        (1, 1),
        (3, 2),
        (17, 33),
        (1, g - 1),
        (5, g + 1),
        (ew - 1, 1),
        (1, ew + 1),
        (1000, 512),
    ]
}

#[test]
fn bias_add_matches_reference() {
    // One addition per element: exact on any IEEE adapter.
    let mut worst = 0.0f32;
    for (i, &(rows, cols)) in bias_shapes().iter().enumerate() {
        let z = uniform(30 + i as u64, rows * cols, -2.0, 2.0);
        let b = uniform(40 + i as u64, cols, -1.0, 1.0);
        let mut want = z.clone();
        gpumlp::kernels::bias::reference::bias_add(&mut want, &b, rows, cols);
        let g = gpu();
        let (tz, tb) = (g.upload("z", &z).unwrap(), g.upload("b", &b).unwrap());
        run(&kernels::bias::bias_add(g, &tz, &tb, rows, cols).unwrap());
        let what = format!("bias_add rows={rows} cols={cols}");
        worst = worst.max(assert_close(&what, &read(&tz), &want, 0.0, 0.0));
    }
    report(&format!("bias_add: largest |gpu - cpu| = {worst:e}"));
}

#[test]
fn bias_grad_matches_reference() {
    // Same row order on both sides; a GPU may still contract nothing here, so tight.
    let mut worst = 0.0f32;
    for (i, &(rows, cols)) in bias_shapes().iter().enumerate() {
        let dz = uniform(50 + i as u64, rows * cols, -1.0, 1.0);
        let mut want = vec![0.0; cols];
        gpumlp::kernels::bias::reference::bias_grad(&dz, &mut want, rows, cols);
        let g = gpu();
        let tdz = g.upload("dz", &dz).unwrap();
        let tdb = g.upload("db", &vec![f32::NAN; cols]).unwrap();
        run(&kernels::bias::bias_grad(g, &tdz, &tdb, rows, cols, 1, 0).unwrap());
        let what = format!("bias_grad rows={rows} cols={cols}");
        worst = worst.max(assert_close(&what, &read(&tdb), &want, 1e-5, 1e-5));
    }
    report(&format!("bias_grad: largest |gpu - cpu| = {worst:e}"));
}

const ACTIVATIONS: [Activation; 3] = [Activation::Sigmoid, Activation::Relu, Activation::Tanh];

/// Inputs that include large magnitudes, where a naive sigmoid or tanh overflows.
fn activation_inputs(seed: u64, n: usize) -> Vec<f32> {
    let mut x = uniform(seed, n, -8.0, 8.0);
    for (i, v) in [-1e4f32, -90.0, -20.0, 0.0, 20.0, 90.0, 1e4]
        .iter()
        .enumerate()
    {
        if i < n {
            x[i] = *v;
        }
    }
    x
}

#[test]
fn activation_forward_matches_reference() {
    // exp and tanh differ between drivers by a few ulps.
    for act in ACTIVATIONS {
        let mut worst = 0.0f32;
        for (i, &n) in elementwise_sizes().iter().enumerate() {
            let x = activation_inputs(60 + i as u64, n);
            let mut want = x.clone();
            gpumlp::kernels::activation::reference::activation_forward(act, &mut want);
            let g = gpu();
            let tx = g.upload("x", &x).unwrap();
            run(&kernels::activation::activation_forward(g, act, &tx, n).unwrap());
            let what = format!("{act}_forward n={n}");
            worst = worst.max(assert_close(&what, &read(&tx), &want, 1e-6, 1e-5));
        }
        report(&format!("{act}_forward: largest |gpu - cpu| = {worst:e}"));
    }
}

#[test]
fn activation_backward_matches_reference() {
    for act in ACTIVATIONS {
        let mut worst = 0.0f32;
        for (i, &n) in elementwise_sizes().iter().enumerate() {
            let mut a = activation_inputs(70 + i as u64, n);
            gpumlp::kernels::activation::reference::activation_forward(act, &mut a);
            let d = uniform(80 + i as u64, n, -1.0, 1.0);
            let mut want = d.clone();
            gpumlp::kernels::activation::reference::activation_backward(act, &a, &mut want);
            let g = gpu();
            let (ta, td) = (g.upload("a", &a).unwrap(), g.upload("d", &d).unwrap());
            run(&kernels::activation::activation_backward(g, act, &ta, &td, n).unwrap());
            let what = format!("{act}_backward n={n}");
            worst = worst.max(assert_close(&what, &read(&td), &want, 1e-6, 1e-5));
        }
        report(&format!("{act}_backward: largest |gpu - cpu| = {worst:e}"));
    }
}

/// Shapes (rows, outputs) for the loss kernels: 1, odd, around a workgroup, large.
fn loss_shapes() -> Vec<(usize, usize)> {
    let ew = EW as usize;
    vec![
        (1, 1),
        (1, 2),
        (6, 1),
        (17, 3),
        (ew - 1, 1),
        (ew + 1, 4),
        (5000, 1),
        (3000, 10),
    ]
}

/// Logits with extreme values (where a loss from a clamped probability would be inf or NaN),
/// targets fitting each loss (0, 1 or soft labels; one-hot or soft class rows; any value),
/// and row weights of 1, 0 or more. Returns z: (rows, outputs), t: (rows, outputs + 1).
fn loss_inputs(seed: u64, loss: Loss, rows: usize, outputs: usize) -> (Vec<f32>, Vec<f32>) {
    let z = activation_inputs(seed, rows * outputs);
    let u = uniform(seed + 1, rows * outputs, 0.0, 1.0);
    let w = uniform(seed + 2, rows, 0.0, 3.0);
    let mut t = Vec::with_capacity(rows * (outputs + 1));
    for r in 0..rows {
        let row = &u[r * outputs..(r + 1) * outputs];
        match loss {
            Loss::Bce => t.extend(row.iter().enumerate().map(|(c, &v)| match (r + c) % 3 {
                0 => 0.0,
                1 => 1.0,
                _ => v,
            })),
            Loss::SoftmaxCe if r % 2 == 0 => {
                t.extend((0..outputs).map(|c| if c == r % outputs { 1.0 } else { 0.0 }))
            }
            Loss::SoftmaxCe => {
                let sum: f32 = row.iter().sum();
                t.extend(row.iter().map(|v| v / sum));
            }
            Loss::Mse => t.extend(row.iter().map(|v| 20.0 * v - 10.0)),
        }
        t.push(match r % 4 {
            0 => 1.0,
            1 => 0.0,
            _ => w[r],
        });
    }
    (z, t)
}

const LOSSES: [Loss; 3] = [Loss::Bce, Loss::SoftmaxCe, Loss::Mse];

#[test]
fn loss_grad_matches_reference() {
    let g = gpu();
    for loss in LOSSES {
        let mut worst = 0.0f32;
        for (i, &(rows, outputs)) in loss_shapes().iter().enumerate() {
            if loss == Loss::SoftmaxCe && outputs < 2 {
                continue;
            }
            let (z, t) = loss_inputs(90 + i as u64, loss, rows, outputs);
            let n = rows * outputs;
            let batch = rows + 3; // the mean is over the batch, not the rows in hand
            let mut want = vec![0.0; n];
            gpumlp::kernels::loss::reference::loss_grad(
                loss, &z, &t, &mut want, rows, outputs, batch,
            );
            let (tz, tt) = (g.upload("z", &z).unwrap(), g.upload("t", &t).unwrap());
            let tdz = g.upload("dz", &vec![f32::NAN; n]).unwrap();
            run(&kernels::loss::loss_grad(g, loss, &tz, &tt, &tdz, rows, outputs, batch).unwrap());
            let what = format!("{}_grad rows={rows} outputs={outputs}", loss.name());
            let tol = gpumlp::tolerance::LOSS_GRAD;
            worst = worst.max(assert_close(&what, &read(&tdz), &want, tol.atol, tol.rtol));
        }
        report(&format!(
            "{}_grad: largest |gpu - cpu| = {worst:e}",
            loss.name()
        ));
    }
}

#[test]
fn batch_loss_matches_reference() {
    // The shader sums in f32 over a fixed tree; the reference sums in f64.
    let g = gpu();
    let slots = StepSlots::new(g, 4);
    for loss in LOSSES {
        let mut worst = 0.0f32;
        for (i, &(rows, outputs)) in loss_shapes().iter().enumerate() {
            if loss == Loss::SoftmaxCe && outputs < 2 {
                continue;
            }
            let (z, t) = loss_inputs(100 + i as u64, loss, rows, outputs);
            let batch = rows;
            let want =
                gpumlp::kernels::loss::reference::batch_loss(loss, &z, &t, rows, outputs, batch);
            assert!(want.is_finite(), "reference loss is finite");
            // Write into slot 2 of 4 to check the step's loss_slot is honoured.
            let values = OptimizerConfig::default().step_values(1, 1e-3);
            slots.write(g, &[values.uniform(0, 2)]);
            let (tz, tt) = (g.upload("z", &z).unwrap(), g.upload("t", &t).unwrap());
            let losses = g.upload("losses", &[f32::NAN; 4]).unwrap();
            let d =
                kernels::loss::batch_loss(g, loss, &tz, &tt, &losses, &slots, rows, outputs, batch);
            run(&d.unwrap());
            let got = read(&losses);
            assert!(
                got[0].is_nan() && got[1].is_nan() && got[3].is_nan(),
                "only slot 2 written"
            );
            let what = format!("{}_loss rows={rows} outputs={outputs}", loss.name());
            worst = worst.max(assert_close(&what, &got[2..3], &[want], 1e-6, 1e-5));
        }
        report(&format!(
            "{}_loss: largest |gpu - cpu| = {worst:e}",
            loss.name()
        ));
    }
}

/// The training step's fused loss-and-gradient kernel writes exactly what batch_loss and
/// loss_grad write apart (bit for bit), and so matches the reference as they do.
#[test]
fn loss_and_grad_equals_the_separate_kernels() {
    let g = gpu();
    let slots = StepSlots::new(g, 1);
    let values = OptimizerConfig::default().step_values(1, 1e-3);
    for loss in LOSSES {
        let mut worst = 0.0f32;
        for (i, &(rows, outputs)) in loss_shapes().iter().enumerate() {
            if loss == Loss::SoftmaxCe && outputs < 2 {
                continue;
            }
            let (z, t) = loss_inputs(110 + i as u64, loss, rows, outputs);
            let n = rows * outputs;
            // The step's batch is its rows.
            let batch = rows;
            slots.write(g, &[values.uniform(0, 0).with_rows(rows as u32)]);
            let (tz, tt) = (g.upload("z", &z).unwrap(), g.upload("t", &t).unwrap());
            let nan = vec![f32::NAN; n];
            let (fused_dz, apart_dz) =
                (g.upload("dz", &nan).unwrap(), g.upload("dz", &nan).unwrap());
            let (fused_l, apart_l) = (
                g.upload("l", &[f32::NAN]).unwrap(),
                g.upload("l", &[f32::NAN]).unwrap(),
            );
            let fused = kernels::loss::loss_and_grad(
                g, loss, &tz, &tt, &fused_l, &fused_dz, &slots, rows, outputs,
            );
            run(&fused.unwrap());
            run(&kernels::loss::batch_loss(
                g, loss, &tz, &tt, &apart_l, &slots, rows, outputs, batch,
            )
            .unwrap());
            run(
                &kernels::loss::loss_grad(g, loss, &tz, &tt, &apart_dz, rows, outputs, batch)
                    .unwrap(),
            );
            let what = format!("{}_loss_grad rows={rows} outputs={outputs}", loss.name());
            assert_close(
                &format!("{what} dz"),
                &read(&fused_dz),
                &read(&apart_dz),
                0.0,
                0.0,
            );
            assert_close(
                &format!("{what} loss"),
                &read(&fused_l),
                &read(&apart_l),
                0.0,
                0.0,
            );
            let mut want = vec![0.0; n];
            let want_loss = gpumlp::kernels::loss::reference::loss_and_grad(
                loss, &z, &t, &mut want, rows, outputs, batch,
            );
            let tol = gpumlp::tolerance::LOSS_GRAD;
            worst = worst.max(assert_close(
                &what,
                &read(&fused_dz),
                &want,
                tol.atol,
                tol.rtol,
            ));
            assert_close(&what, &read(&fused_l), &[want_loss], 1e-6, 1e-5);
        }
        report(&format!(
            "{}_loss_grad: equal to the separate kernels; largest |gpu - cpu| = {worst:e}",
            loss.name()
        ));
    }
}

#[test]
fn adam_matches_reference() {
    // A few steps from nonzero moments, plain Adam and AdamW.
    let mut worst = 0.0f32;
    let g = gpu();
    let slots = StepSlots::new(g, 1);
    for (i, &n) in elementwise_sizes().iter().enumerate() {
        for (kind, weight_decay) in [
            (OptimizerKind::Adam, 0.0),
            (OptimizerKind::Adam, 0.05),
            (OptimizerKind::AdamW, 0.05),
        ] {
            let config = OptimizerConfig {
                kind,
                lr: 0.01,
                weight_decay,
                ..OptimizerConfig::default()
            };
            let seed = 110 + 10 * i as u64;
            let mut p = uniform(seed, n, -1.0, 1.0);
            let mut m = uniform(seed + 1, n, -0.1, 0.1);
            let mut v = uniform(seed + 2, n, 0.0, 0.01);
            let (tp, tm, tv) = (
                g.upload("p", &p).unwrap(),
                g.upload("m", &m).unwrap(),
                g.upload("v", &v).unwrap(),
            );
            let tg = g.zeros("g", n).unwrap();
            let d = kernels::adam::adam(g, &tg, &tp, &tm, &tv, &slots, n, n, &config).unwrap();
            for t in 1..=3u64 {
                let grad = uniform(seed + 2 + t, n, -1.0, 1.0);
                let values = config.step_values(t, config.lr * t as f32);
                gpumlp::kernels::adam::reference::adam(
                    &grad, &mut p, &mut m, &mut v, &values, &config,
                );
                g.write(&tg, &grad);
                slots.write(g, &[values.uniform(0, 0).with_rows(1)]);
                run(&d);
            }
            let what = format!("{kind} n={n} weight_decay={weight_decay}");
            worst = worst.max(assert_close(&what, &read(&tp), &p, 1e-6, 1e-5));
            assert_close(&(what.clone() + " m"), &read(&tm), &m, 1e-7, 1e-5);
            assert_close(&(what + " v"), &read(&tv), &v, 1e-9, 1e-5);
        }
    }
    report(&format!("adam: largest |gpu - cpu| = {worst:e}"));
}

#[test]
fn sgd_matches_reference() {
    let mut worst = 0.0f32;
    let g = gpu();
    let slots = StepSlots::new(g, 1);
    for (i, &n) in elementwise_sizes().iter().enumerate() {
        let config = OptimizerConfig {
            kind: OptimizerKind::Sgd,
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 0.01,
            ..OptimizerConfig::default()
        };
        let seed = 170 + 10 * i as u64;
        let mut p = uniform(seed, n, -1.0, 1.0);
        let mut u = uniform(seed + 1, n, -0.1, 0.1);
        let (tp, tu) = (g.upload("p", &p).unwrap(), g.upload("u", &u).unwrap());
        let tg = g.zeros("g", n).unwrap();
        let d = kernels::sgd::sgd(g, &tg, &tp, &tu, &slots, n, n, &config).unwrap();
        for t in 1..=3u64 {
            let grad = uniform(seed + 2 + t, n, -1.0, 1.0);
            let values = config.step_values(t, config.lr / t as f32);
            gpumlp::kernels::sgd::reference::sgd(&grad, &mut p, &mut u, &values, &config);
            g.write(&tg, &grad);
            slots.write(g, &[values.uniform(0, 0).with_rows(1)]);
            run(&d);
        }
        let what = format!("sgd n={n}");
        worst = worst.max(assert_close(&what, &read(&tp), &p, 1e-6, 1e-5));
        assert_close(&(what + " u"), &read(&tu), &u, 1e-7, 1e-5);
    }
    report(&format!("sgd: largest |gpu - cpu| = {worst:e}"));
}

#[test]
fn gather_matches_reference() {
    // A copy: exact.
    let g = gpu();
    let slots = StepSlots::new(g, 1);
    let ew = EW as usize;
    for (i, &(n, rows, cols, offset)) in [
        (1, 1, 1, 0),
        (3, 2, 1, 1),
        (40, 17, 33, 20),
        (ew, ew - 1, 1, 0),
        (ew + 2, 2, ew + 1, ew),
        (3000, 1000, 512, 1500),
    ]
    .iter()
    .enumerate()
    {
        let x_all = uniform(200 + i as u64, n * cols, -1.0, 1.0);
        let y_all = uniform(300 + i as u64, n, 0.0, 1.0);
        let order: Vec<u32> = (0..(offset + rows) as u32)
            .map(|r| (r * 7919 + 3) % n as u32)
            .collect();
        let mut want_x = vec![0.0; rows * cols];
        let mut want_y = vec![0.0; rows];
        gpumlp::kernels::gather::reference::gather(
            &order,
            offset,
            &x_all,
            &y_all,
            &mut want_x,
            &mut want_y,
            rows,
            cols,
            1,
        );
        let values = OptimizerConfig::default().step_values(1, 1e-3);
        slots.write(
            g,
            &[values.uniform(offset as u32, 0).with_rows(rows as u32)],
        );
        let to = g.upload("order", &order).unwrap();
        let (txa, tya) = (
            g.upload("x_all", &x_all).unwrap(),
            g.upload("y_all", &y_all).unwrap(),
        );
        let tx = g.upload("x", &vec![f32::NAN; rows * cols]).unwrap();
        let ty = g.upload("y", &vec![f32::NAN; rows]).unwrap();
        let d = kernels::gather::gather(
            g,
            &to,
            &txa,
            &tya,
            &tx,
            &ty,
            &slots,
            rows,
            cols,
            1,
            Loss::Mse,
        )
        .unwrap();
        run(&d);
        let what = format!("gather n={n} rows={rows} cols={cols} offset={offset}");
        assert_close(&(what.clone() + " x"), &read(&tx), &want_x, 0.0, 0.0);
        assert_close(&(what + " y"), &read(&ty), &want_y, 0.0, 0.0);
    }
}
