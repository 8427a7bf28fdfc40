//! The network: its specification, the layout of its parameters, and their initialisation.

use crate::error::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// Every tensor in the flat parameter buffer starts at a multiple of this many floats
/// (256 bytes), the largest storage-offset alignment WebGPU allows an adapter to require, so
/// each layer's W and b can be bound in place on any adapter. Padding stays zero.
pub const PARAM_ALIGN: usize = 64;

/// The widest layer (inputs and outputs included) gpumlp builds: anything a file or a flag
/// claims beyond it is refused before anything is sized from it.
pub const MAX_WIDTH: usize = 1 << 16;
/// The most dense layers (the output layer included).
pub const MAX_LAYERS: usize = 64;
/// The most parameters in the flat layout: 2^26 floats, 256 MiB a copy (a trainer keeps six).
pub const MAX_PARAMS: usize = 1 << 26;

/// A hidden layer's nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// σ(z) = 1/(1+e^(−z)).
    Sigmoid,
    /// max(z, 0).
    Relu,
    /// tanh(z).
    Tanh,
}

impl Activation {
    /// The lower-case name used in shader entry points and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sigmoid" | "logistic" => Ok(Activation::Sigmoid),
            "relu" => Ok(Activation::Relu),
            "tanh" => Ok(Activation::Tanh),
            other => Err(Error::InvalidModel(format!(
                "unknown activation {other:?}: expected sigmoid, relu or tanh"
            ))),
        }
    }
}

/// What the output layer's logits are trained against (shaders/loss.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Binary cross-entropy on each output's logit (sigmoid outputs): binary classification.
    Bce,
    /// Softmax cross-entropy over the outputs: one class out of `outputs`.
    SoftmaxCe,
    /// Mean squared error on the raw outputs: regression.
    Mse,
}

impl Loss {
    /// The name used in shader entry points and reports.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Bce => "bce",
            Loss::SoftmaxCe => "softmax_ce",
            Loss::Mse => "mse",
        }
    }
}

/// A multilayer perceptron: `inputs` features, hidden layers of the given widths and
/// activations, and `outputs` linear output units trained with `loss`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MlpSpec {
    /// Number of input features.
    pub inputs: usize,
    /// Width and activation of each hidden layer, input side first.
    pub hidden: Vec<(usize, Activation)>,
    /// Number of output units.
    pub outputs: usize,
    /// The loss the outputs are trained with.
    pub loss: Loss,
}

impl MlpSpec {
    /// A binary classifier with no hidden layer yet (logistic regression until layers are
    /// added): one output unit trained with [`Loss::Bce`].
    pub fn new(inputs: usize) -> MlpSpec {
        MlpSpec {
            inputs,
            hidden: Vec::new(),
            outputs: 1,
            loss: Loss::Bce,
        }
    }

    /// Sets the output layer's width and loss.
    pub fn output(mut self, outputs: usize, loss: Loss) -> MlpSpec {
        self.outputs = outputs;
        self.loss = loss;
        self
    }

    /// Adds a hidden layer after the existing ones.
    pub fn hidden(mut self, width: usize, activation: Activation) -> MlpSpec {
        self.hidden.push((width, activation));
        self
    }

    /// Checks the specification against [`MAX_WIDTH`], [`MAX_LAYERS`] and [`MAX_PARAMS`]
    /// with checked arithmetic; returns the length of its flat parameter layout.
    pub fn validate(&self) -> Result<usize> {
        if self.inputs == 0 {
            return Err(Error::InvalidModel(
                "the network needs at least one input".into(),
            ));
        }
        if self.outputs == 0 || (self.loss == Loss::SoftmaxCe && self.outputs < 2) {
            return Err(Error::InvalidModel(format!(
                "{} outputs cannot be trained with {}",
                self.outputs,
                self.loss.name()
            )));
        }
        if let Some(i) = self.hidden.iter().position(|&(w, _)| w == 0) {
            return Err(Error::InvalidModel(format!(
                "hidden layer {} has width 0",
                i + 1
            )));
        }
        if self.hidden.len() + 1 > MAX_LAYERS {
            return Err(Error::InvalidModel(format!(
                "{} layers; gpumlp builds at most {MAX_LAYERS}",
                self.hidden.len() + 1
            )));
        }
        let widths = self.widths();
        if let Some(&w) = widths.iter().find(|&&w| w > MAX_WIDTH) {
            return Err(Error::InvalidModel(format!(
                "a layer {w} wide; gpumlp builds layers of at most {MAX_WIDTH}"
            )));
        }
        let too_many = || {
            Error::InvalidModel(format!(
                "{} has more parameters than the {MAX_PARAMS} gpumlp builds",
                self.describe()
            ))
        };
        let mut at = 0usize;
        for pair in widths.windows(2) {
            let weights = pair[0].checked_mul(pair[1]).ok_or_else(too_many)?;
            at = align(at.checked_add(weights).ok_or_else(too_many)?);
            at = align(at.checked_add(pair[1]).ok_or_else(too_many)?);
            if at > MAX_PARAMS {
                return Err(too_many());
            }
        }
        Ok(at)
    }

