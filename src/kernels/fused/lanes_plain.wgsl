// How wide.wgsl reads a unit's rows of the chunk, on adapters without subgroups: every lane
// loads the rows itself. lanes_subgroup.wgsl is the same with the loads shared out.

// A unit's values over the chunk's rows: RQ vec4s (the rest unused).
struct Rows {
    q0: vec4<f32>, q1: vec4<f32>, q2: vec4<f32>, q3: vec4<f32>,
    q4: vec4<f32>, q5: vec4<f32>, q6: vec4<f32>, q7: vec4<f32>,
}

// This lane's place among the lanes that share loads (none share here).
fn lane_index() -> u32 { return 0u; }

// Whether any lane that shares loads with this one needs them: this lane alone here.
fn any_lane(c: bool) -> bool { return c; }

// The rows at buf[x ..] (x the unit's first vec4).
fn rows_at(x: u32, lane: u32) -> Rows {
    var r = Rows(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0),
                 vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    r.q0 = buf[x];
    if (RQ > 1u) { r.q1 = buf[x + 1u]; }
    if (RQ > 2u) {
        r.q2 = buf[x + 2u];
        r.q3 = buf[x + 3u];
    }
    if (RQ > 4u) {
        r.q4 = buf[x + 4u];
        r.q5 = buf[x + 5u];
        r.q6 = buf[x + 6u];
        r.q7 = buf[x + 7u];
    }
    return r;
}
