//! Export to ONNX: a model file becomes an ONNX model that takes the raw columns, exactly as
//! `gpumlp predict` does, so it can be deployed where gpumlp is not (onnxruntime, and every
//! runtime that reads ONNX).
//!
//! One input per feature column, named as in the CSV header, shape `[N, 1]`:
//!
//! * `string` for a text column: the cell exactly as the CSV holds it, untrimmed, missing
//!   spellings and all. The graph reads it as `predict` does: white space around the cell
//!   (Rust's `str::trim`: Unicode White_Space, tabs, line breaks, U+00A0 and the like) is
//!   ignored; an empty cell or `NA`, `N/A`, `NaN`, `null`, `None`, `?` (ASCII
//!   case-insensitive: `na`, `nUlL`, ` NONE\t`) is missing and takes the most frequent
//!   training category; any other text must equal a training category exactly, case
//!   included (`Red` is not `red`), and a category never seen encodes as zeros. Each test is
//!   a `RegexFullMatch` on the cell, its pattern written in the syntax RE2 (the spec's,
//!   onnxruntime's) and Python's `re` (onnx's reference evaluator's) read alike. The cell
//!   must be valid UTF-8: gpumlp refuses a CSV that is not, and in the graph such a cell
//!   matches nothing and encodes as zeros.
//! * `float` for a numeric column, NaN for a missing cell: turning the text into a number
//!   (and `NA` and the like into NaN) is the caller's side, as for any float input.
//!
//! Inside: the imputation (the training median, or the most frequent category), the
//! standardisation (in double, as `predict` computes it), the one-hot encoding, the network
//! and the output transform. Outputs: `label` (`[N, 1]` string) and `probabilities`
//! (`[N, classes]`; a binary model has both columns, as `predict` writes them), or `value`
//! (`[N, 1]`, in the target's units) for a regression. Standard ops only, of opset 20 (the
//! first with `RegexFullMatch`; onnxruntime has it since 1.17), IR version 9. A category too
//! long for a pattern (over 64 KiB) makes `export` refuse, naming it, rather than write a
//! model that may not load. The feature names, the labels, the preprocessing and the
//! training metrics go in `metadata_props`.

mod proto;

use crate::data::prep::{ColumnKind, Task};
use crate::data::table::{is_missing, MISSING};
use crate::error::{Error, Result};
use crate::model::Activation;
use crate::model_file::SavedModel;
use prost::Message;
use proto::*;
use std::path::Path;

/// The opset of the standard ops: 20 has `RegexFullMatch`.
const OPSET: i64 = 20;
/// ONNX IR version 9 goes with opset 20.
const IR_VERSION: i64 = 9;

/// Rust's `char::is_whitespace` (Unicode White_Space), the characters `str::trim` takes off a
/// cell before `predict` reads it, as inclusive ranges.
const WHITE_SPACE: [(char, char); 10] = [
    ('\u{9}', '\u{d}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// Longest category, in bytes, written into a pattern: RE2 compiles a pattern into a program
/// of bounded size (onnxruntime keeps RE2's default memory budget, and onnxruntime 1.32 fails
/// to load a pattern of 800 000 bytes of 4-byte characters, while 260 000 load), so a
/// category far longer than any a column of categories holds is refused rather than risk a
/// model that does not load.
const LONGEST_CATEGORY: usize = 65_536;

/// The model as ONNX bytes.
pub fn export(model: &SavedModel) -> Result<Vec<u8>> {
    let graph = Graph::of(model)?;
    let meta = &model.meta;
    let columns: Vec<serde_json::Value> = meta
        .preprocessor
        .columns
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "type": match c.kind {
                    ColumnKind::Numeric { .. } => "float",
                    ColumnKind::Categorical { .. } => "string",
                },
            })
        })
        .collect();
    let mut props = vec![
        ("gpumlp.task", meta.task.to_string()),
        ("gpumlp.target", meta.target.clone()),
        (
            "gpumlp.columns",
            serde_json::Value::Array(columns).to_string(),
        ),
        ("gpumlp.classes", json(&meta.classes)),
        ("gpumlp.preprocessing", json(&meta.preprocessor)),
        ("gpumlp.network", meta.spec.describe()),
        ("gpumlp.threshold", meta.threshold.to_string()),
    ];
    if let Some(metrics) = &meta.metrics {
        props.push(("gpumlp.metrics", json(metrics)));
    }
    let outputs = match meta.task {
        Task::Regression => "value [N, 1] in the target's units",
        _ => "label [N, 1] and probabilities [N, classes]",
    };
    let doc = format!(
        "A gpumlp {} model of {:?} ({}); inputs: the raw columns, [N, 1] each (float: NaN = \
         missing; string: the cell as the CSV holds it, read as gpumlp predict reads it: \
         trimmed of white space, empty, NA, N/A, NaN, null, None or ? in any case = missing, \
         categories matched exactly); outputs: {outputs}.",
        meta.task,
        meta.target,
        meta.spec.describe()
    );
    let model = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "gpumlp".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: doc,
        graph: Some(graph.finish()),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: props
            .into_iter()
            .map(|(key, value)| StringStringEntryProto {
                key: key.into(),
                value,
            })
            .collect(),
    };
    Ok(model.encode_to_vec())
}

