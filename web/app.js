// The page's glue: reads the controls, runs vanish's demo (WebAssembly, WebGPU or the CPU reference),
// and shows what `vanish demo` prints, the report's plots and the runs as the CLI's files. Training
// yields to the event loop between chunks of steps, so the page stays responsive.
import init, { demo, check, grads, sweep, train } from './vanish.js';

const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').textContent = text; };

// What the browser says its WebGPU adapter is, for the result's `engine` (wgpu cannot read it there).
async function adapterName() {
  if (!navigator.gpu) return '';
  const a = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  const info = a && a.info;
  return info ? [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') : '';
}
const adapter = await adapterName();

function options(csv) {
  const num = (id) => Number($(id).value);
  const o = {
    dataset: $('dataset').value, samples: num('samples'), depth: num('depth'), width: num('width'),
    init: $('init').value, norm: $('norm').value, cures: $('cures').checked, lr: num('lr'),
    batch_size: num('batch_size'), epochs: num('epochs'), seed: num('seed'), device: $('device').value,
    adapter: adapter || 'WebGPU adapter',
  };
  if (window.vanishRedrawMs !== undefined) o.redraw_ms = window.vanishRedrawMs; // scripts and tests
  if (csv) { o.csv_name = csv.name; o.csv_text = csv.text; }
  return o;
}

function showFiles(result, files) {
  $('downloads').replaceChildren(...files.map(([name, text, type]) => download(name, text, type)));
}

function download(name, text, type) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  a.textContent = name;
  return a;
}

function show(result) {
  showText(result);
  showFiles(result, [
    ['demo.json', JSON.stringify(result.demo, null, 2), 'application/json'],
    ['runs.csv', result.runs_csv, 'text/csv'],
    ['summary.json', result.summary_json, 'application/json'],
    ...result.weights.map((w) => [w.file, new Uint8Array(w.bytes), 'application/octet-stream']),
  ]);
}

// The report's plots of a run in training, redrawn every few steps, decision boundaries included.
window.vanishRedraws = 0;
window.vanishLivePlots = [];
function live(json) {
  const list = JSON.parse(json);
  window.vanishRedraws += 1;
  window.vanishLivePlots.push(list.map((p) => p.title));
  drawPlots(list);
}

// The text and the report's plots (vanish's own SVG, from this page's module).
function showText(result) {
  $('text').textContent = (result.note ? `note: ${result.note}\n` : '') + result.text;
  drawPlots(result.plots);
}

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

// `vanish train` for one network: what it prints, the report's plots, metrics.json and the weights.
async function runTrain() {
  $('train').disabled = true;
  $('error').textContent = '';
  window.vanishTrain = undefined;
  window.vanishError = undefined;
  const started = performance.now();
  try {
    const o = options(await readCsv());
    Object.assign(o, {
      activation: $('activation').value, norm: $('train_norm').value, residual: $('residual').checked,
      optimizer: $('optimizer').value, momentum: Number($('momentum').value),
      clip_grad_norm: $('clip').value === '' ? null : Number($('clip').value),
    });
    const progress = (step, total, loss) => {
      $('progress').max = total || 1; $('progress').value = step; status(`Training: step ${step}/${total}, loss ${loss.toFixed(4)}`);
    };
    const result = JSON.parse(await train(JSON.stringify(o), progress, live));
    showText(result);
    showFiles(result, [
      ['metrics.json', result.metrics_json, 'application/json'],
      ['runs.csv', result.runs_csv, 'text/csv'],
      ['summary.json', result.summary_json, 'application/json'],
      [result.weights.file, new Uint8Array(result.weights.bytes), 'application/octet-stream'],
    ]);
    status(`Trained in ${((performance.now() - started) / 1000).toFixed(2)} s on ${result.engine}.`);
    window.vanishTrain = JSON.parse(result.metrics_json);
  } catch (e) {
    $('error').textContent = `error: ${e}`;
    window.vanishError = String(e);
  } finally {
    $('train').disabled = false;
  }
}

