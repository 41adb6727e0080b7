//! Dataset readers and helpers: IDX (.gz and raw), CIFAR-10 binary, the real Fashion-MNIST
//! package, validation split, normalization, checkpointable batch order, planted teacher.

use std::io::Write;
use std::path::Path;

use lottery::data::{self, cifar, idx, teacher::TeacherParams, Batcher, Split};
use lottery::Error;

fn write_gz(path: &Path, bytes: &[u8]) {
    let f = std::fs::File::create(path).unwrap();
    let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap();
}

fn tiny_mnist(dir: &Path, n: usize, gz: bool) -> (Vec<u8>, Vec<u8>) {
    let images: Vec<u8> = (0..n * 4 * 3).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    for (stem, bytes) in [
        ("train-images-idx3-ubyte", idx::encode(&[n, 4, 3], &images)),
        ("train-labels-idx1-ubyte", idx::encode(&[n], &labels)),
    ] {
        if gz {
            write_gz(&dir.join(format!("{stem}.gz")), &bytes);
        } else {
            std::fs::write(dir.join(stem), bytes).unwrap();
        }
    }
    (images, labels)
}

#[test]
fn idx_round_trips_gz_and_raw() {
    for gz in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = tiny_mnist(dir.path(), 7, gz);
        let ds = data::load_mnist(dir.path(), Split::Train).unwrap();
        assert_eq!(ds.len(), 7);
        assert_eq!(ds.shape, [1, 4, 3]);
        assert_eq!(ds.y, labels);
        let back: Vec<u8> = ds.x.iter().map(|v| (v * 255.0).round() as u8).collect();
        assert_eq!(back, images);
    }
}

#[test]
fn malformed_idx_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    tiny_mnist(dir.path(), 5, false);
    let img = dir.path().join("train-images-idx3-ubyte");
    let full = std::fs::read(&img).unwrap();
    std::fs::write(&img, &full[..full.len() - 3]).unwrap();
    let err = data::load_mnist(dir.path(), Split::Train).unwrap_err();
    assert!(
        matches!(&err, Error::Format { path, .. } if path == &img),
        "{err}"
    );
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(err.to_string().lines().count() == 1);
    // Wrong element type, trailing bytes, a corrupt gzip stream, a wrong label count.
    let mut wrong_type = full.clone();
    wrong_type[2] = 0x0d;
    assert!(idx::parse(&wrong_type)
        .unwrap_err()
        .contains("unsupported IDX element type"));
    let mut trailing = full.clone();
    trailing.push(0);
    assert!(idx::parse(&trailing).unwrap_err().contains("trailing"));
    std::fs::write(&img, [0x1f, 0x8b, 0, 1, 2, 3]).unwrap();
    assert!(data::load_mnist(dir.path(), Split::Train)
        .unwrap_err()
        .to_string()
        .contains("gzip"));
    std::fs::write(&img, &full).unwrap();
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx::encode(&[4], &[1, 2, 3, 4]),
    )
    .unwrap();
    assert!(data::load_mnist(dir.path(), Split::Train).is_err());
}

#[test]
fn real_fashion_mnist_from_the_debian_package() {
    let dir = Path::new(data::FASHION_MNIST_DIR);
    assert!(
        dir.is_dir(),
        "install Debian's dataset-fashion-mnist (bash .ci/setup does)"
    );
    let train = data::load_mnist(dir, Split::Train).unwrap();
    let test = data::load_mnist(dir, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (60000, 10000));
    assert_eq!(train.shape, [1, 28, 28]);
    for c in 0..10u8 {
        assert_eq!(
            train.y.iter().filter(|&&l| l == c).count(),
            6000,
            "class {c}"
        );
    }
    let (mean, std) = train.channel_stats();
    assert!(
        (mean[0] - 0.286).abs() < 0.01 && (std[0] - 0.353).abs() < 0.01,
        "{mean:?} {std:?}"
    );
}

