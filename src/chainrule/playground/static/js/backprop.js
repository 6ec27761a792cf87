// Backprop on one example, one layer per press of "next": the forward pass (z and a on every
// neuron), then ∂C/∂a (the lecture's β) and δ = σ'(z) ∂C/∂a from the output down, then each
// weight's change −η ∂C/∂w and the weight after the update. The walk is a view: it shows the
// update one example would make and leaves the session's weights as they are.
import * as api from "./api.js";
import { render } from "./math.js";
import { fmt, setLabels } from "./network.js";

const $ = (id) => document.getElementById(id);

// The stages "next" walks through, in order.
function stages(pass) {
  const L = pass.forward.length;
  const list = [{ kind: "input" }];
  for (const f of pass.forward) list.push({ kind: "forward", layer: f.layer });
  for (const b of pass.backward) list.push({ kind: "backward", layer: b.layer });
  for (const u of [...pass.updates].sort((p, q) => q.layer - p.layer)) list.push({ kind: "update", layer: u.layer });
  list.push({ kind: "done", layer: L });
  return list;
}

export function create(getSession, getView, getLayers) {
  let pass = null;
  let list = [];
  let at = 0;

  async function start() {
    const example = Number($("bp_example").value) || 0;
    pass = await api.backprop(getSession(), example);
    list = stages(pass);
    at = 0;
    show();
  }

  function move(by) {
    if (!pass) return;
    at = Math.max(0, Math.min(list.length - 1, at + by));
    show();
  }

  function labels() {
    // Every layer walked so far keeps its numbers on the picture.
    const texts = [];
    texts[0] = [];
    for (let s = 1; s <= at; s++) {
      const stage = list[s];
      if (stage.kind === "forward") {
        const f = pass.forward.find((x) => x.layer === stage.layer);
        texts[stage.layer] = f.z.map((z, j) => `z ${fmt(z)}\na ${fmt(f.a[j])}`);
      } else if (stage.kind === "backward") {
        const b = pass.backward.find((x) => x.layer === stage.layer);
        texts[stage.layer] = b.dC_da.map((g, j) => `∂C/∂a ${fmt(g)}\nδ ${fmt(b.delta[j])}`);
      }
    }
    return texts;
  }

  function show() {
    const stage = list[at];
    const L = pass.forward.length;
    const view = getView();
    setLabels(view, labels(), stage.layer ?? 0);
    $("bp_prev").disabled = at === 0;
    $("bp_next").disabled = at === list.length - 1;
    const panel = $("backprop");
    panel.dataset.stage = stage.kind;
    panel.dataset.layer = stage.layer ?? 0;
    panel.dataset.index = at;
    panel.dataset.count = list.length;
    const text = $("bp_stage");
    const table = $("bp_table");
    const math = $("bp_math");
    if (stage.kind === "input") {
      text.textContent = `Example ${pass.example ?? $("bp_example").value}: input x = (${pass.x.map(fmt).join(", ")}), target y = ${JSON.stringify(pass.y)}. Press next to go forward.`;
      render(math, String.raw`a^{(0)} = x`);
      table.replaceChildren(grid(["k", "x_k"], pass.x.map((v, k) => [k, fmt(v)])));
    } else if (stage.kind === "forward") {
      const f = pass.forward.find((x) => x.layer === stage.layer);
      text.textContent = `Forward, layer ${stage.layer} of ${L}: each neuron sums its inputs and applies the activation.`;
      render(math, String.raw`z^{(${stage.layer})} = W^{(${stage.layer})} a^{(${stage.layer - 1})} + b^{(${stage.layer})}, \quad a^{(${stage.layer})} = \sigma(z^{(${stage.layer})})`);
      table.replaceChildren(grid(["j", "z_j", "a_j"], f.z.map((z, j) => [j, fmt(z), fmt(f.a[j])])));
    } else if (stage.kind === "backward") {
      const b = pass.backward.find((x) => x.layer === stage.layer);
      const l = stage.layer;
      text.textContent = l === L
        ? `Backward, the output layer ${l}: the loss's own factor ∂C/∂a (the lecture's β), then δ = σ'(z) ∂C/∂a.`
        : `Backward, layer ${l}: every path from the layer above, ∂C/∂a_k = Σ_j w_jk δ_j, then δ = σ'(z) ∂C/∂a.`;
      render(math, l === L
        ? String.raw`\delta_j^{(L)} = \sigma'(z_j^{(L)})\,\frac{\partial C}{\partial a_j^{(L)}}`
        : String.raw`\frac{\partial C}{\partial a_k^{(${l})}} = \sum_j w_{jk}^{(${l + 1})} \delta_j^{(${l + 1})}, \quad \delta_k^{(${l})} = \sigma'(z_k^{(${l})}) \frac{\partial C}{\partial a_k^{(${l})}}`);
      table.replaceChildren(grid(["j", "∂C/∂a_j", "δ_j"], b.dC_da.map((g, j) => [j, fmt(g), fmt(b.delta[j])])));
    } else if (stage.kind === "update") {
      const u = pass.updates.find((x) => x.layer === stage.layer);
      const w = getLayers()[stage.layer - 1];
      text.textContent = `Update, layer ${stage.layer}: each weight moves by −η ∂C/∂w with η = ${pass.lr}.`;
      render(math, String.raw`\frac{\partial C}{\partial w_{jk}^{(${stage.layer})}} = a_k^{(${stage.layer - 1})} \delta_j^{(${stage.layer})}, \quad w_{jk} \leftarrow w_{jk} - \eta \frac{\partial C}{\partial w_{jk}}`);
      const rows = [];
      u.weight_grad.forEach((row, j) => row.forEach((g, k) => {
        const before = w.weight[j][k];
        rows.push([`w_${j}${k}`, fmt(before), fmt(g), fmt(u.weight_change[j][k]), fmt(before + u.weight_change[j][k])]);
      }));
      u.bias_grad.forEach((g, j) => {
        const before = w.bias[j];
        rows.push([`b_${j}`, fmt(before), fmt(g), fmt(u.bias_change[j]), fmt(before + u.bias_change[j])]);
      });
      table.replaceChildren(grid(["", "w", "∂C/∂w", "Δw = −η ∂C/∂w", "w after"], rows));
    } else {
      text.textContent = `Done: that is the update this one example asks for, every layer at once. Training averages it over a batch and applies it; this walk leaves the weights as they are.`;
      render(math, String.raw`W^{(l)} \leftarrow W^{(l)} - \eta\, \delta^{(l)} a^{(l-1)\top}, \quad b^{(l)} \leftarrow b^{(l)} - \eta\, \delta^{(l)}`);
      table.replaceChildren();
    }
  }

  function stop() {
    pass = null;
    list = [];
    const view = getView();
    if (view) setLabels(view, [], -1);
    $("bp_prev").disabled = true;
    $("bp_next").disabled = true;
    delete $("backprop").dataset.stage;
  }

  $("bp_start").addEventListener("click", () => start().catch(window.showError));
  $("bp_next").addEventListener("click", () => move(+1));
  $("bp_prev").addEventListener("click", () => move(-1));
  return { stop };
}

function grid(head, rows) {
  const table = document.createElement("table");
  const tr = document.createElement("tr");
  for (const h of head) {
    const th = document.createElement("th");
    th.textContent = h;
    tr.append(th);
  }
  table.append(tr);
  for (const row of rows) {
    const line = document.createElement("tr");
    for (const cell of row) {
      const td = document.createElement("td");
      td.textContent = cell;
      line.append(td);
    }
    table.append(line);
  }
  return table;
}
