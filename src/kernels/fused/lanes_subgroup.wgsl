// How wide.wgsl reads a unit's rows of the chunk on adapters with subgroups of at least 8
// lanes: lane q loads the unit's q-th vec4 (and its (8 + q)-th) and every lane takes each
// from its loader by a shuffle. A CPU driver loads a lane's memory one lane at a time
// (lavapipe: subgroups of 8 SIMD lanes), so sharing the loads out cuts them eightfold. Every
// lane of a subgroup must run rows_at together: wide.wgsl branches on any_lane around it.

// This lane's place in its subgroup (called where every lane runs).
fn lane_index() -> u32 { return subgroupExclusiveAdd(1u); }

// Whether any lane of the subgroup needs the loads: all of them then run rows_at.
fn any_lane(c: bool) -> bool { return subgroupAny(c); }

// The rows at buf[x ..] (x the unit's first vec4), one or two vec4s loaded a lane.
fn rows_at(x: u32, lane: u32) -> Rows {
    let mine = buf[x + min(lane, RQ - 1u)];
    var r = rows_zero();
    r.q0 = subgroupShuffle(mine, 0u);
    if (RQ > 1u) { r.q1 = subgroupShuffle(mine, 1u); }
    if (RQ > 2u) {
        r.q2 = subgroupShuffle(mine, 2u);
        r.q3 = subgroupShuffle(mine, 3u);
    }
    if (RQ > 4u) {
        r.q4 = subgroupShuffle(mine, 4u);
        r.q5 = subgroupShuffle(mine, 5u);
        r.q6 = subgroupShuffle(mine, 6u);
        r.q7 = subgroupShuffle(mine, 7u);
    }
    if (RQ > 8u) {
        let more = buf[x + min(lane + 8u, RQ - 1u)];
        r.q8 = subgroupShuffle(more, 0u);
        r.q9 = subgroupShuffle(more, 1u);
        r.q10 = subgroupShuffle(more, 2u);
        r.q11 = subgroupShuffle(more, 3u);
        r.q12 = subgroupShuffle(more, 4u);
        r.q13 = subgroupShuffle(more, 5u);
        r.q14 = subgroupShuffle(more, 6u);
        r.q15 = subgroupShuffle(more, 7u);
    }
    return r;
}
