// The settings controls: filled from /api/options, read into and written from the scene's
// config. Each control names the config key it sets.

const $ = (id) => document.getElementById(id);

const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const PENALTIES = [0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];
const BATCH_SIZES = [1, 2, 5, 10, 20, 30, 50, 100];

function fill(select, values, label = String) {
  select.replaceChildren(...values.map((value) => new Option(label(value), String(value))));
}

// A value from a shared URL that the list lacks is added, so the scene is shown as sent.
function choose(select, value) {
  const text = String(value);
  if (![...select.options].some((o) => o.value === text)) select.add(new Option(text, text));
  select.value = text;
}

export function populate(options) {
  fill($("lr"), LEARNING_RATES);
  fill($("l1"), PENALTIES);
  fill($("l2"), PENALTIES);
  fill($("batch_size"), BATCH_SIZES);
  fill($("activation"), options.activations);
  fill($("loss"), options.losses);
  fill($("optimizer"), options.optimizers);
  fill($("problem"), Object.keys(options.datasets));
  $("n").max = options.limits.max_n;
}

export function datasetsFor(options, problem, hasCsv) {
  const names = options.datasets[problem] ?? [];
  const select = $("dataset");
  fill(select, hasCsv ? [...names, "csv"] : names, (name) => (name === "csv" ? "your CSV" : name));
}

export function show(config, options) {
  const problem = config.problem ?? problemOf(options, config.dataset);
  choose($("problem"), problem);
  datasetsFor(options, problem, config.dataset === "csv");
  choose($("dataset"), config.dataset);
  for (const key of ["lr", "l1", "l2", "batch_size", "activation", "loss", "optimizer"]) choose($(key), config[key]);
  $("noise").value = Math.round(config.noise * 100);
  $("n").value = config.n;
  $("train_ratio").value = Math.round(config.train_ratio * 100);
  $("noise_out").textContent = config.noise;
  $("n_out").textContent = config.n;
  $("train_ratio_out").textContent = `${Math.round(config.train_ratio * 100)}%`;
  // An uploaded file has its own rows: noise and size belong to the generated sets.
  for (const id of ["noise", "n", "regenerate"]) $(id).disabled = config.dataset === "csv";
  const hidden = config.hidden.length;
  $("layers_label").textContent = `${hidden} hidden layer${hidden === 1 ? "" : "s"}`;
}

export function problemOf(options, dataset) {
  for (const [problem, names] of Object.entries(options.datasets)) if (names.includes(dataset)) return problem;
  return null;
}

// Wire every control to `change(key, value)`.
export function listen(change) {
  const number = (id, key = id, scale = 1) =>
    $(id).addEventListener("change", () => change(key, Number($(id).value) / scale));
  number("lr");
  number("l1");
  number("l2");
  number("batch_size");
  number("noise", "noise", 100);
  number("n");
  number("train_ratio", "train_ratio", 100);
  for (const key of ["activation", "loss", "optimizer", "dataset", "problem"]) {
    $(key).addEventListener("change", () => change(key, $(key).value));
  }
  $("noise").addEventListener("input", () => ($("noise_out").textContent = Number($("noise").value) / 100));
  $("n").addEventListener("input", () => ($("n_out").textContent = $("n").value));
  $("train_ratio").addEventListener("input", () => ($("train_ratio_out").textContent = `${$("train_ratio").value}%`));
}