/// Writes [`export`] to `path` atomically.
pub fn save(model: &SavedModel, path: &Path) -> Result<()> {
    crate::files::write_atomically(path, &export(model)?)
}

/// A part of the metadata as JSON text, for `metadata_props`.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The outputs' names: no feature column may take one.
const OUTPUTS: [&str; 3] = ["label", "probabilities", "value"];

/// A graph under construction: nodes in topological order and constant tensors.
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    next: usize,
}

fn attr_string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        s: s.as_bytes().to_vec(),
        r#type: attribute_type::STRING,
        ..AttributeProto::default()
    }
}

/// One character of a pattern, matching itself, in the syntax RE2 (the `RegexFullMatch`
/// spec's, onnxruntime's) and Python's `re` (onnx's reference evaluator's) share: a character
/// below U+0100 as `\xhh` (both read it as that code point), any other as itself (neither
/// gives a character beyond ASCII a meaning; RE2 reads the pattern as UTF-8).
fn code_point(c: char) -> String {
    match u32::from(c) {
        n @ 0..=0xff => format!("\\x{n:02x}"),
        _ => c.to_string(),
    }
}

/// The white space class, `[\x09-\x0d\x20\x85\xa0\u{1680}...]`.
fn white_space_class() -> String {
    let mut class = String::from("[");
    for (lo, hi) in WHITE_SPACE {
        class.push_str(&code_point(lo));
        if hi != lo {
            class.push('-');
            class.push_str(&code_point(hi));
        }
    }
    class.push(']');
    class
}

/// `text` as a pattern that matches exactly it, case-sensitively as `predict` compares
/// categories: ASCII letters, digits and `_` as themselves, ASCII punctuation and the space
/// escaped with a backslash (RE2 and Python's `re` read an escaped character that is not a
/// letter or a digit as itself), anything else as [`code_point`] writes it (control
/// characters and Latin-1 as `\xhh`, the rest as itself).
fn literal(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            pattern.push(c);
        } else if c.is_ascii_punctuation() || c == ' ' {
            pattern.push('\\');
            pattern.push(c);
        } else {
            pattern.push_str(&code_point(c));
        }
    }
    pattern
}

/// `text` as a pattern that matches it ASCII case-insensitively, like
/// `str::eq_ignore_ascii_case` (RE2's `(?i)` folds Unicode too: `K` would match `k`).
fn ascii_caseless(text: &str) -> String {
    let mut pattern = String::new();
    for c in text.chars() {
        if c.is_ascii_alphabetic() {
            pattern.push_str(&format!(
                "[{}{}]",
                c.to_ascii_lowercase(),
                c.to_ascii_uppercase()
            ));
        } else {
            pattern.push_str(&literal(&c.to_string()));
        }
    }
    pattern
}

