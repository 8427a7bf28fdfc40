//! Every kernel of `shaders/` against its CPU reference in `gpumlp::cpu`, on awkward shapes:
//! 1, odd, below and above each workgroup tile, and large. Tolerances are stated per kernel as
//! `|got − want| ≤ atol + rtol·|want|`.

mod common;

use common::{assert_close, gpu, report, uniform};
use gpumlp::gpu::{Step, StepSlots};
use gpumlp::ops::{self, Dispatch, EW};
use gpumlp::{cpu, Activation, AdamConfig};

fn run(d: &Dispatch) {
    ops::run(gpu(), &[d]).expect("kernel ran");
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
    let t = ops::matmul::TILE;
    vec![
        (1, 1, 1),
        (3, 2, 1),
        (17, 33, 65),
        (t - 1, t - 1, t - 1),
        (t + 1, t + 1, t + 1),
        (t - 1, t + 1, 7),
        (2 * t + 1, 1, t + 1),
        (1000, 512, 256),
    ]
}

type CpuMatmul = fn(&[f32], &[f32], &mut [f32], usize, usize, usize);
type GpuMatmul = fn(
    &gpumlp::Gpu,
    &gpumlp::gpu::Tensor,
    &gpumlp::gpu::Tensor,
    &gpumlp::gpu::Tensor,
    usize,
    usize,
    usize,
) -> gpumlp::Result<Dispatch>;

fn check_matmul(name: &str, cpu_fn: CpuMatmul, gpu_fn: GpuMatmul) {
    let mut worst = 0.0f32;
    for (i, &(m, n, k)) in matmul_shapes().iter().enumerate() {
        // The operands hold m·k and k·n elements in every form; only their layout differs.
        let a = uniform(10 + i as u64, m * k, -1.0, 1.0);
        let b = uniform(20 + i as u64, k * n, -1.0, 1.0);
        let mut want = vec![0.0; m * n];
        cpu_fn(&a, &b, &mut want, m, n, k);
        let g = gpu();
        let (ta, tb) = (g.upload("a", &a).unwrap(), g.upload("b", &b).unwrap());
        let tc = g.upload("c", &vec![f32::NAN; m * n]).unwrap();
        run(&gpu_fn(g, &ta, &tb, &tc, m, n, k).unwrap());
        let got = read(&tc);
        let what = format!("{name} m={m} n={n} k={k}");
        worst = worst.max(assert_close(&what, &got, &want, MATMUL_ATOL, MATMUL_RTOL));
    }
    report(&format!("{name}: largest |gpu - cpu| = {worst:e}"));
}

#[test]
fn matmul_matches_reference() {
    check_matmul("matmul", cpu::matmul, ops::matmul::matmul);
}

#[test]
fn matmul_tn_matches_reference() {
    check_matmul("matmul_tn", cpu::matmul_tn, ops::matmul::matmul_tn);
}

#[test]
fn matmul_nt_matches_reference() {
    check_matmul("matmul_nt", cpu::matmul_nt, ops::matmul::matmul_nt);
}

fn bias_shapes() -> Vec<(usize, usize)> {
    let g = ops::bias::GRAD_WORKGROUP;
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
        cpu::bias_add(&mut want, &b, rows, cols);
        let g = gpu();
        let (tz, tb) = (g.upload("z", &z).unwrap(), g.upload("b", &b).unwrap());
        run(&ops::bias::bias_add(g, &tz, &tb, rows, cols).unwrap());
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
        cpu::bias_grad(&dz, &mut want, rows, cols);
        let g = gpu();
        let tdz = g.upload("dz", &dz).unwrap();
        let tdb = g.upload("db", &vec![f32::NAN; cols]).unwrap();
        run(&ops::bias::bias_grad(g, &tdz, &tdb, rows, cols).unwrap());
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
            cpu::activation_forward(act, &mut want);
            let g = gpu();
            let tx = g.upload("x", &x).unwrap();
            run(&ops::activation::activation_forward(g, act, &tx, n).unwrap());
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
            cpu::activation_forward(act, &mut a);
            let d = uniform(80 + i as u64, n, -1.0, 1.0);
            let mut want = d.clone();
            cpu::activation_backward(act, &a, &mut want);
            let g = gpu();
            let (ta, td) = (g.upload("a", &a).unwrap(), g.upload("d", &d).unwrap());
            run(&ops::activation::activation_backward(g, act, &ta, &td, n).unwrap());
            let what = format!("{act}_backward n={n}");
            worst = worst.max(assert_close(&what, &read(&td), &want, 1e-6, 1e-5));
        }
        report(&format!("{act}_backward: largest |gpu - cpu| = {worst:e}"));
    }
}

/// Logits with extreme values (where a loss from a clamped probability would be inf or NaN)
/// and labels that are 0, 1 or soft.
fn loss_inputs(seed: u64, n: usize) -> (Vec<f32>, Vec<f32>) {
    let z = activation_inputs(seed, n);
    let y = uniform(seed + 1, n, 0.0, 1.0)
        .into_iter()
        .enumerate()
        .map(|(i, v)| match i % 3 {
            0 => 0.0,
            1 => 1.0,
            _ => v,
        })
        .collect();
    (z, y)
}

