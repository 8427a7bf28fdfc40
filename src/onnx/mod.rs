//! Export to ONNX: a model file becomes an ONNX model that takes the raw columns, exactly as
//! `gpumlp predict` does, so it can be deployed where gpumlp is not (onnxruntime, and every
//! runtime that reads ONNX).
//!
//! One input per feature column, named as in the CSV header, shape `[N, 1]`: `float` for a
//! numeric column (NaN = missing), `string` for a text column (the empty string = missing).
//! Inside: the imputation (the training median, or the most frequent category), the
//! standardisation (in double, as `predict` computes it), the one-hot encoding (a category
//! never seen in training encodes as zeros, as in `predict`), the network and the output
//! transform. Outputs: `label` (`[N, 1]` string) and `probabilities` (`[N, classes]`; a binary
//! model has both columns, as `predict` writes them), or `value` (`[N, 1]`, in the target's
//! units) for a regression. Standard ops of opset 17, and `ai.onnx.ml.LabelEncoder` (opset 2)
//! to turn a text category into its index, which no standard op does in every runtime
//! (string `Equal` needs opset 19, which onnxruntime does not implement for strings). The
//! feature names, the labels, the preprocessing and the training metrics go in
//! `metadata_props`.

mod proto;

use crate::data::prep::{ColumnKind, Task};
use crate::error::{Error, Result};
use crate::model::Activation;
use crate::model_file::SavedModel;
use prost::Message;
use proto::*;
use std::path::Path;

/// The opset of the standard ops.
const OPSET: i64 = 17;
/// The `ai.onnx.ml` opset (LabelEncoder-2 maps strings to int64).
const ML_OPSET: i64 = 2;
/// ONNX IR version 8 goes with opset 17.
const IR_VERSION: i64 = 8;

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
         missing; string: empty = missing); outputs: {outputs}.",
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
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            },
            OperatorSetIdProto {
                domain: "ai.onnx.ml".into(),
                version: ML_OPSET,
            },
        ],
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
        self.op_in("", op, inputs, attrs, out)
    }

    fn op_in(
        &mut self,
        domain: &str,
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
            domain: domain.into(),
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

    fn int64s(&mut self, what: &str, dims: Vec<i64>, data: Vec<i64>) -> String {
        self.constant(
            what,
            TensorProto {
                dims,
                data_type: data_type::INT64,
                int64_data: data,
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
                    // The category's index (the fill's for "", -1 for one never seen), then
                    // one 0/1 input per category.
                    let k = categories.len() as i64;
                    let fill_index = categories
                        .iter()
                        .position(|c| c == fill)
                        .map_or(-1, |i| i as i64);
                    let mut keys: Vec<Vec<u8>> =
                        categories.iter().map(|c| c.as_bytes().to_vec()).collect();
                    let mut values: Vec<i64> = (0..k).collect();
                    if !categories.iter().any(String::is_empty) {
                        keys.push(Vec::new());
                        values.push(fill_index);
                    }
                    let index = g.op_in(
                        "ai.onnx.ml",
                        "LabelEncoder",
                        &[&column.name],
                        vec![
                            AttributeProto {
                                name: "keys_strings".into(),
                                strings: keys,
                                r#type: attribute_type::STRINGS,
                                ..AttributeProto::default()
                            },
                            AttributeProto {
                                name: "values_int64s".into(),
                                ints: values,
                                r#type: attribute_type::INTS,
                                ..AttributeProto::default()
                            },
                            attr_int("default_int64", -1),
                        ],
                        None,
                    );
                    let range = g.int64s("categories", vec![1, k], (0..k).collect());
                    let hot = g.op("Equal", &[&index, &range], vec![], None);
                    pieces.push(g.cast(&hot, data_type::FLOAT));
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
}