/// The pattern of a cell `predict` reads as `category`: the category with any white space
/// around it.
fn category_pattern(category: &str) -> String {
    let ws = white_space_class();
    format!("{ws}*{}{ws}*", literal(category))
}

/// The pattern of a cell [`is_missing`] calls missing: white space only, or one of the
/// spellings of a missing value in any ASCII case, with any white space around it.
fn missing_pattern() -> String {
    let ws = white_space_class();
    let spellings: Vec<String> = MISSING.iter().map(|m| ascii_caseless(m)).collect();
    format!("{ws}*(?:|{}){ws}*", spellings.join("|"))
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: attribute_type::INT,
        ..AttributeProto::default()
    }
}

fn value_info(name: &str, elem_type: i32, width: Option<i64>) -> ValueInfoProto {
    let dims = [
        dimension::Value::DimParam("N".into()),
        match width {
            Some(w) => dimension::Value::DimValue(w),
            None => dimension::Value::DimParam("classes".into()),
        },
    ];
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .into_iter()
                        .map(|v| Dimension { value: Some(v) })
                        .collect(),
                }),
            }),
        }),
    }
}

impl Graph {
    fn new() -> Graph {
        Graph {
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            next: 0,
        }
    }

    /// A fresh name, in a namespace no CSV header reaches ("gpumlp/...").
    fn name(&mut self, what: &str) -> String {
        self.next += 1;
        format!("gpumlp/{what}_{}", self.next)
    }

