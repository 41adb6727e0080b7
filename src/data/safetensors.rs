//! The safetensors input path, before any tensor is built: the header is parsed and checked
//! against the file by the `safetensors` crate (header length within the file, JSON header,
//! offsets contiguous and within the data, each tensor's byte length equal to its shape times
//! its dtype's size), then this crate's own rules: only the dtypes runs write (f32, f64, i64,
//! u8), non-empty names, and element counts that do not overflow. A hostile header (a shape of
//! $10^{12}\times10^{12}$, a header length beyond the file) is refused before anything is
//! allocated for it. Fuzzed (`tests/fuzz`, target `safetensors`).
//!
//! ```
//! use lottery::data::safetensors::parse;
//! // 8-byte little-endian header length, JSON header, then the data.
//! let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
//! let mut file = (header.len() as u64).to_le_bytes().to_vec();
//! file.extend_from_slice(header);
//! file.extend_from_slice(&[0u8; 8]);
//! assert_eq!(parse(&file).unwrap().len(), 1);
//! assert!(parse(&file[..file.len() - 1]).is_err()); // truncated
//! let huge = br#"{"w":{"dtype":"F32","shape":[1000000000000,1000000000000],"data_offsets":[0,8]}}"#;
//! let mut bad = (huge.len() as u64).to_le_bytes().to_vec();
//! bad.extend_from_slice(huge);
//! bad.extend_from_slice(&[0u8; 8]);
//! assert!(parse(&bad).is_err());
//! ```

use ::safetensors::tensor::{Dtype, SafeTensors};

/// Parse and check a safetensors file held in memory; the parsed file (its views borrow
/// `bytes`), or a one-line reason.
pub fn parse(bytes: &[u8]) -> std::result::Result<SafeTensors<'_>, String> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| format!("not a valid safetensors file ({e:?})").replace('\n', " "))?;
    for (name, view) in st.tensors() {
        if name.is_empty() {
            return Err("a tensor has an empty name".into());
        }
        let size = match view.dtype() {
            Dtype::F32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::U8 => 1,
            other => return Err(format!("tensor `{name}`: unsupported dtype {other:?}")),
        };
        let numel = view
            .shape()
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .and_then(|n| n.checked_mul(size))
            .ok_or_else(|| format!("tensor `{name}`: shape {:?} overflows", view.shape()))?;
        if numel != view.data().len() {
            return Err(format!(
                "tensor `{name}`: shape {:?} needs {numel} bytes, the file holds {}",
                view.shape(),
                view.data().len()
            ));
        }
    }
    Ok(st)
}
