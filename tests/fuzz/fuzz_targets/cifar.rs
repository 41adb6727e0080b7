//! CIFAR-10 binary batches.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match lottery::data::cifar::decode(data) {
        Ok((x, y)) => {
            assert_eq!(x.len(), y.len() * 3072);
            assert!(y.iter().all(|&l| l < 10));
            assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        }
        Err(reason) => assert!(!reason.contains('\n'), "{reason}"),
    }
});
