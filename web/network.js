// The page's two drawings of gradient flow, from the library's numbers (`GradientFlow`, web/src/lib.rs):
// the network itself, each layer's units coloured by ‖δ‖ (or ‖dW‖) on a fixed log scale with the
// mean-field prediction under the measured value, and the overlay of pinned runs, one line per run on a
// fixed log axis, told apart by marker and dash as well as colour. Both are SVG at the size they are
// shown, so their text is 12 px or more on screen.

const NS = 'http://www.w3.org/2000/svg';
// The fixed scales, in decades, so a colour or a height means the same in every run: the colours span
// the gradients a learner meets (pale at 1e-10 and below: the layer has stopped learning), the overlay's
// axis also the deepest sigmoid networks'.
const COLOUR_DECADES = [-10, 0];
const AXIS_DECADES = [-16, 2];
const FONT = 12;
// At most this many units are drawn per column; wider layers say how many more they have.
const MAX_UNITS = 10;
// Pale (the gradient has vanished) to deep red (it is large): light-to-dark OrRd, by decade.
const STOPS = ['#f3f3f3', '#fee8c8', '#fdd49e', '#fdbb84', '#fc8d59', '#e34a33', '#b30000', '#7f0000'];
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
const DASHES = ['', '6 4', '2 3', '10 3 2 3', '1 5', '8 6', '4 2 1 2', '12 4'];
const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'cross', 'triangle-down', 'plus', 'star'];

export const QUANTITIES = { delta: '‖δ‖ = ‖∂L/∂z‖', grad_w: '‖dW‖ = ‖∂L/∂W‖' };

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

export const sci = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v === 0 ? '0' : v.toExponential(1));

// Where `v` sits on the scale [10^lo, 10^hi], 0 (at or below 10^lo) to 1 (at or above 10^hi).
function position(v, [lo, hi]) {
  if (!(v > 0)) return 0;
  return Math.min(1, Math.max(0, (Math.log10(v) - lo) / (hi - lo)));
}

export function colour(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '#ffffff';
  const t = position(v, COLOUR_DECADES) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(t));
  const mix = (a, b, f) => Math.round(a + (b - a) * f);
  const rgb = (h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16));
  const [a, b] = [rgb(STOPS[i]), rgb(STOPS[i + 1])];
  return `rgb(${a.map((x, k) => mix(x, b[k], t - i)).join(',')})`;
}

function legend(svg, x, y, width) {
  const id = `scale${Math.random().toString(36).slice(2)}`;
  const grad = el('linearGradient', { id });
  STOPS.forEach((c, i) => grad.append(el('stop', { offset: i / (STOPS.length - 1), 'stop-color': c })));
  const defs = el('defs');
  defs.append(grad);
  svg.append(defs);
  svg.append(el('rect', { x, y, width, height: 12, fill: `url(#${id})`, stroke: '#888' }));
  const [lo, hi] = COLOUR_DECADES;
  for (let d = lo; d <= hi; d += 2) {
    const tx = x + ((d - lo) / (hi - lo)) * width;
    svg.append(el('line', { x1: tx, x2: tx, y1: y + 12, y2: y + 16, stroke: '#555' }));
    svg.append(el('text', { x: tx, y: y + 29, 'font-size': FONT, 'text-anchor': 'middle' }, `1e${d}`));
  }
}

