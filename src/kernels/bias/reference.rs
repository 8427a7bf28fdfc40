//! Reference for shaders/bias.wgsl.

/// `z[r, j] += b[j]`.
// z: (rows, cols), b: (cols)
pub fn bias_add(z: &mut [f32], b: &[f32], rows: usize, cols: usize) {
    for row in z[..rows * cols].chunks_exact_mut(cols) {
        for (zj, bj) in row.iter_mut().zip(b) {
            *zj += bj;
        }
    }
}

/// `db[j] = Σ_r dz[r, j]`, in row order.
// dz: (rows, cols), db: (cols)
pub fn bias_grad(dz: &[f32], db: &mut [f32], rows: usize, cols: usize) {
    let db = &mut db[..cols];
    db.fill(0.0);
    for row in dz[..rows * cols].chunks_exact(cols) {
        for (dbj, dzj) in db.iter_mut().zip(row) {
            *dbj += dzj;
        }
    }
}
