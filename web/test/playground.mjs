// Drives web/dist as a teacher would, in headless Chromium (Debian's, through puppeteer-core), for
// tests/suite/web.rs: the first result on load, the feedback of a first click, the network picture after
// the notebook, pinning and comparing, Play/Pause/Step/Reset, a link that carries a setup, errors in the
// page's words, legible text, and the phone layout; prints what it saw as one JSON object.
// Usage: node test/playground.mjs OUT_DIR
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const here = path.dirname(new URL(import.meta.url).pathname);
const dist = path.join(here, '..', 'dist');
const [outDir] = process.argv.slice(2);
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

const server = http.createServer((req, res) => {
  const file = path.join(dist, decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/\/$/, '/index.html'));
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
const out = { console: [] };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LONG = { timeout: 600_000, polling: 100 };

async function open(url, viewport) {
  const page = await browser.newPage();
  await page.setViewport(viewport);
  page.on('console', (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => out.console.push(`pageerror: ${e.message}`));
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.vanishReady === true, { timeout: 60_000 });
  return page;
}

// Every visible SVG text's size on screen, in px: its font size times the scale its SVG is drawn at.
const smallestText = (page) => page.evaluate(() => {
  let least = Infinity;
  let where = '';
  for (const t of document.querySelectorAll('svg text')) {
    if (!t.textContent.trim() || t.getClientRects().length === 0) continue;
    const m = t.getScreenCTM();
    const size = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
    if (size < least) { least = size; where = t.textContent; }
  }
  return { px: least, text: where };
});

// The network picture's numbers, per network and column.
const networkValues = (page) => page.$$eval('#network g.net', (nets) => nets.map((n) => ({
  label: n.dataset.label,
  layers: [...n.querySelectorAll('g.layer')].map((l) => ({
    name: l.dataset.layer,
    delta: l.dataset.delta === '' ? null : Number(l.dataset.delta),
    grad_w: l.dataset.gradW === '' ? null : Number(l.dataset.gradW),
    predicted: l.dataset.predicted === '' ? null : Number(l.dataset.predicted),
  })),
})));

try {
  // ---- Desktop: a first result on load, on the CPU reference ----
  out.stage = "Desktop: a first result on load, on the CPU reference";
  const page = await open(`${origin}/`, { width: 1400, height: 1000 });
  await page.waitForFunction(() => window.vanishFirst || window.vanishError, LONG);
  out.first = await page.evaluate(() => window.vanishFirst || null);
  // The first click: feedback at once, the first GPU action saying that it compiles the kernels.
  out.stage = "The first click: feedback at once, the first GPU action saying that it compiles the kernels.";
  out.first_click = await page.evaluate(() => new Promise((resolve) => {
    const status = document.getElementById('status');
    const before = status.textContent;
    const t0 = performance.now();
    new MutationObserver((_, obs) => {
      obs.disconnect();
      resolve({ ms: performance.now() - t0, before, after: status.textContent, indeterminate: !document.getElementById('progress').hasAttribute('value') });
    }).observe(status, { childList: true, characterData: true, subtree: true });
    document.getElementById('notebook').click();
  }));
  await page.waitForFunction(() => window.vanishDemo || window.vanishError, LONG);
  out.error = await page.evaluate(() => window.vanishError || null);
  out.demo = await page.evaluate(() => window.vanishDemo || null);
  out.status_log = await page.evaluate(() => window.vanishStatusLog);
  // The network picture at initialisation: the demo's per-layer numbers.
  out.stage = "The network picture at initialisation: the demo's per-layer numbers.";
  await page.select('#view_moment', 'init');
  out.network_init = await networkValues(page);
  out.headline = await page.$eval('#headline', (e) => e.textContent);
  await page.select('#view_moment', 'now');
  out.network_after = await networkValues(page);
  // Pin the four, then one more network: both kept, in one overlay.
  out.stage = "Pin the four, then one more network: both kept, in one overlay.";
  await click(page, '#pin');
  await page.select('#activation', 'relu');
  await page.$eval('#depth', (e) => { e.value = '6'; });
  await click(page, '#train');
  await page.waitForFunction(() => window.vanishTrain || window.vanishError, LONG);
  out.train_error = await page.evaluate(() => window.vanishError || null);
  await click(page, '#pin');
  out.pins = await page.$$eval('#pins li', (li) => li.map((l) => l.textContent));
  out.overlay_runs = await page.$$eval('#overlay g.run', (g) => g.map((x) => x.dataset.label));
  // A control changed after a single run: the results grey out and the run re-runs by itself.
  out.stage = "A control changed after a single run: the results grey out and the run re-runs by itself.";
  await page.evaluate(() => { window.vanishTrain = undefined; });
  await page.$eval('#depth', (e) => { e.value = '4'; e.dispatchEvent(new Event('change')); });
  out.stale_after_change = await page.$eval('#view', (e) => e.classList.contains('stale'));
  out.hash_after_change = await page.evaluate(() => location.hash);
  await page.waitForFunction(() => window.vanishTrain || window.vanishError, LONG);
  out.rerun_depth = await page.evaluate(() => window.vanishTrain && window.vanishTrain.config.spec.hidden.length);
  // Errors in the page's words, naming the control.
  out.stage = "Errors in the page's words, naming the control.";
  await page.$eval('#width', (e) => { e.value = '-3'; });
  await click(page, '#train');
  await page.waitForFunction(() => window.vanishError, LONG);
  out.width_error = { error: await page.evaluate(() => window.vanishError), status: await page.$eval('#status', (e) => e.textContent) };
  await page.$eval('#width', (e) => { e.value = '10'; });
  await page.$eval('#depth', (e) => { e.value = '0'; });
  await click(page, '#train');
  await page.waitForFunction(() => window.vanishError, LONG);
  out.depth_error = await page.evaluate(() => window.vanishError);
  await page.$eval('#depth', (e) => { e.value = '11'; });
  // The cures side by side.
  out.stage = "The cures side by side.";
  await page.evaluate(() => { window.vanishError = undefined; });
  await page.select('#activation', 'sigmoid');
  await click(page, '#compare');
  await page.waitForFunction(() => window.vanishCompare || window.vanishError, LONG);
  out.compare_error = await page.evaluate(() => window.vanishError || null);
  out.compare = await page.evaluate(() => (window.vanishCompare || []).map((f) => ({ label: f.label, first_last: f.first_last })));
  out.pins_after_compare = await page.$$eval('#pins li', (li) => li.length);
  out.text_desktop = await smallestText(page);
  out.scroll_desktop = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (outDir) {
    fs.mkdirSync(outDir, { recursive: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(outDir, 'desktop.png') });
  }
  await page.close();

  // ---- A link with a setup: it sets the controls and trains; then Play, Pause, Step and Reset ----
  out.stage = "A link with a setup: it sets the controls and trains; then Play, Pause, Step and Reset";
  const link = await open(`${origin}/#activation=tanh&depth=5&width=8&epochs=2&seed=3&optimizer=sgd&lr=0.05`, { width: 1400, height: 1000 });
  await link.waitForFunction(() => window.vanishTrain || window.vanishError, LONG);
  out.link_error = await link.evaluate(() => window.vanishError || null);
  out.link_train = await link.evaluate(() => window.vanishTrain || null);
  out.link_controls = await link.evaluate(() => ['activation', 'depth', 'width', 'optimizer', 'lr'].map((id) => document.getElementById(id).value));
  await click(link, '#play');
  await link.waitForFunction(() => window.vanishStep >= 60, LONG);
  await click(link, '#pause');
  await link.waitForFunction(() => document.getElementById('status').textContent.startsWith('Paused'), LONG);
  const paused = await link.evaluate(() => window.vanishStep);
  await sleep(1000);
  out.pause = { at: paused, after_a_second: await link.evaluate(() => window.vanishStep) };
  await click(link, '#step');
  await link.waitForFunction((s) => window.vanishStep > s && document.getElementById('status').textContent.startsWith('Paused'), LONG, paused);
  out.step = { from: paused, to: await link.evaluate(() => window.vanishStep) };
  await click(link, '#reset');
  await link.waitForFunction(() => window.vanishTrain || window.vanishError, LONG);
  await link.waitForFunction(() => document.getElementById('status').textContent.startsWith('A fresh network'), LONG);
  out.reset = { error: await link.evaluate(() => window.vanishError || null), steps: await link.evaluate(() => window.vanishFlows[0].step), status: await link.$eval('#status', (e) => e.textContent) };
  // A link naming something that is not a setting.
  out.stage = "A link naming something that is not a setting.";
  await link.evaluate(() => { location.hash = '#depth=3&colour=red'; });
  await link.waitForFunction(() => window.vanishError, LONG);
  out.bad_link = await link.evaluate(() => window.vanishError);
  await link.close();

  // ---- A phone: stacked, no sideways scroll, touch-sized controls, legible text ----
  out.stage = "A phone: stacked, no sideways scroll, touch-sized controls, legible text";
  const phone = await open(`${origin}/`, { width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await phone.waitForFunction(() => window.vanishFirst || window.vanishError, LONG);
  // Play while the kernels compile in the background: it says so at once, and plays when they have.
  out.phone_play = await phone.evaluate(() => {
    document.getElementById('play').click();
    return document.getElementById('status').textContent;
  });
  await phone.waitForFunction(() => window.vanishStep > 0, LONG);
  await click(phone, '#pause');
  await click(phone, '#reset');
  await phone.waitForFunction(() => document.getElementById('status').textContent.startsWith('A fresh network'), LONG);
  if (outDir) await phone.screenshot({ path: path.join(outDir, 'phone.png') });
  out.phone_scroll = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  out.phone_drawer_closed = await phone.$eval('#drawer', (d) => !d.open);
  await phone.$eval('#drawer', (d) => { d.open = true; });
  out.phone_targets = await phone.evaluate(() => {
    const small = [];
    for (const e of document.querySelectorAll('input:not([type=checkbox]):not([type=file]), select, button, summary, #links a, #downloads a')) {
      const r = e.getBoundingClientRect();
      if (r.width > 0 && r.height < 40) small.push(`${e.id || e.textContent.trim()}: ${r.height.toFixed(0)} px`);
    }
    return small;
  });
  out.phone_scroll_open = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  out.text_phone = await smallestText(phone);
  out.aria = await phone.evaluate(() => ({
    status: document.getElementById('status').getAttribute('aria-live'),
    progress: document.getElementById('progress').getAttribute('aria-label'),
    svgs: [...document.querySelectorAll('svg')].map((s) => Boolean(s.querySelector('title') || s.getAttribute('aria-label'))),
  }));
  await phone.close();
} catch (e) {
  // What was seen so far, with where it stopped, for the test's message.
  out.fatal = `${e.message} (after ${out.stage})`;
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(out));