#[test]
fn cifar_binary_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for i in 0..3u8 {
        bytes.push(i);
        bytes.extend((0..3072).map(|p| ((p + usize::from(i)) % 256) as u8));
    }
    std::fs::write(dir.path().join("test_batch.bin"), &bytes).unwrap();
    let ds = cifar::read(&cifar::files(dir.path(), false)).unwrap();
    assert_eq!(
        (ds.len(), ds.shape, ds.y.clone()),
        (3, [3, 32, 32], vec![0, 1, 2])
    );
    assert!((ds.sample(1)[0] - 1.0 / 255.0).abs() < 1e-7);
    std::fs::write(dir.path().join("test_batch.bin"), &bytes[..bytes.len() - 1]).unwrap();
    let err = cifar::read(&cifar::files(dir.path(), false)).unwrap_err();
    assert!(
        err.to_string().contains("test_batch.bin") && err.to_string().contains("truncated"),
        "{err}"
    );
}

#[test]
fn validation_split_and_normalization() {
    let (train, _, _) = TeacherParams {
        input: 20,
        hidden: vec![8],
        n_train: 500,
        n_test: 10,
        ..Default::default()
    }
    .generate()
    .unwrap();
    let (tr, va) = train.split_validation(100, 3).unwrap();
    assert_eq!((tr.len(), va.len()), (400, 100));
    assert_eq!(train.split_validation(100, 3).unwrap().1, va, "seeded");
    assert_ne!(train.split_validation(100, 4).unwrap().1, va);
    // Disjoint and complete: every training sample appears exactly once.
    let mut all: Vec<Vec<u32>> =
        tr.x.chunks(20)
            .chain(va.x.chunks(20))
            .map(|s| s.iter().map(|v| v.to_bits()).collect())
            .collect();
    let mut orig: Vec<Vec<u32>> = train
        .x
        .chunks(20)
        .map(|s| s.iter().map(|v| v.to_bits()).collect())
        .collect();
    all.sort();
    orig.sort();
    assert_eq!(all, orig);
    let mut n = tr.clone();
    let (m, s) = tr.channel_stats();
    n.normalize(&m, &s);
    let (m2, s2) = n.channel_stats();
    assert!(m2[0].abs() < 1e-4 && (s2[0] - 1.0).abs() < 1e-3);
    assert!(train.split_validation(500, 0).is_err());
}

#[test]
fn batcher_resumes_exactly_and_covers_each_epoch() {
    let mut b = Batcher::new(103, 10, 9).unwrap();
    let mut seen = vec![0; 103];
    for _ in 0..b.batches_per_epoch() {
        for i in b.next_batch() {
            seen[i] += 1;
        }
    }
    assert!(seen.iter().all(|&c| c <= 1) && seen.iter().sum::<usize>() == 100);
    for _ in 0..3 {
        b.next_batch();
    }
    let saved = serde_json::to_string(&b).unwrap();
    let mut resumed: Batcher = serde_json::from_str(&saved).unwrap();
    for _ in 0..25 {
        assert_eq!(b.next_batch(), resumed.next_batch());
    }
    assert!(b.epoch >= 2);
}

#[test]
fn planted_teacher_has_the_requested_support() {
    let p = TeacherParams {
        input: 50,
        hidden: vec![30],
        classes: 5,
        density: 0.2,
        n_train: 2000,
        n_test: 100,
        seed: 4,
    };
    let (train, test, teacher) = p.generate().unwrap();
    assert_eq!(teacher.mask.group_sizes(), vec![1500, 150]);
    assert_eq!(teacher.mask.group_count(0), 300);
    assert_eq!(teacher.mask.group_count(1), 30);
    for (l, w) in teacher.weights.iter().enumerate() {
        let start = teacher.mask.group_range(l).start;
        for (i, v) in w.iter().enumerate() {
            assert_eq!(*v != 0.0, teacher.mask.contains(start + i));
        }
    }
    let classes: std::collections::BTreeSet<u8> = train.y.iter().copied().collect();
    assert!(classes.len() >= 4, "degenerate labels {classes:?}");
    assert_eq!(test.len(), 100);
    assert_eq!(p.generate().unwrap().0, train, "seeded");
}