// The networks of `flows` (one row each), coloured by `quantity` (`delta` or `grad_w`), `width` px wide.
export function drawNetworks(flows, quantity, width) {
  const narrow = width < 640;
  const rowHeight = MAX_UNITS * 18 + (narrow ? 110 : 84);
  const top = 64;
  const height = top + flows.length * rowHeight + 8;
  const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', id: 'network-svg' });
  const summary = flows.map((f) => `${f.label}: ${QUANTITIES[quantity].split(' ')[0]} per layer ${f.layers.slice(1).map((l) => sci(l[quantity])).join(', ')}. ${f.headline}`);
  svg.append(el('title', {}, `The network, each layer coloured by ${QUANTITIES[quantity]}. ${summary.join(' ')}`));
  svg.append(el('text', { x: 8, y: 16, 'font-size': FONT, fill: '#333' }, `colour: ${QUANTITIES[quantity]} (fixed log scale)`));
  legend(svg, 24, 22, Math.min(320, width - 48));
  flows.forEach((flow, r) => {
    const y0 = top + r * rowHeight;
    const g = el('g', { class: 'net', 'data-label': flow.label });
    const title = narrow ? `${flow.label}: ${flow.verdict}` : `${flow.label} — ${flow.shape}, step ${flow.step}: ${flow.verdict}`;
    g.append(el('text', { x: 8, y: y0 + 14, 'font-size': 13, 'font-weight': 600 }, title));
    const cols = flow.layers.length;
    const dx = (width - 70) / Math.max(1, cols - 1);
    const x = (c) => 40 + c * dx;
    const unitY = (u, n) => y0 + 36 + (MAX_UNITS - Math.min(n, MAX_UNITS)) * 9 + u * 18;
    // Edges first, under the units.
    const edges = el('g', { stroke: '#ccd', 'stroke-width': 0.6 });
    for (let c = 0; c + 1 < cols; c += 1) {
      const [a, b] = [Math.min(flow.layers[c].units, MAX_UNITS), Math.min(flow.layers[c + 1].units, MAX_UNITS)];
      for (let i = 0; i < a; i += 1) for (let j = 0; j < b; j += 1) {
        edges.append(el('line', { x1: x(c), y1: unitY(i, flow.layers[c].units), x2: x(c + 1), y2: unitY(j, flow.layers[c + 1].units) }));
      }
    }
    g.append(edges);
    flow.layers.forEach((layer, c) => {
      const value = layer[quantity];
      const col = el('g', {
        class: 'layer',
        'data-layer': layer.name,
        'data-delta': layer.delta ?? '',
        'data-grad-w': layer.grad_w ?? '',
        'data-predicted': layer.predicted_delta ?? '',
      });
      col.append(el('title', {}, layer.name === 'input'
        ? `input: ${layer.units} features`
        : `layer ${layer.name} (${layer.units} units): ‖δ‖ ${sci(layer.delta)}, mean-field ‖δ‖ ${sci(layer.predicted_delta)}, ‖dW‖ ${sci(layer.grad_w)}`));
      const shown = Math.min(layer.units, MAX_UNITS);
      for (let u = 0; u < shown; u += 1) {
        col.append(el('circle', { cx: x(c), cy: unitY(u, layer.units), r: 7, fill: layer.name === 'input' ? '#dde3ee' : colour(value), stroke: '#444', 'stroke-width': 0.8 }));
      }
      if (layer.units > MAX_UNITS) col.append(el('text', { x: x(c), y: unitY(shown, MAX_UNITS) + 4, 'font-size': FONT, 'text-anchor': 'middle' }, `+${layer.units - shown}`));
      const base = y0 + 36 + MAX_UNITS * 18 + 8;
      const label = (dy, text, extra = {}) => {
        const attrs = { x: x(c), y: base + dy, 'font-size': FONT, 'text-anchor': 'middle', ...extra };
        if (narrow) Object.assign(attrs, { 'text-anchor': 'end', transform: `rotate(-55 ${x(c)} ${base + dy})` });
        col.append(el('text', attrs, text));
      };
      if (narrow) {
        label(10, layer.name === 'input' ? 'in' : `${sci(value)}`);
      } else {
        label(6, layer.name === 'input' ? 'input' : layer.name === 'output' ? 'out' : `L${layer.name}`, { 'font-weight': 600 });
        if (layer.name !== 'input') {
          label(22, sci(value));
          if (quantity === 'delta') label(38, `mf ${sci(layer.predicted_delta)}`, { fill: '#666' });
        }
      }
      g.append(col);
    });
    svg.append(g);
  });
  return svg;
}

function marker(kind, cx, cy, colourName) {
  const s = 5;
  const attrs = { fill: colourName, stroke: colourName };
  switch (kind) {
    case 'square': return el('rect', { x: cx - s, y: cy - s, width: 2 * s, height: 2 * s, ...attrs });
    case 'triangle': return el('polygon', { points: `${cx},${cy - s - 1} ${cx - s},${cy + s} ${cx + s},${cy + s}`, ...attrs });
    case 'triangle-down': return el('polygon', { points: `${cx},${cy + s + 1} ${cx - s},${cy - s} ${cx + s},${cy - s}`, ...attrs });
    case 'diamond': return el('polygon', { points: `${cx},${cy - s - 1} ${cx + s + 1},${cy} ${cx},${cy + s + 1} ${cx - s - 1},${cy}`, ...attrs });
    case 'cross': return el('path', { d: `M${cx - s},${cy - s}L${cx + s},${cy + s}M${cx - s},${cy + s}L${cx + s},${cy - s}`, stroke: colourName, 'stroke-width': 2.5, fill: 'none' });
    case 'plus': return el('path', { d: `M${cx - s},${cy}L${cx + s},${cy}M${cx},${cy - s}L${cx},${cy + s}`, stroke: colourName, 'stroke-width': 2.5, fill: 'none' });
    case 'star': return el('polygon', { points: [0, 1, 2, 3, 4].map((k) => `${cx + s * 1.2 * Math.sin(k * 2.513)},${cy - s * 1.2 * Math.cos(k * 2.513)}`).join(' '), ...attrs });
    default: return el('circle', { cx, cy, r: s, ...attrs });
  }
}

