//! The registries (the method zoo, `lottery::zoo`; the layerwise solvers,
//! `lottery::solver::layer`): their names are unique and parse back, the docs' tables name every
//! entry, and every settings key a file declares is a key of the run's configuration (or of
//! the layerwise settings) with its declared default.

use lottery::run::layerwise::LayerwiseSettings;
use lottery::run::RunConfig;
use lottery::solver::layer::{LayerSolver, SolverSettings};
use lottery::zoo::{Method, Settings};

fn source(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The rows of a module's docs table: the backticked names in the first cell of each `//! |`
/// line.
fn table_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("//! | "))
        .filter_map(|row| row.split(" | ").next())
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn names_are_unique_parse_back_and_the_docs_name_every_entry() {
    let methods: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
    let mut unique = methods.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), methods.len(), "{methods:?}");
    assert_eq!(Method::NAMES, methods.as_slice());
    for m in Method::ALL {
        assert_eq!(m.as_str().parse::<Method>().unwrap(), m);
        assert_eq!(m.family().is_some(), m.spec().prune, "{m}");
    }
    // The refusal of a budget names the methods that take it, or says whose budget it is.
    use lottery::select::budget::Structure;
    let takers = Method::takers(Structure::NofM { n: 2, m: 4 });
    assert!(
        takers.contains("gradual") && !takers.contains("supermask"),
        "{takers}"
    );
    assert!(Method::takers(Structure::Row).contains("lottery prune layerwise"));
    let e = "magic".parse::<Method>().unwrap_err().to_string();
    assert!(
        e.contains("unknown method `magic`") && e.contains("gradual"),
        "{e}"
    );
    let zoo = table_names(&source("src/zoo/mod.rs"));
    for m in Method::prune_methods() {
        assert!(
            zoo.iter().any(|n| n == m.as_str()),
            "src/zoo/mod.rs's table does not name `{m}`"
        );
    }
    let solvers: Vec<&str> = LayerSolver::ALL.iter().map(|s| s.name()).collect();
    let mut unique = solvers.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), solvers.len(), "{solvers:?}");
    let layer = table_names(&source("src/solver/layer/mod.rs"));
    for s in LayerSolver::ALL {
        assert_eq!(s.name().parse::<LayerSolver>().unwrap(), s);
        assert!(
            layer.iter().any(|n| n == s.name()),
            "src/solver/layer/mod.rs's table does not name `{}`",
            s.name()
        );
    }
}

/// Every key a method file declares is a run-config key, set to its declared default it leaves
/// the preset's config (and its run name) unchanged, and no two files declare the same key.
#[test]
fn every_declared_key_is_a_config_key_at_its_default() {
    let keys = Settings::keys();
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "a key declared twice: {keys:?}");
    let cfg = RunConfig::preset("lenet300-lth").unwrap();
    let table = toml::Table::try_from(&cfg).unwrap();
    for k in &keys {
        let v = table
            .get(*k)
            .unwrap_or_else(|| panic!("`{k}` is declared but not a config key"));
        let mut c = cfg.clone();
        let text = match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        c.set(k, &text).unwrap();
        assert_eq!(c.hash().unwrap(), cfg.hash().unwrap(), "{k}");
    }
    // The layerwise settings: every key (the solvers' included) is accepted, at its default
    // the settings serialize as the defaults do (directory names do not move).
    let d = LayerwiseSettings::default();
    let json = serde_json::to_value(&d).unwrap();
    for k in SolverSettings::keys() {
        assert!(LayerwiseSettings::keys().contains(&k), "{k}");
        assert!(json.get(k).is_none(), "{k} is serialized at its default");
        let bad = d
            .clone()
            .with(&[(k.to_string(), toml::Value::Integer(0))])
            .and_then(|s| s.check().map(|()| s));
        assert!(bad.is_err(), "{k} = 0 accepted");
    }
    let e = d
        .with(&[("solver".into(), toml::Value::String("magic".into()))])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown layerwise solver `magic`") && e.contains("wanda"),
        "{e}"
    );
}
