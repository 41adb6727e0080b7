//! Run configurations: TOML files (`--config`) and `--set KEY=VALUE` overrides. Any text is
//! a valid configuration or a one-line error; an accepted one passes validation and
//! round-trips through its TOML.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lottery::run::RunConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for preset in [None, Some("lenet300-lth")] {
        match RunConfig::from_toml(text, preset) {
            Ok(cfg) => {
                cfg.validate().expect("an accepted config is valid");
                let again = RunConfig::from_toml(&cfg.to_toml(), None).expect("round trip");
                assert_eq!(again, cfg);
                cfg.hash().expect("an accepted config has a name");
            }
            Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
        }
    }
    // The same text as --set lines.
    let mut cfg = RunConfig::preset("lenet300-lth").unwrap();
    for line in text.lines().take(4) {
        if let Some((k, v)) = line.split_once('=') {
            let before = cfg.clone();
            match cfg.set(k.trim(), v.trim()) {
                Ok(()) => {}
                Err(e) => {
                    assert!(!e.to_string().contains('\n'), "{e}");
                    assert_eq!(cfg, before, "a refused value left a change");
                }
            }
        }
    }
});
