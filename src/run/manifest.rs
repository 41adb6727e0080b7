//! The manifest of a run directory: each file's size and SHA-256 in `manifest.json`, recorded
//! after the file's atomic write and checked before it is used (see `nn::rundir`, "After a
//! crash"). Plain files and hashes only, so that it builds without libtorch.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// `manifest.json`.
pub const MANIFEST: &str = "manifest.json";

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Size and SHA-256 of a file, as recorded in `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

impl Entry {
    /// The entry of the file at `path`.
    pub fn of(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(io_err(path))?;
        Ok(Entry {
            bytes: bytes.len() as u64,
            sha256: Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        })
    }
}

pub(crate) type Manifest = BTreeMap<String, Entry>;

pub(crate) fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    if !path.exists() {
        return Ok(Manifest::new());
    }
    crate::io::read_json(&path)
}

pub(crate) fn file_name(path: &Path) -> Result<(&Path, String)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::param("path", format!("{} has no file name", path.display())))?;
    Ok((dir, name.to_string_lossy().into_owned()))
}

/// Record the file at `path` (just written) in its directory's manifest.
pub fn record(path: &Path) -> Result<()> {
    let (dir, name) = file_name(path)?;
    // A damaged manifest is replaced: what it vouched for is re-recorded as it is written.
    let mut m = read_manifest(dir).unwrap_or_default();
    m.insert(name, Entry::of(path)?);
    crate::io::write_json(&dir.join(MANIFEST), &m)
}

/// Drop the manifest entry of `path` (a file being removed).
pub fn forget(path: &Path) -> Result<()> {
    let (dir, name) = file_name(path)?;
    let mut m = read_manifest(dir).unwrap_or_default();
    if m.remove(&name).is_some() {
        crate::io::write_json(&dir.join(MANIFEST), &m)?;
    }
    Ok(())
}

/// Check the file at `path` against its manifest entry (a file without one passes): a
/// one-line [`Error::Format`] when it is missing, truncated or damaged.
pub fn verify(path: &Path) -> Result<()> {
    let (dir, name) = file_name(path)?;
    let m = read_manifest(dir)?;
    match m.get(&name) {
        None => Ok(()),
        Some(want) => check_entry(path, want),
    }
}

fn check_entry(path: &Path, want: &Entry) -> Result<()> {
    let bad = |reason: String| {
        Err(Error::Format {
            path: path.to_path_buf(),
            reason,
        })
    };
    if !path.exists() {
        return bad("missing, but recorded in manifest.json".into());
    }
    let got = Entry::of(path)?;
    if got.bytes != want.bytes {
        return bad(format!(
            "corrupt: {} bytes, manifest.json recorded {}",
            got.bytes, want.bytes
        ));
    }
    if got.sha256 != want.sha256 {
        return bad("corrupt: SHA-256 differs from manifest.json".into());
    }
    Ok(())
}

/// Check every file `dir`'s manifest records, checkpoints excepted.
pub fn verify_dir(dir: &Path) -> Result<()> {
    for (name, want) in read_manifest(dir)? {
        if !name.starts_with("checkpoint") {
            check_entry(&dir.join(name), &want)?;
        }
    }
    Ok(())
}

/// Write `bytes` to `path` atomically (fsynced) and record it in the manifest.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::io::write_atomic(path, bytes)?;
    record(path)
}
