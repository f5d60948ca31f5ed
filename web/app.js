// The page's glue: fills the controls from the library's defaults and choices, sends the library's own
// settings (by the command line's flag names) to its entry points — the demo, train, sweep, check and
// grads, in WebAssembly on WebGPU or the CPU reference — and shows their text, plots and files.
// Training yields to the event loop between chunks of steps, so the page stays responsive.
import init, { defaults, demo, check, grads, sweep, theory, train } from './vanish.js';

const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').textContent = text; };

await init();
const DEFAULTS = JSON.parse(defaults());

// What the browser says its WebGPU adapter is, for the result's `engine` (wgpu cannot read it there).
async function adapterName() {
  if (!navigator.gpu) return '';
  const a = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  const info = a && a.info;
  return info ? [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') : '';
}
const adapter = (await adapterName()) || 'WebGPU adapter';

// Every control's id is the name of the setting it holds.
function setControl(id, value) {
  const c = $(id);
  if (!c || value === null || value === undefined) return;
  if (c.type === 'checkbox') c.checked = Boolean(value);
  else c.value = Array.isArray(value) ? value.join(',') : String(value);
}

function fillControls() {
  for (const select of document.querySelectorAll('select[data-choices]')) {
    select.replaceChildren(...DEFAULTS.choices[select.dataset.choices].map((name) => new Option(name || 'none', name)));
  }
  for (const settings of [DEFAULTS.sweep, DEFAULTS.train, DEFAULTS.demo]) {
    for (const [id, value] of Object.entries(settings)) setControl(id, value);
  }
  setControl('cure_norm', DEFAULTS.cure_norm);
}

function readControl(id) {
  const c = $(id);
  if (c.type === 'checkbox') return c.checked;
  if (c.type === 'number') return c.value === '' ? null : Number(c.value);
  return c.value;
}

const read = (ids) => Object.fromEntries(ids.map((id) => [id, readControl(id)]));

// The dataset the picked files make, by the CLI's names: an npz, MNIST's IDX files (plain or .gz), or a CSV.
function pickedDataset(names) {
  const npz = names.find((n) => n.endsWith('.npz'));
  if (npz) return `npz:${npz}`;
  if (names.some((n) => n.includes('idx3-ubyte') || n.includes('idx1-ubyte'))) return 'mnist:';
  return `csv:${names[0]}`;
}

// The settings every command shares, the picked files (they never leave the page) and how the page runs.
async function common() {
  const o = read(['dataset', 'samples', 'depth', 'width', 'init', 'bias_init', 'lr', 'batch_size', 'epochs', 'seed', 'device']);
  o.adapter = adapter;
  if (hooks.redrawMs() !== undefined) o.redraw_ms = hooks.redrawMs();
  const files = [];
  for (const file of $('csv').files) files.push([file.name, new Uint8Array(await file.arrayBuffer())]);
  if (files.length) o.dataset = pickedDataset(files.map(([name]) => name));
  return { o, files };
}

function download(name, bytes, type) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes], { type }));
  a.download = name;
  a.textContent = name;
  return a;
}

// A result's text, plots and files (each `[name, bytes, type]`).
function show(result, files) {
  $('text').textContent = (result.note ? `note: ${result.note}\n` : '') + result.text;
  drawPlots(result.plots);
  $('downloads').replaceChildren(...files.map(([name, bytes, type]) => download(name, bytes, type)));
}

const reportFiles = (result) => [
  ['runs.csv', result.runs_csv, 'text/csv'],
  ['summary.json', result.summary_json, 'application/json'],
];
const weightFile = (w) => [w.file, new Uint8Array(w.bytes), 'application/octet-stream'];

function drawPlots(list) {
  const plots = $('plots');
  plots.replaceChildren();
  for (const p of list) {
    const fig = document.createElement('figure');
    fig.innerHTML = p.svg; // vanish's own SVG (plotters), from this page's module
    const cap = document.createElement('figcaption');
    cap.textContent = `${p.title}: ${p.caption}`;
    fig.append(cap);
    plots.append(fig);
  }
}

// The report's plots of a run in training, redrawn every few steps, decision boundaries included.
function live(json) {
  const list = JSON.parse(json);
  hooks.redrawn(list);
  drawPlots(list);
}

