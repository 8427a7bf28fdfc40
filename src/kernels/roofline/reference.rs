//! Reference for shaders/roofline.wgsl.

/// `dst[i]` = the sum of 32 chains of `iterations` steps x = x·0.999 + 0.001 from `src[i] + 0..32`.
// src: (n), dst: (n)
pub fn fma_peak(src: &[f32], dst: &mut [f32], iterations: usize) {
    for (d, &x0) in dst.iter_mut().zip(src) {
        let mut v: [f32; 32] = std::array::from_fn(|lane| x0 + lane as f32);
        for _ in 0..iterations {
            v.iter_mut().for_each(|x| *x = x.mul_add(0.999, 0.001));
        }
        // The shader's order: s = v0 + v1 + ... + v7 (as vec4), then s.x + s.y + s.z + s.w.
        let s: [f32; 4] = std::array::from_fn(|i| {
            v[i] + v[i + 4] + v[i + 8] + v[i + 12] + v[i + 16] + v[i + 20] + v[i + 24] + v[i + 28]
        });
        *d = s[0] + s[1] + s[2] + s[3];
    }
}

/// dst = src.
// src: (n), dst: (n)
pub fn copy(src: &[f32], dst: &mut [f32]) {
    dst.copy_from_slice(src);
}
