//! Files that lie: a real model or checkpoint whose metadata and tensors are rewritten at
//! random (wrong types, missing and extra fields, huge, zero and negative numbers, NaN and
//! infinite values) and whose checksum is then recomputed, as anyone can. Shared by the
//! bounded test in tests/hostile.rs and the cargo-fuzz target fuzz/fuzz_targets/lies.rs,
//! which feed it different sources of choices.
#![allow(dead_code)]

use serde_json::{Map, Value};

/// Where the liar's choices come from: a seeded RNG in the tests, the fuzzer's bytes there.
pub trait Choices {
    /// A number in `0..n` (`n ≥ 1`).
    fn below(&mut self, n: usize) -> usize;
}

/// What a lie is told about.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A model file: metadata key `gpumlp`, tensors `layers.N.weight`, `layers.N.bias`.
    Model,
    /// A checkpoint: metadata key `gpumlp.checkpoint`, its eight tensors in their order.
    Checkpoint,
}

const CHECKPOINT_TENSORS: [&str; 10] = [
    "params",
    "optimizer.m",
    "optimizer.v",
    "best",
    "history.epoch_losses",
    "history.val_losses",
    "history.lrs",
    "partial.losses",
    "history.epoch_seconds",
    "history.val_metrics",
];

/// FNV-1a, 64 bits: the checksum gpumlp's files carry (anyone can recompute it).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// A safetensors file taken apart: its header and the bytes after it.
struct Parts {
    header: Map<String, Value>,
    data: Vec<u8>,
}

fn split(file: &[u8]) -> Parts {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&file[8..8 + n]).unwrap();
    Parts {
        header: header.as_object().unwrap().clone(),
        data: file[8 + n..].to_vec(),
    }
}

fn join(parts: &Parts) -> Vec<u8> {
    let header = serde_json::to_vec(&Value::Object(parts.header.clone())).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&parts.data);
    out
}

/// The byte range of tensor `name` in the data.
fn range(parts: &Parts, name: &str) -> Option<std::ops::Range<usize>> {
    let offsets = parts.header.get(name)?.get("data_offsets")?.as_array()?;
    let (a, b) = (offsets.first()?.as_u64()?, offsets.get(1)?.as_u64()?);
    Some(a as usize..b as usize)
}

fn tensor_order(kind: Kind, parts: &Parts) -> Vec<String> {
    match kind {
        Kind::Checkpoint => CHECKPOINT_TENSORS.iter().map(|s| s.to_string()).collect(),
        Kind::Model => {
            let layers = parts
                .header
                .keys()
                .filter(|k| k.ends_with(".weight"))
                .count();
            (0..layers)
                .flat_map(|l| [format!("layers.{l}.weight"), format!("layers.{l}.bias")])
                .collect()
        }
    }
}

fn meta_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Model => "gpumlp",
        Kind::Checkpoint => "gpumlp.checkpoint",
    }
}

/// Writes `meta` into the file's metadata and seals it with a recomputed checksum.
fn seal(kind: Kind, parts: &mut Parts, meta: &str) {
    let mut pieces: Vec<&[u8]> = vec![meta.as_bytes()];
    for name in tensor_order(kind, parts) {
        if let Some(r) = range(parts, &name) {
            if let Some(bytes) = parts.data.get(r) {
                pieces.push(bytes);
            }
        }
    }
    let checksum = format!("{:016x}", fnv(&pieces));
    let info = parts
        .header
        .entry("__metadata__")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(info) = info.as_object_mut() {
        info.insert(meta_key(kind).into(), Value::String(meta.to_string()));
        info.insert("gpumlp.checksum".into(), Value::String(checksum));
    }
}

