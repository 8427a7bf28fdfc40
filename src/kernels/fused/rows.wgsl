// A unit's values over one chunk of wide.wgsl (after the prelude, before lanes_*.wgsl and
// wide.wgsl): RQ vec4s, four rows each, held as named fields so that a driver keeps them in
// registers (an array indexed at run time would live in memory). Fields past RQ stay unused,
// and each helper's `if (RQ > k)` is decided when the pipeline is built.
struct Rows {
    q0: vec4<f32>, q1: vec4<f32>, q2: vec4<f32>, q3: vec4<f32>,
    q4: vec4<f32>, q5: vec4<f32>, q6: vec4<f32>, q7: vec4<f32>,
    q8: vec4<f32>, q9: vec4<f32>, q10: vec4<f32>, q11: vec4<f32>,
    q12: vec4<f32>, q13: vec4<f32>, q14: vec4<f32>, q15: vec4<f32>,
}

fn rows_zero() -> Rows {
    let z = vec4<f32>(0.0);
    return Rows(z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z);
}

// acc + x · w, row by row.
fn rows_fma(acc: Rows, x: Rows, w: f32) -> Rows {
    var r = acc;
    r.q0 = r.q0 + x.q0 * w;
    if (RQ > 1u) { r.q1 = r.q1 + x.q1 * w; }
    if (RQ > 2u) {
        r.q2 = r.q2 + x.q2 * w;
        r.q3 = r.q3 + x.q3 * w;
    }
    if (RQ > 4u) {
        r.q4 = r.q4 + x.q4 * w;
        r.q5 = r.q5 + x.q5 * w;
        r.q6 = r.q6 + x.q6 * w;
        r.q7 = r.q7 + x.q7 * w;
    }
    if (RQ > 8u) {
        r.q8 = r.q8 + x.q8 * w;
        r.q9 = r.q9 + x.q9 * w;
        r.q10 = r.q10 + x.q10 * w;
        r.q11 = r.q11 + x.q11 * w;
        r.q12 = r.q12 + x.q12 * w;
        r.q13 = r.q13 + x.q13 * w;
        r.q14 = r.q14 + x.q14 * w;
        r.q15 = r.q15 + x.q15 * w;
    }
    return r;
}

// z + b, row by row.
fn rows_bias(z: Rows, b: f32) -> Rows {
    var r = z;
    r.q0 = r.q0 + b;
    if (RQ > 1u) { r.q1 = r.q1 + b; }
    if (RQ > 2u) {
        r.q2 = r.q2 + b;
        r.q3 = r.q3 + b;
    }
    if (RQ > 4u) {
        r.q4 = r.q4 + b;
        r.q5 = r.q5 + b;
        r.q6 = r.q6 + b;
        r.q7 = r.q7 + b;
    }
    if (RQ > 8u) {
        r.q8 = r.q8 + b;
        r.q9 = r.q9 + b;
        r.q10 = r.q10 + b;
        r.q11 = r.q11 + b;
        r.q12 = r.q12 + b;
        r.q13 = r.q13 + b;
        r.q14 = r.q14 + b;
        r.q15 = r.q15 + b;
    }
    return r;
}

// The activation `code` of z, row by row.
fn rows_activate(code: u32, z: Rows) -> Rows {
    var r = z;
    r.q0 = activate4(code, r.q0);
    if (RQ > 1u) { r.q1 = activate4(code, r.q1); }
    if (RQ > 2u) {
        r.q2 = activate4(code, r.q2);
        r.q3 = activate4(code, r.q3);
    }
    if (RQ > 4u) {
        r.q4 = activate4(code, r.q4);
        r.q5 = activate4(code, r.q5);
        r.q6 = activate4(code, r.q6);
        r.q7 = activate4(code, r.q7);
    }
    if (RQ > 8u) {
        r.q8 = activate4(code, r.q8);
        r.q9 = activate4(code, r.q9);
        r.q10 = activate4(code, r.q10);
        r.q11 = activate4(code, r.q11);
        r.q12 = activate4(code, r.q12);
        r.q13 = activate4(code, r.q13);
        r.q14 = activate4(code, r.q14);
        r.q15 = activate4(code, r.q15);
    }
    return r;
}

