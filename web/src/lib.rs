//! vanish in a web page: the library's `demo::run` on the visitor's GPU through WebGPU, or on the f64
//! CPU reference where the browser has none (said on the page, as the CLI says it), for web/index.html.
//! Nothing here blocks: every engine answer is awaited, and training yields to the browser's event
//! loop between chunks of steps, so the page stays responsive while it runs.

use std::cell::Cell;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use vanish::data::{self, Dataset, DatasetSpec};
use vanish::demo::{self, DemoSettings};
use vanish::engine::{Backend, Optimizer, TrainConfig};
use vanish::gpu::{Gpu, GpuBackend, PathRequest};
use vanish::model::{Activation, Init, MlpSpec, Norm, Output};
use vanish::reference::CpuBackend;
use vanish::train::Progress;

/// The data a page run uses, by the CLI's flag names: a synthetic dataset, or a CSV the visitor picked
/// (its name and text: it never leaves their machine).
#[derive(Clone, Deserialize)]
#[serde(default)]
struct DataOptions {
    dataset: String,
    samples: usize,
    noise: Option<f64>,
    factor: f64,
    classes: usize,
    csv_name: Option<String>,
    csv_text: Option<String>,
    label: Option<String>,
    test_fraction: f64,
}

impl Default for DataOptions {
    fn default() -> Self {
        DataOptions {
            dataset: "circles".into(),
            samples: 1000,
            noise: None,
            factor: 0.85,
            classes: 2,
            csv_name: None,
            csv_text: None,
            label: None,
            test_fraction: 0.33,
        }
    }
}

impl DataOptions {
    /// The `dataset` a run's output names: the synthetic set, or `csv:NAME`.
    fn name(&self) -> String {
        self.csv_name.as_ref().map_or(self.dataset.clone(), |n| format!("csv:{n}"))
    }
}

/// Which engine, and how the page learns what the browser has.
#[derive(Deserialize)]
#[serde(default)]
struct EngineOptions {
    /// `cpu` runs the reference even where WebGPU exists.
    device: String,
    /// The page's reading of the WebGPU adapter's `info` (vendor, architecture, description).
    adapter: String,
    /// Redraw a training run's plots at most this often, and not before this long into the run (a run
    /// that ends sooner needs no redraw; each costs the SVGs).
    redraw_ms: f64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { device: "auto".into(), adapter: "WebGPU adapter".into(), redraw_ms: REDRAW_MS }
    }
}

/// What the notebook button asks for: `vanish demo`'s flags, by their CLI names.
#[derive(Deserialize)]
#[serde(default)]
struct Options {
    #[serde(flatten)]
    data: DataOptions,
    #[serde(flatten)]
    engine: EngineOptions,
    depth: usize,
    width: usize,
    init: String,
    norm: String,
    residual: bool,
    cures: bool,
    lr: f64,
    batch_size: usize,
    epochs: usize,
    seed: u64,
    row: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data: DataOptions::default(),
            engine: EngineOptions::default(),
            depth: 11,
            width: 10,
            init: "glorot-uniform".into(),
            norm: "batch".into(),
            residual: false,
            cures: false,
            lr: 1e-3,
            batch_size: 32,
            epochs: 1,
            seed: 0,
            row: 0,
        }
    }
}

/// The page's default `redraw_ms`.
const REDRAW_MS: f64 = 300.0;

/// Whether a run in training should redraw now: past `ms` since it started and since the last redraw,
/// and not at its end (the final plots follow).
struct Redraws {
    started: web_time::Instant,
    last: Option<web_time::Instant>,
    every: std::time::Duration,
}

impl Redraws {
    fn new(ms: f64) -> Self {
        Redraws {
            started: web_time::Instant::now(),
            last: None,
            every: std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0),
        }
    }

    fn due(&mut self, p: Progress) -> bool {
        let due = p.step < p.total_steps
            && self.started.elapsed() >= self.every
            && self.last.is_none_or(|l| l.elapsed() >= self.every);
        if due {
            self.last = Some(web_time::Instant::now());
        }
        due
    }
}

