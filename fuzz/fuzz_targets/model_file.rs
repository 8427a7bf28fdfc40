//! Any bytes as a model file: loading must return a model or an error, never panic or
//! allocate what a hostile header claims.
#![no_main]

use gpumlp::model_file::SavedModel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = SavedModel::from_bytes("fuzz.safetensors", data);
});
