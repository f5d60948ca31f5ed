//! vanish in a web page: the library's entry points — `demo::run`, `train::run`, `run_sweep_async`, the
//! check suite and the gradients of a file — on the visitor's GPU through WebGPU, or on the f64 CPU
//! reference where the browser has none (said on the page, as the CLI says it). The page sends the
//! library's own settings types as JSON, by the command line's flag names, and asks the library for
//! their defaults and choices (`defaults`), so nothing here or in the page repeats them.
//!
//! Nothing here blocks: every engine answer is awaited, and training yields to the browser's event loop
//! between chunks of steps, so the page stays responsive while it runs.

use std::cell::Cell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use vanish::data::{DataSettings, Dataset, InMemory};
use vanish::demo::{self, DemoSettings};
use vanish::engine::{Backend, Optimizer, TrainConfig};
use vanish::gpu::{Gpu, GpuBackend};
use vanish::interchange::{Manifest, Precision, encode, params_tensors};
use vanish::model::{Activation, MlpSpec, Norm, Params};
use vanish::record::flow::GradientFlow;
use vanish::record::{RunRecord, boundary::decision_boundary, record_of, record_run};
use vanish::reference::CpuBackend;
use vanish::sweep::{MemoryStore, SweepOptions, run_sweep_async};
use vanish::train::{Answer, Interim, Pace, Progress, TrainSettings};

/// The page's starting values and drop-down lists, from the library: `{demo, train, sweep, choices}`,
/// each settings object as the page sends it back.
#[wasm_bindgen]
pub fn defaults() -> String {
    let sweep = SweepOptions {
        depths: Some(vanish::defaults::SWEEP_DEPTHS.into()),
        widths: Some(vanish::defaults::SWEEP_WIDTHS.into()),
        activations: Some(vanish::defaults::SWEEP_ACTIVATIONS.into()),
        norms: Some(vanish::defaults::SWEEP_NORMS.into()),
        seeds: Some(vanish::defaults::SWEEP_SEEDS),
        ..SweepOptions::default()
    };
    let demo = DemoSettings::default();
    // The library's lists, and the presets ("" for none) for the sweep's drop-down.
    let mut choices = serde_json::to_value(vanish::defaults::choices()).unwrap_or_default();
    choices["preset"] = std::iter::once(String::new())
        .chain(vanish::sweep::Preset::ALL.iter().map(|p| p.to_string()))
        .collect::<Vec<_>>()
        .into();
    serde_json::json!({
        "demo": demo,
        // The demo's fourth network: batch norm unless the page asks for layer norm.
        "cure_norm": demo.cure_norm(),
        "train": TrainSettings::default(),
        "sweep": sweep,
        "choices": choices,
        "play_epochs": PLAY_EPOCHS,
        "steps_per_look": STEPS_PER_REDRAW,
        "cures": cures(),
    })
    .to_string()
}

/// `vanish theory --json` for the page's theory panel: the mean-field quantities of `activation` at
/// (σ_w², σ_b²), computed in f64 here (well under a second; the page recomputes as the inputs change).
#[wasm_bindgen]
pub fn theory(activation: String, sigma_w2: f64, sigma_b2: f64) -> Result<String, JsValue> {
    let activation: vanish::model::Activation = activation.parse().map_err(|e: String| JsValue::from_str(&e))?;
    let value = vanish::mean_field::theory_json(activation, sigma_w2, sigma_b2).map_err(|e| JsValue::from_str(&e))?;
    Ok(value.to_string())
}

/// How the page runs: which engine, and how it learns what the browser has.
#[derive(Deserialize)]
#[serde(default)]
struct PageOptions {
    /// `cpu` runs the reference even where WebGPU exists.
    device: String,
    /// The page's reading of the WebGPU adapter's `info` (vendor, architecture, description).
    adapter: String,
    /// Redraw a training run's plots at most this often, and not before this long into the run (a run
    /// that ends sooner needs no redraw; each costs the SVGs).
    redraw_ms: f64,
}

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions { device: "auto".into(), adapter: "WebGPU adapter".into(), redraw_ms: REDRAW_MS }
    }
}

/// A request from the page: the command's settings, how to run it, and the files the visitor picked
/// (names and bytes; they never leave their machine).
struct Request<S> {
    settings: S,
    page: PageOptions,
    files: InMemory,
}

