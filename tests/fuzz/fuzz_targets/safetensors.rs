//! Safetensors files (initializations, masks, weights, checkpoints), parsed and checked
//! before any tensor is built.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match lottery::data::safetensors::parse(data) {
        Ok(st) => {
            for (_, view) in st.tensors() {
                assert!(view.data().len() <= data.len());
            }
        }
        Err(reason) => assert!(!reason.contains('\n'), "{reason}"),
    }
});
