//! Safetensors interchange: `vanish grads` against the JAX fixtures on both engines, `train --save-init /
//! --save / --load` round trips, every malformed-file case ending in a clear error (never a panic), and
//! proptest fuzzing of the safetensors and CSV loaders with arbitrary and mutated bytes.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use safetensors::Dtype;
use vanish::interchange::{InterchangeError, NamedTensor, Precision, TensorFile, encode, read_batch, read_model};
use vanish::model::{Activation, MlpSpec, Output, Params};

use common::vanish;

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{name}.safetensors"))
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Runs `vanish grads` on `input` with `extra` flags and returns the written file.
fn run_grads(input: &Path, extra: &[&str]) -> TensorFile {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grads.safetensors");
    let result = vanish().args(["grads", "--load"]).arg(input).arg("--out").arg(&out).args(extra).output().unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    TensorFile::read(&out).unwrap()
}

/// Compares every tensor of a `vanish grads` output with the fixture's JAX float64 values. `rtol` bounds
/// each tensor's relative error ‖got − want‖/‖want‖; a bias followed by batch norm has an exactly zero
/// gradient, so it gets `bias_atol` times its layer's weight-gradient norm instead.
fn compare_with_fixture(name: &str, got: &TensorFile, dtype: Dtype, rtol: f64, bias_atol: f64) {
    let f = common::load_fixture(name);
    assert_eq!(got.metadata("content"), Some("gradients"));
    assert!(got.metadata("vanish_version").is_some() && got.metadata("adapter").is_some());
    let loss = got.floats("loss", "").unwrap();
    assert_eq!(got.shape("loss"), Some(&[][..]), "{name}: loss is a scalar");
    common::assert_close(&format!("{name} loss"), &loss, &[f.loss], 0.0, rtol);
    let logits = got.floats("logits", "").unwrap();
    assert_eq!(got.shape("logits"), Some(&[f.m][..]));
    let want = &f.expected["logits"];
    assert!(norm(&sub(&logits, want)) <= rtol * norm(want), "{name} logits");
    let layout = f.spec.layout();
    for slot in &layout.params {
        let key = format!("grad.{}", slot.name);
        assert_eq!(got.dtype(&key), Some(dtype), "{name} {key}");
        assert_eq!(got.shape(&key), Some(slot.shape.as_slice()), "{name} {key}");
        let (g, w) = (got.floats(&key, "").unwrap(), &f.expected[&key]);
        let err = norm(&sub(&g, w));
        if slot.name.ends_with(".bias") && layout.gamma(slot.layer).is_some() {
            let scale = norm(&f.expected[&format!("grad.{}", layout.weight(slot.layer).name)]);
            assert!(err <= bias_atol * scale, "{name} {key}: error {err:e} vs scale {scale:e}");
        } else {
            assert!(err <= rtol * norm(w), "{name} {key}: relative error {:e}", err / norm(w));
        }
    }
}

