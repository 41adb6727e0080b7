//! `lottery export RUN_DIR --format dense|csr|nm`: a trained sparse network written with its
//! sparsity realised, into `RUN_DIR/export/<format>.safetensors` (plus `<format>.json`, what
//! was stored), through [`super::rundir`] (atomic, in the manifest). An export is a function of
//! the run's final weights and mask, so an existing one is returned as is.
//!
//! * `dense`: every variable, the prunable weights multiplied by their mask. In a chain of
//!   dense layers (`lenet300`, `mlp`) the units that cannot affect the output are **removed**:
//!   a unit whose outgoing column is pruned, or whose incoming row is pruned (its constant
//!   output $\mathrm{ReLU}(b_j)$ is first folded into the next layer's bias), so a channel-pruned
//!   network is physically smaller and computes the same function.
//! * `csr`: the same network (units removed likewise), every prunable weight as a CSR matrix
//!   of its rows × (product of the other dimensions): `<name>.crow_indices`,
//!   `<name>.col_indices` (int64), `<name>.values` (float32) and `<name>.shape`.
//! * `nm`: for a run pruned with `budget = "N:M"`, every pooled weight as `<name>.values`
//!   (rows × cols·N/M, float32) and `<name>.indices` (uint8: each value's position in its run
//!   of M) — the compressed layout of sparse tensor cores; other tensors dense.
//!
//! [`Mlp`] runs a dense-chain export (dense or CSR) for inference; `benches/export_speed.rs`
//! times it against the dense network.

use std::path::{Path, PathBuf};

use serde::Serialize;
use tch::{Kind, Tensor};

use super::rundir;
use crate::run::kinds::{Arch, Structure};
use crate::{Error, Result};

/// The formats of `lottery export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Masked dense tensors (dead units removed in dense chains).
    Dense,
    /// Compressed sparse rows.
    Csr,
    /// N:M values and in-run indices.
    Nm,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "dense" => Ok(Format::Dense),
            "csr" => Ok(Format::Csr),
            "nm" => Ok(Format::Nm),
            other => Err(Error::param(
                "format",
                format!("unknown format `{}` (dense, csr, nm)", other.escape_debug()),
            )),
        }
    }
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Dense => "dense",
            Format::Csr => "csr",
            Format::Nm => "nm",
        }
    }
}

/// What an export stored.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The format.
    pub format: Format,
    /// The phase directory exported (the run, or an IMP level).
    pub source: PathBuf,
    /// Bytes of the unpruned network's float32 variables.
    pub dense_bytes: usize,
    /// Bytes of the stored tensors.
    pub stored_bytes: usize,
    /// Units removed per layer (dense chains).
    pub removed_units: Vec<(String, usize)>,
    /// Nonzero prunable weights.
    pub kept: usize,
}

/// The directory whose final weights are exported: the run itself (a `prune` run) or its IMP
/// level `level` (default: the last finished one).
pub fn source_of(run_dir: &Path, level: Option<usize>) -> Result<PathBuf> {
    if let Some(l) = level {
        let d = rundir::level_dir(run_dir, l);
        return finished_or(d, run_dir);
    }
    if run_dir.join(rundir::FINAL).exists() {
        return finished_or(run_dir.to_path_buf(), run_dir);
    }
    let mut l = 0;
    while rundir::is_finished(&rundir::level_dir(run_dir, l + 1)).unwrap_or(false) {
        l += 1;
    }
    finished_or(rundir::level_dir(run_dir, l), run_dir)
}

fn finished_or(d: PathBuf, run_dir: &Path) -> Result<PathBuf> {
    if rundir::is_finished(&d)? && d.join(rundir::MASK).exists() {
        Ok(d)
    } else {
        Err(Error::param(
            "run",
            format!(
                "{}: no finished phase with final weights and a mask",
                run_dir.display()
            ),
        ))
    }
}