/// What the page gets back.
#[derive(Serialize)]
struct PageResult {
    /// Exactly what `vanish demo --json` prints for the same settings.
    demo: demo::DemoOutput,
    /// `vanish demo`'s text: the tables and the computed conclusion.
    text: String,
    /// The report's plots (‖δ‖ per layer with the theory, depth, heatmap, loss, decision boundaries).
    plots: Vec<vanish::report::plots::Plot>,
    /// Why the CPU reference ran, where it did.
    note: Option<String>,
    /// The runs as the CLI's files: `runs.csv` and `summary.json` of the report.
    runs_csv: String,
    summary_json: String,
    /// Each network's final weights as `vanish train --save` writes them (safetensors, f32, with the
    /// manifest), so a run in the page can be loaded by the CLI (`--load`).
    weights: Vec<Weights>,
}

#[derive(Serialize)]
struct Weights {
    file: String,
    bytes: Vec<u8>,
}

thread_local! {
    /// The page's one GPU context, opened on first use and kept: pipelines compile once per page.
    static GPU: Cell<Option<&'static Gpu>> = const { Cell::new(None) };
}

/// The browser's WebGPU device, or why there is none.
async fn gpu(name: &str) -> Result<&'static Gpu, String> {
    if let Some(g) = GPU.with(Cell::get) {
        return Ok(g);
    }
    let gpu = Gpu::new_web(name).await.map_err(|e| match e {
        vanish::gpu::GpuError::NoAdapter => "navigator.gpu is missing or offers no adapter".to_string(),
        e => e.to_string(),
    })?;
    let g: &'static Gpu = Box::leak(Box::new(gpu));
    GPU.with(|c| c.set(Some(g)));
    Ok(g)
}

/// Resolves on the browser's next macrotask, letting it paint and handle input.
async fn yield_to_browser() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback(&resolve);
        }
    });
    let _ = JsFuture::from(promise).await;
}

fn data(o: &DataOptions, seed: u64) -> anyhow::Result<(Dataset, Dataset)> {
    let all = match (&o.csv_name, &o.csv_text) {
        (Some(name), Some(text)) => data::csv_from_bytes(Path::new(name), text.as_bytes(), o.label.as_deref(), None)?,
        _ => {
            let spec = DatasetSpec::parse(&o.dataset, o.samples, o.noise, o.factor, o.classes, o.label.clone())?;
            data::load(&spec, seed)?
        }
    };
    Ok(data::split(&all, o.test_fraction, seed)?)
}

/// The page's engine: the browser's WebGPU adapter on the fused executor, or the CPU reference (asked
/// for, or where there is no WebGPU: the note says so, as the CLI does without a driver).
enum PageBackend {
    Gpu(GpuBackend<'static>),
    Cpu,
}

impl PageBackend {
    async fn open(o: &EngineOptions) -> (PageBackend, Option<String>) {
        if o.device == "cpu" {
            return (PageBackend::Cpu, Some("the CPU reference (f64), as asked".into()));
        }
        match gpu(&o.adapter).await {
            Ok(g) => (PageBackend::Gpu(GpuBackend::new(g, PathRequest::Fused)), None),
            Err(why) => (
                PageBackend::Cpu,
                Some(format!(
                    "no WebGPU adapter in this browser ({why}): running the CPU reference (f64), as `vanish demo` does \
                     without a GPU driver"
                )),
            ),
        }
    }