const showProgress = (done, total) => { $('progress').max = total || 1; $('progress').value = done; };
const seconds = (started) => (performance.now() - started) / 1000;

// The one scaffold every button runs through: disable it, clear the last error, run `work`, hand its
// result to the test hooks under `name`, and show any error.
async function handle(button, name, work) {
  $(button).disabled = true;
  $('error').textContent = '';
  hooks.start(name);
  try {
    hooks.done(name, await work(performance.now()));
  } catch (e) {
    $('error').textContent = `error: ${e}`;
    status('Stopped.');
    hooks.failed(e);
  } finally {
    $(button).disabled = false;
  }
}

// `vanish demo`: the notebook's four networks (and the cures).
const runNotebook = () => handle('notebook', 'demo', async (started) => {
  const { o, files } = await common();
  Object.assign(o, read(['cures']), { norm: readControl('cure_norm') });
  status('Training the four networks…');
  const result = JSON.parse(await demo(JSON.stringify(o), files, showProgress, live));
  show(result, [
    ['demo.json', JSON.stringify(result.demo, null, 2), 'application/json'],
    ...reportFiles(result),
    ...result.weights.map(weightFile),
  ]);
  hooks.seconds(seconds(started));
  status(`Done in ${seconds(started).toFixed(2)} s on ${result.demo.config.engine}.`);
  return result.demo;
});

// `vanish train` for one network: what it prints, the report's plots, metrics.json and the weights.
const runTrain = () => handle('train', 'train', async (started) => {
  const { o, files } = await common();
  Object.assign(o, read(['residual', 'optimizer', 'momentum', 'clip_grad_norm', 'weight_decay', 'output', 'histograms']));
  o.activation = [readControl('activation')];
  o.norm = readControl('norm');
  const progress = (step, total, loss) => {
    showProgress(step, total);
    status(`Training: step ${step}/${total}, loss ${loss.toFixed(4)}`);
  };
  const result = JSON.parse(await train(JSON.stringify(o), files, progress, live));
  show(result, [['metrics.json', result.metrics_json, 'application/json'], ...reportFiles(result), weightFile(result.weights)]);
  status(`Trained in ${seconds(started).toFixed(2)} s on ${result.engine}.`);
  return JSON.parse(result.metrics_json);
});

// `vanish sweep` over the depths and axes given, in memory: the terminal table and the report's plots.
const runSweep = () => handle('sweep', 'sweep', async (started) => {
  const { o, files } = await common();
  Object.assign(o, read(['depths', 'activations', 'norms', 'seeds', 'histograms']));
  Object.assign(o, { widths: String(o.width), inits: o.init });
  // The σ axes when given (an empty box is the default: the init above, zero biases).
  for (const id of ['sigma_w2', 'sigma_b2']) o[id] = readControl(id).trim() || null;
  // A preset sets its axes and training: only the data and the engine go with it.
  const preset = readControl('preset');
  if (preset) {
    for (const id of ['depths', 'widths', 'activations', 'norms', 'inits', 'sigma_w2', 'sigma_b2', 'seeds', 'lr', 'batch_size', 'epochs']) delete o[id];
    o.preset = preset;
  }
  const progress = (done, total) => { showProgress(done, total); status(`Sweep: ${done}/${total} runs`); };
  const result = JSON.parse(await sweep(JSON.stringify(o), files, progress));
  show(result, reportFiles(result));
  status(`Sweep: ${result.runs} runs in ${seconds(started).toFixed(2)} s on ${result.engine}.`);
  return { runs: result.runs, engine: result.engine, summary: JSON.parse(result.summary_json) };
});

