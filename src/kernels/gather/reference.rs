//! Reference for shaders/gather.wgsl.

/// `x[r] = x_all[order[row_offset + r]]`, and likewise y.
// order: (≥ row_offset + rows), x_all: (n, cols), y_all: (n, y_cols),
// x: (rows, cols), y: (rows, y_cols)
#[allow(clippy::too_many_arguments)]
pub fn gather(
    order: &[u32],
    row_offset: usize,
    x_all: &[f32],
    y_all: &[f32],
    x: &mut [f32],
    y: &mut [f32],
    rows: usize,
    cols: usize,
    y_cols: usize,
) {
    for r in 0..rows {
        let src = order[row_offset + r] as usize;
        x[r * cols..(r + 1) * cols].copy_from_slice(&x_all[src * cols..(src + 1) * cols]);
        y[r * y_cols..(r + 1) * y_cols].copy_from_slice(&y_all[src * y_cols..(src + 1) * y_cols]);
    }
}
