//! Reference for shaders/matmul.wgsl. Each output sums over k in ascending order, as the
//! shader does, so on an adapter without fused multiply-add the results match bit for bit.

/// C = A · B.
// a: (m, k), b: (k, n), c: (m, n)
pub fn matmul(a: &[f32], b: &[f32], c: &mut [f32], m: usize, n: usize, k: usize) {
    let c = &mut c[..m * n];
    c.fill(0.0);
    for i in 0..m {
        let c_row = &mut c[i * n..(i + 1) * n];
        for kk in 0..k {
            let a_ik = a[i * k + kk];
            let b_row = &b[kk * n..(kk + 1) * n];
            for (cj, bj) in c_row.iter_mut().zip(b_row) {
                *cj += a_ik * bj;
            }
        }
    }
}

/// C = Aᵀ · B.
// a: (k, m), b: (k, n), c: (m, n)
pub fn matmul_tn(a: &[f32], b: &[f32], c: &mut [f32], m: usize, n: usize, k: usize) {
    let c = &mut c[..m * n];
    c.fill(0.0);
    for kk in 0..k {
        let b_row = &b[kk * n..(kk + 1) * n];
        for i in 0..m {
            let a_ki = a[kk * m + i];
            let c_row = &mut c[i * n..(i + 1) * n];
            for (cj, bj) in c_row.iter_mut().zip(b_row) {
                *cj += a_ki * bj;
            }
        }
    }
}

/// C = A · Bᵀ.
// a: (m, k), b: (n, k), c: (m, n)
pub fn matmul_nt(a: &[f32], b: &[f32], c: &mut [f32], m: usize, n: usize, k: usize) {
    for i in 0..m {
        let a_row = &a[i * k..(i + 1) * k];
        for j in 0..n {
            let b_row = &b[j * k..(j + 1) * k];
            let mut acc = 0.0f32;
            for (x, w) in a_row.iter().zip(b_row) {
                acc += x * w;
            }
            c[i * n + j] = acc;
        }
    }
}

/// A dense layer's forward pass, the reference for the matmul epilogue
/// (`ops::matmul::linear`): Z = act(X · W + b), computed as matmul, bias_add and
/// activation_forward one after the other.
// x: (rows, inputs), w: (inputs, outputs), b: (outputs), z: (rows, outputs)
#[allow(clippy::too_many_arguments)]
pub fn linear(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    act: Option<crate::model::Activation>,
    z: &mut [f32],
    rows: usize,
    outputs: usize,
    inputs: usize,
) {
    matmul(x, w, z, rows, outputs, inputs);
    crate::kernels::bias::reference::bias_add(z, b, rows, outputs);
    if let Some(act) = act {
        crate::kernels::activation::reference::activation_forward(act, &mut z[..rows * outputs]);
    }
}
