//! `lottery imp | train | branch | prune | lmc` (feature `torch`): run settings from a preset,
//! a TOML file and flags, then the library's runs ([`lottery::nn::imp`], [`lottery::nn::branch`],
//! [`lottery::nn::zoo`], [`lottery::zoo::lmc`]).

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser};
use lottery::nn::phase::Env;
use lottery::{Error, Result};

/// The values of `lottery prune METHOD`: the registry's methods ([`lottery::zoo`]), each with
/// its spec's one-line doc, and `layerwise`.
fn prune_methods() -> PossibleValuesParser {
    let mut values: Vec<PossibleValue> = lottery::zoo::Method::prune_methods()
        .map(|m| PossibleValue::new(m.as_str()).help(m.spec().doc))
        .collect();
    values.push(PossibleValue::new("layerwise").help(
        "one-shot layerwise pruning of a trained run (--from RUN_DIR) by a layerwise solver",
    ));
    PossibleValuesParser::new(values)
}

/// The values of `--solver`: the layerwise solvers' registry ([`lottery::solver::layer`]).
fn layer_solvers() -> PossibleValuesParser {
    PossibleValuesParser::new(
        lottery::solver::layer::LayerSolver::ALL
            .map(|s| PossibleValue::new(s.name()).help(s.spec().doc)),
    )
}

/// Arguments of `lottery prune`.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// The method (the registry's; `layerwise` prunes a trained run layer by layer).
    #[arg(value_parser = prune_methods())]
    pub method: String,
    /// Fraction of the prunable weights removed, in (0, 1) (default 0.8; for early-bird's channel
    /// variant, of the channels).
    #[arg(long)]
    pub sparsity: Option<f64>,
    /// `layerwise`: the trained run to prune (its directory).
    #[arg(long = "from", value_name = "RUN_DIR")]
    pub from: Option<PathBuf>,
    /// `layerwise`: the level whose final weights are pruned (default 0, the dense network).
    #[arg(long)]
    pub level: Option<usize>,
    /// `layerwise`: the solver (the registry's; with `--objective fisher`, those that need no
    /// H: magnitude and the thresholding and Frank-Wolfe solvers; default obs). A solver's own
    /// settings are `--set` keys, named in its file of `lottery::solver::layer`.
    #[arg(long, value_parser = layer_solvers())]
    pub solver: Option<String>,
    /// `layerwise`: row | layer | N:M | block:HxW | channel (default row).
    #[arg(long)]
    pub budget: Option<String>,
    /// `layerwise`: calibration samples from the training split (default 1000; seeded by --seed).
    #[arg(long)]
    pub calibration: Option<usize>,
    /// `layerwise`: damping relative to the mean diagonal of H (default 0.01).
    #[arg(long)]
    pub damp: Option<f64>,
    /// `layerwise`: fine-tuning iterations with the mask fixed (default 0).
    #[arg(long)]
    pub finetune: Option<usize>,
    /// `layerwise`: reconstruction (default: each row's ½(w − w̄)ᵀH(w − w̄), in cascade) or
    /// fisher (each layer's empirical Fisher from per-sample gradients on the calibration
    /// samples, all its weights at once; needs --budget layer).
    #[arg(long)]
    pub objective: Option<String>,
    /// Run settings, as for `lottery imp`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `lottery prune layerwise --from RUN_DIR …`: the settings, the environment, the run.