/// The prunable weights' masks by name (0/1, float32, the weights' shapes).
fn masks_of(dir: &Path) -> Result<Vec<(String, Tensor)>> {
    Ok(rundir::load_tensors(&dir.join(rundir::MASK))?
        .into_iter()
        .map(|(n, t)| (n, t.to_kind(Kind::Float)))
        .collect())
}

/// Named tensors.
pub type Named = Vec<(String, Tensor)>;

/// The final variables with the masks applied, and the prunable names.
pub fn masked_variables(dir: &Path) -> Result<(Named, Vec<String>)> {
    let masks = masks_of(dir)?;
    let mut vars = rundir::load_tensors(&dir.join(rundir::FINAL))?;
    for (name, t) in vars.iter_mut() {
        if let Some((_, m)) = masks.iter().find(|(n, _)| n == name) {
            *t = &*t * m;
        }
    }
    Ok((vars, masks.into_iter().map(|(n, _)| n).collect()))
}

/// The layer names of a dense chain (`fc1`, `fc2`, …) when the model is one.
pub fn chain_of(model: Arch, prunable: &[String]) -> Option<Vec<String>> {
    if !matches!(model, Arch::Lenet300 | Arch::Mlp) {
        return None;
    }
    let mut layers: Vec<(usize, String)> = prunable
        .iter()
        .filter_map(|n| {
            let stem = n.strip_suffix(".weight")?;
            Some((stem.strip_prefix("fc")?.parse().ok()?, stem.to_string()))
        })
        .collect();
    layers.sort();
    (layers.len() == prunable.len()).then(|| layers.into_iter().map(|l| l.1).collect())
}

fn get<'a>(vars: &'a [(String, Tensor)], name: &str) -> Result<&'a Tensor> {
    vars.iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| Error::param("export", format!("no variable `{name}`")))
}

fn set(vars: &mut [(String, Tensor)], name: &str, t: Tensor) {
    if let Some(slot) = vars.iter_mut().find(|(n, _)| n == name) {
        slot.1 = t;
    }
}

/// Remove the units of a dense chain that cannot affect the output (module docs); returns the
/// number removed per hidden layer. The function computed is unchanged.
pub fn shrink_chain(
    vars: &mut [(String, Tensor)],
    chain: &[String],
) -> Result<Vec<(String, usize)>> {
    let mut removed = Vec::new();
    for pair in chain.windows(2) {
        let (w, b) = (
            get(vars, &format!("{}.weight", pair[0]))?,
            get(vars, &format!("{}.bias", pair[0]))?,
        );
        let (wn, bn) = (
            get(vars, &format!("{}.weight", pair[1]))?,
            get(vars, &format!("{}.bias", pair[1]))?,
        );
        let no_in = w
            .abs()
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            .eq(0.0);
        let no_out = wn
            .abs()
            .sum_dim_intlist([0i64].as_slice(), false, Kind::Float)
            .eq(0.0);
        // A unit with no inputs outputs ReLU(b_j): fold it into the next bias when it is used.
        let constant = (b.relu() * no_in.to_kind(Kind::Float)).unsqueeze(1);
        let bn = bn + wn.matmul(&constant).squeeze_dim(1);
        let keep = no_in
            .logical_or(&no_out)
            .logical_not()
            .nonzero()
            .squeeze_dim(1);
        let n_removed = (w.size()[0] - keep.size()[0]) as usize;
        let (w, b, wn) = (
            w.index_select(0, &keep),
            b.index_select(0, &keep),
            wn.index_select(1, &keep),
        );
        set(vars, &format!("{}.weight", pair[0]), w);
        set(vars, &format!("{}.bias", pair[0]), b);
        set(vars, &format!("{}.weight", pair[1]), wn);
        set(vars, &format!("{}.bias", pair[1]), bn);
        removed.push((pair[0].clone(), n_removed));
    }
    Ok(removed)
}

