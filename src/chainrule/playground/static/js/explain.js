// The explain panel: cr.explain for the selected weight or bias, on one example or on the
// training set, as the lecture writes it (∂z/∂w · ∂a/∂z · ∂C/∂a), rendered with KaTeX; every
// path from the output down for an earlier layer; and the product beside autodiff's value and
// the ±0.001 nudge, with "agree: yes" or "agree: no".
import * as api from "./api.js";
import { block, render, stripDollars, toLatex } from "./math.js";
import { fmt } from "./network.js";

const $ = (id) => document.getElementById(id);

export function symbol({ layer, j, k }) {
  return k === "bias" ? `b_{${j}}^{(${layer})}` : `w_{${j}${k}}^{(${layer})}`;
}

// The lines of explain's text that walk the paths: from "how … reaches the loss" to the blank
// line after it.
function pathLines(text) {
  const lines = text.split("\n");
  const start = lines.findIndex((line) => line.startsWith("how "));
  if (start < 0) return { heading: "", lines: [] };
  const end = lines.findIndex((line, i) => i > start && line.trim() === "");
  return { heading: lines[start], lines: lines.slice(start + 1, end < 0 ? undefined : end) };
}

// Only the newest request may fill the panel: a slower answer to an earlier click would
// otherwise overwrite the one the user asked for last.
let latest = 0;

export async function show(session, selection, weightValue) {
  const ticket = ++latest;
  const panel = $("explain");
  panel.hidden = false;
  render($("explain_title"), String.raw`\frac{\partial C}{\partial ${symbol(selection)}}`, false);
  $("weight_value").value = weightValue ?? "";
  const scope = $("explain_scope").value;
  const example = scope === "batch" ? "batch" : Number($("explain_example").value) || 0;
  panel.dataset.loading = "1";
  const e = await api.explain(session, selection.layer, selection.j, selection.k, example);
  if (ticket !== latest) return e;
  $("explain_math").replaceChildren(block(stripDollars(e.latex)));
  const paths = pathLines(e.text);
  const container = $("explain_paths");
  container.replaceChildren();
  if (paths.lines.length) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "every path from the output down, term by term";
    details.append(summary, ...paths.lines.map((line) => pathLine(line)));
    container.append(details);
  }
  setNumber("explain_value", e.value);
  setNumber("explain_autodiff", e.autodiff);
  setNumber("explain_numeric", e.numeric);
  const agree = $("explain_agree");
  agree.textContent = `agree: ${e.agree}`;
  agree.className = `agree ${e.agree === "yes" ? "yes" : "no"}`;
  $("explain_text").textContent = e.text;
  panel.dataset.layer = selection.layer;
  panel.dataset.j = selection.j;
  panel.dataset.k = selection.k;
  panel.dataset.example = example;
  delete panel.dataset.loading;
  return e;
}

function pathLine(line) {
  const element = document.createElement("div");
  element.className = "path";
  element.style.paddingLeft = `${line.search(/\S/) * 0.4}em`;
  render(element, toLatex(line), false);
  return element;
}

function setNumber(id, value) {
  const cell = $(id);
  cell.textContent = fmt(value);
  cell.dataset.value = value;
}

export function hide() {
  $("explain").hidden = true;
}
