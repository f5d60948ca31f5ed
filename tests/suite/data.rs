// Datasets: the synthetic generators' geometry and seeding, spec parsing, the split, standardisation, and
// the CSV loader's good path and every error it reports (each naming the file and line).

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use vanish::data::{DataError, Dataset, DatasetSpec, load, split, standardize};

fn circles(samples: usize, noise: f64, factor: f64, seed: u64) -> Dataset {
    load(&DatasetSpec::Circles { samples, noise, factor }, seed).unwrap()
}

/// How many rows of each class, `[classes]`.
fn class_counts(d: &Dataset) -> Vec<usize> {
    let mut counts = vec![0; d.classes];
    for &c in &d.y {
        counts[c as usize] += 1;
    }
    counts
}

/// The radius of each row of a 2-D dataset, `[n]`.
fn radii(d: &Dataset) -> Vec<f64> {
    (0..d.len()).map(|i| (d.row(i)[0] as f64).hypot(d.row(i)[1] as f64)).collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn std(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

/// Shape invariants every dataset must hold.
fn assert_well_formed(d: &Dataset, n: usize, features: usize, classes: usize) {
    assert_eq!(d.len(), n);
    assert_eq!(d.x.len(), n * features);
    assert_eq!(d.features, features);
    assert_eq!(d.feature_names.len(), features);
    assert_eq!(d.classes, classes);
    assert_eq!(d.class_names.len(), classes);
    assert!(d.y.iter().all(|&c| (c as usize) < classes));
    assert!(d.x.iter().all(|v| v.is_finite()));
}

// ---- circles ----

#[test]
fn circles_are_balanced_with_sklearn_names() {
    let d = circles(1000, 0.1, 0.85, 1);
    assert_well_formed(&d, 1000, 2, 2);
    assert_eq!(class_counts(&d), [500, 500]);
    assert_eq!(d.class_names, ["0", "1"]);
    assert_eq!(d.feature_names, ["x0", "x1"]);
    // Odd n: the outer ring gets n/2, the inner the rest, as make_circles.
    assert_eq!(class_counts(&circles(1001, 0.1, 0.85, 1)), [500, 501]);
}

#[test]
fn circles_radii_and_noise_match_the_spec() {
    let (noise, factor) = (0.1, 0.85);
    let d = circles(4000, noise, factor, 3);
    let r = radii(&d);
    let radius = |c: u32| if c == 0 { 1.0 } else { factor };
    for c in [0, 1] {
        let rc: Vec<f64> = (0..d.len()).filter(|&i| d.y[i] == c).map(|i| r[i]).collect();
        // The mean radius is biased up by ≈ noise²/(2R) ≈ 0.006 and has a standard error of
        // noise/√2000 ≈ 0.002; 0.02 covers both with room, yet rejects a wrong ring (1 vs 0.85).
        assert!((mean(&rc) - radius(c)).abs() < 0.02, "class {c}: mean radius {}", mean(&rc));
    }
    // For noise ≪ R the radial residual r − R is the noise's radial component, N(0, noise²). The
    // estimate's standard error is noise/√(2n) ≈ 0.001; allow 10 %.
    let residuals: Vec<f64> = (0..d.len()).map(|i| r[i] - radius(d.y[i])).collect();
    let measured = std(&residuals);
    assert!((measured - noise).abs() < 0.01, "radial noise std {measured}, want {noise}");
}

#[test]
fn circles_without_noise_lie_exactly_on_evenly_spaced_points() {
    let d = circles(21, 0.0, 0.5, 9);
    for (i, r) in radii(&d).into_iter().enumerate() {
        let want = if d.y[i] == 0 { 1.0 } else { 0.5 };
        assert!((r - want).abs() < 1e-6, "row {i} class {}: radius {r}", d.y[i]);
    }
    // Class 0 (10 points) at angles 2πk/10, endpoint excluded.
    let mut angles: Vec<f64> = (0..d.len())
        .filter(|&i| d.y[i] == 0)
        .map(|i| (d.row(i)[1] as f64).atan2(d.row(i)[0] as f64).rem_euclid(2.0 * PI))
        .collect();
    angles.sort_by(f64::total_cmp);
    assert_eq!(angles.len(), 10);
    for (k, a) in angles.iter().enumerate() {
        let want = 2.0 * PI * k as f64 / 10.0;
        // A tiny negative angle wraps to just below 2π, so compare on the circle.
        let diff = (a - want).rem_euclid(2.0 * PI);
        assert!(diff.min(2.0 * PI - diff) < 1e-5, "angle {k}: {a} vs {want}");
    }
}

#[test]
fn circles_rows_are_shuffled() {
    let d = circles(200, 0.0, 0.5, 4);
    // Unshuffled, the first 100 rows would all be class 0.
    let first_half_zeros = d.y[..100].iter().filter(|&&c| c == 0).count();
    assert!((30..=70).contains(&first_half_zeros), "{first_half_zeros} of the first 100 are class 0");
}

#[test]
fn same_seed_same_data_different_seed_different_data() {
    for spec in [
        DatasetSpec::Circles { samples: 300, noise: 0.1, factor: 0.85 },
        DatasetSpec::Moons { samples: 300, noise: 0.1 },
        DatasetSpec::Xor { samples: 300, noise: 0.1 },
        DatasetSpec::Spirals { samples: 300, noise: 0.1, classes: 3 },
        DatasetSpec::Blobs { samples: 300, noise: 1.0, classes: 3 },
    ] {
        let a = load(&spec, 42).unwrap();
        assert_eq!(a, load(&spec, 42).unwrap(), "{spec:?}: same seed");
        let b = load(&spec, 43).unwrap();
        assert_ne!(a.x, b.x, "{spec:?}: different seed, same x");
    }
}

// ---- moons, xor, spirals, blobs ----

#[test]
fn moons_without_noise_lie_on_their_half_circles() {
    let d = load(&DatasetSpec::Moons { samples: 101, noise: 0.0 }, 5).unwrap();
    assert_well_formed(&d, 101, 2, 2);
    assert_eq!(class_counts(&d), [50, 51]);
    for i in 0..d.len() {
        let [x, y] = [d.row(i)[0] as f64, d.row(i)[1] as f64];
        let (r, upper) = match d.y[i] {
            0 => (x.hypot(y), y >= -1e-6),                    // upper unit half circle
            _ => ((x - 1.0).hypot(y - 0.5), y <= 0.5 + 1e-6), // lower half circle about (1, 0.5)
        };
        assert!((r - 1.0).abs() < 1e-6 && upper, "row {i} class {}: ({x}, {y})", d.y[i]);
    }
}

#[test]
fn moons_with_noise_have_the_right_shape() {
    let d = load(&DatasetSpec::Moons { samples: 1000, noise: 0.1 }, 5).unwrap();
    assert_well_formed(&d, 1000, 2, 2);
    assert_eq!(class_counts(&d), [500, 500]);
    // Noise moves points off the exact curve.
    assert!(radii(&d).iter().zip(&d.y).any(|(r, &c)| c == 0 && (r - 1.0).abs() > 0.05));
}

#[test]
fn xor_labels_follow_the_quadrants() {
    let d = load(&DatasetSpec::Xor { samples: 2000, noise: 0.0 }, 6).unwrap();
    assert_well_formed(&d, 2000, 2, 2);
    for i in 0..d.len() {
        let [x, y] = [d.row(i)[0], d.row(i)[1]];
        assert!(x.abs() <= 1.0 && y.abs() <= 1.0, "row {i} outside [-1, 1]²");
        assert_eq!(d.y[i], u32::from((x > 0.0) != (y > 0.0)), "row {i}: ({x}, {y})");
    }
    let counts = class_counts(&d);
    assert!(counts.iter().all(|&c| (900..=1100).contains(&c)), "unbalanced: {counts:?}");
}

#[test]
fn xor_noise_is_added_after_labelling() {
    let d = load(&DatasetSpec::Xor { samples: 2000, noise: 0.1 }, 6).unwrap();
    let agree = (0..d.len()).filter(|&i| d.y[i] == u32::from((d.row(i)[0] > 0.0) != (d.row(i)[1] > 0.0))).count();
    // Points within ~0.1 of an axis may cross it (about 8 % of them); the rest keep their label.
    assert!(agree < d.len(), "noise crossed no axis");
    assert!(agree > d.len() * 85 / 100, "only {agree} agree with the quadrant rule");
}

#[test]
fn spirals_without_noise_follow_the_documented_arms() {
    let k = 3;
    let d = load(&DatasetSpec::Spirals { samples: 301, noise: 0.0, classes: k }, 7).unwrap();
    assert_well_formed(&d, 301, 2, k);
    assert_eq!(class_counts(&d), [101, 100, 100]);
    // Point = r·(cos θ, sin θ) with θ = 2πc/k + 4πr, r in [0, 1].
    for (i, r) in radii(&d).into_iter().enumerate() {
        assert!(r <= 1.0 + 1e-6, "row {i}: radius {r}");
        let t = 2.0 * PI * d.y[i] as f64 / k as f64 + 4.0 * PI * r;
        let [x, y] = [d.row(i)[0] as f64, d.row(i)[1] as f64];
        assert!((x - r * t.cos()).abs() < 1e-5 && (y - r * t.sin()).abs() < 1e-5, "row {i}");
    }
    let noisy = load(&DatasetSpec::Spirals { samples: 400, noise: 0.1, classes: 2 }, 7).unwrap();
    assert_well_formed(&noisy, 400, 2, 2);
    assert_eq!(class_counts(&noisy), [200, 200]);
}

#[test]
fn blobs_are_balanced_gaussians_around_centres_in_the_box() {
    let (k, noise) = (4, 1.0);
    let d = load(&DatasetSpec::Blobs { samples: 4002, noise, classes: k }, 8).unwrap();
    assert_well_formed(&d, 4002, 2, k);
    assert_eq!(d.class_names, ["0", "1", "2", "3"]);
    assert_eq!(class_counts(&d), [1001, 1001, 1000, 1000]);
    let mut centres = Vec::new();
    for c in 0..k as u32 {
        for axis in 0..2 {
            let v: Vec<f64> = (0..d.len()).filter(|&i| d.y[i] == c).map(|i| d.row(i)[axis] as f64).collect();
            // Standard error of the mean ≈ 1/√1000 ≈ 0.03; of the std ≈ 0.02.
            assert!(mean(&v).abs() < 10.2, "class {c} axis {axis}: centre {}", mean(&v));
            assert!((std(&v) - noise).abs() < 0.1, "class {c} axis {axis}: std {}", std(&v));
            centres.push(mean(&v));
        }
    }
    // Four centres drawn uniformly are not all the same point.
    assert!(centres.chunks(2).any(|c| (c[0] - centres[0]).abs() > 0.5));
}

// ---- spec parsing and validation ----

#[test]
fn parse_applies_each_datasets_default_noise() {
    let p = |name: &str| DatasetSpec::parse(name, 100, None, 0.85, 2, None).unwrap();
    assert_eq!(p("circles"), DatasetSpec::Circles { samples: 100, noise: 0.1, factor: 0.85 });
    assert_eq!(p("moons"), DatasetSpec::Moons { samples: 100, noise: 0.1 });
    assert_eq!(p("xor"), DatasetSpec::Xor { samples: 100, noise: 0.1 });
    assert_eq!(p("spirals"), DatasetSpec::Spirals { samples: 100, noise: 0.1, classes: 2 });
    assert_eq!(p("blobs"), DatasetSpec::Blobs { samples: 100, noise: 1.0, classes: 2 });
    let given = DatasetSpec::parse("blobs", 100, Some(0.3), 0.85, 5, None).unwrap();
    assert_eq!(given, DatasetSpec::Blobs { samples: 100, noise: 0.3, classes: 5 });
    let csv = DatasetSpec::parse("csv:data/iris.csv", 0, None, 0.0, 0, Some("y".into())).unwrap();
    assert_eq!(csv, DatasetSpec::Csv { path: "data/iris.csv".into(), label: Some("y".into()), delimiter: None });
}

#[test]
fn name_round_trips_through_parse() {
    for name in ["circles", "moons", "xor", "spirals", "blobs", "csv:some dir/a.csv"] {
        let spec = DatasetSpec::parse(name, 50, None, 0.5, 3, None).unwrap();
        assert_eq!(spec.name(), name);
    }
}

#[test]
fn parse_rejects_bad_knobs_with_a_message_naming_the_problem() {
    let p = |name, samples, noise, factor, classes| DatasetSpec::parse(name, samples, noise, factor, classes, None);
    for (result, word) in [
        (p("squares", 100, None, 0.5, 2), "squares"),
        (p("circles", 1, None, 0.5, 2), "samples"),
        (p("moons", 0, None, 0.5, 2), "samples"),
        (p("circles", 100, None, 1.0, 2), "factor"),
        (p("circles", 100, None, 0.0, 2), "factor"),
        (p("xor", 100, Some(-0.1), 0.5, 2), "noise"),
        (p("spirals", 100, None, 0.5, 1), "classes"),
        (p("blobs", 3, None, 0.5, 4), "classes"),
        (DatasetSpec::parse("moons", 100, None, 0.5, 2, Some("y".into())), "label"),
    ] {
        let e = result.expect_err(&format!("should fail on {word}"));
        assert!(e.to_string().contains(word), "`{e}` should mention {word}");
    }
    assert!(DatasetSpec::parse("xor", 100, Some(f64::NAN), 0.5, 2, None).is_err());
    assert!(DatasetSpec::parse("csv:", 100, None, 0.5, 2, None).is_err());
}

#[test]
fn load_validates_hand_built_specs() {
    let e = load(&DatasetSpec::Circles { samples: 100, noise: 0.1, factor: 1.5 }, 0).unwrap_err();
    assert!(matches!(e, DataError::InvalidParameter { .. }), "{e:?}");
}

// ---- Dataset helpers, split and standardisation ----

/// `n` rows whose single feature is the row's index, so rows can be traced through a split.
fn numbered(n: usize) -> Dataset {
    Dataset {
        x: (0..n).map(|i| i as f32).collect(),
        y: (0..n).map(|i| (i % 2) as u32).collect(),
        features: 1,
        classes: 2,
        feature_names: vec!["id".into()],
        class_names: vec!["0".into(), "1".into()],
    }
}

#[test]
fn dataset_helpers_index_rows() {
    let d = load(&DatasetSpec::Moons { samples: 10, noise: 0.1 }, 1).unwrap();
    assert_eq!(d.row(3), &d.x[6..8]);
    assert_eq!(d.labels_f32(), d.y.iter().map(|&c| c as f32).collect::<Vec<_>>());
    let s = d.subset(&[4, 1]);
    assert_eq!((s.len(), s.is_empty()), (2, false));
    assert_eq!(s.row(0), d.row(4));
    assert_eq!(s.y, [d.y[4], d.y[1]]);
    assert_eq!((s.classes, &s.class_names), (d.classes, &d.class_names));
    assert!(d.subset(&[]).is_empty());
}

#[test]
fn split_sizes_follow_train_test_split() {
    let d = circles(1000, 0.1, 0.85, 0);
    let (train, test) = split(&d, 0.33, 0).unwrap();
    assert_eq!((train.len(), test.len()), (670, 330));
    // ceil: 10 rows at 0.25 give 3 test rows, not 2.
    let (train, test) = split(&numbered(10), 0.25, 0).unwrap();
    assert_eq!((train.len(), test.len()), (7, 3));
}

#[test]
fn split_uses_every_row_exactly_once_and_is_seeded() {
    let d = numbered(1000);
    let (train, test) = split(&d, 0.33, 11).unwrap();
    let mut ids: Vec<f32> = train.x.iter().chain(&test.x).copied().collect();
    ids.sort_by(f32::total_cmp);
    assert_eq!(ids, d.x, "every row once across train and test");
    // Labels travel with their rows.
    assert!(train.x.iter().zip(&train.y).all(|(&id, &c)| c == id as u32 % 2));
    // The test rows are a random sample, not the first or last rows.
    assert!(test.x.iter().any(|&id| id < 500.0) && test.x.iter().any(|&id| id >= 500.0));
    assert_eq!(split(&d, 0.33, 11).unwrap(), (train.clone(), test.clone()));
    assert_ne!(split(&d, 0.33, 12).unwrap().1.x, test.x);
}

#[test]
fn split_rejects_bad_fractions_and_empty_parts() {
    let d = numbered(10);
    for f in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
        let e = split(&d, f, 0).expect_err(&format!("fraction {f}"));
        assert!(e.to_string().contains("fraction"), "{e}");
    }
    // ceil(0.95·10) = 10 leaves no training row; one row cannot make two sets.
    assert!(matches!(split(&d, 0.95, 0), Err(DataError::Split(_))));
    assert!(matches!(split(&numbered(1), 0.5, 0), Err(DataError::Split(_))));
    assert!(split(&numbered(2), 0.01, 0).is_ok());
}

#[test]
fn standardize_uses_train_statistics_for_both_sets() {
    let d = load(&DatasetSpec::Blobs { samples: 1000, noise: 2.0, classes: 3 }, 2).unwrap();
    let (mut train, mut test) = split(&d, 0.25, 2).unwrap();
    let (raw_train, raw_test) = (train.clone(), test.clone());
    standardize(&mut train, &mut test);
    for j in 0..2 {
        let col = |s: &Dataset| (0..s.len()).map(|i| s.row(i)[j] as f64).collect::<Vec<_>>();
        // f32 storage limits these to about 1e-6.
        assert!(mean(&col(&train)).abs() < 1e-5, "feature {j}: mean {}", mean(&col(&train)));
        assert!((std(&col(&train)) - 1.0).abs() < 1e-5, "feature {j}: std {}", std(&col(&train)));
        // The test rows are moved by the training statistics, not their own.
        let (m, s) = (mean(&col(&raw_train)), std(&col(&raw_train)));
        for (got, raw) in col(&test).iter().zip(col(&raw_test)) {
            assert!((got - (raw - m) / s).abs() < 1e-5, "feature {j}: {got} vs {raw}");
        }
    }
}

#[test]
fn standardize_only_centres_a_constant_feature() {
    let make = |x: Vec<f32>| Dataset {
        x,
        y: vec![0, 1, 0],
        features: 2,
        classes: 2,
        feature_names: vec!["a".into(), "b".into()],
        class_names: vec!["0".into(), "1".into()],
    };
    let mut train = make(vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0]);
    let mut test = make(vec![4.0, 7.0, 2.0, 5.0, 0.0, 3.0]);
    standardize(&mut train, &mut test);
    // Feature a: mean 2, population std √(2/3), so one unit is 1/√(2/3) = √1.5 standard deviations
    // (rounded once to f32, as standardize does). Feature b: constant 5, so only shifted by 5.
    let k = 1.5f64.sqrt() as f32;
    assert_eq!(train.x, [-k, 0.0, 0.0, 0.0, k, 0.0]);
    assert_eq!(test.x, [2.0 * k, 2.0, 0.0, 0.0, -2.0 * k, -2.0]);
}

