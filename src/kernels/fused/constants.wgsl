// The pipeline constants the wide fused kernel (wide.wgsl; after the prelude) is
// compiled for, set by src/kernels/fused/constants.rs: the loss, the optimiser and the hidden
// layers' activation. A driver then compiles only the code a network trains with: lavapipe
// runs every case of a branch it cannot decide, masked, so a loss or activation chosen at run
// time costs all of them on every row (and all of them to compile).

override LOSS: u32 = 0u;       // 0 bce, 1 softmax_ce, 2 mse
override OPTIMIZER: u32 = 0u;  // 0 adam, 1 adamw, 2 sgd
// The hidden layers' one activation (ACT_* in the prelude), or ACT_BY_LAYER where they
// differ: each layer's is then read from fp.acts.
override ACT: u32 = 255u;
const ACT_BY_LAYER: u32 = 255u;
// A step whose model reads its rows as stored (Step's map_at), and the bits of a missing cell
// in rows shared by several models (src/data/prep/shared.rs): set by the host.
override NO_MAP: u32 = 0u;
override MISSING_BITS: u32 = 0u;

// Hidden layer l's activation code.
fn act_code(l: u32) -> u32 {
    if (ACT != ACT_BY_LAYER) { return ACT; }
    return fp.acts[l];
}
