//! IDX files (MNIST, Fashion-MNIST), plain or gzip.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match lottery::data::idx::decode(data) {
        Ok(idx) => assert_eq!(idx.data.len(), idx.dims.iter().product::<usize>()),
        Err(reason) => assert!(!reason.contains('\n'), "{reason}"),
    }
});