fn sub(a: &[f64], b: &[f64]) -> Vec<f64> {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// The reference in f64 from the file's own f64 numbers: the same arithmetic as JAX up to summation
/// order, so ~1e-13 relative; 1e-9 leaves room for a 12-layer sigmoid stack's condition number while any
/// wrong term (or a silent round trip through f32, ~1e-7) still fails.
#[test]
fn grads_on_the_cpu_match_the_jax_fixtures_to_1e_9() {
    for name in common::fixture_names() {
        let got = run_grads(&fixture_path(&name), &["--device", "cpu"]);
        compare_with_fixture(&name, &got, Dtype::F64, 1e-9, 1e-12);
    }
}

/// f32 on the GPU: the tolerances of tests/training.rs (per-tensor relative 1e-4, since f32 carries
/// ~1e-7 per operation and a 12-layer sigmoid stack compounds it; the zero bias gradient before batch
/// norm holds f32 round-off, ~1e-8 of its layer's scale).
#[test]
fn grads_on_the_gpu_match_the_jax_fixtures_in_f32() {
    if common::gpu().is_none() {
        return;
    }
    for name in common::fixture_names() {
        let got = run_grads(&fixture_path(&name), &["--device", "gpu"]);
        compare_with_fixture(&name, &got, Dtype::F32, 1e-4, 1e-5);
        assert!(got.metadata("adapter").unwrap().starts_with("gpu"), "{:?}", got.metadata("adapter"));
    }
}

/// A file's tensors, to edit into new test files.
#[derive(Clone)]
struct Tensors {
    tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
    metadata: HashMap<String, String>,
}

impl Tensors {
    fn fixture(name: &str) -> Tensors {
        let bytes = std::fs::read(fixture_path(name)).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        Tensors {
            tensors: st
                .iter()
                .map(|(n, v)| (n.to_string(), (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
                .collect(),
            metadata: header.metadata().clone().unwrap_or_default(),
        }
    }

    fn set_f64(&mut self, name: &str, shape: &[usize], values: &[f64]) -> &mut Self {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors.insert(name.into(), (Dtype::F64, shape.to_vec(), bytes));
        self
    }

    fn f64s(&self, name: &str) -> Vec<f64> {
        let (dtype, _, bytes) = &self.tensors[name];
        assert_eq!(*dtype, Dtype::F64);
        bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect()
    }

    fn remove(&mut self, name: &str) -> &mut Self {
        self.tensors.remove(name).unwrap_or_else(|| panic!("no {name}"));
        self
    }

    /// Every tensor in `names` rewritten as f32.
    fn narrow_to_f32(&mut self, names: &[&str]) -> &mut Self {
        for name in names {
            let values = self.f64s(name);
            let (_, shape, _) = self.tensors[*name].clone();
            let bytes = values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect();
            self.tensors.insert(name.to_string(), (Dtype::F32, shape, bytes));
        }
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(n, (d, s, b))| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        let meta = (!self.metadata.is_empty()).then(|| self.metadata.clone());
        safetensors::serialize(views, meta).unwrap()
    }

    fn write(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, self.bytes()).unwrap();
        path
    }
}

/// PyTorch and NumPy often write float32 weights and int64 labels: both load, and the gradients agree
/// with JAX's to what rounding the inputs to f32 allows (~1e-7 relative per input, amplified by the
/// network; 1e-5 is a thousandfold margin for these shallow fixtures).
#[test]
fn grads_accepts_f32_tensors_and_integer_labels() {
    let dir = tempfile::tempdir().unwrap();
    let name = "tanh_2x7x7x7x1_n9";
    let mut t = Tensors::fixture(name);
    let labels: Vec<u8> = t.f64s("y").iter().flat_map(|&v| (v as i64).to_le_bytes()).collect();
    let all: Vec<String> = t.tensors.keys().filter(|n| *n != "y").cloned().collect();
    t.narrow_to_f32(&all.iter().map(String::as_str).collect::<Vec<_>>());
    t.tensors.insert("y".into(), (Dtype::I64, vec![9], labels));
    let path = t.write(dir.path(), "f32.safetensors");
    let got = run_grads(&path, &["--device", "cpu"]);
    compare_with_fixture(name, &got, Dtype::F64, 1e-5, 0.0);
}

/// Without `spec` metadata the activation cannot be inferred from shapes: an error says to pass
/// `--activation`, and with it the gradients are JAX's.
#[test]
fn the_activation_comes_from_the_flag_when_the_file_records_none() {
    let dir = tempfile::tempdir().unwrap();
    let name = "sigmoid_bn_2x10x4x1_n7";
    let mut t = Tensors::fixture(name);
    t.metadata.clear();
    let path = t.write(dir.path(), "bare.safetensors");
    fails_with(&["grads", "--device", "cpu", "--load", path.to_str().unwrap()], "--activation");
    let got = run_grads(&path, &["--device", "cpu", "--activation", "sigmoid"]);
    compare_with_fixture(name, &got, Dtype::F64, 1e-9, 1e-12);
    // The flag overrides the file's record: tanh gives different gradients from the fixture's sigmoid.
    let other = run_grads(&fixture_path(name), &["--device", "cpu", "--activation", "tanh"]);
    let f = common::load_fixture(name);
    let (g, w) = (other.floats("grad.layers.0.weight", "").unwrap(), &f.expected["grad.layers.0.weight"]);
    assert!(norm(&sub(&g, w)) > 1e-3 * norm(w), "--activation tanh was ignored");
}

/// k logits make a softmax network: logits are written `[N, k]`, and the loss is their mean softmax
/// cross-entropy, recomputed here independently.
#[test]
fn k_logits_make_a_softmax_network_with_n_by_k_logits() {
    let dir = tempfile::tempdir().unwrap();
    let spec = MlpSpec::new(2, &[6], Activation::Tanh, vanish::model::Output::Softmax(3));
    let params = Params::init(&spec, 3);
    let mut tensors = vanish::interchange::params_tensors(&params);
    let x: Vec<f64> = (0..10).map(|i| (i as f64 * 0.37).sin()).collect();
    tensors.push(NamedTensor { name: "x".into(), shape: vec![5, 2], values: x });
    tensors.push(NamedTensor { name: "y".into(), shape: vec![5], values: vec![0.0, 1.0, 2.0, 2.0, 1.0] });
    let meta = HashMap::from([("spec".to_string(), vanish::interchange::spec_json(&spec))]);
    let path = dir.path().join("softmax.safetensors");
    std::fs::write(&path, encode(&tensors, Precision::F32, meta.clone())).unwrap();
    let got = run_grads(&path, &["--device", "cpu"]);
    assert_eq!(got.shape("logits"), Some(&[5, 3][..]));
    let (logits, y) = (got.floats("logits", "").unwrap(), [0, 1, 2, 2, 1]);
    let ce: f64 =
        logits.chunks(3).zip(y).map(|(z, c)| z.iter().map(|v| v.exp()).sum::<f64>().ln() - z[c]).sum::<f64>() / 5.0;
    common::assert_close("softmax loss", &got.floats("loss", "").unwrap(), &[ce], 0.0, 1e-12);
    assert_eq!(got.shape("grad.layers.1.weight"), Some(&[3, 6][..]));

    // Label 3 is outside three classes.
    tensors.last_mut().unwrap().values[0] = 3.0;
    std::fs::write(&path, encode(&tensors, Precision::F32, meta)).unwrap();
    fails_with(&["grads", "--device", "cpu", "--load", path.to_str().unwrap()], "labels must be class indices 0..2");
}

/// Runs `args` and expects a failure whose stderr contains `needle` and no panic.
fn fails_with(args: &[&str], needle: &str) {
    let out = vanish().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(err.contains(needle), "{args:?}: expected '{needle}' in:\n{err}");
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
}

fn train_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "--device", "cpu", "--layers", "6,5", "--activation", "tanh", "--samples", "120"];
    args.extend_from_slice(extra);
    args
}

/// `--save-init` writes exactly `Params::init` with a manifest; loading it and training again with the
/// same seed reproduces `--save`'s final weights bit for bit (the CPU reference is deterministic), so
/// `--load` really starts from the file.
#[test]
fn train_save_init_save_and_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let (init, fin, again) = (p("init.safetensors"), p("final.safetensors"), p("again.safetensors"));
    let out = vanish()
        .args(train_args(&["--batch-norm", "--epochs", "2", "--seed", "4", "--save-init", &init, "--save", &fin]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let file = TensorFile::read(Path::new(&init)).unwrap();
    assert_eq!(file.metadata("seed"), Some("4"));
    assert_eq!(file.metadata("content"), Some("initial weights"));
    assert_eq!(file.metadata("adapter"), Some("cpu reference (f64)"));
    assert_eq!(file.metadata("vanish_version"), Some(env!("CARGO_PKG_VERSION")));
    let model = read_model(&file, None).unwrap();
    let spec = MlpSpec::new(2, &[6, 5], Activation::Tanh, vanish::model::Output::Binary).with_batch_norm(true);
    assert_eq!(model.spec, spec, "the model inferred from shapes and manifest");
    assert_eq!(model.params(), Params::init(&spec, 4), "the initial weights, running statistics included");
    assert_eq!(file.dtype("layers.0.weight"), Some(Dtype::F32));

    let out = vanish()
        .args(train_args(&["--batch-norm", "--epochs", "2", "--seed", "4", "--load", &init, "--save", &again]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (a, b) = (TensorFile::read(Path::new(&fin)).unwrap(), TensorFile::read(Path::new(&again)).unwrap());
    let (ma, mb) = (read_model(&a, None).unwrap(), read_model(&b, None).unwrap());
    assert_eq!(ma.values, mb.values);
    assert_eq!(ma.running, mb.running);
    assert_ne!(ma.params(), model.params(), "training moved the weights");
    assert!(ma.running.iter().any(|&v| v != 0.0 && v != 1.0), "running statistics were saved");
}

/// A PyTorch state dict renamed to vanish's names — float32, no metadata, `num_batches_tracked` as
/// int64 — loads when the flags describe its shape, and a shape mismatch names the flags to use.
#[test]
fn train_loads_a_pytorch_style_file_and_names_the_flags_on_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let spec = MlpSpec::new(2, &[6, 5], Activation::Relu, vanish::model::Output::Binary).with_batch_norm(true);
    let tensors = vanish::interchange::params_tensors(&Params::init(&spec, 9));
    let mut t = Tensors { tensors: BTreeMap::new(), metadata: HashMap::new() };
    for n in &tensors {
        let bytes = n.values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect();
        t.tensors.insert(n.name.clone(), (Dtype::F32, n.shape.clone(), bytes));
    }
    t.tensors.insert("layers.0.bn.num_batches_tracked".into(), (Dtype::I64, vec![], 7i64.to_le_bytes().to_vec()));
    let path = t.write(dir.path(), "torch.safetensors");
    let load = path.to_str().unwrap();
    let ok = vanish()
        .args(["train", "--device", "cpu", "--layers", "6,5", "--activation", "relu", "--batch-norm"])
        .args(["--samples", "120", "--epochs", "1", "--load", load])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    // The file records no activation, so the flags' tanh is taken; batch norm is what differs.
    fails_with(&train_args(&["--load", load]), "holds 2→6→5→1 tanh+bn but the flags describe 2→6→5→1 tanh");
    fails_with(&train_args(&["--load", load]), "run with --layers 6,5 --norm batch --activation tanh");
    // A vanish file records its activation; flags that differ are named.
    let saved = dir.path().join("saved.safetensors");
    let ok = vanish().args(train_args(&["--epochs", "1", "--save"])).arg(&saved).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let mut relu = train_args(&["--load", saved.to_str().unwrap()]);
    relu[6] = "relu";
    fails_with(
        &relu,
        "holds 2→6→5→1 tanh but the flags describe 2→6→5→1 relu; run with --layers 6,5 --activation tanh",
    );
    fails_with(
        &[
            "train",
            "--device",
            "cpu",
            "--dataset",
            "blobs",
            "--classes",
            "3",
            "--layers",
            "6,5",
            "--batch-norm",
            "--load",
            load,
        ],
        "1 logit(s), but this dataset needs 3",
    );
}

/// Nielsen's head travels as `output: "sigmoid_cross_entropy"`: a file saved with `--output sigmoid-ce`
/// loads with it and is refused without it, with the flag named.
#[test]
fn a_sigmoid_head_round_trips_and_is_named_when_the_flags_differ() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("sce.safetensors");
    let blobs = ["--dataset", "blobs", "--classes", "3", "--epochs", "1"];
    let with = |extra: &[&str]| -> Vec<String> {
        train_args(&[&blobs[..], extra].concat()).into_iter().map(String::from).collect()
    };
    let ok = vanish().args(with(&["--output", "sigmoid-ce", "--save"])).arg(&saved).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let file = TensorFile::parse(&saved, &std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(read_model(&file, None).unwrap().spec.output, Output::SigmoidCe(3));
    let load = saved.to_str().unwrap();
    let ok = vanish().args(with(&["--output", "sigmoid-ce", "--load", load])).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let refused = with(&["--load", load]);
    fails_with(
        &refused.iter().map(String::as_str).collect::<Vec<_>>(),
        "head is sigmoid-ce but the flags ask for softmax; run with --output sigmoid-ce",
    );
}

/// A layer-norm network travels as `layers.{i}.ln.gamma` / `.ln.beta` with `norm: "layer"` in its spec:
/// `train --norm layer --save` writes that, `grads` infers layer norm from the tensors, `train --load`
/// needs `--norm layer` and says so.
#[test]
fn layer_norm_networks_round_trip_through_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("ln.safetensors");
    let ok = vanish().args(train_args(&["--norm", "layer", "--epochs", "1", "--save"])).arg(&saved).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let file = TensorFile::parse(&saved, &std::fs::read(&saved).unwrap()).unwrap();
    let names: Vec<&str> = file.names().collect();
    for want in ["layers.0.ln.gamma", "layers.0.ln.beta", "layers.1.ln.gamma", "layers.1.ln.beta"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("bn.") || n.contains("running")), "no batch-norm tensors: {names:?}");
    let spec: serde_json::Value = serde_json::from_str(file.metadata("spec").unwrap()).unwrap();
    assert_eq!((spec["norm"].as_str(), spec["batchnorm"].as_bool()), (Some("layer"), Some(false)));
    let model = read_model(&file, None).unwrap();
    assert_eq!(model.spec.norm, vanish::model::Norm::Layer);
    assert!(model.spec.layout().running.is_empty());

    let load = saved.to_str().unwrap();
    let ok = vanish().args(train_args(&["--norm", "layer", "--epochs", "1", "--load", load])).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    fails_with(&train_args(&["--load", load]), "holds 2→6→5→1 tanh+ln but the flags describe 2→6→5→1 tanh");
    fails_with(&train_args(&["--load", load]), "run with --layers 6,5 --norm layer --activation tanh");
    fails_with(&train_args(&["--norm", "batch", "--load", load]), "tanh+ln but the flags describe 2→6→5→1 tanh+bn");
    fails_with(&train_args(&["--norm", "group"]), "unknown normalisation 'group' (expected none, batch or layer)");
    fails_with(&train_args(&["--norm", "layer", "--batch-norm"]), "cannot be used with");
}

#[test]
fn train_rejects_bad_save_and_load_paths_before_training() {
    let dir = tempfile::tempdir().unwrap();
    fails_with(&train_args(&["--save-init", dir.path().to_str().unwrap()]), "it is a folder, not a regular file");
    fails_with(&train_args(&["--load", "/no/such/weights.safetensors"]), "cannot read /no/such/weights.safetensors");
}

/// One malformed-file case: a file name, how to build its bytes from a valid fixture, and a phrase the
/// error must contain. The README's bad-input table lists the same cases.
type Case = (&'static str, Box<dyn Fn() -> Vec<u8>>, &'static str);

fn edited(edit: impl Fn(&mut Tensors) + 'static) -> Box<dyn Fn() -> Vec<u8>> {
    Box::new(move || {
        let mut t = Tensors::fixture("relu_bn_3x5x5x1_n6");
        edit(&mut t);
        t.bytes()
    })
}

fn malformed_cases() -> Vec<Case> {
    let valid = || Tensors::fixture("relu_bn_3x5x5x1_n6").bytes();
    vec![
        ("empty.safetensors", Box::new(Vec::new), "shorter than the 8-byte header length"),
        (
            "truncated.safetensors",
            Box::new(move || {
                let b = valid();
                b[..b.len() - 10].to_vec()
            }),
            "truncated",
        ),
        (
            "appended.safetensors",
            Box::new(move || {
                let mut b = valid();
                b.extend([0; 8]);
                b
            }),
            "extra bytes",
        ),
        ("cut_header.safetensors", Box::new(move || valid()[..40].to_vec()), "points past the end of the file"),
        (
            "not_json.safetensors",
            Box::new(|| {
                let mut b = 4u64.to_le_bytes().to_vec();
                b.extend(b"oops");
                b
            }),
            "not valid safetensors JSON",
        ),
        (
            "wrong_dtype.safetensors",
            edited(|t| {
                t.tensors.get_mut("layers.1.weight").unwrap().0 = Dtype::I64;
            }),
            "`layers.1.weight` has dtype I64; expected F32 or F64",
        ),
        (
            "f16.safetensors",
            edited(|t| {
                let (_, s, _) = t.tensors["layers.0.bias"].clone();
                t.tensors.insert("layers.0.bias".into(), (Dtype::F16, s, vec![0; 10]));
            }),
            "dtype F16",
        ),
        (
            "no_chain.safetensors",
            edited(|t| {
                t.set_f64("layers.1.weight", &[5, 4], &[0.1; 20]);
            }),
            "input width must be layers.0.weight's output width 5",
        ),
        (
            "vector_weight.safetensors",
            edited(|t| {
                t.set_f64("layers.0.weight", &[15], &[0.1; 15]);
            }),
            "a matrix [out, in]",
        ),
        (
            "missing_bias.safetensors",
            edited(|t| {
                t.remove("layers.1.bias");
            }),
            "`layers.1.bias` is missing",
        ),
        (
            "bias_shape.safetensors",
            edited(|t| {
                t.set_f64("layers.2.bias", &[2], &[0.0; 2]);
            }),
            "`layers.2.bias` has shape [2]; expected [1]",
        ),
        (
            "gap.safetensors",
            edited(|t| {
                t.remove("layers.1.weight");
            }),
            "`layers.1.weight` is missing, so the network ends at layer 0",
        ),
        (
            "no_layers.safetensors",
            edited(|t| {
                t.tensors.retain(|n, _| !n.starts_with("layers."));
            }),
            "`layers.0.weight` is missing",
        ),
        (
            "unknown_tensor.safetensors",
            edited(|t| {
                t.set_f64("layers.0.scale", &[5], &[1.0; 5]);
            }),
            "unexpected tensor `layers.0.scale`",
        ),
        (
            "bn_some_layers.safetensors",
            edited(|t| {
                t.remove("layers.1.bn.gamma").remove("layers.1.bn.beta");
            }),
            "batch norm on layers [0] but not on [1]",
        ),
        (
            "gamma_only.safetensors",
            edited(|t| {
                t.remove("layers.0.bn.beta");
            }),
            "`layers.0.bn.beta` is missing",
        ),
        (
            "bn_on_output.safetensors",
            edited(|t| {
                t.set_f64("layers.2.bn.gamma", &[1], &[1.0]).set_f64("layers.2.bn.beta", &[1], &[0.0]);
            }),
            "the output layer (layers.2) has batch norm",
        ),
        (
            "negative_var.safetensors",
            edited(|t| {
                t.set_f64("layers.0.bn.running_mean", &[5], &[0.0; 5]).set_f64(
                    "layers.0.bn.running_var",
                    &[5],
                    &[1.0, 1.0, -1.0, 1.0, 1.0],
                );
            }),
            "element 2 is -1; a variance is >= 0",
        ),
        (
            "half_running.safetensors",
            edited(|t| {
                t.set_f64("layers.0.bn.running_mean", &[5], &[0.0; 5]);
            }),
            "`layers.0.bn.running_var` is missing",
        ),
        (
            "nan.safetensors",
            edited(|t| {
                t.set_f64("layers.0.bias", &[5], &[0.0, f64::NAN, 0.0, 0.0, 0.0]);
            }),
            "`layers.0.bias`: element 1 is NaN",
        ),
        (
            "inf_x.safetensors",
            edited(|t| {
                let mut x = t.f64s("x");
                x[4] = f64::INFINITY;
                t.set_f64("x", &[6, 3], &x);
            }),
            "`x`: element [1, 1] is inf; weights and inputs must be finite",
        ),
        (
            "no_x.safetensors",
            edited(|t| {
                t.remove("x");
            }),
            "`x` is missing",
        ),
        (
            "x_width.safetensors",
            edited(|t| {
                t.set_f64("x", &[6, 2], &[0.0; 12]);
            }),
            "`x` has shape [6, 2]; expected [N, 3]",
        ),
        (
            "y_length.safetensors",
            edited(|t| {
                t.set_f64("y", &[5], &[0.0; 5]);
            }),
            "`y` has shape [5]; expected [6]",
        ),
        (
            "label_2.safetensors",
            edited(|t| {
                let mut y = t.f64s("y");
                y[3] = 2.0;
                t.set_f64("y", &[6], &y);
            }),
            "element 3 is 2; labels must be class indices 0 or 1",
        ),
        (
            "label_half.safetensors",
            edited(|t| {
                let mut y = t.f64s("y");
                y[0] = 0.5;
                t.set_f64("y", &[6], &y);
            }),
            "element 0 is 0.5",
        ),
        (
            "spec_not_json.safetensors",
            edited(|t| {
                t.metadata.insert("spec".into(), "{widths".into());
            }),
            "metadata `spec`: not the expected JSON object",
        ),
        (
            "spec_activation.safetensors",
            edited(|t| {
                t.metadata.insert("spec".into(), r#"{"activations": "softsign"}"#.into());
            }),
            "unknown activation 'softsign'",
        ),
        (
            "spec_widths.safetensors",
            edited(|t| {
                t.metadata.insert("spec".into(), r#"{"activations": "relu", "widths": [3, 5, 1]}"#.into());
            }),
            "widths [3, 5, 1], but the weight shapes give [3, 5, 5, 1]",
        ),
        (
            "spec_layers.safetensors",
            edited(|t| {
                t.metadata.insert("spec".into(), r#"{"activations": ["relu"]}"#.into());
            }),
            "1 activations listed, but the weights give 2 hidden layers",
        ),
        (
            "spec_residual_scale.safetensors",
            edited(|t| {
                t.metadata
                    .insert("spec".into(), r#"{"activations": "relu", "residual": true, "residual_scale": -1}"#.into());
            }),
            "residual_scale -1 is not a finite number > 0",
        ),
        (
            "spec_layer_norm_over_bn_tensors.safetensors",
            edited(|t| {
                t.metadata.insert("spec".into(), r#"{"activations": "relu", "norm": "layer"}"#.into());
            }),
            "norm layer, but the tensors are bn.*",
        ),
        (
            "spec_group_norm.safetensors",
            edited(|t| {
                t.metadata.insert("spec".into(), r#"{"activations": "relu", "norm": "group"}"#.into());
            }),
            "records norm `group`; this version of vanish has none, batch or layer",
        ),
        (
            "bn_and_ln.safetensors",
            edited(|t| {
                let (d, shape, bytes) = t.tensors["layers.1.bn.gamma"].clone();
                t.tensors.insert("layers.1.ln.gamma".into(), (d, shape, bytes));
            }),
            "and layer norm tensors (ln.*) on layers [1]; vanish puts one kind on every hidden layer",
        ),
        (
            "ln_on_some_layers.safetensors",
            Box::new(|| {
                let mut t = Tensors::fixture("sigmoid_ln_2x8x8x8x1_n7");
                t.remove("layers.2.ln.gamma").remove("layers.2.ln.beta");
                t.bytes()
            }),
            "layer norm on layers [0, 1] but not on [2]",
        ),
    ]
}

/// Every malformed file: `vanish grads` exits non-zero with a message naming the file and the problem.
#[test]
fn malformed_files_get_a_clear_error_naming_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    for (file, bytes, needle) in malformed_cases() {
        let path = dir.path().join(file);
        std::fs::write(&path, bytes()).unwrap();
        let args = ["grads", "--device", "cpu", "--load", path.to_str().unwrap()];
        fails_with(&args, needle);
        fails_with(&args, file);
    }
    fails_with(
        &["grads", "--device", "cpu", "--load", "/no/such/file.safetensors"],
        "cannot read /no/such/file.safetensors",
    );
    let fixture = fixture_path("tanh_2x7x7x7x1_n9");
    fails_with(
        &["grads", "--device", "cpu", "--load", fixture.to_str().unwrap(), "--out", dir.path().to_str().unwrap()],
        "it is a folder, not a regular file",
    );
}

/// The same cases through the library give the typed error a caller can match on.
#[test]
fn malformed_files_give_typed_errors() {
    let kind = |bytes: Vec<u8>| -> String {
        let err = TensorFile::parse(Path::new("t.safetensors"), &bytes)
            .and_then(|f| read_model(&f, None).and_then(|m| read_batch(&f, &m.spec).map(|_| ())))
            .expect_err("malformed");
        match err {
            InterchangeError::Malformed { .. } => "malformed",
            InterchangeError::Dtype { .. } => "dtype",
            InterchangeError::Shape { .. } => "shape",
            InterchangeError::Missing { .. } => "missing",
            InterchangeError::Value { .. } => "value",
            InterchangeError::Metadata { .. } => "metadata",
            InterchangeError::Model { .. } => "model",
            InterchangeError::Io { .. } | InterchangeError::Write { .. } => "io",
        }
        .to_string()
    };
    let kinds: BTreeMap<&str, String> = malformed_cases().into_iter().map(|(f, b, _)| (f, kind(b()))).collect();
    assert_eq!(kinds["truncated.safetensors"], "malformed");
    assert_eq!(kinds["wrong_dtype.safetensors"], "dtype");
    assert_eq!(kinds["no_chain.safetensors"], "shape");
    assert_eq!(kinds["missing_bias.safetensors"], "missing");
    assert_eq!(kinds["nan.safetensors"], "value");
    assert_eq!(kinds["spec_widths.safetensors"], "metadata");
    assert_eq!(kinds["bn_some_layers.safetensors"], "model");
}

#[test]
fn encode_and_parse_round_trip_at_both_precisions() {
    let t = vec![
        NamedTensor { name: "a".into(), shape: vec![2, 3], values: vec![1.0, -2.5, 1e-30, 0.1, 3.0, -0.0] },
        NamedTensor { name: "s".into(), shape: vec![], values: vec![0.7] },
    ];
    let meta = HashMap::from([("k".to_string(), "v".to_string())]);
    let f64_file = TensorFile::parse(Path::new("x"), &encode(&t, Precision::F64, meta.clone())).unwrap();
    assert_eq!(f64_file.floats("a", "").unwrap(), t[0].values);
    assert_eq!(f64_file.shape("s"), Some(&[][..]));
    assert_eq!(f64_file.metadata("k"), Some("v"));
    let f32_file = TensorFile::parse(Path::new("x"), &encode(&t, Precision::F32, meta)).unwrap();
    assert_eq!(f32_file.dtype("a"), Some(Dtype::F32));
    let want: Vec<f64> = t[0].values.iter().map(|&v| v as f32 as f64).collect();
    assert_eq!(f32_file.floats("a", "").unwrap(), want);
    assert_ne!(want[3], 0.1, "0.1 was rounded to f32");
}

/// Whether `name`, a tensor under `layers.`, is one vanish reads: `layers.{i}.weight|bias`,
/// `layers.{i}.bn.gamma|beta|running_mean|running_var`, or PyTorch's `bn.num_batches_tracked` (ignored).
/// Tensors outside `layers.` (`x`, `y`, a grads file's `loss` or `logits`) are not the model's and
/// `read_model` leaves them alone.
fn accepted_layer_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("layers.") else { return false };
    let Some((index, tensor)) = rest.split_once('.') else { return false };
    let canonical = index.parse::<usize>().is_ok_and(|i| i.to_string() == index);
    let known = [
        "weight",
        "bias",
        "bn.gamma",
        "bn.beta",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
        "ln.gamma",
        "ln.beta",
    ];
    canonical && known.contains(&tensor)
}

/// Everything the loaders do with a file's bytes. Errors are fine and panics are not; whatever they
/// accept must be consistent: the tensors the file declares fill their shapes, every `layers.` name is one
/// vanish knows, a model's tensors have its layout's shapes and hold finite values, a batch has the model's
/// input width and labels within its classes.
fn load_everything(bytes: &[u8]) {
    let Ok(file) = TensorFile::parse(Path::new("fuzz.safetensors"), bytes) else { return };
    for name in file.names() {
        let shape = file.shape(name).unwrap();
        let elements: usize = shape.iter().product();
        if let Ok(values) = file.floats(name, "") {
            assert_eq!(values.len(), elements, "{name}: values fill the shape {shape:?}");
        }
    }
    let Ok(model) = read_model(&file, Some(&[Activation::Relu])) else { return };
    assert!(model.spec.validate().is_ok(), "an accepted model is a valid spec: {:?}", model.spec);
    for name in file.names().filter(|n| n.starts_with("layers.")) {
        assert!(accepted_layer_name(name), "read_model accepted a file with the unknown tensor `{name}`");
    }
    let layout = model.spec.layout();
    assert_eq!(model.values.len(), layout.param_len);
    for slot in &layout.params {
        assert_eq!(file.shape(&slot.name), Some(&slot.shape[..]), "{} has its layout's shape", slot.name);
    }
    assert!(model.values.iter().chain(&model.running).all(|v| v.is_finite()), "accepted weights are finite");
    let params = model.params();
    assert_eq!(params.values.len(), layout.param_len);
    if let Ok(batch) = read_batch(&file, &model.spec) {
        assert_eq!(batch.x.len(), batch.rows * model.spec.input, "x is [rows, input]");
        assert_eq!(batch.y.len(), batch.rows);
        assert!(batch.x.iter().all(|v| v.is_finite()), "accepted inputs are finite");
        assert!(batch.y.iter().all(|&c| (c as usize) < model.spec.output.width().max(2)), "labels within the classes");
    }
}

#[test]
fn the_fuzz_invariants_accept_what_vanish_writes_and_catch_what_it_does_not() {
    for name in ["layers.0.weight", "layers.12.bn.running_var", "layers.3.bias", "layers.1.bn.num_batches_tracked"] {
        assert!(accepted_layer_name(name), "{name}");
    }
    for name in ["layers.01.bias", "layers.0.gamma", "layers.x.weight", "layers.0.weight.t", "layers.0"] {
        assert!(!accepted_layer_name(name), "{name}");
    }
    // Every fixture passes the invariants (so the fuzz cases that get far are checked, not skipped).
    for fixture in common::fixture_names() {
        let bytes = std::fs::read(fixture_path(&fixture)).unwrap();
        let file = TensorFile::parse(Path::new("f"), &bytes).unwrap();
        let activation: Activation = fixture.split('_').next().unwrap().parse().unwrap();
        let model = read_model(&file, Some(&[activation])).unwrap_or_else(|e| panic!("{fixture}: {e}"));
        assert!(read_batch(&file, &model.spec).is_ok(), "{fixture}");
        load_everything(&bytes);
    }
}

fn write_csv_and_load(dir: &Path, bytes: &[u8]) {
    let path = dir.join("fuzz.csv");
    std::fs::write(&path, bytes).unwrap();
    let spec = vanish::data::DatasetSpec::Csv { path, label: None, delimiter: None };
    if let Ok(data) = vanish::data::load(&spec, 0) {
        assert_eq!(data.x.len(), data.len() * data.features, "a loaded dataset is consistent");
        assert!(data.y.iter().all(|&c| (c as usize) < data.classes));
    }
}

/// A header whose tensors have random dtypes, shapes and offsets, over random data: reaches the
/// offset and shape checks that random bytes almost never get past.
fn header_file() -> impl Strategy<Value = Vec<u8>> {
    let names = prop::sample::select(vec![
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
        "layers.0.bn.gamma",
        "layers.0.bn.beta",
        "layers.0.bn.running_var",
        "layers.7.weight",
        "x",
        "y",
        "layers.01.bias",
    ]);
    let dtypes = prop::sample::select(vec!["F32", "F64", "I64", "U8", "F16", "BOOL", "F4", "I32"]);
    let tensor = (names, dtypes, prop::collection::vec(0usize..6, 0..3), 0usize..64, 0usize..64);
    (prop::collection::vec(tensor, 0..6), prop::collection::vec(any::<u8>(), 0..256), any::<bool>()).prop_map(
        |(tensors, data, with_spec)| {
            let mut header = serde_json::Map::new();
            for (name, dtype, shape, start, len) in tensors {
                header.insert(
                    name.to_string(),
                    serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, start + len]}),
                );
            }
            if with_spec {
                header.insert(
                    "__metadata__".into(),
                    serde_json::json!({"spec": "{\"activations\": [\"relu\"], \"widths\": [1]}"}),
                );
            }
            let text = serde_json::Value::Object(header).to_string();
            let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
            bytes.extend(text.as_bytes());
            bytes.extend(data);
            bytes
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn safetensors_loader_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        load_everything(&bytes);
    }

    /// Valid fixture bytes with a few bytes overwritten (in the header: bad JSON, offsets, shapes; in
    /// the data: NaN, huge or wrong values) and, half the time, the file cut short.
    #[test]
    fn safetensors_loader_never_panics_on_mutated_fixtures(
        fixture in prop::sample::select(common::fixture_names()),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = std::fs::read(fixture_path(&fixture)).unwrap();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        load_everything(&bytes);
    }

    #[test]
    fn safetensors_loader_never_panics_on_random_headers(bytes in header_file()) {
        load_everything(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn csv_loader_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        write_csv_and_load(tempfile::tempdir().unwrap().path(), &bytes);
    }

    /// Tables of number-like cells (and some NaN, words, blanks and ragged rows), so most cases get past
    /// the header to the number, label and class checks.
    #[test]
    fn csv_loader_never_panics_on_csv_like_tables(text in csv_table()) {
        write_csv_and_load(tempfile::tempdir().unwrap().path(), text.as_bytes());
    }
}

fn csv_table() -> impl Strategy<Value = String> {
    (1usize..5)
        .prop_flat_map(|width| {
            let cell = prop_oneof![
                8 => "-?[0-9]{1,3}(\\.[0-9]{1,3})?(e[-+]?[0-9]{1,2})?",
                1 => "nan|inf|-inf|NaN|1e39",
                1 => "[a-z]{0,3}",
            ];
            // Mostly rows as wide as the header; sometimes one cell more or less.
            let row = prop_oneof![8 => Just(width), 1 => width.max(2) - 1..width + 2]
                .prop_flat_map(move |n| prop::collection::vec(cell.clone(), n));
            (
                "(\u{feff})?",
                prop::collection::vec("[a-c]{1,2}", width),
                prop::collection::vec(row, 0..8),
                prop::sample::select(vec!["\n", "\r\n"]),
            )
        })
        .prop_map(|(bom, header, rows, newline)| {
            let mut text = bom + &header.join(",") + newline;
            for row in rows {
                text += &row.join(",");
                text += newline;
            }
            text
        })
}