pub fn run_layerwise_cli(args: &PruneArgs) -> Result<PathBuf> {
    let from = args
        .from
        .clone()
        .ok_or_else(|| Error::param("from", "layerwise needs --from RUN_DIR (a trained run)"))?;
    // The flags, then `--set KEY=VALUE` for any key of the settings (`--set budget=…` is the
    // spelling the other methods use); the run's own settings come from the trained run, so any
    // other key is refused, not ignored.
    let mut pairs: Vec<(String, toml::Value)> = Vec::new();
    let mut put = |k: &str, v: Option<toml::Value>| {
        if let Some(v) = v {
            pairs.push((k.to_string(), v));
        }
    };
    let text = |v: &Option<String>| v.clone().map(toml::Value::String);
    put("solver", text(&args.solver));
    put("sparsity", args.sparsity.map(toml::Value::Float));
    put("budget", text(&args.budget));
    put(
        "calibration",
        args.calibration.map(|v| toml::Value::Integer(v as i64)),
    );
    put("damp", args.damp.map(toml::Value::Float));
    put(
        "finetune",
        args.finetune.map(|v| toml::Value::Integer(v as i64)),
    );
    put(
        "seed",
        args.run.seed.map(|v| toml::Value::Integer(v as i64)),
    );
    put("objective", text(&args.objective));
    let keys = lottery::run::layerwise::LayerwiseSettings::keys();
    for (k, v) in key_values(&args.run.set)? {
        if !keys.contains(&k.as_str()) {
            let mut listed = vec!["budget"];
            listed.extend(keys.iter().filter(|&&k| k != "budget"));
            return Err(Error::param(
                "set",
                format!(
                    "`{}`: of --set a layerwise run accepts only {} (its own settings; the rest \
                     comes from the trained run)",
                    k.escape_debug(),
                    listed.join(", ")
                ),
            ));
        }
        pairs.push((k, toml_value(&v)));
    }
    let settings = lottery::run::layerwise::LayerwiseSettings::from_keys(&pairs)?;
    let env = Env::new(&from, device_of(args.run.device.as_deref())?)
        .with_data_dir(args.run.data_dir.clone())
        .interactive()
        .with_rerun(args.run.rerun);
    lottery::nn::layerwise::run_layerwise(&from, args.level.unwrap_or(0), &settings, &env)
}