// d · act'(a) row by row (the prelude's activate_back).
fn rows_activate_back(code: u32, a: Rows, d: Rows) -> Rows {
    var r = d;
    r.q0 = activate_back4(code, a.q0, d.q0);
    if (RQ > 1u) { r.q1 = activate_back4(code, a.q1, d.q1); }
    if (RQ > 2u) {
        r.q2 = activate_back4(code, a.q2, d.q2);
        r.q3 = activate_back4(code, a.q3, d.q3);
    }
    if (RQ > 4u) {
        r.q4 = activate_back4(code, a.q4, d.q4);
        r.q5 = activate_back4(code, a.q5, d.q5);
        r.q6 = activate_back4(code, a.q6, d.q6);
        r.q7 = activate_back4(code, a.q7, d.q7);
    }
    if (RQ > 8u) {
        r.q8 = activate_back4(code, a.q8, d.q8);
        r.q9 = activate_back4(code, a.q9, d.q9);
        r.q10 = activate_back4(code, a.q10, d.q10);
        r.q11 = activate_back4(code, a.q11, d.q11);
        r.q12 = activate_back4(code, a.q12, d.q12);
        r.q13 = activate_back4(code, a.q13, d.q13);
        r.q14 = activate_back4(code, a.q14, d.q14);
        r.q15 = activate_back4(code, a.q15, d.q15);
    }
    return r;
}

// Σ over the rows of x · d: the vec4 sums in row-block order, then their four lanes.
fn rows_dot(x: Rows, d: Rows) -> f32 {
    var s = x.q0 * d.q0;
    if (RQ > 1u) { s = s + x.q1 * d.q1; }
    if (RQ > 2u) { s = s + x.q2 * d.q2 + x.q3 * d.q3; }
    if (RQ > 4u) {
        s = s + x.q4 * d.q4 + x.q5 * d.q5;
        s = s + x.q6 * d.q6 + x.q7 * d.q7;
    }
    if (RQ > 8u) {
        s = s + x.q8 * d.q8 + x.q9 * d.q9;
        s = s + x.q10 * d.q10 + x.q11 * d.q11;
        s = s + x.q12 * d.q12 + x.q13 * d.q13;
        s = s + x.q14 * d.q14 + x.q15 * d.q15;
    }
    return dot(s, vec4<f32>(1.0));
}

// Σ over the rows of d, as a fixed tree (fields past RQ are zero).
fn rows_sum(d: Rows) -> f32 {
    let lo = ((d.q0 + d.q1) + (d.q2 + d.q3)) + ((d.q4 + d.q5) + (d.q6 + d.q7));
    var s = lo;
    if (RQ > 8u) {
        s = lo + (((d.q8 + d.q9) + (d.q10 + d.q11)) + ((d.q12 + d.q13) + (d.q14 + d.q15)));
    }
    return dot(s, vec4<f32>(1.0));
}

// b where `second`, else a, field by field.
fn rows_pick(a: Rows, b: Rows, second: bool) -> Rows {
    var r = a;
    r.q0 = select(a.q0, b.q0, second);
    if (RQ > 1u) { r.q1 = select(a.q1, b.q1, second); }
    if (RQ > 2u) {
        r.q2 = select(a.q2, b.q2, second);
        r.q3 = select(a.q3, b.q3, second);
    }
    if (RQ > 4u) {
        r.q4 = select(a.q4, b.q4, second);
        r.q5 = select(a.q5, b.q5, second);
        r.q6 = select(a.q6, b.q6, second);
        r.q7 = select(a.q7, b.q7, second);
    }
    if (RQ > 8u) {
        r.q8 = select(a.q8, b.q8, second);
        r.q9 = select(a.q9, b.q9, second);
        r.q10 = select(a.q10, b.q10, second);
        r.q11 = select(a.q11, b.q11, second);
        r.q12 = select(a.q12, b.q12, second);
        r.q13 = select(a.q13, b.q13, second);
        r.q14 = select(a.q14, b.q14, second);
        r.q15 = select(a.q15, b.q15, second);
    }
    return r;
}