// Every pinned run's `quantity` per dense layer (1 = first hidden, last = output) on the fixed log axis.
export function drawOverlay(pins, quantity, width) {
  const legendRows = Math.ceil(pins.length / (width < 640 ? 1 : 2));
  const plotTop = 30;
  const plotHeight = 340;
  const height = plotTop + plotHeight + 52 + legendRows * 22;
  const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', id: 'overlay-svg' });
  const left = 64;
  const right = width - 16;
  const layers = Math.max(2, ...pins.map((p) => p.layers.length - 1));
  const x = (l) => left + ((l - 1) / Math.max(1, layers - 1)) * (right - left);
  const y = (v) => plotTop + (1 - position(v, AXIS_DECADES)) * plotHeight;
  svg.append(el('title', {}, `${QUANTITIES[quantity]} per layer of ${pins.length} pinned runs. ${pins.map((p) => `${p.label} (step ${p.step}): ${p.layers.slice(1).map((l) => sci(l[quantity])).join(', ')}`).join('; ')}`));
  svg.append(el('text', { x: left, y: 18, 'font-size': 13, 'font-weight': 600 }, `${QUANTITIES[quantity]} per dense layer, pinned runs (fixed log axis)`));
  for (let d = AXIS_DECADES[0]; d <= AXIS_DECADES[1]; d += 2) {
    const ty = y(10 ** d);
    svg.append(el('line', { x1: left, x2: right, y1: ty, y2: ty, stroke: '#e4e4e4' }));
    svg.append(el('text', { x: left - 6, y: ty + 4, 'font-size': FONT, 'text-anchor': 'end' }, `1e${d}`));
  }
  // Ticks count layers below the output (every run is aligned at its output layer, where the gradient
  // enters), the output itself always labelled.
  const step = Math.max(1, Math.ceil(layers / Math.max(2, Math.floor((right - left) / 40))));
  for (let below = 0; below < layers; below += step) {
    svg.append(el('text', { x: x(layers - below), y: plotTop + plotHeight + 18, 'font-size': FONT, 'text-anchor': 'middle' }, below === 0 ? 'out' : `−${below}`));
  }
  svg.append(el('text', { x: (left + right) / 2, y: plotTop + plotHeight + 36, 'font-size': FONT, 'text-anchor': 'middle' }, 'dense layers below the output layer (runs of any depth aligned at their output)'));
  pins.forEach((p, i) => {
    const c = COLOURS[i % COLOURS.length];
    const values = p.layers.slice(1).map((l) => l[quantity]);
    // Each run's output layer is drawn at the right edge, so runs of different depths line up there.
    const at = (k) => x(layers - (values.length - 1 - k));
    const g = el('g', { class: 'run', 'data-label': p.label });
    // A value that is not a positive number (a diverged run's) breaks the line: it is not drawn at the floor.
    const drawn = (v) => Number.isFinite(v) && v > 0;
    let segment = [];
    const flush = () => {
      if (segment.length > 1) g.append(el('polyline', { points: segment.join(' '), fill: 'none', stroke: c, 'stroke-width': 2, 'stroke-dasharray': DASHES[i % DASHES.length] }));
      segment = [];
    };
    values.forEach((v, k) => {
      if (!drawn(v)) { flush(); return; }
      segment.push(`${at(k)},${y(v)}`);
      g.append(marker(MARKERS[i % MARKERS.length], at(k), y(v), c));
    });
    flush();
    svg.append(g);
    const per = width < 640 ? 1 : 2;
    const lx = left + (i % per) * ((right - left) / per);
    const ly = plotTop + plotHeight + 56 + Math.floor(i / per) * 22;
    svg.append(el('line', { x1: lx, x2: lx + 34, y1: ly - 4, y2: ly - 4, stroke: c, 'stroke-width': 2, 'stroke-dasharray': DASHES[i % DASHES.length] }));
    svg.append(marker(MARKERS[i % MARKERS.length], lx + 17, ly - 4, c));
    svg.append(el('text', { x: lx + 42, y: ly, 'font-size': FONT }, `${i + 1}. ${p.label}, ${p.shape}, step ${p.step}`));
  });
  return svg;
}