/// A weight as CSR tensors over rows × (product of the other dimensions).
pub fn csr_parts(name: &str, w: &Tensor) -> Vec<(String, Tensor)> {
    let size = w.size();
    let m = w
        .reshape([size[0], -1])
        .to_kind(Kind::Float)
        .to_sparse_csr(None::<i64>);
    vec![
        (
            format!("{name}.crow_indices"),
            m.crow_indices().to_kind(Kind::Int64),
        ),
        (
            format!("{name}.col_indices"),
            m.col_indices().to_kind(Kind::Int64),
        ),
        (format!("{name}.values"), m.values()),
        (format!("{name}.shape"), Tensor::from_slice(&size)),
    ]
}

/// A weight whose mask keeps exactly `n` of every `m` consecutive entries of each row as
/// (values, in-run indices); `None` when the mask is not N:M.
pub fn nm_parts(
    name: &str,
    w: &Tensor,
    mask: &Tensor,
    n: usize,
    m: usize,
) -> Option<Vec<(String, Tensor)>> {
    let rows = w.size()[0];
    let cols: i64 = w.size()[1..].iter().product();
    let (n, m) = (n as i64, m as i64);
    if cols % m != 0 {
        return None;
    }
    let runs = mask.reshape([rows, cols / m, m]);
    let counts = runs.sum_dim_intlist([2i64].as_slice(), false, Kind::Int64);
    if counts.ne(n).any().int64_value(&[]) == 1 {
        return None;
    }
    // Positions of the kept entries in each run, in order: the top-n of mask + a tiny
    // decreasing ramp picks the kept ones, lower position first.
    let ramp = Tensor::arange(m, (Kind::Float, w.device())).g_mul_scalar(-1e-3);
    let (_, idx) = (runs + ramp).topk(n, 2, true, true);
    let idx = idx.sort(2, false).0;
    let values = w
        .reshape([rows, cols / m, m])
        .to_kind(Kind::Float)
        .gather(2, &idx, false);
    Some(vec![
        (
            format!("{name}.values"),
            values.reshape([rows, cols / m * n]),
        ),
        (
            format!("{name}.indices"),
            idx.reshape([rows, cols / m * n]).to_kind(Kind::Uint8),
        ),
        (format!("{name}.shape"), Tensor::from_slice(&w.size())),
    ])
}

fn bytes(named: &[(String, Tensor)]) -> usize {
    named
        .iter()
        .map(|(_, t)| t.numel() * t.kind().elt_size_in_bytes())
        .sum()
}

/// Export the run (or its IMP level) in `format`; returns the file and what it stored.
pub fn export(run_dir: &Path, format: Format, level: Option<usize>) -> Result<(PathBuf, Report)> {
    let source = source_of(run_dir, level)?;
    let cfg = rundir::read_config(&source)?;
    let out_dir = source.join("export");
    let path = out_dir.join(format!("{}.safetensors", format.name()));
    let report_path = out_dir.join(format!("{}.json", format.name()));
    if path.exists() && report_path.exists() {
        let text = std::fs::read_to_string(&report_path)
            .map_err(|e| Error::param("export", format!("{}: {e}", report_path.display())))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::param("export", format!("{}: {e}", report_path.display())))?;
        return Ok((path, report_from(&v, format, &source)));
    }
    let (mut vars, prunable) = masked_variables(&source)?;
    let dense_bytes = vars.iter().map(|(_, t)| t.numel() * 4).sum();
    let kept = prunable
        .iter()
        .map(|n| get(&vars, n).map(|t| t.ne(0.0).sum(Kind::Int64).int64_value(&[]) as usize))
        .sum::<Result<usize>>()?;
    let mut removed_units = vec![];
    if format != Format::Nm {
        if let Some(chain) = chain_of(cfg.model, &prunable) {
            removed_units = shrink_chain(&mut vars, &chain)?;
        }
    }
    let stored: Vec<(String, Tensor)> = match format {
        Format::Dense => vars,
        Format::Csr => vars
            .iter()
            .flat_map(|(n, t)| {
                if prunable.contains(n) {
                    csr_parts(n, t)
                } else {
                    vec![(n.clone(), t.shallow_clone())]
                }
            })
            .collect(),
        Format::Nm => {
            let Structure::NofM { n, m } = cfg.budget.structure else {
                return Err(Error::param(
                    "format",
                    format!(
                        "`nm` needs a run pruned with an N:M budget (its budget is `{}`)",
                        cfg.budget.structure
                    ),
                ));
            };
            let masks = masks_of(&source)?;
            let mut out = vec![];
            for (name, t) in &vars {
                match masks.iter().find(|(k, _)| k == name) {
                    Some((_, mask)) if mask.min().double_value(&[]) == 0.0 => {
                        out.extend(nm_parts(name, t, mask, n, m).ok_or_else(|| {
                            Error::param("format", format!("`{name}`'s mask is not {n}:{m}"))
                        })?);
                    }
                    _ => out.push((name.clone(), t.shallow_clone())),
                }
            }
            out
        }
    };
    let report = Report {
        format,
        source: source.clone(),
        dense_bytes,
        stored_bytes: bytes(&stored),
        removed_units,
        kept,
    };
    rundir::create(&out_dir)?;
    rundir::save_tensors(&path, &stored)?;
    rundir::write_file(
        &report_path,
        serde_json::to_string_pretty(&report)
            .expect("plain")
            .as_bytes(),
    )?;
    Ok((path, report))
}

