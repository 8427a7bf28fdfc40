//! Any bytes as a checkpoint file: loading must return a checkpoint or an error, never panic
//! or allocate what a hostile header claims.
#![no_main]

use gpumlp::train::fit::Checkpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Checkpoint::from_bytes("fuzz.ckpt", data);
});