// ---- CSV ----

/// Write `contents` to `name` in a fresh temporary directory; keep the directory alive with the path.
fn csv_file(name: &str, contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

fn load_csv(path: &Path, label: Option<&str>) -> Result<Dataset, DataError> {
    load(&DatasetSpec::Csv { path: path.into(), label: label.map(String::from), delimiter: None }, 0)
}

/// Loading `contents` fails with a CSV error at `line` whose message also contains each of `words`.
fn assert_csv_error(contents: &str, label: Option<&str>, line: usize, words: &[&str]) {
    let (_dir, path) = csv_file("input.csv", contents);
    let e = load_csv(&path, label).expect_err(&format!("{contents:?} should fail"));
    let message = e.to_string();
    let at = format!("{}:{line}:", path.display());
    assert!(message.starts_with(&at), "`{message}` should start with `{at}`");
    assert!(matches!(e, DataError::Csv { line: l, .. } if l == line), "{e:?}");
    for word in words {
        assert!(message.contains(word), "`{message}` should mention `{word}`");
    }
}

#[test]
fn csv_with_string_labels_loads() {
    let text = " sepal , petal,species\r\n1.5, 2 ,setosa\r\n\r\n3,4e0,virginica\r\n-5,6, setosa";
    let (_dir, path) = csv_file("iris.csv", text);
    let d = load_csv(&path, None).unwrap();
    assert_well_formed(&d, 3, 2, 2);
    assert_eq!(d.x, [1.5, 2.0, 3.0, 4.0, -5.0, 6.0]);
    assert_eq!(d.y, [0, 1, 0]);
    assert_eq!(d.feature_names, ["sepal", "petal"]);
    assert_eq!(d.class_names, ["setosa", "virginica"]);
}

/// Files as other tools write them: every field quoted (`pandas.to_csv(quoting=QUOTE_ALL)`), quoted
/// names holding the delimiter, `;` (European spreadsheets) and tab (`.tsv`) delimiters.
#[test]
fn csv_with_quotes_and_other_delimiters_loads() {
    let want_x = [1.0, 2.0, 3.5, -4.0];
    let cases: [(&str, &str, Option<&str>); 4] = [
        ("q.csv", "\"a\",\"b, c\",\"label\"\n\"1.0\",\"2.0\",\"yes\"\n\"3.5\",\"-4\",\"no\"\n", None),
        ("semi.csv", "a;b, c;label\n1;2;yes\n3.5;-4;no\n", Some(";")),
        ("tabs.tsv", "a\tb, c\tlabel\n1\t2\tyes\n3.5\t-4\tno\n", None),
        ("tabs.txt", "a\tb, c\tlabel\n1\t2\tyes\n3.5\t\"-4\"\tno\n", Some("tab")),
    ];
    for (name, text, delimiter) in cases {
        let (_dir, path) = csv_file(name, text);
        let spec = DatasetSpec::parse(&format!("csv:{}", path.display()), 0, None, 0.0, 0, None)
            .unwrap()
            .with_delimiter(delimiter)
            .unwrap();
        let d = load(&spec, 0).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.x, want_x, "{name}");
        assert_eq!(d.feature_names, ["a", "b, c"], "{name}");
        assert_eq!(d.class_names, ["no", "yes"], "{name}");
        assert_eq!(d.y, [1, 0], "{name}");
    }
}