#[test]
fn bce_grad_matches_reference() {
    let mut worst = 0.0f32;
    for (i, &n) in elementwise_sizes().iter().enumerate() {
        let (z, y) = loss_inputs(90 + i as u64, n);
        let batch = n;
        let mut want = vec![0.0; n];
        cpu::bce_grad(&z, &y, &mut want, batch);
        let g = gpu();
        let (tz, ty) = (g.upload("z", &z).unwrap(), g.upload("y", &y).unwrap());
        let tdz = g.upload("dz", &vec![f32::NAN; n]).unwrap();
        run(&ops::loss::bce_grad(g, &tz, &ty, &tdz, n, batch).unwrap());
        let what = format!("bce_grad n={n}");
        worst = worst.max(assert_close(&what, &read(&tdz), &want, 1e-9, 1e-5));
    }
    report(&format!("bce_grad: largest |gpu - cpu| = {worst:e}"));
}

#[test]
fn bce_loss_matches_reference() {
    // The shader sums in f32 over a fixed tree; the reference sums in f64.
    let mut worst = 0.0f32;
    let g = gpu();
    let slots = StepSlots::new(g, 4);
    for (i, &n) in elementwise_sizes().iter().enumerate() {
        let (z, y) = loss_inputs(100 + i as u64, n);
        let batch = n;
        let want = cpu::bce_loss(&z, &y, batch);
        assert!(want.is_finite(), "reference loss is finite");
        // Write into slot 2 of 4 to check the step's loss_slot is honoured.
        let values = AdamConfig::default().step_values(1);
        slots.write(g, &[Step::new(0, 2, &values)]);
        let (tz, ty) = (g.upload("z", &z).unwrap(), g.upload("y", &y).unwrap());
        let losses = g.upload("losses", &[f32::NAN; 4]).unwrap();
        run(&ops::loss::bce_loss(g, &tz, &ty, &losses, &slots, n, batch).unwrap());
        let got = read(&losses);
        assert!(
            got[0].is_nan() && got[1].is_nan() && got[3].is_nan(),
            "only slot 2 written"
        );
        let what = format!("bce_loss n={n}");
        worst = worst.max(assert_close(&what, &got[2..3], &[want], 1e-6, 1e-5));
    }
    report(&format!("bce_loss: largest |gpu - cpu| = {worst:e}"));
}

#[test]
fn adam_matches_reference() {
    // A few steps from nonzero moments, plain Adam and AdamW.
    let mut worst = 0.0f32;
    let g = gpu();
    let slots = StepSlots::new(g, 1);
    for (i, &n) in elementwise_sizes().iter().enumerate() {
        for weight_decay in [0.0, 0.05] {
            let config = AdamConfig {
                lr: 0.01,
                weight_decay,
                ..AdamConfig::default()
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
            let d = ops::adam::adam(g, &tg, &tp, &tm, &tv, &slots, n, &config).unwrap();
            for t in 1..=3u64 {
                let grad = uniform(seed + 2 + t, n, -1.0, 1.0);
                let values = config.step_values(t);
                cpu::adam(&grad, &mut p, &mut m, &mut v, &values, &config);
                g.queue()
                    .write_buffer(&tg.buffer, 0, bytemuck::cast_slice(&grad));
                slots.write(g, &[Step::new(0, 0, &values)]);
                run(&d);
            }
            let what = format!("adam n={n} weight_decay={weight_decay}");
            worst = worst.max(assert_close(&what, &read(&tp), &p, 1e-6, 1e-5));
            assert_close(&(what.clone() + " m"), &read(&tm), &m, 1e-7, 1e-5);
            assert_close(&(what + " v"), &read(&tv), &v, 1e-9, 1e-5);
        }
    }
    report(&format!("adam: largest |gpu - cpu| = {worst:e}"));
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
        cpu::gather(
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
        let values = AdamConfig::default().step_values(1);
        slots.write(g, &[Step::new(offset as u32, 0, &values)]);
        let to = g.upload("order", &order).unwrap();
        let (txa, tya) = (
            g.upload("x_all", &x_all).unwrap(),
            g.upload("y_all", &y_all).unwrap(),
        );
        let tx = g.upload("x", &vec![f32::NAN; rows * cols]).unwrap();
        let ty = g.upload("y", &vec![f32::NAN; rows]).unwrap();
        let d = ops::gather::gather(g, &to, &txa, &tya, &tx, &ty, &slots, rows, cols, 1).unwrap();
        run(&d);
        let what = format!("gather n={n} rows={rows} cols={cols} offset={offset}");
        assert_close(&(what.clone() + " x"), &read(&tx), &want_x, 0.0, 0.0);
        assert_close(&(what + " y"), &read(&ty), &want_y, 0.0, 0.0);
    }
}
