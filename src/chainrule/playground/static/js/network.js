// The network picture: feature nodes, hidden and output neurons (each a small heat map of its
// activation over the plane, enlarged on hover), edges whose width is |w| (or |∂C/∂w| in the
// gradient view) and whose colour is the sign, and a bias square on every neuron.
// Edges are drawn as cubic curves; each carries a filled band around the curve as its hit
// area, so that even a horizontal edge has a real box a pointer (or a test) can click.
import { css, diverging, paint } from "./colour.js";

const NODE = 44;
const GAP = 58;
const BAND = 5;
const SVG = "http://www.w3.org/2000/svg";

const FORMULAS = {
  x1: (x) => x,
  x2: (_x, y) => y,
  "x1^2": (x) => x * x,
  "x2^2": (_x, y) => y * y,
  x1x2: (x, y) => x * y,
  sin_x1: (x) => Math.sin(x),
  sin_x2: (_x, y) => Math.sin(y),
};

const LABELS = {
  x1: "x₁", x2: "x₂", "x1^2": "x₁²", "x2^2": "x₂²", x1x2: "x₁x₂", sin_x1: "sin x₁", sin_x2: "sin x₂",
};
export const featureLabel = (name) => LABELS[name] ?? name;

function svg(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function html(tag, className, attributes = {}) {
  const element = document.createElement(tag);
  element.className = className;
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function curve(x1, y1, x2, y2, dy = 0) {
  const mx = (x1 + x2) / 2;
  return [x1, y1 + dy, mx, y1 + dy, mx, y2 + dy, x2, y2 + dy];
}

function band(x1, y1, x2, y2) {
  const [a, b, c, d, e, f, g, h] = curve(x1, y1, x2, y2, -BAND);
  const [, , p, q, r, s] = curve(x1, y1, x2, y2, BAND);
  return `M${a},${b} C${c},${d} ${e},${f} ${g},${h} L${g},${h + 2 * BAND} C${r},${s} ${p},${q} ${a},${b + 2 * BAND} Z`;
}

// Build the DOM for one architecture. `inputs` lists every feature node shown
// ({name, active}); `sizes` are the neuron counts of layers 1..L.
export function build(container, inputs, sizes, handlers) {
  const edgesSvg = container.querySelector("svg");
  container.querySelectorAll(".node, .layer-head, .badge").forEach((n) => n.remove());
  edgesSvg.replaceChildren();
  const columns = [inputs.length, ...sizes];
  const width = container.clientWidth || 640;
  // Room on the left for the feature names and on the right for the backprop numbers.
  const step = (width - NODE - 190) / Math.max(columns.length - 1, 1);
  const x = (l) => 70 + l * step;
  const y = (i) => 40 + i * GAP;
  const height = 40 + Math.max(...columns) * GAP + 10;
  container.style.height = `${height}px`;
  edgesSvg.setAttribute("width", width);
  edgesSvg.setAttribute("height", height);

  const view = { inputs, sizes, nodes: [], edges: [], bias: [], labels: [], badges: [] };
  const activeRows = inputs.map((f, row) => (f.active ? row : -1)).filter((row) => row >= 0);
  const rowOf = (l, k) => (l === 0 ? activeRows[k] : k);

  inputs.forEach((feature, row) => {
    const node = html("div", `node input${feature.active ? "" : " off"}`, {
      "data-testid": "feature", "data-feature": feature.name, title: `feature ${featureLabel(feature.name)}`,
    });
    place(node, x(0), y(row));
    const canvas = html("canvas", "", { width: 32, height: 32 });
    node.append(canvas, html("span", "feature-label"));
    node.lastChild.textContent = featureLabel(feature.name);
    // explain numbers inputs from 0, as the lecture does: the k-th input in use is a_k^(0).
    const k = activeRows.indexOf(row);
    if (k >= 0) {
      const index = html("span", "feature-index");
      index.textContent = `k = ${k}`;
      node.append(index);
    }
    node.addEventListener("click", () => handlers.toggleFeature(feature.name));
    container.append(node);
    view.nodes.push({ layer: 0, j: row, canvas, feature: feature.name });
  });

  for (let l = 1; l < columns.length; l++) {
    const count = columns[l];
    const output = l === columns.length - 1;
    const head = html("div", "layer-head");
    head.style.left = `${x(l) + NODE / 2}px`;
    const noun = step > 100 ? ` neuron${count === 1 ? "" : "s"}` : "";
    head.textContent = output ? "output" : `${count}${noun}`;
    head.title = output ? "the output layer L" : `layer ${l}: ${count} neuron${count === 1 ? "" : "s"}`;
    if (!output) head.append(...neuronButtons(l, handlers));
    container.append(head);
    const badge = html("div", "badge", { "data-testid": "layer-health", "data-layer": l, hidden: "" });
    badge.style.left = `${x(l) + NODE / 2}px`;
    badge.style.top = `${y(count) - 8}px`;
    container.append(badge);
    view.badges[l] = badge;
    for (let j = 0; j < count; j++) {
      const node = html("div", `node neuron${output ? " output" : ""}`, {
        "data-testid": "neuron", "data-layer": l, "data-j": j,
      });
      place(node, x(l), y(j));
      const canvas = html("canvas", "", { width: 32, height: 32 });
      const bias = html("div", "bias", { "data-testid": "bias", "data-layer": l, "data-j": j });
      bias.addEventListener("click", (event) => {
        event.stopPropagation();
        handlers.select(l, j, "bias");
      });
      const label = html("div", "value-label", { "data-testid": "neuron-value" });
      node.append(canvas, bias, label);
      container.append(node);
      view.nodes.push({ layer: l, j, canvas });
      view.bias.push({ layer: l, j, element: bias });
      view.labels.push({ layer: l, j, element: label });
    }
    const fanIn = l === 1 ? activeRows.length : columns[l - 1];
    for (let j = 0; j < count; j++) {
      for (let k = 0; k < fanIn; k++) {
        const x1 = x(l - 1) + NODE;
        const y1 = y(rowOf(l - 1, k)) + NODE / 2;
        const x2 = x(l);
        const y2 = y(j) + NODE / 2;
        const [a, b, c, d, e, f, g, h] = curve(x1, y1, x2, y2);
        const line = svg("path", { class: "edge-line", d: `M${a},${b} C${c},${d} ${e},${f} ${g},${h}` });
        const hit = svg("path", {
          class: "edge-hit", d: band(x1, y1, x2, y2),
          "data-testid": "edge", "data-layer": l, "data-j": j, "data-k": k,
        });
        const title = svg("title", {});
        hit.append(title);
        hit.addEventListener("click", () => handlers.select(l, j, k));
        edgesSvg.append(line);
        view.edges.push({ layer: l, j, k, line, hit, title });
      }
    }
  }
  // Hit bands go on top of every visible line, so a line never hides another edge's band.
  for (const edge of view.edges) edgesSvg.append(edge.hit);
  return view;
}

function neuronButtons(l, handlers) {
  const plus = html("button", "tiny", { "data-testid": "add-neuron", "data-layer": l, title: "add a neuron" });
  plus.textContent = "+";
  plus.addEventListener("click", () => handlers.neurons(l, +1));
  const minus = html("button", "tiny", { "data-testid": "remove-neuron", "data-layer": l, title: "remove a neuron" });
  minus.textContent = "−";
  minus.addEventListener("click", () => handlers.neurons(l, -1));
  return [plus, minus];
}

function place(node, left, top) {
  node.style.left = `${left}px`;
  node.style.top = `${top}px`;
}

// Widths and colours from the weights, or from ∂C/∂w when `grads` is given.
export function updateEdges(view, layers, grads, selected) {
  const source = grads ?? layers;
  let top = 1e-12;
  for (const layer of source) for (const row of layer.weight) for (const v of row) top = Math.max(top, Math.abs(v));
  const scale = grads ? top : Math.max(top, 1);
  for (const edge of view.edges) {
    const weight = layers[edge.layer - 1]?.weight[edge.j]?.[edge.k];
    const shown = source[edge.layer - 1]?.weight[edge.j]?.[edge.k];
    if (weight === undefined || shown === undefined) continue;
    const width = 0.6 + 7 * Math.sqrt(Math.abs(shown) / scale);
    edge.line.setAttribute("stroke-width", width.toFixed(2));
    edge.line.setAttribute("stroke", css(diverging(Math.sign(shown) * 0.9)));
    const isSelected = selected && selected.layer === edge.layer && selected.j === edge.j && selected.k === edge.k;
    edge.line.classList.toggle("selected", Boolean(isSelected));
    edge.hit.dataset.value = weight;
    edge.hit.dataset.shown = shown;
    edge.title.textContent = grads
      ? `w_${edge.j}${edge.k}^(${edge.layer}) = ${fmt(weight)}, ∂C/∂w = ${fmt(shown)}`
      : `w_${edge.j}${edge.k}^(${edge.layer}) = ${fmt(weight)}`;
  }
  for (const item of view.bias) {
    const b = layers[item.layer - 1]?.bias[item.j] ?? 0;
    item.element.style.background = css(diverging(Math.sign(b) * Math.min(1, 0.3 + Math.abs(b))));
    item.element.title = `b_${item.j}^(${item.layer}) = ${fmt(b)}`;
    const isSelected = selected && selected.layer === item.layer && selected.j === item.j && selected.k === "bias";
    item.element.classList.toggle("selected", Boolean(isSelected));
  }
}

export function paintNeurons(view, maps) {
  if (!maps || !maps.size) return;
  const [xmin, xmax, ymin, ymax] = maps.extent;
  const m = maps.neuron_size;
  for (const node of view.nodes) {
    let values;
    if (node.layer === 0) {
      const formula = FORMULAS[node.feature];
      if (!formula) continue;
      values = new Float64Array(m * m);
      let top = 1e-12;
      for (let r = 0; r < m; r++) {
        for (let c = 0; c < m; c++) {
          const v = formula(xmin + ((xmax - xmin) * c) / (m - 1), ymax - ((ymax - ymin) * r) / (m - 1));
          values[r * m + c] = v;
          top = Math.max(top, Math.abs(v));
        }
      }
      values = values.map((v) => v / top);
    } else {
      values = maps.neurons[node.layer - 1]?.[node.j];
      if (!values) continue;
    }
    paint(node.canvas, values, m, diverging);
  }
}

// Gradient health: flag vanishing or exploding layers above their columns.
export function showHealth(view, health) {
  for (const badge of view.badges) if (badge) badge.hidden = true;
  if (!health) return;
  for (const layer of health.layers) {
    const badge = view.badges[layer.layer];
    if (!badge) continue;
    badge.hidden = false;
    badge.dataset.status = layer.status;
    badge.textContent = layer.status;
    badge.title = `layer ${layer.layer}: ‖∂C/∂W‖ = ${fmt(layer.norm)}`;
    badge.className = `badge ${layer.status}`;
  }
}

// Backprop walk-through: numbers under the neurons of the layers walked so far.
export function setLabels(view, texts, current) {
  for (const item of view.labels) {
    item.element.textContent = texts[item.layer]?.[item.j] ?? "";
  }
  for (const node of view.nodes) {
    const element = node.canvas.parentElement;
    element.classList.toggle("current", node.layer === current);
  }
}

export function fmt(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(3) : Number(v.toPrecision(6)).toString();
}