#[test]
fn csv_decimal_commas_and_a_missed_delimiter_are_errors_that_say_so() {
    // `1,0` (a decimal comma) is refused, not misread as 1 or 10.
    let (_dir, path) = csv_file("semi.csv", "a;b;label\n1,0;2;yes\n3.5;-4;no\n");
    let semi = DatasetSpec::Csv { path: path.clone(), label: None, delimiter: Some(b';') };
    let e = load(&semi, 0).unwrap_err().to_string();
    assert!(e.contains(":2:") && e.contains("column 1 `a`") && e.contains("`1,0` is not a number"), "{e}");
    let (_dir2, path) = csv_file("semi.csv", "a;b;label\n1;2;yes\n3.5;-4;no\n");
    let e = load_csv(&path, None).unwrap_err().to_string();
    assert!(e.contains(":1:") && e.contains("--delimiter ';'"), "{e}");
    let e = DatasetSpec::parse("circles", 100, None, 0.5, 2, None).unwrap().with_delimiter(Some(";")).unwrap_err();
    assert!(e.to_string().contains("--delimiter `;` applies only to csv"), "{e}");
    let e = DatasetSpec::parse("csv:x.csv", 0, None, 0.0, 0, None).unwrap().with_delimiter(Some("ab")).unwrap_err();
    assert!(e.to_string().contains("one ASCII character"), "{e}");
}

