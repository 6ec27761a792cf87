// The playground page: one session on the server at a time, replaced whenever a setting that
// shapes the data or the network changes. The scene (settings, view toggles, hand-set weights,
// hidden controls) is kept in the URL's hash.
import * as api from "./api.js";
import * as backpropView from "./backprop.js";
import { drawChart } from "./chart.js";
import * as controls from "./controls.js";
import * as explain from "./explain.js";
import * as graphView from "./graph.js";
import * as net from "./network.js";
import { drawBoundary, drawConfusion, legend } from "./output.js";
import * as scene from "./scene.js";

const $ = (id) => document.getElementById(id);
const icon = (d) => `<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><path d="${d}" fill="currentColor"/></svg>`;
const PLAY_ICON = icon("M8 5v14l11-7z");
const PAUSE_ICON = icon("M6 5h4v14H6zM14 5h4v14h-4z");

const page = {
  options: null,
  defaults: null,
  scene: null,
  session: null,
  state: null,
  data: null,
  maps: null,
  view: null,
  grads: null,
  selected: null,
  playing: false,
  closeStream: null,
  csv: null,
  history: null,
  busy: new Set(),
};

window.showError = (error) => {
  const box = $("error");
  box.textContent = error.message ?? String(error);
  box.hidden = false;
  clearTimeout(box.timer);
  box.timer = setTimeout(() => (box.hidden = true), 8000);
};

// Run `task` unless the same kind is still in flight: streamed frames come faster than a
// gradient or explain request may answer, and the latest answer is the only one worth having.
async function once(kind, task) {
  if (page.busy.has(kind)) return;
  page.busy.add(kind);
  try {
    await task();
  } catch (error) {
    window.showError(error);
  } finally {
    page.busy.delete(kind);
  }
}

function saveHash() {
  history.replaceState(null, "", scene.write(page.scene, page.defaults));
}

function applyHide() {
  for (const element of document.querySelectorAll("[data-control]")) {
    element.classList.toggle("hidden-control", page.scene.hide.includes(element.dataset.control));
  }
}

function configToSend() {
  const config = { ...page.scene.config };
  if (config.dataset === "csv") {
    config.csv = page.csv?.text;
    if (page.csv?.target) config.target = page.csv.target;
    delete config.problem;
  }
  return config;
}

// A new session for the scene's settings: the old one is deleted, the picture rebuilt.
async function newSession() {
  pause();
  backprop.stop();
  const old = page.session;
  page.session = null;
  if (old) api.remove(old).catch(() => {});
  const { id } = await api.create(configToSend());
  page.session = id;
  document.body.dataset.session = id;
  const [info, data, maps] = await Promise.all([api.info(id), api.data(id), api.maps(id)]);
  page.data = data;
  page.maps = maps;
  page.state = info;
  for (const edit of page.scene.edits) page.state = await api.setWeight(id, edit.layer, edit.j, edit.k, edit.value);
  if (page.scene.edits.length) page.maps = await api.maps(id);
  buildNetwork();
  setExports(id);
  legend($("legend"), data);
  await render(page.state, page.maps);
  explain.hide();
  page.selected = null;
  saveHash();
  document.body.dataset.ready = "1";
  lossGraph.refresh().catch(window.showError);
}

function inputsShown() {
  const config = page.scene.config;
  if (config.dataset === "csv" || page.scene.hide.includes("features")) {
    return page.data.features.map((name) => ({ name, active: true }));
  }
  return page.options.features.map((name) => ({ name, active: config.features.includes(name) }));
}

function buildNetwork() {
  const sizes = page.state.layers.map((layer) => layer.weight.length);
  page.view = net.build($("network"), inputsShown(), sizes, {
    toggleFeature,
    neurons: changeNeurons,
    select: (layer, j, k) => select({ layer, j, k }).catch(window.showError),
  });
}

function setExports(id) {
  $("export_model").href = api.exportUrl(id, "model");
  $("export_data").href = api.exportUrl(id, "data");
  $("export_script").href = api.exportUrl(id, "script");
}

// A streamed frame carries only its newest history point; whole states carry all of it.
function keepHistory(state, streamed) {
  if (!streamed || !page.history) {
    page.history = structuredClone(state.history ?? { step: [], train_loss: [], test_loss: [] });
    return;
  }
  for (const key of Object.keys(page.history)) page.history[key].push(...(state.history?.[key] ?? []));
}

