//! File formats: `.npy` matrices and vectors (numpy's format, so researchers script against
//! this crate from Python), CSV tables and JSON, and atomic writes.
//!
//! Every reader validates what it reads and names the file in its error; every writer writes
//! to a temporary file in the destination's directory and renames it into place, so an
//! interrupted or failed write never leaves a half-written file and never clobbers the old one.
//!
//! ```
//! use lottery::io::{read_vector, write_vector};
//! use ndarray::array;
//! let path = std::env::temp_dir().join(format!("lottery-doc-{}.npy", std::process::id()));
//! write_vector(&path, &array![1.0, -2.5, 0.0]).unwrap();
//! assert_eq!(read_vector(&path).unwrap(), array![1.0, -2.5, 0.0]);
//! std::fs::write(&path, b"not an npy file").unwrap();
//! let err = read_vector(&path).unwrap_err().to_string();
//! assert!(err.contains("lottery-doc-") && err.lines().count() == 1); // names the file, one line
//! std::fs::remove_file(&path).unwrap();
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{Array, Array1, Array2, ArrayView};
use ndarray_npy::{ViewNpyError, ViewNpyExt, WriteNpyExt};

use crate::{Error, Result};

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Fsync the directory holding `path`, so that a rename into it survives a power loss.
pub fn sync_parent(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

/// Write `bytes` to `path` atomically: temporary file in the same directory, fsync, rename,
/// fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::param("path", format!("{} has no file name", path.display())))?;
    let mut tmp = PathBuf::from(dir);
    tmp.push(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    sync_parent(path)
}

fn view_error(e: ViewNpyError) -> String {
    match e {
        ViewNpyError::WrongDescriptor(d) => format!("wrong dtype {d} (expected float64, '<f8')"),
        ViewNpyError::NonNativeEndian => "big-endian data (expected float64, '<f8')".into(),
        ViewNpyError::WrongNdim(want, got) => {
            format!("wrong number of dimensions: expected {want:?}, found {got}")
        }
        ViewNpyError::MissingBytes(n) => {
            format!("truncated: {n} bytes fewer than the header declares")
        }
        ViewNpyError::ExtraBytes(n) => format!("{n} bytes beyond the declared data"),
        ViewNpyError::LengthOverflow => "the declared shape overflows".into(),
        other => format!("not a valid .npy file ({other})"),
    }
    .replace('\n', " ")
}

/// Decode an f64 `.npy` file held in memory (C or Fortran order, little-endian `<f8`),
/// rejecting NaN and infinities. Nothing is allocated from what the header declares before it
/// is checked against the bytes present: the header's length and the data's (a header claiming
/// a $10^{12}\times10^{12}$ array is refused, not allocated). Fuzzed (`tests/fuzz`, target
/// `npy`).
pub fn decode_npy<D: ndarray::Dimension>(
    bytes: &[u8],
) -> std::result::Result<Array<f64, D>, String> {
    // The header's own length field, checked before ndarray-npy allocates a buffer for it.
    if bytes.len() >= 10 && bytes.starts_with(b"\x93NUMPY") {
        let (field, declared) = match bytes[6] {
            1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
            _ if bytes.len() >= 12 => (
                12,
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            ),
            _ => (12, usize::MAX),
        };
        if declared > bytes.len().saturating_sub(field) {
            return Err("truncated header".into());
        }
    }
    // A view checks the data's length against the bytes without allocating; it needs the data
    // aligned for f64, so a misaligned buffer is copied at each of the 8 offsets until one fits.
    let view = |buf: &[u8]| ArrayView::<f64, D>::view_npy(buf).map(|v| v.to_owned());
    match view(bytes) {
        Err(ViewNpyError::MisalignedData) => {
            for shift in 1..8 {
                let mut padded = vec![0u8; bytes.len() + shift];
                padded[shift..].copy_from_slice(bytes);
                match view(&padded[shift..]) {
                    Err(ViewNpyError::MisalignedData) => continue,
                    other => return other.map_err(view_error).and_then(finite),
                }
            }
            Err("data cannot be aligned".into())
        }
        other => other.map_err(view_error).and_then(finite),
    }
}

fn finite<D: ndarray::Dimension>(a: Array<f64, D>) -> std::result::Result<Array<f64, D>, String> {
    match a.iter().position(|v| !v.is_finite()) {
        None => Ok(a),
        Some(i) => Err(format!(
            "non-finite value {} at flat index {i}",
            a.iter().nth(i).unwrap()
        )),
    }
}

fn read_npy_file<D: ndarray::Dimension>(path: &Path) -> Result<Array<f64, D>> {
    let bytes = fs::read(path).map_err(|e| io_err(path, e))?;
    decode_npy(&bytes).map_err(|reason| Error::Format {
        path: path.to_path_buf(),
        reason,
    })
}

/// Read an f64 matrix from `.npy` (C or Fortran order), rejecting NaN and infinities.
pub fn read_matrix(path: &Path) -> Result<Array2<f64>> {
    read_npy_file(path)
}

/// Read an f64 array of any dimension from `.npy`, rejecting NaN and infinities.
pub fn read_array(path: &Path) -> Result<ndarray::ArrayD<f64>> {
    read_npy_file(path)
}

/// Read an f64 vector from `.npy`, rejecting NaN and infinities.
pub fn read_vector(path: &Path) -> Result<Array1<f64>> {
    read_npy_file(path)
}

/// Write an f64 vector as `.npy`, atomically.
pub fn write_vector(path: &Path, x: &Array1<f64>) -> Result<()> {
    let mut buf = Vec::new();
    x.write_npy(&mut buf)
        .map_err(|e| Error::param("output", e.to_string()))?;
    write_atomic(path, &buf)
}

/// Write an f64 matrix as `.npy`, atomically.
pub fn write_matrix(path: &Path, a: &Array2<f64>) -> Result<()> {
    let mut buf = Vec::new();
    a.write_npy(&mut buf)
        .map_err(|e| Error::param("output", e.to_string()))?;
    write_atomic(path, &buf)
}

/// Read a JSON file into `T`; a missing file or malformed JSON is an error naming the file.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    serde_json::from_str(&text).map_err(|e| crate::Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn csv_err(e: impl std::fmt::Display) -> Error {
    Error::param("csv", e.to_string())
}

/// Write serializable records (one row each, fields in `header`'s order) as a CSV table,
/// atomically; the header is written even when there is no row.
pub fn write_csv_rows<T: serde::Serialize>(path: &Path, header: &[&str], rows: &[T]) -> Result<()> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(header).map_err(csv_err)?;
    for r in rows {
        w.serialize(r).map_err(csv_err)?;
    }
    write_atomic(path, &w.into_inner().map_err(csv_err)?)
}

/// Write a value as pretty JSON, atomically.
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::param("json", format!("{}: {e}", path.display())))?;
    write_atomic(path, text.as_bytes())
}
