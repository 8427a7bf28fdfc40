#!/usr/bin/env python3
"""Writes the WGSL of a strip matmul variant (src/kernels/matmul/): a workgroup of 8 threads
side by side on vec4 column groups, each thread R rows x C vec4 columns of C in named
accumulators, A's loads at addresses the workgroup shares; the three forms (A·B, Aᵀ·B, A·Bᵀ).

    python3 scripts/strip_matmul.py R C NAME > src/kernels/matmul/NAME.wgsl

then one `variant!` line in src/kernels/matmul/mod.rs (Grid::Strips { rows: R, cols: 32·C,
threads: 8 }, multiple 4, IO_VEC4). R must be a multiple of 4. vstrip16.wgsl is
`16 2 vstrip16`.
"""
import sys
R=int(sys.argv[1]); C=int(sys.argv[2]); name=sys.argv[3]
o=[]; w=o.append
w(f"""// Written by scripts/strip_matmul.py {R} {C} {name}.
// The {name} variant: a workgroup of 8 threads side by side on column groups owns {R} rows ×
// {32*C} columns of C, each thread {R} rows × {C} vec4 of columns. A's loads are at addresses the
// workgroup shares. The k loop runs 0..k in order with acc += a·b, like the CPU reference.

// Parameters, bindings and finish(): io_vec4.wgsl, between the prelude and this file.

// Row i of C, column group q, where it lies inside C.
fn store1(i: u32, q: u32, v: vec4<f32>) {{
    let nq = params.n / 4u;
    if (i < params.m && q < nq) {{ c[zc + i * nq + q] = finish(v, q); }}
}}
""")
acc=lambda r,c: f"acc{r}_{c}"
def head(fn, comment):
    w(f"""
// {comment}
@compute @workgroup_size(8, 1, 1)
fn {fn}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {{
    enter_model(wg.z);
    let row0 = wg.y * {R}u;
    let q0 = (wg.x * 8u + lane) * {C}u;   // the first vec4 column group of C
    let nq = params.n / 4u;
    let kq = params.k / 4u;
    let mq = params.m / 4u;""")
    for c in range(C): w(f"    let bc{c} = min(q0 + {c}u, nq - 1u);")
    for r in range(R):
        for c in range(C): w(f"    var {acc(r,c)} = vec4<f32>(0.0);")
def tail():
    w(f"    // The sums as an array only now, so that the store (and its epilogue) is compiled once.")
    w(f"    let sums = array<vec4<f32>, {R*C}>({', '.join(acc(r,c) for r in range(R) for c in range(C))});")
    w(f"    for (var r = 0u; r < {R}u; r++) {{")
    w(f"        for (var c = 0u; c < {C}u; c++) {{ store1(row0 + r, q0 + c, sums[{C}u * r + c]); }}")
    w("    }")
    w("}")
head(name, "C = A · B; A (m, k), B (k, n).")
for r in range(R): w(f"    let i{r} = min(row0 + {r}u, params.m - 1u);")
# One k a pass, as Aᵀ·B runs: four k a pass (vec4 of A, four rows of B) holds four times the
# B values and ran at half the speed on lavapipe at 16 rows.
w("    // One k a pass: A's element picked from its vec4 by a component every lane shares.")
w("    for (var kk = 0u; kk < params.k; kk++) {")
w("        let qq = kk / 4u;")
w("        let e = kk % 4u;")
for r in range(R): w(f"        let a{r} = a[za + i{r} * kq + qq][e];")
for c in range(C): w(f"        let bq{c} = b[zb + kk * nq + bc{c}];")
for r in range(R):
    for c in range(C): w(f"        {acc(r,c)} = {acc(r,c)} + a{r} * bq{c};")
w("    }")
tail()
head(name+"_tn", "C = Aᵀ · B; A stored (k, m), B (k, n).")
assert R%4==0
G=R//4
for g in range(G): w(f"    let rq{g} = min(row0 / 4u + {g}u, mq - 1u);")
w("    for (var kk = 0u; kk < params.k; kk++) {")
for g in range(G): w(f"        let av{g} = a[za + kk * mq + rq{g}];")
for c in range(C): w(f"        let bq{c} = b[zb + kk * nq + bc{c}];")
for r in range(R):
    for c in range(C): w(f"        {acc(r,c)} = {acc(r,c)} + av{r//4}[{r%4}] * bq{c};")
w("    }")
tail()
head(name+"_nt", "C = A · Bᵀ; A (m, k), B stored (n, k).")
for r in range(R): w(f"    let i{r} = min(row0 + {r}u, params.m - 1u);")
for c in range(C):
    for e in range(4): w(f"    let j{c}_{e} = min((q0 + {c}u) * 4u + {e}u, params.n - 1u);")
w("    for (var q = 0u; q < kq; q++) {")
for r in range(R): w(f"        let a{r} = a[za + i{r} * kq + q];")
for c in range(C):
    for e in range(4): w(f"        let w{c}_{e} = b[zb + j{c}_{e} * kq + q];")
for j in range(4):
    for c in range(C): w(f"        let b{j}_{c} = vec4<f32>(w{c}_0[{j}], w{c}_1[{j}], w{c}_2[{j}], w{c}_3[{j}]);")
    for r in range(R):
        for c in range(C): w(f"        {acc(r,c)} = {acc(r,c)} + a{r}[{j}] * b{j}_{c};")
w("    }")
tail()
print("\n".join(o))