    fn backend(&self) -> &dyn Backend {
        match self {
            PageBackend::Gpu(b) => b,
            PageBackend::Cpu => &CpuBackend,
        }
    }
}

/// Runs `vanish demo` with `options` (JSON, the CLI's flag names) on WebGPU, or on the CPU reference
/// where the browser has no WebGPU adapter; calls `progress(step, total)` and `plots(json)` (the report's
/// plots so far, `[{title, caption, svg}]`) between chunks of a few steps, so the page shows the run as
/// it trains.
/// Resolves to JSON: `{demo, text, plots, note, runs_csv, summary_json}`; rejects with the CLI's
/// message for bad input (a malformed CSV names its line and column as `vanish` does).
#[wasm_bindgen]
pub async fn demo(options: String, progress: js_sys::Function, plots: js_sys::Function) -> Result<String, JsValue> {
    run_demo(&options, progress, plots).await.map_err(|e| JsValue::from_str(&format!("{e:#}")))
}

/// Steps between two redraws of a training run's plots in the page: the notebook's 21 steps redraw
/// twice while training (the final plots follow at the end), each redraw costing a readback of the
/// weights (for the decision boundaries) and the SVGs.
const STEPS_PER_REDRAW: usize = 7;

/// Hands the page the report's plots of `records` as they are now (JSON `[{title, caption, svg}]`).
fn redraw(plots: &js_sys::Function, records: &[vanish::sweep::RunRecord]) {
    let Ok(page) = vanish::report::plots_of(records) else { return };
    if let Ok(json) = serde_json::to_string(&page) {
        let _ = plots.call1(&JsValue::NULL, &JsValue::from_str(&json));
    }
}

async fn run_demo(options: &str, progress: js_sys::Function, plots: js_sys::Function) -> anyhow::Result<String> {
    let o: Options = serde_json::from_str(options)?;
    let (train, test) = data(&o.data, o.seed)?;
    let init: Init = o.init.parse().map_err(anyhow::Error::msg)?;
    let cure_norm: Norm = o.norm.parse().map_err(anyhow::Error::msg)?;
    let base = MlpSpec {
        init,
        residual: o.residual.then_some(1.0),
        ..MlpSpec::new(
            train.features,
            &vec![o.width; o.depth],
            Activation::Identity,
            Output::for_classes(train.classes),
        )
    };
    let settings = DemoSettings {
        base,
        residual_scale: 1.0,
        cure_norm,
        cures: o.cures,
        lr: o.lr,
        batch_size: o.batch_size,
        epochs: o.epochs,
        seed: o.seed,
        row: o.row,
        look_every: Some(STEPS_PER_REDRAW),
        dataset: o.data.name(),
        samples: o.data.samples,
        noise: o.data.noise,
        factor: o.data.factor,
    };
    let mut redraws = Redraws::new(o.engine.redraw_ms);
    let mut between = move |p: Progress, records: &[vanish::sweep::RunRecord]| -> Pin<Box<dyn Future<Output = bool>>> {
        let _ = progress.call2(&JsValue::NULL, &JsValue::from(p.step as f64), &JsValue::from(p.total_steps as f64));
        if redraws.due(p) {
            redraw(&plots, records);
        }
        Box::pin(async {
            yield_to_browser().await;
            false
        })
    };
    let (engine, note) = PageBackend::open(&o.engine).await;
    let result = demo::run(engine.backend(), &settings, (&train, &test), &mut between).await?;
    let cfg = TrainConfig { optimizer: Optimizer::adam(o.lr), batch_size: o.batch_size, clip_grad_norm: None };
    let records: Vec<_> = result
        .networks
        .iter()
        .map(|n| vanish::sweep::record_run(&n.job.spec, (cfg, o.seed), &n.trained, &n.after, &train))
        .collect();
    let plots = vanish::report::plots_of(&records).map_err(anyhow::Error::msg)?;
    let groups = vanish::report::groups::groups(&records);
    let settings_json = serde_json::to_value(&result.output.config)?;
    let summary = vanish::report::tidy::summary("vanish demo (web)", &settings_json, &records, &groups, &[]);
    let runs_csv = csv_text(&records)?;
    let weights = result
        .networks
        .iter()
        .map(|n| {
            use vanish::interchange::{Manifest, Precision, encode, params_tensors};
            let manifest = Manifest {
                spec: n.job.spec.clone(),
                seed: Some(o.seed),
                adapter: n.trained.history.engine.clone(),
                content: "final weights".into(),
            };
            let name = demo::run_name(&n.job.spec, init).replace(" + ", "-").replace(' ', "-");
            Weights {
                file: format!("{name}.safetensors"),
                bytes: encode(&params_tensors(&n.after), Precision::F32, manifest.to_metadata()),
            }
        })
        .collect();
    let page = PageResult {
        weights,
        text: demo::render(&result.output),
        demo: result.output,
        plots,
        note,
        runs_csv,
        summary_json: serde_json::to_string_pretty(&summary)?,
    };
    Ok(serde_json::to_string(&page)?)
}

/// Runs `vanish check --quick` (or the full suite) on this page's WebGPU adapter against the f64 CPU
/// reference, each GPU read awaited; calls `progress(done, total, name)` after each case. Resolves to the
/// JSON `vanish check --json` prints: every case, every tensor with its error and bound.
#[wasm_bindgen]
pub async fn check(quick: bool, adapter: String, progress: js_sys::Function) -> Result<String, JsValue> {
    let run = async {
        let gpu = gpu(&adapter).await.map_err(|e| anyhow::anyhow!("vanish check needs a GPU: {e}"))?;
        let cases = if quick { vanish::check::quick_suite() } else { vanish::check::full_suite() };
        let total = cases.len();
        let mut done = 0usize;
        let mut between = move |r: &vanish::check::CaseResult| -> Pin<Box<dyn Future<Output = ()>>> {
            done += 1;
            let _ = progress.call3(
                &JsValue::NULL,
                &JsValue::from(done as f64),
                &JsValue::from(total as f64),
                &JsValue::from_str(&r.name),
            );
            Box::pin(yield_to_browser())
        };
        let report = vanish::check::run_suite_async(gpu, &cases, &mut between).await?;
        anyhow::Ok(serde_json::to_string(&report)?)
    };
    run.await.map_err(|e| JsValue::from_str(&format!("{e:#}")))
}

/// `vanish grads` on this page's WebGPU adapter: the loss, logits and every parameter's gradient of
/// the network and batch in the safetensors file `bytes` (named `name` in errors), as JSON
/// `{engine, spec, loss, tensors: {name: [values]}}` — what tests/web.rs compares with the JAX fixtures.
#[wasm_bindgen]
pub async fn grads(name: String, bytes: Vec<u8>, adapter: String) -> Result<String, JsValue> {
    let run = async {
        use vanish::engine::{BatchEngine, ModelJob, Work};
        use vanish::interchange::{BatchGradients, Precision, TensorFile, gradient_tensors, read_batch, read_model};
        let file = TensorFile::parse(Path::new(&name), &bytes)?;
        let model = read_model(&file, None)?;
        let batch = read_batch(&file, &model.spec)?;
        let spec = &model.spec;
        let gpu = gpu(&adapter).await.map_err(|e| anyhow::anyhow!("vanish grads needs a GPU here: {e}"))?;
        let data = batch.dataset(spec);
        let empty = Dataset { x: Vec::new(), y: Vec::new(), ..data.clone() };
        let cfg = TrainConfig { optimizer: Optimizer::sgd(0.1, 0.0), batch_size: batch.rows, clip_grad_norm: None };
        let job = ModelJob { spec: spec.clone(), params: model.params(), train: &data, test: &empty, cfg };
        let mut engine = vanish::gpu::FusedExecutor::new(gpu, &[job])?;
        // One probe: forward and backward over the whole batch in training mode, no update.
        let probe = engine.run_async(&Work { probe: true, ..Default::default() }).await?.swap_remove(0);
        let probe = probe.probe.ok_or_else(|| anyhow::anyhow!("the engine returned no probe"))?.probe;
        let g = BatchGradients {
            loss: probe.loss,
            logits: engine.logits_async().await?,
            grads: engine.gradients_async().await?,
            rows: probe.rows,
            precision: Precision::F32,
        };
        let tensors: serde_json::Map<String, serde_json::Value> =
            gradient_tensors(spec, &g).into_iter().map(|t| (t.name, serde_json::json!(t.values))).collect();
        anyhow::Ok(
            serde_json::json!({
                "engine": BatchEngine::name(&engine),
                "spec": spec.describe(),
                "loss": g.loss,
                "tensors": tensors,
            })
            .to_string(),
        )
    };
    run.await.map_err(|e| JsValue::from_str(&format!("{e:#}")))
}

/// What the page's sweep asks for: the grid's axes in the CLI's syntax (`--depths 1..=20`,
/// `--activations sigmoid,tanh`, `--norms none,batch`) and the data and training flags.
#[derive(Deserialize)]
#[serde(default)]
struct SweepOptions {
    #[serde(flatten)]
    data: DataOptions,
    #[serde(flatten)]
    engine: EngineOptions,
    depths: String,
    width: usize,
    activations: String,
    norms: String,
    init: String,
    seeds: u64,
    epochs: usize,
    batch_size: usize,
    lr: f64,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            data: DataOptions::default(),
            engine: EngineOptions::default(),
            depths: "1..=10".into(),
            width: 10,
            activations: "sigmoid,tanh,relu".into(),
            norms: "none".into(),
            init: "glorot-uniform".into(),
            seeds: 1,
            epochs: 1,
            batch_size: 32,
            lr: 1e-3,
        }
    }
}

