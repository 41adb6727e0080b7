//! `run.json`, a run's identity: parsed, its digest checked, compared with a request.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lottery::run::identity::{differences, digest, settings_of, Identity};
use lottery::run::RunConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(id) = serde_json::from_slice::<Identity>(data) else {
        return;
    };
    let _ = digest(&id.settings) == id.settings_sha256;
    let cfg = RunConfig::preset("lenet300-lth").unwrap();
    let request = settings_of(&cfg).unwrap();
    for d in differences(&id.settings, &request, &request) {
        assert!(!d.to_string().contains('\n'), "{d}");
    }
});