#[test]
fn csv_label_column_by_name_with_numeric_labels_sorted_numerically() {
    let (_dir, path) = csv_file("n.csv", "a,grade,b\n1,10,2\n3,2,4\n5,9,6\n7,2,8\n");
    let d = load_csv(&path, Some("grade")).unwrap();
    assert_well_formed(&d, 4, 2, 3);
    assert_eq!(d.feature_names, ["a", "b"]);
    assert_eq!(d.x, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    assert_eq!(d.class_names, ["2", "9", "10"]);
    assert_eq!(d.y, [2, 0, 1, 0]);
}

#[test]
fn csv_empty_file_is_an_error() {
    assert_csv_error("", None, 1, &["empty"]);
    assert_csv_error("\n  \r\n\n", None, 1, &["empty"]);
}

#[test]
fn csv_header_only_is_an_error() {
    assert_csv_error("a,b,label\n", None, 1, &["no data rows"]);
    assert_csv_error("\n\na,b,label\n\n", None, 3, &["no data rows"]);
}

#[test]
fn csv_ragged_row_is_an_error() {
    assert_csv_error("a,b,label\n1,2,x\n3,y\n", None, 3, &["ragged", "2 cells", "3"]);
    // Blank lines are counted, so the number is the one an editor shows.
    assert_csv_error("a,b,label\n1,2,x\n\n\n3,4,5,y\n", None, 5, &["ragged", "4 cells"]);
}

#[test]
fn csv_non_numeric_feature_is_an_error() {
    assert_csv_error("a,b,label\n1,2,x\n3,abc,y\n", None, 3, &["`b`", "abc", "not a number"]);
    assert_csv_error("a,b,label\n1,,x\n", None, 2, &["`b`", "not a number"]);
}

#[test]
fn csv_nan_and_inf_features_are_errors() {
    assert_csv_error("a,b,label\n1,2,x\nNaN,2,y\n", None, 3, &["`a`", "NaN", "finite"]);
    assert_csv_error("a,b,label\n1,inf,x\n", None, 2, &["`b`", "inf", "finite"]);
    assert_csv_error("a,b,label\n1,-Infinity,x\n", None, 2, &["`b`", "-Infinity"]);
    // Out of f32 range parses to infinity.
    assert_csv_error("a,b,label\n1,2,x\n1e39,2,y\n", None, 3, &["`a`", "1e39"]);
}

#[test]
fn csv_missing_label_column_lists_the_columns() {
    assert_csv_error("a,b,label\n1,2,x\n", Some("class"), 1, &["`class`", "`a`, `b`, `label`"]);
}

#[test]
fn csv_with_fewer_than_two_classes_is_an_error() {
    assert_csv_error("a,label\n1,x\n2,x\n", None, 1, &["`label`", "`x`", "two"]);
}

#[test]
fn csv_header_problems_are_errors() {
    assert_csv_error("a,a,label\n1,2,x\n", None, 1, &["`a`", "twice"]);
    assert_csv_error("label\nx\ny\n", None, 1, &["feature"]);
    assert_csv_error("a,label\n1,\n2,y\n", None, 2, &["`label`", "empty label"]);
}

#[test]
fn csv_unreadable_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    for path in [dir.path().join("missing.csv"), dir.path().to_path_buf()] {
        let e = load_csv(&path, None).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e:?}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }
}
