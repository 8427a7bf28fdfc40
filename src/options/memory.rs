//! How much host memory a run may hold (`--max-memory`): `auto`, half of what the machine (or
//! its container's cgroup) has, or a size. A run whose data would not fit streams it from
//! disk instead of reading it whole (see [`crate::workflow::streamed`]).

use super::value::SettingValue;

/// A bound on a run's host memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemoryLimit {
    /// Half the machine's memory (or its cgroup's limit, where lower).
    #[default]
    Auto,
    /// This many bytes.
    Bytes(u64),
}

/// The least `--max-memory` takes: a chunk, the shuffle buffer and the validation sample
/// each need room.
pub const MIN_MEMORY: u64 = 16 << 20;

impl MemoryLimit {
    /// The bound in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            MemoryLimit::Bytes(bytes) => bytes,
            MemoryLimit::Auto => crate::files::memory_total() / 2,
        }
    }
}

impl SettingValue for MemoryLimit {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("auto") {
            return Ok(MemoryLimit::Auto);
        }
        let bytes = text
            .parse::<bytesize::ByteSize>()
            .map_err(|_| {
                format!(
                    "{text:?} is not a size; write auto, bytes, or a number with a unit (512MiB, \
                     2GiB, 2G)"
                )
            })?
            .as_u64();
        match bytes >= MIN_MEMORY {
            true => Ok(MemoryLimit::Bytes(bytes)),
            false => Err(format!(
                "{text:?} is too little memory; a run needs at least 16MiB"
            )),
        }
    }

    fn show(&self) -> String {
        const MIB: u64 = 1 << 20;
        match *self {
            MemoryLimit::Auto => "auto".into(),
            MemoryLimit::Bytes(b) if b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
            MemoryLimit::Bytes(b) if b % MIB == 0 => format!("{}MiB", b / MIB),
            MemoryLimit::Bytes(b) => b.to_string(),
        }
    }
}

impl serde::Serialize for MemoryLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.show())
    }
}

impl<'de> serde::Deserialize<'de> for MemoryLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        MemoryLimit::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_their_units_and_show_back() {
        let read = |t: &str| MemoryLimit::parse(t);
        assert_eq!(read("auto"), Ok(MemoryLimit::Auto));
        assert_eq!(read("512MiB"), Ok(MemoryLimit::Bytes(512 << 20)));
        assert_eq!(read("2 GiB"), Ok(MemoryLimit::Bytes(2 << 30)));
        assert_eq!(read("2G"), Ok(MemoryLimit::Bytes(2_000_000_000)));
        assert_eq!(read("20000000"), Ok(MemoryLimit::Bytes(20_000_000)));
        for v in ["auto", "512MiB", "3GiB", "20000001"] {
            assert_eq!(read(v).unwrap().show(), v);
        }
        assert!(read("1MiB").unwrap_err().contains("at least 16MiB"));
        assert!(read("lots").unwrap_err().contains("not a size"));
        assert!(MemoryLimit::Auto.bytes() >= 1 << 20);
    }
}