/// MNIST-1D from the `.npy` files `scripts/mnist1d` writes (here generated): shape (1, 1, d),
/// labels checked; a missing directory names the script, a bad label or a mismatch the file.
#[test]
fn mnist1d_reads_the_npy_split_and_refuses_bad_files() {
    use lottery::data::mnist1d;
    use ndarray::{Array1, Array2};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let err = mnist1d::load(dir).unwrap_err().to_string();
    assert!(err.contains("scripts/mnist1d"), "{err}");
    let x = Array2::from_shape_fn((6, 40), |(i, j)| (i * 40 + j) as f64 / 100.0);
    let y = Array1::from_vec(vec![0.0, 1.0, 2.0, 9.0, 3.0, 4.0]);
    let [xtr, ytr, xte, yte] = mnist1d::files(dir);
    for (p, a) in [(&xtr, &x), (&xte, &x)] {
        lottery::io::write_matrix(p, a).unwrap();
    }
    for p in [&ytr, &yte] {
        lottery::io::write_vector(p, &y).unwrap();
    }
    let (train, test) = mnist1d::load(dir).unwrap();
    assert_eq!(train.shape, [1, 1, 40]);
    assert_eq!((train.len(), test.len(), train.classes), (6, 6, 10));
    assert_eq!(train.y, vec![0, 1, 2, 9, 3, 4]);
    assert_eq!(train.sample(1)[0], 0.4);
    // A label that is not a class, and features that do not match the labels.
    lottery::io::write_vector(&ytr, &Array1::from_vec(vec![0.0, 1.0, 2.5, 9.0, 3.0, 4.0])).unwrap();
    let err = mnist1d::load(dir).unwrap_err().to_string();
    assert!(
        err.contains("label 2.5") && err.contains("x_train.npy"),
        "{err}"
    );
    lottery::io::write_vector(&ytr, &Array1::from_vec(vec![0.0; 5])).unwrap();
    let err = mnist1d::load(dir).unwrap_err().to_string();
    assert!(
        err.contains("6 samples") && err.lines().count() == 1,
        "{err}"
    );
}

/// The narrow teacher's samples: regression targets are its outputs on the inputs (exactly, on
/// the noiseless test set), noise moves only the training targets (by about its level), the
/// labels are the outputs' argmax, and a seed reproduces everything.
#[test]
fn narrow_teacher_samples_carry_its_outputs_and_noise_only_in_training() {
    use lottery::data::teacher::{NarrowTeacherParams, Sampling};
    use ndarray::Array2;
    let teacher = NarrowTeacherParams::default().generate().unwrap();
    let sampling = |noise: f64| Sampling {
        n_train: 3000,
        n_test: 500,
        regression: true,
        noise,
        seed: 7,
    };
    let (train, test) = sampling(0.0).sample(&teacher).unwrap();
    assert_eq!((train.len(), test.len(), test.classes), (3000, 500, 10));
    let outputs = |d: &data::Dataset| {
        let x = Array2::from_shape_vec((d.len(), 200), d.x.clone()).unwrap();
        teacher.outputs(&x)
    };
    for d in [&train, &test] {
        let out = outputs(d);
        assert_eq!(d.targets.len(), d.len() * 10);
        for (t, o) in d.targets.iter().zip(out.iter()) {
            assert!((t - o).abs() < 1e-4, "target {t} against output {o}");
        }
        for (i, row) in out.rows().into_iter().enumerate() {
            let best = (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            assert_eq!(usize::from(d.y[i]), best);
        }
    }
    let (noisy, noisy_test) = sampling(0.5).sample(&teacher).unwrap();
    assert_eq!(noisy.x, train.x, "the same inputs");
    let dev: f64 = noisy
        .targets
        .iter()
        .zip(&train.targets)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum::<f64>()
        / noisy.targets.len() as f64;
    assert!(
        (dev.sqrt() - 0.5).abs() < 0.02,
        "noise level {}",
        dev.sqrt()
    );
    // The test set is noiseless: its targets are still exactly the outputs.
    let out = outputs(&noisy_test);
    assert!(noisy_test
        .targets
        .iter()
        .zip(out.iter())
        .all(|(t, o)| (t - o).abs() < 1e-4));
    assert_eq!(sampling(0.5).sample(&teacher).unwrap().0, noisy, "seeded");
    // A validation split carries the targets of the samples it takes.
    let (tr, va) = train.split_validation(100, 3).unwrap();
    assert_eq!((tr.targets.len(), va.targets.len()), (2900 * 10, 100 * 10));
    let first = (0..train.len())
        .find(|&i| train.sample(i) == va.sample(0))
        .unwrap();
    assert_eq!(
        &train.targets[first * 10..first * 10 + 10],
        &va.targets[..10]
    );
    assert!(Sampling {
        noise: f64::NAN,
        ..sampling(0.0)
    }
    .sample(&teacher)
    .is_err());
}