async function render(state, maps, streamed = false) {
  page.state = state;
  keepHistory(state, streamed);
  if (maps) page.maps = maps;
  $("epoch").textContent = state.epoch;
  $("epoch").dataset.step = state.step;
  $("train_loss").textContent = net.fmt(state.train_loss);
  $("test_loss").textContent = net.fmt(state.test_loss);
  $("train_loss").dataset.value = state.train_loss;
  $("test_loss").dataset.value = state.test_loss;
  $("accuracy").textContent = state.test_accuracy === null || state.test_accuracy === undefined
    ? "" : `test accuracy ${(100 * state.test_accuracy).toFixed(1)}%`;
  drawChart($("chart"), page.history);
  net.updateEdges(page.view, state.layers, page.scene.view.gradient ? page.grads : null, page.selected);
  const mapped = Boolean(page.maps?.size);
  $("boundary_box").hidden = !mapped;
  if (mapped) {
    net.paintNeurons(page.view, page.maps);
    drawOutput();
  } else if (page.data.problem === "classification") {
    once("confusion", async () => {
      const confusion = await api.confusion(page.session);
      $("confusion").hidden = false;
      drawConfusion($("confusion"), confusion);
    });
  }
  if (mapped) $("confusion").hidden = true;
  if (page.scene.view.gradient) once("gradients", refreshGradients);
}

function drawOutput() {
  drawBoundary($("boundary"), page.maps, page.data, {
    showTest: page.scene.view.test,
    discretize: page.scene.view.discretize,
  });
}

async function refreshGradients() {
  const example = $("explain_scope").value === "batch" || !page.selected ? "batch" : Number($("explain_example").value) || 0;
  const answer = await api.gradients(page.session, example);
  page.grads = answer.layers;
  if (!page.scene.view.gradient) return;
  net.updateEdges(page.view, page.state.layers, page.grads, page.selected);
  net.showHealth(page.view, answer.health);
  const verdict = $("health");
  verdict.hidden = false;
  verdict.textContent = `gradient health: ${answer.health.verdict}`;
}

async function setGradientView(on) {
  page.scene.view.gradient = on;
  $("gradient_view").checked = on;
  document.body.classList.toggle("gradient-view", on);
  saveHash();
  if (on) {
    await refreshGradients();
  } else {
    page.grads = null;
    net.showHealth(page.view, null);
    $("health").hidden = true;
    net.updateEdges(page.view, page.state.layers, null, page.selected);
  }
}

// --- training -------------------------------------------------------------------------------

function play() {
  if (page.playing || !page.session) return;
  page.playing = true;
  $("play").classList.add("playing");
  $("play").innerHTML = PAUSE_ICON;
  $("play").setAttribute("aria-label", "pause");
  openStream();
}

function openStream() {
  const session = page.session;
  page.closeStream = api.stream(
    session,
    (frame) => {
      if (session === page.session) render(frame, frame.maps, true);
    },
    (error) => {
      page.closeStream = null;
      if (error) {
        window.showError(error);
        pause();
      } else if (page.playing && session === page.session) {
        openStream();
      }
    },
  );
}

function pause() {
  page.playing = false;
  if (page.closeStream) page.closeStream();
  page.closeStream = null;
  $("play").classList.remove("playing");
  $("play").innerHTML = PLAY_ICON;
  $("play").setAttribute("aria-label", "play");
  if (page.selected) once("explain", refreshExplain);
}

async function stepOnce() {
  pause();
  const state = await api.step(page.session, 1);
  await render(state, await api.maps(page.session));
  if (page.selected) await refreshExplain();
}

async function resetWeights() {
  pause();
  backprop.stop();
  const state = await api.reset(page.session);
  page.scene.edits = [];
  saveHash();
  await render(state, await api.maps(page.session));
  if (page.selected) await refreshExplain();
}

// --- the chain rule of one weight -----------------------------------------------------------

function weightOf({ layer, j, k }) {
  const p = page.state.layers[layer - 1];
  return k === "bias" ? p.bias[j] : p.weight[j][k];
}

async function select(selection) {
  pause();
  page.selected = selection;
  net.updateEdges(page.view, page.state.layers, page.scene.view.gradient ? page.grads : null, selection);
  await refreshExplain();
}

async function refreshExplain() {
  if (!page.selected) return;
  $("explain_example").max = Math.max(0, page.data.train.y.length - 1);
  await explain.show(page.session, page.selected, weightOf(page.selected));
}

async function editWeight() {
  const value = Number($("weight_value").value);
  if (!page.selected || !Number.isFinite(value)) return;
  pause();
  const { layer, j, k } = page.selected;
  const state = await api.setWeight(page.session, layer, j, k, value);
  page.scene.edits = scene.addEdit(page.scene.edits, { layer, j, k, value });
  saveHash();
  await render(state, await api.maps(page.session));
  await refreshExplain();
}

// --- settings -------------------------------------------------------------------------------

async function change(key, value) {
  const config = page.scene.config;
  config[key] = value;
  if (key === "problem") {
    config.dataset = page.options.datasets[value][0];
  }
  if (key === "dataset" && value !== "csv") {
    config.problem = controls.problemOf(page.options, value);
  }
  page.scene.edits = [];
  controls.show(config, page.options);
  await newSession();
}