    /// A node of `op` on `inputs`; returns its output's name (`out`, or a fresh one).
    fn op(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
        out: Option<&str>,
    ) -> String {
        let output = out.map_or_else(|| self.name(&op.to_ascii_lowercase()), str::to_string);
        let name = self.name(op);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            name,
            op_type: op.into(),
            attribute: attrs,
            domain: String::new(),
        });
        output
    }

    fn constant(&mut self, what: &str, t: TensorProto) -> String {
        let name = self.name(what);
        self.initializers.push(TensorProto {
            name: name.clone(),
            ..t
        });
        name
    }

    fn floats(&mut self, what: &str, dims: Vec<i64>, data: Vec<f32>) -> String {
        self.constant(
            what,
            TensorProto {
                dims,
                data_type: data_type::FLOAT,
                float_data: data,
                ..TensorProto::default()
            },
        )
    }

    fn doubles(&mut self, what: &str, dims: Vec<i64>, data: Vec<f64>) -> String {
        self.constant(
            what,
            TensorProto {
                dims,
                data_type: data_type::DOUBLE,
                double_data: data,
                ..TensorProto::default()
            },
        )
    }

    fn strings(&mut self, what: &str, data: &[String]) -> String {
        self.constant(
            what,
            TensorProto {
                dims: vec![data.len() as i64],
                data_type: data_type::STRING,
                string_data: data.iter().map(|s| s.as_bytes().to_vec()).collect(),
                ..TensorProto::default()
            },
        )
    }

    fn cast(&mut self, x: &str, to: i32) -> String {
        self.op("Cast", &[x], vec![attr_int("to", i64::from(to))], None)
    }

    /// The one-hot encoding of the text input `input` (`[N, categories]` float), as
    /// `predict` computes it: the cell trimmed; missing (white space only, or a spelling of a
    /// missing value) takes `fill`'s row; otherwise 1 for the category it equals, all zeros
    /// for one never seen. `categories` is not empty.
    fn categorical(&mut self, input: &str, categories: &[String], fill: &str) -> Result<String> {
        let missing = self.op(
            "RegexFullMatch",
            &[input],
            vec![attr_string("pattern", &missing_pattern())],
            None,
        );
        // `predict` looks a trimmed cell up in a map from category to position: a category
        // that repeats is found at its last position, and one with white space around it, or
        // that spells a missing value, is never found for a cell (only as the fill).
        let live = |i: usize, c: &String| !categories[i + 1..].contains(c);
        let mut never = None;
        let mut columns = Vec::with_capacity(categories.len());
        for (i, category) in categories.iter().enumerate() {
            if category.len() > LONGEST_CATEGORY {
                return Err(Error::InvalidModel(format!(
                    "category {:?}... of column {input:?} is {} bytes long; the ONNX graph \
                     matches a cell to its category with a RegexFullMatch pattern (RE2), \
                     which takes a category of at most {LONGEST_CATEGORY} bytes; shorten the \
                     column's values and train again to export it",
                    category.chars().take(40).collect::<String>(),
                    category.len()
                )));
            }
            let matched =
                if live(i, category) && category.trim() == category && !is_missing(category) {
                    self.op(
                        "RegexFullMatch",
                        &[input],
                        vec![attr_string("pattern", &category_pattern(category))],
                        None,
                    )
                } else {
                    never
                        .get_or_insert_with(|| self.op("Xor", &[&missing, &missing], vec![], None))
                        .clone()
                };
            columns.push(matched);
        }
        let refs: Vec<&str> = columns.iter().map(String::as_str).collect();
        let hot = match refs.len() {
            1 => columns[0].clone(),
            _ => self.op("Concat", &refs, vec![attr_int("axis", 1)], None),
        };
        let hot = self.cast(&hot, data_type::FLOAT);
        // The fill's row where the cell is missing; a fill that is not a category encodes as
        // zeros, as in `predict`.
        let mut row = vec![0.0; categories.len()];
        if let Some(f) = categories.iter().rposition(|c| c == fill) {
            row[f] = 1.0;
        }
        let row = self.floats("fill", vec![1, categories.len() as i64], row);
        Ok(self.op("Where", &[&missing, &row, &hot], vec![], None))
    }

    /// The whole graph of `model`: preprocessing, network, output transform.
    fn of(model: &SavedModel) -> Result<Graph> {
        let meta = &model.meta;
        if let Some(c) = meta
            .preprocessor
            .columns
            .iter()
            .find(|c| OUTPUTS.contains(&c.name.as_str()) || c.name.starts_with("gpumlp/"))
        {
            return Err(Error::InvalidModel(format!(
                "its feature column {:?} has the name of an ONNX output or of gpumlp's own \
                 values; rename the column and train again to export it",
                c.name
            )));
        }
        let mut g = Graph::new();
        let mut pieces = Vec::new();
        for column in &meta.preprocessor.columns {
            match &column.kind {
                ColumnKind::Numeric { fill, mean, std } => {
                    g.inputs
                        .push(value_info(&column.name, data_type::FLOAT, Some(1)));
                    // (value − mean) / std, in double like `predict`, the fill where NaN.
                    let x = g.cast(&column.name, data_type::DOUBLE);
                    let nan = g.op("IsNaN", &[&x], vec![], None);
                    let fill = g.doubles("fill", vec![1], vec![*fill]);
                    let filled = g.op("Where", &[&nan, &fill, &x], vec![], None);
                    let mean = g.doubles("mean", vec![1], vec![*mean]);
                    let std = g.doubles("std", vec![1], vec![*std]);
                    let centred = g.op("Sub", &[&filled, &mean], vec![], None);
                    let z = g.op("Div", &[&centred, &std], vec![], None);
                    pieces.push(g.cast(&z, data_type::FLOAT));
                }
                ColumnKind::Categorical { categories, fill } => {
                    g.inputs
                        .push(value_info(&column.name, data_type::STRING, Some(1)));
                    if !categories.is_empty() {
                        let hot = g.categorical(&column.name, categories, fill)?;
                        pieces.push(hot);
                    }
                }
            }
        }
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let mut h = match refs.len() {
            0 => {
                return Err(Error::InvalidModel(
                    "a model without feature columns".into(),
                ))
            }
            1 => pieces[0].clone(),
            _ => g.op("Concat", &refs, vec![attr_int("axis", 1)], None),
        };
        let mlp = &model.mlp;
        for (l, layer) in mlp.layers().iter().enumerate() {
            let w = g.floats(
                &format!("layers.{l}.weight"),
                vec![layer.inputs as i64, layer.outputs as i64],
                mlp.weights(l).to_vec(),
            );
            let b = g.floats(
                &format!("layers.{l}.bias"),
                vec![layer.outputs as i64],
                mlp.bias(l).to_vec(),
            );
            let z = g.op("MatMul", &[&h, &w], vec![], None);
            h = g.op("Add", &[&z, &b], vec![], None);
            h = match layer.activation {
                None => h,
                Some(Activation::Sigmoid) => g.op("Sigmoid", &[&h], vec![], None),
                Some(Activation::Relu) => g.op("Relu", &[&h], vec![], None),
                Some(Activation::Tanh) => {
                    // tanh_safe: clamped first, as the kernels and the reference do.
                    let lo = g.floats("clip_lo", vec![], vec![-15.0]);
                    let hi = g.floats("clip_hi", vec![], vec![15.0]);
                    let c = g.op("Clip", &[&h, &lo, &hi], vec![], None);
                    g.op("Tanh", &[&c], vec![], None)
                }
            };
        }
        let logits = h;
        match meta.task {
            Task::Regression => {
                let scale = meta.target_scale.ok_or_else(|| {
                    Error::InvalidModel("a regression model without its target scale".into())
                })?;
                let z = g.cast(&logits, data_type::DOUBLE);
                let std = g.doubles("target_std", vec![1], vec![scale.std]);
                let mean = g.doubles("target_mean", vec![1], vec![scale.mean]);
                let scaled = g.op("Mul", &[&z, &std], vec![], None);
                let value = g.op("Add", &[&scaled, &mean], vec![], None);
                g.op(
                    "Cast",
                    &[&value],
                    vec![attr_int("to", i64::from(data_type::FLOAT))],
                    Some("value"),
                );
                g.outputs
                    .push(value_info("value", data_type::FLOAT, Some(1)));
            }
            Task::Binary => {
                let p = g.op("Sigmoid", &[&logits], vec![], None);
                let one = g.floats("one", vec![1], vec![1.0]);
                let q = g.op("Sub", &[&one, &p], vec![], None);
                g.op(
                    "Concat",
                    &[&q, &p],
                    vec![attr_int("axis", 1)],
                    Some("probabilities"),
                );
                let threshold = g.floats("threshold", vec![1], vec![meta.threshold as f32]);
                let positive = g.op("GreaterOrEqual", &[&p, &threshold], vec![], None);
                let index = g.cast(&positive, data_type::INT64);
                let classes = g.strings("classes", &meta.classes);
                g.op(
                    "Gather",
                    &[&classes, &index],
                    vec![attr_int("axis", 0)],
                    Some("label"),
                );
                g.outputs
                    .push(value_info("label", data_type::STRING, Some(1)));
                g.outputs
                    .push(value_info("probabilities", data_type::FLOAT, Some(2)));
            }
            Task::Multiclass => {
                g.op(
                    "Softmax",
                    &[&logits],
                    vec![attr_int("axis", 1)],
                    Some("probabilities"),
                );
                let index = g.op(
                    "ArgMax",
                    &[&logits],
                    vec![attr_int("axis", 1), attr_int("keepdims", 1)],
                    None,
                );
                let classes = g.strings("classes", &meta.classes);
                g.op(
                    "Gather",
                    &[&classes, &index],
                    vec![attr_int("axis", 0)],
                    Some("label"),
                );
                g.outputs
                    .push(value_info("label", data_type::STRING, Some(1)));
                let k = meta.classes.len() as i64;
                g.outputs
                    .push(value_info("probabilities", data_type::FLOAT, Some(k)));
            }
        }
        Ok(g)
    }

    fn finish(self) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: "gpumlp".into(),
            initializer: self.initializers,
            doc_string: String::new(),
            input: self.inputs,
            output: self.outputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tensor_and_a_node_encode_as_onnx_expects() {
        // Field numbers checked against protobuf's wire format by hand: tag (field << 3 | type).
        let t = TensorProto {
            dims: vec![2],
            data_type: data_type::FLOAT,
            float_data: vec![1.0, 2.0],
            name: "w".into(),
            ..TensorProto::default()
        };
        let bytes = t.encode_to_vec();
        assert_eq!(&bytes[..3], &[0x0a, 0x01, 0x02], "dims: field 1, packed");
        assert_eq!(&bytes[3..5], &[0x10, 0x01], "data_type: field 2");
        assert_eq!(bytes[5], 0x22, "float_data: field 4, packed");
        assert!(bytes.ends_with(&[0x42, 0x01, b'w']), "name: field 8");
        let back = TensorProto::decode(bytes.as_slice()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn the_white_space_class_is_what_str_trim_takes_off() {
        let in_class = |c: char| WHITE_SPACE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c));
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            assert_eq!(in_class(c), c.is_whitespace(), "U+{:04X}", u32::from(c));
        }
        assert_eq!(
            white_space_class(),
            "[\\x09-\\x0d\\x20\\x85\\xa0\u{1680}\u{2000}-\u{200a}\u{2028}-\u{2029}\u{202f}\u{205f}\u{3000}]"
        );
    }

    #[test]
    fn a_category_is_escaped_for_re2() {
        for (category, pattern) in [
            ("red", "red"),
            ("snake_case2", "snake_case2"),
            ("a+b (c)", r"a\+b\ \(c\)"),
            ("x.y", r"x\.y"),
            ("[z]", r"\[z\]"),
            ("\\", r"\\"),
            ("^a|b$ {2}*?", r"\^a\|b\$\ \{2\}\*\?"),
            ("n/a-ish, \"q\"", r#"n\/a\-ish\,\ \"q\""#),
            ("tab\there\u{0}\u{7f}", r"tab\x09here\x00\x7f"),
            ("café ☕", r"caf\xe9\ ☕"),
            ("\u{85}\u{200b}red", "\\x85\u{200b}red"),
        ] {
            assert_eq!(literal(category), pattern, "{category:?}");
        }
        let ws = white_space_class();
        assert_eq!(category_pattern("x.y"), format!(r"{ws}*x\.y{ws}*"));
    }

    #[test]
    fn the_missing_pattern_spells_every_missing_value_in_ascii_case() {
        let ws = white_space_class();
        assert_eq!(
            missing_pattern(),
            format!(
                r"{ws}*(?:|[nN][aA]|[nN]\/[aA]|[nN][aA][nN]|[nN][uU][lL][lL]|[nN][oO][nN][eE]|\?){ws}*"
            )
        );
        assert_eq!(ascii_caseless("Na/?"), r"[nN][aA]\/\?");
    }

    /// The patterns a text column's one-hot encoding matches, in node order.
    fn patterns(categories: &[&str], fill: &str) -> Result<Vec<String>> {
        let mut g = Graph::new();
        let categories: Vec<String> = categories.iter().map(|c| c.to_string()).collect();
        g.categorical("colour", &categories, fill)?;
        Ok(g.nodes
            .iter()
            .filter(|n| n.op_type == "RegexFullMatch")
            .map(|n| String::from_utf8(n.attribute[0].s.clone()).unwrap())
            .collect())
    }

    #[test]
    fn a_category_predict_never_finds_for_a_cell_matches_nothing() {
        // Padded, a missing value's spelling, or repeated (predict finds the last): no pattern.
        let found = patterns(&["red", " blue", "NA", "red", "green", ""], "red").unwrap();
        let want: Vec<String> = [
            missing_pattern(),
            category_pattern("red"),
            category_pattern("green"),
        ]
        .into_iter()
        .collect();
        assert_eq!(found, want);
    }

    #[test]
    fn a_category_too_long_for_a_pattern_is_refused_by_name() {
        let long = "x".repeat(LONGEST_CATEGORY + 1);
        assert_eq!(
            patterns(&[&"x".repeat(LONGEST_CATEGORY)], "")
                .unwrap()
                .len(),
            2
        );
        let e = patterns(&["red", &long], "red").unwrap_err().to_string();
        assert!(
            e.contains("colour") && e.contains("xxxx") && e.contains("RegexFullMatch"),
            "{e}"
        );
    }
}
