//! How a setting's value is spelled on the command line, in a search space and in messages:
//! one parser and one printer per value type, shared by every setting of that type.

use crate::data::prep::MissingPolicy;
use crate::model::Activation;
use crate::optim::OptimizerKind;
use crate::train::StopMetric;
use serde::de::IntoDeserializer;

/// A setting's value as flags spell it (`--hidden 64,32`, `--lr 1e-3`, `--optimizer adamw`).
pub trait SettingValue: Clone {
    /// The value `text` names, or why it names none.
    fn parse(text: &str) -> Result<Self, String>;
    /// How a flag spells it.
    fn show(&self) -> String;
}

macro_rules! numbers {
    ($($ty:ty => $what:literal),*) => {$(
        impl SettingValue for $ty {
            fn parse(text: &str) -> Result<Self, String> {
                text.trim()
                    .parse()
                    .map_err(|_| format!("{text:?} is not {}", $what))
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
numbers!(usize => "a whole number ≥ 0", u64 => "a whole number ≥ 0", f32 => "a number",
    f64 => "a number");

impl SettingValue for String {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
    fn show(&self) -> String {
        self.clone()
    }
}

/// Layer widths, comma-separated.
impl SettingValue for Vec<usize> {
    fn parse(text: &str) -> Result<Self, String> {
        text.split(',').map(usize::parse).collect()
    }
    fn show(&self) -> String {
        let widths: Vec<String> = self.iter().map(usize::to_string).collect();
        widths.join(",")
    }
}

/// Names as the enum's serde names them; shown as its `Display` does.
macro_rules! named {
    ($($ty:ty),*) => {$(
        impl SettingValue for $ty {
            fn parse(text: &str) -> Result<Self, String> {
                let d: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
                    text.into_deserializer();
                serde::Deserialize::deserialize(d).map_err(|e| e.to_string())
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
named!(Activation, OptimizerKind, StopMetric, MissingPolicy);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_they_are_shown() {
        fn round<T: SettingValue + PartialEq + std::fmt::Debug>(v: T) {
            assert_eq!(T::parse(&v.show()), Ok(v));
        }
        round(vec![64usize, 32]);
        round(0.001f32);
        round(Activation::Tanh);
        round(OptimizerKind::AdamW);
        round(StopMetric::RocAuc);
        round(MissingPolicy::Drop);
        assert!(usize::parse("-3").unwrap_err().contains("whole number"));
        assert!(Activation::parse("swish").unwrap_err().contains("relu"));
        assert!(<Vec<usize>>::parse("64,x").is_err());
    }
}
