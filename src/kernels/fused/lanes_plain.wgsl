// How wide.wgsl reads a unit's rows of the chunk, on adapters without subgroups: every lane
// loads the rows itself. lanes_subgroup.wgsl is the same with the loads shared out.

// This lane's place among the lanes that share loads (none share here).
fn lane_index() -> u32 { return 0u; }

// Whether any lane that shares loads with this one needs them: this lane alone here.
fn any_lane(c: bool) -> bool { return c; }

// The rows at buf[x ..] (x the unit's first vec4).
fn rows_at(x: u32, lane: u32) -> Rows {
    return rows_load(x);
}