/// Runs `vanish sweep` over the options' grid in memory (nothing to resume, nowhere to write) on
/// WebGPU or the CPU reference, calling `progress(done, total)` after each run. Resolves to JSON
/// `{engine, runs, text, plots, note, runs_csv, summary_json}`: the terminal table, the report's plots,
/// and the runs as the CLI's `runs.csv` and `summary.json`.
#[wasm_bindgen]
pub async fn sweep(options: String, progress: js_sys::Function) -> Result<String, JsValue> {
    run_sweep(&options, progress).await.map_err(|e| JsValue::from_str(&format!("{e:#}")))
}

async fn run_sweep(options: &str, progress: js_sys::Function) -> anyhow::Result<String> {
    use vanish::sweep::grid::{OptimizerChoice, parse_counts, parse_list};
    use vanish::sweep::{DataSettings, Grid, MemoryStore, Settings, run_sweep_async};
    let o: SweepOptions = serde_json::from_str(options)?;
    let msg = anyhow::Error::msg;
    let settings = Settings {
        grid: Grid {
            depths: parse_counts("--depths", &o.depths).map_err(msg)?,
            widths: vec![o.width],
            activations: parse_list("--activations", &o.activations).map_err(msg)?,
            norms: parse_list("--norms", &o.norms).map_err(msg)?,
            inits: parse_list("--inits", &o.init).map_err(msg)?,
            optimizers: vec![OptimizerChoice::Adam],
            residual: vec![false],
            residual_scale: 1.0,
            clip: vec![None],
            seeds: o.seeds,
        },
        data: DataSettings {
            dataset: o.data.dataset.clone(),
            samples: o.data.samples,
            noise: o.data.noise,
            factor: o.data.factor,
            classes: o.data.classes,
            label: None,
            delimiter: None,
            test_fraction: o.data.test_fraction,
            standardize: false,
        },
        epochs: o.epochs,
        batch_size: o.batch_size,
        lr: o.lr,
        preset: None,
    };
    let (engine, note) = PageBackend::open(&o.engine).await;
    let backend = engine.backend();
    let mut on_event = |e: &vanish::sweep::RunEvent| {
        let _ = progress.call2(&JsValue::NULL, &JsValue::from(e.done as f64), &JsValue::from(e.total as f64));
    };
    let mut between = |_: &vanish::train::Look<'_>| -> Pin<Box<dyn Future<Output = bool>>> {
        Box::pin(async {
            yield_to_browser().await;
            false
        })
    };
    let store = MemoryStore::default();
    let records = run_sweep_async(&store, &settings, None, backend, &mut on_event, &mut between).await?;
    let engine = records.first().map_or(backend.name(), |r| r.engine.clone());
    let plots = vanish::report::plots_of(&records).map_err(anyhow::Error::msg)?;
    let groups = vanish::report::groups::groups(&records);
    let settings_json = serde_json::to_value(&settings)?;
    let summary = vanish::report::tidy::summary("vanish sweep (web)", &settings_json, &records, &groups, &[]);
    Ok(serde_json::json!({
        "engine": engine,
        "runs": records.len(),
        "text": vanish::report::terminal_summary(&records, &[]),
        "plots": plots,
        "note": note,
        "runs_csv": csv_text(&records)?,
        "summary_json": serde_json::to_string_pretty(&summary)?,
    })
    .to_string())
}