// Four fields of a unit, one block of rows_load and rows_store.
struct Quad {
    a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, d: vec4<f32>,
}

// Fields 4k .. 4k + 4 of r (RQ ≥ 4, k < RQ / 4), by selects.
fn rows_quad(r: Rows, k: u32) -> Quad {
    var o = Quad(r.q0, r.q1, r.q2, r.q3);
    if (RQ > 4u) {
        let on = k == 1u;
        o = Quad(select(o.a, r.q4, on), select(o.b, r.q5, on), select(o.c, r.q6, on),
                 select(o.d, r.q7, on));
    }
    if (RQ > 8u) {
        let on2 = k == 2u;
        o = Quad(select(o.a, r.q8, on2), select(o.b, r.q9, on2), select(o.c, r.q10, on2),
                 select(o.d, r.q11, on2));
        let on3 = k == 3u;
        o = Quad(select(o.a, r.q12, on3), select(o.b, r.q13, on3), select(o.c, r.q14, on3),
                 select(o.d, r.q15, on3));
    }
    return o;
}

// r with fields 4k .. 4k + 4 set to o (RQ ≥ 4, k < RQ / 4), by selects.
fn rows_set_quad(r: Rows, k: u32, o: Quad) -> Rows {
    var x = r;
    let on0 = k == 0u;
    x.q0 = select(x.q0, o.a, on0);
    x.q1 = select(x.q1, o.b, on0);
    x.q2 = select(x.q2, o.c, on0);
    x.q3 = select(x.q3, o.d, on0);
    if (RQ > 4u) {
        let on = k == 1u;
        x.q4 = select(x.q4, o.a, on);
        x.q5 = select(x.q5, o.b, on);
        x.q6 = select(x.q6, o.c, on);
        x.q7 = select(x.q7, o.d, on);
    }
    if (RQ > 8u) {
        let on2 = k == 2u;
        x.q8 = select(x.q8, o.a, on2);
        x.q9 = select(x.q9, o.b, on2);
        x.q10 = select(x.q10, o.c, on2);
        x.q11 = select(x.q11, o.d, on2);
        let on3 = k == 3u;
        x.q12 = select(x.q12, o.a, on3);
        x.q13 = select(x.q13, o.b, on3);
        x.q14 = select(x.q14, o.c, on3);
        x.q15 = select(x.q15, o.d, on3);
    }
    return x;
}

// This lane's own unit: buf[y .. y + RQ]. Past four fields, a loop of four at a time over a
// bound the compiler cannot unroll (fp.rq, RQ again): a driver that loads lane by lane
// (lavapipe) compiles each memory access into a loop of its own, and sixteen copies of
// those cost over a second of compiling; four cost little more than selects.
fn rows_load(y: u32) -> Rows {
    var r = rows_zero();
    if (RQ < 4u) {
        r.q0 = buf[y];
        if (RQ > 1u) { r.q1 = buf[y + 1u]; }
    } else {
        for (var k = 0u; k < fp.rq / 4u; k++) {
            let y4 = y + 4u * k;
            r = rows_set_quad(r, k, Quad(buf[y4], buf[y4 + 1u], buf[y4 + 2u], buf[y4 + 3u]));
        }
    }
    return r;
}

// r into buf[y .. y + RQ], as rows_load reads it.
fn rows_store(y: u32, r: Rows) {
    if (RQ < 4u) {
        buf[y] = r.q0;
        if (RQ > 1u) { buf[y + 1u] = r.q1; }
    } else {
        for (var k = 0u; k < fp.rq / 4u; k++) {
            let y4 = y + 4u * k;
            let o = rows_quad(r, k);
            buf[y4] = o.a;
            buf[y4 + 1u] = o.b;
            buf[y4 + 2u] = o.c;
            buf[y4 + 3u] = o.d;
        }
    }
}
