//! Sweep files: any text is a sweep or a one-line error; an accepted sweep has as many cells as
//! its grid's product, each cell reachable by its index (what `--cell I` does), and every cell resolves to a valid run configuration or a one-line error naming it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lottery::run::sweep::Sweep;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Sweep::parse(text) {
        Ok(s) => {
            // Expanding a huge grid is legitimate but slow: look at the first cells only.
            let n = s.len();
            assert!((1..=lottery::run::sweep::MAX_CELLS).contains(&n));
            for i in 0..n.min(64) {
                let c = s.cell(i).expect("an index below len is a cell");
                assert_eq!(c.index, i);
                match c.resolve() {
                    Ok(r) => r.config.validate().expect("a resolved cell is valid"),
                    Err(e) => {
                        let e = e.to_string();
                        assert!(!e.contains('\n'), "{e}");
                        assert!(e.contains(&format!("cell {i} (")), "{e}");
                    }
                }
            }
            assert!(s.cell(n).is_err());
            if n <= 64 {
                let all = s.cells();
                assert_eq!(all.len(), n);
                for (i, c) in all.iter().enumerate() {
                    assert_eq!(*c, s.cell(i).unwrap());
                }
            }
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
});