/// `runs.csv`'s text for `records`.
fn csv_text(records: &[vanish::sweep::RunRecord]) -> anyhow::Result<String> {
    let mut text = Vec::new();
    vanish::report::tidy::write_csv(records, &mut text)?;
    Ok(String::from_utf8(text)?)
}

/// What the page's training mode asks for: one network, every option by its `vanish train` flag name.
#[derive(Deserialize)]
#[serde(default)]
struct TrainPageOptions {
    #[serde(flatten)]
    data: DataOptions,
    #[serde(flatten)]
    engine: EngineOptions,
    depth: usize,
    width: usize,
    /// One, or one per hidden layer (`sigmoid`, `relu,tanh,…`).
    activation: String,
    norm: String,
    residual: bool,
    init: String,
    /// `adam` or `sgd`.
    optimizer: String,
    lr: f64,
    momentum: f64,
    batch_size: usize,
    epochs: usize,
    seed: u64,
    clip_grad_norm: Option<f64>,
}

impl Default for TrainPageOptions {
    fn default() -> Self {
        TrainPageOptions {
            data: DataOptions::default(),
            engine: EngineOptions::default(),
            depth: 11,
            width: 10,
            activation: "sigmoid".into(),
            norm: "none".into(),
            residual: false,
            init: "glorot-uniform".into(),
            optimizer: "adam".into(),
            lr: 1e-3,
            momentum: 0.0,
            batch_size: 32,
            epochs: 1,
            seed: 0,
            clip_grad_norm: None,
        }
    }
}