fn report_from(v: &serde_json::Value, format: Format, source: &Path) -> Report {
    let n = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
    Report {
        format,
        source: source.to_path_buf(),
        dense_bytes: n("dense_bytes"),
        stored_bytes: n("stored_bytes"),
        removed_units: serde_json::from_value(v["removed_units"].clone()).unwrap_or_default(),
        kept: n("kept"),
    }
}

/// A layer's weight for inference.
#[derive(Debug)]
pub enum Weight {
    /// A dense matrix (out × in).
    Dense(Tensor),
    /// A sparse CSR matrix (out × in).
    Csr(Tensor),
}

/// A dense chain (`fc1 … fcL`, ReLU between) ready for inference from an export.
#[derive(Debug)]
pub struct Mlp {
    /// (weight, bias) per layer.
    pub layers: Vec<(Weight, Tensor)>,
}

impl Mlp {
    /// From named tensors of the `dense` or `csr` format with the chain's layer names.
    pub fn from_named(
        named: &[(String, Tensor)],
        chain: &[String],
        format: Format,
    ) -> Result<Self> {
        let layers = chain
            .iter()
            .map(|l| {
                let bias = get(named, &format!("{l}.bias"))?.shallow_clone();
                let w = match format {
                    Format::Dense => {
                        Weight::Dense(get(named, &format!("{l}.weight"))?.shallow_clone())
                    }
                    Format::Csr => {
                        let shape: Vec<i64> =
                            Vec::try_from(get(named, &format!("{l}.weight.shape"))?).map_err(
                                |e: tch::TchError| Error::param("export", e.to_string()),
                            )?;
                        Weight::Csr(Tensor::sparse_csr_tensor_crow_col_value_size(
                            get(named, &format!("{l}.weight.crow_indices"))?,
                            get(named, &format!("{l}.weight.col_indices"))?,
                            get(named, &format!("{l}.weight.values"))?,
                            [shape[0], shape[1..].iter().product()],
                            (Kind::Float, tch::Device::Cpu),
                        ))
                    }
                    Format::Nm => {
                        return Err(Error::Unsupported(
                            "N:M inference has no CPU kernel here".into(),
                        ))
                    }
                };
                Ok((w, bias))
            })
            .collect::<Result<_>>()?;
        Ok(Mlp { layers })
    }

    /// Logits of a batch (rows of flattened inputs).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = x.flatten(1, -1);
        let last = self.layers.len().saturating_sub(1);
        for (i, (w, b)) in self.layers.iter().enumerate() {
            h = match w {
                Weight::Dense(w) => h.matmul(&w.tr()) + b,
                Weight::Csr(w) => w.matmul(&h.tr()).tr() + b,
            };
            if i < last {
                h = h.relu();
            }
        }
        h
    }
}