impl<S: serde::de::DeserializeOwned> Request<S> {
    fn parse(options: &str, files: js_sys::Array) -> anyhow::Result<Self> {
        let settings = serde_json::from_str(options)?;
        let page = serde_json::from_str(options)?;
        let files = files
            .iter()
            .map(|pair| {
                let pair = js_sys::Array::from(&pair);
                let name = pair.get(0).as_string().unwrap_or_default();
                let bytes = js_sys::Uint8Array::new(&pair.get(1)).to_vec();
                (PathBuf::from(name), bytes)
            })
            .collect();
        Ok(Request { settings, page, files: InMemory(files) })
    }

    /// The training and test splits of `data` for `seed`, from the picked files.
    fn data(&self, data: &DataSettings, seed: u64) -> anyhow::Result<(Dataset, Dataset)> {
        Ok(data.load_from(&self.files, seed)?)
    }
}

/// "Compare the cures": the same network as sigmoid, ReLU, sigmoid with batch norm and residual sigmoid.
const CURES: [(Activation, Norm, bool); 4] = [
    (Activation::Sigmoid, Norm::None, false),
    (Activation::Relu, Norm::None, false),
    (Activation::Sigmoid, Norm::Batch, false),
    (Activation::Sigmoid, Norm::None, true),
];

/// The cures as the page sends them to `train`: each one's name (the demo's) and the settings it changes.
fn cures() -> serde_json::Value {
    CURES
        .iter()
        .map(|&(activation, norm, residual)| {
            let spec = MlpSpec { norm, ..MlpSpec::new(1, &[1], activation, vanish::model::Output::Binary) }
                .with_residual(residual.then_some(1.0));
            serde_json::json!({
                "name": demo::run_name(&spec, spec.init),
                "settings": { "activation": [activation.to_string()], "norm": norm.to_string(), "residual": residual },
            })
        })
        .collect()
}

/// How many epochs the page's Play trains at most before it stops by itself (a pause or reset stops it
/// sooner): about a minute of the notebook's network on a laptop's GPU.
const PLAY_EPOCHS: usize = 1000;

/// The page's default `redraw_ms`.
const REDRAW_MS: f64 = 300.0;

/// Steps between two redraws of a training run's plots in the page: the notebook's 21 steps redraw
/// twice while training (the final plots follow at the end), each redraw costing a readback of the
/// weights (for the decision boundaries) and the SVGs.
const STEPS_PER_REDRAW: usize = 7;

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