// `vanish sweep` over the depths and axes given, in memory: the terminal table and the report's plots.
async function runSweep() {
  $('sweep').disabled = true;
  $('error').textContent = '';
  window.vanishSweep = undefined;
  window.vanishError = undefined;
  const started = performance.now();
  try {
    const o = options(null);
    Object.assign(o, { depths: $('depths').value, activations: $('activations').value, norms: $('norms').value, seeds: Number($('seeds').value) });
    const progress = (done, total) => { $('progress').max = total; $('progress').value = done; status(`Sweep: ${done}/${total} runs`); };
    const result = JSON.parse(await sweep(JSON.stringify(o), progress));
    showText(result);
    showFiles(result, [['runs.csv', result.runs_csv, 'text/csv'], ['summary.json', result.summary_json, 'application/json']]);
    status(`Sweep: ${result.runs} runs in ${((performance.now() - started) / 1000).toFixed(2)} s on ${result.engine}.`);
    window.vanishSweep = { runs: result.runs, engine: result.engine, summary: JSON.parse(result.summary_json) };
  } catch (e) {
    $('error').textContent = `error: ${e}`;
    window.vanishError = String(e);
  } finally {
    $('sweep').disabled = false;
  }
}

async function readCsv() {
  const file = $('csv').files[0];
  return file ? { name: file.name, text: await file.text() } : null;
}

async function runNotebook() {
  $('notebook').disabled = true;
  $('error').textContent = '';
  window.vanishDemo = undefined;
  window.vanishError = undefined;
  const started = performance.now();
  try {
    const csv = await readCsv();
    status('Training the four networks…');
    const progress = (step, total) => { $('progress').max = total || 1; $('progress').value = step; };
    const result = JSON.parse(await demo(JSON.stringify(options(csv)), progress, live));
    show(result);
    const seconds = (performance.now() - started) / 1000;
    window.vanishSeconds = seconds;
    status(`Done in ${seconds.toFixed(2)} s on ${result.demo.config.engine}.`);
    window.vanishDemo = result.demo;
  } catch (e) {
    const message = String(e);
    $('error').textContent = `error: ${message}`;
    status('Stopped.');
    window.vanishError = message;
  } finally {
    $('notebook').disabled = false;
  }
}

// `vanish check --quick` in the page: every case's worst tensor against its bound, as the CLI prints.
async function runCheck() {
  $('check').disabled = true;
  $('error').textContent = '';
  window.vanishCheck = undefined;
  window.vanishError = undefined;
  try {
    status('Checking this GPU against the f64 reference…');
    const progress = (done, total, name) => {
      $('progress').max = total; $('progress').value = done; status(`Checked ${done}/${total}: ${name}`);
    };
    const report = JSON.parse(await check(true, adapter || 'WebGPU adapter', progress));
    const lines = [`vanish check --quick on ${report.engine}: ${report.passed} passed, ${report.failed} failed in ${report.seconds.toFixed(1)} s`, ''];
    for (const c of report.cases) {
      const worst = c.tensors.reduce((a, t) => ((t.max_abs / Math.max(t.allowed, 1e-300)) > (a.max_abs / Math.max(a.allowed, 1e-300)) ? t : a));
      lines.push(`${c.name.padEnd(44)} ${worst.name.padEnd(28)} ${worst.max_abs.toExponential(2).padStart(9)} rel ${worst.rel.toExponential(2)}  ${worst.rule} ${c.passed ? 'ok' : 'FAILED'}`);
    }
    $('text').textContent = lines.join('\n');
    $('plots').replaceChildren();
    status(`Check: ${report.passed} passed, ${report.failed} failed.`);
    window.vanishCheck = report;
  } catch (e) {
    $('error').textContent = `error: ${e}`;
    window.vanishError = String(e);
  } finally {
    $('check').disabled = false;
  }
}

await init();
$('notebook').addEventListener('click', runNotebook);
$('check').addEventListener('click', runCheck);
$('sweep').addEventListener('click', runSweep);
$('train').addEventListener('click', runTrain);
// For scripts and tests: `vanish grads` on a safetensors file's bytes (base64), e.g. a JAX fixture.
window.vanishGrads = async (name, base64) => {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return JSON.parse(await grads(name, bytes, adapter || 'WebGPU adapter'));
};
status(navigator.gpu ? 'Ready: WebGPU is available.' : 'Ready: this browser has no WebGPU; the CPU reference will run.');
window.vanishReady = true;
