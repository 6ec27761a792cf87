// The whole scene lives in the URL's hash, so a teacher can send a prepared one:
//   #dataset=xor&noise=0.2&hidden=4,4&features=x1,x2,x1x2&lr=0.1&hide=features,lr
// Numbers and lists are written only when they differ from the server's defaults.

const LISTS = new Set(["features", "hidden"]);
const NUMBERS = new Set(["n", "noise", "seed", "lr", "batch_size", "train_ratio", "l1", "l2"]);
const VIEW = { test: false, discretize: false, gradient: false };

function parseValue(key, text) {
  if (key === "hidden") return text === "" ? [] : text.split(",").map(Number);
  if (LISTS.has(key)) return text === "" ? [] : text.split(",");
  if (NUMBERS.has(key)) return Number(text);
  return text;
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Read the hash into {config, view, hide, edits}; keys the server does not know stay out.
export function read(hash, defaults) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const config = structuredClone(defaults);
  const view = { ...VIEW };
  let hide = [];
  let edits = [];
  for (const [key, text] of params) {
    if (key in defaults) config[key] = parseValue(key, text);
    else if (key in VIEW) view[key] = text === "1";
    else if (key === "hide") hide = text.split(",").filter(Boolean);
    else if (key === "w") edits = parseEdits(text);
  }
  return { config, view, hide, edits };
}

export function write(scene, defaults) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(scene.config)) {
    if (key === "csv" || key === "target" || same(value, defaults[key])) continue;
    params.set(key, Array.isArray(value) ? value.join(",") : String(value));
  }
  for (const key of Object.keys(VIEW)) if (scene.view[key]) params.set(key, "1");
  if (scene.edits.length) params.set("w", formatEdits(scene.edits));
  if (scene.hide.length) params.set("hide", scene.hide.join(","));
  return "#" + params.toString().replaceAll("%2C", ",");
}

// Weights the teacher set by hand: "layer.j.k:value" joined by ";" (k is a number or "b").
function parseEdits(text) {
  return text.split(";").filter(Boolean).map((item) => {
    const [where, value] = item.split(":");
    const [layer, j, k] = where.split(".");
    return { layer: Number(layer), j: Number(j), k: k === "b" ? "bias" : Number(k), value: Number(value) };
  });
}

function formatEdits(edits) {
  return edits.map((e) => `${e.layer}.${e.j}.${e.k === "bias" ? "b" : e.k}:${e.value}`).join(";");
}

export function addEdit(edits, edit) {
  const kept = edits.filter((e) => !(e.layer === edit.layer && e.j === edit.j && e.k === edit.k));
  return [...kept, edit];
}