    /// Inputs, every hidden width, outputs.
    pub fn widths(&self) -> Vec<usize> {
        std::iter::once(self.inputs)
            .chain(self.hidden.iter().map(|&(w, _)| w))
            .chain(std::iter::once(self.outputs))
            .collect()
    }

    /// The widths joined by dashes, e.g. "30-64-32-1".
    pub fn describe(&self) -> String {
        self.widths()
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("-")
    }
}

/// One dense layer, `Z = X·W + b`, and where its tensors sit in the flat parameter buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Width of X.
    pub inputs: usize,
    /// Width of Z.
    pub outputs: usize,
    /// The nonlinearity applied to Z; `None` for the output layer, whose Z is the logit.
    pub activation: Option<Activation>,
    /// W: (inputs, outputs), row-major.
    pub weights: Range<usize>,
    /// b: (outputs).
    pub bias: Range<usize>,
}

/// A network and its parameters, all layers' W and b in one flat, aligned vector (the same
/// layout as the GPU buffer, so Adam runs over every parameter in one pass).
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    spec: MlpSpec,
    layers: Vec<Layer>,
    params: Vec<f32>,
}

fn align(n: usize) -> usize {
    n.div_ceil(PARAM_ALIGN) * PARAM_ALIGN
}

impl Mlp {
    /// Builds the network and initialises it from `seed`: Glorot uniform for sigmoid and tanh
    /// layers and the output layer, He uniform for ReLU layers, zero biases. The same seed gives
    /// the same weights on every machine.
    pub fn new(spec: &MlpSpec, seed: u64) -> Result<Mlp> {
        let len = spec.validate()?;
        let mut layers = Vec::with_capacity(spec.hidden.len() + 1);
        let mut at = 0;
        let mut inputs = spec.inputs;
        let outputs = spec
            .hidden
            .iter()
            .map(|&(w, a)| (w, Some(a)))
            .chain([(spec.outputs, None)]);
        for (width, activation) in outputs {
            let weights = at..at + inputs * width;
            at = align(weights.end);
            let bias = at..at + width;
            at = align(bias.end);
            layers.push(Layer {
                inputs,
                outputs: width,
                activation,
                weights,
                bias,
            });
            inputs = width;
        }
        debug_assert_eq!(at, len);
        let mut params = vec![0.0f32; at];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for layer in &layers {
            let (fan_in, fan_out) = (layer.inputs as f64, layer.outputs as f64);
            let limit = match layer.activation {
                Some(Activation::Relu) => (6.0 / fan_in).sqrt(),
                _ => (6.0 / (fan_in + fan_out)).sqrt(),
            } as f32;
            for w in &mut params[layer.weights.clone()] {
                *w = rng.random_range(-limit..=limit);
            }
        }
        Ok(Mlp {
            spec: spec.clone(),
            layers,
            params,
        })
    }

    /// The specification it was built from.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// The dense layers, input side first; the last is the output layer.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// All parameters in their flat, padded layout.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Replaces all parameters; `params` must have the flat layout's length.
    pub fn set_params(&mut self, params: Vec<f32>) -> Result<()> {
        if params.len() != self.params.len() {
            return Err(Error::InvalidModel(format!(
                "expected {} parameters in the flat layout, got {}",
                self.params.len(),
                params.len()
            )));
        }
        self.params = params;
        Ok(())
    }

    /// Mutable access to the flat parameters (tests perturb them for finite differences).
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// W of layer `l`: (inputs, outputs).
    pub fn weights(&self, l: usize) -> &[f32] {
        &self.params[self.layers[l].weights.clone()]
    }

    /// b of layer `l`: (outputs).
    pub fn bias(&self, l: usize) -> &[f32] {
        &self.params[self.layers[l].bias.clone()]
    }

    /// Number of trainable parameters (padding excluded).
    pub fn num_params(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weights.len() + l.bias.len())
            .sum()
    }
}
