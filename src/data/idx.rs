//! The IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed.
//!
//! Layout: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, each
//! dimension as a big-endian u32, then the values. Only unsigned-byte files exist in the MNIST
//! family; other types are rejected with a clear error.

use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// A decoded IDX array of bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Values in row-major order.
    pub data: Vec<u8>,
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The largest decompressed IDX file accepted (256 MiB; MNIST's largest is 47 MB), so that a
/// small hostile gzip stream cannot expand without bound.
pub const MAX_BYTES: u64 = 256 << 20;

/// Read an IDX file; gzip is detected from its magic bytes, not from the file name.
pub fn read(path: &Path) -> Result<Idx> {
    let raw = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    decode(&raw).map_err(|reason| bad(path, reason))
}

/// Decode an IDX file's bytes, plain or gzip (at most [`MAX_BYTES`] once decompressed), or a
/// one-line reason. Fuzzed (`tests/fuzz`, target `idx`).
pub fn decode(raw: &[u8]) -> std::result::Result<Idx, String> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw)
            .take(MAX_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("corrupt gzip stream: {e}"))?;
        if out.len() as u64 > MAX_BYTES {
            return Err(format!("decompresses to more than {MAX_BYTES} bytes"));
        }
        parse(&out)
    } else {
        parse(raw)
    }
}

/// Decode IDX bytes.
pub fn parse(bytes: &[u8]) -> std::result::Result<Idx, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "too short for an IDX header ({} bytes)",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err("not an IDX file (magic must start with two zero bytes)".into());
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "unsupported IDX element type 0x{:02x} (only unsigned bytes, 0x08)",
            bytes[2]
        ));
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if ndims == 0 || bytes.len() < header {
        return Err(format!("truncated header: {ndims} dimensions declared"));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("dimensions overflow")?;
    let body = &bytes[header..];
    if body.len() < count {
        return Err(format!(
            "truncated: header declares {count} values ({dims:?}), file holds {}",
            body.len()
        ));
    }
    if body.len() > count {
        return Err(format!(
            "{} trailing bytes after the {count} declared values",
            body.len() - count
        ));
    }
    Ok(Idx {
        dims,
        data: body.to_vec(),
    })
}

/// Encode bytes as IDX (used by tests and by tools that write small datasets).
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}