/// A file the page offers for download.
#[derive(Serialize)]
struct Download {
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

/// Yields to the browser; never asks to stop.
fn yielding() -> Answer {
    Box::pin(async {
        yield_to_browser().await;
        false
    })
}

/// What the page answered between two chunks of steps: after yielding to the browser, a Promise it
/// returned is awaited (a paused run waits there), and `true` (or a rejection) stops the run.
fn page_answer(returned: Result<JsValue, JsValue>) -> Answer {
    Box::pin(async move {
        yield_to_browser().await;
        match returned {
            Ok(v) if v.is_instance_of::<js_sys::Promise>() => {
                JsFuture::from(js_sys::Promise::from(v)).await.map_or(true, |answer| answer.is_truthy())
            }
            Ok(v) => v.is_truthy(),
            Err(_) => true,
        }
    })
}

/// The page's engine: the browser's WebGPU adapter on the fused executor, or the CPU reference (asked
/// for, or where there is no WebGPU: the note says so, as the CLI does without a driver).
enum PageBackend {
    Gpu(GpuBackend<'static>),
    Cpu,
}

impl PageBackend {
    async fn open(o: &PageOptions) -> (PageBackend, Option<String>) {
        if o.device == "cpu" {
            return (PageBackend::Cpu, Some("the CPU reference (f64), as asked".into()));
        }
        match gpu(&o.adapter).await {
            // The layered path reads back by blocking, which a page cannot: the executor only.
            Ok(g) => (PageBackend::Gpu(GpuBackend::for_page(g)), None),
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

/// The report's plots of `records` as the page shows them: against depth, runs of one depth are a lone
/// dot, so that plot is left out.
fn page_plots(
    records: &[RunRecord],
    diagram: &[vanish::report::trainability::Panel],
) -> anyhow::Result<Vec<vanish::report::plots::Plot>> {
    let mut plots = vanish::report::plots_with(records, diagram).map_err(anyhow::Error::msg)?;
    let depths: std::collections::BTreeSet<usize> = records.iter().map(|r| r.config.depth).collect();
    if depths.len() < 2 {
        plots.retain(|p| p.file != "depth.svg");
    }
    Ok(plots)
}

/// Hands the page the report's plots of `records` as they are now (JSON `[{title, caption, svg}]`).
fn redraw(plots: &js_sys::Function, records: &[RunRecord]) {
    let Ok(page) = page_plots(records, &vanish::report::trainability::panels(records)) else { return };
    if let Ok(json) = serde_json::to_string(&page) {
        let _ = plots.call1(&JsValue::NULL, &JsValue::from_str(&json));
    }
}

/// What every run gives the page beside its own fields: the text, the report's plots and the runs as
/// the CLI's `runs.csv` and `summary.json`.
fn report(
    title: &str,
    settings: &impl Serialize,
    records: &[RunRecord],
    checks: &[vanish::sweep::Check],
) -> anyhow::Result<serde_json::Value> {
    let diagram = vanish::report::trainability::panels(records);
    let plots = page_plots(records, &diagram)?;
    let groups = vanish::report::groups::groups(records);
    let summary =
        vanish::report::tidy::summary(title, &serde_json::to_value(settings)?, records, &groups, checks, &diagram);
    let mut csv = Vec::new();
    vanish::report::tidy::write_csv(records, &mut csv)?;
    Ok(serde_json::json!({
        "plots": plots,
        "runs_csv": String::from_utf8(csv)?,
        "summary_json": serde_json::to_string_pretty(&summary)?,
    }))
}

/// Adds `extra`'s fields to the object `base`.
fn with(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(b), serde_json::Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// `params` as `vanish train --save` writes them (safetensors, f32, with the manifest), named `file`.
fn weights(file: String, spec: &MlpSpec, params: &Params, seed: u64, adapter: &str) -> Download {
    let manifest = Manifest {
        spec: spec.clone(),
        seed: Some(seed),
        adapter: adapter.into(),
        content: "final weights".into(),
        settings: None,
    };
    Download { file, bytes: encode(&params_tensors(params), Precision::F32, manifest.to_metadata()) }
}

fn rejected(e: anyhow::Error) -> JsValue {
    JsValue::from_str(&format!("{e:#}"))
}

/// Runs `vanish demo` with `options` (`DemoSettings` and the page's options, as JSON) on WebGPU, or on
/// the CPU reference where the browser has no WebGPU adapter; `files` are the picked files as
/// `[[name, Uint8Array]]`. Calls `progress(step, total)` and `plots(json)` (the report's plots so far,
/// `[{title, caption, svg}]`) between chunks of a few steps, so the page shows the run as it trains.
/// Resolves to JSON `{demo, text, note, plots, runs_csv, summary_json, weights}` — `demo` exactly what
/// `vanish demo --json` prints; rejects with the CLI's message for bad input.
#[wasm_bindgen]
pub async fn demo(
    options: String,
    files: js_sys::Array,
    progress: js_sys::Function,
    plots: js_sys::Function,
) -> Result<String, JsValue> {
    run_demo(&options, files, progress, plots).await.map_err(rejected)
}

async fn run_demo(
    options: &str,
    files: js_sys::Array,
    progress: js_sys::Function,
    plots: js_sys::Function,
) -> anyhow::Result<String> {
    let request: Request<DemoSettings> = Request::parse(options, files)?;
    let settings = DemoSettings { look_every: Some(STEPS_PER_REDRAW), ..request.settings.clone() };
    settings.validate().map_err(anyhow::Error::msg)?;
    let (train, test) = request.data(&settings.data, settings.seed)?;
    let mut redraws = Redraws::new(request.page.redraw_ms);
    let mut between = move |p: Progress, records: &[RunRecord]| -> Answer {
        let _ = progress.call2(&JsValue::NULL, &JsValue::from(p.step as f64), &JsValue::from(p.total_steps as f64));
        if redraws.due(p) {
            redraw(&plots, records);
        }
        yielding()
    };
    let (engine, note) = PageBackend::open(&request.page).await;
    let result = demo::run(engine.backend(), &settings, (&train, &test), &mut between).await?;
    let records: Vec<_> = result
        .networks
        .iter()
        .map(|n| record_run(&n.job.spec, (n.job.cfg, settings.seed), &n.trained, &n.after, &train))
        .collect();
    let downloads: Vec<Download> = result
        .networks
        .iter()
        .map(|n| {
            let name = demo::run_name(&n.job.spec, settings.network.init).replace(" + ", "-").replace(' ', "-");
            weights(format!("{name}.safetensors"), &n.job.spec, &n.after, settings.seed, &n.trained.history.engine)
        })
        .collect();
    // The network picture of each, at initialisation (the demo's numbers) and after training.
    let flows = |last: bool| -> Vec<GradientFlow> {
        result
            .networks
            .iter()
            .zip(&records)
            .map(|(n, r)| {
                let (snap, step) = if last { (r.last(), r.batch_losses.len()) } else { (r.init(), 0) };
                GradientFlow::of(&demo::run_name(&n.job.spec, settings.network.init), &n.job.spec, snap, step)
            })
            .collect()
    };
    let page = serde_json::json!({
        "text": demo::render(&result.output),
        "flows": flows(false),
        "flows_after": flows(true),
        "demo": result.output,
        "note": note,
        "weights": downloads,
    });
    Ok(with(page, report("vanish demo (web)", &result.output.config, &records, &[])?).to_string())
}

/// Runs `vanish train` for one network (`TrainSettings` and the page's options, as JSON; `files` as for
/// `demo`): calls `progress(step, total, loss, flow)` (`flow`: the network picture at the latest probe,
/// `GradientFlow` as JSON) and `plots(json)` between chunks of steps; a Promise `progress` returns is
/// awaited, and `true` stops the run there (the page's pause and reset). Resolves to JSON `{engine, text,
/// note, plots, metrics_json, weights, runs_csv, summary_json, flow, flow_init}` — `metrics_json` is the
/// object `vanish train --out` writes to metrics.json, `flow` the picture after training.
#[wasm_bindgen]
pub async fn train(
    options: String,
    files: js_sys::Array,
    progress: js_sys::Function,
    plots: js_sys::Function,
) -> Result<String, JsValue> {
    run_train(&options, files, progress, plots).await.map_err(rejected)
}

async fn run_train(
    options: &str,
    files: js_sys::Array,
    progress: js_sys::Function,
    plots: js_sys::Function,
) -> anyhow::Result<String> {
    let request: Request<TrainSettings> = Request::parse(options, files)?;
    let settings = &request.settings;
    settings.validate().map_err(anyhow::Error::msg)?;
    let (train_set, test_set) = request.data(&settings.data, settings.seed)?;
    let job = vanish::train::job(settings, (&train_set, &test_set), vanish::memory::Holder::Gpu)
        .map_err(anyhow::Error::msg)?;
    let (spec, cfg, seed) = (job.spec.clone(), job.cfg, settings.seed);
    let steps = vanish::engine::batches_per_epoch(train_set.len(), cfg.batch_size);
    let mut redraws = Redraws::new(request.page.redraw_ms);
    let train_ref = &train_set;
    let label = demo::run_name(&spec, settings.network.init);
    let input_sq = Some(train_set.mean_square());
    let mut between = |interim: &Interim<'_>| -> Answer {
        let p = interim.progress;
        if redraws.due(p) {
            let config = vanish::record::RunConfig::from_spec(&spec, cfg.optimizer, seed);
            let records: Vec<_> = interim
                .histories
                .iter()
                .zip(interim.params.unwrap_or_default())
                .map(|(t, params)| {
                    let mut r = record_of(config.clone(), &spec, t, steps, train_ref);
                    r.boundary = decision_boundary(&spec, params, train_ref);
                    r
                })
                .collect();
            redraw(&plots, &records);
        }
        let flow = interim.histories.first().and_then(|t| GradientFlow::latest(&label, &spec, &t.history, input_sq));
        let args = js_sys::Array::of4(
            &JsValue::from(p.step as f64),
            &JsValue::from(p.total_steps as f64),
            &JsValue::from(p.last_loss),
            &JsValue::from_str(&serde_json::to_string(&flow).unwrap_or_else(|_| "null".into())),
        );
        page_answer(progress.apply(&JsValue::NULL, &args))
    };
    let (page_engine, note) = PageBackend::open(&request.page).await;
    let pace = Pace { batch_size: cfg.batch_size, steps_per_look: Some(STEPS_PER_REDRAW), read_params: true };
    let result = vanish::train::run(page_engine.backend(), settings, job, pace, &mut between).await?;
    let history = &result.trained.history;
    let output = result.output();
    let record = record_run(&result.spec, (result.cfg, seed), &result.trained, &result.last, &train_set);
    let label = demo::run_name(&result.spec, settings.network.init);
    let page = serde_json::json!({
        "engine": history.engine,
        "flow_init": GradientFlow::of(&label, &result.spec, record.init(), 0),
        "flow": GradientFlow::of(&label, &result.spec, record.last(), history.batch_losses.len()),
        "text": format!(
            "vanish train: {} on {}\n{}",
            result.spec.describe(),
            history.engine,
            vanish::report::train_summary(history, output.clipped_fraction)
        ),
        "metrics_json": serde_json::to_string_pretty(&output)?,
        "weights": weights("final.safetensors".into(), &result.spec, &result.last, seed, &history.engine),
        "note": note,
    });
    Ok(with(page, report("vanish train (web)", &output.config, &[record], &[])?).to_string())
}

/// Runs `vanish sweep` over `options` (`SweepOptions` and the page's options, as JSON; `files` as for
/// `demo`) in memory — nothing to resume, nowhere to write — calling `progress(done, total)` after each
/// run. Resolves to JSON `{engine, runs, text, note, plots, runs_csv, summary_json}`.
#[wasm_bindgen]
pub async fn sweep(options: String, files: js_sys::Array, progress: js_sys::Function) -> Result<String, JsValue> {
    run_sweep(&options, files, progress).await.map_err(rejected)
}

async fn run_sweep(options: &str, files: js_sys::Array, progress: js_sys::Function) -> anyhow::Result<String> {
    let request: Request<SweepOptions> = Request::parse(options, files)?;
    let settings = request.settings.settings()?;
    // The sweep loads each seed's data itself; in a page, from the picked files.
    let data_files = &request.files;
    let (engine, note) = PageBackend::open(&request.page).await;
    let backend = engine.backend();
    let mut on_event = |e: &vanish::sweep::RunEvent| {
        let _ = progress.call2(&JsValue::NULL, &JsValue::from(e.done as f64), &JsValue::from(e.total as f64));
    };
    let mut between = |_: &Interim<'_>| yielding();
    let store = MemoryStore::default();
    let records = run_sweep_async(&store, &settings, data_files, None, backend, &mut on_event, &mut between).await?;
    let engine = records.first().map_or(backend.name(), |r| r.engine.clone());
    // A preset's checks, as `vanish sweep --preset` prints them.
    let checks = settings.preset.map(|p| vanish::sweep::preset::checks(p, &records)).unwrap_or_default();
    let page = serde_json::json!({
        "engine": engine,
        "runs": records.len(),
        // The CLI's table points to the report it writes; the page offers summary.json instead.
        "text": vanish::report::terminal_summary(&records, &checks).replace("in report.html and summary.json", "in summary.json"),
        "note": note,
    });
    Ok(with(page, report("vanish sweep (web)", &settings, &records, &checks)?).to_string())
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
    run.await.map_err(rejected)
}

/// `vanish grads` on this page's WebGPU adapter: the loss, logits and every parameter's gradient of
/// the network and batch in the safetensors file `bytes` (named `name` in errors), as JSON
/// `{engine, spec, loss, tensors: {name: [values]}}` — what tests/suite/web.rs compares with the JAX fixtures.
#[wasm_bindgen]
pub async fn grads(name: String, bytes: Vec<u8>, adapter: String) -> Result<String, JsValue> {
    let run = async {
        use vanish::engine::{BatchEngine, ModelJob, Work};
        use vanish::interchange::{BatchGradients, TensorFile, gradient_tensors, read_batch, read_model};
        let file = TensorFile::parse(Path::new(&name), &bytes)?;
        let model = read_model(&file, None)?;
        let batch = read_batch(&file, &model.spec)?;
        let spec = &model.spec;
        let gpu = gpu(&adapter).await.map_err(|e| anyhow::anyhow!("vanish grads needs a GPU here: {e}"))?;
        batch.check_f32(&file, spec)?;
        let params = model.params_f32(&file)?;
        let data = batch.dataset(spec);
        let empty = Dataset { x: Vec::new(), y: Vec::new(), ..data.clone() };
        let cfg = TrainConfig::new(Optimizer::sgd(0.1, 0.0), batch.rows);
        let job = ModelJob { spec: spec.clone(), params, train: &data, test: &empty, cfg };
        let class = match vanish::gpu::plan(gpu, &job, vanish::gpu::TrainPath::Auto)? {
            vanish::gpu::Plan::Executor(class) => class,
            vanish::gpu::Plan::Layered => anyhow::bail!("{} layers: more than a page's GPU holds", spec.num_layers()),
        };
        let mut engine = vanish::gpu::Executor::new(gpu, &[job], class)?;
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
    run.await.map_err(rejected)
}
