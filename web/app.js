// The page's glue: fills the controls from the library's defaults and choices, sends the library's own
// settings (by the command line's flag names) to its entry points — the demo, train, sweep, check and
// grads, in WebAssembly on WebGPU or the CPU reference — and shows what they return: the network picture
// and the pinned runs (network.js), the text, the report's plots and the CLI's files.
// Training yields to the event loop between chunks of steps, so the page stays responsive; Play, Pause,
// Step and Reset steer a run there. The hash of the page's address holds the settings, by the CLI's flags.
import init, { defaults, demo, check, grads, sweep, theory, train } from './vanish.js';
import { drawNetworks, drawOverlay } from './network.js';

const $ = (id) => document.getElementById(id);
function status(text) {
  $('status').textContent = text;
  hooks.status(text);
}

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

// ---- Controls: every control's id is the name of the setting it holds. ----

function setControl(id, value) {
  const c = $(id);
  if (!c || value === null || value === undefined) return;
  if (c.type === 'checkbox') c.checked = value === true || value === 'true' || value === '1' || value === '';
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

// The control's name as the page shows it (its label's text).
const controlName = (id) => ($(id).closest('label')?.firstChild?.textContent || id).trim();

// A number control's value, checked in the page's own words before anything runs.
function readNumber(c) {
  const name = controlName(c.id);
  if (c.validity.badInput) throw new Error(`${name}: not a number`);
  if (c.value === '') {
    if (c.placeholder) return null; // an optional setting, off
    throw new Error(`${name} needs a value`);
  }
  const v = Number(c.value);
  if (c.min !== '' && v < Number(c.min)) throw new Error(`${name} must be at least ${c.min} (it is ${c.value})`);
  if (c.max !== '' && v > Number(c.max)) throw new Error(`${name} must be at most ${c.max} (it is ${c.value})`);
  if (c.step === '1' && !Number.isInteger(v)) throw new Error(`${name} must be a whole number (it is ${c.value})`);
  return v;
}

function readControl(id) {
  const c = $(id);
  if (c.type === 'checkbox') return c.checked;
  if (c.type === 'number') return readNumber(c);
  return c.value;
}

const read = (ids) => Object.fromEntries(ids.map((id) => [id, readControl(id)]));

// The settings a link carries, by the CLI's flag names (`bias_init` is `--bias-init`).
const LINKED = ['activation', 'depth', 'width', 'init', 'bias_init', 'norm', 'residual', 'output', 'optimizer', 'lr',
  'momentum', 'batch_size', 'epochs', 'seed', 'clip_grad_norm', 'weight_decay', 'histograms', 'dataset', 'samples', 'device'];
const flag = (id) => id.replaceAll('_', '-');
const text = (id) => ($(id).type === 'checkbox' ? String($(id).checked) : $(id).value);
let START = {};

// The address for these settings: only those that differ from the page's defaults.
function linkHash() {
  const params = new URLSearchParams();
  for (const id of LINKED) if (text(id) !== START[id]) params.set(flag(id), text(id));
  const hash = params.toString();
  return hash ? `#${hash}` : '';
}

// Sets the controls a link names; a name the page does not know is an error naming it.
function applyHash(hash) {
  const params = [...new URLSearchParams(hash.replace(/^#/, ''))];
  // Every name and choice checked before any control changes: a refused link leaves the page as it was.
  for (const [key, value] of params) {
    const id = key.replaceAll('-', '_');
    if (!LINKED.includes(id)) throw new Error(`the link names “${key}”, which is not a setting (${LINKED.map(flag).join(', ')})`);
    if ($(id).tagName === 'SELECT' && ![...$(id).options].some((o) => o.value === value)) {
      throw new Error(`the link sets ${key} to “${value}”, which is not one of ${[...$(id).options].map((o) => o.value || 'none').join(', ')}`);
    }
  }
  for (const id of LINKED) setControl(id, START[id]);
  for (const [key, value] of params) setControl(key.replaceAll('-', '_'), value);
}

// Ready-made links for a class, each a setup the page runs when opened.
const READY = [
  ['Why sigmoid vanishes', { activation: 'sigmoid', depth: '20' }],
  ['What batch norm fixes', { activation: 'sigmoid', depth: '20', norm: 'batch' }],
  ['ReLU with Glorot init', { activation: 'relu', depth: '30', init: 'glorot-normal', epochs: '3' }],
  ['ReLU needs He init', { activation: 'relu', depth: '30', init: 'he-normal', epochs: '3' }],
  ['Residual connections', { activation: 'sigmoid', depth: '20', residual: 'true' }],
];

// ---- The files a run needs and the page's options ----

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

const reportFiles = (result) => [
  ['runs.csv', result.runs_csv, 'text/csv'],
  ['summary.json', result.summary_json, 'application/json'],
];
const weightFile = (w) => [w.file, new Uint8Array(w.bytes), 'application/octet-stream'];

// ---- What the page shows ----

const state = {
  shown: [], // [{init, now}] — the networks in the picture, each a GradientFlow at initialisation and now
  pins: [], // GradientFlow — the pinned runs
  mode: null, // what made the results shown: 'train', 'demo' or 'sweep'
};

function showFlows(list) {
  state.shown = list;
  $('view').classList.remove('stale');
  drawView();
}

function drawView() {
  const moment = $('view_moment').value;
  const flows = state.shown.map((s) => (moment === 'init' ? s.init : s.now) || s.now);
  if (!flows.length) return;
  const quantity = $('view_quantity').value;
  $('network').replaceChildren(drawNetworks(flows, quantity, Math.max(300, $('network').clientWidth - 20)));
  const headline = (f) => (flows.length === 1 ? f.headline : `${f.label}: ${f.headline.replace(/^Layer/, 'layer')}`);
  $('headline').replaceChildren(...flows.map((f) => Object.assign(document.createElement('div'), { textContent: headline(f) })));
  $('headline').style.fontSize = flows.length === 1 ? '' : '1rem';
  const notes = flows.filter((f) => f.note).map((f) => (flows.length === 1 ? f.note : `${f.label}: ${f.note}`));
  $('note').textContent = notes.join(' ');
  hooks.flows(flows);
}

function drawPins() {
  const quantity = $('view_quantity').value;
  $('pins').replaceChildren(...state.pins.map((p, i) => {
    const li = document.createElement('li');
    li.textContent = `${p.label}, ${p.shape}, step ${p.step} (${p.verdict}): ${p.headline}`;
    const remove = Object.assign(document.createElement('button'), { textContent: '×', title: 'unpin' });
    remove.setAttribute('aria-label', `unpin ${p.label}`);
    remove.addEventListener('click', () => { state.pins.splice(i, 1); drawPins(); });
    li.append(remove);
    return li;
  }));
  if (state.pins.length) $('overlay').replaceChildren(drawOverlay(state.pins, quantity, Math.max(300, $('overlay').clientWidth - 20)));
  else $('overlay').replaceChildren(Object.assign(document.createElement('p'), { className: 'hint', textContent: 'No run pinned yet: Pin keeps the runs shown above.' }));
}

function pin(flows) {
  state.pins.push(...flows.map((f) => structuredClone(f)));
  drawPins();
}

const pinShown = () => {
  if (!state.shown.length) {
    status('Nothing to pin yet: train a network first.');
    return;
  }
  const moment = $('view_moment').value;
  pin(state.shown.map((s) => (moment === 'init' ? s.init : s.now) || s.now));
  status(`Pinned ${state.shown.length === 1 ? 'the run' : `${state.shown.length} runs`}: ${state.pins.length} in the comparison.`);
};

// The report's plots, each at a size where its smallest text is 12 px on screen (plotters writes 9.7 px
// tick labels), with the library's caption under it and as its text alternative.
function drawPlots(list) {
  const plots = $('plots');
  plots.replaceChildren();
  for (const p of list) {
    const fig = document.createElement('figure');
    fig.innerHTML = p.svg; // vanish's own SVG (plotters), from this page's module
    const svg = fig.querySelector('svg');
    const sizes = [...svg.querySelectorAll('text')].map((t) => parseFloat(t.getAttribute('font-size'))).filter((v) => v > 0);
    const scale = Math.max(1, 12.05 / Math.min(...sizes, 12.05));
    svg.style.width = `${Number(svg.getAttribute('width')) * scale}px`;
    svg.style.height = `${Number(svg.getAttribute('height')) * scale}px`;
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `${p.title}: ${p.caption}`);
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

function show(result, files) {
  $('text').textContent = (result.note ? `note: ${result.note}\n` : '') + result.text;
  drawPlots(result.plots);
  $('downloads').replaceChildren(...files.map(([name, bytes, type]) => download(name, bytes, type)));
}

const showProgress = (done, total) => { $('progress').max = total || 1; $('progress').value = done; };
const seconds = (started) => (performance.now() - started) / 1000;
const RESULTS = ['view', 'plots', 'text'];
function markStale(why) {
  for (const id of RESULTS) $(id).classList.add('stale');
  $('stale-note').textContent = why || '';
}

// ---- Running: one run at a time, in order; a click shows something at once ----

let queue = Promise.resolve();
let current = null; // the training run in progress: {paused, stop, resume, pauseAfterLook}
let gpuWarm = false; // a GPU run has finished in this page: its kernels are compiled
let rerun = null; // the debounced re-run after a control changed

const onGpu = () => Boolean(navigator.gpu) && $('device').value !== 'cpu';

// Every click that runs something takes the next generation; a run of an older one that has not begun is
// skipped, one in progress is stopped, and neither writes to the page any more: the latest click wins.
let generation = 0;

// The one scaffold every run goes through. At once: the status says what starts (on the first GPU run,
// that the kernels compile), the bar turns indeterminate, the results grey out, and the runs before it
// are stopped. Then it waits for the run before it, runs `work(started, fresh)` — `fresh()` says whether
// this is still the latest click's run — hands its result to the test hooks under `name`, and shows any
// error in the page's words. A background run (the compile on load) takes no generation and gives way to
// any click.
function handle(name, what, work, { button, gpu = onGpu(), background = false } = {}) {
  const gen = background ? generation : ++generation;
  const fresh = () => gen === generation;
  const starting = () => {
    status(gpu && !gpuWarm && !background ? `Compiling the GPU kernels (first run only), then ${what[0].toLowerCase()}${what.slice(1)}…` : `${what}…`);
    $('status').setAttribute('aria-busy', 'true'); // the per-step lines are not announced, the outcome is
    $('progress').removeAttribute('value');
  };
  hooks.start(name);
  if (!background) {
    clearTimeout(rerun);
    $('error').textContent = '';
    starting();
    markStale('');
    if (current) stopRun(current);
    if (queuedPlay) Object.assign(queuedPlay, { stop: true });
    queuedPlay = null;
    if (button) $(button).disabled = true;
  }
  const before = queue;
  const run = (async () => {
    await before;
    try {
      if (!fresh()) return; // a later click replaced this one before it began
      if (background) starting();
      const result = await work(performance.now(), fresh);
      if (gpu) gpuWarm = true;
      if (!fresh()) return;
      for (const id of RESULTS) if (id !== 'view' || state.mode !== 'sweep') $(id).classList.remove('stale');
      $('progress').value = $('progress').max;
      hooks.done(name, result);
    } catch (e) {
      if (!fresh()) return;
      const message = e instanceof Error ? e.message : String(e);
      $('error').textContent = `error: ${message}`;
      status(`Run failed: ${message}`);
      $('progress').value = 0;
      hooks.failed(message);
    } finally {
      if (fresh()) $('status').setAttribute('aria-busy', 'false');
      if (button) $(button).disabled = false;
    }
  })();
  queue = run;
  return run;
}

function stopRun(run) {
  run.stop = true;
  if (run.resume) run.resume(true);
}

// `vanish train` for one network with the controls' settings (`overrides` on top), drawn as it trains;
// `steer` makes it a run Play, Pause, Step and Reset control. Resolves to the library's result.
async function trainRun(started, { overrides = {}, steer = null, quiet = false, fresh = () => true } = {}) {
  const { o, files } = await common();
  Object.assign(o, read(['residual', 'optimizer', 'momentum', 'clip_grad_norm', 'weight_decay', 'output', 'histograms']));
  o.activation = [readControl('activation')];
  o.norm = readControl('norm');
  Object.assign(o, overrides);
  if (!Array.isArray(o.activation)) o.activation = [o.activation];
  const run = steer || { paused: false, stop: false, resume: null, pauseAfterLook: false };
  // The background compile is nobody's to steer: Play, Pause and Step wait for it or start their own.
  if (!quiet) current = run;
  let init = null;
  const shown = () => !quiet && fresh();
  // Between two chunks of steps: draw what the run has reached, and answer the trainer — `true` stops the
  // run, a promise holds it paused. A mistake here stops the run and says so on the console.
  const progress = (step, total, loss, flowJson) => {
    try {
      if (run.stop || !fresh()) return true;
      if (shown()) {
        hooks.step(step);
        showProgress(step, total);
        const flow = JSON.parse(flowJson);
        if (flow) {
          if (flow.step === 0) init = flow;
          showFlows([{ init: init || flow, now: flow }]);
        }
      }
      if (run.pauseAfterLook) Object.assign(run, { pauseAfterLook: false, paused: true });
      if (run.paused) {
        if (shown()) status(`Paused at step ${step} (loss ${loss.toFixed(4)}): Play goes on, Step trains a few more steps.`);
        $('status').setAttribute('aria-busy', 'false');
        return new Promise((resolve) => {
          run.resume = (stop) => {
            run.resume = null;
            $('status').setAttribute('aria-busy', 'true');
            resolve(Boolean(stop) || run.stop);
          };
        });
      }
      if (shown()) status(`${steer ? 'Playing' : 'Training'}: step ${step}${steer ? '' : `/${total}`}, loss ${loss.toFixed(4)}`);
      return false;
    } catch (e) {
      console.error('the page failed between two chunks of steps:', e);
      return true;
    }
  };
  try {
    const result = JSON.parse(await train(JSON.stringify(o), files, progress, (json) => { if (shown()) live(json); }));
    if (shown()) {
      state.mode = 'train';
      showFlows([{ init: result.flow_init, now: result.flow }]);
      show(result, [['metrics.json', result.metrics_json, 'application/json'], ...reportFiles(result), weightFile(result.weights)]);
      const done = result.flow.step === 0 ? 'A fresh network at initialisation' : `${run.stop ? 'Stopped' : 'Trained'} at step ${result.flow.step}`;
      status(`${done}, in ${seconds(started).toFixed(2)} s on ${result.engine}.`);
    }
    return result;
  } finally {
    if (current === run) current = null;
  }
}

const runTrain = () => handle('train', 'Training one network', async (started, fresh) =>
  JSON.parse((await trainRun(started, { fresh })).metrics_json), { button: 'train' });

// Play: train on until paused (up to the library's cap), drawing the network as it goes.
// A play waiting for the run before it (the background compile): its steering, for Pause and Step.
let queuedPlay = null;
function play({ pausedAfterFirstLook = false } = {}) {
  const steer = { paused: false, stop: false, resume: null, pauseAfterLook: pausedAfterFirstLook };
  const run = handle('train', 'Playing', async (started, fresh) => {
    if (queuedPlay === steer) queuedPlay = null;
    // A probe at every look (7 steps), so the picture moves at every look and at every Step.
    const overrides = { epochs: DEFAULTS.play_epochs, probe_every: DEFAULTS.steps_per_look, redraw_ms: 1000 };
    const result = await trainRun(started, { overrides, steer, fresh });
    return JSON.parse(result.metrics_json);
  });
  queuedPlay = steer; // after `handle`, which stops any play queued before this one
  return run;
}

const playButton = () => {
  if (queuedPlay) {
    Object.assign(queuedPlay, { paused: false, pauseAfterLook: false });
    status('Playing once the kernels compile…');
  } else if (current && current.paused) {
    current.paused = false;
    status('Playing on…');
    current.resume?.(false);
  } else if (current) {
    status('Training already: Pause holds it, Reset starts afresh.');
  } else {
    play();
  }
};
const pauseButton = () => {
  if (queuedPlay) {
    queuedPlay.pauseAfterLook = true;
    status('Playing once the kernels compile, then pausing after the first steps…');
  } else if (current && !current.paused) {
    current.paused = true;
    status('Pausing after these steps…');
  } else {
    status(current ? 'Paused already: Play goes on, Step trains a few more steps.' : 'Nothing is training: Play starts.');
  }
};
const stepButton = () => {
  if (queuedPlay) {
    queuedPlay.pauseAfterLook = true;
    status('Stepping once the kernels compile…');
  } else if (current && current.paused) {
    Object.assign(current, { paused: false, pauseAfterLook: true });
    status('Stepping…');
    current.resume?.(false);
  } else if (current) {
    current.pauseAfterLook = true;
    status('Pausing after these steps…');
  } else {
    play({ pausedAfterFirstLook: true });
  }
};
// Reset: stop, and show a fresh network (the seed's) at initialisation.
const resetButton = () => handle('train', 'Resetting to a fresh network', async (started, fresh) =>
  JSON.parse((await trainRun(started, { overrides: { epochs: 0 }, fresh })).metrics_json));

// The cures side by side (the library's list): the same network each way, trained with the controls'
// settings, drawn together and pinned.
const runCompare = () => handle('compare', `Training ${DEFAULTS.cures.map((c) => c.name).join(', ')}`, async (started, fresh) => {
  const runs = [];
  for (const [i, cure] of DEFAULTS.cures.entries()) {
    if (!fresh()) return runs;
    status(`Comparing the cures: ${i + 1} of ${DEFAULTS.cures.length}, ${cure.name}…`);
    const result = await trainRun(started, { overrides: cure.settings, fresh });
    runs.push({ init: result.flow_init, now: result.flow });
  }
  if (!fresh()) return runs;
  state.mode = 'compare';
  pin(runs.map((r) => r.now));
  showFlows(runs);
  status(`Compared the cures in ${seconds(started).toFixed(2)} s: all ${runs.length} pinned below.`);
  return runs.map((r) => r.now);
}, { button: 'compare' });

// `vanish demo`: the notebook's four networks (and the cures).
const runNotebook = () => handle('demo', 'Training the notebook\'s four networks', async (started) => {
  const { o, files } = await common();
  Object.assign(o, read(['cures']), { norm: readControl('cure_norm') });
  const result = JSON.parse(await demo(JSON.stringify(o), files, showProgress, live));
  state.mode = 'demo';
  showFlows(result.flows.map((f, i) => ({ init: f, now: result.flows_after[i] })));
  show(result, [
    ['demo.json', JSON.stringify(result.demo, null, 2), 'application/json'],
    ...reportFiles(result),
    ...result.weights.map(weightFile),
  ]);
  hooks.seconds(seconds(started));
  status(`Done in ${seconds(started).toFixed(2)} s on ${result.demo.config.engine}.`);
  return result.demo;
}, { button: 'notebook' });

// `vanish sweep` over the depths and axes given, in memory: the terminal table and the report's plots.
const runSweep = () => handle('sweep', 'Sweeping', async (started) => {
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
  state.mode = 'sweep';
  show(result, reportFiles(result));
  $('view').classList.add('stale');
  $('stale-note').textContent = 'The network picture is from the last single run; the sweep is in the table and plots below.';
  status(`Sweep: ${result.runs} runs in ${seconds(started).toFixed(2)} s on ${result.engine}.`);
  return { runs: result.runs, engine: result.engine, summary: JSON.parse(result.summary_json) };
}, { button: 'sweep' });

// `vanish check --quick` in the page, in the diagnostics panel: every case's worst tensor against its bound.
const runCheck = () => handle('check', 'Checking this GPU against the f64 reference', async () => {
  $('diagnostics').open = true;
  const progress = (done, total, name) => { showProgress(done, total); status(`Checked ${done}/${total}: ${name}`); };
  const report = JSON.parse(await check(true, adapter, progress));
  const ratio = (t) => t.max_abs / Math.max(t.allowed, 1e-300);
  const lines = [`vanish check --quick on ${report.engine}: ${report.passed} passed, ${report.failed} failed in ${report.seconds.toFixed(1)} s`, ''];
  for (const c of report.cases) {
    const worst = c.tensors.reduce((a, t) => (ratio(t) > ratio(a) ? t : a));
    lines.push(`${c.name.padEnd(44)} ${worst.name.padEnd(28)} ${worst.max_abs.toExponential(2).padStart(9)} rel ${worst.rel.toExponential(2)}  ${worst.rule} ${c.passed ? 'ok' : 'FAILED'}`);
  }
  $('check-text').textContent = lines.join('\n');
  status(`Check: ${report.passed} passed, ${report.failed} failed.`);
  return report;
}, { button: 'check', gpu: true });

// A control changed: the link follows, the results shown are marked stale, and a single-network result
// re-runs after a short pause (warm runs take a fraction of a second).
function changed(id) {
  history.replaceState(null, '', linkHash() || location.pathname);
  clearTimeout(rerun);
  if (current) {
    $('stale-note').textContent = `Changed ${controlName(id)}: Reset starts a run with it.`;
  } else if (state.mode === 'train') {
    markStale(`Changed ${controlName(id)}: re-running…`);
    rerun = setTimeout(runTrain, 400);
  } else {
    markStale(`Changed ${controlName(id)}: these results are for the earlier settings.`);
  }
}

// ---- The mean-field theory panel, recomputed as its inputs change ----

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
    const t = JSON.parse(theory($('mf_activation').value, Number($('mf_sigma_w2').value), Number($('mf_sigma_b2').value)));
    const cell = (content, title) => Object.assign(document.createElement('td'), { textContent: content, title: title || '' });
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

// ---- For scripts and tests, in one place ----
// What each run produced (`window.vanishDemo`, `vanishTrain`, `vanishSweep`, `vanishCheck`, `vanishCompare`,
// and `vanishFirst` for the result shown on load), the last error (`vanishError`), the demo's time
// (`vanishSeconds`), the live redraws (`vanishRedraws`, `vanishLivePlots`), the redraw interval a script
// may set (`vanishRedrawMs`), the networks drawn (`vanishFlows`), the last step reported
// (`vanishStep`), every status shown (`vanishStatusLog`), `vanish grads` on a file's bytes
// (`vanishGrads(name, base64)`), the theory panel's numbers (`vanishTheory`), the background compile's
// end (`vanishWarm`) and readiness (`vanishReady`).
const HOOK = { demo: 'vanishDemo', train: 'vanishTrain', sweep: 'vanishSweep', check: 'vanishCheck', compare: 'vanishCompare', first: 'vanishFirst', warm: 'vanishWarm' };
const hooks = {
  start(name) { window[HOOK[name]] = undefined; window.vanishError = undefined; },
  done(name, value) { window[HOOK[name]] = value; },
  failed(message) { window.vanishError = message; },
  seconds(s) { window.vanishSeconds = s; },
  redrawn(list) { window.vanishRedraws += 1; window.vanishLivePlots.push(list.map((p) => p.title)); },
  redrawMs() { return window.vanishRedrawMs; },
  flows(flows) { window.vanishFlows = flows; },
  step(step) { window.vanishStep = step; },
  status(line) { (window.vanishStatusLog ||= []).push(line); },
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

// ---- Start ----

fillControls();
START = Object.fromEntries(LINKED.map((id) => [id, text(id)]));
for (const [title, settings] of READY) {
  const a = Object.assign(document.createElement('a'), { textContent: title, href: `#${new URLSearchParams(settings)}` });
  // Following the link changes the hash, which runs it; clicked again, the hash is the same: run it here.
  a.addEventListener('click', (e) => {
    if (location.hash === a.hash) {
      e.preventDefault();
      openLink();
    }
  });
  $('links').append(a);
}
const buttons = { notebook: runNotebook, train: runTrain, sweep: runSweep, check: runCheck, compare: runCompare,
  play: playButton, pause: pauseButton, step: stepButton, reset: resetButton, pin: pinShown };
for (const [id, action] of Object.entries(buttons)) $(id).addEventListener('click', () => { action(); });
$('copy-link').addEventListener('click', async () => {
  const url = location.href.split('#')[0] + linkHash();
  try {
    await navigator.clipboard.writeText(url);
    status(`Link copied: ${url}`);
  } catch {
    status(`The link (copy it from here): ${url}`);
  }
});
for (const id of LINKED) $(id).addEventListener('change', () => changed(id));
for (const id of ['view_quantity', 'view_moment']) $(id).addEventListener('change', () => { drawView(); drawPins(); });
for (const id of ['mf_activation', 'mf_sigma_w2', 'mf_sigma_b2']) $(id).addEventListener('input', showTheory);
let width = window.innerWidth;
window.addEventListener('resize', () => {
  if (window.innerWidth === width) return;
  width = window.innerWidth;
  drawView();
  drawPins();
});
// A link opened or followed: its settings, then a run.
function openLink() {
  try {
    applyHash(location.hash);
  } catch (e) {
    $('error').textContent = `error: ${e.message}`;
    status(`This link could not be used: ${e.message}`);
    hooks.failed(e.message);
    return false;
  }
  runTrain();
  return true;
}
window.addEventListener('hashchange', openLink);
// Phones start with the settings folded away.
if (window.matchMedia('(max-width: 799px)').matches) $('drawer').open = false;
$('mf_activation').value = 'tanh';
showTheory();
drawPins();
status(navigator.gpu ? 'Ready: WebGPU is available.' : 'Ready: this browser has no WebGPU; the CPU reference will run.');
hooks.install();

// A first result at once: a link's setup, or the default network on the CPU reference (a fraction of a
// second at this size) while the GPU kernels compile in the background for the first click.
if (location.hash.length > 1) {
  openLink();
} else {
  handle('first', 'Training the default network on the CPU reference', async (started, fresh) => {
    const result = await trainRun(started, { overrides: { device: 'cpu' }, fresh });
    return JSON.parse(result.metrics_json);
  }, { gpu: false });
  if (onGpu()) {
    handle('warm', 'Compiling the GPU kernels in the background', async (started, fresh) => {
      await trainRun(started, { overrides: { epochs: 0, device: 'auto' }, quiet: true });
      if (fresh()) status(`Ready: the GPU kernels compiled in ${seconds(started).toFixed(1)} s. Press Play to watch the network train.`);
      return true;
    }, { gpu: true, background: true });
  }
}
