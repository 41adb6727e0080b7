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

use ndarray::{Array1, Array2};
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};

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

fn npy_error(path: &Path, e: ReadNpyError) -> Error {
    let reason = match e {
        ReadNpyError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            return io_err(path, io)
        }
        ReadNpyError::Io(io) => format!("cannot read: {io}"),
        ReadNpyError::WrongDescriptor(d) => {
            format!("wrong dtype {d} (expected float64, '<f8')")
        }
        ReadNpyError::WrongNdim(want, got) => {
            format!("wrong number of dimensions: expected {want:?}, found {got}")
        }
        ReadNpyError::MissingData => "truncated: fewer values than the header declares".into(),
        ReadNpyError::ExtraBytes(n) => format!("{n} bytes beyond the declared data"),
        other => format!("not a valid .npy file ({other})"),
    };
    Error::Format {
        path: path.to_path_buf(),
        reason: reason.replace('\n', " "),
    }
}

fn open(path: &Path) -> Result<fs::File> {
    fs::File::open(path).map_err(|e| io_err(path, e))
}

/// Read an f64 matrix from `.npy` (C or Fortran order), rejecting NaN and infinities.
pub fn read_matrix(path: &Path) -> Result<Array2<f64>> {
    let a = Array2::<f64>::read_npy(open(path)?).map_err(|e| npy_error(path, e))?;
    if a.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("{}", path.display())));
    }
    Ok(a)
}

/// Read an f64 vector from `.npy`, rejecting NaN and infinities.
pub fn read_vector(path: &Path) -> Result<Array1<f64>> {
    let a = Array1::<f64>::read_npy(open(path)?).map_err(|e| npy_error(path, e))?;
    if a.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("{}", path.display())));
    }
    Ok(a)
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