/// Runs `vanish train` for one network: resolves to JSON `{engine, text, plots, metrics_json, weights,
/// runs_csv, summary_json}` — `metrics_json` is the object `vanish train --out` writes to metrics.json.
#[wasm_bindgen]
pub async fn train(options: String, progress: js_sys::Function, plots: js_sys::Function) -> Result<String, JsValue> {
    run_train(&options, progress, plots).await.map_err(|e| JsValue::from_str(&format!("{e:#}")))
}

async fn run_train(options: &str, progress: js_sys::Function, plots: js_sys::Function) -> anyhow::Result<String> {
    use anyhow::bail;
    use vanish::engine::{ModelJob, valid_clip};
    use vanish::interchange::{Manifest, Precision, encode, params_tensors};
    use vanish::model::Params;
    use vanish::train::{TrainOptions, TrainOutput, TrainRun, clipped_fraction, summary_text, train_batch_async};
    let o: TrainPageOptions = serde_json::from_str(options)?;
    let (train_set, test_set) = data(&o.data, o.seed)?;
    if !(o.lr.is_finite() && o.lr > 0.0) {
        bail!("--lr must be finite and > 0, got {}", o.lr);
    }
    if !(0.0..1.0).contains(&o.momentum) {
        bail!("--momentum must be in [0, 1), got {}", o.momentum);
    }
    if o.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if let Some(x) = o.clip_grad_norm.filter(|x| !valid_clip(*x)) {
        bail!("--clip-grad-norm must be finite and > 0, got {x}");
    }
    let optimizer = match o.optimizer.as_str() {
        "adam" => Optimizer::adam(o.lr),
        "sgd" => Optimizer::sgd(o.lr, o.momentum),
        other => bail!("--optimizer must be sgd or adam, got {other}"),
    };
    let activations: Vec<Activation> =
        vanish::sweep::grid::parse_list("--activation", &o.activation).map_err(anyhow::Error::msg)?;
    let mut spec = MlpSpec {
        norm: o.norm.parse().map_err(anyhow::Error::msg)?,
        init: o.init.parse().map_err(anyhow::Error::msg)?,
        residual: o.residual.then_some(1.0),
        ..MlpSpec::new(
            train_set.features,
            &vec![o.width; o.depth],
            Activation::Identity,
            Output::for_classes(train_set.classes),
        )
    };
    spec.activations = match activations.len() {
        1 => vec![activations[0]; o.depth],
        _ => activations,
    };
    spec.validate().map_err(anyhow::Error::msg)?;
    let cfg = TrainConfig { optimizer, batch_size: o.batch_size, clip_grad_norm: o.clip_grad_norm };
    let params = Params::init(&spec, o.seed);
    let job = ModelJob { spec: spec.clone(), params, train: &train_set, test: &test_set, cfg };
    let (page_engine, note) = PageBackend::open(&o.engine).await;
    let backend = page_engine.backend();
    let mut engine = backend.build(std::slice::from_ref(&job))?;
    let opts = TrainOptions {
        epochs: o.epochs,
        seed: o.seed,
        shuffle: true,
        probe_every: None,
        has_test: !test_set.is_empty(),
    };
    let steps = vanish::engine::batches_per_epoch(train_set.len(), o.batch_size);
    let (look_spec, look_train) = (spec.clone(), &train_set);
    let mut redraws = Redraws::new(o.engine.redraw_ms);
    let mut between = move |look: &vanish::train::Look<'_>| -> Pin<Box<dyn Future<Output = bool>>> {
        let p = look.progress;
        if redraws.due(p) {
            let config = vanish::sweep::RunConfig::from_spec(&look_spec, cfg.optimizer, o.seed);
            let records: Vec<_> = look
                .histories
                .iter()
                .zip(look.params.unwrap_or_default())
                .map(|(t, params)| {
                    let mut r = vanish::sweep::record_of(config.clone(), &look_spec, t, steps, look_train);
                    r.boundary = vanish::sweep::boundary::decision_boundary(&look_spec, params, look_train);
                    r
                })
                .collect();
            redraw(&plots, &records);
        }
        let _ = progress.call3(
            &JsValue::NULL,
            &JsValue::from(p.step as f64),
            &JsValue::from(p.total_steps as f64),
            &JsValue::from(p.last_loss),
        );
        Box::pin(async {
            yield_to_browser().await;
            false
        })
    };
    let mut trained = train_batch_async(
        engine.as_mut(),
        train_set.len(),
        vanish::train::Pace { batch_size: o.batch_size, steps_per_look: Some(STEPS_PER_REDRAW), read_params: true },
        std::slice::from_ref(&opts),
        &mut between,
    )
    .await?
    .remove(0);
    if let Some(e) = trained.diverged.take() {
        bail!(e);
    }
    let last = engine.params_async().await?.remove(0);
    let history = &trained.history;
    let output = TrainOutput {
        config: TrainRun {
            dataset: &o.data.name(),
            train_rows: train_set.len(),
            test_rows: test_set.len(),
            spec: &spec,
            train: cfg,
            options: &opts,
        },
        history,
        clipped_fraction: clipped_fraction(cfg, history),
        counters: backend.counters(),
    };
    let record = vanish::sweep::record_run(&spec, (cfg, o.seed), &trained, &last, &train_set);
    let records = [record];
    let plots = vanish::report::plots_of(&records).map_err(anyhow::Error::msg)?;
    let groups = vanish::report::groups::groups(&records);
    let summary = vanish::report::tidy::summary(
        "vanish train (web)",
        &serde_json::to_value(&output.config)?,
        &records,
        &groups,
        &[],
    );
    let manifest = Manifest {
        spec: spec.clone(),
        seed: Some(o.seed),
        adapter: history.engine.clone(),
        content: "final weights".into(),
    };
    Ok(serde_json::json!({
        "engine": history.engine,
        "text": format!("vanish train: {} on {}\n{}", spec.describe(), history.engine, summary_text(history, output.clipped_fraction)),
        "plots": plots,
        "metrics_json": serde_json::to_string_pretty(&output)?,
        "weights": Weights { file: "final.safetensors".into(), bytes: encode(&params_tensors(&last), Precision::F32, manifest.to_metadata()) },
        "runs_csv": csv_text(&records)?,
        "summary_json": serde_json::to_string_pretty(&summary)?,
        "note": note,
    })
    .to_string())
}