/// Arguments of `lottery lmc`.
#[derive(Debug, clap::Args)]
pub struct LmcArgs {
    /// Rewind iterations k, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub k: Vec<usize>,
    /// A ticket's mask.safetensors: interpolate the sparse copies.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// Points on the interpolation path (>= 11).
    #[arg(long, default_value_t = 11)]
    pub points: usize,
    /// With --mask: ticket | random-prune | random-reinit (the controls at the ticket's
    /// sparsity).
    #[arg(long, default_value = "ticket")]
    pub control: String,
    /// Run settings, as for `lottery imp`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Arguments of `lottery branch`.
#[derive(Debug, clap::Args)]
pub struct BranchArgs {
    /// random-reinit | random-prune | scratch | perturb-shuffle | perturb-reinit |
    /// perturb-signs | perturb-constant | transfer.
    pub kind: String,
    /// The run directory (`runs/<hash>`).
    #[arg(long)]
    pub run: PathBuf,
    /// Level whose mask the branch starts from (default: the last finished level).
    #[arg(long)]
    pub level: Option<usize>,
    /// Seed of the random mask / initialization.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `transfer`: settings that differ from the run's (dataset, optimizer, lr, …), KEY=VALUE.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Directory of the dataset files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// cpu | cuda.
    #[arg(long)]
    pub device: Option<String>,
    /// When the branch directory holds a run with other settings, move it aside
    /// (`<dir>.stale-<n>`) and start again instead of refusing.
    #[arg(long)]
    pub rerun: bool,
}

pub(crate) fn device_of(name: Option<&str>) -> Result<tch::Device> {
    use lottery::run::kinds::DeviceName;
    Ok(match name.map(str::parse).transpose()? {
        None => tch::Device::cuda_if_available(),
        Some(DeviceName::Cpu) => tch::Device::Cpu,
        Some(DeviceName::Cuda) if tch::Cuda::is_available() => tch::Device::Cuda(0),
        Some(DeviceName::Cuda) => {
            return Err(Error::Unsupported(
                "--device cuda: no CUDA device is available".into(),
            ))
        }
    })
}

/// A command-line value as TOML (a string when it does not parse as a TOML value).
fn toml_value(v: &str) -> toml::Value {
    format!("v = {v}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(v.to_string()))
}

/// `KEY=VALUE` arguments of `--set`, trimmed.
fn key_values(set: &[String]) -> Result<Vec<(String, String)>> {
    set.iter()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| Error::param("set", format!("`{kv}` is not KEY=VALUE")))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

pub fn run_branch_cli(args: &BranchArgs) -> Result<PathBuf> {
    let level = match args.level {
        Some(l) => l,
        None => (0..10_000)
            .take_while(|l| {
                lottery::nn::rundir::level_dir(&args.run, *l)
                    .join(lottery::nn::rundir::SUMMARY)
                    .exists()
            })
            .last()
            .ok_or_else(|| {
                Error::param(
                    "run",
                    format!("{} has no finished level", args.run.display()),
                )
            })?,
    };
    let env = Env::new(&args.run, device_of(args.device.as_deref())?)
        .with_data_dir(args.data_dir.clone())
        .interactive()
        .with_rerun(args.rerun);
    let kind: lottery::run::kinds::BranchKind = args.kind.parse()?;
    let overrides = key_values(&args.set)?;
    lottery::nn::branch::run_branch(kind, &args.run, level, args.seed, &overrides, &env)
}

/// Arguments of `lottery imp` and `lottery train`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Preset (lenet300-lth, conv2-lth, conv4-lth, conv6-lth, lenet300-openlth,
    /// resnet20-openlth, vgg16-openlth, lenet300-mnist1d, conv1d-mnist1d, mlp-teacher).
    #[arg(long)]
    pub preset: Option<String>,
    /// TOML file of settings on top of the preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// fashion-mnist | mnist | cifar10 | mnist1d | teacher (`teacher = "narrow"` and the other
    /// `teacher_*` settings choose the planted teacher).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Directory of the dataset files (not part of the run's hash).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// IMP levels after the dense level 0.
    #[arg(long)]
    pub levels: Option<usize>,
    /// Training length per level in iterations.
    #[arg(long, conflicts_with = "epochs")]
    pub iterations: Option<usize>,
    /// Training length per level in epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// init | ITER | lr | finetune.
    #[arg(long)]
    pub rewind: Option<String>,
    /// layerwise | global | erk (Erdős–Rényi-Kernel per-layer densities); pruning at
    /// initialization ranks globally unless erk.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// cpu | cuda (default: cuda when available).
    #[arg(long)]
    pub device: Option<String>,
    /// Root of the run directories.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Any other setting, KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// When the run directory holds a run with other settings (a changed default, an edited
    /// preset), move it aside (`<dir>.stale-<n>`) and start again instead of refusing.
    #[arg(long)]
    pub rerun: bool,
    /// Resume this diverged run directory from its last good checkpoints with the new learning
    /// rate given by `--set lr=…` (also finetune_lr, score_lr, convex_lr, fw_step); the change
    /// is recorded in the run's run.json.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume_diverged: Option<PathBuf>,
}

pub fn run_config(
    args: &RunArgs,
    levels_override: Option<usize>,
) -> Result<(lottery::run::RunConfig, lottery::nn::phase::Env)> {
    use lottery::run::RunConfig;
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
            RunConfig::from_toml(&text, args.preset.as_deref())?
        }
        None => RunConfig::preset(args.preset.as_deref().ok_or_else(|| {
            Error::param("preset", "--preset NAME or --config FILE is required")
        })?)?,
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            pairs.push((k.to_string(), v));
        }
    };
    put("dataset", args.dataset.clone());
    put(
        "levels",
        levels_override.or(args.levels).map(|v| v.to_string()),
    );
    put("rewind", args.rewind.clone());
    put("strategy", args.strategy.clone());
    put("seed", args.seed.map(|v| v.to_string()));
    if let Some(it) = args.iterations {
        pairs.push(("iterations".into(), it.to_string()));
    }
    if let Some(ep) = args.epochs {
        pairs.push(("iterations".into(), "0".into()));
        pairs.push(("epochs".into(), ep.to_string()));
    }
    pairs.extend(key_values(&args.set)?);
    for (k, v) in pairs {
        cfg.set(&k, &v)?;
    }
    let device = device_of(args.device.as_deref())?;
    let env = Env::new(&args.runs, device)
        .with_data_dir(args.data_dir.clone())
        .interactive()
        .with_rerun(args.rerun)
        .with_resume_diverged(args.resume_diverged.clone());
    Ok((cfg, env))
}
