//! `.npy` designs and responses: the reader behind `lottery solve --design/--response`.
//! Any input is decoded or refused with a one-line reason; nothing panics, nothing is
//! allocated from an unchecked header.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for r in [
        lottery::io::decode_npy::<ndarray::Ix2>(data).map(|a| a.len()),
        lottery::io::decode_npy::<ndarray::Ix1>(data).map(|a| a.len()),
    ] {
        match r {
            Ok(n) => assert!(n * 8 <= data.len()),
            Err(reason) => assert!(!reason.contains('\n'), "{reason}"),
        }
    }
});