function toggleFeature(name) {
  if (page.scene.config.dataset === "csv" || page.scene.hide.includes("features")) return;
  const active = new Set(page.scene.config.features);
  if (active.has(name)) {
    if (active.size === 1) return window.showError(new Error("keep at least one feature on"));
    active.delete(name);
  } else {
    active.add(name);
  }
  change("features", page.options.features.filter((f) => active.has(f))).catch(window.showError);
}

function changeLayers(by) {
  const hidden = [...page.scene.config.hidden];
  if (by > 0 && hidden.length < page.options.limits.max_hidden_layers) hidden.push(hidden.at(-1) ?? 2);
  else if (by < 0 && hidden.length > 0) hidden.pop();
  else return;
  change("hidden", hidden).catch(window.showError);
}

function changeNeurons(layer, by) {
  const hidden = [...page.scene.config.hidden];
  const size = hidden[layer - 1] + by;
  if (size < 1 || size > page.options.limits.max_neurons) return;
  hidden[layer - 1] = size;
  change("hidden", hidden).catch(window.showError);
}

async function uploadCsv(file) {
  const limit = page.options.limits.max_csv_bytes;
  if (file.size > limit) throw new Error(`the CSV is ${file.size} bytes; the playground takes at most ${limit}`);
  page.csv = { text: await file.text(), name: file.name, target: $("target").value.trim() || null };
  $("csv_name").textContent = file.name;
  page.scene.config.dataset = "csv";
  page.scene.config.problem = null;
  page.scene.edits = [];
  try {
    await newSession();
  } catch (error) {
    page.scene.config.dataset = page.defaults.dataset;
    throw error;
  }
  controls.show({ ...page.scene.config, problem: page.data.problem }, page.options);
}

// --- start ----------------------------------------------------------------------------------

let backprop;
let lossGraph;

function wire() {
  $("play").addEventListener("click", () => (page.playing ? pause() : play()));
  $("step").addEventListener("click", () => stepOnce().catch(window.showError));
  $("reset").addEventListener("click", () => resetWeights().catch(window.showError));
  $("regenerate").addEventListener("click", () => change("seed", (page.scene.config.seed + 1) % 2 ** 31).catch(window.showError));
  $("add_layer").addEventListener("click", () => changeLayers(+1));
  $("remove_layer").addEventListener("click", () => changeLayers(-1));
  $("show_test").addEventListener("change", () => {
    page.scene.view.test = $("show_test").checked;
    saveHash();
    drawOutput();
  });
  $("discretize").addEventListener("change", () => {
    page.scene.view.discretize = $("discretize").checked;
    saveHash();
    drawOutput();
  });
  $("gradient_view").addEventListener("change", () => setGradientView($("gradient_view").checked).catch(window.showError));
  $("weight_value").addEventListener("change", () => editWeight().catch(window.showError));
  $("explain_scope").addEventListener("change", () => refreshExplain().catch(window.showError));
  $("explain_example").addEventListener("change", () => refreshExplain().catch(window.showError));
  $("explain_close").addEventListener("click", () => {
    page.selected = null;
    explain.hide();
    net.updateEdges(page.view, page.state.layers, page.scene.view.gradient ? page.grads : null, null);
  });
  $("csv").addEventListener("change", () => {
    const file = $("csv").files[0];
    if (file) uploadCsv(file).catch(window.showError);
  });
  $("share").addEventListener("click", async () => {
    saveHash();
    await navigator.clipboard?.writeText(location.href).catch(() => {});
    $("share").textContent = "link copied";
    setTimeout(() => ($("share").textContent = "copy link"), 2000);
  });
  document.addEventListener("keydown", (event) => {
    if (event.code === "Space" && event.target === document.body) {
      event.preventDefault();
      page.playing ? pause() : play();
    }
  });
  controls.listen((key, value) => change(key, value).catch(window.showError));
  backprop = backpropView.create(() => page.session, () => page.view, () => page.state.layers);
  lossGraph = graphView.create(() => page.session);
}

function readScene() {
  page.scene = scene.read(location.hash, page.defaults);
  if (page.scene.config.dataset === "csv") {
    // An uploaded file is not in the URL; the scene falls back to the default data.
    page.scene.config.dataset = page.defaults.dataset;
    window.showError(new Error("this link names uploaded CSV data, which links cannot carry: upload the file again"));
  }
  if (!page.scene.config.problem) page.scene.config.problem = controls.problemOf(page.options, page.scene.config.dataset);
  $("show_test").checked = page.scene.view.test;
  $("discretize").checked = page.scene.view.discretize;
  applyHide();
  controls.show(page.scene.config, page.options);
}

async function start() {
  page.options = await api.options();
  page.defaults = { ...page.options.defaults };
  delete page.defaults.csv;
  delete page.defaults.target;
  controls.populate(page.options);
  wire();
  readScene();
  await newSession();
  if (page.scene.view.gradient) await setGradientView(true);
  window.addEventListener("hashchange", () => {
    if (scene.write(page.scene, page.defaults) === location.hash) return;
    readScene();
    newSession().catch(window.showError);
  });
}

start().catch(window.showError);
