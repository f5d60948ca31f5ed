// Drives web/dist in headless Chromium (Debian's, through puppeteer-core) for tests/suite/web.rs: serves the
// page from a local static server that logs every request, runs the notebook button, a bad CSV and a
// screenshot, and prints what it saw as one JSON object.
// Usage: node test/drive.mjs OUT_DIR [BAD_CSV [FIXTURE_DIR [MNIST_DIR]]]
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const here = path.dirname(new URL(import.meta.url).pathname);
const dist = path.join(here, '..', 'dist');
const [outDir, badCsv, fixtureDir, mnistDir] = process.argv.slice(2);
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

const served = [];
const server = http.createServer((req, res) => {
  const file = path.join(dist, decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/\/$/, '/index.html'));
  served.push(req.url);
  fs.readFile(file, (err, data) => {
    if (err) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
    res.end(data);
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader'],
});
// Clicks `selector` after centring it, so the page's sticky bar never covers it.
async function click(page, selector) {
  await page.$eval(selector, (e) => e.scrollIntoView({ block: 'center' }));
  await page.click(selector);
}
const out = { origin, requests: [], foreign: [], console: [] };
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  page.on('request', (r) => {
    const url = r.url();
    out.requests.push(url);
    if (!url.startsWith(origin) && !url.startsWith('blob:') && !url.startsWith('data:')) out.foreign.push(url);
  });
  page.on('console', (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => out.console.push(`pageerror: ${e.message}`));
  await page.goto(`${origin}/`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.vanishReady === true, { timeout: 60_000 });
  // The result the page shows on load (the default network on the CPU reference) comes first.
  await page.waitForFunction(() => window.vanishFirst || window.vanishError, { timeout: 600_000, polling: 250 });
  out.webgpu = await page.evaluate(async () => {
    if (!navigator.gpu) return null;
    const a = await navigator.gpu.requestAdapter();
    return a ? (a.info ? `${a.info.vendor} ${a.info.architecture} ${a.info.description}`.trim() : 'an adapter') : null;
  });
  // The theory panel: tanh at σ_w² 1.76, σ_b² 0.05 on load, then recomputed as the inputs change.
  out.theory_loaded = await page.evaluate(() => window.vanishTheory);
  await page.$eval('#mf_sigma_w2', (e) => { e.value = '4'; e.dispatchEvent(new Event('input')); });
  out.theory = await page.evaluate(() => window.vanishTheory);
  out.theory_table = await page.$$eval('#theory tr', (rows) => rows.map((r) => r.textContent));
  await page.$eval('#mf_sigma_w2', (e) => { e.value = '-1'; e.dispatchEvent(new Event('input')); });
  out.theory_bad = await page.evaluate(() => window.vanishTheory);
  await page.$eval('#mf_sigma_w2', (e) => { e.value = '1.76'; e.dispatchEvent(new Event('input')); });
  // The page stays responsive while it trains: a timer keeps firing between the awaited steps.
  await page.evaluate(() => { window.vanishTicks = 0; window.vanishTimer = setInterval(() => { window.vanishTicks += 1; }, 20); });
  // Redraw at every look (the page's default waits 300 ms), so the count does not depend on speed.
  await page.evaluate(() => { window.vanishRedrawMs = 0; window.vanishRedraws = 0; window.vanishLivePlots = []; });
  await click(page, '#notebook');
  await page.waitForFunction(() => window.vanishDemo || window.vanishError, { timeout: 600_000, polling: 250 });
  out.ticks = await page.evaluate(() => { clearInterval(window.vanishTimer); return window.vanishTicks; });
  out.redraws = await page.evaluate(() => window.vanishRedraws);
  out.live_plots = await page.evaluate(() => window.vanishLivePlots);
  await page.evaluate(() => { window.vanishRedrawMs = undefined; });
  out.downloads = await page.$$eval('#downloads a', (as) => as.map((a) => a.download));
  // The first network's weights as the page offers them, for the CLI to load.
  out.weights = await page.evaluate(async () => {
    const a = document.querySelector('#downloads a[download$=".safetensors"]');
    const bytes = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
    let s = ''; for (const b of bytes) s += String.fromCharCode(b);
    return { file: a.download, base64: btoa(s) };
  });
  out.demo = await page.evaluate(() => window.vanishDemo || null);
  out.error = await page.evaluate(() => window.vanishError || null);
  out.seconds = await page.evaluate(() => window.vanishSeconds || null);
  out.status = await page.$eval('#status', (e) => e.textContent);
  out.plots = await page.$$eval('#plots figure', (fs) => fs.length);
  out.text = await page.$eval('#text', (e) => e.textContent);
  // Again in the same page: the GPU context and its compiled pipelines are kept, as in one CLI process.
  await click(page, '#notebook');
  await page.waitForFunction(() => window.vanishDemo || window.vanishError, { timeout: 600_000, polling: 100 });
  out.seconds_again = await page.evaluate(() => window.vanishSeconds || null);
  out.again_equal = JSON.stringify(await page.evaluate(() => window.vanishDemo)) === JSON.stringify(out.demo);
  if (outDir) {
    fs.mkdirSync(outDir, { recursive: true });
    await page.screenshot({ path: path.join(outDir, 'page.png'), fullPage: true });
  }
  if (badCsv) {
    const input = await page.$('#csv');
    await input.uploadFile(badCsv);
    await click(page, '#notebook');
    await page.waitForFunction(() => window.vanishError || window.vanishDemo, { timeout: 120_000 });
    out.csv_error = await page.evaluate(() => window.vanishError || null);
  }
  // One network: tanh + layer norm with SGD and clipping, two epochs (and the optimiser's momentum).
  await page.evaluate(() => { window.vanishError = undefined; });
  await page.$eval('#csv', (e) => { e.value = ''; });
  await page.select('#activation', 'tanh');
  await page.select('#norm', 'layer');
  await page.select('#optimizer', 'sgd');
  await page.$eval('#momentum', (e) => { e.value = '0.9'; });
  await page.$eval('#lr', (e) => { e.value = '0.05'; });
  await page.$eval('#clip_grad_norm', (e) => { e.value = '1'; });
  await page.$eval('#epochs', (e) => { e.value = '2'; });
  await click(page, '#histograms');
  await click(page, '#train');
  await page.waitForFunction(() => window.vanishTrain || window.vanishError, { timeout: 600_000, polling: 250 });
  out.train = await page.evaluate(() => window.vanishTrain || null);
  out.train_error = await page.evaluate(() => window.vanishError || null);
  out.train_figures = await page.$$eval('#plots figcaption', (cs) => cs.map((c) => c.textContent));
  await page.$eval('#histograms', (e) => { e.checked = false; });
  await page.$eval('#lr', (e) => { e.value = '0.001'; });
  await page.$eval('#epochs', (e) => { e.value = '1'; });
  // A sweep over depths 1..=3, sigmoid, tanh and ReLU, without and with batch norm, one seed.
  await page.evaluate(() => { window.vanishError = undefined; });
  await page.$eval('#csv', (e) => { e.value = ''; });
  await page.$eval('#depths', (e) => { e.value = '1..=3'; });
  await page.$eval('#norms', (e) => { e.value = 'none,batch'; });
  await click(page, '#sweep');
  await page.waitForFunction(() => window.vanishSweep || window.vanishError, { timeout: 600_000, polling: 250 });
  out.sweep = await page.evaluate(() => window.vanishSweep || null);
  out.sweep_error = await page.evaluate(() => window.vanishError || null);
  // A preset: its checks, as the CLI prints them.
  await page.evaluate(() => { window.vanishError = undefined; window.vanishSweep = undefined; });
  await page.select('#preset', 'glorot-tanh');
  await click(page, '#sweep');
  await page.waitForFunction(() => window.vanishSweep || window.vanishError, { timeout: 600_000, polling: 250 });
  out.preset_sweep = await page.evaluate(() => window.vanishSweep || null);
  out.preset_error = await page.evaluate(() => window.vanishError || null);
  out.preset_text = await page.$eval('#text', (e) => e.textContent);
  await page.select('#preset', '');
  // MNIST's four IDX files through the file picker, a network wider than the fused kernel takes (the
  // executor's tiled kernels on the page's GPU).
  if (mnistDir) {
    await page.evaluate(() => { window.vanishError = undefined; window.vanishTrain = undefined; });
    const input = await page.$('#csv');
    await input.uploadFile(...fs.readdirSync(mnistDir).map((f) => path.join(mnistDir, f)));
    await page.select('#activation', 'relu');
    await page.select('#norm', 'none');
    await page.select('#optimizer', 'adam');
    await page.$eval('#momentum', (e) => { e.value = '0'; });
    await page.$eval('#clip_grad_norm', (e) => { e.value = ''; });
    await page.$eval('#width', (e) => { e.value = '100'; });
    await page.$eval('#depth', (e) => { e.value = '2'; });
    await click(page, '#train');
    await page.waitForFunction(() => window.vanishTrain || window.vanishError, { timeout: 600_000, polling: 250 });
    out.mnist_train = await page.evaluate(() => window.vanishTrain || null);
    out.mnist_error = await page.evaluate(() => window.vanishError || null);
    await page.$eval('#csv', (e) => { e.value = ''; });
    await page.$eval('#width', (e) => { e.value = '10'; });
    await page.$eval('#depth', (e) => { e.value = '11'; });
  }
  // `vanish check --quick` on the page's WebGPU adapter, in the diagnostics panel.
  await page.evaluate(() => { window.vanishError = undefined; });
  await page.$eval('#diagnostics', (d) => { d.open = true; });
  await click(page, '#check');
  await page.waitForFunction(() => window.vanishCheck || window.vanishError, { timeout: 600_000, polling: 250 });
  out.check = await page.evaluate(() => window.vanishCheck || null);
  out.check_error = await page.evaluate(() => window.vanishError || null);
  // `vanish grads` in the page on every JAX fixture's input file.
  out.fixtures = {};
  if (fixtureDir) {
    for (const f of fs.readdirSync(fixtureDir).filter((f) => f.endsWith('.safetensors') && !f.endsWith('.grads.safetensors'))) {
      const b64 = fs.readFileSync(path.join(fixtureDir, f)).toString('base64');
      out.fixtures[f.replace(/\.safetensors$/, '')] = await page.evaluate(
        (name, data) => window.vanishGrads(name, data).catch((e) => ({ error: String(e) })), f, b64);
    }
  }
  // A browser without WebGPU: the page says so and the notebook runs on the CPU reference (f64).
  const plain = await browser.newPage();
  await plain.setViewport({ width: 1400, height: 1000 });
  await plain.evaluateOnNewDocument(() => { Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }); });
  await plain.goto(`${origin}/`, { waitUntil: 'load' });
  await plain.waitForFunction(() => window.vanishReady === true, { timeout: 60_000 });
  out.fallback_ready = await plain.evaluate(() => window.vanishStatusLog.join('\n'));
  await click(plain, '#notebook');
  await plain.waitForFunction(() => window.vanishDemo || window.vanishError, { timeout: 600_000, polling: 250 });
  out.fallback = await plain.evaluate(() => window.vanishDemo || null);
  out.fallback_error = await plain.evaluate(() => window.vanishError || null);
  out.fallback_text = await plain.$eval('#text', (e) => e.textContent.split('\n')[0]);
} finally {
  await browser.close();
  server.close();
}
out.served = served;
console.log(JSON.stringify(out));
