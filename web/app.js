// The page's glue: reads the controls, runs vanish's demo (WebAssembly, WebGPU or the CPU reference),
// and shows what `vanish demo` prints, the report's plots and the runs as the CLI's files. Training
// yields to the event loop between chunks of steps, so the page stays responsive.
import init, { demo } from './vanish.js';

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
  if (csv) { o.csv_name = csv.name; o.csv_text = csv.text; }
  return o;
}

function download(name, text, type) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  a.textContent = name;
  return a;
}

function show(result) {
  $('text').textContent = (result.note ? `note: ${result.note}\n` : '') + result.text;
  const plots = $('plots');
  plots.replaceChildren();
  for (const p of result.plots) {
    const fig = document.createElement('figure');
    fig.innerHTML = p.svg; // vanish's own SVG (plotters), from this page's module
    const cap = document.createElement('figcaption');
    cap.textContent = `${p.title}: ${p.caption}`;
    fig.append(cap);
    plots.append(fig);
  }
  $('downloads').replaceChildren(
    download('demo.json', JSON.stringify(result.demo, null, 2), 'application/json'),
    download('runs.csv', result.runs_csv, 'text/csv'),
    download('summary.json', result.summary_json, 'application/json'),
  );
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
    const result = JSON.parse(await demo(JSON.stringify(options(csv)), progress));
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

await init();
$('notebook').addEventListener('click', runNotebook);
status(navigator.gpu ? 'Ready: WebGPU is available.' : 'Ready: this browser has no WebGPU; the CPU reference will run.');
window.vanishReady = true;