/// Every place in `v`, as a path of object keys and array indices.
fn places(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                at.push(Step::Key(k.clone()));
                places(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(Step::Index(i));
                places(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn node<'v>(v: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    let mut v = v;
    for step in path {
        v = match step {
            Step::Key(k) => v.get_mut(k.as_str())?,
            Step::Index(i) => v.get_mut(*i)?,
        };
    }
    Some(v)
}

/// Numbers that break sizes, counts and arithmetic.
const NUMBERS: [f64; 12] = [
    0.0,
    -1.0,
    1.0,
    0.5,
    3.0,
    1e300,
    -1e300,
    1e-300,
    4611686018427387904.0,  // 2^62
    18446744073709551615.0, // u64::MAX
    1e9,
    65537.0,
];

/// One lie about the metadata `meta`.
fn lie_about(meta: &mut Value, c: &mut dyn Choices) {
    let mut all = Vec::new();
    places(meta, &mut Vec::new(), &mut all);
    let path = all[c.below(all.len())].clone();
    let op = c.below(9);
    if op == 0 {
        // Remove it from its parent.
        if let Some((last, parent)) = path.split_last() {
            match (node(meta, parent), last) {
                (Some(Value::Object(map)), Step::Key(k)) => {
                    map.remove(k);
                }
                (Some(Value::Array(items)), Step::Index(i)) if *i < items.len() => {
                    items.remove(*i);
                }
                _ => {}
            }
        }
        return;
    }
    let Some(v) = node(meta, &path) else { return };
    match op {
        1 => *v = Value::Null,
        2 => {
            *v = Value::String(
                ["", "x", "1e999", "NaN", "-inf", "🦀", "../../etc/passwd"][c.below(7)].into(),
            )
        }
        3 => *v = Value::Bool(c.below(2) == 0),
        4 => {
            let n = NUMBERS[c.below(NUMBERS.len())];
            *v = serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number);
            if n.fract() == 0.0 && n.abs() < 1.8e19 && c.below(2) == 0 {
                // As an integer, the way a count is written.
                *v = if n < 0.0 {
                    Value::from(n as i64)
                } else {
                    Value::from(n as u64)
                };
            }
        }
        5 => *v = [Value::Array(Vec::new()), Value::Object(Map::new())][c.below(2)].clone(),
        6 => {
            if let Value::Object(map) = v {
                map.insert("unexpected".into(), Value::from(1));
            }
        }
        7 => {
            if let Value::Array(items) = v {
                if let Some(first) = items.first().cloned() {
                    let times = [1, 2, 100][c.below(3)];
                    items.extend(std::iter::repeat_n(first, times));
                }
            }
        }
        _ => {
            if let Value::String(s) = v {
                *s = s.repeat(1 + c.below(50));
            }
        }
    }
}

/// One lie about a tensor: an element made NaN, ±∞ or huge.
fn lie_about_tensors(kind: Kind, parts: &mut Parts, c: &mut dyn Choices) {
    let names = tensor_order(kind, parts);
    let name = &names[c.below(names.len())];
    let Some(r) = range(parts, name) else { return };
    let len = r.len() / 4;
    if len == 0 {
        return;
    }
    let at = r.start + 4 * c.below(len);
    let value = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e38][c.below(4)];
    if let Some(bytes) = parts.data.get_mut(at..at + 4) {
        bytes.copy_from_slice(&value.to_le_bytes());
    }
}

/// `file` (a valid model or checkpoint) with one to three lies, sealed with a checksum that
/// holds, so that only the validation of its contents stands between it and gpumlp.
pub fn lie(kind: Kind, file: &[u8], c: &mut dyn Choices) -> Vec<u8> {
    let mut parts = split(file);
    let meta_text = parts
        .header
        .get("__metadata__")
        .and_then(|m| m.get(meta_key(kind)))
        .and_then(|m| m.as_str())
        .unwrap()
        .to_string();
    let mut meta: Value = serde_json::from_str(&meta_text).unwrap();
    for _ in 0..1 + c.below(3) {
        match c.below(5) {
            0 => lie_about_tensors(kind, &mut parts, c),
            _ => lie_about(&mut meta, c),
        }
    }
    let meta = serde_json::to_string(&meta).unwrap();
    seal(kind, &mut parts, &meta);
    join(&parts)
}

/// `file` resealed without a lie: a check that [`seal`] computes the checksum gpumlp expects.
pub fn reseal(kind: Kind, file: &[u8]) -> Vec<u8> {
    let mut parts = split(file);
    let meta = parts.header["__metadata__"][meta_key(kind)]
        .as_str()
        .unwrap()
        .to_string();
    seal(kind, &mut parts, &meta);
    join(&parts)
}

/// `file` with its metadata edited by `edit` (no lie chosen at random) and resealed.
pub fn rewrite(kind: Kind, file: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut parts = split(file);
    let text = parts.header["__metadata__"][meta_key(kind)]
        .as_str()
        .unwrap()
        .to_string();
    let mut meta: Value = serde_json::from_str(&text).unwrap();
    edit(&mut meta);
    seal(kind, &mut parts, &serde_json::to_string(&meta).unwrap());
    join(&parts)
}