// `vanish check --quick` in the page: every case's worst tensor against its bound, as the CLI prints.
const runCheck = () => handle('check', 'check', async () => {
  status('Checking this GPU against the f64 reference…');
  const progress = (done, total, name) => { showProgress(done, total); status(`Checked ${done}/${total}: ${name}`); };
  const report = JSON.parse(await check(true, adapter, progress));
  const ratio = (t) => t.max_abs / Math.max(t.allowed, 1e-300);
  const lines = [`vanish check --quick on ${report.engine}: ${report.passed} passed, ${report.failed} failed in ${report.seconds.toFixed(1)} s`, ''];
  for (const c of report.cases) {
    const worst = c.tensors.reduce((a, t) => (ratio(t) > ratio(a) ? t : a));
    lines.push(`${c.name.padEnd(44)} ${worst.name.padEnd(28)} ${worst.max_abs.toExponential(2).padStart(9)} rel ${worst.rel.toExponential(2)}  ${worst.rule} ${c.passed ? 'ok' : 'FAILED'}`);
  }
  $('text').textContent = lines.join('\n');
  $('plots').replaceChildren();
  status(`Check: ${report.passed} passed, ${report.failed} failed.`);
  return report;
});

// `vanish theory` for the panel's activation, σ_w² and σ_b², recomputed as they change.
const THEORY_ROWS = [
  ['q*', 'q_star', 'the pre-activations\' variance deep in the network'],
  ['χ₁', 'chi_1', '‖δ‖² per layer going down'],
  ['c*', 'c_star', 'the correlation inputs converge to'],
  ['χ_c', 'chi_c', 'the correlation map\'s slope at c*'],
  ['ξ_c', 'xi_c', 'the depth scale, in layers (trainable to about 6ξ_c)'],
  ['critical σ_w²', 'critical_sigma_w2', 'where χ₁ = 1 at this σ_b²'],
];
function showTheory() {
  const table = $('theory');
  try {
    const t = JSON.parse(theory(readControl('mf_activation'), readControl('mf_sigma_w2'), readControl('mf_sigma_b2')));
    const cell = (text, title) => Object.assign(document.createElement('td'), { textContent: text, title: title || '' });
    const rows = THEORY_ROWS.map(([name, key, what]) => {
      const tr = document.createElement('tr');
      tr.append(cell(name, what), cell(t[key] === null ? '—' : t[key].toPrecision(6), what));
      return tr;
    });
    const phase = document.createElement('tr');
    phase.append(cell('phase'), cell(t.phase));
    table.replaceChildren(...rows, phase);
    window.vanishTheory = t;
  } catch (e) {
    table.replaceChildren(Object.assign(document.createElement('caption'), { textContent: String(e) }));
    window.vanishTheory = { error: String(e) };
  }
}

// For scripts and tests, in one place: what each button produced (`window.vanishDemo`, `vanishTrain`,
// `vanishSweep`, `vanishCheck`), the last error (`vanishError`), the demo's time (`vanishSeconds`), the
// live redraws (`vanishRedraws`, `vanishLivePlots`), the redraw interval a script may set
// (`vanishRedrawMs`), `vanish grads` on a file's bytes (`vanishGrads(name, base64)`), the theory panel's
// numbers (`vanishTheory`) and readiness (`vanishReady`).
const HOOK = { demo: 'vanishDemo', train: 'vanishTrain', sweep: 'vanishSweep', check: 'vanishCheck' };
const hooks = {
  start(name) { window[HOOK[name]] = undefined; window.vanishError = undefined; },
  done(name, value) { window[HOOK[name]] = value; },
  failed(e) { window.vanishError = String(e); },
  seconds(s) { window.vanishSeconds = s; },
  redrawn(list) { window.vanishRedraws += 1; window.vanishLivePlots.push(list.map((p) => p.title)); },
  redrawMs() { return window.vanishRedrawMs; },
  install() {
    window.vanishRedraws = 0;
    window.vanishLivePlots = [];
    window.vanishGrads = async (name, base64) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      return JSON.parse(await grads(name, bytes, adapter));
    };
    window.vanishReady = true;
  },
};

fillControls();
$('notebook').addEventListener('click', runNotebook);
$('train').addEventListener('click', runTrain);
$('sweep').addEventListener('click', runSweep);
$('check').addEventListener('click', runCheck);
for (const id of ['mf_activation', 'mf_sigma_w2', 'mf_sigma_b2']) $(id).addEventListener('input', showTheory);
$('mf_activation').value = 'tanh';
showTheory();
status(navigator.gpu ? 'Ready: WebGPU is available.' : 'Ready: this browser has no WebGPU; the CPU reference will run.');
hooks.install();
